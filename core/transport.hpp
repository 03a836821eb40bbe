#pragma once
// The transports netd serves, named as the config keys that make their listeners.

#include <array>
#include <cstdint>
#include <string_view>

namespace netd {

/// tls: TCP connections that speak TLS (SPEC 9), counted and logged apart from plain tcp.
enum class Transport : std::uint8_t { tcp, udp, unix_stream, unix_datagram, tls };

/// Every transport, in the enum's order (tables indexed by transport).
inline constexpr std::array all_transports{Transport::tcp, Transport::udp, Transport::unix_stream,
                                           Transport::unix_datagram, Transport::tls};

/// The config key of the transport: tcp, udp, unix, unixgram, tls.
std::string_view to_string(Transport transport);

/// A connection (tcp, unix, tls), rather than datagrams (udp, unixgram).
constexpr bool is_stream(Transport transport) {
    return transport == Transport::tcp || transport == Transport::unix_stream ||
           transport == Transport::tls;
}

/// Its peers have an IP address and port (tcp, udp, tls), rather than a Unix socket path.
constexpr bool has_address(Transport transport) {
    return transport == Transport::tcp || transport == Transport::udp ||
           transport == Transport::tls;
}

}  // namespace netd
