#include "core/peer.hpp"

namespace netd {

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
    if (has_address(transport)) {
        if (address.is_v6()) {
            return "[" + address.to_string() + "]:" + std::to_string(port);
        }
        return address.to_string() + ":" + std::to_string(port);
    }
    return path.empty() ? "unix" : path;
}

}  // namespace netd
