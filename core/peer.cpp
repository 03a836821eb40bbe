#include "core/peer.hpp"

#include <array>
#include <charconv>

namespace netd {

namespace {

/// Appends number in decimal.
template <class Number>
void append_number(std::string& out, Number number) {
    std::array<char, 24> digits{};
    const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), number).ptr;
    out.append(digits.data(), end);
}

}  // namespace

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
        case Transport::tls:
            return "tls";
    }
    return "?";
}

std::string Peer::to_string() const {
    std::string text;
    append_to(text);
    return text;
}

void Peer::append_to(std::string& out) const {
    if (has_address(transport)) {
        if (address.is_v6()) {
            out += '[';
            out += address.to_string();
            out += ']';
        } else {
            out += address.to_string();
        }
        out += ':';
        append_number(out, port);
        return;
    }
    out += "unix";
    if (credentials.known()) {
        out += ':';
        append_number(out, credentials.pid);
        out += ':';
        append_number(out, credentials.uid);
    }
}

}  // namespace netd
