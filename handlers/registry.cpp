#include "handlers/registry.hpp"

#include "handlers/daytime.hpp"
#include "handlers/echo.hpp"
#include "handlers/logger.hpp"
#include "handlers/stats.hpp"
#include "handlers/time.hpp"
#include "handlers/timefmt.hpp"

namespace netd {

namespace {

std::vector<HandlerSpec>& table() {
    static std::vector<HandlerSpec> specs{
        echo_handler_spec(), timefmt_handler_spec(), daytime_handler_spec(),
        time_handler_spec(), logger_handler_spec(),  stats_handler_spec(),
    };
    return specs;
}

}  // namespace

std::span<const HandlerSpec> handlers() {
    return table();
}

const HandlerSpec* find_handler(std::string_view name) {
    return find_by_name(table(), name);
}

void register_handler(const HandlerSpec& spec) {
    add_by_name(table(), spec);
}

std::string_view to_string(Transport transport) {
    switch (transport) {
        case Transport::tcp:
            return "tcp";
        case Transport::udp:
            return "udp";
        case Transport::unix_stream:
            return "unix";
        case Transport::unix_datagram:
            return "unixgram";
    }
    return "?";
}

std::string Peer::to_string() const {
    switch (transport) {
        case Transport::tcp:
        case Transport::udp:
            if (address.is_v6()) {
                return "[" + address.to_string() + "]:" + std::to_string(port);
            }
            return address.to_string() + ":" + std::to_string(port);
        case Transport::unix_stream:
        case Transport::unix_datagram:
            return path.empty() ? "unix" : path;
    }
    return "?";
}

}  // namespace netd
