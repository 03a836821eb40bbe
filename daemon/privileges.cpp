#include "daemon/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/logging.hpp"

namespace netd {

void drop_privileges(const config::ServerConfig& server, const std::string& origin) {
    if (server.user.empty() && server.group.empty()) {
        return;
    }
    const std::string key = server.user.empty() ? "group" : "user";
    const auto fail = [&](const std::string& why) {
        return config::ConfigError(origin, "server", key, why);
    };
    // Looked up again here: the config was checked when read, but accounts can change.
    const passwd* user = server.user.empty() ? nullptr : ::getpwnam(server.user.c_str());
    if (!server.user.empty() && user == nullptr) {
        throw fail("no such user '" + server.user + "'");
    }
    const group* grp = server.group.empty() ? nullptr : ::getgrnam(server.group.c_str());
    if (!server.group.empty() && grp == nullptr) {
        throw fail("no such group '" + server.group + "'");
    }
    const uid_t uid = user != nullptr ? user->pw_uid : ::getuid();
    const gid_t gid = grp != nullptr ? grp->gr_gid : (user != nullptr ? user->pw_gid : ::getgid());
    if (::geteuid() != 0) {
        if (::geteuid() == uid && ::getegid() == gid) {
            return;  // already them (e.g. started by systemd with User=)
        }
        throw fail("switching to another account needs root (netd runs as uid " +
                   std::to_string(::geteuid()) + ")");
    }
    // Groups first: once the user id is dropped, groups cannot be changed any more.
    if (::setgroups(1, &gid) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(uid, uid, uid) != 0) {
        throw fail(std::string("cannot drop privileges: ") + std::strerror(errno));
    }
    if (uid != 0 && ::setuid(0) == 0) {
        throw fail("privileges could be regained after dropping them");
    }
    BOOST_LOG_TRIVIAL(info) << "running as uid " << uid << ", gid " << gid;
}

}  // namespace netd
