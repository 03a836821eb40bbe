#include "daemon/systemd_protocol.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace netd::systemd {

namespace {

/// A descriptor closed when it goes out of scope.
class Descriptor {
  public:
    explicit Descriptor(int fd) : fd_(fd) {}
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    ~Descriptor() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const { return fd_; }

  private:
    int fd_;
};

/// A whole decimal number, or nothing.
std::optional<std::uint64_t> number(const char* text) {
    if (text == nullptr) {
        return std::nullopt;
    }
    const std::string_view digits(text);
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty()) {
        return std::nullopt;
    }
    return value;
}

/// Whether $VARIABLE names this process (unset counts as yes when optional).
bool names_this_process(const char* variable, bool optional) {
    const char* text = std::getenv(variable);
    if (text == nullptr) {
        return optional;
    }
    const auto pid = number(text);
    return pid && *pid == static_cast<std::uint64_t>(::getpid());
}

/// An AF_UNIX address from a socket path, "@name" meaning the abstract namespace; its length,
/// or 0 for a name that does not fit or is neither.
socklen_t unix_address(std::string_view where, sockaddr_un& address) {
    address = {};
    address.sun_family = AF_UNIX;
    if (where.empty() || (where.front() != '/' && where.front() != '@') ||
        where.size() >= sizeof address.sun_path) {
        return 0;
    }
    std::memcpy(address.sun_path, where.data(), where.size());
    if (where.front() == '@') {
        address.sun_path[0] = '\0';
    }
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + where.size());
}

/// "KEY=value\n", or the binary form for a value with a newline.
void append_field(std::string& entry, std::string_view key, std::string_view value) {
    entry += key;
    if (value.find('\n') == std::string_view::npos) {
        entry += '=';
        entry += value;
    } else {
        entry += '\n';
        auto length = static_cast<std::uint64_t>(value.size());
        for (int byte = 0; byte < 8; ++byte) {
            entry += static_cast<char>(length & 0xffU);
            length >>= 8U;
        }
        entry += value;
    }
    entry += '\n';
}

constexpr std::string_view journal_socket = "/run/systemd/journal/socket";

}  // namespace

int notify(std::string_view message) {
    const char* where = std::getenv("NOTIFY_SOCKET");
    if (where == nullptr || *where == '\0') {
        return 0;
    }
    sockaddr_un address{};
    const socklen_t length = unix_address(where, address);
    if (length == 0) {
        return EAFNOSUPPORT;
    }
    const Descriptor socket(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (socket.get() < 0) {
        return errno;
    }
    const ssize_t sent = ::sendto(socket.get(), message.data(), message.size(), MSG_NOSIGNAL,
                                  reinterpret_cast<const sockaddr*>(&address), length);
    return sent < 0 ? errno : 0;
}

std::optional<std::chrono::microseconds> watchdog_interval() {
    const auto usec = number(std::getenv("WATCHDOG_USEC"));
    if (!usec || *usec == 0 || !names_this_process("WATCHDOG_PID", true)) {
        return std::nullopt;
    }
    return std::chrono::microseconds(*usec);
}

std::vector<std::string> listen_fd_names(const char* text, int count) {
    const auto size = static_cast<std::size_t>(count);
    std::vector<std::string> names;
    if (text == nullptr) {
        names.assign(size, "unknown");
        return names;
    }
    std::string_view rest(text);
    for (;;) {
        const auto colon = rest.find(':');
        names.emplace_back(rest.substr(0, colon));
        if (colon == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(colon + 1);
    }
    if (names.size() != size) {
        throw std::runtime_error("LISTEN_FDNAMES names " + std::to_string(names.size()) +
                                 " sockets, LISTEN_FDS says " + std::to_string(count));
    }
    return names;
}

std::vector<std::string> take_listen_fds() {
    const bool ours = names_this_process("LISTEN_PID", false);
    const char* fds = std::getenv("LISTEN_FDS");
    const std::string fds_text = fds == nullptr ? "" : fds;
    const auto count = number(fds);
    const char* names_text = std::getenv("LISTEN_FDNAMES");
    const std::optional<std::string> names_copy =
        names_text == nullptr ? std::nullopt : std::optional<std::string>(names_text);
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    if (!ours) {
        return {};
    }
    if (!count || *count > 65536) {
        throw std::runtime_error("LISTEN_FDS is not a number of sockets: '" + fds_text + "'");
    }
    const int n = static_cast<int>(*count);
    auto names = listen_fd_names(names_copy ? names_copy->c_str() : nullptr, n);
    for (int fd = listen_fds_start; fd < listen_fds_start + n; ++fd) {
        const int flags = ::fcntl(fd, F_GETFD);
        if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) {
            throw std::runtime_error("fd " + std::to_string(fd) + ": " + std::strerror(errno));
        }
    }
    return names;
}

std::string journal_entry(std::string_view message, int priority, std::string_view identifier) {
    std::string entry;
    entry.reserve(message.size() + identifier.size() + 48);
    append_field(entry, "MESSAGE", message);
    append_field(entry, "PRIORITY", std::to_string(priority));
    append_field(entry, "SYSLOG_IDENTIFIER", identifier);
    return entry;
}

int journal_send(const std::string& entry) {
    // One socket for the process (and the fork-mode children that inherit it), made on first use.
    static const int socket = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (socket < 0) {
        return EBADF;
    }
    sockaddr_un address{};
    const socklen_t length = unix_address(journal_socket, address);
    return ::sendto(socket, entry.data(), entry.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&address), length) < 0
               ? errno
               : 0;
}

}  // namespace netd::systemd
