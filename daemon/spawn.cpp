#include "daemon/spawn.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <memory>

#include "core/sanitizer.hpp"

namespace netd {

namespace {

/// The new process runs on a stack of its own (the parent's thread waits on its own meanwhile),
/// one per thread that spawns, reused: the child is done with it when clone returns.
struct alignas(16) ChildStack {
    std::array<char, std::size_t{64} * 1024> bytes;
};

/// What the child needs, prepared before the clone: it shares this memory with the parent until
/// it executes the program, so it allocates nothing and touches nothing else.
struct ChildPlan {
    const char* path = nullptr;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
    int in_out = -1;
    int err = -1;
    const Credentials* credentials = nullptr;
    /// Descriptors below this are closed one by one where close_range is missing (Linux < 5.9).
    int descriptor_limit = 0;
    /// Written by the child when a step fails (then it exits), read by the parent after.
    int error = 0;
    const char* step = nullptr;
    /// ThreadSanitizer builds only: the child is a fork, whose memory is its own, so it reports
    /// a failed step through this pipe instead.
    int report = -1;
};

NETD_NOT_ON_ASAN_STACK int fail(ChildPlan& plan, const char* step) {
    plan.error = errno;
    plan.step = step;
    if (plan.report >= 0) {
        // Both values fit in one write to a pipe, so the parent reads them whole.
        const std::array<std::intptr_t, 2> failure{plan.error,
                                                   reinterpret_cast<std::intptr_t>(step)};
        // Nothing is left to do if it fails; a cast to void would not quiet g++'s
        // warn_unused_result under _FORTIFY_SOURCE (the Debian package's build).
        const auto written = ::write(plan.report, failure.data(), sizeof failure);
        static_cast<void>(written);
    }
    ::_exit(127);
}

#if NETD_THREAD_SANITIZER
/// The parent's side of ThreadSanitizer's fork: whether the child reported a failed step.
void read_report(ChildPlan& plan, int report) {
    std::array<std::intptr_t, 2> failure{};
    ssize_t n = 0;
    do {
        n = ::read(report, failure.data(), sizeof failure);
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof failure)) {
        plan.error = static_cast<int>(failure[0]);
        plan.step = reinterpret_cast<const char*>(failure[1]);  // the same binary: same address
    }
}
#endif

NETD_NOT_ON_ASAN_STACK int child_main(void* data) {
    auto& plan = *static_cast<ChildPlan*>(data);
    // The parent blocked every signal before the clone, so no handler of netd's runs here on
    // memory it shares with netd. Dispositions go back to their defaults (netd ignores SIGPIPE),
    // then, last, the mask is emptied.
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    for (int signal = 1; signal < NSIG; ++signal) {
        ::sigaction(signal, &default_action, nullptr);  // fails harmlessly for KILL, STOP
    }
    if (const auto* as = plan.credentials) {
        // The kernel's calls, not glibc's: glibc's set*id would signal every thread of netd, whose
        // memory this still is, while the system call changes this process, a single thread.
        if (::syscall(SYS_setgroups, as->groups.size(), as->groups.data()) != 0) {
            return fail(plan, "setgroups");
        }
        if (::syscall(SYS_setresgid, as->gid, as->gid, as->gid) != 0) {
            return fail(plan, "setresgid");
        }
        if (::syscall(SYS_setresuid, as->uid, as->uid, as->uid) != 0) {
            return fail(plan, "setresuid");
        }
    }
    // in_out and err are above 2 (see spawn), so the dups cannot overwrite them.
    if (::dup2(plan.in_out, 0) < 0 || ::dup2(plan.in_out, 1) < 0 || ::dup2(plan.err, 2) < 0) {
        return fail(plan, "dup2");
    }
    // Every descriptor above 2 closes, but the report pipe (ThreadSanitizer builds): it has
    // FD_CLOEXEC, and execve closes it.
    const auto close_from = [&](unsigned first, unsigned last) {
        if (first > last || ::syscall(SYS_close_range, first, last, 0U) == 0) {
            return true;
        }
        if (errno != ENOSYS) {
            return false;
        }
        for (unsigned fd = first; fd <= last && fd < static_cast<unsigned>(plan.descriptor_limit);
             ++fd) {
            ::close(static_cast<int>(fd));
        }
        return true;
    };
    const bool closed = plan.report < 0
                            ? close_from(3U, ~0U)
                            : close_from(3U, static_cast<unsigned>(plan.report) - 1) &&
                                  close_from(static_cast<unsigned>(plan.report) + 1, ~0U);
    if (!closed) {
        return fail(plan, "close_range");
    }
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(plan.path, plan.argv, plan.envp);
    return fail(plan, "execve");
}

/// fd itself when it is above 2, else a duplicate above 2 (closed by the caller: *owned).
int above_stdio(int fd, int& owned) {
    if (fd > 2) {
        return fd;
    }
    owned = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    return owned;
}

/// The soft open-file limit: no descriptor is at or above it.
int descriptor_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY ||
        limit.rlim_cur > 1U << 20) {
        return 1 << 20;
    }
    return static_cast<int>(limit.rlim_cur);
}

/// pointers to the strings' texts, and a terminating null.
std::vector<char*> c_strings(const std::vector<std::string>& strings) {
    std::vector<char*> pointers;
    pointers.reserve(strings.size() + 1);
    for (const auto& text : strings) {
        pointers.push_back(const_cast<char*>(text.c_str()));
    }
    pointers.push_back(nullptr);
    return pointers;
}

}  // namespace

Spawned spawn(const Program& program, const std::vector<std::string>& env, int in_out, int err) {
    thread_local std::unique_ptr<ChildStack> stack;
    if (!stack) {
        stack = std::make_unique<ChildStack>();
    }
    const auto argv = c_strings(program.argv);
    const auto envp = c_strings(env);
    int in_out_copy = -1;
    int err_copy = -1;
    ChildPlan plan{.path = program.path.c_str(),
                   .argv = argv.data(),
                   .envp = envp.data(),
                   .in_out = above_stdio(in_out, in_out_copy),
                   .err = -1,
                   .credentials = program.credentials ? &*program.credentials : nullptr,
                   .descriptor_limit = descriptor_limit()};
    plan.err = err == in_out ? plan.in_out : above_stdio(err, err_copy);
    Spawned result;
    if (plan.in_out < 0 || plan.err < 0) {
        result.error = std::string("dup: ") + std::strerror(errno);
    } else {
        sigset_t all;
        sigset_t before;
        ::sigfillset(&all);
        ::pthread_sigmask(SIG_SETMASK, &all, &before);
#if NETD_THREAD_SANITIZER
        // ThreadSanitizer's runtime (LLVM 14) fails a CHECK when a threaded process makes a
        // clone(CLONE_VM | CLONE_VFORK) child: its builds fork, and run the same child steps.
        int report[2] = {-1, -1};
        static_cast<void>(::pipe2(report, O_CLOEXEC));
        plan.report = report[1];
        result.pid = ::fork();
        if (result.pid == 0) {
            child_main(&plan);
        }
        const int clone_error = errno;
        ::close(report[1]);
        if (result.pid > 0) {
            read_report(plan, report[0]);  // the end of input once the program runs
        }
        ::close(report[0]);
#else
        result.pid = ::clone(child_main, stack->bytes.data() + stack->bytes.size(),
                             CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
        const int clone_error = errno;
#endif
        ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
        if (result.pid < 0) {
            result.error = std::string("clone: ") + std::strerror(clone_error);
        } else if (plan.step != nullptr) {
            result.error = std::string(plan.step) + ": " + std::strerror(plan.error);
        }
    }
    for (const int copy : {in_out_copy, err_copy}) {
        if (copy >= 0) {
            ::close(copy);
        }
    }
    return result;
}

}  // namespace netd
