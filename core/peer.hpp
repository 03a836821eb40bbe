#pragma once
// Who is on the other end of a connection or sent a datagram: what verifiers, handlers and log
// lines are told.

#include <sys/types.h>

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>

#include "core/transport.hpp"

namespace netd {

/// The process that opened a Unix socket connection or sent a Unix datagram, as the kernel
/// reports it (SO_PEERCRED, SCM_CREDENTIALS): not what the client claims. The kernel's own
/// "unknown" is uid and gid -1, which no account has.
struct PeerCredentials {
    pid_t pid = 0;  ///< 0: the process is not visible in netd's pid namespace
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);

    /// Whether the kernel told us anything.
    bool known() const { return uid != static_cast<uid_t>(-1); }
};

/// Copied into every connection's Admission, so kept small: no heap and 44 bytes. A Unix
/// client's bound path is not kept: it is a name the client chose (which, printed as PEER,
/// could be made to look like another client), and replies go to the socket's own endpoint.
struct Peer {
    Transport transport = Transport::tcp;
    std::uint16_t port = 0;            ///< tcp and udp only
    boost::asio::ip::address address;  ///< tcp and udp only
    PeerCredentials credentials;       ///< unix and unixgram only

    /// "127.0.0.1:5000", "[::1]:5000", "unix:PID:UID" for a Unix client, or "unix" when the
    /// kernel gave no credentials.
    std::string to_string() const;
    /// to_string() appended to out, whose capacity a caller reuses: no allocation per datagram.
    void append_to(std::string& out) const;
};

}  // namespace netd
