#pragma once
// fork mode: one child process per accepted stream connection, like Python's ForkingMixIn and
// xinetd's `wait = no`. The parent accepts, serves datagrams and reaps; a child serves its one
// connection and exits, so a handler that crashes costs that connection only.
//
// The path of a connection, top to bottom: a stream listener accepts and verifies it and calls
// fork_child. The parent keeps the admission in its table of children and goes on accepting. The
// child stops its event loop, so that Server::run returns from it and, in Server::serve_child,
// closes the parent's listeners, tells the handlers, runs the connection (run_child) and exits.
//
// At max_children live children the parent stops accepting (the kernel's backlog holds new
// clients) and resumes as soon as one exits. On shutdown children get SIGTERM, on which they drain
// their connection as the parent drains its own, and shutdown_timeout to finish before SIGKILL.

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "net/listener.hpp"
#include "verify/verify.hpp"

namespace netd {

class ForkModel final : public ChildProcesses {
  public:
    /// Children are forked on io; max_children as in [server]; the live children are counted in
    /// counters (the server's metrics row).
    ForkModel(boost::asio::io_context& io, unsigned max_children, metrics::Row& counters);

    bool has_room(std::function<void()> resume) override;

    /// In the child (Forked::child), serve is kept for run_child, and the loop is stopped.
    Forked fork_child(const std::string& peer, Admission admission,
                      std::function<void()> serve) override;

    bool in_child() const { return in_child_; }

    /// In the child, once its loop stopped and the server closed what is the parent's: serves
    /// the connection it was forked for until it closes (the server's signal handling still runs:
    /// SIGTERM drains, SIGHUP reopens); returns the exit status.
    int run_child();

    /// Passes signal on to every child (SIGHUP: reopen log files).
    void signal_children(int signal);

    /// Parent shutdown: no more children; those alive get SIGTERM, and SIGKILL a second after
    /// shutdown_timeout (the running config's). The loop runs out of work when the last one is
    /// reaped.
    void shutdown(std::chrono::seconds shutdown_timeout);

  private:
    void await_sigchld();
    /// Collects every exited child, logs how it ended and resumes waiting acceptors.
    void reap();

    boost::asio::io_context& io_;
    metrics::Row& counters_;
    unsigned max_children_;
    boost::asio::signal_set sigchld_;
    boost::asio::steady_timer deadline_;
    struct Child {
        std::string peer;  ///< for the logs
        Admission admission;
    };
    std::map<pid_t, Child> children_;
    std::vector<std::function<void()>> waiting_;
    /// In the child: what serves its connection, for run_child.
    std::function<void()> child_serves_;
    bool in_child_ = false;
    bool shutting_down_ = false;
};

}  // namespace netd
