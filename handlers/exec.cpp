#include "handlers/exec.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/program_options/parsers.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace netd {

namespace {

constexpr std::array<config::KeySpec, 7> exec_keys{{
    {"program", "", "absolute path of the program run per connection (required)"},
    {"args", "", "its arguments, split like a shell line (quotes, backslash), never expanded"},
    {"user", "", "run it as this user, with the user's groups; needs root; empty = netd's own"},
    {"group", "", "run it with this group instead of the user's; needs root"},
    {"env", "", "NAME=VALUE, ...: added to its clean environment"},
    {"stderr", "log", "log (each line into netd's log) | socket | null"},
    {"wait", "no", "yes: a datagram service hands its socket to the program until it exits"},
}};

/// What netd sets itself in a program's environment: a client cannot be made to look like
/// another through the env key.
constexpr std::array<std::string_view, 8> reserved_env{"NETD_SERVICE", "REMOTE_ADDR", "REMOTE_PORT",
                                                       "LOCAL_ADDR",   "LOCAL_PORT",  "REMOTE_PID",
                                                       "REMOTE_UID",   "REMOTE_GID"};

std::string parse_program(const std::string& path) {
    if (path.empty()) {
        throw config::ValueError("is required: the absolute path of the program to run");
    }
    if (path.front() != '/') {
        throw config::ValueError("'" + path + "' is not an absolute path (no shell looks it up)");
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw config::ValueError("'" + path + "': " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0) {
        throw config::ValueError("'" + path + "' is not an executable file");
    }
    return path;
}

/// args in Program_options' split_unix dialect: blanks separate; ' and " quote, and either ends
/// a quote (no nesting); a backslash makes the next character plain. split_unix itself reads an
/// open quote as running to the end, which hides a mistake: that is refused here.
std::vector<std::string> parse_args(const std::string& text) {
    bool quoted = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\') {
            ++i;
        } else if (text[i] == '\'' || text[i] == '"') {
            quoted = !quoted;
        }
    }
    try {
        if (quoted) {
            throw std::invalid_argument("a quote is not closed");
        }
        return boost::program_options::split_unix(text);
    } catch (const std::exception& e) {
        throw config::ValueError("'" + text + "' cannot be split into arguments: " + e.what());
    }
}

std::vector<std::string> parse_env(const std::string& text) {
    auto entries = config::parse_list(text);
    for (const auto& entry : entries) {
        const auto equals = entry.find('=');
        const std::string_view name = std::string_view(entry).substr(0, equals);
        const bool valid =
            equals != std::string::npos && !name.empty() &&
            (std::isalpha(static_cast<unsigned char>(name.front())) != 0 || name.front() == '_') &&
            std::all_of(name.begin(), name.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
            });
        if (!valid) {
            throw config::ValueError("'" + entry + "' is not NAME=VALUE");
        }
        if (std::find(reserved_env.begin(), reserved_env.end(), name) != reserved_env.end()) {
            throw config::ValueError("'" + std::string(name) + "' is set by netd itself");
        }
    }
    return entries;
}

/// Who the program runs as, if user or group is set; throws config::KeyError.
std::optional<Credentials> parse_credentials(const config::ServiceConfig& service) {
    const auto text = [&](std::string_view key) {
        return parse_option(service, key,
                            [](const std::string& v) { return std::string(config::trim(v)); });
    };
    const std::string user = text("user");
    const std::string group = text("group");
    if (user.empty() && group.empty()) {
        return std::nullopt;
    }
    if (::geteuid() != 0) {
        throw config::KeyError(user.empty() ? "group" : "user",
                               "needs root to change a program's user or group (netd runs as uid " +
                                   std::to_string(::geteuid()) + ")");
    }
    Credentials credentials;
    if (!user.empty()) {
        const passwd* entry = ::getpwnam(user.c_str());
        if (entry == nullptr) {
            throw config::KeyError("user", "no such user '" + user + "'");
        }
        credentials.user = user;
        credentials.uid = entry->pw_uid;
        credentials.gid = entry->pw_gid;
        int count = 64;
        std::vector<gid_t> groups(static_cast<std::size_t>(count));
        while (::getgrouplist(user.c_str(), entry->pw_gid, groups.data(), &count) < 0) {
            groups.resize(static_cast<std::size_t>(count));
        }
        groups.resize(static_cast<std::size_t>(count));
        credentials.groups = std::move(groups);
    } else {
        credentials.uid = ::geteuid();
        credentials.user = "uid " + std::to_string(credentials.uid);
    }
    if (!group.empty()) {
        const ::group* entry = ::getgrnam(group.c_str());
        if (entry == nullptr) {
            throw config::KeyError("group", "no such group '" + group + "'");
        }
        credentials.gid = entry->gr_gid;
        if (user.empty()) {
            credentials.groups = {entry->gr_gid};
        }
    }
    return credentials;
}

Program parse_exec_options(const config::ServiceConfig& service) {
    Program program;
    program.path = parse_option(service, "program", parse_program);
    program.argv.push_back(program.path.substr(program.path.rfind('/') + 1));
    for (auto& arg : parse_option(service, "args", parse_args)) {
        program.argv.push_back(std::move(arg));
    }
    program.env = parse_option(service, "env", parse_env);
    program.credentials = parse_credentials(service);
    program.stderr_to = parse_option(service, "stderr", [](const std::string& v) {
        if (v == "log") {
            return ProgramStderr::log;
        }
        if (v == "socket") {
            return ProgramStderr::socket;
        }
        if (v == "null") {
            return ProgramStderr::null;
        }
        throw config::ValueError("'" + v + "' is not log, socket or null");
    });
    program.wait =
        parse_option(service, "wait", [](const std::string& v) { return config::parse_bool(v); });
    if (!service.tls.empty()) {
        throw config::KeyError("tls",
                               "exec cannot serve TLS: its program gets the connection's socket "
                               "and would read the encrypted bytes (put stunnel in front, or use "
                               "tcp)");
    }
    const bool streams = !service.tcp.empty() || !service.unix_stream.empty();
    const bool datagrams = !service.udp.empty() || !service.unix_datagram.empty();
    if (program.wait && streams) {
        throw config::KeyError("wait",
                               "yes is for datagram services: a stream service runs a "
                               "program per connection (wait = no)");
    }
    if (!program.wait && datagrams) {
        throw config::KeyError("wait",
                               "a datagram service hands its socket to the program: it "
                               "needs wait = yes (inetd's dgram wait)");
    }
    return program;
}

class ExecHandler final : public Handler {
  public:
    explicit ExecHandler(Program program) : program_(std::move(program)) {}

    const Program* program() const override { return &program_; }

    // The daemon hands exec's connections and sockets to programs: it never asks for these.
    std::unique_ptr<StreamSession> open_session(const Peer& /*peer*/) override {
        throw std::logic_error("exec runs a program per connection, not a session");
    }
    void datagram(std::string_view /*bytes*/, const Peer& /*peer*/, Output& /*out*/) override {
        throw std::logic_error("exec hands its datagram socket to a program");
    }

  private:
    Program program_;
};

}  // namespace

HandlerSpec exec_handler_spec() {
    return HandlerSpec{
        .name = "exec",
        .summary = "runs a program per connection (its stdin and stdout), as inetd does",
        .stream = true,
        .datagram = true,
        .keys = exec_keys,
        .make = [](const config::ServiceConfig& service) -> std::unique_ptr<Handler> {
            return std::make_unique<ExecHandler>(parse_exec_options(service));
        },
    };
}

}  // namespace netd
