// spawn-bench: how fast a process the size of a busy netd starts a program, with netd's spawn
// (clone(CLONE_VM | CLONE_VFORK): no copy of the page tables) against fork + execve (what
// xinetd and a naive daemon do: the kernel copies the page tables, and the pages the parent
// touches afterwards are copied on write).
//
//   spawn-bench [--memory MIB] [--count N] [--program PATH]
//
// First touches --memory MiB (default 256) of heap, as a daemon with many connections and a log
// backlog holds; then starts --program (default /bin/true, with stdin/stdout/stderr /dev/null)
// --count times (default 2000) each way, waiting for each to exit, and prints programs per
// second and the parent's CPU µs per program, one line each way.

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "daemon/spawn.hpp"

namespace {

double cpu_seconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

template <class Start>
void measure(const char* name, int count, Start start) {
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = cpu_seconds();
    for (int i = 0; i < count; ++i) {
        const pid_t pid = start();
        if (pid < 0) {
            std::fprintf(stderr, "spawn-bench: %s failed\n", name);
            std::exit(1);
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-14s %8.0f programs/s  %7.1f us parent CPU each\n", name, count / seconds,
                (cpu_seconds() - cpu0) / count * 1e6);
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t memory_mib = 256;
    int count = 2000;
    std::string program = "/bin/true";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string option = argv[i];
        if (option == "--memory") {
            memory_mib = std::strtoul(argv[i + 1], nullptr, 10);
        } else if (option == "--count") {
            count = std::atoi(argv[i + 1]);
        } else if (option == "--program") {
            program = argv[i + 1];
        } else {
            std::fprintf(stderr,
                         "usage: spawn-bench [--memory MIB] [--count N] [--program PATH]\n");
            return 2;
        }
    }
    std::vector<char> heap(memory_mib << 20);
    for (std::size_t at = 0; at < heap.size(); at += 4096) {
        heap[at] = static_cast<char>(at);  // resident, as a busy daemon's is
    }
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    netd::Program spec;
    spec.path = program;
    spec.argv = {program.substr(program.rfind('/') + 1)};
    const std::vector<std::string> env{"PATH=/usr/bin:/bin"};
    std::printf("%zu MiB resident, %d starts of %s each way\n", memory_mib, count, program.c_str());
    measure("clone+vfork", count, [&] { return netd::spawn(spec, env, null, null).pid; });
    measure("fork+execve", count, [&] {
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::dup2(null, 2);
            char* const args[] = {spec.argv[0].data(), nullptr};
            char* const envp[] = {const_cast<char*>(env[0].c_str()), nullptr};
            ::execve(program.c_str(), args, envp);
            ::_exit(127);
        }
        return pid;
    });
    // Read back, so that the touched heap is not optimised away.
    const volatile char sink = heap[heap.size() / 2];
    static_cast<void>(sink);
    return 0;
}
