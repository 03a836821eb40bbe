#include "handlers/logger/forward_transport.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>

// librelp's header declares C functions without extern "C".
extern "C" {
#include <librelp.h>
}

#include "config/config.hpp"
#include "handlers/logger/forward_record.hpp"
#include "handlers/logger/tcp_acked.hpp"

namespace netd {

namespace {

using Clock = std::chrono::steady_clock;

/// Frames librelp may have unacknowledged (its default). Confirmation lags by this and half of
/// it (a send's frames are confirmed together), which is what a relp:// reconnect or restart may
/// send twice.
constexpr int relp_window = 128;

std::string errno_text(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

std::string ssl_error_text() {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return "TLS error";
    }
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    return text;
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
class StreamTransport final : public ForwardTransport {
  public:
    StreamTransport(ForwardDestination destination, const ForwardTlsFiles& tls, ForwardStop stop)
        : destination_(std::move(destination)), stop_(stop) {
        if (destination_.scheme == ForwardDestination::Scheme::tls) {
            make_context(tls);
        }
    }
    StreamTransport(const StreamTransport&) = delete;
    StreamTransport& operator=(const StreamTransport&) = delete;
    ~StreamTransport() override {
        close();
        if (context_ != nullptr) {
            SSL_CTX_free(context_);
        }
    }

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
        return {};
    }

    std::string send(std::string_view frames, std::uint64_t count) override {
        const auto deadline = [] { return Clock::now() + patience; };
        auto until = deadline();
        std::string why;
        while (!frames.empty()) {
            std::size_t done = 0;
            short want = POLLOUT;
            if (ssl_ != nullptr) {
                const int n =
                    SSL_write(ssl_, frames.data(),
                              static_cast<int>(std::min(frames.size(), std::size_t{1} << 20)));
                if (n > 0) {
                    done = static_cast<std::size_t>(n);
                } else {
                    const int error = SSL_get_error(ssl_, n);
                    if (error == SSL_ERROR_WANT_READ) {
                        want = POLLIN;
                    } else if (error != SSL_ERROR_WANT_WRITE) {
                        return error == SSL_ERROR_SYSCALL ? errno_text("send") : ssl_error_text();
                    }
                }
            } else {
                const ssize_t n = ::send(fd_, frames.data(), frames.size(), MSG_NOSIGNAL);
                if (n > 0) {
                    done = static_cast<std::size_t>(n);
                    written_ += done;
                } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    return errno_text("send");
                }
            }
            if (done > 0) {
                frames.remove_prefix(done);
                until = deadline();
                continue;
            }
            if (!wait_for(fd_, want, stop_.fd, until, why)) {
                return why;
            }
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

    bool alive() override {
        if (fd_ < 0) {
            return false;
        }
        pollfd fd{fd_, POLLIN, 0};
        if (::poll(&fd, 1, 0) <= 0) {
            return true;
        }
        if ((fd.revents & (POLLERR | POLLHUP)) != 0) {
            return false;
        }
        // A syslog collector sends nothing: readable means closed, or bytes to ignore.
        char byte = 0;
        const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            return false;
        }
        if (n > 0 && ssl_ == nullptr) {
            char discard[4096];
            (void)::recv(fd_, discard, sizeof(discard), MSG_DONTWAIT);
        }
        return true;
    }

    void settle(std::chrono::milliseconds wait) override {
        const auto until = Clock::now() + wait;
        while (fd_ >= 0 && confirmed() < sent_frames_ && Clock::now() < until) {
            pollfd stop{stop_.fd, POLLIN, 0};
            ::poll(&stop, 0, 10);  // the stop fd is readable by now: a plain 10 ms sleep
        }
    }

  private:
    struct Mark {
        std::uint64_t wire;    ///< bytes on the wire once these frames were written
        std::uint64_t frames;  ///< frames sent by then
    };

    void make_context(const ForwardTlsFiles& tls) {
        context_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(context_, TLS1_2_VERSION);
        SSL_CTX_set_verify(context_, SSL_VERIFY_PEER, nullptr);
        SSL_CTX_set_mode(context_,
                         SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        if (tls.ca.empty()) {
            SSL_CTX_set_default_verify_paths(context_);
        } else if (SSL_CTX_load_verify_locations(context_, tls.ca.c_str(), nullptr) != 1) {
            throw config::KeyError("forward_ca", "cannot use " + tls.ca + ": " + ssl_error_text());
        }
        if (!tls.cert.empty()) {
            if (SSL_CTX_use_certificate_chain_file(context_, tls.cert.c_str()) != 1) {
                throw config::KeyError("forward_cert",
                                       "cannot use " + tls.cert + ": " + ssl_error_text());
            }
            if (SSL_CTX_use_PrivateKey_file(context_, tls.key.c_str(), SSL_FILETYPE_PEM) != 1) {
                throw config::KeyError("forward_key",
                                       "cannot use " + tls.key + ": " + ssl_error_text());
            }
            if (SSL_CTX_check_private_key(context_) != 1) {
                throw config::KeyError("forward_key", tls.key + " is not the key of " + tls.cert);
            }
        }
    }

    std::string handshake() {
        ssl_ = SSL_new(context_);
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
                return "TLS handshake: " +
                       (error == SSL_ERROR_SYSCALL ? errno_text("connection") : ssl_error_text());
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
    SSL_CTX* context_ = nullptr;
    SSL* ssl_ = nullptr;
    int fd_ = -1;
    std::uint64_t acked_at_start_ = 0;
    std::uint64_t written_ = 0;  ///< plain TCP: bytes sent since connect
    std::uint64_t sent_frames_ = 0;
    std::uint64_t confirmed_frames_ = 0;
    std::deque<Mark> marks_;
};

/// relp://: frames through librelp, one client per connection.
class RelpTransport final : public ForwardTransport {
  public:
    RelpTransport(ForwardDestination destination, ForwardStop stop)
        : destination_(std::move(destination)), stop_(stop) {
        if (relpEngineConstruct(&engine_) != RELP_RET_OK) {
            throw std::runtime_error("librelp: cannot make its engine");
        }
        // The engine calls its debug printer unconditionally, and starts without one.
        relpEngineSetDbgprint(engine_, nullptr);
        relpEngineSetShutdownImmdtPtr(engine_, stop_.flag);
        // The client offers only the commands enabled here; the collector needs "syslog".
        relpEngineSetEnableCmd(engine_,
                               reinterpret_cast<unsigned char*>(const_cast<char*>("syslog")),
                               eRelpCmdState_Required);
        relpEngineSetOnErr(engine_, &RelpTransport::on_error);
        relpEngineSetDnsLookupMode(engine_, 0);
    }
    RelpTransport(const RelpTransport&) = delete;
    RelpTransport& operator=(const RelpTransport&) = delete;
    ~RelpTransport() override {
        close();
        relpEngineDestruct(&engine_);
    }

    std::string connect() override {
        close();
        error_.clear();
        if (relpEngineCltConstruct(engine_, &client_) != RELP_RET_OK) {
            client_ = nullptr;
            return "librelp: cannot make a client";
        }
        relpCltSetUsrPtr(client_, this);
        relpCltSetTimeout(client_, static_cast<unsigned>(patience.count() / 2));
        relpCltSetConnTimeout(client_, static_cast<int>(patience.count()));
        relpCltSetWindowSize(client_, relp_window);
        const relpRetVal result = relpCltConnect(
            client_, AF_UNSPEC, reinterpret_cast<unsigned char*>(destination_.port.data()),
            reinterpret_cast<unsigned char*>(destination_.host.data()));
        if (result != RELP_RET_OK) {
            close();
            return why(result);
        }
        sent_ = 0;
        return {};
    }

    std::string send(std::string_view frames, std::uint64_t count) override {
        std::string failed;
        for (std::uint64_t i = 0; i < count; ++i) {
            const std::size_t length = frame_length(frames);
            const std::size_t space = frames.find(' ');
            std::string_view message = frames.substr(space + 1, length - space - 1);
            const relpRetVal result = relpCltSendSyslog(
                client_, reinterpret_cast<unsigned char*>(const_cast<char*>(message.data())),
                message.size());
            if (result != RELP_RET_OK) {
                failed = why(result);
                break;
            }
            ++sent_;
            frames.remove_prefix(length);
        }
        return failed;
    }

    std::uint64_t confirmed() override { return sent_ > relp_window ? sent_ - relp_window : 0; }

    std::uint64_t batch_frames() const override { return relp_window / 2; }

    void settle(std::chrono::milliseconds /*wait*/) override {
        // librelp's own close waits for the collector's answer to everything sent.
        close();
    }

  private:
    static void on_error(void* user, char* /*object*/, char* message, relpRetVal /*code*/) {
        if (user != nullptr && message != nullptr) {
            static_cast<RelpTransport*>(user)->error_ = message;
        }
    }

    std::string why(relpRetVal result) const {
        return error_.empty() ? "librelp error " + std::to_string(result) : error_;
    }

    void close() {
        if (client_ != nullptr) {
            relpEngineCltDestruct(engine_, &client_);
            client_ = nullptr;
        }
    }

    ForwardDestination destination_;
    ForwardStop stop_;
    relpEngine_t* engine_ = nullptr;
    relpClt_t* client_ = nullptr;
    std::uint64_t sent_ = 0;
    std::string error_;  ///< librelp's last complaint about this client
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
