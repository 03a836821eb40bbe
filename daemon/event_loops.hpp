#pragma once
// The threads that run the daemon: one event loop (strand and fork modes) or one per pool worker.
// Each loop is its own io_context run by exactly one thread (io_context per thread), so nothing a
// connection touches is shared with another thread; see docs/BENCHMARKS.md for why this layout
// and not one io_context run by every thread.

#include <boost/asio/io_context.hpp>
#include <memory>
#include <vector>

namespace netd {

class EventLoops {
  public:
    /// count loops (at least one).
    explicit EventLoops(std::size_t count);
    EventLoops(const EventLoops&) = delete;
    EventLoops& operator=(const EventLoops&) = delete;

    std::size_t size() const { return loops_.size(); }
    boost::asio::io_context& at(std::size_t index) { return *loops_[index]; }
    /// Loop 0: signals, and everything in strand and fork modes.
    boost::asio::io_context& main() { return *loops_.front(); }

    /// Runs every loop until it runs out of work (or is stopped), loop 0 on the calling thread,
    /// the others on threads of their own, and returns when all have. A handler that throws is
    /// logged and its loop goes on.
    void run();

  private:
    std::vector<std::unique_ptr<boost::asio::io_context>> loops_;
};

/// Runs one loop until it runs out of work or is stopped, logging what its handlers throw.
void run_logging_errors(boost::asio::io_context& loop);

}  // namespace netd
