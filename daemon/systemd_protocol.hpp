#pragma once
// The three systemd interfaces netd speaks, written here rather than taken from libsystemd: the
// notify protocol ($NOTIFY_SOCKET), socket passing ($LISTEN_PID/$LISTEN_FDS/$LISTEN_FDNAMES,
// with $WATCHDOG_USEC/$WATCHDOG_PID beside them) and the journal's native protocol. systemd
// documents all three as stable interfaces meant to be implemented independently
// (sd_notify(3) "Standalone Implementations", systemd.io/JOURNAL_NATIVE_PROTOCOL). libsystemd
// brought six more shared libraries (zstd, lzma, lz4, gcrypt, gpg-error, cap: 39 of netd's 81
// mappings) into every process netd is and forks, which fork mode paid for on every connection
// (docs/BENCHMARKS.md, issue 20).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netd::systemd {

/// The first descriptor a service manager passes (SD_LISTEN_FDS_START).
inline constexpr int listen_fds_start = 3;

/// Sends one notify message ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET (a path, or "@name" in
/// the abstract namespace). Returns 0 when sent or when there is no $NOTIFY_SOCKET (not run by a
/// manager), else an errno value.
int notify(std::string_view message);

/// The watchdog interval the manager asked for ($WATCHDOG_USEC), when it asked this process
/// ($WATCHDOG_PID unset or ours); nothing when no watchdog is asked for.
std::optional<std::chrono::microseconds> watchdog_interval();

/// The names of the sockets passed to this process (fd listen_fds_start + i has names[i];
/// "unknown" for each when $LISTEN_FDNAMES is not set), or none when none are passed to it
/// ($LISTEN_PID is not ours). Sets FD_CLOEXEC on them and unsets the three variables, so that
/// programs and children started later do not take them for theirs. Throws std::runtime_error for
/// variables that contradict each other.
std::vector<std::string> take_listen_fds();

/// The names in $LISTEN_FDNAMES for count sockets ("unknown" each when text is null); throws
/// std::runtime_error when the number of names is not count.
std::vector<std::string> listen_fd_names(const char* text, int count);

/// One journal entry in the native protocol: "KEY=value\n" per field, or, for a value holding a
/// newline, "KEY\n", its length as 64-bit little-endian, the value and "\n".
std::string journal_entry(std::string_view message, int priority, std::string_view identifier);

/// Sends an entry to the journal's socket (/run/systemd/journal/socket) as one datagram.
/// Returns 0 or an errno value. (The protocol's other form, a sealed memfd for an entry larger
/// than a datagram may be, is not needed: netd's log lines are short; the longest, a program's
/// output line, is cut at ProgramOutput::max_line.)
int journal_send(const std::string& entry);

}  // namespace netd::systemd
