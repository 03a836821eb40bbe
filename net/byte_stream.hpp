#pragma once
// The byte stream under a stream connection: what StreamConnection reads, writes and waits on,
// never blocking. PlainStream is an accepted socket as it is; TlsStream (tls_stream.hpp) is the
// other kind (the same operations, with the TLS record layer in between, and a handshake first),
// so that one connection class serves both.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>

#include "net/readable_wait.hpp"

namespace netd {

template <class Protocol>
class PlainStream {
  public:
    using socket_type = typename Protocol::socket;
    using executor_type = typename socket_type::executor_type;

    /// No stage before the session (a TLS stream's handshake).
    static constexpr bool handshakes = false;

    explicit PlainStream(socket_type socket) : socket_(std::move(socket)) {}

    executor_type get_executor() { return socket_.get_executor(); }
    bool is_open() const { return socket_.is_open(); }

    /// Reads and writes return would_block instead of waiting from now on.
    void non_blocking(boost::system::error_code& ec) { socket_.non_blocking(true, ec); }

    std::size_t read_some(boost::asio::mutable_buffer buffer, boost::system::error_code& ec) {
        return socket_.read_some(buffer, ec);
    }
    /// read_some that also tells whether the stream is known to be dry now: a TCP socket with
    /// TCP_INQ (set on the listener, which accepted sockets inherit) says with every read how
    /// many bytes are left, and counts a client's end of input as one, so when it says none the
    /// caller may wait for readiness without reading would_block first (the edge that announced
    /// these bytes cannot also have announced an end that is still unread). Without the option,
    /// or for a Unix socket, dry stays false and the caller reads on until would_block.
    std::size_t read_some(boost::asio::mutable_buffer buffer, boost::system::error_code& ec,
                          bool& dry) {
        dry = false;
        if constexpr (std::is_same_v<Protocol, boost::asio::ip::tcp>) {
            iovec part{.iov_base = buffer.data(), .iov_len = buffer.size()};
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
            msghdr message{};
            message.msg_iov = &part;
            message.msg_iovlen = 1;
            message.msg_control = control;
            message.msg_controllen = sizeof control;
            const ssize_t n = ::recvmsg(socket_.native_handle(), &message, 0);
            if (n < 0) {
                ec.assign(errno == EWOULDBLOCK ? EAGAIN : errno, boost::system::system_category());
                return 0;
            }
            if (n == 0 && buffer.size() > 0) {
                ec = boost::asio::error::eof;
                return 0;
            }
            ec.clear();
            const cmsghdr* header = CMSG_FIRSTHDR(&message);
            if (header != nullptr && header->cmsg_level == SOL_TCP &&
                header->cmsg_type == TCP_CM_INQ) {
                int left = 0;
                std::memcpy(&left, CMSG_DATA(header), sizeof left);
                dry = left == 0;
            }
            return static_cast<std::size_t>(n);
        } else {
            return socket_.read_some(buffer, ec);
        }
    }
    std::size_t write_some(boost::asio::const_buffer buffer, boost::system::error_code& ec) {
        return socket_.write_some(buffer, ec);
    }

    /// Completes with the bytes that arrive (the reactor reads them into buffer).
    template <class Handler>
    void async_read_some(boost::asio::mutable_buffer buffer, Handler&& handler) {
        socket_.async_read_some(buffer, std::forward<Handler>(handler));
    }
    /// Completes when the stream can be read (or has ended) without reading it; it may also
    /// complete when it cannot (readable_wait.hpp: the caller's read is then would_block). Costs
    /// no system call and holds no buffer while it waits.
    template <class Handler>
    void async_wait_readable(Handler&& handler) {
        netd::async_wait_readable(socket_, std::forward<Handler>(handler));
    }
    /// Completes when the stream takes more bytes.
    template <class Handler>
    void async_wait_writable(Handler&& handler) {
        socket_.async_wait(socket_type::wait_write, std::forward<Handler>(handler));
    }

    /// Operations waiting complete with operation_aborted.
    void cancel() {
        boost::system::error_code ignored;
        socket_.cancel(ignored);
    }
    /// Ends our sending side (the peer reads its end of input); reading goes on.
    void shutdown_send(boost::system::error_code& ec) {
        socket_.shutdown(socket_type::shutdown_send, ec);
    }
    void close() {
        boost::system::error_code ignored;
        socket_.shutdown(socket_type::shutdown_both, ignored);
        socket_.close(ignored);
    }

  private:
    socket_type socket_;
};

}  // namespace netd
