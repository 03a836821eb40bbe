#include "handlers/logger/forwarder.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/log/trivial.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <vector>

#include "config/config.hpp"
#include "handlers/logger/forward_record.hpp"

namespace netd {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// How long the spooler lets a batch fill before writing it (as the log file does).
constexpr milliseconds linger{10};
/// How often the spooler looks at the spool's size when nothing comes, and the sender for
/// records fork-mode children wrote (they do not wake it) and for acknowledgements.
constexpr milliseconds idle_tick{100};
/// Reconnect backoff: doubles from the first to the last.
constexpr milliseconds first_backoff{100};
constexpr milliseconds last_backoff{10'000};
/// How long a stopping sender waits for the collector to confirm what it sent.
constexpr milliseconds settle_time{1000};
/// The most the sender reads from the spool and sends at once.
constexpr std::size_t send_chunk = std::size_t{256} * 1024;

std::string local_hostname() {
    char name[256] = {};
    if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
        return "localhost";
    }
    return name;
}

}  // namespace

std::shared_ptr<Forwarder> Forwarder::for_spool(const ForwardOptions& options,
                                                std::string_view service) {
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<Forwarder>> forwarders;
    const std::lock_guard lock(mutex);
    auto& slot = forwarders[options.spool];
    auto forwarder = slot.lock();
    if (!forwarder) {
        forwarder = std::make_shared<Forwarder>(options, std::string(service));
        slot = forwarder;
    }
    return forwarder;
}

Forwarder::Forwarder(ForwardOptions options, std::string service)
    : options_(std::move(options)),
      service_(std::move(service)),
      hostname_(local_hostname()),
      spool_(options_.spool, options_.spool_max) {}

Forwarder::~Forwarder() {
    stopping_ = true;
    if (stop_fd_ >= 0) {
        const std::uint64_t one = 1;
        (void)::write(stop_fd_, &one, sizeof(one));
    }
    spooler_wake_.notify_all();
    sender_wake_.notify_all();
    if (spooler_.joinable()) {
        spooler_.join();
    }
    if (sender_.joinable()) {
        sender_.join();
    }
    if (stop_fd_ >= 0) {
        ::close(stop_fd_);
    }
}

std::string_view Forwarder::stage(const ForwardOptions& options) {
    const std::lock_guard lock(mutex_);
    return staged_.stage(options, [](const ForwardOptions& staged, const ForwardOptions& asked) {
        if (!(staged.destination == asked.destination)) {
            return std::string_view("forward");
        }
        if (!(staged.tls == asked.tls)) {
            return std::string_view("forward_ca");
        }
        if (staged.spool_max != asked.spool_max) {
            return std::string_view("forward_spool_max");
        }
        return std::string_view();
    });
}

void Forwarder::commit() {
    const std::lock_guard lock(mutex_);
    const ForwardOptions* staged = staged_.commit();
    if (staged == nullptr) {
        return;  // another handler of the configuration committed it already
    }
    if (!(staged->destination == options_.destination) || !(staged->tls == options_.tls)) {
        reconfigured_ = true;
        sender_wake_.notify_one();
    }
    options_ = *staged;
    spool_.set_max_bytes(options_.spool_max);
}

void Forwarder::unstage() {
    const std::lock_guard lock(mutex_);
    staged_.unstage();
}

std::string Forwarder::start() {
    const std::lock_guard lock(mutex_);
    if (started_) {
        ++users_;
        return {};
    }
    if (auto why = spool_.open(); !why.empty()) {
        return why;
    }
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd_ < 0) {
        return std::string("eventfd: ") + std::strerror(errno);
    }
    spool_counts_ = &metrics::row(metrics::Family::spool, metrics::label("spool", spool_.dir()));
    destination_ = &destination_row(options_.destination.url);
    // Before any process can append: what an earlier netd left is waiting too.
    const SpoolCount waiting = spool_.waiting();
    spool_counts_->set(metrics::appended, spool_counts_->get(metrics::gone) + waiting.records);
    spool_counts_->set(metrics::appended_bytes,
                       spool_counts_->get(metrics::gone_bytes) + waiting.bytes);
    update_gauges();  // waiting.records and waiting.bytes
    if (waiting.records > 0) {
        BOOST_LOG_TRIVIAL(info) << "[" << service_ << "] forward to " << options_.destination.url
                                << ": " << waiting.records << " records from before are waiting in "
                                << spool_.dir();
    }
    started_ = true;
    users_ = 1;
    // Boost.Log makes its global logger on first use; made here, before the threads that log,
    // it is not made by two threads at once.
    boost::log::trivial::logger::get();
    spooler_ = std::thread([this] { spool_loop(); });
    sender_ = std::thread([this] { send_loop(); });
    return {};
}

void Forwarder::stop() {
    if (child_) {
        return;
    }
    std::string url;
    {
        const std::lock_guard lock(mutex_);
        if (users_ == 0 || --users_ > 0) {
            return;
        }
        stopping_ = true;
        url = options_.destination.url;
    }
    spooler_wake_.notify_all();
    spooler_.join();  // the spooler writes what is queued before it ends
    const std::uint64_t one = 1;
    (void)::write(stop_fd_, &one, sizeof(one));
    sender_wake_.notify_all();
    sender_.join();
    // Nothing sends them until a netd forwards from this spool again: at shutdown the next
    // start does; after a reload that moved the service to another spool, only a later one.
    if (const std::uint64_t left = spooled(metrics::appended, metrics::gone); left > 0) {
        BOOST_LOG_TRIVIAL(warning) << "[" << service_ << "] forward to " << url << ": stopped with "
                                   << left << " records not delivered; they wait in "
                                   << spool_.dir() << " for the next netd that forwards from it";
    }
}

void Forwarder::enter_child() {
    child_ = true;
    spool_.enter_child();
}

void Forwarder::append(std::string_view frames, std::uint64_t count) {
    if (child_) {
        // Straight into the spool: the parent's threads, and the mutex one of them may have held
        // at the fork, are not here.
        std::string_view rest = frames;
        if (!spool_.append(rest)) {
            note_dropped(whole_frames(rest).count, rest.size(), std::strerror(errno));
        }
        spool_counts_->add(metrics::appended, count - whole_frames(rest).count);
        spool_counts_->add(metrics::appended_bytes, frames.size() - rest.size());
        return;
    }
    {
        const std::lock_guard lock(mutex_);
        if (front_.size() + frames.size() <= refuse_above) {
            const bool first = front_.empty();
            front_.append(frames);
            front_records_ += count;
            if (first) {
                spooler_wake_.notify_one();
            }
            return;
        }
    }
    note_dropped(count, frames.size(), "the spool's disk is behind");
}

void Forwarder::note_dropped(std::uint64_t records, std::uint64_t bytes, std::string_view why) {
    destination().add(metrics::forward_dropped, records);
    spool_counts_->add(metrics::gone, records);
    spool_counts_->add(metrics::gone_bytes, bytes);
    if (drop_log_.ready()) {
        BOOST_LOG_TRIVIAL(warning)
            << "[" << service_ << "] forward: dropped "
            << destination().get(metrics::forward_dropped) << " records so far (" << why << ")";
    }
}

bool Forwarder::write_batch() {
    if (back_.empty()) {
        return true;
    }
    std::string_view rest = back_;
    const bool ok = spool_.append(rest);
    const std::size_t written = back_.size() - rest.size();
    if (written > 0) {
        // What the disk refused stays for the retry, whole frames of it.
        const std::uint64_t records = ok ? back_records_ : back_records_ - whole_frames(rest).count;
        spool_counts_->add(metrics::appended, records);
        spool_counts_->add(metrics::appended_bytes, written);
        back_.erase(0, written);
        back_records_ -= records;
        sender_wake_.notify_one();
    }
    return ok;
}

void Forwarder::spool_loop() {
    std::unique_lock lock(mutex_);
    bool failing = false;
    std::uint64_t maintained_at = UINT64_MAX;  ///< appended_bytes at the last maintenance
    std::uint64_t maintained_limit = 0;        ///< and the spool's limit then
    for (;;) {
        if (!stopping_) {
            spooler_wake_.wait_for(lock, failing ? milliseconds(1000) : idle_tick,
                                   [&] { return stopping_ || !front_.empty(); });
            if (!front_.empty() && !stopping_) {
                spooler_wake_.wait_for(lock, linger, [&] { return stopping_.load(); });
            }
        }
        const bool last = stopping_;
        // A batch the disk refused is retried as it is; what came meanwhile waits in front_.
        if (back_.empty()) {
            back_.swap(front_);
            back_records_ = std::exchange(front_records_, 0);
        }
        lock.unlock();
        bool ok = write_batch();
        if (ok && last) {
            lock.lock();
            back_.swap(front_);
            back_records_ = std::exchange(front_records_, 0);
            lock.unlock();
            ok = write_batch();
        }
        if (!ok && !failing) {
            BOOST_LOG_TRIVIAL(error)
                << "[" << service_ << "] forward: cannot write the spool " << spool_.dir() << ": "
                << std::strerror(errno) << "; retrying every second";
        } else if (ok && failing) {
            BOOST_LOG_TRIVIAL(warning) << "[" << service_ << "] forward: writing the spool again";
        }
        failing = !ok;
        // Only appends (this thread's or fork children's) fill segments or the spool, and only a
        // reload changes its limit: otherwise there is nothing to seal or drop.
        const std::uint64_t appended = spool_counts_->get(metrics::appended_bytes);
        const std::uint64_t limit = spool_.max_bytes();
        if (appended != maintained_at || limit != maintained_limit) {
            maintained_at = appended;
            maintained_limit = limit;
            const SpoolCount dropped = spool_.maintain();
            if (dropped.records > 0) {
                note_dropped(dropped.records, dropped.bytes,
                             "the spool is past forward_spool_max: the oldest go");
            }
        }
        // The gauges' one writer; fork children's appends show within a tick, even while down.
        update_gauges();
        lock.lock();
        if (last) {
            if (!ok) {
                BOOST_LOG_TRIVIAL(error) << "[" << service_ << "] forward: stopping with "
                                         << back_records_ + front_records_
                                         << " records not spooled (they are in the log file)";
            }
            return;
        }
    }
}

std::uint64_t Forwarder::spooled(std::size_t in, std::size_t out) const {
    const std::uint64_t went_in = spool_counts_->get(in);
    const std::uint64_t went_out = spool_counts_->get(out);
    return went_in > went_out ? went_in - went_out : 0;
}

void Forwarder::update_gauges() {
    const std::lock_guard lock(gauges_mutex_);
    destination().set(metrics::spooled_records, spooled(metrics::appended, metrics::gone));
    destination().set(metrics::spooled_bytes,
                      spooled(metrics::appended_bytes, metrics::gone_bytes));
}

metrics::Row& Forwarder::destination_row(const std::string& url) const {
    return metrics::row(metrics::Family::forward, metrics::label("destination", url) + "," +
                                                      metrics::label("spool", spool_.dir()));
}

void Forwarder::move_to(const std::string& url) {
    metrics::Row& next = destination_row(url);
    {
        const std::lock_guard lock(gauges_mutex_);
        metrics::Row* const previous = destination_.exchange(&next, std::memory_order_acq_rel);
        if (previous == &next) {
            return;
        }
        previous->set(metrics::spooled_records, 0);
        previous->set(metrics::spooled_bytes, 0);
        previous->set(metrics::connected, 0);
    }
    update_gauges();
}

void Forwarder::wait_for_records(milliseconds timeout) {
    std::unique_lock lock(mutex_);
    sender_wake_.wait_for(lock, timeout);
}

bool Forwarder::pause(milliseconds delay) {
    std::unique_lock lock(mutex_);
    return !sender_wake_.wait_for(lock, delay, [&] { return stopping_.load(); });
}

void Forwarder::send_loop() {
    /// Frames sent and not yet confirmed, a batch a row.
    struct Batch {
        std::uint64_t frames;  ///< frames sent on this connection up to this batch's end
        SpoolPlace end;
        std::uint64_t records;
        std::uint64_t bytes;
    };
    std::deque<Batch> in_flight;
    std::unique_ptr<ForwardTransport> transport;
    std::string url;
    std::vector<char> buffer(send_chunk);
    SpoolPlace place;      ///< where buffer's bytes start in the spool
    std::size_t held = 0;  ///< bytes of the spool from place in buffer, not sent yet
    std::uint64_t frames_sent = 0;
    bool up = false;
    bool ever_up = false;
    std::string down_why;  ///< non-empty while down and logged
    Clock::time_point down_since;
    milliseconds backoff = first_backoff;
    Clock::time_point progress;  ///< when the collector last confirmed something

    const auto confirm = [&] {
        if (!up || in_flight.empty()) {
            return;
        }
        const std::uint64_t confirmed = transport->confirmed();
        SpoolPlace last;
        bool moved = false;
        while (!in_flight.empty() && in_flight.front().frames <= confirmed) {
            destination().add(metrics::forwarded_records, in_flight.front().records);
            destination().add(metrics::forwarded_bytes, in_flight.front().bytes);
            spool_counts_->add(metrics::gone, in_flight.front().records);
            spool_counts_->add(metrics::gone_bytes, in_flight.front().bytes);
            last = in_flight.front().end;
            moved = true;
            in_flight.pop_front();
        }
        if (moved) {
            spool_.confirm(last);
            progress = Clock::now();
            update_gauges();  // at once, so that a scrape never shows both counted
        }
    };
    const auto lost = [&](const std::string& why) {
        confirm();  // what the collector answered before it went counts
        up = false;
        destination().set(metrics::connected, 0);
        if (down_why.empty() && !stopping_) {
            down_since = Clock::now();
            down_why = why.empty() ? "closed" : why;
            BOOST_LOG_TRIVIAL(warning) << "[" << service_ << "] forward to " << url << ": down ("
                                       << down_why << "); records wait in " << spool_.dir();
        }
    };
    while (!stopping_) {
        if (!up) {
            std::string failed;  ///< why no transport could be made
            {
                const std::lock_guard lock(mutex_);
                if (reconfigured_ || !transport) {
                    reconfigured_ = false;
                    if (!url.empty() && url != options_.destination.url) {
                        move_to(options_.destination.url);
                        ever_up = false;   // its first connection is no reconnect
                        down_why.clear();  // the old destination's outage is not the new one's
                    }
                    url = options_.destination.url;
                    try {
                        transport = make_forward_transport(options_.destination, options_.tls,
                                                           ForwardStop{stop_fd_});
                    } catch (const config::KeyError& e) {
                        transport.reset();  // a file changed since the config read it
                        failed = e.key() + ": " + e.what();
                    } catch (const std::exception& e) {
                        transport.reset();
                        failed = e.what();
                    }
                }
            }
            const std::string why = transport ? transport->connect() : failed;
            if (!why.empty()) {
                if (stopping_) {
                    break;
                }
                lost(why);
                if (!pause(backoff)) {
                    break;
                }
                backoff = std::min(backoff * 2, last_backoff);
                continue;
            }
            up = true;
            backoff = first_backoff;
            destination().set(metrics::connected, 1);
            if (ever_up) {
                destination().add(metrics::reconnects);
            }
            if (!down_why.empty()) {
                BOOST_LOG_TRIVIAL(info)
                    << "[" << service_ << "] forward to " << url << ": up again after "
                    << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - down_since)
                           .count()
                    << " s";
                down_why.clear();
            }
            ever_up = true;
            // Everything not confirmed goes again: what was in flight may be lost.
            in_flight.clear();
            frames_sent = 0;
            place = spool_.confirmed();
            held = 0;
        }
        {
            const std::lock_guard lock(mutex_);
            if (reconfigured_) {
                up = false;
                destination().set(metrics::connected, 0);
                continue;
            }
        }
        if (place < spool_.confirmed()) {
            place = spool_.confirmed();  // the spool dropped what was next
            held = 0;
        }
        bool sealed = false;
        const std::size_t got = spool_.read({place.segment, place.offset + held},
                                            buffer.data() + held, buffer.size() - held, sealed);
        held += got;
        const std::string_view bytes(buffer.data(), held);
        const WholeFrames frames = whole_frames(bytes, transport->batch_frames());
        const std::size_t used = frames.bytes;
        const std::uint64_t count = frames.count;
        const bool garbage = frames.garbage;
        if (count == 0) {
            if (!garbage && held == buffer.size()) {
                buffer.resize(buffer.size() * 2);  // one record larger than the buffer
                continue;
            }
            if (garbage || (sealed && got == 0)) {
                if (held > 0) {
                    BOOST_LOG_TRIVIAL(warning)
                        << "[" << service_ << "] forward: skipping the last " << held
                        << " bytes of spool segment " << place.segment
                        << ": no whole record (written by a netd that was killed?)";
                }
                place = spool_.next(place);
                held = 0;
                continue;
            }
            confirm();
            if (!in_flight.empty()) {
                if (auto why = transport->why_lost(); !why.empty()) {
                    lost(why);
                    continue;
                }
                if (Clock::now() - progress > ForwardTransport::patience) {
                    lost("nothing acknowledged in " +
                         std::to_string(ForwardTransport::patience.count()) + " s");
                    continue;
                }
            }
            wait_for_records(idle_tick);
            continue;
        }
        const std::string why = transport->send(bytes.substr(0, used), count);
        std::memmove(buffer.data(), buffer.data() + used, held - used);
        held -= used;
        place.offset += used;
        frames_sent += count;
        if (in_flight.empty()) {
            progress = Clock::now();  // the wait for an acknowledgement starts now
        }
        // Even when the connection failed during the send: what the collector confirmed of
        // this batch before that counts (only confirmed frames move the spool).
        in_flight.push_back({frames_sent, place, count, used});
        if (!why.empty()) {
            lost(why);
            continue;
        }
        confirm();
    }
    if (up) {
        transport->settle(settle_time);
        confirm();
    }
    destination().set(metrics::connected, 0);
}

}  // namespace netd
