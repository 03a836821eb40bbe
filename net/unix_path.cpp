#include "net/unix_path.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netd {

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

}  // namespace netd
