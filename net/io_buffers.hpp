#pragma once
// Per-thread scratch space for the hot path: a read lands in `in`, the handler's reply in `out`.
// Sessions own no buffer while idle, and no read or reply allocates once the thread has warmed up.

#include <array>
#include <memory>
#include <string>

namespace netd {

struct IoBuffers {
    /// The largest read or datagram handled at once. Larger than a 64 KiB message, so that a read
    /// of one comes back short, which tells the socket is dry without an extra read for EAGAIN.
    static constexpr std::size_t read_size = std::size_t{256} * 1024;

    std::array<char, read_size> in;
    std::string out;
};

/// This thread's buffers, made when it first reads. On the heap, not in the thread's own
/// storage: the static TLS block is zeroed for every thread the process starts (a log file's
/// writer, the forwarder's threads), 256 KiB each, and is copied into every fork-mode child's page
/// tables and torn down again when it exits. A heap buffer's pages are only touched as reads
/// fill them.
inline IoBuffers& io_buffers() {
    thread_local const std::unique_ptr<IoBuffers> buffers =
        std::make_unique_for_overwrite<IoBuffers>();
    // clang 14's analyzer runs a thread_local's destructor at the end of the function, and so
    // takes this for a use after free.
    return *buffers;  // NOLINT(clang-analyzer-cplusplus.NewDelete)
}

}  // namespace netd
