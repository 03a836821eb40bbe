#pragma once
// The socket behind a listener, stream or datagram alike: opened by binding an address, by
// adopting a descriptor the service manager passed, or as pool mode's copy for another event
// loop; named for the logs; and closed again, removing a Unix socket file it created. The Unix
// socket files it creates get the service's unix_mode, unix_owner and unix_group before anybody
// can use them (see bind()).

#include <sys/socket.h>
#include <sys/stat.h>
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

#include "config/config.hpp"
#include "core/endpoint_text.hpp"
#include "net/listener.hpp"
#include "net/peer_credentials.hpp"
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

/// Why a listening socket could not be opened (empty: it was), and the service key at fault
/// when it is not the listener's own (tcp, udp, unix, unixgram).
struct OpenError {
    std::string why;
    std::string_view key;
};

/// Socket: an acceptor (stream listeners) or a datagram socket.
template <class Socket>
class ListeningSocket {
  public:
    using protocol_type = typename Socket::protocol_type;
    using endpoint_type = typename Socket::endpoint_type;
    static constexpr Transport transport = transport_of<protocol_type>;

    /// named: what the logs call its listener (tls for a TCP socket that serves TLS).
    explicit ListeningSocket(boost::asio::io_context& io, Transport named = transport)
        : socket_(io), named_(named) {}

    /// Binds at's address (options.shared_port: SO_REUSEPORT, so that pool mode's copies can
    /// bind it too; access: how a Unix socket file is set up), or adopts at's socket.
    OpenError open(const ListenAt<protocol_type>& at, const ListenerOptions& options,
                   const config::UnixSocketAccess& access) {
        if (const auto* adopted = std::get_if<AdoptedSocket>(&at)) {
            description_ = "fd " + std::to_string(adopted->fd);
            adopted_ = true;
            auto why = adopt(adopted->fd);
            if (why.empty()) {
                description_ = endpoint_text(socket_.local_endpoint()) + " (socket activation)";
            }
            return {.why = why, .key = {}};
        }
        const auto& endpoint = std::get<endpoint_type>(at);
        description_ = endpoint_text(endpoint);
        if constexpr (!is_local_protocol<protocol_type>) {
            if (options.shared_port && !options.reuseport && endpoint.port() != 0) {
                if (auto why = taken_by_another(endpoint); !why.empty()) {
                    return {.why = why, .key = {}};
                }
            }
        }
        auto why = bind(endpoint, options.shared_port, access);
        if (!why.empty()) {
            return {.why = why, .key = {}};
        }
        const auto bound = socket_.local_endpoint();
        description_ = endpoint_text(bound);  // the real port, when 0 was asked
        if constexpr (is_local_protocol<protocol_type>) {
            unix_inode_ = inode_of(bound.path());
            return set_access(bound.path(), access);
        }
        return {};
    }

    /// Opens this as another listener on original's address, for another event loop: an IP
    /// socket binds the same port (original was bound with shared_port); a Unix socket, whose
    /// path can be bound only once, and a passed socket (bound without SO_REUSEPORT) share
    /// original's descriptor.
    OpenError open_copy(ListeningSocket& original) {
        description_ = original.description_;
        adopted_ = original.adopted_;
        announce_ = false;
        const auto endpoint = original.socket_.local_endpoint();
        if (!is_local_protocol<protocol_type> && !adopted_) {
            return {.why = bind(endpoint, true, {}), .key = {}};
        }
        const int fd = ::dup(original.socket_.native_handle());
        if (fd < 0) {
            return {.why = std::strerror(errno), .key = {}};
        }
        boost::system::error_code ec;
        socket_.assign(endpoint.protocol(), fd, ec);
        if (ec) {
            ::close(fd);
        }
        return {.why = ec ? ec.message() : std::string(), .key = {}};
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
    std::string description() const { return std::string(to_string(named_)) + " " + where(); }
    /// Whether this one logs its address when it starts (the original; not pool mode's copies).
    bool announce() const { return announce_; }

  private:
    /// Pool mode without [server] reuseport binds its copies of an address with SO_REUSEPORT,
    /// which would also let another process of the same user listen there, silently taking
    /// part of the traffic. A socket bound without it first fails on an address that anyone
    /// holds ("Address already in use"), as the other modes do. (Another process that binds
    /// the address between this probe and the real bind still shares it: a window of two
    /// system calls.)
    std::string taken_by_another(const endpoint_type& endpoint) {
        Socket probe(socket_.get_executor());
        const auto ec = bind_ip(probe, endpoint, false);
        return ec ? ec.message() : std::string();
    }

    /// Opens socket and binds it to endpoint as every IP listener is bound: SO_REUSEADDR for a
    /// stream, IPv6 only for an IPv6 address, SO_REUSEPORT when shared_port.
    static boost::system::error_code bind_ip(Socket& socket, const endpoint_type& endpoint,
                                             bool shared_port) {
        boost::system::error_code ec;
        socket.open(endpoint.protocol(), ec);
        if (!ec && endpoint.protocol().type() == SOCK_STREAM) {
            socket.set_option(boost::asio::socket_base::reuse_address(true), ec);
        }
        if (!ec && endpoint.address().is_v6()) {
            // IPv4 is configured on its own: an IPv6 address does not take it too.
            socket.set_option(boost::asio::ip::v6_only(true), ec);
        }
        if (!ec && shared_port) {
            socket.set_option(reuse_port(true), ec);
        }
        if (!ec) {
            socket.bind(endpoint, ec);
        }
        return ec;
    }

    std::string bind(const endpoint_type& endpoint, bool shared_port,
                     const config::UnixSocketAccess& access) {
        boost::system::error_code ec;
        if constexpr (is_local_protocol<protocol_type>) {
            if (auto why = free_unix_path(endpoint.path(), endpoint.protocol().type());
                !why.empty()) {
                return why;
            }
            socket_.open(endpoint.protocol(), ec);
            if (!ec && transport == Transport::unix_datagram) {
                socket_.set_option(pass_credentials(true), ec);
            }
            // bind() creates the file with the socket's own mode less the umask: with unix_mode
            // there, the file is never more open than unix_mode, not even before set_access.
            // (A stream socket cannot be connected to before listen() anyway; a datagram socket
            // takes datagrams as soon as it is bound.)
            if (!ec && access.mode && ::fchmod(socket_.native_handle(), *access.mode) != 0) {
                ec.assign(errno, boost::system::system_category());
            }
            if (!ec) {
                socket_.bind(endpoint, ec);
            }
        } else {
            ec = bind_ip(socket_, endpoint, shared_port);
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
            if (!ec && transport == Transport::unix_datagram) {
                // Datagrams queued before this carry no credentials (PassCredentials=yes in the
                // socket unit avoids that).
                socket_.set_option(pass_credentials(true), ec);
            }
        } else {
            socket_.assign(
                address.ss_family == AF_INET6 ? protocol_type::v6() : protocol_type::v4(), fd, ec);
        }
        return ec ? ec.message() : std::string();
    }

    /// Gives the socket file netd just bound at path its unix_mode, then its unix_owner and
    /// unix_group: in that order, because only a file's owner (or root) may change its mode,
    /// and netd is not the owner any more once it gave the file away. On failure the socket is
    /// closed and the file removed.
    OpenError set_access(const std::string& path, const config::UnixSocketAccess& access) {
        OpenError error;
        if (access.mode) {
            error = {.why = set_unix_mode(path, *access.mode), .key = "unix_mode"};
        }
        if (error.why.empty() && (access.owner || access.group)) {
            error = {.why = set_unix_owner(path, access.owner.value_or(static_cast<uid_t>(-1)),
                                           access.group.value_or(static_cast<gid_t>(-1))),
                     .key = access.owner ? "unix_owner" : "unix_group"};
        }
        if (error.why.empty()) {
            return {};
        }
        stop();
        return error;
    }

    Socket socket_;
    Transport named_;
    std::string description_;
    ino_t unix_inode_ = 0;  ///< the socket file we created, removed again on stop
    bool adopted_ = false;  ///< passed by the service manager: copies share its descriptor
    bool announce_ = true;
};

}  // namespace netd
