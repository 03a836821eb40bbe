#include "net/unix_path.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netd {

namespace {

/// A descriptor of the socket file at path, not following a symlink; -1 (why set) when there is
/// none.
int open_socket_file(const std::string& path, std::string& why) {
    const int fd = ::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
        why = std::strerror(errno);
    } else if (!S_ISSOCK(st.st_mode)) {
        why = "it is no longer the socket netd bound";
    }
    if (!why.empty() && fd >= 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// " (netd runs as uid N)" after a refusal that more privilege would have avoided.
std::string privilege_hint(int error) {
    return error == EPERM ? " (netd runs as uid " + std::to_string(::geteuid()) + ")" : "";
}

}  // namespace

std::string free_unix_path(const std::string& path, int type) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        return errno == ENOENT ? "" : std::string("cannot inspect it: ") + std::strerror(errno);
    }
    if (!S_ISSOCK(st.st_mode)) {
        return "it exists and is not a socket";
    }
    const int probe = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        return std::string("cannot probe it: ") + std::strerror(errno);
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    const int error = errno;
    ::close(probe);
    // EAGAIN: a full backlog; EPROTOTYPE: a live socket of the other type. Both mean in use.
    if (rc == 0 || error == EAGAIN || error == EPROTOTYPE) {
        return "another process is serving on it";
    }
    if (error != ECONNREFUSED) {
        return std::string("cannot probe it: ") + std::strerror(error);
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return std::string("cannot remove the stale socket: ") + std::strerror(errno);
    }
    return "";
}

ino_t inode_of(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

void remove_unix_path(const std::string& path, ino_t inode) {
    if (inode != 0 && inode_of(path) == inode) {
        ::unlink(path.c_str());
    }
}

std::string set_unix_mode(const std::string& path, mode_t mode) {
    std::string why;
    const int fd = open_socket_file(path, why);
    if (fd < 0) {
        return "cannot set its mode: " + why;
    }
    // An O_PATH descriptor takes no fchmod; its /proc link names the very file it holds.
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    const int rc = ::chmod(self.c_str(), mode);
    const int error = errno;
    ::close(fd);
    return rc == 0 ? ""
                   : "cannot set its mode: " + std::string(std::strerror(error)) +
                         privilege_hint(error);
}

std::string set_unix_owner(const std::string& path, uid_t owner, gid_t group) {
    std::string why;
    const int fd = open_socket_file(path, why);
    if (fd < 0) {
        return "cannot change its owner or group: " + why;
    }
    const int rc = ::fchownat(fd, "", owner, group, AT_EMPTY_PATH);
    const int error = errno;
    ::close(fd);
    return rc == 0 ? ""
                   : "cannot change its owner or group: " + std::string(std::strerror(error)) +
                         privilege_hint(error);
}

}  // namespace netd
