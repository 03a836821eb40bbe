#include "handlers/logger/log_record.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <ctime>

namespace netd {

namespace {

constexpr std::string_view truncation_mark = " \\[truncated]";

/// JSON carries control bytes with its own escapes; it cannot carry bytes that are not UTF-8.
constexpr Escape json_escape{.control = false, .invalid_utf8 = true, .space = false};

/// The length of the valid UTF-8 sequence starting at text[0], or 0.
std::size_t utf8_sequence(std::string_view text) {
    const auto lead = static_cast<unsigned char>(text[0]);
    std::size_t length = 0;
    unsigned min_second = 0x80;
    unsigned max_second = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        min_second = lead == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
        max_second = lead == 0xED ? 0x9F : 0xBF;  // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        min_second = lead == 0xF0 ? 0x90 : 0x80;
        max_second = lead == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (text.size() < length) {
        return 0;
    }
    for (std::size_t i = 1; i < length; ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        const unsigned low = i == 1 ? min_second : 0x80;
        const unsigned high = i == 1 ? max_second : 0xBF;
        if (byte < low || byte > high) {
            return 0;
        }
    }
    return length;
}

void append_hex(std::string& out, unsigned char byte) {
    constexpr std::string_view digits = "0123456789abcdef";
    out += "\\x";
    out += digits[byte >> 4];
    out += digits[byte & 0xF];
}

/// A field of a text record: escaped, "-" when empty.
void append_field(std::string& out, std::string_view text) {
    if (text.empty()) {
        out += '-';
    } else {
        append_escaped(out, text, Escape{.control = true, .invalid_utf8 = false, .space = true});
    }
}

boost::json::value json_text(std::string_view text) {
    if (text.empty()) {
        return nullptr;
    }
    std::string escaped;
    append_escaped(escaped, text, json_escape);
    // Not `return {escaped};`: a braced list makes a JSON array.
    return boost::json::value(escaped);  // NOLINT(modernize-return-braced-init-list)
}

}  // namespace

void append_escaped(std::string& out, std::string_view text, Escape escape) {
    const auto is_control = [&](unsigned char byte) {
        return escape.control && (byte < 0x20 || byte == 0x7F);
    };
    const auto plain = [&](unsigned char byte) {
        return !is_control(byte) && byte != '\\' && !(byte >= 0x80 && escape.invalid_utf8) &&
               !(byte == ' ' && escape.space);
    };
    std::size_t i = 0;
    while (i < text.size()) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (is_control(byte) || (byte == ' ' && escape.space)) {
            append_hex(out, byte);
            ++i;
        } else if (byte == '\\') {
            out += "\\\\";
            ++i;
        } else if (byte >= 0x80 && escape.invalid_utf8) {
            const std::size_t length = utf8_sequence(text.substr(i));
            if (length == 0) {
                append_hex(out, byte);
                ++i;
            } else {
                out.append(text.substr(i, length));
                i += length;
            }
        } else {
            // Copy the run of ordinary bytes in one go.
            std::size_t j = i + 1;
            while (j < text.size() && plain(static_cast<unsigned char>(text[j]))) {
                ++j;
            }
            out.append(text.substr(i, j - i));
            i = j;
        }
    }
}

void append_record(std::string& out, RecordFormat format, const RecordContext& context,
                   const SyslogMessage& message, bool truncated) {
    if (format == RecordFormat::json) {
        boost::json::object record;
        record["received"] = context.received;
        record["peer"] = json_text(context.peer);
        const bool known = context.credentials.known();
        record["pid"] = known ? boost::json::value(context.credentials.pid) : nullptr;
        record["uid"] = known ? boost::json::value(context.credentials.uid) : nullptr;
        record["gid"] = known ? boost::json::value(context.credentials.gid) : nullptr;
        record["service"] = context.service;
        record["facility"] = message.facility < 0
                                 ? boost::json::value(nullptr)
                                 : boost::json::value(facility_name(message.facility));
        record["severity"] = message.severity < 0
                                 ? boost::json::value(nullptr)
                                 : boost::json::value(severity_name(message.severity));
        record["timestamp"] = json_text(message.timestamp);
        record["host"] = json_text(message.host);
        record["app"] = json_text(message.app);
        record["procid"] = json_text(message.procid);
        record["msgid"] = json_text(message.msgid);
        record["sd"] = json_text(message.sd);
        std::string text;
        append_escaped(text, message.text, json_escape);
        record["message"] = text;
        record["truncated"] = truncated;
        // JSON leaves DEL (0x7f) as it is; like the text format, no record carries a raw control
        // byte (found by fuzz/record_fuzz.cpp). It can only be inside a string, so \u007f is
        // the same JSON.
        const std::string json = boost::json::serialize(record);
        std::size_t from = 0;
        for (auto del = json.find('\x7f'); del != std::string::npos;
             del = json.find('\x7f', from)) {
            out.append(json, from, del - from);
            out += "\\u007f";
            from = del + 1;
        }
        out.append(json, from);
        out += '\n';
        return;
    }
    out += context.received;
    out += ' ';
    append_field(out, context.peer);
    out += ' ';
    out += context.service;
    out += ' ';
    if (message.facility < 0) {
        out += '-';
    } else {
        out += facility_name(message.facility);
        out += '.';
        out += severity_name(message.severity);
    }
    out += ' ';
    append_field(out, message.host);
    out += ' ';
    append_field(out, message.app);
    out += ' ';
    append_escaped(out, message.text);
    if (truncated) {
        out += truncation_mark;
    }
    out += '\n';
}

std::string_view ReceivedClock::now() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != second_) {
        second_ = ts.tv_sec;
        std::tm utc{};
        gmtime_r(&ts.tv_sec, &utc);
        std::strftime(text_, sizeof(text_), "%Y-%m-%dT%H:%M:%S", &utc);
    }
    // "YYYY-MM-DDTHH:MM:SS" is 19 characters; ".uuuuuuZ" follows.
    long micros = ts.tv_nsec / 1000;
    text_[19] = '.';
    for (int i = 25; i >= 20; --i) {
        text_[i] = static_cast<char>('0' + micros % 10);
        micros /= 10;
    }
    text_[26] = 'Z';
    return {text_, 27};
}

}  // namespace netd
