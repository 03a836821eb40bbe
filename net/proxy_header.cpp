#include "net/proxy_header.hpp"

#include <algorithm>
#include <array>
#include <string>

namespace netd {

namespace {

using Status = ProxyHeader::Status;
namespace ip = boost::asio::ip;

constexpr std::string_view v1_prefix = "PROXY ";
/// v1: "PROXY TCP6 " + two addresses of 39 bytes + two ports of 5 + three spaces + CRLF.
constexpr std::size_t v1_max = 107;
constexpr std::size_t v2_fixed = 16;

ProxyHeader invalid(std::string_view why) {
    return ProxyHeader{.status = Status::invalid,
                       .size = 0,
                       .source = std::nullopt,
                       .destination = std::nullopt,
                       .error = why};
}

ProxyHeader incomplete() {
    return {};
}

ProxyHeader complete(std::size_t size, std::optional<ip::tcp::endpoint> source = std::nullopt,
                     std::optional<ip::tcp::endpoint> destination = std::nullopt) {
    return ProxyHeader{.status = Status::complete,
                       .size = size,
                       .source = source,
                       .destination = destination,
                       .error = {}};
}

/// Whether bytes could still become prefix (or already begin with it).
bool may_begin(std::string_view bytes, std::string_view prefix) {
    const auto n = std::min(bytes.size(), prefix.size());
    return bytes.substr(0, n) == prefix.substr(0, n);
}

/// A v1 port: decimal 0 to 65535, without a sign or leading zeros.
std::optional<std::uint16_t> v1_port(std::string_view text) {
    if (text.empty() || text.size() > 5 || (text.size() > 1 && text.front() == '0') ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    unsigned value = 0;
    for (const char c : text) {
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(value);
}

/// A v1 address of the family its protocol names (TCP4: dotted quad, TCP6: RFC 4291 text).
std::optional<ip::address> v1_address(std::string_view text, bool v6) {
    boost::system::error_code ec;
    const std::string copy(text);
    if (v6) {
        const auto address = ip::make_address_v6(copy, ec);
        if (ec || address.scope_id() != 0) {
            return std::nullopt;
        }
        return ip::address(address);
    }
    const auto address = ip::make_address_v4(copy, ec);
    if (ec) {
        return std::nullopt;
    }
    return ip::address(address);
}

/// "PROXY TCP4 SRC DST SPORT DPORT\r\n", fields separated by one space, or "PROXY UNKNOWN"
/// followed by anything up to the CRLF.
ProxyHeader parse_v1(std::string_view bytes) {
    const auto end = bytes.substr(0, v1_max).find('\n');
    if (end == std::string_view::npos) {
        return bytes.size() >= v1_max ? invalid("a v1 header without CRLF in its first 107 bytes")
                                      : incomplete();
    }
    if (bytes[end - 1] != '\r') {
        return invalid("a v1 header ending in LF without CR");
    }
    std::string_view line = bytes.substr(v1_prefix.size(), end - 1 - v1_prefix.size());
    std::array<std::string_view, 5> fields{};
    std::size_t count = 0;
    while (count < fields.size()) {
        const auto space = line.find(' ');
        fields[count++] = line.substr(0, space);
        if (fields[0] == "UNKNOWN") {
            return complete(end + 1);  // whatever follows is the balancer's business
        }
        if (space == std::string_view::npos) {
            break;
        }
        line.remove_prefix(space + 1);
    }
    const bool tcp4 = fields[0] == "TCP4";
    if (!tcp4 && fields[0] != "TCP6") {
        return invalid("a v1 header with a protocol other than TCP4, TCP6 or UNKNOWN");
    }
    if (count != fields.size() || line.find(' ') != std::string_view::npos || line != fields[4]) {
        return invalid("a v1 header without exactly two addresses and two ports");
    }
    const auto source = v1_address(fields[1], !tcp4);
    const auto destination = v1_address(fields[2], !tcp4);
    if (!source || !destination) {
        return invalid(tcp4 ? "a v1 TCP4 header with an address that is not IPv4"
                            : "a v1 TCP6 header with an address that is not IPv6");
    }
    const auto source_port = v1_port(fields[3]);
    const auto destination_port = v1_port(fields[4]);
    if (!source_port || !destination_port) {
        return invalid("a v1 header with a port that is not 0 to 65535");
    }
    return complete(end + 1, ip::tcp::endpoint(*source, *source_port),
                    ip::tcp::endpoint(*destination, *destination_port));
}

std::uint8_t byte_at(std::string_view bytes, std::size_t i) {
    return static_cast<std::uint8_t>(bytes[i]);
}

std::uint16_t u16_at(std::string_view bytes, std::size_t i) {
    return static_cast<std::uint16_t>(byte_at(bytes, i) << 8U | byte_at(bytes, i + 1));
}

/// The 16 fixed bytes (signature, version and command, family and protocol, length), then the
/// addresses and TLVs.
ProxyHeader parse_v2(std::string_view bytes) {
    if (bytes.size() < v2_fixed) {
        return incomplete();
    }
    const std::uint8_t version = byte_at(bytes, 12) >> 4U;
    const std::uint8_t command = byte_at(bytes, 12) & 0x0FU;
    const std::uint8_t family = byte_at(bytes, 13) >> 4U;
    const std::uint8_t protocol = byte_at(bytes, 13) & 0x0FU;
    if (version != 2) {
        return invalid("a v2 header of another version");
    }
    if (command > 1) {
        return invalid("a v2 header with a command other than LOCAL or PROXY");
    }
    if (family > 3 || protocol > 2) {
        return invalid("a v2 header with an unknown address family or protocol");
    }
    const std::size_t size = v2_fixed + u16_at(bytes, 14);
    if (size > max_proxy_header) {
        return invalid("a v2 header longer than 4096 bytes");
    }
    constexpr std::array<std::size_t, 4> address_block{0, 12, 36, 216};  // by family
    const bool proxied = command == 1;
    if (proxied && size - v2_fixed < address_block[family]) {
        return invalid("a v2 header too short for the addresses of its family");
    }
    if (bytes.size() < size) {
        return incomplete();
    }
    if (!proxied || (family != 1 && family != 2)) {
        // LOCAL: the balancer speaking for itself; UNSPEC and AF_UNIX: no IP addresses to use.
        return complete(size);
    }
    const auto at = bytes.data() + v2_fixed;
    ip::address source;
    ip::address destination;
    std::size_t ports = 0;
    if (family == 1) {
        ip::address_v4::bytes_type a{};
        ip::address_v4::bytes_type b{};
        std::copy_n(at, a.size(), a.begin());
        std::copy_n(at + a.size(), b.size(), b.begin());
        source = ip::address_v4(a);
        destination = ip::address_v4(b);
        ports = v2_fixed + 8;
    } else {
        ip::address_v6::bytes_type a{};
        ip::address_v6::bytes_type b{};
        std::copy_n(at, a.size(), a.begin());
        std::copy_n(at + a.size(), b.size(), b.begin());
        source = ip::address_v6(a);
        destination = ip::address_v6(b);
        ports = v2_fixed + 32;
    }
    return complete(size, ip::tcp::endpoint(source, u16_at(bytes, ports)),
                    ip::tcp::endpoint(destination, u16_at(bytes, ports + 2)));
}

}  // namespace

ProxyHeader parse_proxy_header(std::string_view bytes, config::ProxyProtocol accepted) {
    bytes = bytes.substr(0, max_proxy_header);
    if (bytes.empty()) {
        return incomplete();
    }
    const bool v1 = accepted == config::ProxyProtocol::v1 || accepted == config::ProxyProtocol::any;
    const bool v2 = accepted == config::ProxyProtocol::v2 || accepted == config::ProxyProtocol::any;
    if (may_begin(bytes, v1_prefix)) {
        if (!v1) {
            return invalid("a v1 header, and proxy_protocol accepts v2 only");
        }
        return bytes.size() < v1_prefix.size() ? incomplete() : parse_v1(bytes);
    }
    if (may_begin(bytes, proxy_v2_signature)) {
        if (!v2) {
            return invalid("a v2 header, and proxy_protocol accepts v1 only");
        }
        return bytes.size() < proxy_v2_signature.size() ? incomplete() : parse_v2(bytes);
    }
    return invalid("no PROXY protocol header");
}

}  // namespace netd
