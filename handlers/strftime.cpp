#include "handlers/strftime.hpp"

#include <algorithm>
#include <array>
#include <chrono>

#include "config/values.hpp"
#include "handlers/registry.hpp"

namespace netd {

namespace {

/// POSIX.1-2008 strftime conversions, and those that may follow the E and O modifiers.
constexpr std::string_view plain_conversions = "aAbBcCdDeFgGhHIjmMnprRStTuUVwWxXyYzZ%";
constexpr std::string_view e_conversions = "cCxXyY";
constexpr std::string_view o_conversions = "deHImMSuUVwWy";

}  // namespace

std::string check_format(std::string_view format) {
    if (format.size() > max_format_size) {
        return "format longer than " + std::to_string(max_format_size) + " bytes";
    }
    if (std::any_of(format.begin(), format.end(), is_control_byte)) {
        return "control byte in format";
    }
    for (std::size_t i = 0; i < format.size(); ++i) {
        if (format[i] != '%') {
            continue;
        }
        if (++i == format.size()) {
            return "format ends in a lone %";
        }
        // glibc's flags and field widths (%-d, %_H, %10Y) are not POSIX: name the whole spec.
        std::size_t spec_end = i;
        while (spec_end < format.size() &&
               std::string_view("_-0^#+123456789").find(format[spec_end]) !=
                   std::string_view::npos) {
            ++spec_end;
        }
        if (spec_end > i) {
            return "unsupported conversion " +
                   std::string(
                       format.substr(i - 1, std::min(spec_end + 1, format.size()) - (i - 1)));
        }
        std::string_view allowed = plain_conversions;
        std::string conversion = {'%', format[i]};
        if (format[i] == 'E' || format[i] == 'O') {
            allowed = format[i] == 'E' ? e_conversions : o_conversions;
            if (++i == format.size()) {
                return "format ends in " + conversion;
            }
            conversion += format[i];
        }
        if (allowed.find(format[i]) == std::string_view::npos) {
            return "unsupported conversion " + conversion;
        }
    }
    return {};
}

std::time_t now_seconds() {
    return std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
}

std::tm broken_down(std::time_t t, TimeZone zone) {
    std::tm when{};
    if (zone == TimeZone::utc) {
        gmtime_r(&t, &when);
    } else {
        localtime_r(&t, &when);
    }
    return when;
}

std::optional<std::string> format_time(std::string_view format, const std::tm& when) {
    // strftime returns 0 both for "did not fit" and for an empty result; a leading space that is
    // cut off again tells the two apart.
    const std::string guarded = " " + std::string(format);
    std::array<char, max_formatted_size + 2> out{};
    const std::size_t n = std::strftime(out.data(), out.size(), guarded.c_str(), &when);
    if (n == 0) {
        return std::nullopt;
    }
    return std::string(out.data() + 1, n - 1);
}

TimeZone parse_time_zone(std::string_view text) {
    if (text == "local") {
        return TimeZone::local;
    }
    if (text == "utc") {
        return TimeZone::utc;
    }
    throw config::ValueError("'" + std::string(text) + "' is not a time zone (local or utc)");
}

TimeFormat parse_time_format(const config::ServiceConfig& service, std::string_view format_key) {
    return TimeFormat{
        .format = parse_option(service, format_key,
                               [](const std::string& format) {
                                   if (format.empty()) {
                                       throw config::ValueError("must not be empty");
                                   }
                                   if (auto why = check_format(format); !why.empty()) {
                                       throw config::ValueError(why);
                                   }
                                   return format;
                               }),
        .zone = parse_option(service, "timezone",
                             [](const std::string& zone) { return parse_time_zone(zone); }),
    };
}

std::string format_now(std::string_view format, TimeZone zone) {
    auto text = format_time(format, broken_down(now_seconds(), zone));
    if (!text) {
        return "error: output longer than " + std::to_string(max_formatted_size) + " bytes";
    }
    return std::move(*text);
}

}  // namespace netd
