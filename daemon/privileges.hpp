#pragma once
// [server] user / group: after every socket is bound and every log file opened, netd gives up
// root for good: supplementary groups, group, then user (real, effective and saved ids), so it can
// never get root back. Threads already running change with it (glibc applies set*id to all).

#include <string>

#include "config/config.hpp"

namespace netd {

/// Switches to server.user / server.group when set. Throws config::ConfigError naming the key when
/// it cannot (not root, or the switch failed); does nothing when neither is set, or when netd
/// already runs as them.
void drop_privileges(const config::ServerConfig& server, const std::string& origin);

}  // namespace netd
