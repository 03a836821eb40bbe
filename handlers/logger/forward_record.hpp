#pragma once
// What a forwarded record looks like on the wire (SPEC 10): RFC 5424 with RFC 6587 octet
// counting, "LEN SP <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG", built from the parsed message
// so that the collector sees the sender's own fields, plus where netd heard it as structured data
// [origin ip="..."]. Sans-I/O: the spool stores these frames as they will be sent.

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "handlers/logger/syslog.hpp"

namespace netd {

/// What a frame says besides the message's own fields.
struct ForwardContext {
    std::string_view received;   ///< RFC 3339 UTC, when netd received it (ReceivedClock)
    std::string_view origin_ip;  ///< the client's IP; empty for a Unix client (no origin element)
    /// HOSTNAME when the message names none: the client's IP, or netd's own host name.
    std::string_view fallback_host;
    std::time_t now = 0;  ///< for the year of an RFC 3164 timestamp, which has none
};

/// Appends one octet-counted frame for message to out.
void append_forward_frame(std::string& out, const ForwardContext& context,
                          const SyslogMessage& message);

/// An RFC 3164 timestamp ("Mmm dd hh:mm:ss" and the variants the parser takes) as RFC 3339 in
/// netd's local time zone, the year guessed as rsyslog does (this year, or last year for a date
/// more than a day ahead of now). Appends nothing and returns false when text is not one.
bool append_bsd_as_rfc3339(std::string& out, std::string_view text, std::time_t now);

/// The length of the next octet-counted frame at the start of bytes ("LEN SP" included), 0 when
/// bytes hold only part of one, or npos when they do not start with a frame at all. Strict,
/// unlike the logger's OctetCountFramer, which reads what clients send: the spool holds only
/// netd's own frames, so anything else there is damage.
std::size_t frame_length(std::string_view bytes);

/// The whole frames bytes starts with, as the spool's writers, its size count and the sender
/// take them.
struct WholeFrames {
    std::size_t bytes = 0;
    std::uint64_t count = 0;
    bool garbage = false;  ///< what follows them is not the start of a frame
};

/// The whole frames at the start of bytes: at most most of them, and beyond the first at most
/// limit bytes in all.
WholeFrames whole_frames(std::string_view bytes, std::uint64_t most = UINT64_MAX,
                         std::size_t limit = SIZE_MAX);

}  // namespace netd
