#pragma once
// Every process netd starts: fork mode's children, one per accepted stream connection (like
// Python's ForkingMixIn and xinetd's `wait = no`), and exec's programs, in every mode. All count
// against [server] max_children: at the limit listeners stop accepting (the kernel's backlog holds
// new clients) and resume as soon as one exits. They are reaped on SIGCHLD, and on shutdown get
// SIGTERM, then SIGKILL a second after shutdown_timeout.
//
// fork mode, a connection's path top to bottom: a stream listener accepts and verifies it and
// calls fork_child. The parent keeps the admission in its table of children and goes on
// accepting. The child stops its event loop, so that Server::run returns from it and, in
// Server::serve_child, closes the parent's listeners, tells the handlers, runs the connection
// (run_child) and exits.
//
// exec: a listener calls spawn (from any event loop) with the socket and what to run; the program
// gets the socket as stdin and stdout (daemon/spawn.hpp), the parent keeps the admission until
// it exits, logs one line then, and counts it.

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "net/listener.hpp"
#include "verify/verify.hpp"

namespace netd {

class Children final : public ChildProcesses {
  public:
    /// Children are reaped on io (loop 0), which also forks in fork mode; max_children as in
    /// [server]; the live fork-mode children are counted in counters (the server's row).
    Children(boost::asio::io_context& io, unsigned max_children, metrics::Row& counters);
    Children(const Children&) = delete;
    Children& operator=(const Children&) = delete;
    ~Children() override;

    bool has_room(std::function<void()> resume, const std::function<bool()>& full) override;

    /// In the child (Forked::child), serve is kept for run_child, and the loop is stopped.
    Forked fork_child(const std::string& peer, Admission admission,
                      std::function<void()> serve) override;

    bool spawn(ProgramStart start) override;

    bool in_child() const { return in_child_; }

    /// fork mode, in the child, once its loop stopped and the server closed what is the
    /// parent's: serves the connection it was forked for until it closes (the server's signal
    /// handling still runs: SIGTERM drains, SIGHUP reopens); returns the exit status.
    int run_child();

    /// SIGHUP: fork mode's children reopen their log files too. (Programs are left alone.)
    void reopen_children();

    /// Shutdown: no more children; those alive get SIGTERM, and SIGKILL a second after
    /// shutdown_timeout (the running config's). Loop 0 runs out of work when the last one is
    /// reaped.
    void shutdown(std::chrono::seconds shutdown_timeout);

  private:
    struct Child;

    void await_sigchld();
    /// Collects every exited child, logs how it ended and resumes waiting listeners.
    void reap();
    /// What is left to do for an exited child, outside the lock.
    void exited(pid_t pid, Child child, int status);
    void signal_all(int signal);
    /// The fork-mode children in the table (under mutex_).
    std::size_t forked() const;

    boost::asio::io_context& io_;
    metrics::Row& counters_;
    unsigned max_children_;
    boost::asio::signal_set sigchld_;
    boost::asio::steady_timer deadline_;
    int devnull_ = -1;  ///< what stderr = null gives a program
    /// Spawns come from every loop; reaping and forking happen on loop 0.
    mutable std::mutex mutex_;
    std::map<pid_t, Child> children_;
    std::vector<std::function<void()>> waiting_;
    bool shutting_down_ = false;
    bool in_child_ = false;
    /// In the fork-mode child: what serves its connection, for run_child.
    std::function<void()> child_serves_;
};

}  // namespace netd
