// parse_syslog: any bytes parse; PRI values stay in range; host, app and text are views into the
// message (nothing invented).

#include <string_view>

#include "fuzz/fuzz_input.hpp"
#include "handlers/syslog.hpp"

namespace {

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() &&
                            part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view message(reinterpret_cast<const char*>(data), size);
    const auto parsed = netd::parse_syslog(message);
    if (parsed.facility < -1 || parsed.facility > 23 || parsed.severity < -1 ||
        parsed.severity > 7 || (parsed.facility == -1) != (parsed.severity == -1)) {
        netd::fuzz::fail("PRI out of range");
    }
    if (!inside(parsed.host, message) || !inside(parsed.app, message) ||
        !inside(parsed.text, message)) {
        netd::fuzz::fail("a field is not part of the message");
    }
    if (netd::facility_name(parsed.facility).empty() ||
        netd::severity_name(parsed.severity).empty()) {
        netd::fuzz::fail("a PRI without a name");
    }
    return 0;
}
