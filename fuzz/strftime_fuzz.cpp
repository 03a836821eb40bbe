// The strftime guard: a format check_format accepts formats without failing, into at most 1024
// bytes, exactly as the C library's strftime does; one with a control byte is never accepted.

#include <algorithm>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.hpp"
#include "handlers/strftime.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    netd::fuzz::Input in(data, size);
    // A time from 1900 to about 2106, and either zone.
    std::time_t when = 0;
    for (int i = 0; i < 4; ++i) {
        when = (when << 8) | static_cast<std::time_t>(in.pick(256));
    }
    when -= std::time_t{2208988800};
    const auto zone = in.pick(2) == 0 ? netd::TimeZone::utc : netd::TimeZone::local;
    const std::string_view format = in.rest();
    const std::string why = netd::check_format(format);
    if (!why.empty()) {
        return 0;
    }
    if (format.size() > 256 || std::any_of(format.begin(), format.end(), netd::is_control_byte)) {
        netd::fuzz::fail("check_format accepted an over-long format or a control byte");
    }
    const std::tm tm = netd::broken_down(when, zone);
    const auto formatted = netd::format_time(format, tm);
    if (formatted && formatted->size() > 1024) {
        netd::fuzz::fail("output over 1024 bytes");
    }
    // The C library's own answer, with room to spare.
    std::vector<char> buffer(65536);
    const std::string format_text(format);
    const std::size_t n =
        format_text.empty() ? 0
                            : std::strftime(buffer.data(), buffer.size(), format_text.c_str(), &tm);
    if (formatted && !format_text.empty() && n > 0 &&
        std::string_view(buffer.data(), n) != *formatted) {
        netd::fuzz::fail("the output differs from strftime's");
    }
    return 0;
}
