#include "daemon/daemon_main.hpp"

#include <sys/resource.h>

#include <csignal>
#include <iostream>

#include "config/reader.hpp"
#include "daemon/catalog.hpp"
#include "daemon/logging.hpp"
#include "daemon/privileges.hpp"
#include "daemon/server.hpp"
#include "daemon/socket_activation.hpp"
#include "net/event_loops.hpp"

namespace {

/// Raises the soft open-file limit to the hard one, as a daemon that holds thousands of
/// connections must (the usual soft default is 1024), and says so when max_connections still
/// cannot fit.
void raise_descriptor_limit(const netd::config::ServerConfig& server) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    // Listeners, log files and the event loop need a few descriptors besides the connections.
    constexpr rlim_t reserve = 64;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < server.max_connections + reserve) {
        BOOST_LOG_TRIVIAL(warning) << "open-file limit " << limit.rlim_cur
                                   << " is too low for max_connections = " << server.max_connections
                                   << "; raise it (LimitNOFILE= under systemd, ulimit -n)";
    }
}

int run(const netd::config::CommandLine& command_line, int argc, char* argv[]) {
    // Read (and unset, so that fork-mode children never see them) once: a
    // service they name needs no listener of its own, at start and on every reload.
    auto passed = netd::take_passed_sockets();
    const auto config = netd::config::build_config(command_line.raw, netd::catalog(),
                                                   netd::passed_services(passed));
    if (command_line.check_config) {
        netd::config::print_effective(std::cout, *config);
        return 0;
    }
    netd::init_logging(config->server.log_level, config->server.log_target);
    raise_descriptor_limit(config->server);

    // SIGHUP reads the same file and command line again.
    netd::Server server(
        config, std::move(passed), [argc, argv](const netd::config::PassedServices& services) {
            return netd::config::build_config(netd::config::read_command_line(argc, argv).raw,
                                              netd::catalog(), services);
        });
    server.start();
    netd::drop_privileges(config->server, config->file);
    return server.run();
}

}  // namespace

namespace netd {

int daemon_main(int argc, char* argv[]) {
    // A peer that vanishes mid-write must cost one connection, never the daemon.
    std::signal(SIGPIPE, SIG_IGN);
    // Before any thread starts: only the thread of loop 0 takes signals (see EventLoops::run).
    block_async_signals();
    try {
        const auto command_line = netd::config::read_command_line(argc, argv);
        if (command_line.help) {
            std::cout << netd::config::usage_text();
            netd::config::print_key_help(std::cout, netd::catalog());
            return 0;
        }
        if (command_line.version) {
            std::cout << "netd " << NETD_VERSION << "\n";
            return 0;
        }
        return run(command_line, argc, argv);
    } catch (const netd::config::ConfigError& e) {
        std::cerr << "netd: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "netd: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace netd
