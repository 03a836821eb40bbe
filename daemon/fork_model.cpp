#include "daemon/fork_model.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "daemon/logging.hpp"
#include "net/connection.hpp"
#include "net/event_loops.hpp"

namespace netd {

namespace asio = boost::asio;

ForkModel::ForkModel(asio::io_context& io, unsigned max_children, metrics::Row& counters)
    : io_(io),
      counters_(counters),
      max_children_(max_children),
      sigchld_(io, SIGCHLD),
      deadline_(io) {
    await_sigchld();
}

bool ForkModel::has_room(std::function<void()> resume) {
    if (children_.size() < max_children_) {
        return true;
    }
    if (!shutting_down_) {
        waiting_.push_back(std::move(resume));
    }
    return false;
}

ChildProcesses::Forked ForkModel::fork_child(const std::string& peer, Admission admission,
                                             std::function<void()> serve) {
    // Until the child has its own signal pipe (notify_fork below), a signal it handled would be
    // written into the pipe it still shares with the parent, and taken by the parent: a SIGHUP
    // passed on to a child that had just been forked made the parent reload twice. Signals wait
    // (pending, not lost) until each side is ready, and this function returns.
    const AsyncSignalsBlocked quiet;
    io_.notify_fork(asio::execution_context::fork_prepare);
    const pid_t pid = ::fork();
    if (pid == 0) {
        io_.notify_fork(asio::execution_context::fork_child);
        in_child_ = true;
        // The parent counts this connection and the other children; this process's copies of
        // the verifiers' counters are not the ones that matter.
        admission.forget();
        for (auto& [other, child] : children_) {
            child.admission.forget();
        }
        boost::system::error_code ignored;
        sigchld_.clear(ignored);
        sigchld_.cancel(ignored);
        deadline_.cancel();
        children_.clear();
        waiting_.clear();
        child_serves_ = std::move(serve);
        // Leave the parent's event loop once this handler returns: Server::run goes on with
        // serve_child.
        io_.stop();
        return Forked::child;
    }
    io_.notify_fork(asio::execution_context::fork_parent);
    if (pid < 0) {
        BOOST_LOG_TRIVIAL(warning)
            << peer << ": cannot fork: " << std::strerror(errno) << "; connection closed";
        return Forked::failed;
    }
    children_.emplace(pid, Child{.peer = peer, .admission = std::move(admission)});
    counters_.set(metrics::fork_children, children_.size());
    BOOST_LOG_TRIVIAL(debug) << peer << ": served by child " << pid;
    return Forked::parent;
}

int ForkModel::run_child() {
    io_.restart();
    std::exchange(child_serves_, {})();
    // The server's own signal handling goes on here: SIGTERM drains this process's connection.
    while (!live_connections().empty()) {
        try {
            io_.run_one();
        } catch (const std::exception& e) {
            BOOST_LOG_TRIVIAL(error) << "event loop: " << e.what();
        }
    }
    return 0;
}

void ForkModel::await_sigchld() {
    sigchld_.async_wait([this](const boost::system::error_code& ec, int /*signal*/) {
        if (ec) {
            return;
        }
        reap();
        if (shutting_down_ && children_.empty()) {
            deadline_.cancel();
            return;  // the last child is gone: nothing keeps the loop busy any more
        }
        await_sigchld();
    });
}

void ForkModel::reap() {
    for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            break;
        }
        const auto found = children_.find(pid);
        Child child{.peer = "?", .admission = {}};
        if (found != children_.end()) {
            child = std::move(found->second);
            children_.erase(found);
            counters_.set(metrics::fork_children, children_.size());
        }
        const std::string& peer = child.peer;
        // The connection is over before its error is counted: a scrape that sees the error never
        // sees the connection still active.
        metrics::Row* const traffic = child.admission.traffic();
        child.admission = Admission{};
        if (WIFSIGNALED(status) && !shutting_down_) {
            // A handler crashed (or someone killed the child): that one connection is lost.
            if (traffic != nullptr) {
                traffic->add(metrics::handler_errors);
            }
            BOOST_LOG_TRIVIAL(warning)
                << peer << ": child " << pid << " killed by signal " << WTERMSIG(status) << " ("
                << ::strsignal(WTERMSIG(status)) << "); its connection is closed";
        } else if (WIFSIGNALED(status)) {
            BOOST_LOG_TRIVIAL(debug)
                << peer << ": child " << pid << " ended by signal " << WTERMSIG(status);
        } else {
            BOOST_LOG_TRIVIAL(debug)
                << peer << ": child " << pid << " exited with status " << WEXITSTATUS(status);
        }
    }
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (const auto& resume : waiting) {
        resume();  // an acceptor that still finds no room queues itself again
    }
}

void ForkModel::shutdown(std::chrono::seconds shutdown_timeout) {
    shutting_down_ = true;
    waiting_.clear();
    if (children_.empty()) {
        boost::system::error_code ignored;
        sigchld_.cancel(ignored);
        return;
    }
    // Children drain on SIGTERM as the parent does: what their client already sent is handled,
    // the session finishes, the connection closes. One that cannot finish in time (a client
    // that does not read, a disk that does not take the records) is killed.
    BOOST_LOG_TRIVIAL(info) << "stopping " << children_.size() << " children (up to "
                            << shutdown_timeout.count() << " s)";
    signal_children(SIGTERM);
    // Children abort what they still send at shutdown_timeout themselves; a moment later, one
    // that is stuck (in a handler, say) is killed.
    deadline_.expires_after(shutdown_timeout + std::chrono::seconds(1));
    deadline_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) {
            return;
        }
        BOOST_LOG_TRIVIAL(warning)
            << children_.size() << " children still running after shutdown_timeout; killed";
        signal_children(SIGKILL);
    });
}

void ForkModel::signal_children(int signal) {
    for (const auto& [pid, child] : children_) {
        ::kill(pid, signal);
    }
}

}  // namespace netd
