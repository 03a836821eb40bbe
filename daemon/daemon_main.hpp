#pragma once
// The whole daemon behind main(): command line, config, serving, exit status. A separate entry
// point so that test builds can register handlers of their own first (test/support).

namespace netd {

/// Runs netd with this command line; returns the process exit status.
int daemon_main(int argc, char* argv[]);

}  // namespace netd
