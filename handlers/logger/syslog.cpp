#include "handlers/logger/syslog.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace netd {

namespace {

constexpr std::array<std::string_view, 24> facilities{
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "audit",  "alert",  "clock",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7"};
constexpr std::array<std::string_view, 8> severities{"emerg",   "alert",  "crit", "err",
                                                     "warning", "notice", "info", "debug"};

/// What a message without a PRI is (RFC 3164 section 4.3.3; rsyslog does the same): user.notice.
constexpr int default_pri = 13;
constexpr int max_pri = 191;
constexpr int pri_absent = -2;
constexpr int pri_malformed = -1;
constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";
/// "2001:db8:0:0:0:ffff:192.168.100.200": the longest text form of an IPv6 address.
constexpr std::size_t max_ipv6_text = 45;

/// Classes of a byte, one table lookup each on the hot path.
enum ByteClass : std::uint8_t {
    digit = 1,
    letter = 2,
    hostname_byte = 4,     ///< letters, digits, ".", "_", "-"
    tag_byte = 8,          ///< printable (UTF-8 too), not a space, "[" or ":"
    pid_byte = 16,         ///< printable (UTF-8 too), not a space or "]"
    sd_plain = 32,         ///< not '"', "\\" or "]": bytes structured data just carries along
    timestamp_start = 64,  ///< digits, a space, and the first letters of month names
};

constexpr std::array<std::uint8_t, 256> byte_classes = [] {
    std::array<std::uint8_t, 256> table{};
    for (int c = 0; c < 256; ++c) {
        std::uint8_t classes = 0;
        const bool is_digit = c >= '0' && c <= '9';
        const bool is_letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        const bool printable = c > ' ' && c != 0x7F;
        classes |= is_digit ? digit : 0;
        classes |= is_letter ? letter : 0;
        classes |= is_digit || is_letter || c == '.' || c == '_' || c == '-' ? hostname_byte : 0;
        classes |= printable && c != '[' && c != ':' ? tag_byte : 0;
        classes |= printable && c != ']' ? pid_byte : 0;
        classes |= c != '"' && c != '\\' && c != ']' ? sd_plain : 0;
        const int lower = c | 0x20;
        classes |=
            is_digit || c == ' ' ||
                    (is_letter && std::string_view("jfmasond").find(static_cast<char>(lower)) !=
                                      std::string_view::npos)
                ? timestamp_start
                : 0;
        table[static_cast<std::size_t>(c)] = classes;
    }
    return table;
}();

inline bool is(char c, ByteClass byte_class) {
    return (byte_classes[static_cast<unsigned char>(c)] & byte_class) != 0;
}

inline bool is_digit(char c) {
    return static_cast<unsigned char>(c - '0') < 10;
}

inline bool is_alnum(char c) {
    return is(c, static_cast<ByteClass>(digit | letter));
}

bool is_hex(char c) {
    const char lower = static_cast<char>(c | 0x20);
    return is_digit(c) || (lower >= 'a' && lower <= 'f');
}

/// The end of the run of byte_class bytes starting at text[from], looking at most at limit bytes.
inline std::size_t run_end(std::string_view text, std::size_t from, ByteClass byte_class,
                           std::size_t limit) {
    const std::size_t end = std::min(text.size(), from + limit);
    // Unrolled: one bound check per four bytes. Scanning hosts, tags and structured data is most
    // of what a parse costs.
    for (; from + 4 <= end; from += 4) {
        if (!is(text[from], byte_class)) {
            return from;
        }
        if (!is(text[from + 1], byte_class)) {
            return from + 1;
        }
        if (!is(text[from + 2], byte_class)) {
            return from + 2;
        }
        if (!is(text[from + 3], byte_class)) {
            return from + 3;
        }
    }
    while (from < end && is(text[from], byte_class)) {
        ++from;
    }
    return from;
}

/// One or two digits at text[pos]; pos moves past them. -1 when there is none.
inline int one_or_two_digits(std::string_view text, std::size_t& pos) {
    if (pos >= text.size() || !is_digit(text[pos])) {
        return -1;
    }
    int value = text[pos++] - '0';
    if (pos < text.size() && is_digit(text[pos])) {
        value = value * 10 + (text[pos++] - '0');
    }
    return value;
}

/// Four digits and a space at text[pos] as a year from..to; pos moves past the space. -1
/// otherwise.
inline int year_and_space(std::string_view text, std::size_t& pos, int from, int to) {
    if (text.size() < pos + 5 || text[pos + 4] != ' ' || run_end(text, pos, digit, 4) != pos + 4) {
        return -1;
    }
    const int year = (text[pos] - '0') * 1000 + (text[pos + 1] - '0') * 100 +
                     (text[pos + 2] - '0') * 10 + (text[pos + 3] - '0');
    if (year < from || year > to) {
        return -1;
    }
    pos += 5;
    return year;
}

/// Two digits at text[at] (the caller checked the length) as a number up to max, or -1.
inline int two_digits(std::string_view text, std::size_t at, int max) {
    const auto high = static_cast<unsigned>(static_cast<unsigned char>(text[at] - '0'));
    const auto low = static_cast<unsigned>(static_cast<unsigned char>(text[at + 1] - '0'));
    if (high > 9 || low > 9) {
        return -1;
    }
    const int value = static_cast<int>(high * 10 + low);
    return value <= max ? value : -1;
}

/// "<PRI>" at the start of text: its value, and text moves past it. pri_absent when text does not
/// start with "<", pri_malformed when what follows is not 1 or more digits, "<" and at most 191.
/// Leading zeros are allowed, as rsyslog allows them; rsyslog also reads "<>" as 0, kern.emerg,
/// which would page someone for a malformed message.
int read_pri(std::string_view& text) {
    if (!text.starts_with('<')) {
        return pri_absent;
    }
    std::size_t i = 1;
    int value = 0;
    while (i < text.size() && is_digit(text[i])) {
        value = std::min(value * 10 + (text[i] - '0'), max_pri + 1);
        ++i;
    }
    if (i == 1 || i >= text.size() || text[i] != '>' || value > max_pri) {
        return pri_malformed;
    }
    text.remove_prefix(i + 1);
    return value;
}

constexpr std::uint32_t month_key(char a, char b, char c) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(a)) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(b)) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(c));
}

/// Whether text starts with a month's three-letter name, in any case.
inline bool starts_with_month(std::string_view text) {
    if (text.size() < 3) {
        return false;
    }
    // Setting bit 5 lower-cases a letter and turns no other byte into a lower-case letter.
    switch (month_key(static_cast<char>(text[0] | 0x20), static_cast<char>(text[1] | 0x20),
                      static_cast<char>(text[2] | 0x20))) {
        case month_key('j', 'a', 'n'):
        case month_key('f', 'e', 'b'):
        case month_key('m', 'a', 'r'):
        case month_key('a', 'p', 'r'):
        case month_key('m', 'a', 'y'):
        case month_key('j', 'u', 'n'):
        case month_key('j', 'u', 'l'):
        case month_key('a', 'u', 'g'):
        case month_key('s', 'e', 'p'):
        case month_key('o', 'c', 't'):
        case month_key('n', 'o', 'v'):
        case month_key('d', 'e', 'c'):
            return true;
        default:
            return false;
    }
}

/// "Mmm dd hh:mm:ss" with the day padded by a space or a zero, the layout of nearly every RFC 3164
/// message, checked at fixed offsets: 15, or 0 for any other text.
std::size_t textbook_bsd_length(std::string_view text) {
    constexpr std::size_t length = 15;
    if (text.size() < length || text[3] != ' ' || text[6] != ' ' || text[9] != ':' ||
        text[12] != ':' || !(text[4] == ' ' || is_digit(text[4])) || !is_digit(text[5])) {
        return 0;
    }
    const int day = (text[4] == ' ' ? 0 : text[4] - '0') * 10 + (text[5] - '0');
    if (day < 1 || day > 31 || two_digits(text, 7, 23) < 0 || two_digits(text, 10, 59) < 0 ||
        two_digits(text, 13, 60) < 0 || !starts_with_month(text)) {
        return 0;
    }
    return length;
}

/// The length of an RFC 3164 timestamp up to its seconds in the variants rsyslog also accepts
/// from real devices: a one-digit day without its padding space, a year before the month
/// (Brocade) or before the time (Cisco ASA). 0 when there is none.
std::size_t variant_bsd_length(std::string_view text) {
    std::size_t i = 0;
    const bool year_first = year_and_space(text, i, 1970, 2100) >= 0;
    if (!starts_with_month(text.substr(i)) || i + 3 >= text.size() || text[i + 3] != ' ') {
        return 0;
    }
    i += 4;
    if (i < text.size() && text[i] == ' ') {
        ++i;
    }
    const int day = one_or_two_digits(text, i);
    if (day < 1 || day > 31 || i >= text.size() || text[i] != ' ') {
        return 0;
    }
    ++i;
    if (!year_first) {
        year_and_space(text, i, 1971, 2099);
    }
    const int hour = one_or_two_digits(text, i);
    if (hour < 0 || hour > 23 || i >= text.size() || text[i] != ':') {
        return 0;
    }
    ++i;
    const int minute = one_or_two_digits(text, i);
    if (minute < 0 || minute > 59 || i >= text.size() || text[i] != ':') {
        return 0;
    }
    ++i;
    const int second = one_or_two_digits(text, i);
    return second < 0 || second > 60 ? 0 : i;
}

/// The length of an RFC 3164 timestamp at the start of text ("Mmm dd hh:mm:ss", its variants,
/// and ".fraction" after the seconds as Cisco writes them), or 0. The month may be in any case.
std::size_t bsd_timestamp_length(std::string_view text) {
    std::size_t i = textbook_bsd_length(text);
    if (i == 0) {
        i = variant_bsd_length(text);
    }
    if (i > 0 && i + 1 < text.size() && text[i] == '.' && is_digit(text[i + 1])) {
        i = run_end(text, i + 1, digit, 9);
    }
    return i;
}

/// The length of an RFC 3339 timestamp at the start of text as RFC 5424 allows it (upper-case
/// "T", 1 to 9 fraction digits, a zone "Z" or "+hh:mm"), or 0. rsyslog takes the same in an RFC
/// 3164 message.
std::size_t rfc3339_length(std::string_view text) {
    constexpr std::size_t shortest = 20;  // "YYYY-MM-DDThh:mm:ssZ"
    if (text.size() < shortest || !is_digit(text[0]) || !is_digit(text[1]) || !is_digit(text[2]) ||
        !is_digit(text[3]) || text[4] != '-' || two_digits(text, 5, 12) < 1 || text[7] != '-' ||
        two_digits(text, 8, 31) < 1 || text[10] != 'T' || two_digits(text, 11, 23) < 0 ||
        text[13] != ':' || two_digits(text, 14, 59) < 0 || text[16] != ':' ||
        two_digits(text, 17, 60) < 0) {
        return 0;
    }
    std::size_t i = 19;
    if (text[i] == '.') {
        const std::size_t start = i + 1;
        i = run_end(text, start, digit, 9);
        if (i == start || i >= text.size()) {
            return 0;
        }
    }
    if (text[i] == 'Z') {
        return i + 1;
    }
    if ((text[i] == '+' || text[i] == '-') && i + 6 <= text.size() &&
        two_digits(text, i + 1, 23) >= 0 && text[i + 3] == ':' &&
        two_digits(text, i + 4, 59) >= 0) {
        return i + 6;
    }
    return 0;
}

/// A timestamp at the start of rest into timestamp: RFC 3339, or RFC 3164 also after one stray
/// space (HP ProCurve) and with a colon after it (Cisco), as rsyslog takes them. It must be
/// followed by a space or the end; rest then starts after that space. False when there is none.
bool take_timestamp(std::string_view& rest, std::string_view& timestamp) {
    if (rest.empty()) {
        return false;
    }
    std::size_t start = 0;
    std::size_t length = is_digit(rest[0]) ? rfc3339_length(rest) : 0;
    std::size_t end = length;
    if (length == 0) {
        // A space can start neither form; rsyslog tries RFC 3164 once more after it.
        start = rest[0] == ' ' ? 1 : 0;
        length = bsd_timestamp_length(rest.substr(start));
        end = start + length;
        if (length > 0 && end < rest.size() && rest[end] == ':') {
            ++end;
        }
    }
    if (length == 0 || (end < rest.size() && rest[end] != ' ')) {
        return false;
    }
    timestamp = rest.substr(start, length);
    rest.remove_prefix(std::min(end + 1, rest.size()));
    return true;
}

/// "a.b.c.d" with each part 0..255.
bool is_ipv4_address(std::string_view text) {
    std::size_t i = 0;
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (i >= text.size() || text[i] != '.') {
                return false;
            }
            ++i;
        }
        const std::size_t start = i;
        i = run_end(text, i, digit, 3);
        int value = 0;
        for (std::size_t d = start; d < i; ++d) {
            value = value * 10 + (text[d] - '0');
        }
        if (i == start || value > 255) {
            return false;
        }
    }
    return i == text.size();
}

/// An IPv6 address in its text forms (RFC 4291 section 2.2), zone indexes excluded.
bool is_ipv6_address(std::string_view text) {
    if (text.size() < 2 || text.size() > max_ipv6_text) {
        return false;
    }
    int groups = 0;
    bool gap = false;
    std::size_t i = 0;
    if (text.starts_with("::")) {
        gap = true;
        i = 2;
    }
    while (i < text.size()) {
        std::size_t end = i;
        while (end < text.size() && is_hex(text[end]) && end - i < 5) {
            ++end;
        }
        if (end < text.size() && text[end] == '.') {
            // An IPv4 address as the last 32 bits.
            if (!is_ipv4_address(text.substr(i))) {
                return false;
            }
            groups += 2;
            break;
        }
        if (end == i || end - i > 4) {
            return false;
        }
        ++groups;
        i = end;
        if (i == text.size()) {
            break;
        }
        if (text[i] != ':' || i + 1 == text.size()) {
            return false;
        }
        ++i;
        if (text[i] == ':') {
            if (gap) {
                return false;
            }
            gap = true;
            ++i;
        }
    }
    return gap ? groups <= 7 : groups == 8;
}

/// The length of an RFC 3164 HOSTNAME at the start of text, or 0. As rsyslog decides: letters,
/// digits, ".", "_" and "-", ending in a letter or digit and followed by a space, or making up
/// the whole rest. So a tag is never taken for a host: "sshd[1]:", "su:" or "%ASA-6-302013:" end
/// in a byte a hostname cannot have. Unlike rsyslog, an IPv6 address is a hostname too (rsyslog
/// reads "2001:db8::1 app:" as the tag "2001:").
std::size_t hostname_length(std::string_view text) {
    const std::size_t i = run_end(text, 0, hostname_byte, max_hostname + 1);
    if (i > max_hostname) {
        return 0;
    }
    if (i == text.size()) {
        return i;
    }
    if (text[i] == ' ') {
        return i > 0 && is_alnum(text[i - 1]) ? i : 0;
    }
    if (text[i] == ':') {
        std::size_t end = i;
        while (end < text.size() && end <= max_ipv6_text && text[end] != ' ') {
            ++end;
        }
        return is_ipv6_address(text.substr(0, end)) ? end : 0;
    }
    return 0;
}

/// Reads an RFC 3164 TAG ("name[pid]:", "name:", "name[pid]" or "name", then a space) at the
/// start of text into app and procid; returns the message after it. rsyslog ends a tag only at
/// ":" or a space and keeps the name up to the first "[" or unprintable byte, which drops what
/// lies between (the Snare fields after a tab, "x" in "app[1]x:"); here the tag ends at the first
/// byte that cannot continue it, and the message starts there.
std::string_view take_tag(std::string_view text, SyslogMessage& out) {
    const std::size_t name = run_end(text, 0, tag_byte, max_tag_name + 1);
    if (name > max_tag_name) {
        return text;
    }
    out.app = text.substr(0, name);
    std::size_t end = name;
    if (end < text.size() && text[end] == '[') {
        const std::size_t close = run_end(text, end + 1, pid_byte, max_pid + 1);
        const bool pid =
            close - end - 1 <= max_pid && close < text.size() && text[close] == ']' &&
            (close + 1 == text.size() || text[close + 1] == ':' || text[close + 1] == ' ');
        if (!pid) {
            return text.substr(name);
        }
        out.procid = text.substr(end + 1, close - end - 1);
        end = close + 1;
    }
    if (end < text.size() && text[end] == ':') {
        ++end;
    }
    if (end < text.size() && text[end] == ' ') {
        ++end;
    }
    return text.substr(end);
}

/// rsyslog's "headerless" rule: a JSON object or array right after the PRI (blanks allowed) is
/// no header but all message.
bool is_headerless(std::string_view rest) {
    std::size_t body = 0;
    while (body < rest.size() && (rest[body] == ' ' || rest[body] == '\t')) {
        ++body;
    }
    return body < rest.size() && (rest[body] == '{' || rest[body] == '[');
}

/// The text up to the next space; rest moves past the space.
inline std::string_view next_field(std::string_view& rest) {
    const auto space = rest.find(' ');
    const auto field = rest.substr(0, space);
    rest.remove_prefix(space == std::string_view::npos ? rest.size() : space + 1);
    return field;
}

inline std::string_view unless_nil(std::string_view field) {
    return field == "-" ? std::string_view() : field;
}

/// Where the SD-ELEMENT whose "[" is at text[start] ends (just past its "]"), or text's length
/// when it never does. Quotes are followed, so a "]" inside a value ends nothing (RFC 5424 wants
/// it escaped; rsyslog stops at the first "] " even in a value).
inline std::size_t sd_element_end(std::string_view text, std::size_t start) {
    bool quoted = false;
    for (std::size_t i = start + 1; i < text.size(); ++i) {
        i = run_end(text, i, sd_plain, text.size());
        if (i >= text.size()) {
            break;
        }
        const char c = text[i];
        if (quoted && c == '\\') {
            ++i;
        } else if (c == '"') {
            quoted = !quoted;
        } else if (!quoted && c == ']') {
            return i + 1;
        }
    }
    return text.size();
}

/// The length of RFC 5424 STRUCTURED-DATA ("[id k=\"v\"]...") at the start of text, or its whole
/// length when an element never ends.
std::size_t structured_data_length(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && text[i] == '[') {
        i = sd_element_end(text, i);
    }
    return i;
}

/// "TIMESTAMP HOST APP PROCID MSGID SD MSG" (what follows "<PRI>1 ").
void parse_rfc5424(std::string_view rest, SyslogMessage& out) {
    if (rest.starts_with("- ")) {
        rest.remove_prefix(2);
    } else if (const auto length = rfc3339_length(rest);
               length > 0 && (length == rest.size() || rest[length] == ' ')) {
        out.timestamp = rest.substr(0, length);
        rest.remove_prefix(std::min(length + 1, rest.size()));
    } else {
        out.text = rest;  // no valid TIMESTAMP: not RFC 5424 after all, all of it is message
        return;
    }
    out.host = unless_nil(next_field(rest));
    out.app = unless_nil(next_field(rest));
    out.procid = unless_nil(next_field(rest));
    out.msgid = unless_nil(next_field(rest));
    const bool nil_sd = rest.starts_with('-');
    if (nil_sd || rest.starts_with('[')) {
        const std::size_t length = nil_sd ? 1 : structured_data_length(rest);
        if (!nil_sd) {
            out.sd = rest.substr(0, length);
        }
        rest.remove_prefix(length);
        if (rest.starts_with(' ')) {
            rest.remove_prefix(1);
        }
    }
    // RFC 5424 section 6.4: the BOM says the text is UTF-8; it is not part of the text.
    if (rest.starts_with(utf8_bom)) {
        rest.remove_prefix(utf8_bom.size());
    }
    out.text = rest;
}

}  // namespace

std::size_t sd_element_length(std::string_view text) {
    return sd_element_end(text, 0);
}

SyslogMessage parse_syslog(std::string_view message) {
    SyslogMessage out;
    std::string_view rest = message;
    int pri = read_pri(rest);
    if (pri == pri_malformed) {
        out.text = message;
        return out;
    }
    if (pri == pri_absent) {
        out.facility = default_pri / 8;
        out.severity = default_pri % 8;
        // Without a PRI only a timestamp says this is a syslog header: rsyslog would also read
        // the first words of any line as HOST and TAG ("a plain line": host "a", app "plain").
        if (rest.empty() || !is(rest[0], timestamp_start) || !take_timestamp(rest, out.timestamp)) {
            out.text = message;
            return out;
        }
    } else {
        out.facility = pri / 8;
        out.severity = pri % 8;
        if (rest.starts_with("1 ")) {
            parse_rfc5424(rest.substr(2), out);
            return out;
        }
        if (is_headerless(rest)) {
            out.text = rest.starts_with(' ') ? rest.substr(1) : rest;
            return out;
        }
        take_timestamp(rest, out.timestamp);
    }
    if (const auto length = hostname_length(rest); length > 0) {
        out.host = rest.substr(0, length);
        rest.remove_prefix(std::min(length + 1, rest.size()));
    }
    out.text = take_tag(rest, out);
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
