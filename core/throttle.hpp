#pragma once
// At most once per interval, from any number of threads: for log lines about events that can
// come thousands of times a second (rejections, dropped datagrams), one line a second says how
// many there were.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace netd {

/// Throttle's test over a clock reading kept elsewhere: last holds the steady_clock time (in its
/// ticks, 0 = never) when the caller last went ahead. Kept in memory that fork mode's children
/// share (a metrics row), it throttles all of them together.
inline bool throttle_ready(std::atomic<std::uint64_t>& last,
                           std::chrono::steady_clock::duration interval) {
    const auto now =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    auto then = last.load(std::memory_order_relaxed);
    if (then != 0 && now - then < static_cast<std::uint64_t>(interval.count())) {
        return false;
    }
    return last.compare_exchange_strong(then, now);
}

class Throttle {
  public:
    explicit Throttle(std::chrono::steady_clock::duration interval) : interval_(interval) {}

    /// Whether the caller may go ahead now: the first since the interval began is; the others,
    /// on this thread or another, are not.
    bool ready() { return throttle_ready(last_, interval_); }

  private:
    std::chrono::steady_clock::duration interval_;
    std::atomic<std::uint64_t> last_ = 0;  ///< when ready() last said yes
};

}  // namespace netd
