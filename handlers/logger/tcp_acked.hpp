#pragma once
// How much of what was sent on a TCP socket the peer's kernel has acknowledged. In a file of its
// own: Linux's struct tcp_info has tcpi_bytes_acked, glibc's copy of it does not, and the two
// headers cannot be included together.

#include <cstdint>

namespace netd {

/// tcpi_bytes_acked of fd's connection (data bytes only), or 0 when it cannot be had.
std::uint64_t tcp_bytes_acked(int fd);

}  // namespace netd
