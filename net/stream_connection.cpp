#include "net/stream_connection.hpp"

#include <boost/asio/post.hpp>
#include <boost/log/trivial.hpp>
#include <iomanip>
#include <utility>

#include "net/io_buffers.hpp"

namespace netd {

namespace {

/// Reads handled in one go before yielding to other connections, so one fast sender cannot
/// monopolise the thread.
constexpr int reads_per_turn = 16;

/// How long a paused connection waits before asking its session again.
constexpr std::chrono::milliseconds pause_interval{5};

/// How long a closing connection keeps reading (and discarding) what the client still sends, so
/// that its last reply is not destroyed by a reset (Apache's lingering close), at most...
constexpr std::chrono::seconds linger_time{2};
/// ...and once the client has sent nothing for this long.
constexpr std::chrono::milliseconds linger_quiet{100};

}  // namespace

template <class Stream>
StreamConnection<Stream>::StreamConnection(Stream stream, std::shared_ptr<Service> service,
                                           Admission admission)
    : Connection(service->settings.idle_timeout),
      stream_(std::move(stream)),
      service_(std::move(service)),
      admission_(std::move(admission)),
      record_(service_->settings.log_connections ? std::make_unique<Record>() : nullptr) {}

template <class Stream>
void StreamConnection<Stream>::start() {
    boost::system::error_code ec;
    stream_.non_blocking(ec);
    if (ec) {
        return fail(ec, "non_blocking");
    }
    if constexpr (Stream::handshakes) {
        handshake();
    } else {
        open_session();
    }
}

template <class Stream>
void StreamConnection<Stream>::handshake() {
    if constexpr (Stream::handshakes) {
        auto& deadline = timers().pause;
        deadline.expires_after(stream_.handshake_timeout());
        deadline.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
            if (!ec && self->phase_ == Phase::starting) {
                self->handshake_failed(
                    "not complete within tls_timeout (" +
                        std::to_string(self->stream_.handshake_timeout().count()) + " s)",
                    boost::log::trivial::warning);
            }
        });
        stream_.async_handshake([self = this->shared_from_this()](boost::system::error_code ec) {
            self->on_handshake(ec);
        });
    }
}

template <class Stream>
void StreamConnection<Stream>::on_handshake(const boost::system::error_code& ec) {
    if constexpr (Stream::handshakes) {
        if (phase_ != Phase::starting) {
            return;  // the deadline passed, or abort() closed the connection
        }
        timers_->pause.cancel();
        if (ec == boost::asio::error::operation_aborted && drain_when_started_) {
            // Shutdown, and the client had not finished its handshake: it cannot have sent a
            // request yet.
            ending("drained at shutdown during the TLS handshake");
            return close();
        }
        if (ec) {
            // A client that leaves before it said anything is most likely a port check (a
            // balancer's TCP health check): counted, but logged as info (as nginx does).
            return handshake_failed(stream_.failure(ec), ec == boost::asio::error::eof
                                                             ? boost::log::trivial::info
                                                             : boost::log::trivial::warning);
        }
        touch();  // the idle timeout counts from here
        open_session();
        if (const auto came = drain_when_started_) {
            drain(Drain::shutdown);
            if (*came == Drain::late) {
                drain(Drain::late);
            }
        }
    }
}

template <class Stream>
void StreamConnection<Stream>::handshake_failed(const std::string& why,
                                                boost::log::trivial::severity_level level) {
    ending("TLS handshake failed: " + why);
    service_->verify->reject("tls", admission_.peer(), why, level);
    close();
}

template <class Stream>
void StreamConnection<Stream>::open_session() {
    phase_ = Phase::serving;
    const bool read_on = respond([&](Output& out) {
        session_ = service_->handler->open_session(admission_.peer());
        session_->setup(out);
    });
    if (phase_ == Phase::serving) {
        if (const auto after = session_->wake_after(); after.count() > 0) {
            auto& timer = timers().wake;
            timer.expires_after(after);
            timer.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
                if (!ec) {
                    self->wake();
                }
            });
        }
    }
    if (read_on) {
        do_read();
    }
}

template <class Stream>
typename StreamConnection<Stream>::Timers& StreamConnection<Stream>::timers() {
    if (!timers_) {
        timers_ = std::make_unique<Timers>(stream_.get_executor());
    }
    return *timers_;
}

template <class Stream>
void StreamConnection<Stream>::do_read() {
    if (session_->produces()) {
        return do_produce();
    }
    auto& buffers = io_buffers();
    for (int turn = 0; turn < reads_per_turn; ++turn) {
        if (!session_->ready()) {
            return pause();
        }
        boost::system::error_code ec;
        bool dry = false;
        const std::size_t n = stream_.read_some(boost::asio::buffer(buffers.in), ec, dry);
        if (ec == boost::asio::error::would_block) {
            return wait_readable();
        }
        if (ec) {
            return end_of_input(ec);
        }
        if (!handle_input(std::string_view(buffers.in.data(), n))) {
            return;
        }
        if (dry) {
            return wait_readable();  // TCP_INQ said nothing is left, not even an end of input
        }
        // Even after a short read, read on until the stream is dry: the client's end of input
        // may have come with its last bytes, and then no new readiness would tell of it.
    }
    // Still readable after a full turn: let other connections run, then carry on.
    boost::asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
        if (self->phase_ == Phase::serving) {
            self->do_read();
        }
    });
}

template <class Stream>
void StreamConnection<Stream>::do_produce() {
    auto& buffers = io_buffers();
    for (int turn = 0; turn < reads_per_turn; ++turn) {
        boost::system::error_code ec;
        const std::size_t n = stream_.read_some(boost::asio::buffer(buffers.in), ec);
        if (ec && ec != boost::asio::error::would_block) {
            return end_of_input(ec);
        }
        admission_.traffic()->add(metrics::bytes_in, n);
        count(n, true);
        touch();  // a client that takes what is sent is not idle
        if (!respond([&](Output& out) { session_->produce(out); })) {
            return;  // the stream is full (do_write comes back when it takes more), or closed
        }
    }
    boost::asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
        if (self->phase_ == Phase::serving) {
            self->do_produce();
        }
    });
}

template <class Stream>
void StreamConnection<Stream>::wait_readable() {
    if (!session_->ready()) {
        return pause();
    }
    queued_read_ = QueuedRead::waiting;
    // A wait, not a read: nothing is held while the connection is idle, and the bytes are read
    // into the thread's buffer once they are there. It costs no system call
    // (readable_wait.hpp).
    stream_.async_wait_readable(
        [self = this->shared_from_this()](boost::system::error_code ec) { self->on_readable(ec); });
}

template <class Stream>
void StreamConnection<Stream>::on_readable(boost::system::error_code ec) {
    const QueuedRead read = std::exchange(queued_read_, QueuedRead::none);
    if (phase_ == Phase::draining) {
        return finish_drain();  // reads what came, if anything
    }
    if (phase_ != Phase::serving) {
        return;  // closed meanwhile
    }
    if (read == QueuedRead::woken && ec == boost::asio::error::operation_aborted) {
        // The wake's cancel (input that beat it is read below instead, the wake then moot).
        if (respond([&](Output& out) { session_->wake(out); })) {
            do_read();
        }
        return;
    }
    if (ec) {
        return fail(ec, "wait_read");
    }
    do_read();
}

template <class Stream>
void StreamConnection<Stream>::pause() {
    auto& timer = timers().pause;
    timer.expires_after(pause_interval);
    timer.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
        if (!ec && self->phase_ == Phase::serving) {
            self->do_read();
        }
    });
}

template <class Stream>
void StreamConnection<Stream>::wake() {
    // Only while the connection waits for input: cancel that wait, and let its completion run
    // the session's wake, then read whatever input came meanwhile.
    if (phase_ == Phase::serving && queued_read_ == QueuedRead::waiting) {
        queued_read_ = QueuedRead::woken;
        stream_.cancel();
    }
}

template <class Stream>
bool StreamConnection<Stream>::handle_input(std::string_view bytes) {
    touch();
    heard_ = true;
    admission_.traffic()->add(metrics::bytes_in, bytes.size());
    count(bytes.size(), true);
    return respond([&](Output& out) { session_->handle(bytes, out); });
}

template <class Stream>
void StreamConnection<Stream>::end_of_input(const boost::system::error_code& ec) {
    if (ec != boost::asio::error::eof) {
        return fail(ec, "read");
    }
    // The client is done sending: the session may still answer, then we close.
    ending("closed by the client");
    input_ended_ = true;
    finish_session();
}

template <class Stream>
template <class Step>
bool StreamConnection<Stream>::respond(Step step) {
    auto& reply = io_buffers().out;
    reply.clear();
    Output out(reply);
    try {
        step(out);
    } catch (const std::exception& e) {
        ending("handler error");
        admission_.traffic()->add(metrics::handler_errors);
        BOOST_LOG_TRIVIAL(error) << log_prefix(*service_) << "handler failed for "
                                 << admission_.peer().to_string() << ": " << e.what()
                                 << "; connection closed";
        close();
        return false;
    } catch (...) {
        ending("handler error");
        admission_.traffic()->add(metrics::handler_errors);
        BOOST_LOG_TRIVIAL(error) << log_prefix(*service_) << "handler failed for "
                                 << admission_.peer().to_string() << "; connection closed";
        close();
        return false;
    }
    if (out.close_requested() && (phase_ == Phase::serving || phase_ == Phase::draining)) {
        ending("closed by the service");
        phase_ = Phase::closing;
    }
    return send(out.pending());
}

template <class Stream>
bool StreamConnection<Stream>::send(std::string_view reply) {
    while (!reply.empty()) {
        boost::system::error_code ec;
        const std::size_t n = stream_.write_some(boost::asio::buffer(reply), ec);
        if (ec == boost::asio::error::would_block) {
            pending_.assign(reply);
            pending_sent_ = 0;
            do_write();
            return false;
        }
        if (ec) {
            fail(ec, "write");
            return false;
        }
        admission_.traffic()->add(metrics::bytes_out, n);
        count(n, false);
        reply.remove_prefix(n);
    }
    if (phase_ == Phase::closing) {
        linger();
        return false;
    }
    return phase_ == Phase::serving || phase_ == Phase::draining;
}

template <class Stream>
void StreamConnection<Stream>::do_write() {
    while (pending_sent_ < pending_.size()) {
        boost::system::error_code ec;
        const std::size_t n = stream_.write_some(
            boost::asio::buffer(pending_.data() + pending_sent_, pending_.size() - pending_sent_),
            ec);
        if (ec == boost::asio::error::would_block) {
            stream_.async_wait_writable(
                [self = this->shared_from_this()](boost::system::error_code ec) {
                    if (ec) {
                        return self->fail(ec, "wait_write");
                    }
                    self->do_write();
                });
            return;
        }
        if (ec) {
            return fail(ec, "write");
        }
        admission_.traffic()->add(metrics::bytes_out, n);
        count(n, false);
        pending_sent_ += n;
    }
    // Sent: give the memory back, and go on as the phase says.
    std::string().swap(pending_);
    switch (phase_) {
        case Phase::serving:
            return do_read();
        case Phase::draining:
            return finish_drain();
        case Phase::closing:
            return linger();
        case Phase::starting:
        case Phase::lingering:
        case Phase::closed:
            return;
    }
}

template <class Stream>
void StreamConnection<Stream>::drain(Drain why) {
    if (phase_ == Phase::starting) {
        // The handshake has its own deadline, idle or not. At shutdown it goes on for
        // first_bytes_grace (a client whose connect raced the SIGTERM is in the middle of it),
        // then takes one last step with what the client has sent: a connection that is up then
        // drains at once, the others close (their clients cannot have sent a request yet).
        if (why != Drain::idle) {
            drain_when_started_ = why;
            if (why == Drain::late) {
                stream_.cancel();
            }
        }
        return;
    }
    if (why == Drain::late) {
        if (phase_ == Phase::draining && queued_read_ != QueuedRead::none) {
            stream_.cancel();  // the read's completion finishes the drain
        }
        return;
    }
    if (phase_ != Phase::serving) {
        return;  // already on its way out
    }
    ending(why == Drain::idle ? "idle timeout" : "drained at shutdown");
    phase_ = Phase::draining;
    if (why == Drain::shutdown && !heard_ && queued_read_ == QueuedRead::waiting) {
        // Nothing heard yet: the read stays queued for the first bytes, until Drain::late.
        return;
    }
    if (queued_read_ != QueuedRead::none) {
        // Cancel the wait, and finish the drain in its completion (which may be on its way).
        stream_.cancel();
        return;
    }
    finish_drain();
}

template <class Stream>
void StreamConnection<Stream>::abort() {
    ending("cut at shutdown_timeout");
    close();
}

template <class Stream>
void StreamConnection<Stream>::finish_drain() {
    // Read what the client already sent, unless a reply is still waiting for the client to take
    // it (reading on would need unbounded buffering: do_write comes back here once it is sent).
    auto& buffers = io_buffers();
    while (phase_ == Phase::draining && pending_.empty()) {
        boost::system::error_code ec;
        const std::size_t n = stream_.read_some(boost::asio::buffer(buffers.in), ec);
        if (ec || !handle_input(std::string_view(buffers.in.data(), n))) {
            break;  // dry (would_block), the client's end of input, an error, or a reply waits
        }
    }
    if (phase_ != Phase::draining || !pending_.empty()) {
        return;  // closed, closing (the session asked to), or a reply on its way (then here again)
    }
    // The session finishes; its last words are sent (do_write carries on in the background) and
    // then the connection closes. The server aborts connections still sending at
    // shutdown_timeout.
    finish_session();
}

template <class Stream>
void StreamConnection<Stream>::finish_session() {
    phase_ = Phase::closing;
    respond([&](Output& out) {
        session_->finish(out);
        out.close();
    });
}

template <class Stream>
void StreamConnection<Stream>::linger() {
    if (input_ended_) {
        return close();  // nothing more can come, nothing to discard
    }
    phase_ = Phase::lingering;
    boost::system::error_code ec;
    stream_.shutdown_send(ec);
    if (ec) {
        return close();
    }
    linger_until_ = std::chrono::steady_clock::now() + linger_time;
    discard_input();
}

template <class Stream>
void StreamConnection<Stream>::discard_input() {
    auto& buffers = io_buffers();
    for (;;) {
        boost::system::error_code ec;
        stream_.read_some(boost::asio::buffer(buffers.in), ec);
        if (ec == boost::asio::error::would_block) {
            break;
        }
        if (ec) {
            return close();  // the client's end of input (or a reset): done
        }
    }
    // Close once the client has been quiet a moment (nothing unread, so no reset), or at the end
    // of linger_time whatever it does.
    auto& timer = timers().pause;
    timer.expires_at(std::min(std::chrono::steady_clock::now() + linger_quiet, linger_until_));
    timer.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
        if (!ec) {
            self->close();
        }
    });
    stream_.async_wait_readable([self = this->shared_from_this()](boost::system::error_code ec) {
        if (ec) {
            return self->close();
        }
        self->discard_input();
    });
}

template <class Stream>
void StreamConnection<Stream>::fail(const boost::system::error_code& ec, const char* what) {
    if (ec != boost::asio::error::operation_aborted) {
        BOOST_LOG_TRIVIAL(debug) << log_prefix(*service_) << admission_.peer().to_string() << ": "
                                 << what << ": " << ec.message();
        ending(std::string(what) + " error: " + ec.message());
    }
    close();
}

template <class Stream>
void StreamConnection<Stream>::close() {
    if (record_ && phase_ != Phase::closed) {
        const auto& peer = admission_.peer();
        BOOST_LOG_TRIVIAL(info) << log_prefix(*service_) << to_string(peer.transport) << " "
                                << peer.to_string() << ": "
                                << (record_->how.empty() ? "closed" : record_->how) << " after "
                                << std::fixed << std::setprecision(3)
                                << std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                                 record_->started)
                                       .count()
                                << " s, " << record_->in << " bytes in, " << record_->out << " out";
    }
    phase_ = Phase::closed;
    if (timers_) {
        timers_->pause.cancel();
        timers_->wake.cancel();
    }
    stream_.close();
}

template <class Stream>
void StreamConnection<Stream>::ending(std::string_view how) {
    if (record_ && record_->how.empty()) {
        record_->how = how;
    }
}

template <class Stream>
void StreamConnection<Stream>::count(std::size_t bytes, bool in) {
    if (record_) {
        (in ? record_->in : record_->out) += bytes;
    }
}

template class StreamConnection<PlainStream<boost::asio::ip::tcp>>;
template class StreamConnection<PlainStream<boost::asio::local::stream_protocol>>;
template class StreamConnection<TlsStream>;

}  // namespace netd
