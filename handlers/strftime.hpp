#pragma once
// The strftime guard: clients send strftime formats (timefmt), so a format is checked before it is
// used. Only POSIX conversions are accepted, formats and outputs are bounded, and for every format
// that passes, the output is exactly C strftime's (and so Python's time.strftime's).

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace netd {

/// Longest format a client may send, and longest answer it can get.
inline constexpr std::size_t max_format_size = 256;
inline constexpr std::size_t max_formatted_size = 1024;

enum class TimeZone { local, utc };

/// A byte below 0x20, or DEL: never part of a format, a banner or a one-line answer.
inline bool is_control_byte(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
}

/// Why the format cannot be used ("unsupported conversion %k", "control byte in format", ...),
/// or an empty string when it can.
std::string check_format(std::string_view format);

/// The current time in whole seconds. Not std::time(): on Linux that reads the coarse clock, which
/// can still show the previous second a few milliseconds after CLOCK_REALTIME moved on.
std::time_t now_seconds();

/// The time t broken down in zone.
std::tm broken_down(std::time_t t, TimeZone zone);

/// strftime of a checked format; nullopt when the output would exceed max_formatted_size.
std::optional<std::string> format_time(std::string_view format, const std::tm& when);

/// "local" or "utc", for the handlers' timezone key; throws config::ValueError otherwise.
TimeZone parse_time_zone(std::string_view text);

/// A format checked at configuration time and the zone it is read in.
struct TimeFormat {
    std::string format;
    TimeZone zone = TimeZone::local;
};

/// A service's format_key and timezone keys, checked; throws KeyError naming the bad key.
TimeFormat parse_time_format(const config::ServiceConfig& service, std::string_view format_key);

/// The current time in a checked format, or "error: output longer than 1024 bytes".
std::string format_now(std::string_view format, TimeZone zone);

}  // namespace netd
