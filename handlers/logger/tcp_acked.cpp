#include "handlers/logger/tcp_acked.hpp"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

namespace netd {

std::uint64_t tcp_bytes_acked(int fd) {
    tcp_info info{};
    socklen_t length = sizeof(info);
    return fd >= 0 && ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) == 0 &&
                   length >= offsetof(tcp_info, tcpi_bytes_acked) + sizeof(info.tcpi_bytes_acked)
               ? info.tcpi_bytes_acked
               : 0;
}

}  // namespace netd
