#pragma once
// Turning one config value's text into a typed value. Every parser throws ValueError with a message
// that completes the sentence "<file>: [section] key: ..."; the caller adds where the value came
// from.

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace netd::config {

/// A value that cannot be used; what() says why, without naming the key (the caller knows it).
class ValueError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// A decimal integer in [min, max]; no sign, no spaces, no suffix.
std::uint64_t parse_unsigned(std::string_view text, std::uint64_t min, std::uint64_t max);

/// A size in bytes: a number, optionally followed (a space between allowed) by K, M or G, or
/// KiB, MiB, GiB, KB, MB, GB, all powers of 1024.
std::uint64_t parse_size(std::string_view text);

/// true/false, yes/no, on/off, 1/0.
bool parse_bool(std::string_view text);

/// Comma-separated items, each trimmed; empty items are an error, an empty text is an empty list.
std::vector<std::string> parse_list(std::string_view text);

/// An IP literal and a port: "127.0.0.1:7007", "[::1]:7007", "0.0.0.0:0" (port 0 = any free port).
boost::asio::ip::tcp::endpoint parse_endpoint(std::string_view text);

/// An address block: "10.0.0.0/8", "::1", "2001:db8::/32". An IPv4-mapped IPv6 block is stored as
/// IPv4 so that matching treats the two spellings alike.
struct Cidr {
    boost::asio::ip::address network;
    unsigned prefix = 0;

    /// Whether address lies inside the block; IPv4-mapped IPv6 addresses match IPv4 blocks.
    bool contains(const boost::asio::ip::address& candidate) const;
    std::string to_string() const;
};
Cidr parse_cidr(std::string_view text);

/// Text with surrounding blanks removed.
std::string_view trim(std::string_view text);

}  // namespace netd::config
