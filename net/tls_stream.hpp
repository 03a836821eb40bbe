#pragma once
// The TLS byte stream (SPEC 9): PlainStream's operations (byte_stream.hpp) with OpenSSL's record
// layer in between, so that the one StreamConnection class serves TLS clients too, with the same
// bounded reads, back-pressure, drain and idle timeout; plus the server side of the handshake,
// which the connection runs in its starting phase.
//
// The SSL object reads and writes the non-blocking socket itself (a socket BIO), and the
// connection drives it with SSL_read and SSL_write, not with boost::asio::ssl::stream:
// - the connection reads until the stream is dry and writes until it would block, with
//   non-blocking calls. ssl::stream's synchronous operations write with asio::write, which on a
//   non-blocking socket can send part of a record and then drop the rest; only its asynchronous
//   ones are safe, and each of those goes through the reactor, so reading until dry would cost a
//   reactor round trip per record;
// - ssl::stream keeps two 17 KiB buffers per connection (and a BIO pair of two more) for as long
//   as the connection lives; here OpenSSL's own buffers are released while a connection is idle
//   (SSL_MODE_RELEASE_BUFFERS), and records go from the socket into OpenSSL and out as
//   plaintext into the caller's buffer without another copy.
// read_some and write_some are would_block when OpenSSL needs the socket readable or writable.
// The waits wait for what OpenSSL asked for, which is not always the obvious direction (a read
// may need to write: the answer to a TLS 1.3 KeyUpdate; renegotiation is off), and complete at
// once when OpenSSL already holds input: read ahead from the socket, or the rest of a record the
// caller's buffer could not take. The socket's readiness would never show those bytes.
//
// The contract with the caller (StreamConnection keeps it): a write that returned would_block is
// retried with the same bytes first (OpenSSL may have sent part of a record of them).

#include <openssl/ssl.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "net/readable_wait.hpp"
#include "net/tls_context.hpp"

namespace netd {

class TlsStream {
  public:
    using socket_type = boost::asio::ip::tcp::socket;
    using executor_type = socket_type::executor_type;

    /// The connection runs async_handshake before its session starts.
    static constexpr bool handshakes = true;

    /// A server-side TLS stream over an accepted socket (the handshake is yet to run). Moved
    /// only before its first operation: waiting operations refer to it.
    TlsStream(socket_type socket, std::shared_ptr<const TlsContext> context);
    TlsStream(TlsStream&&) noexcept = default;
    TlsStream& operator=(TlsStream&&) = delete;
    TlsStream(const TlsStream&) = delete;
    TlsStream& operator=(const TlsStream&) = delete;
    ~TlsStream() = default;

    executor_type get_executor() { return socket_.get_executor(); }
    bool is_open() const { return socket_.is_open(); }
    void non_blocking(boost::system::error_code& ec) { socket_.non_blocking(true, ec); }

    /// tls_timeout: the handshake's deadline, which the connection keeps.
    std::chrono::seconds handshake_timeout() const { return context_->handshake_timeout(); }

    /// Runs the server side of the handshake; handler(ec) once it is complete or has failed
    /// (failure(ec) then says why, for the log). Never completes inside this call. cancel()
    /// makes it take one last step with what has arrived: it completes then, or ends with
    /// operation_aborted if the client is not done.
    template <class Handler>
    void async_handshake(Handler&& handler) {
        boost::system::error_code ec;
        if (handshake_step(ec)) {
            boost::asio::post(socket_.get_executor(), [handler = std::forward<Handler>(handler),
                                                       ec]() mutable { handler(ec); });
            return;
        }
        continue_handshake(std::forward<Handler>(handler));
    }

    /// Why the handshake failed with ec, in words for the log: OpenSSL's reason, and for a
    /// client certificate that was refused, the verifier's ("certificate has expired").
    std::string failure(const boost::system::error_code& ec) const;

    /// Plaintext into buffer, until it is full or OpenSSL needs more from the socket (then the
    /// read is short, or would_block if nothing came); eof once the client has closed (with
    /// close_notify, or without: see TlsContext).
    std::size_t read_some(boost::asio::mutable_buffer buffer, boost::system::error_code& ec);
    /// read_some; never known dry (OpenSSL reads the socket: PlainStream's TCP_INQ does not
    /// reach here), so the caller reads on until would_block.
    std::size_t read_some(boost::asio::mutable_buffer buffer, boost::system::error_code& ec,
                          bool& dry) {
        dry = false;
        return read_some(buffer, ec);
    }
    /// Sends a record (16 KiB of plaintext at most); would_block when the socket is full.
    std::size_t write_some(boost::asio::const_buffer buffer, boost::system::error_code& ec);

    /// Completes with the plaintext that arrives (read_some's, at most buffer's size).
    template <class Handler>
    void async_read_some(boost::asio::mutable_buffer buffer, Handler&& handler) {
        if (holds_input()) {
            boost::system::error_code ec;
            const std::size_t n = read_some(buffer, ec);
            if (ec != boost::asio::error::would_block) {
                boost::asio::post(socket_.get_executor(), [handler = std::forward<Handler>(handler),
                                                           ec, n]() mutable { handler(ec, n); });
                return;
            }
        }
        continue_read(buffer, std::forward<Handler>(handler));
    }
    /// Completes when read_some would find something (plaintext, the end, an error).
    template <class Handler>
    void async_wait_readable(Handler&& handler) {
        if (holds_input()) {
            boost::asio::post(socket_.get_executor(),
                              [handler = std::forward<Handler>(handler)]() mutable {
                                  handler(boost::system::error_code());
                              });
            return;
        }
        wait(read_wants_, std::forward<Handler>(handler));
    }
    /// Completes when write_some may get further (after one that would block).
    template <class Handler>
    void async_wait_writable(Handler&& handler) {
        wait(write_wants_, std::forward<Handler>(handler));
    }

    /// Waiting operations complete with operation_aborted.
    void cancel() {
        boost::system::error_code ignored;
        socket_.cancel(ignored);
    }
    /// Ends our sending side: close_notify, then the TCP half-close; reading goes on (the
    /// client's own close_notify, or what it still sends, is read as usual).
    void shutdown_send(boost::system::error_code& ec);
    /// Closes the connection, with a close_notify first if none was sent and the connection is
    /// sound (sent if the socket takes it at once: a close never waits for a client).
    void close();

  private:
    /// Which readiness of the socket OpenSSL needs to get further.
    enum class Want : std::uint8_t { read, write };

    struct SslFree {
        void operator()(SSL* ssl) const { ::SSL_free(ssl); }
    };

    /// One go at the handshake: true when it is over (ec: how), false when it waits for the
    /// socket (handshake_wants_).
    bool handshake_step(boost::system::error_code& ec);

    template <class Handler>
    void continue_handshake(Handler&& handler) {
        wait(handshake_wants_, [this, handler = std::forward<Handler>(handler)](
                                   boost::system::error_code ec) mutable {
            if (!ec && !handshake_step(ec)) {
                return continue_handshake(std::move(handler));
            }
            if (ec == boost::asio::error::operation_aborted && socket_.is_open()) {
                // Cancelled (a drain): one last step with what the client has sent.
                if (boost::system::error_code last; handshake_step(last)) {
                    ec = last;
                }
            }
            handler(ec);
        });
    }

    template <class Handler>
    void continue_read(boost::asio::mutable_buffer buffer, Handler&& handler) {
        wait(read_wants_, [this, buffer, handler = std::forward<Handler>(handler)](
                              boost::system::error_code ec) mutable {
            std::size_t n = 0;
            if (!ec) {
                n = read_some(buffer, ec);
                if (ec == boost::asio::error::would_block) {
                    return continue_read(buffer, std::move(handler));
                }
            }
            handler(ec, n);
        });
    }

    template <class Handler>
    void wait(Want want, Handler&& handler) {
        if (want == Want::read) {
            return netd::async_wait_readable(socket_, std::forward<Handler>(handler));
        }
        socket_.async_wait(socket_type::wait_write, std::forward<Handler>(handler));
    }

    /// Whether OpenSSL holds input the socket no longer shows.
    bool holds_input() const { return ssl_ && ::SSL_has_pending(ssl_.get()) == 1; }

    /// What an SSL call that returned result failed with: would_block (want says for what),
    /// eof, or an error (the connection is then unsound: no close_notify, no further calls).
    boost::system::error_code io_error(int result, Want& want);

    socket_type socket_;
    std::shared_ptr<const TlsContext> context_;
    std::unique_ptr<SSL, SslFree> ssl_;
    Want handshake_wants_ = Want::read;
    Want read_wants_ = Want::read;    ///< what the last read that would block waits for
    Want write_wants_ = Want::write;  ///< what the last write that would block waits for
    /// An error (or the end) a read met after it had read something: the next read's result.
    boost::system::error_code read_error_;
    /// A fatal error happened: OpenSSL must not be called again, and no close_notify is sent.
    bool broken_ = false;
};

}  // namespace netd
