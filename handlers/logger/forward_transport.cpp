#include "handlers/logger/forward_transport.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <optional>
#include <stdexcept>

#include "config/config.hpp"
#include "config/tls_files.hpp"
#include "handlers/logger/forward_record.hpp"
#include "handlers/logger/tcp_acked.hpp"

namespace netd {

namespace {

using Clock = std::chrono::steady_clock;

/// RELP records written and not yet answered, at most (librelp's default window is 128; a
/// larger one lets a batch go in one write).
constexpr std::size_t relp_window = 4096;
/// RELP records written at once. Records are confirmed a batch at a time, so a session that
/// ends early (a collector's serverclose, a refusal) keeps every whole batch it answered.
constexpr std::size_t relp_batch = 256;

std::string errno_text(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

/// Waits until fd is ready for events, the stop fd fires, or deadline: true when ready.
bool wait_for(int fd, short events, int stop_fd, Clock::time_point deadline, std::string& why) {
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            why = "no progress in " + std::to_string(ForwardTransport::patience.count()) + " s";
            return false;
        }
        pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
        const int n = ::poll(fds, 2, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            why = errno_text("poll");
            return false;
        }
        if ((fds[1].revents & POLLIN) != 0) {
            why = "stopping";
            return false;
        }
        if (fds[0].revents != 0) {
            return true;
        }
    }
}

/// tcp:// and tls://: frames over one socket.
class StreamTransport : public ForwardTransport {
  public:
    StreamTransport(ForwardDestination destination, const ForwardTlsFiles& tls, ForwardStop stop)
        : destination_(std::move(destination)), stop_(stop) {
        if (destination_.scheme == ForwardDestination::Scheme::tls) {
            make_context(tls);
        }
    }
    StreamTransport(const StreamTransport&) = delete;
    StreamTransport& operator=(const StreamTransport&) = delete;
    ~StreamTransport() override { close(); }

    std::string connect() override {
        close();
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        if (const int error =
                ::getaddrinfo(destination_.host.c_str(), destination_.port.c_str(), &hints, &found);
            error != 0) {
            return "cannot resolve " + destination_.host + ": " + ::gai_strerror(error);
        }
        std::string why = "no address";
        for (const addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
            const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                                    a->ai_protocol);
            if (fd < 0) {
                why = errno_text("socket");
                continue;
            }
            if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
                why = errno_text("connect");
                ::close(fd);
                continue;
            }
            if (!wait_for(fd, POLLOUT, stop_.fd, Clock::now() + patience, why)) {
                ::close(fd);
                continue;
            }
            int error = 0;
            socklen_t length = sizeof(error);
            ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
            if (error != 0) {
                why = std::string("connect: ") + std::strerror(error);
                ::close(fd);
                continue;
            }
            // Batches are written whole; the last part of one should not wait for an ACK.
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            fd_ = fd;
        }
        ::freeaddrinfo(found);
        if (fd_ < 0) {
            return why;
        }
        acked_at_start_ = bytes_acked();
        written_ = 0;
        sent_frames_ = 0;
        confirmed_frames_ = 0;
        marks_.clear();
        if (context_ != nullptr) {
            if (auto failed = handshake(); !failed.empty()) {
                close();
                return failed;
            }
        }
        if (auto failed = opened(); !failed.empty()) {
            close();
            return failed;
        }
        return {};
    }

    std::string send(std::string_view frames, std::uint64_t count) override {
        if (auto why = write_bytes(frames); !why.empty()) {
            return why;
        }
        sent_frames_ += count;
        marks_.push_back({wire_written(), sent_frames_});
        return {};
    }

    std::uint64_t confirmed() override {
        const std::uint64_t acked = bytes_acked() - acked_at_start_;
        while (!marks_.empty() && marks_.front().wire <= acked) {
            confirmed_frames_ = marks_.front().frames;
            marks_.pop_front();
        }
        return confirmed_frames_;
    }

    std::string why_lost() override {
        static const std::string closed = "the collector closed the connection";
        if (fd_ < 0) {
            return closed;
        }
        pollfd fd{fd_, POLLIN, 0};
        if (::poll(&fd, 1, 0) <= 0) {
            return {};
        }
        if ((fd.revents & (POLLERR | POLLHUP)) != 0) {
            return closed;
        }
        // A syslog collector sends nothing: readable means closed, or bytes to ignore.
        char byte = 0;
        const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            return closed;
        }
        if (n > 0 && ssl_ == nullptr) {
            char discard[4096];
            (void)::recv(fd_, discard, sizeof(discard), MSG_DONTWAIT);
        }
        return {};
    }

    void settle(std::chrono::milliseconds wait) override {
        const auto until = Clock::now() + wait;
        while (fd_ >= 0 && confirmed() < sent_frames_ && Clock::now() < until) {
            ::poll(nullptr, 0, 10);  // the stop fd is readable by now: a plain 10 ms sleep
        }
    }

  protected:
    /// After the connection (and TLS) is up: a protocol's own opening; "" or why not.
    virtual std::string opened() { return {}; }

    /// Writes all of bytes; "" or why the connection is lost.
    std::string write_bytes(std::string_view bytes) {
        const auto deadline = [] { return Clock::now() + patience; };
        auto until = deadline();
        std::string why;
        while (!bytes.empty()) {
            std::size_t done = 0;
            short want = POLLOUT;
            if (ssl_ != nullptr) {
                const int n =
                    SSL_write(ssl_, bytes.data(),
                              static_cast<int>(std::min(bytes.size(), std::size_t{1} << 20)));
                if (n > 0) {
                    done = static_cast<std::size_t>(n);
                } else {
                    const int error = SSL_get_error(ssl_, n);
                    if (error == SSL_ERROR_WANT_READ) {
                        want = POLLIN;
                    } else if (error != SSL_ERROR_WANT_WRITE) {
                        return error == SSL_ERROR_SYSCALL ? errno_text("send")
                                                          : config::openssl_reason();
                    }
                }
            } else {
                const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
                if (n > 0) {
                    done = static_cast<std::size_t>(n);
                    written_ += done;
                } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    return errno_text("send");
                }
            }
            if (done > 0) {
                bytes.remove_prefix(done);
                until = deadline();
                continue;
            }
            if (!wait_for(fd_, want, stop_.fd, until, why)) {
                return why;
            }
        }
        return {};
    }

    /// Reads what the collector sent, without waiting: the byte count, 0 when nothing is
    /// there, -1 once the connection is closed or broken.
    ssize_t read_some(char* buffer, std::size_t size) {
        if (fd_ < 0) {
            return -1;
        }
        if (ssl_ != nullptr) {
            const int n = SSL_read(ssl_, buffer, static_cast<int>(size));
            if (n > 0) {
                return n;
            }
            const int error = SSL_get_error(ssl_, n);
            return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE ? 0 : -1;
        }
        const ssize_t n = ::recv(fd_, buffer, size, MSG_DONTWAIT);
        if (n > 0) {
            return n;
        }
        return n < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    }

    /// Waits until the collector sent something, the stop, or until; false (why set) unless
    /// something came.
    bool wait_readable(Clock::time_point until, std::string& why) const {
        return wait_for(fd_, POLLIN, stop_.fd, until, why);
    }

    int fd() const { return fd_; }

  private:
    struct Mark {
        std::uint64_t wire;    ///< bytes on the wire once these frames were written
        std::uint64_t frames;  ///< frames sent by then
    };

    void make_context(const ForwardTlsFiles& tls) {
        // Owned from here: a file that cannot be used throws out of the constructor.
        context_.reset(SSL_CTX_new(TLS_client_method()));
        if (!context_) {
            throw std::runtime_error("TLS: " + config::openssl_reason());
        }
        SSL_CTX_set_min_proto_version(context_.get(), TLS1_2_VERSION);
        SSL_CTX_set_verify(context_.get(), SSL_VERIFY_PEER, nullptr);
        SSL_CTX_set_mode(context_.get(),
                         SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        // Read by config/tls_files, as a service's tls_ca, tls_cert and tls_key are.
        if (tls.ca.empty()) {
            SSL_CTX_set_default_verify_paths(context_.get());
        } else {
            config::trust_certificates(context_.get(), {"forward_ca", tls.ca},
                                       config::NameToClients::no);
        }
        if (!tls.cert.empty()) {
            config::use_certificate_and_key(context_.get(), {"forward_cert", tls.cert},
                                            {"forward_key", tls.key});
        }
    }

    std::string handshake() {
        ssl_ = SSL_new(context_.get());
        SSL_set_fd(ssl_, fd_);
        in6_addr address{};
        const bool literal = ::inet_pton(AF_INET, destination_.host.c_str(), &address) == 1 ||
                             ::inet_pton(AF_INET6, destination_.host.c_str(), &address) == 1;
        if (literal) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), destination_.host.c_str());
        } else {
            SSL_set_tlsext_host_name(ssl_, destination_.host.c_str());
            SSL_set1_host(ssl_, destination_.host.c_str());
        }
        const auto until = Clock::now() + patience;
        std::string why;
        for (;;) {
            const int n = SSL_connect(ssl_);
            if (n == 1) {
                return {};
            }
            const int error = SSL_get_error(ssl_, n);
            if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
                const long verify = SSL_get_verify_result(ssl_);
                if (verify != X509_V_OK) {
                    return std::string("TLS: the collector's certificate: ") +
                           X509_verify_cert_error_string(verify);
                }
                return "TLS handshake: " + (error == SSL_ERROR_SYSCALL ? errno_text("connection")
                                                                       : config::openssl_reason());
            }
            if (!wait_for(fd_, error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, stop_.fd, until,
                          why)) {
                return "TLS handshake: " + why;
            }
        }
    }

    /// Bytes this side has put on the wire since connect (TLS records, handshake included).
    std::uint64_t wire_written() {
        return ssl_ != nullptr ? BIO_number_written(SSL_get_wbio(ssl_)) : written_;
    }

    /// The peer's kernel's acknowledged data bytes on this connection.
    std::uint64_t bytes_acked() const { return tcp_bytes_acked(fd_); }

    void close() {
        if (ssl_ != nullptr) {
            SSL_free(ssl_);
            ssl_ = nullptr;
        }
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

    ForwardDestination destination_;
    ForwardStop stop_;
    struct FreeContext {
        void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
    };
    std::unique_ptr<SSL_CTX, FreeContext> context_;
    SSL* ssl_ = nullptr;
    int fd_ = -1;
    std::uint64_t acked_at_start_ = 0;
    std::uint64_t written_ = 0;  ///< plain TCP: bytes sent since connect
    std::uint64_t sent_frames_ = 0;
    std::uint64_t confirmed_frames_ = 0;
    std::deque<Mark> marks_;
};

/// relp://: RELP (the protocol of rsyslog's imrelp and omrelp) written here over the socket
/// above, not through librelp: librelp's client does not say which frame an acknowledgement was
/// for and reads acknowledgements only while it sends, so the last window of records could never
/// be known delivered while idle, and it writes each frame with its own send(). Measured with
/// librelp (200,000 records, rsyslog imrelp on loopback): 8.9 us of netd CPU per record, and the
/// last 191 records unconfirmed (resent after every reconnect or restart).
///
/// A frame is "TXNR SP COMMAND SP DATALEN [SP DATA] LF"; the session opens with an "open" offer
/// of the syslog command, each record is a "syslog" frame, and the collector answers each with
/// "TXNR rsp LEN 200 OK". Records are written many to one send(), at most relp_window
/// unanswered.
class RelpTransport final : public StreamTransport {
  public:
    RelpTransport(ForwardDestination destination, ForwardStop stop)
        : StreamTransport(std::move(destination), ForwardTlsFiles{}, stop) {}

    std::string send(std::string_view frames, std::uint64_t count) override {
        out_.clear();
        for (std::uint64_t i = 0; i < count; ++i) {
            const std::size_t length = frame_length(frames);
            const std::size_t space = frames.find(' ');
            append_command(out_, "syslog", frames.substr(space + 1, length - space - 1));
            frames.remove_prefix(length);
        }
        if (auto why = write_bytes(out_); !why.empty()) {
            return why;
        }
        // Past the window, wait for answers before the next batch.
        const auto until = Clock::now() + patience;
        while (waiting_.size() > relp_window - relp_batch) {
            std::string why;
            if (auto failed = take_answers(); !failed.empty()) {
                return failed;
            }
            if (waiting_.size() > relp_window - relp_batch) {
                if (!wait_readable(until, why)) {
                    return why == "stopping" ? why : "RELP: " + why + " without an answer";
                }
                // The collector answers a record at a time: a moment lets a few hundred answers
                // gather for one read, rather than a wake-up and a read for every few.
                ::poll(nullptr, 0, 1);
            }
        }
        return take_answers();
    }

    std::uint64_t confirmed() override {
        take_answers();
        return answered_;
    }

    std::string why_lost() override { return take_answers(); }

    std::uint64_t batch_frames() const override { return relp_batch; }

    void settle(std::chrono::milliseconds wait) override {
        // The stop fd is readable by now: only the collector's answers are waited for.
        const auto until = Clock::now() + wait;
        while (!waiting_.empty() && take_answers().empty() && Clock::now() < until) {
            pollfd answer{fd(), POLLIN, 0};
            ::poll(&answer, 1, 10);
        }
        if (take_answers().empty()) {
            out_.clear();
            append_command(out_, "close", {});
            (void)write_bytes(out_);
        }
    }

  private:
    std::string opened() override {
        next_txnr_ = 1;
        answered_ = 0;
        waiting_.clear();
        in_.clear();
        open_answer_.reset();
        over_.clear();
        out_.clear();
        append_command(out_, "open", "relp_version=0\nrelp_software=netd\ncommands=syslog", false);
        if (auto why = write_bytes(out_); !why.empty()) {
            return why;
        }
        const auto until = Clock::now() + patience;
        std::string why;
        while (!open_answer_) {
            if (auto failed = take_answers(); !failed.empty()) {
                return failed;
            }
            if (!open_answer_ && !wait_readable(until, why)) {
                return "RELP open: " + why;
            }
        }
        if (!open_answer_->starts_with("200")) {
            return "the collector refused the RELP session: " +
                   open_answer_->substr(0, open_answer_->find('\n'));
        }
        if (open_answer_->find("syslog") == std::string::npos) {
            return "the collector does not offer RELP's syslog command";
        }
        return {};
    }

    /// Appends one frame; a syslog frame is one that waits for its answer.
    void append_command(std::string& out, std::string_view command, std::string_view data,
                        bool record = true) {
        char head[48];
        const int length =
            std::snprintf(head, sizeof(head), "%u %.*s %zu", next_txnr_,
                          static_cast<int>(command.size()), command.data(), data.size());
        out.append(head, static_cast<std::size_t>(length));
        if (!data.empty()) {
            out += ' ';
            out += data;
        }
        out += '\n';
        if (record && command == "syslog") {
            waiting_.push_back({next_txnr_, false});
        }
        // Transaction numbers run 1 to 999,999,999, then start again at 1.
        next_txnr_ = next_txnr_ == max_txnr ? 1 : next_txnr_ + 1;
    }

    /// Reads and applies what the collector sent; "" or why the session is over (and then the
    /// same reason on every later call: confirmed() takes answers too, and must not make the
    /// sender miss a refusal or a serverclose it read).
    std::string take_answers() {
        if (!over_.empty()) {
            return over_;
        }
        bool closed = false;
        for (;;) {
            char buffer[16384];
            const ssize_t n = read_some(buffer, sizeof(buffer));
            if (n < 0) {
                closed = true;  // after what it sent before closing is applied
                break;
            }
            if (n == 0) {
                break;
            }
            in_.append(buffer, static_cast<std::size_t>(n));
            // Answers are small and the collector's kernel holds each one back until the one
            // before is acknowledged (Nagle); a delayed ACK here would cost 40 ms an answer.
            const int one = 1;
            ::setsockopt(fd(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
            if (in_.size() > max_answer) {
                return over_ = "RELP: the collector sent more than an answer can hold";
            }
        }
        std::string_view rest = in_;
        std::string why;
        while (!rest.empty() && why.empty()) {
            // "TXNR SP COMMAND SP DATALEN [SP DATA] LF"
            const auto first = rest.find(' ');
            const auto second = first == std::string_view::npos ? first : rest.find(' ', first + 1);
            if (second == std::string_view::npos) {
                if (rest.size() > 64) {
                    why = "RELP: not a frame from the collector";
                }
                break;
            }
            std::size_t data_length = 0;
            const char* length_end =
                std::from_chars(rest.data() + second + 1, rest.data() + rest.size(), data_length)
                    .ptr;
            const auto length_at = static_cast<std::size_t>(length_end - rest.data());
            if (length_at == rest.size()) {
                break;  // the rest is on its way
            }
            const std::size_t data_start = data_length > 0 ? length_at + 1 : length_at;
            if (rest.size() < data_start + data_length + 1) {
                break;
            }
            unsigned txnr = 0;
            std::from_chars(rest.data(), rest.data() + first, txnr);
            const std::string_view command = rest.substr(first + 1, second - first - 1);
            const std::string_view data = rest.substr(data_start, data_length);
            rest.remove_prefix(data_start + data_length + 1);
            why = apply_answer(txnr, command, data);
        }
        in_.erase(0, in_.size() - rest.size());
        if (why.empty() && closed) {
            why = "the collector closed the connection";
        }
        over_ = why;
        return why;
    }

    /// One frame from the collector; "" or why the session is over.
    std::string apply_answer(unsigned txnr, std::string_view command, std::string_view data) {
        if (command == "serverclose") {
            return "the collector closed the RELP session";
        }
        if (command != "rsp") {
            return {};  // nothing else is asked of a client
        }
        if (txnr == 1 && !open_answer_) {
            open_answer_ = std::string(data);
            return {};
        }
        // Answers come in order: the oldest waiting is nearly always the one.
        const auto frame = std::find_if(waiting_.begin(), waiting_.end(),
                                        [&](const Waiting& w) { return w.txnr == txnr; });
        if (frame == waiting_.end()) {
            return {};  // the answer to close
        }
        if (!data.starts_with("200")) {
            return "the collector refused a record: " +
                   std::string(data.substr(0, data.find('\n')));
        }
        frame->answered = true;
        while (!waiting_.empty() && waiting_.front().answered) {
            waiting_.pop_front();
            ++answered_;
        }
        return {};
    }

    struct Waiting {
        unsigned txnr;
        bool answered;
    };

    static constexpr unsigned max_txnr = 999'999'999;
    /// The longest answer buffered: answers are short ("N rsp 6 200 OK").
    static constexpr std::size_t max_answer = std::size_t{1} << 20;

    std::string out_;  ///< frames being written
    std::string in_;   ///< what the collector sent, not yet read as frames
    unsigned next_txnr_ = 1;
    std::deque<Waiting> waiting_;  ///< syslog frames not answered yet, oldest first
    std::uint64_t answered_ = 0;   ///< syslog frames answered in order since connect
    std::optional<std::string> open_answer_;
    std::string over_;  ///< why the session is over, once take_answers found it
};

}  // namespace

ForwardDestination parse_forward_destination(std::string_view text) {
    ForwardDestination destination;
    destination.url = std::string(text);
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) {
        throw config::ValueError("'" + std::string(text) +
                                 "' is not a destination (tcp://, tls:// or relp://HOST:PORT)");
    }
    const std::string_view scheme = text.substr(0, scheme_end);
    if (scheme == "tcp") {
        destination.scheme = ForwardDestination::Scheme::tcp;
    } else if (scheme == "tls") {
        destination.scheme = ForwardDestination::Scheme::tls;
    } else if (scheme == "relp") {
        destination.scheme = ForwardDestination::Scheme::relp;
    } else {
        throw config::ValueError("'" + std::string(scheme) +
                                 "' is not a forwarding scheme (tcp, tls or relp)");
    }
    std::string_view rest = text.substr(scheme_end + 3);
    std::string_view host;
    std::string_view port;
    if (rest.starts_with('[')) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos || rest.substr(close + 1, 1) != ":") {
            throw config::ValueError("'" + std::string(text) + "' needs [IPv6]:PORT");
        }
        host = rest.substr(1, close - 1);
        port = rest.substr(close + 2);
    } else {
        const auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) {
            throw config::ValueError("'" + std::string(text) + "' has no port (HOST:PORT)");
        }
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    if (host.empty() || host.find_first_of("/ ") != std::string_view::npos) {
        throw config::ValueError("'" + std::string(text) + "' has no host");
    }
    destination.host = std::string(host);
    destination.port = std::to_string(config::parse_unsigned(port, 1, 65535));
    return destination;
}

std::unique_ptr<ForwardTransport> make_forward_transport(const ForwardDestination& destination,
                                                         const ForwardTlsFiles& tls,
                                                         ForwardStop stop) {
    if (destination.scheme == ForwardDestination::Scheme::relp) {
        return std::make_unique<RelpTransport>(destination, stop);
    }
    return std::make_unique<StreamTransport>(destination, tls, stop);
}

}  // namespace netd
