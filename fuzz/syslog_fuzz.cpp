// parse_syslog: any bytes parse; PRI values stay in range; every field is a view into the message
// (nothing invented), the fields come in message order without overlapping, the text is the
// message's last bytes, and a byte in no field is syntax (nothing lost).

#include <array>
#include <string_view>

#include "fuzz/fuzz_input.hpp"
#include "handlers/logger/syslog.hpp"

namespace {

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() &&
                            part.data() + part.size() <= whole.data() + whole.size());
}

/// What a parse may leave out of every field: the PRI, separators, the brackets and colon of a
/// tag, a nil "-", a UTF-8 BOM.
bool is_syntax(char c) {
    return std::string_view("<>0123456789 :[]-\xEF\xBB\xBF").find(c) != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view message(reinterpret_cast<const char*>(data), size);
    const auto parsed = netd::parse_syslog(message);
    if (parsed.facility < -1 || parsed.facility > 23 || parsed.severity < -1 ||
        parsed.severity > 7 || (parsed.facility == -1) != (parsed.severity == -1)) {
        netd::fuzz::fail("PRI out of range");
    }
    if (netd::facility_name(parsed.facility).empty() ||
        netd::severity_name(parsed.severity).empty()) {
        netd::fuzz::fail("a PRI without a name");
    }
    const std::array<std::string_view, 7> fields{parsed.timestamp, parsed.host,  parsed.app,
                                                 parsed.procid,    parsed.msgid, parsed.sd,
                                                 parsed.text};
    std::size_t covered = 0;  // the message's bytes before this point are accounted for
    for (const auto field : fields) {
        if (!inside(field, message)) {
            netd::fuzz::fail("a field is not part of the message");
        }
        if (field.empty()) {
            continue;
        }
        const auto start = static_cast<std::size_t>(field.data() - message.data());
        if (start < covered) {
            netd::fuzz::fail("fields overlap or are out of order");
        }
        for (; covered < start; ++covered) {
            if (!is_syntax(message[covered])) {
                netd::fuzz::fail("a byte that is not syntax is in no field");
            }
        }
        covered = start + field.size();
    }
    for (; covered < message.size(); ++covered) {
        if (!is_syntax(message[covered])) {
            netd::fuzz::fail("the text is not the end of the message");
        }
    }
    if (!parsed.text.empty() &&
        parsed.text.data() + parsed.text.size() != message.data() + message.size()) {
        netd::fuzz::fail("the text is not the end of the message");
    }
    return 0;
}
