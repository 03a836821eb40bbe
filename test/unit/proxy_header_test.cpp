#include "net/proxy_header.hpp"

#include <arpa/inet.h>

#include <boost/test/unit_test.hpp>
#include <string>

using namespace netd;
using config::ProxyProtocol;
using Status = ProxyHeader::Status;

namespace {

std::string v2(std::uint8_t version_command, std::uint8_t family_protocol,
               const std::string& body) {
    std::string header(proxy_v2_signature);
    header += static_cast<char>(version_command);
    header += static_cast<char>(family_protocol);
    header += static_cast<char>(body.size() >> 8U);
    header += static_cast<char>(body.size() & 0xFFU);
    return header + body;
}

std::string ipv4_block(const char* source, const char* destination, std::uint16_t sport,
                       std::uint16_t dport) {
    std::string block(12, '\0');
    ::inet_pton(AF_INET, source, block.data());
    ::inet_pton(AF_INET, destination, block.data() + 4);
    block[8] = static_cast<char>(sport >> 8U);
    block[9] = static_cast<char>(sport & 0xFFU);
    block[10] = static_cast<char>(dport >> 8U);
    block[11] = static_cast<char>(dport & 0xFFU);
    return block;
}

std::string text_of(const std::optional<boost::asio::ip::tcp::endpoint>& endpoint) {
    if (!endpoint) {
        return "-";
    }
    return endpoint->address().to_string() + " " + std::to_string(endpoint->port());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(proxy_header)

BOOST_AUTO_TEST_CASE(v1_tcp4_and_tcp6_give_both_ends_and_their_exact_length) {
    const std::string header = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n";
    const auto parsed = parse_proxy_header(header + "GET / HTTP/1.0\r\n", ProxyProtocol::v1);
    BOOST_TEST((parsed.status == Status::complete));
    BOOST_TEST(parsed.size == header.size());
    BOOST_TEST(text_of(parsed.source) == "192.0.2.7 56324");
    BOOST_TEST(text_of(parsed.destination) == "198.51.100.1 443");

    const auto six =
        parse_proxy_header("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n", ProxyProtocol::any);
    BOOST_TEST((six.status == Status::complete));
    BOOST_TEST(text_of(six.source) == "2001:db8::1 65535");
    BOOST_TEST(text_of(six.destination) == "::1 0");
}

BOOST_AUTO_TEST_CASE(v1_unknown_means_the_socket_peer_whatever_follows_it) {
    for (const std::string header : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ::1 1 2\r\n"}) {
        const auto parsed = parse_proxy_header(header + "x", ProxyProtocol::v1);
        BOOST_TEST((parsed.status == Status::complete), header);
        BOOST_TEST(parsed.size == header.size());
        BOOST_TEST(!parsed.source.has_value());
    }
}

BOOST_AUTO_TEST_CASE(every_prefix_of_a_header_is_incomplete_never_a_guess) {
    const std::string headers[] = {
        "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n",
        v2(0x21, 0x11, ipv4_block("192.0.2.7", "198.51.100.1", 56324, 443)),
    };
    for (const auto& header : headers) {
        for (std::size_t n = 0; n < header.size(); ++n) {
            BOOST_TEST((parse_proxy_header(header.substr(0, n), ProxyProtocol::any).status ==
                        Status::incomplete),
                       n);
        }
        BOOST_TEST((parse_proxy_header(header, ProxyProtocol::any).status == Status::complete));
    }
}

BOOST_AUTO_TEST_CASE(malformed_v1_headers_are_refused_with_a_reason) {
    const char* bad[] = {
        "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\n",      // LF alone
        "PROXY TCP4  192.0.2.7 198.51.100.1 56324 443\r\n",   // two spaces
        "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443 \r\n",   // trailing space
        "PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n",        // a port missing
        "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443 9\r\n",  // a field too many
        "PROXY TCP4 2001:db8::1 198.51.100.1 56324 443\r\n",  // IPv6 in TCP4
        "PROXY TCP6 192.0.2.7 ::1 56324 443\r\n",             // IPv4 in TCP6
        "PROXY TCP4 192.0.2.7 198.51.100.1 65536 443\r\n",    // port too large
        "PROXY TCP4 192.0.2.7 198.51.100.1 0443 443\r\n",     // leading zero
        "PROXY TCP4 192.0.2.7 198.51.100.1 -1 443\r\n",       // sign
        "PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n",          // not TCP
        "PROXY tcp4 192.0.2.7 198.51.100.1 1 2\r\n",          // case
        "PROXY TCP4 192.0.2.256 198.51.100.1 1 2\r\n",        // not an address
        "GET / HTTP/1.1\r\n",                                 // no header at all
        "PROXX TCP4",                                         // wrong from the 5th byte
    };
    for (const auto* text : bad) {
        const auto parsed = parse_proxy_header(text, ProxyProtocol::any);
        BOOST_TEST((parsed.status == Status::invalid), text);
        BOOST_TEST(!parsed.error.empty());
    }
    // No CRLF within 107 bytes: refused there, not read on.
    const std::string long_line = "PROXY UNKNOWN " + std::string(200, 'a');
    BOOST_TEST((parse_proxy_header(long_line.substr(0, 106), ProxyProtocol::v1).status ==
                Status::incomplete));
    BOOST_TEST((parse_proxy_header(long_line, ProxyProtocol::v1).status == Status::invalid));
}

BOOST_AUTO_TEST_CASE(v2_proxy_local_unspec_and_unix) {
    const auto body = ipv4_block("203.0.113.9", "10.0.0.1", 40000, 7007);
    const auto tlv = std::string(
        "\x04\x00\x03"
        "abc",
        6);  // a NOOP TLV after the addresses
    const auto header = v2(0x21, 0x11, body + tlv);
    const auto parsed = parse_proxy_header(header + "hello\n", ProxyProtocol::v2);
    BOOST_TEST((parsed.status == Status::complete));
    BOOST_TEST(parsed.size == header.size());
    BOOST_TEST(text_of(parsed.source) == "203.0.113.9 40000");
    BOOST_TEST(text_of(parsed.destination) == "10.0.0.1 7007");

    std::string six(36, '\0');
    ::inet_pton(AF_INET6, "2001:db8::5", six.data());
    ::inet_pton(AF_INET6, "2001:db8::1", six.data() + 16);
    six[32] = '\x01';
    six[33] = '\x02';
    const auto ipv6 = parse_proxy_header(v2(0x21, 0x21, six), ProxyProtocol::v2);
    BOOST_TEST(text_of(ipv6.source) == "2001:db8::5 258");

    // LOCAL (a balancer's own health check), UNSPEC and AF_UNIX: the socket's peer stands.
    for (const auto& other : {v2(0x20, 0x00, ""), v2(0x20, 0x11, body), v2(0x21, 0x00, ""),
                              v2(0x21, 0x31, std::string(216, '\0'))}) {
        const auto result = parse_proxy_header(other, ProxyProtocol::v2);
        BOOST_TEST((result.status == Status::complete));
        BOOST_TEST(result.size == other.size());
        BOOST_TEST(!result.source.has_value());
    }
}

BOOST_AUTO_TEST_CASE(malformed_v2_headers_are_refused_as_soon_as_they_show_it) {
    const auto body = ipv4_block("203.0.113.9", "10.0.0.1", 40000, 7007);
    const std::string bad[] = {
        v2(0x11, 0x11, body),                    // version 1 in the binary form
        v2(0x22, 0x11, body),                    // command 2
        v2(0x21, 0x41, body),                    // family 4
        v2(0x21, 0x13, body),                    // protocol 3
        v2(0x21, 0x11, body.substr(0, 11)),      // too short for IPv4 addresses
        v2(0x21, 0x21, body),                    // too short for IPv6 addresses
        v2(0x21, 0x31, std::string(100, '\0')),  // too short for Unix addresses
    };
    for (const auto& header : bad) {
        const auto fixed = parse_proxy_header(header.substr(0, 16), ProxyProtocol::v2);
        BOOST_TEST((fixed.status == Status::invalid), fixed.error);
    }
    // A length past max_proxy_header is refused from the 16 fixed bytes on.
    const auto huge = v2(0x21, 0x11, std::string(max_proxy_header, '\0'));
    BOOST_TEST(
        (parse_proxy_header(huge.substr(0, 16), ProxyProtocol::v2).status == Status::invalid));
}

BOOST_AUTO_TEST_CASE(a_version_the_service_does_not_take_is_refused) {
    const auto binary = v2(0x21, 0x11, ipv4_block("203.0.113.9", "10.0.0.1", 1, 2));
    BOOST_TEST((parse_proxy_header(binary, ProxyProtocol::v1).status == Status::invalid));
    BOOST_TEST(
        (parse_proxy_header("PROXY UNKNOWN\r\n", ProxyProtocol::v2).status == Status::invalid));
    // From its first byte: a v1-only service does not wait for the rest of a v2 signature.
    BOOST_TEST((parse_proxy_header("\r", ProxyProtocol::v1).status == Status::invalid));
    BOOST_TEST((parse_proxy_header("P", ProxyProtocol::v2).status == Status::invalid));
}

BOOST_AUTO_TEST_SUITE_END()
