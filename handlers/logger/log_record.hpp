#pragma once
// The logger's output: one record per line, text or JSON, built so that no client can split or
// forge a record (control bytes and backslashes in client text are escaped).

#include <ctime>
#include <string>
#include <string_view>

#include "core/peer.hpp"
#include "handlers/logger/syslog.hpp"

namespace netd {

enum class RecordFormat { text, json };

/// What a record says besides the message itself.
struct RecordContext {
    std::string_view received;  ///< RFC 3339 UTC with microseconds
    std::string_view peer;      ///< Peer::to_string(): "unix:PID:UID" for a Unix client
    std::string_view service;
    /// A Unix client's, from the kernel: JSON's pid, uid and gid (null when not known).
    PeerCredentials credentials;
};

/// Appends one record line ("\n" included) to out.
void append_record(std::string& out, RecordFormat format, const RecordContext& context,
                   const SyslogMessage& message, bool truncated);

/// What append_escaped writes as \xHH (a backslash is always doubled).
struct Escape {
    bool control = true;        ///< bytes 0x00-0x1f and 0x7f (JSON output escapes them itself)
    bool invalid_utf8 = false;  ///< bytes that are not part of valid UTF-8 (JSON output)
    bool space = false;         ///< spaces (the space-separated fields of a text record)
};

/// Appends text with a backslash doubled and, as escape says, control bytes, invalid UTF-8 and
/// spaces as \xHH.
void append_escaped(std::string& out, std::string_view text, Escape escape = {});

/// RFC 3339 UTC timestamps with microseconds; the part up to the seconds is formatted once per
/// second, so a record costs a few character copies. One per thread (not thread-safe).
class ReceivedClock {
  public:
    /// The current time, valid until the next call.
    std::string_view now();

  private:
    std::time_t second_ = -1;
    char text_[32] = {};  ///< "YYYY-MM-DDTHH:MM:SS.uuuuuuZ"
};

}  // namespace netd
