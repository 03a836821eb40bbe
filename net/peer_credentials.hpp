#pragma once
// What the kernel says about the process at the other end of a Unix socket: SO_PEERCRED for a
// connection, read once when it is accepted; SCM_CREDENTIALS for a datagram, which comes in the
// same recvmsg as the datagram itself once the socket has SO_PASSCRED (no system call of its
// own on the hot path).

#include <sys/socket.h>

#include <array>
#include <boost/asio/detail/socket_option.hpp>

#include "core/peer.hpp"

namespace netd {

/// SO_PASSCRED: every datagram the socket receives carries its sender's credentials. Set
/// before bind, so that no datagram can arrive without them (the kernel attaches them when it
/// queues a datagram, if the receiver asked for them by then).
using pass_credentials = boost::asio::detail::socket_option::boolean<SOL_SOCKET, SO_PASSCRED>;

/// Who connected the Unix stream socket fd (unknown if the kernel will not say).
PeerCredentials connection_credentials(int fd);

/// A recvmsg control buffer with room for one SCM_CREDENTIALS message and no more: descriptors
/// a client sends along (SCM_RIGHTS) find no room, so the kernel closes them instead of
/// installing them in netd.
class CredentialsMessage {
  public:
    /// Makes message's control buffer this one.
    void attach(msghdr& message);
    /// The credentials recvmsg put in message (unknown if there were none).
    static PeerCredentials read(msghdr& message);

  private:
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(ucred))> space_;
};

}  // namespace netd
