#pragma once
// The socket behind a listener, stream or datagram alike: opened by binding an address, by
// adopting a descriptor the service manager passed, or as pool mode's copy for another event
// loop; named for the logs; and closed again, removing a Unix socket file it created.

#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/socket_base.hpp>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "core/endpoint_text.hpp"
#include "net/listener.hpp"
#include "net/unix_path.hpp"

namespace netd {

/// SO_REUSEPORT, which Asio has no name for.
using reuse_port = boost::asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

template <class Protocol>
constexpr bool is_local_protocol = !requires(typename Protocol::endpoint e) {
    e.address();
};

/// The transport a protocol serves.
template <class Protocol>
inline constexpr Transport transport_of = Transport::tcp;
template <>
inline constexpr Transport transport_of<boost::asio::ip::udp> = Transport::udp;
template <>
inline constexpr Transport transport_of<boost::asio::local::stream_protocol> =
    Transport::unix_stream;
template <>
inline constexpr Transport transport_of<boost::asio::local::datagram_protocol> =
    Transport::unix_datagram;

/// Where a listener of Protocol listens: an address to bind, or a passed socket.
template <class Protocol>
using ListenAt = std::variant<typename Protocol::endpoint, AdoptedSocket>;

/// Socket: an acceptor (stream listeners) or a datagram socket.
template <class Socket>
class ListeningSocket {
  public:
    using protocol_type = typename Socket::protocol_type;
    using endpoint_type = typename Socket::endpoint_type;
    static constexpr Transport transport = transport_of<protocol_type>;

    explicit ListeningSocket(boost::asio::io_context& io) : socket_(io) {}

    /// Binds at's address (shared_port: SO_REUSEPORT, so that pool mode's copies can bind it
    /// too), or adopts at's socket. Returns "" or why it failed.
    std::string open(const ListenAt<protocol_type>& at, bool shared_port) {
        if (const auto* adopted = std::get_if<AdoptedSocket>(&at)) {
            description_ = "fd " + std::to_string(adopted->fd);
            adopted_ = true;
            auto why = adopt(adopted->fd);
            if (why.empty()) {
                description_ = endpoint_text(socket_.local_endpoint()) + " (socket activation)";
            }
            return why;
        }
        const auto& endpoint = std::get<endpoint_type>(at);
        description_ = endpoint_text(endpoint);
        auto why = bind(endpoint, shared_port);
        if (why.empty()) {
            const auto bound = socket_.local_endpoint();
            description_ = endpoint_text(bound);  // the real port, when 0 was asked
            if constexpr (is_local_protocol<protocol_type>) {
                unix_inode_ = inode_of(bound.path());
            }
        }
        return why;
    }

    /// Opens this as another listener on original's address, for another event loop: an IP
    /// socket binds the same port (original was bound with shared_port); a Unix socket, whose
    /// path can be bound only once, and a passed socket (bound without SO_REUSEPORT) share
    /// original's descriptor. Returns "" or why it failed.
    std::string open_copy(ListeningSocket& original) {
        description_ = original.description_;
        adopted_ = original.adopted_;
        announce_ = false;
        const auto endpoint = original.socket_.local_endpoint();
        if (!is_local_protocol<protocol_type> && !adopted_) {
            return bind(endpoint, true);
        }
        const int fd = ::dup(original.socket_.native_handle());
        if (fd < 0) {
            return std::strerror(errno);
        }
        boost::system::error_code ec;
        socket_.assign(endpoint.protocol(), fd, ec);
        if (ec) {
            ::close(fd);
        }
        return ec ? ec.message() : std::string();
    }

    /// Closes the socket, and removes the Unix socket file it created.
    void stop() {
        if constexpr (is_local_protocol<protocol_type>) {
            boost::system::error_code ignored;
            if (socket_.is_open() && unix_inode_ != 0) {
                remove_unix_path(socket_.local_endpoint(ignored).path(), unix_inode_);
            }
        }
        abandon();
    }

    /// Closes this process's handle only (fork mode, in a child).
    void abandon() {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

    Socket& socket() { return socket_; }
    /// "127.0.0.1:7007", "/run/netd/echo.sock", "127.0.0.1:7 (socket activation)".
    const std::string& where() const { return description_; }
    /// "tcp 127.0.0.1:7007": what the logs say.
    std::string description() const { return std::string(to_string(transport)) + " " + where(); }
    /// Whether this one logs its address when it starts (the original; not pool mode's copies).
    bool announce() const { return announce_; }

  private:
    std::string bind(const endpoint_type& endpoint, bool shared_port) {
        if constexpr (is_local_protocol<protocol_type>) {
            if (auto why = free_unix_path(endpoint.path(), endpoint.protocol().type());
                !why.empty()) {
                return why;
            }
        }
        boost::system::error_code ec;
        socket_.open(endpoint.protocol(), ec);
        if constexpr (!is_local_protocol<protocol_type>) {
            if (!ec && endpoint.protocol().type() == SOCK_STREAM) {
                socket_.set_option(boost::asio::socket_base::reuse_address(true), ec);
            }
            if (!ec && endpoint.address().is_v6()) {
                // IPv4 is configured on its own: an IPv6 address does not take it too.
                socket_.set_option(boost::asio::ip::v6_only(true), ec);
            }
            if (!ec && shared_port) {
                socket_.set_option(reuse_port(true), ec);
            }
        }
        if (!ec) {
            socket_.bind(endpoint, ec);
        }
        return ec ? ec.message() : std::string();
    }

    std::string adopt(int fd) {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            return std::strerror(errno);
        }
        boost::system::error_code ec;
        if constexpr (is_local_protocol<protocol_type>) {
            socket_.assign(protocol_type(), fd, ec);
        } else {
            socket_.assign(
                address.ss_family == AF_INET6 ? protocol_type::v6() : protocol_type::v4(), fd, ec);
        }
        return ec ? ec.message() : std::string();
    }

    Socket socket_;
    std::string description_;
    ino_t unix_inode_ = 0;  ///< the socket file we created, removed again on stop
    bool adopted_ = false;  ///< passed by the service manager: copies share its descriptor
    bool announce_ = true;
};

}  // namespace netd
