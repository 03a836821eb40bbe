#pragma once
// Writing all of a buffer to a file descriptor (a regular file, where short writes mean a full
// disk or a signal): the log file's writer and the forwarding spool share it.

#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace netd {

/// Writes bytes, removing what is written from it; false (errno set) when the file refused.
inline bool write_all(int fd, std::string_view& bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace netd
