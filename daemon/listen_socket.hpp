#pragma once
// Opening the socket behind a listener, shared by stream and datagram listeners: the bind itself,
// and the copies pool mode gives each of its event loops.

#include <sys/socket.h>
#include <unistd.h>

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

#include "daemon/unix_path.hpp"

namespace netd {

/// SO_REUSEPORT, which Asio has no name for.
using reuse_port = boost::asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

template <class Protocol>
constexpr bool is_local_protocol = !requires(typename Protocol::endpoint e) {
    e.address();
};

/// What a listener of this protocol is called in logs, and its config key: tcp, udp, unix,
/// unixgram.
template <class Protocol>
inline constexpr std::string_view kind_name = "tcp";
template <>
inline constexpr std::string_view kind_name<boost::asio::local::stream_protocol> = "unix";
template <>
inline constexpr std::string_view kind_name<boost::asio::local::datagram_protocol> = "unixgram";
template <>
inline constexpr std::string_view kind_name<boost::asio::ip::udp> = "udp";

/// "tcp 127.0.0.1:7007", "unix /run/netd/echo.sock": a listener in the logs.
template <class Protocol>
std::string describe(std::string_view where) {
    return std::string(kind_name<Protocol>) + " " + std::string(where);
}

/// Opens socket (an acceptor or a datagram socket) and binds it to endpoint. An IPv6 address is
/// bound v6-only (IPv4 is configured on its own); shared_port lets the copies of a pool-mode
/// listener bind the same port (SO_REUSEPORT: the kernel spreads clients over them). Returns
/// "" or why it failed.
template <class Socket>
std::string open_and_bind(Socket& socket, const typename Socket::endpoint_type& endpoint,
                          bool shared_port) {
    using Protocol = typename Socket::protocol_type;
    if constexpr (is_local_protocol<Protocol>) {
        if (auto why = free_unix_path(endpoint.path(), endpoint.protocol().type()); !why.empty()) {
            return why;
        }
    }
    boost::system::error_code ec;
    socket.open(endpoint.protocol(), ec);
    if constexpr (!is_local_protocol<Protocol>) {
        if (!ec && endpoint.protocol().type() == SOCK_STREAM) {
            socket.set_option(boost::asio::socket_base::reuse_address(true), ec);
        }
        if (!ec && endpoint.address().is_v6()) {
            socket.set_option(boost::asio::ip::v6_only(true), ec);
        }
        if (!ec && shared_port) {
            socket.set_option(reuse_port(true), ec);
        }
    }
    if (!ec) {
        socket.bind(endpoint, ec);
    }
    return ec ? ec.message() : std::string();
}

/// Makes socket (an acceptor or a datagram socket) take over fd, a bound socket the service
/// manager passed (socket activation). Returns "" or why it failed.
template <class Socket>
std::string adopt(Socket& socket, int fd) {
    using Protocol = typename Socket::protocol_type;
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        return std::strerror(errno);
    }
    boost::system::error_code ec;
    if constexpr (is_local_protocol<Protocol>) {
        socket.assign(Protocol(), fd, ec);
    } else {
        socket.assign(address.ss_family == AF_INET6 ? Protocol::v6() : Protocol::v4(), fd, ec);
    }
    return ec ? ec.message() : std::string();
}

/// Opens copy as another listener on the same address as original, for another event loop: an IP
/// socket binds the same port (original was bound with shared_port); a Unix socket, whose path
/// can be bound only once, and a socket the service manager passed (bound without SO_REUSEPORT)
/// share original's descriptor. Returns "" or why it failed.
template <class Socket>
std::string open_copy(Socket& copy, Socket& original, bool adopted) {
    using Protocol = typename Socket::protocol_type;
    const auto endpoint = original.local_endpoint();
    if (is_local_protocol<Protocol> || adopted) {
        const int fd = ::dup(original.native_handle());
        if (fd < 0) {
            return std::strerror(errno);
        }
        boost::system::error_code ec;
        copy.assign(endpoint.protocol(), fd, ec);
        if (ec) {
            ::close(fd);
        }
        return ec ? ec.message() : std::string();
    }
    return open_and_bind(copy, endpoint, true);
}

}  // namespace netd
