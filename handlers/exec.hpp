#pragma once
// exec (SPEC 7, inetd's main job): a program per connection, or, with `wait = yes`, a datagram
// socket handed to a program until it exits (in.tftpd). This handler reads and checks the
// program's keys into a Program; starting programs is the daemon's (daemon/spawner), for it is
// processes and descriptors, not a conversation.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "handlers/registry.hpp"

namespace netd {

/// Whom a program runs as, resolved when the config is read.
struct Credentials {
    std::string user;  ///< for the logs
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  ///< supplementary groups: the user's, as initgroups gives them
};

enum class ProgramStderr : std::uint8_t {
    log,     ///< read line by line into netd's log (bounded)
    socket,  ///< the connection, as stdin and stdout are
    null,    ///< /dev/null
};

struct Program {
    std::string path;                        ///< absolute; executed directly, never through a shell
    std::vector<std::string> argv;           ///< argv[0] is path's file name, then args
    std::vector<std::string> env;            ///< "NAME=VALUE" entries of the env key
    std::optional<Credentials> credentials;  ///< none: netd's own user
    ProgramStderr stderr_to = ProgramStderr::log;
    bool wait = false;  ///< datagrams: the bound socket is the program's until it exits
};

HandlerSpec exec_handler_spec();

}  // namespace netd
