#include "handlers/syslog.hpp"

#include <algorithm>
#include <array>

namespace netd {

namespace {

constexpr std::array<std::string_view, 24> facilities{
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "audit",  "alert",  "clock",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7"};
constexpr std::array<std::string_view, 8> severities{"emerg",   "alert",  "crit", "err",
                                                     "warning", "notice", "info", "debug"};
constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/// The text up to the next space, and the rest after it.
std::pair<std::string_view, std::string_view> next_token(std::string_view text) {
    const auto space = text.find(' ');
    if (space == std::string_view::npos) {
        return {text, {}};
    }
    return {text.substr(0, space), text.substr(space + 1)};
}

/// "<PRI>" -> the value, and the text after it; -1 when absent or invalid.
int read_pri(std::string_view& text) {
    if (text.size() < 3 || text.front() != '<') {
        return -1;
    }
    const auto close = text.find('>');
    if (close == std::string_view::npos || close < 2 || close > 4) {
        return -1;
    }
    int value = 0;
    for (std::size_t i = 1; i < close; ++i) {
        if (!is_digit(text[i])) {
            return -1;
        }
        value = value * 10 + (text[i] - '0');
    }
    if (value > 191) {
        return -1;
    }
    text.remove_prefix(close + 1);
    return value;
}

/// Skips RFC 5424 structured data ("-" or "[id k=\"v\"]..."); false when malformed.
bool skip_structured_data(std::string_view& text) {
    if (text.starts_with('-')) {
        text.remove_prefix(1);
        return true;
    }
    if (!text.starts_with('[')) {
        return false;
    }
    bool quoted = false;
    std::size_t i = 0;
    while (i < text.size()) {
        const char c = text[i];
        if (quoted && c == '\\') {
            i += 2;
            continue;
        }
        if (c == '"') {
            quoted = !quoted;
        } else if (!quoted && c == ']') {
            if (i + 1 >= text.size() || text[i + 1] != '[') {
                text.remove_prefix(i + 1);
                return true;
            }
        }
        ++i;
    }
    return false;
}

/// "Mmm dd hh:mm:ss " (dd may be " 3").
bool is_bsd_timestamp(std::string_view text) {
    if (text.size() < 16 ||
        std::find(months.begin(), months.end(), text.substr(0, 3)) == months.end()) {
        return false;
    }
    const auto t = text.substr(3, 13);  // " dd hh:mm:ss "
    return t[0] == ' ' && (is_digit(t[1]) || t[1] == ' ') && is_digit(t[2]) && t[3] == ' ' &&
           is_digit(t[4]) && is_digit(t[5]) && t[6] == ':' && is_digit(t[7]) && is_digit(t[8]) &&
           t[9] == ':' && is_digit(t[10]) && is_digit(t[11]) && t[12] == ' ';
}

/// A 3164 TAG token ("sshd[42]:", "kernel:", "app[1]"): the name without [pid], or "".
std::string_view tag_name(std::string_view token) {
    const bool colon = token.ends_with(':');
    if (colon) {
        token.remove_suffix(1);
    }
    std::string_view name = token;
    const auto bracket = token.find('[');
    if (bracket != std::string_view::npos) {
        if (!token.ends_with(']')) {
            return {};
        }
        name = token.substr(0, bracket);
    } else if (!colon) {
        return {};
    }
    const bool plausible =
        !name.empty() && name.size() <= 48 && std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
                   c == '-' || c == '.' || c == '/';
        });
    return plausible ? name : std::string_view();
}

void parse_rfc5424(std::string_view rest, SyslogMessage& out) {
    auto [timestamp, after_time] = next_token(rest);
    auto [host, after_host] = next_token(after_time);
    auto [app, after_app] = next_token(after_host);
    auto [procid, after_procid] = next_token(after_app);
    auto [msgid, after_msgid] = next_token(after_procid);
    std::string_view sd = after_msgid;
    if (msgid.empty() || !skip_structured_data(sd)) {
        out.text = rest;  // not really 5424: keep everything after the version
        return;
    }
    out.host = host == "-" ? std::string_view() : host;
    out.app = app == "-" ? std::string_view() : app;
    if (sd.starts_with(' ')) {
        sd.remove_prefix(1);
    }
    if (sd.starts_with("\xEF\xBB\xBF")) {
        sd.remove_prefix(3);
    }
    out.text = sd;
}

void parse_rfc3164(std::string_view rest, SyslogMessage& out) {
    bool timestamped = false;
    if (is_bsd_timestamp(rest)) {
        rest.remove_prefix(16);
        timestamped = true;
    } else if (rest.size() > 10 && is_digit(rest[0]) && rest[4] == '-' && rest[7] == '-') {
        rest = next_token(rest).second;  // an RFC 3339 timestamp in a BSD-style message
        timestamped = true;
    }
    auto [first, after_first] = next_token(rest);
    if (auto name = tag_name(first); !name.empty()) {
        out.app = name;
        out.text = after_first;
        return;
    }
    if (timestamped && !after_first.empty()) {
        auto [second, after_second] = next_token(after_first);
        if (auto name = tag_name(second); !name.empty()) {
            out.host = first;
            out.app = name;
            out.text = after_second;
            return;
        }
        out.host = first;
        out.text = after_first;
        return;
    }
    out.text = rest;
}

}  // namespace

SyslogMessage parse_syslog(std::string_view message) {
    SyslogMessage out;
    std::string_view rest = message;
    const int pri = read_pri(rest);
    if (pri < 0) {
        out.text = message;
        return out;
    }
    out.facility = pri / 8;
    out.severity = pri % 8;
    if (rest.starts_with("1 ")) {
        parse_rfc5424(rest.substr(2), out);
    } else {
        parse_rfc3164(rest, out);
    }
    return out;
}

std::string_view facility_name(int facility) {
    return facility >= 0 && facility < static_cast<int>(facilities.size()) ? facilities[facility]
                                                                           : "-";
}

std::string_view severity_name(int severity) {
    return severity >= 0 && severity < static_cast<int>(severities.size()) ? severities[severity]
                                                                           : "-";
}

}  // namespace netd
