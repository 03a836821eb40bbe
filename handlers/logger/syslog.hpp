#pragma once
// Reading a syslog message as senders really write it: RFC 5424 ("<PRI>1 TIMESTAMP HOST APP
// PROCID MSGID SD MSG"), RFC 3164 in the shapes devices send ("<PRI>Mmm dd hh:mm:ss HOST
// TAG[pid]: MSG" with the variations docs/configuration.md lists), or anything else as a plain
// message. Where a line is ambiguous the parser decides as rsyslog's pmrfc3164 and pmrfc5424 do;
// the deliberate differences and their reasons are in docs/configuration.md and
// test/e2e/test_syslog_rsyslog.py. Every field is a view into the input, nothing is copied, and
// every byte of the input is in a field unless it is syntax (PRI, separators, "[", "]", ":", a
// nil "-", a UTF-8 BOM).

#include <cstddef>
#include <string_view>

namespace netd {

struct SyslogMessage {
    int facility = -1;           ///< 0..23; -1 when the <PRI> is malformed (no PRI at all: user)
    int severity = -1;           ///< 0..7; -1 when the <PRI> is malformed (no PRI at all: notice)
    std::string_view timestamp;  ///< as sent: an RFC 3164 or RFC 3339 timestamp; empty if absent
    std::string_view host;       ///< empty when absent
    std::string_view app;        ///< RFC 5424 APP-NAME or the RFC 3164 tag's name; empty if absent
    std::string_view procid;     ///< RFC 5424 PROCID or the RFC 3164 tag's [pid]; empty if absent
    std::string_view msgid;      ///< RFC 5424 MSGID; empty if absent
    std::string_view sd;         ///< RFC 5424 STRUCTURED-DATA as sent, escapes and all; or empty
    std::string_view text;       ///< the message itself: always the input's last bytes
};

/// The longest RFC 3164 tag name, hostname and [pid]: those of the RFC 5424 fields they become
/// when a record is forwarded (APP-NAME, HOSTNAME, PROCID). A longer run is message text. RFC
/// 3164 itself allows 32 bytes for a tag, which real senders pass.
inline constexpr std::size_t max_tag_name = 48;
inline constexpr std::size_t max_hostname = 255;
inline constexpr std::size_t max_pid = 128;

SyslogMessage parse_syslog(std::string_view message);

/// The length of the one RFC 5424 SD-ELEMENT ("[id k=\"v\" ...]") text starts with (its '['
/// included), quotes and escapes followed; text's whole length when it never ends.
std::size_t sd_element_length(std::string_view text);

/// "kern", "user", ... "local7"; "-" for -1.
std::string_view facility_name(int facility);
/// "emerg" ... "debug"; "-" for -1.
std::string_view severity_name(int severity);

}  // namespace netd
