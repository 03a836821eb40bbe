#include "daemon/socket_activation.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "config/config.hpp"
#include "daemon/systemd_protocol.hpp"

namespace netd {

namespace {

config::ConfigError passed_error(int fd, const std::string& name, const std::string& why) {
    return config::ConfigError("socket activation: fd " + std::to_string(fd) + " named '" + name +
                               "': " + why);
}

}  // namespace

std::vector<PassedSocket> take_passed_sockets() {
    std::vector<std::string> names;
    try {
        names = systemd::take_listen_fds();
    } catch (const std::runtime_error& e) {
        throw config::ConfigError(std::string("socket activation: ") + e.what());
    }
    std::vector<PassedSocket> passed;
    for (std::size_t i = 0; i < names.size(); ++i) {
        const int fd = systemd::listen_fds_start + static_cast<int>(i);
        PassedSocket socket{.fd = fd, .name = std::move(names[i]), .service = {}, .transport = {}};
        const auto dot = socket.name.find('.');
        socket.service = socket.name.substr(0, dot);
        int type = 0;
        socklen_t length = sizeof type;
        sockaddr_storage address{};
        socklen_t address_length = sizeof address;
        if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_length) != 0) {
            throw passed_error(fd, socket.name,
                               std::string("not a socket: ") + std::strerror(errno));
        }
        const bool local = address.ss_family == AF_UNIX;
        if ((!local && address.ss_family != AF_INET && address.ss_family != AF_INET6) ||
            (type != SOCK_STREAM && type != SOCK_DGRAM)) {
            throw passed_error(fd, socket.name, "neither a TCP, UDP nor Unix socket");
        }
        socket.transport = type == SOCK_STREAM
                               ? (local ? Transport::unix_stream : Transport::tcp)
                               : (local ? Transport::unix_datagram : Transport::udp);
        if (socket.transport == Transport::tcp && dot != std::string::npos &&
            socket.name.substr(dot + 1) == "tls") {
            socket.transport = Transport::tls;  // a TCP socket whose connections speak TLS
        }
        const std::string_view kind = to_string(socket.transport);
        if (dot != std::string::npos && socket.name.substr(dot + 1) != kind) {
            throw passed_error(fd, socket.name,
                               "the name says '" + socket.name.substr(dot + 1) +
                                   "' but the socket is " + std::string(kind));
        }
        passed.push_back(std::move(socket));
    }
    return passed;
}

std::set<std::string, std::less<>> passed_services(const std::vector<PassedSocket>& sockets) {
    std::set<std::string, std::less<>> names;
    for (const auto& socket : sockets) {
        names.insert(socket.service);
    }
    return names;
}

}  // namespace netd
