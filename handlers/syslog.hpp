#pragma once
// Reading a syslog message: RFC 5424 ("<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG"), RFC 3164
// ("<PRI>Mmm dd hh:mm:ss HOST TAG[pid]: MSG", also without HOST as sent to a local socket), or
// anything else as a plain message. Views into the input; nothing is copied.

#include <string_view>

namespace netd {

struct SyslogMessage {
    int facility = -1;      ///< 0..23, -1 when there is no valid <PRI>
    int severity = -1;      ///< 0..7, -1 when there is no valid <PRI>
    std::string_view host;  ///< empty when absent
    std::string_view app;   ///< the tag or APP-NAME without [pid]; empty when absent
    std::string_view text;  ///< the message itself
};

SyslogMessage parse_syslog(std::string_view message);

/// "kern", "user", ... "local7"; "-" for -1.
std::string_view facility_name(int facility);
/// "emerg" ... "debug"; "-" for -1.
std::string_view severity_name(int severity);

}  // namespace netd
