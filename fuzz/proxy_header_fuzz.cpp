// The PROXY protocol header parser: any bytes, in any version setting, give incomplete, a header
// whose size lies within the bytes and whose addresses come with it, or a refusal with a reason;
// and a header found whole is found again, the same, in any longer input that begins with it
// (what follows a header never changes it), and never in a prefix of it.

#include <string>

#include "fuzz/fuzz_input.hpp"
#include "net/proxy_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    netd::fuzz::Input in(data, size);
    const auto accepted = static_cast<netd::config::ProxyProtocol>(in.pick(4));
    const std::string_view bytes = in.rest();
    using Status = netd::ProxyHeader::Status;
    const auto parsed = netd::parse_proxy_header(bytes, accepted);
    switch (parsed.status) {
        case Status::invalid:
            if (parsed.error.empty()) {
                __builtin_trap();
            }
            break;
        case Status::incomplete:
            if (bytes.size() >= netd::max_proxy_header) {
                __builtin_trap();  // a header never needs more than the bound
            }
            break;
        case Status::complete: {
            if (parsed.size == 0 || parsed.size > bytes.size() ||
                parsed.source.has_value() != parsed.destination.has_value() ||
                accepted == netd::config::ProxyProtocol::off) {
                __builtin_trap();
            }
            const auto again = netd::parse_proxy_header(bytes.substr(0, parsed.size), accepted);
            if (again.status != Status::complete || again.size != parsed.size ||
                again.source != parsed.source) {
                __builtin_trap();
            }
            if (netd::parse_proxy_header(bytes.substr(0, parsed.size - 1), accepted).status ==
                Status::complete) {
                __builtin_trap();
            }
            break;
        }
    }
    return 0;
}
