#pragma once
// Socket activation (SPEC 6): sockets the service manager passes with LISTEN_FDS/LISTEN_FDNAMES
// belong to the service named by the fd name: `echo`, or `echo.tcp` / `echo.udp` / `echo.unix` /
// `echo.unixgram` where one service gets several; `echo.tls` is a TCP socket whose connections
// speak TLS (with the service's tls_cert and tls_key).

#include <set>
#include <string>
#include <vector>

#include "core/peer.hpp"

namespace netd {

struct PassedSocket {
    int fd = -1;
    std::string name;                      ///< the fd name as passed
    std::string service;                   ///< the name before the first '.'
    Transport transport = Transport::tcp;  ///< what the socket is
};

/// The sockets passed to this process, taken once: the LISTEN_* variables are unset so that
/// fork-mode children do not see them. Throws config::ConfigError for a socket netd cannot use
/// (not a socket, an unknown type, a suffix that contradicts the socket).
std::vector<PassedSocket> take_passed_sockets();

/// The services that sockets are passed to (they need no listener of their own in the config).
std::set<std::string, std::less<>> passed_services(const std::vector<PassedSocket>& sockets);

}  // namespace netd
