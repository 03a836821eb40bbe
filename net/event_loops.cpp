#include "net/event_loops.hpp"

#include <pthread.h>

#include <boost/log/trivial.hpp>
#include <csignal>
#include <ctime>
#include <thread>

#include "core/sanitizer.hpp"
#include "metrics/registry.hpp"

namespace netd {

EventLoops::EventLoops(std::size_t count) {
    loops_.reserve(std::max<std::size_t>(count, 1));
    do {
        // One thread runs each loop, and a loop's sockets are only ever used by that thread
        // (other threads post to it: reload, shutdown). So Asio may drop the reactor's locking
        // per descriptor, a mutex lock and unlock on every operation started and completed.
        // Scheduler locking stays (those posts come from other threads), and so does
        // registration locking (pool-mode listener copies are opened from the main thread).
        loops_.push_back(
            std::make_unique<boost::asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO));
    } while (loops_.size() < count);
}

void EventLoops::run() {
    std::vector<std::jthread> workers;
    workers.reserve(loops_.size() - 1);
    {
        const AsyncSignalsBlocked quiet;  // the workers never take a signal
        for (std::size_t i = 1; i < loops_.size(); ++i) {
            workers.emplace_back([loop = loops_[i].get(), i] {
                metrics::set_shard(static_cast<unsigned>(i));
                run_logging_errors(*loop);
            });
        }
    }
    run_logging_errors(main());
}

namespace {

sigset_t async_signals() {
    sigset_t signals;
    ::sigfillset(&signals);
    for (const int fault : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS}) {
        ::sigdelset(&signals, fault);
    }
    return signals;
}

}  // namespace

void block_async_signals() {
    const sigset_t signals = async_signals();
    ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

void unblock_async_signals() {
#if NETD_THREAD_SANITIZER
    // ThreadSanitizer's runtime in LLVM 14 (Debian's clang) makes a thread's signal bookkeeping
    // on first need, without guarding against a signal arriving meanwhile: the signal handled
    // inside that moment is stored where the runtime then overwrites it, and lost (a SIGTERM sent
    // as "ready" was logged was, now and then). Later LLVM fixes it with a compare-and-swap. A
    // blocking call of no length makes the runtime set it up now, while signals are still blocked.
    const timespec no_time{};
    ::nanosleep(&no_time, nullptr);
#endif
    const sigset_t signals = async_signals();
    ::pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
}

AsyncSignalsBlocked::AsyncSignalsBlocked() {
    const sigset_t signals = async_signals();
    ::pthread_sigmask(SIG_BLOCK, &signals, &previous_);
}

AsyncSignalsBlocked::~AsyncSignalsBlocked() {
    ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

void run_logging_errors(boost::asio::io_context& loop) {
    for (;;) {
        try {
            loop.run();
            return;
        } catch (const std::exception& e) {
            BOOST_LOG_TRIVIAL(error) << "event loop: " << e.what();
        }
    }
}

}  // namespace netd
