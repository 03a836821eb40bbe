#include "net/peer_credentials.hpp"

#include <cstring>

namespace netd {

PeerCredentials connection_credentials(int fd) {
    ucred credentials{};
    socklen_t length = sizeof credentials;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0 ||
        length != sizeof credentials) {
        return {};
    }
    return {.pid = credentials.pid, .uid = credentials.uid, .gid = credentials.gid};
}

void CredentialsMessage::attach(msghdr& message) {
    message.msg_control = space_.data();
    message.msg_controllen = space_.size();
}

PeerCredentials CredentialsMessage::read(msghdr& message) {
    const cmsghdr* header = CMSG_FIRSTHDR(&message);
    if (header == nullptr || header->cmsg_level != SOL_SOCKET ||
        header->cmsg_type != SCM_CREDENTIALS || header->cmsg_len < CMSG_LEN(sizeof(ucred))) {
        return {};
    }
    ucred credentials{};
    std::memcpy(&credentials, CMSG_DATA(header), sizeof credentials);
    return {.pid = credentials.pid, .uid = credentials.uid, .gid = credentials.gid};
}

}  // namespace netd
