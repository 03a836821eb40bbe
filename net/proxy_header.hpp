#pragma once
// The PROXY protocol header a load balancer (HAProxy's send-proxy / send-proxy-v2, nginx's
// proxy_protocol) puts before a client's bytes, read as HAProxy's proxy-protocol.txt says: the
// header is recognised only whole and exactly as specified, never guessed at, and nothing after
// it is taken. Sans-I/O: the caller feeds what it has read so far (net/stream_listener.cpp reads
// it off the socket without reading past it).
//
// Written here rather than taken from a library: Debian packages none for C++ (HAProxy's and
// nginx's parsers live inside those programs), and the format is two small fixed layouts.

#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "config/config.hpp"

namespace netd {

/// The longest header accepted. v1's is at most 107 bytes; v2's is 16 plus its length field,
/// which the addresses (at most 216 bytes, AF_UNIX) and the TLVs a balancer adds (ALPN, SNI,
/// unique id, TLS details) keep far below this.
constexpr std::size_t max_proxy_header = 4096;

/// The bytes of the v2 signature, which v1 headers and any other protocol's first bytes differ
/// from (so that a balancer cannot confuse one for the other).
constexpr std::string_view proxy_v2_signature{"\r\n\r\n\0\r\nQUIT\n", 12};

struct ProxyHeader {
    enum class Status : std::uint8_t {
        incomplete,  ///< every byte so far may begin a header: read on
        complete,    ///< size is the header's length; what follows is the client's
        invalid,     ///< not a header this service accepts; error says why
    };
    Status status = Status::incomplete;
    std::size_t size = 0;
    /// The client and the address it connected to, as the balancer saw them. Unset for v2 LOCAL
    /// (the balancer's own health check), v1 UNKNOWN, and families without IP addresses: the
    /// connection's own ends stand.
    std::optional<boost::asio::ip::tcp::endpoint> source;
    std::optional<boost::asio::ip::tcp::endpoint> destination;
    std::string_view error;  ///< a static text
};

/// Reads a header from bytes, the connection's first bytes so far (at most max_proxy_header are
/// looked at), accepting the versions accepted allows.
ProxyHeader parse_proxy_header(std::string_view bytes, config::ProxyProtocol accepted);

}  // namespace netd
