#include "handlers/logger/forward_record.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>

namespace netd {

namespace {

/// RFC 5424's longest MSGID; the parser bounds the other header fields (syslog.hpp).
constexpr std::size_t max_msgid = 32;
/// RFC 5424's longest TIME-SECFRAC: an RFC 3339 timestamp may carry up to 9 digits.
constexpr std::size_t max_fraction = 6;
/// The PRI of a message whose own is malformed: user.notice, what a message without one gets.
constexpr int malformed_pri = 13;
/// The longest length prefix a frame may have ("999999999 ").
constexpr std::size_t max_length_digits = 9;

/// A header field as RFC 5424 allows it: printable US-ASCII without spaces (anything else
/// becomes "_"), at most limit bytes, or "-" when empty.
void append_header_field(std::string& out, std::string_view field, std::size_t limit) {
    if (field.empty()) {
        out += '-';
        return;
    }
    field = field.substr(0, limit);
    for (const char c : field) {
        const auto byte = static_cast<unsigned char>(c);
        out += byte >= 33 && byte <= 126 ? c : '_';
    }
}

/// A PARAM-VALUE: '"', '\' and ']' escaped with a backslash.
void append_param_value(std::string& out, std::string_view value) {
    for (const char c : value) {
        if (c == '"' || c == '\\' || c == ']') {
            out += '\\';
        }
        out += c;
    }
}

/// An RFC 3339 timestamp as sent, its fraction cut to RFC 5424's six digits.
void append_rfc3339(std::string& out, std::string_view timestamp) {
    const auto dot = timestamp.find('.');
    if (dot == std::string_view::npos) {
        out += timestamp;
        return;
    }
    std::size_t zone = dot + 1;
    while (zone < timestamp.size() && std::isdigit(static_cast<unsigned char>(timestamp[zone]))) {
        ++zone;
    }
    out += timestamp.substr(0, std::min(zone, dot + 1 + max_fraction));
    out += timestamp.substr(zone);
}

int month_of(std::string_view name) {
    static constexpr std::array<std::string_view, 12> months{
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
    if (name.size() != 3) {
        return -1;
    }
    std::array<char, 3> lower{};
    for (std::size_t i = 0; i < 3; ++i) {
        lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
    }
    for (std::size_t m = 0; m < months.size(); ++m) {
        if (std::string_view(lower.data(), 3) == months[m]) {
            return static_cast<int>(m);
        }
    }
    return -1;
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (month 1 to 12).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
    year -= month <= 2 ? 1 : 0;
    const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
    const auto year_of_era = static_cast<unsigned>(year - era * 400);
    const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const unsigned day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

/// netd's local year and UTC offset, read once a second per thread.
struct LocalNow {
    std::time_t second = -1;
    std::int64_t year = 1970;
    long offset = 0;  ///< seconds east of UTC
};

const LocalNow& local_now(std::time_t now) {
    thread_local LocalNow local;
    if (local.second != now) {
        std::tm tm{};
        localtime_r(&now, &tm);
        local = {now, tm.tm_year + 1900, tm.tm_gmtoff};
    }
    return local;
}

/// A decimal number that is all of text, or -1.
int number_of(std::string_view text) {
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc{} && end == text.data() + text.size() && !text.empty() ? value : -1;
}

}  // namespace

bool append_bsd_as_rfc3339(std::string& out, std::string_view text, std::time_t now) {
    // The parser took the timestamp already; here its parts are only picked out: a month name,
    // a day, an optional four-digit year (before the month or before the time), h:m:s[.frac].
    int month = -1;
    int day = -1;
    int year = -1;
    int hms[3] = {-1, -1, -1};
    std::string_view fraction;
    while (!text.empty()) {
        const auto space = text.find(' ');
        const std::string_view word = text.substr(0, space);
        text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
        if (word.empty()) {
            continue;
        }
        if (word.find(':') != std::string_view::npos) {
            std::string_view rest = word;
            for (int& part : hms) {
                const auto colon = rest.find(':');
                std::string_view piece = rest.substr(0, colon);
                if (&part == &hms[2]) {
                    const auto dot = piece.find('.');
                    if (dot != std::string_view::npos) {
                        fraction = piece.substr(dot + 1, max_fraction);
                        piece = piece.substr(0, dot);
                    }
                }
                part = number_of(piece);
                rest.remove_prefix(colon == std::string_view::npos ? rest.size() : colon + 1);
            }
        } else if (month < 0 && month_of(word) >= 0) {
            month = month_of(word);
        } else if (word.size() == 4) {
            year = number_of(word);
        } else {
            day = number_of(word);
        }
    }
    if (month < 0 || day < 1 || hms[0] < 0 || hms[1] < 0 || hms[2] < 0) {
        return false;
    }
    // The sender's wall clock, read as netd's local time: seconds as if it were UTC, then
    // shifted by netd's UTC offset now (mktime would do the same, but it re-reads the time zone
    // on every call, which is neither cheap nor safe beside other threads' localtime_r).
    const LocalNow& local = local_now(now);
    const auto seconds_in = [&](std::int64_t in_year) {
        return days_from_civil(in_year, static_cast<unsigned>(month) + 1,
                               static_cast<unsigned>(day)) *
                   86400 +
               std::int64_t{hms[0]} * 3600 + std::int64_t{hms[1]} * 60 + hms[2];
    };
    std::int64_t when = seconds_in(year > 0 ? year : local.year);
    if (year <= 0 && when > now + local.offset + 86400) {
        when = seconds_in(local.year - 1);  // December's records read in January: last year's
    }
    const auto wall = static_cast<std::time_t>(when);
    std::tm normal{};
    if (gmtime_r(&wall, &normal) == nullptr) {
        return false;
    }
    char text_out[40];
    std::strftime(text_out, sizeof(text_out), "%Y-%m-%dT%H:%M:%S", &normal);
    out += text_out;
    if (!fraction.empty()) {
        out += '.';
        out += fraction;
    }
    const long offset = local.offset / 60;
    if (offset == 0) {
        out += 'Z';
    } else {
        std::snprintf(text_out, sizeof(text_out), "%c%02ld:%02ld", offset < 0 ? '-' : '+',
                      std::labs(offset) / 60, std::labs(offset) % 60);
        out += text_out;
    }
    return true;
}

void append_forward_frame(std::string& out, const ForwardContext& context,
                          const SyslogMessage& message) {
    // The length comes first, so the frame is built aside (in a buffer each thread reuses).
    thread_local std::string body;
    body.clear();
    const int pri = message.facility < 0 || message.severity < 0
                        ? malformed_pri
                        : message.facility * 8 + message.severity;
    body += '<';
    body += std::to_string(pri);
    body += ">1 ";
    bool stamped = false;
    if (!message.timestamp.empty()) {
        if (std::isdigit(static_cast<unsigned char>(message.timestamp[0])) != 0) {
            append_rfc3339(body, message.timestamp);
            stamped = true;
        } else {
            stamped = append_bsd_as_rfc3339(body, message.timestamp, context.now);
        }
    }
    if (!stamped) {
        body += context.received;
    }
    body += ' ';
    append_header_field(body, message.host.empty() ? context.fallback_host : message.host,
                        max_hostname);
    body += ' ';
    append_header_field(body, message.app, max_tag_name);
    body += ' ';
    append_header_field(body, message.procid, max_pid);
    body += ' ';
    append_header_field(body, message.msgid, max_msgid);
    body += ' ';
    if (context.origin_ip.empty()) {
        body += message.sd.empty() ? std::string_view("-") : message.sd;
    } else {
        // The origin element is netd's, naming the address it saw: one the client sent (which
        // anybody can forge) goes, as RFC 5424 allows an SD-ID once per message.
        for (std::string_view sd = message.sd; !sd.empty();) {
            const auto element = sd.substr(0, sd_element_length(sd));
            sd.remove_prefix(element.size());
            if (!element.starts_with("[origin ") && !element.starts_with("[origin]")) {
                body += element;
            }
        }
        body += "[origin ip=\"";
        append_param_value(body, context.origin_ip);
        body += "\"]";
    }
    if (!message.text.empty()) {
        body += ' ';
        body += message.text;
    }
    char length[max_length_digits + 2];
    char* const end = std::to_chars(length, length + max_length_digits, body.size()).ptr;
    out.append(length, end);
    out += ' ';
    out += body;
}

std::size_t frame_length(std::string_view bytes) {
    std::size_t digits = 0;
    std::size_t length = 0;
    while (digits < bytes.size() && digits <= max_length_digits &&
           std::isdigit(static_cast<unsigned char>(bytes[digits])) != 0) {
        length = length * 10 + static_cast<std::size_t>(bytes[digits] - '0');
        ++digits;
    }
    if (digits == bytes.size()) {
        return digits <= max_length_digits ? 0 : std::string_view::npos;
    }
    if (digits == 0 || digits > max_length_digits || bytes[digits] != ' ' || length == 0 ||
        bytes[0] == '0') {
        return std::string_view::npos;
    }
    const std::size_t whole = digits + 1 + length;
    return bytes.size() < whole ? 0 : whole;
}

WholeFrames whole_frames(std::string_view bytes, std::uint64_t most, std::size_t limit) {
    WholeFrames frames;
    while (frames.count < most) {
        const std::size_t length = frame_length(bytes.substr(frames.bytes));
        if (length == std::string_view::npos) {
            frames.garbage = true;
            break;
        }
        if (length == 0 || (frames.count > 0 && frames.bytes + length > limit)) {
            break;
        }
        frames.bytes += length;
        ++frames.count;
    }
    return frames;
}

}  // namespace netd
