#pragma once
// Starting a program without copying netd's page tables: clone(CLONE_VM | CLONE_VFORK), as
// posix_spawn does, but with the user and group change posix_spawn cannot make. The calling
// thread waits (microseconds) until the program has been executed or has failed to.

#include <sys/types.h>

#include <string>
#include <vector>

#include "handlers/exec.hpp"

namespace netd {

/// A started program, or why it could not start.
struct Spawned {
    pid_t pid = -1;     ///< a process to reap in any case, once > 0 (a failed one exits at once)
    std::string error;  ///< "" when the program runs; else the step that failed and why
};

/// Runs program.path with program.argv and env (whole "NAME=VALUE" entries, nothing else) as
/// a new process: in_out as its stdin and stdout, err as its stderr, no other descriptor, every
/// signal at its default and none blocked, and program.credentials' user and groups when set.
Spawned spawn(const Program& program, const std::vector<std::string>& env, int in_out, int err);

}  // namespace netd
