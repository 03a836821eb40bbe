#pragma once
// The threads that run the daemon: one event loop (strand and fork modes) or one per pool worker.
// Each loop is its own io_context run by exactly one thread (io_context per thread), so nothing a
// connection touches is shared with another thread; see docs/BENCHMARKS.md for why this layout
// and not one io_context run by every thread.

#include <boost/asio/io_context.hpp>
#include <csignal>
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

/// Blocks the signals a process is sent (SIGTERM, SIGHUP, SIGCHLD, ...; not faults) in the calling
/// thread, and so in every thread it starts from now on. The daemon does this first thing, and the
/// server unblocks them in the thread that runs loop 0 once its signal sets are armed; every other
/// thread (pool workers, a logger's writer) is started while they are blocked (see
/// AsyncSignalsBlocked), so signals always reach loop 0's thread. (Any thread would do for Asio,
/// whose handler only writes to a pipe; but ThreadSanitizer's runtime holds a signal that reaches
/// a thread outside a blocking call until that thread next enters one, so signals go where a loop
/// waits for them. unblock_async_signals also works around a TSan bug that lost signals.)
void block_async_signals();
void unblock_async_signals();

/// Blocks async signals in this thread for the guard's lifetime, then restores the mask it found:
/// threads started meanwhile inherit the blocked mask from their first instruction.
class AsyncSignalsBlocked {
  public:
    AsyncSignalsBlocked();
    ~AsyncSignalsBlocked();
    AsyncSignalsBlocked(const AsyncSignalsBlocked&) = delete;
    AsyncSignalsBlocked& operator=(const AsyncSignalsBlocked&) = delete;

  private:
    sigset_t previous_;
};

/// Runs one loop until it runs out of work or is stopped, logging what its handlers throw.
void run_logging_errors(boost::asio::io_context& loop);

}  // namespace netd
