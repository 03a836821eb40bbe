#pragma once
// Per-thread scratch space for the hot path: a read lands in `in`, the handler's reply in `out`.
// Sessions own no buffer while idle, and no read or reply allocates once the thread has warmed up.

#include <array>
#include <string>

namespace netd {

struct IoBuffers {
    /// The largest read or datagram handled at once (a UDP datagram is at most 65,507 bytes).
    static constexpr std::size_t read_size = 65536;

    std::array<char, read_size> in;
    std::string out;
};

/// This thread's buffers.
inline IoBuffers& io_buffers() {
    thread_local IoBuffers buffers;
    return buffers;
}

}  // namespace netd
