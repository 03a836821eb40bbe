#include "handlers/logger/logger.hpp"

#include <array>
#include <atomic>
#include <boost/log/trivial.hpp>
#include <cctype>
#include <chrono>
#include <ctime>
#include <optional>
#include <utility>

#include "core/throttle.hpp"
#include "handlers/logger/forward_record.hpp"
#include "handlers/logger/forwarder.hpp"
#include "handlers/logger/log_file.hpp"
#include "handlers/logger/log_record.hpp"
#include "handlers/logger/octet_framer.hpp"

namespace netd {

namespace {

constexpr std::array<config::KeySpec, 12> logger_keys{{
    {"file", "", "the log file (required)"},
    {"format", "text", "text | json: one record per line"},
    {"flush_interval", "1000", "ms: every accepted record is in the file within this time"},
    {"fsync", "false", "fdatasync after every batch"},
    {"rotate_size", "0", "bytes: rotate the file when it reaches this size; 0 = never"},
    {"max_files", "5", "rotated files kept (FILE.1 newest)"},
    {"forward", "",
     "tcp://HOST:PORT | tls://HOST:PORT | relp://HOST:PORT: also send every record there"},
    {"forward_spool", "", "directory where forwarded records wait until the collector has them"},
    {"forward_spool_max", "1GiB",
     "bytes (K, M, G, KiB, MiB, GiB): past this the oldest are dropped"},
    {"forward_ca", "", "tls://: PEM file of the CAs the collector's certificate must be signed by"},
    {"forward_cert", "", "tls://: PEM client certificate to present to the collector"},
    {"forward_key", "", "tls://: PEM key of forward_cert"},
}};

/// The forward_* keys, when forward is set.
std::optional<ForwardOptions> parse_forward_options(const config::ServiceConfig& service) {
    const auto destination = parse_option(service, "forward", [](const std::string& v) {
        return v.empty() ? std::optional<ForwardDestination>{}
                         : std::optional{parse_forward_destination(v)};
    });
    const auto text = [&](const char* key) {
        return parse_option(service, key, [](const std::string& v) { return v; });
    };
    ForwardTlsFiles tls{
        .ca = text("forward_ca"), .cert = text("forward_cert"), .key = text("forward_key")};
    const auto spool = text("forward_spool");
    const auto spool_max = parse_option(service, "forward_spool_max", [](const std::string& v) {
        const std::uint64_t size = config::parse_size(v);
        if (size < std::uint64_t{64} * 1024) {
            throw config::ValueError("'" + v + "' is too small: the spool needs at least 64 KiB");
        }
        return size;
    });
    if (!destination) {
        for (const char* key : {"forward_spool", "forward_ca", "forward_cert", "forward_key"}) {
            if (!text(key).empty()) {
                throw config::KeyError(key, "is set but forward is not");
            }
        }
        return std::nullopt;
    }
    if (spool.empty()) {
        throw config::KeyError("forward_spool",
                               "is required with forward: the directory where records wait "
                               "until the collector has them");
    }
    if (destination->scheme != ForwardDestination::Scheme::tls) {
        for (const char* key : {"forward_ca", "forward_cert", "forward_key"}) {
            if (!text(key).empty()) {
                throw config::KeyError(key, "is for tls:// destinations only");
            }
        }
    } else {
        if (tls.cert.empty() != tls.key.empty()) {
            throw config::KeyError(tls.cert.empty() ? "forward_cert" : "forward_key",
                                   "forward_cert and forward_key go together");
        }
        // The files are read now, so that a bad one is a config error (and a failed reload).
        make_forward_transport(*destination, tls, ForwardStop{});
    }
    return ForwardOptions{
        .destination = *destination, .tls = tls, .spool = spool, .spool_max = spool_max};
}

struct LoggerOptions {
    std::string service;
    RecordFormat format = RecordFormat::text;
    std::size_t max_line = 0;
    LogFileOptions file;
    std::optional<ForwardOptions> forward;
};

LoggerOptions parse_logger_options(const config::ServiceConfig& service) {
    LoggerOptions options;
    options.service = service.name;
    options.max_line = service.max_line;
    options.file.path = parse_option(service, "file", [](const std::string& path) {
        if (path.empty()) {
            throw config::ValueError("is required: the path of the log file");
        }
        return path;
    });
    options.format = parse_option(service, "format", [](const std::string& v) {
        if (v != "text" && v != "json") {
            throw config::ValueError("'" + v + "' is not a record format (text or json)");
        }
        return v == "json" ? RecordFormat::json : RecordFormat::text;
    });
    options.file.flush_interval =
        std::chrono::milliseconds(parse_option(service, "flush_interval", [](const std::string& v) {
            return config::parse_unsigned(v, 1, 3'600'000);
        }));
    options.file.fsync =
        parse_option(service, "fsync", [](const std::string& v) { return config::parse_bool(v); });
    options.file.rotate_size = parse_option(service, "rotate_size", [](const std::string& v) {
        return config::parse_unsigned(v, 0, UINT64_MAX);
    });
    options.file.max_files =
        static_cast<unsigned>(parse_option(service, "max_files", [](const std::string& v) {
            return config::parse_unsigned(v, 1, 1000);
        }));
    options.forward = parse_forward_options(service);
    return options;
}

/// Per-thread scratch: records are formatted here and handed to the file once per read.
struct RecordBuffer {
    std::string records;
    std::string frames;  ///< the same records as forwarded frames, when forwarding
    std::string peer;    ///< a datagram's sender, written here rather than in a new string
    ReceivedClock clock;
};

/// The client's IP for [origin ip=...], within its text ("IP:PORT", "[IP]:PORT": peer_text is
/// what peer.append_to wrote); "" for a Unix client.
std::string_view origin_in(std::string_view peer_text, const Peer& peer) {
    if (!has_address(peer.transport)) {
        return peer_text.substr(0, 0);
    }
    const std::size_t bracket = peer.address.is_v6() ? 1 : 0;
    return peer_text.substr(bracket, peer_text.rfind(':') - 2 * bracket);
}

RecordBuffer& record_buffer() {
    thread_local RecordBuffer buffer;
    return buffer;
}

class LoggerHandler;

class LoggerSession final : public StreamSession {
  public:
    LoggerSession(const LoggerHandler& handler, const Peer& peer);

    void handle(std::string_view bytes, Output& out) override;
    void finish(Output& out) override;
    bool ready() const override;

  private:
    /// Formats the messages frame(on_message) delivers and hands them to the file in one piece.
    template <class Frame>
    void record(Frame frame);

    /// The client's IP for forwarded frames, within peer_ (origin_in); "" for a Unix client.
    std::string_view origin() const {
        return std::string_view(peer_).substr(origin_at_, origin_size_);
    }

    // An idle connection holds this object, so it is kept small: the origin is a part of peer_.
    const LoggerHandler& handler_;
    std::string peer_;  ///< written once, for every record of the connection
    PeerCredentials credentials_;
    std::uint8_t origin_at_ = 0;    ///< 1 for an IPv6 client ("[IP]:PORT"), else 0
    std::uint8_t origin_size_ = 0;  ///< the IP's length (at most 45, and a zone name's 16)
    OctetCountFramer framer_;
};

class LoggerHandler final : public Handler {
  public:
    explicit LoggerHandler(LoggerOptions options)
        : options_(std::move(options)),
          file_(LogFile::for_path(options_.file)),
          forwarder_(options_.forward ? Forwarder::for_spool(*options_.forward, options_.service)
                                      : nullptr) {}
    LoggerHandler(const LoggerHandler&) = delete;
    LoggerHandler& operator=(const LoggerHandler&) = delete;
    /// A handler a reload replaced goes when its last connection does; the file's writer goes
    /// when its last handler does.
    ~LoggerHandler() override { stop(); }

    void start() override {
        if (const auto key = file_->stage(options_.file); !key.empty()) {
            throw config::KeyError(
                key, "differs from the " + std::string(key) + " of another service " + "writing " +
                         options_.file.path + " (one file, one writer: they must agree)");
        }
        staged_ = true;
        if (auto why = file_->start(); !why.empty()) {
            stop();
            throw config::KeyError("file", why);
        }
        started_ = true;
        if (forwarder_) {
            if (const auto key = forwarder_->stage(*options_.forward); !key.empty()) {
                stop();
                throw config::KeyError(key, "differs from the " + std::string(key) +
                                                " of another service using the spool " +
                                                options_.forward->spool);
            }
            forward_staged_ = true;
            if (auto why = forwarder_->start(); !why.empty()) {
                stop();
                throw config::KeyError("forward_spool", why);
            }
            forward_started_ = true;
        }
        // Here, not in the constructor: validation (--check-config) builds handlers too.
        counters_ =
            &metrics::row(metrics::Family::logger, metrics::label("service", options_.service));
    }
    void commit() override {
        if (std::exchange(staged_, false)) {
            file_->commit();
        }
        if (std::exchange(forward_staged_, false)) {
            forwarder_->commit();
        }
    }
    void reopen() override { file_->reopen(); }
    void stop() override {
        if (std::exchange(staged_, false)) {
            file_->unstage();
        }
        if (std::exchange(started_, false)) {
            file_->stop();
        }
        if (std::exchange(forward_staged_, false)) {
            forwarder_->unstage();
        }
        if (std::exchange(forward_started_, false)) {
            forwarder_->stop();
        }
    }
    void enter_child() override {
        file_->enter_child();
        if (forwarder_) {
            forwarder_->enter_child();
        }
    }

    std::unique_ptr<StreamSession> open_session(const Peer& peer) override {
        return std::make_unique<LoggerSession>(*this, peer);
    }

    void datagram(std::string_view bytes, const Peer& peer, Output& /*out*/) override {
        auto& buffer = record_buffer();
        buffer.records.clear();
        buffer.frames.clear();
        buffer.peer.clear();
        peer.append_to(buffer.peer);
        format(buffer, buffer.peer, origin_in(buffer.peer, peer), peer.credentials,
               strip_datagram_framing(bytes), false);
        if (file_->try_append(buffer.records)) {
            counters_->add(metrics::records);
            forward(buffer.frames, 1);
        } else {
            note_dropped();
        }
    }

    /// Appends the record of one message from peer (its text, its credentials, its IP for
    /// forwarding) to buffer.records, and when forwarding its frame to buffer.frames.
    void format(RecordBuffer& buffer, std::string_view peer, std::string_view origin,
                const PeerCredentials& credentials, std::string_view message,
                bool truncated) const {
        const std::string_view kept =
            message.substr(0, std::min(message.size(), options_.max_line));
        const SyslogMessage parsed = parse_syslog(kept);
        const std::string_view received = buffer.clock.now();
        append_record(buffer.records, options_.format,
                      RecordContext{.received = received,
                                    .peer = peer,
                                    .service = options_.service,
                                    .credentials = credentials},
                      parsed, truncated || kept.size() < message.size());
        if (forwarder_) {
            append_forward_frame(
                buffer.frames,
                ForwardContext{.received = received,
                               .origin_ip = origin,
                               .fallback_host = origin.empty()
                                                    ? std::string_view(forwarder_->hostname())
                                                    : origin,
                               .now = std::time(nullptr)},
                parsed);
        }
    }

    /// Hands count frames to the forwarder, when forwarding.
    void forward(std::string_view frames, std::uint64_t count) const {
        if (forwarder_) {
            forwarder_->append(frames, count);
        }
    }

    LogFile& file() const { return *file_; }
    /// count records of a stream session went to the file.
    void counted(std::uint64_t count) const { counters_->add(metrics::records, count); }
    std::size_t max_line() const { return options_.max_line; }

  private:
    /// A datagram is one message: without a leading "NNN " octet count that matches its length,
    /// and without one trailing LF (or CRLF).
    static std::string_view strip_datagram_framing(std::string_view bytes) {
        const auto space = bytes.find(' ');
        if (space > 0 && space <= 10 && space != std::string_view::npos &&
            bytes.substr(0, space).find_first_not_of("0123456789") == std::string_view::npos) {
            const auto rest = bytes.substr(space + 1);
            const auto count = std::stoull(std::string(bytes.substr(0, space)));
            if (count == rest.size() || (rest.ends_with('\n') && count == rest.size() - 1)) {
                bytes = rest;
            }
        }
        if (bytes.ends_with('\n')) {
            bytes.remove_suffix(bytes.ends_with("\r\n") ? 2 : 1);
        }
        return bytes;
    }

    /// Counts a datagram the writer had no room for; logs the count at most once a second.
    void note_dropped() {
        counters_->add(metrics::records_dropped);
        const auto dropped = ++dropped_;
        if (drop_log_.ready()) {
            BOOST_LOG_TRIVIAL(warning) << "[" << options_.service << "] dropped " << dropped
                                       << " datagrams so far: the log writer is behind";
        }
    }

    LoggerOptions options_;
    std::shared_ptr<LogFile> file_;
    std::shared_ptr<Forwarder> forwarder_;  ///< null unless forward is set
    bool staged_ = false;          ///< options_.file waits in file_ for this configuration's commit
    bool started_ = false;         ///< a user of file_ until stopped
    bool forward_staged_ = false;  ///< as staged_, for forwarder_
    bool forward_started_ = false;      ///< as started_, for forwarder_
    metrics::Row* counters_ = nullptr;  ///< from start()
    std::atomic<std::uint64_t> dropped_ = 0;
    /// Drop warnings, at most once a second (datagrams may come from several threads).
    Throttle drop_log_{std::chrono::seconds(1)};
};

LoggerSession::LoggerSession(const LoggerHandler& handler, const Peer& peer)
    : handler_(handler),
      peer_(peer.to_string()),
      credentials_(peer.credentials),
      framer_(handler.max_line()) {
    const std::string_view origin = origin_in(peer_, peer);
    origin_at_ = static_cast<std::uint8_t>(origin.data() - peer_.data());
    origin_size_ = static_cast<std::uint8_t>(origin.size());
}

void LoggerSession::handle(std::string_view bytes, Output& /*out*/) {
    record([&](const auto& on_message) { framer_.feed(bytes, on_message); });
}

void LoggerSession::finish(Output& /*out*/) {
    record([&](const auto& on_message) { framer_.finish(on_message); });
}

template <class Frame>
void LoggerSession::record(Frame frame) {
    auto& buffer = record_buffer();
    buffer.records.clear();
    buffer.frames.clear();
    std::uint64_t count = 0;
    frame([&](std::string_view message, bool truncated) {
        handler_.format(buffer, peer_, origin(), credentials_, message, truncated);
        ++count;
    });
    if (count > 0) {
        handler_.file().append(buffer.records);
        handler_.counted(count);
        handler_.forward(buffer.frames, count);
    }
}

bool LoggerSession::ready() const {
    return !handler_.file().backlogged();
}

}  // namespace

HandlerSpec logger_handler_spec() {
    return HandlerSpec{
        .name = "logger",
        .summary = "syslog receiver: every message becomes one record in a durable log file",
        .stream = true,
        .datagram = true,
        .keys = logger_keys,
        .make = [](const config::ServiceConfig& service) -> std::unique_ptr<Handler> {
            return std::make_unique<LoggerHandler>(parse_logger_options(service));
        },
    };
}

}  // namespace netd
