#pragma once
// At most once per interval, from any number of threads: for log lines about events that can
// come thousands of times a second (rejections, dropped datagrams), one line a second says how
// many there were.

#include <atomic>
#include <chrono>

namespace netd {

class Throttle {
  public:
    explicit Throttle(std::chrono::steady_clock::duration interval) : interval_(interval.count()) {}

    /// Whether the caller may go ahead now: the first since the interval began is; the others,
    /// on this thread or another, are not.
    bool ready() {
        const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
        auto last = last_.load(std::memory_order_relaxed);
        if (last != 0 && now - last < interval_) {
            return false;
        }
        return last_.compare_exchange_strong(last, now);
    }

  private:
    std::chrono::steady_clock::rep interval_;
    std::atomic<std::chrono::steady_clock::rep> last_ = 0;  ///< when ready() last said yes
};

}  // namespace netd
