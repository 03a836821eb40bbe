#pragma once
// fork mode: one child process per accepted stream connection, like Python's ForkingMixIn and
// xinetd's `wait = no`. The parent accepts, serves datagrams and reaps; a child serves its one
// connection and exits, so a handler that crashes costs that connection only.
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

#include "daemon/verify.hpp"

namespace netd {

class ForkModel {
  public:
    /// Children are forked on io; max_children as in [server]; the live children are counted in
    /// counters (the server's metrics row).
    ForkModel(boost::asio::io_context& io, unsigned max_children, metrics::Row& counters);
    ForkModel(const ForkModel&) = delete;
    ForkModel& operator=(const ForkModel&) = delete;

    /// Registers what a new child must close or reset before serving.
    void on_child(std::function<void()> hook) { child_hooks_.push_back(std::move(hook)); }

    /// Whether a child may start now. If not, resume runs once a child has exited.
    bool admit(std::function<void()> resume);

    /// Forks for the connection from peer, whose admission the parent holds until the child is
    /// reaped (so limits count live children). Returns true in the child, which has run the child
    /// hooks and must now serve that connection only (then return to the event loop, which
    /// stops so that serve_child takes over); false in the parent, also when fork failed.
    bool fork_child(const std::string& peer, Admission admission);

    bool in_child() const { return in_child_; }

    /// In the child, after the loop stopped: serves until the last connection closes (the
    /// server's signal handling still runs: SIGTERM drains, SIGHUP reopens); returns the exit
    /// status.
    int serve_child();

    /// Passes signal on to every child (SIGHUP: reopen log files).
    void signal_children(int signal);

    /// Parent shutdown: no more children; those alive get SIGTERM, and SIGKILL a second after
    /// shutdown_timeout (the running config's). The loop runs out of work when the last one is
    /// reaped.
    void shutdown(std::chrono::seconds shutdown_timeout);

    std::size_t children() const { return children_.size(); }

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
    std::vector<std::function<void()>> child_hooks_;
    bool in_child_ = false;
    bool shutting_down_ = false;
};

}  // namespace netd
