#pragma once
// The transports netd serves, named as the config keys that make their listeners.

#include <cstdint>
#include <string_view>

namespace netd {

enum class Transport : std::uint8_t { tcp, udp, unix_stream, unix_datagram };

/// The config key of the transport: tcp, udp, unix, unixgram.
std::string_view to_string(Transport transport);

/// A connection (tcp, unix), rather than datagrams (udp, unixgram).
constexpr bool is_stream(Transport transport) {
    return transport == Transport::tcp || transport == Transport::unix_stream;
}

/// Its peers have an IP address and port (tcp, udp), rather than a Unix socket path.
constexpr bool has_address(Transport transport) {
    return transport == Transport::tcp || transport == Transport::udp;
}

}  // namespace netd
