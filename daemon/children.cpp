#include "daemon/children.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "daemon/logging.hpp"
#include "daemon/program_output.hpp"
#include "daemon/spawn.hpp"
#include "net/connection.hpp"
#include "net/event_loops.hpp"

namespace netd {

namespace asio = boost::asio;

/// One live child process.
struct Children::Child {
    std::string peer;     ///< "[service] PEER", for the logs
    Admission admission;  ///< what the limits count for it, until it is reaped
    /// exec: the program's path, when it started, its service's rows, and what runs after it
    /// exited; empty for a fork-mode child.
    std::string program;
    std::chrono::steady_clock::time_point started;
    ProgramRows counters;
    asio::any_io_executor executor;
    std::function<void()> exited;
    bool failed = false;  ///< exec: it could not execute the program (counted already)
};

namespace {

/// The environment a program gets: nothing of netd's; PATH (unless the env key sets its own),
/// who connected where (a Unix client: its process, user and group, from the kernel), then the
/// service's env entries.
std::vector<std::string> environment(const ProgramStart& start) {
    const auto& own = start.program->env;
    std::vector<std::string> env{"NETD_SERVICE=" + start.service};
    if (std::none_of(own.begin(), own.end(),
                     [](const auto& e) { return e.starts_with("PATH="); })) {
        env.emplace_back("PATH=/usr/bin:/bin");
    }
    for (const auto& [prefix, peer] : {std::pair{"REMOTE", &start.peer}, {"LOCAL", &start.local}}) {
        if (has_address(peer->transport)) {
            env.push_back(std::string(prefix) + "_ADDR=" + peer->address.to_string());
            env.push_back(std::string(prefix) + "_PORT=" + std::to_string(peer->port));
        }
    }
    if (const auto& client = start.peer.credentials; client.known()) {
        env.push_back("REMOTE_PID=" + std::to_string(client.pid));
        env.push_back("REMOTE_UID=" + std::to_string(client.uid));
        env.push_back("REMOTE_GID=" + std::to_string(client.gid));
    }
    env.insert(env.end(), own.begin(), own.end());
    return env;
}

/// "0.012 s".
std::string seconds_since(std::chrono::steady_clock::time_point start) {
    std::ostringstream text;
    text << std::fixed << std::setprecision(3)
         << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s";
    return text.str();
}

}  // namespace

Children::Children(asio::io_context& io, unsigned max_children, metrics::Row& counters)
    : io_(io),
      counters_(counters),
      max_children_(max_children),
      sigchld_(io, SIGCHLD),
      deadline_(io),
      devnull_(::open("/dev/null", O_RDWR | O_CLOEXEC)) {
    await_sigchld();
}

Children::~Children() {
    if (devnull_ >= 0) {
        ::close(devnull_);
    }
}

bool Children::has_room(std::function<void()> resume, const std::function<bool()>& full) {
    // Checked and queued under the lock that reap() takes to run the queue: an exit between the
    // two cannot be missed.
    const std::lock_guard lock(mutex_);
    if (children_.size() < max_children_ && !full()) {
        return true;
    }
    if (!shutting_down_) {
        waiting_.push_back(std::move(resume));
    }
    return false;
}

std::size_t Children::forked() const {
    return static_cast<std::size_t>(
        std::count_if(children_.begin(), children_.end(),
                      [](const auto& entry) { return entry.second.program.empty(); }));
}

ChildProcesses::Forked Children::fork_child(const std::string& peer, Admission admission,
                                            std::function<void()> serve) {
    // Until the child has its own signal pipe (notify_fork below), a signal it handled would be
    // written into the pipe it still shares with the parent, and taken by the parent: a SIGHUP
    // passed on to a child that had just been forked made the parent reload twice. Signals wait
    // (pending, not lost) until each side is ready, and this function returns.
    const AsyncSignalsBlocked quiet;
    std::unique_lock lock(mutex_);
    // Counted before the fork: the child may answer a scrape before the parent runs again.
    counters_.set(metrics::fork_children, forked() + 1);
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
        counters_.set(metrics::fork_children, forked());
        BOOST_LOG_TRIVIAL(warning)
            << peer << ": cannot fork: " << std::strerror(errno) << "; connection closed";
        return Forked::failed;
    }
    children_.emplace(pid, Child{.peer = peer,
                                 .admission = std::move(admission),
                                 .program = {},
                                 .started = {},
                                 .counters = {},
                                 .executor = {},
                                 .exited = {}});
    counters_.set(metrics::fork_children, forked());
    lock.unlock();
    BOOST_LOG_TRIVIAL(debug) << peer << ": served by child " << pid;
    return Forked::parent;
}

bool Children::spawn(ProgramStart start) {
    const auto& program = *start.program;
    const std::string peer = "[" + start.service + "] " + start.peer.to_string();
    const auto env = environment(start);
    int output[2] = {-1, -1};
    int err = start.socket;
    switch (program.stderr_to) {
        case ProgramStderr::socket:
            break;
        case ProgramStderr::null:
            err = devnull_;
            break;
        case ProgramStderr::log:
            if (::pipe2(output, O_CLOEXEC) != 0) {
                output[0] = output[1] = -1;
                err = devnull_;  // the program runs all the same, its stderr unread
            } else {
                err = output[1];
            }
            break;
    }
    Spawned spawned;
    {
        // Registered before the lock goes, so that the reaper (loop 0) finds it even if the
        // program has exited already.
        const std::lock_guard lock(mutex_);
        spawned = netd::spawn(program, env, start.socket, err);
        if (spawned.pid > 0) {
            const bool failed = !spawned.error.empty();
            children_.emplace(spawned.pid,
                              Child{.peer = peer,
                                    .admission = failed ? Admission{} : std::move(start.admission),
                                    .program = program.path,
                                    .started = std::chrono::steady_clock::now(),
                                    .counters = start.counters,
                                    .executor = start.executor,
                                    .exited = failed ? nullptr : std::move(start.exited),
                                    .failed = failed});
        }
    }
    if (output[1] >= 0) {
        ::close(output[1]);
    }
    if (!spawned.error.empty()) {
        start.counters.counts->add(metrics::start_failures);
        BOOST_LOG_TRIVIAL(warning) << peer << ": cannot start " << program.path << ": "
                                   << spawned.error << "; connection closed";
        if (output[0] >= 0) {
            ::close(output[0]);
        }
        return false;
    }
    start.counters.counts->add(metrics::programs_started);
    start.counters.counts->add(metrics::programs_running);
    BOOST_LOG_TRIVIAL(debug) << peer << ": " << program.path << " started, pid " << spawned.pid;
    if (output[0] >= 0) {
        ProgramOutput::read(
            start.executor, output[0],
            peer + ": " + program.argv.front() + "[" + std::to_string(spawned.pid) + "]: ");
    }
    return true;
}

int Children::run_child() {
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

void Children::await_sigchld() {
    sigchld_.async_wait([this](const boost::system::error_code& ec, int /*signal*/) {
        if (ec) {
            return;
        }
        reap();
        const std::lock_guard lock(mutex_);
        if (shutting_down_ && children_.empty()) {
            deadline_.cancel();
            return;  // the last child is gone: nothing keeps the loop busy any more
        }
        await_sigchld();
    });
}

void Children::reap() {
    for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            break;
        }
        std::unique_lock lock(mutex_);
        const auto found = children_.find(pid);
        if (found == children_.end()) {
            continue;  // not one of ours (a program's own child we inherited cannot be: not a
                       // subreaper)
        }
        Child child = std::move(found->second);
        children_.erase(found);
        counters_.set(metrics::fork_children, forked());
        lock.unlock();
        exited(pid, std::move(child), status);
    }
    std::vector<std::function<void()>> waiting;
    {
        const std::lock_guard lock(mutex_);
        waiting.swap(waiting_);
    }
    for (const auto& resume : waiting) {
        resume();  // a listener that still finds no room queues itself again
    }
}

void Children::exited(pid_t pid, Child child, int status) {
    const std::string& peer = child.peer;
    const bool signaled = WIFSIGNALED(status);
    if (!child.program.empty()) {
        // exec: a failed start was counted and logged when it was found.
        child.admission = Admission{};
        if (child.failed) {
            return;
        }
        child.counters.counts->subtract(metrics::programs_running);
        const int code = signaled ? WTERMSIG(status) : WEXITSTATUS(status);
        (signaled    ? child.counters.signal
         : code == 0 ? child.counters.ok
                     : child.counters.error)
            ->add(metrics::exited);
        BOOST_LOG_TRIVIAL(info) << peer << ": " << child.program << " (pid " << pid << ") "
                                << (signaled ? "killed by signal " : "exited with status ") << code
                                << (signaled ? " (" + std::string(::strsignal(code)) + ")" : "")
                                << " after " << seconds_since(child.started);
        if (child.exited) {
            asio::post(child.executor, std::move(child.exited));
        }
        return;
    }
    // fork mode. The connection is over before its error is counted: a scrape that sees the error
    // never sees the connection still active.
    metrics::Row* const traffic = child.admission.traffic();
    child.admission = Admission{};
    const bool shutting_down = [this] {
        const std::lock_guard lock(mutex_);
        return shutting_down_;
    }();
    if (signaled && !shutting_down) {
        // A handler crashed (or someone killed the child): that one connection is lost.
        if (traffic != nullptr) {
            traffic->add(metrics::handler_errors);
        }
        BOOST_LOG_TRIVIAL(warning)
            << peer << ": child " << pid << " killed by signal " << WTERMSIG(status) << " ("
            << ::strsignal(WTERMSIG(status)) << "); its connection is closed";
    } else if (signaled) {
        BOOST_LOG_TRIVIAL(debug) << peer << ": child " << pid << " ended by signal "
                                 << WTERMSIG(status);
    } else {
        BOOST_LOG_TRIVIAL(debug) << peer << ": child " << pid << " exited with status "
                                 << WEXITSTATUS(status);
    }
}

void Children::shutdown(std::chrono::seconds shutdown_timeout) {
    std::unique_lock lock(mutex_);
    shutting_down_ = true;
    waiting_.clear();
    if (children_.empty()) {
        boost::system::error_code ignored;
        sigchld_.cancel(ignored);
        return;
    }
    // Children drain on SIGTERM as the parent does: what their client already sent is handled,
    // the session finishes, the connection closes; programs get SIGTERM as inetd's do. One that
    // cannot finish in time (a client that does not read, a stuck handler or program) is killed.
    BOOST_LOG_TRIVIAL(info) << "stopping " << children_.size() << " children (up to "
                            << shutdown_timeout.count() << " s)";
    lock.unlock();
    signal_all(SIGTERM);
    // Children abort what they still send at shutdown_timeout themselves; a moment later, one
    // that is stuck is killed.
    deadline_.expires_after(shutdown_timeout + std::chrono::seconds(1));
    deadline_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) {
            return;
        }
        BOOST_LOG_TRIVIAL(warning) << "children still running after shutdown_timeout; killed";
        signal_all(SIGKILL);
    });
}

void Children::reopen_children() {
    const std::lock_guard lock(mutex_);
    for (const auto& [pid, child] : children_) {
        if (child.program.empty()) {
            ::kill(pid, SIGHUP);
        }
    }
}

void Children::signal_all(int signal) {
    const std::lock_guard lock(mutex_);
    for (const auto& [pid, child] : children_) {
        ::kill(pid, signal);
    }
}

}  // namespace netd
