#include "config/values.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace netd::config {

namespace ip = boost::asio::ip;

std::string_view trim(std::string_view text) {
    constexpr std::string_view blanks = " \t\r\n";
    const auto first = text.find_first_not_of(blanks);
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = text.find_last_not_of(blanks);
    return text.substr(first, last - first + 1);
}

std::uint64_t parse_unsigned(std::string_view text, std::uint64_t min, std::uint64_t max) {
    std::uint64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
        throw ValueError("'" + std::string(text) + "' is not a whole number");
    }
    if (ec == std::errc::result_out_of_range || value < min || value > max) {
        throw ValueError("'" + std::string(text) + "' is out of range (" + std::to_string(min) +
                         " to " + std::to_string(max) + ")");
    }
    return value;
}

/// A size: a number of bytes with an optional K, M, G (or KiB, MiB, GiB, KB, MB, GB: all
/// powers of 1024) after it, a space between allowed.
std::uint64_t parse_size(std::string_view text) {
    const auto unit_at = text.find_first_not_of("0123456789");
    const std::string_view digits = text.substr(0, unit_at);
    std::string_view unit =
        unit_at == std::string_view::npos ? std::string_view{} : trim(text.substr(unit_at));
    std::uint64_t scale = 1;
    if (!unit.empty()) {
        const char first = static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0])));
        const std::string_view tail = unit.substr(1);
        if ((first != 'K' && first != 'M' && first != 'G') ||
            (!tail.empty() && tail != "iB" && tail != "B" && tail != "ib" && tail != "b")) {
            throw ValueError("'" + std::string(text) +
                             "' is not a size (bytes, or a number with K, M or G)");
        }
        scale = first == 'K' ? 1024 : first == 'M' ? 1024 * 1024 : 1024 * 1024 * 1024;
    }
    const std::uint64_t number = parse_unsigned(digits, 0, UINT64_MAX / scale);
    return number * scale;
}

bool parse_bool(std::string_view text) {
    static constexpr std::array<std::string_view, 4> yes{"true", "yes", "on", "1"};
    static constexpr std::array<std::string_view, 4> no{"false", "no", "off", "0"};
    if (std::find(yes.begin(), yes.end(), text) != yes.end()) {
        return true;
    }
    if (std::find(no.begin(), no.end(), text) != no.end()) {
        return false;
    }
    throw ValueError("'" + std::string(text) + "' is not a boolean (true or false)");
}

std::vector<std::string> parse_list(std::string_view text) {
    std::vector<std::string> items;
    if (trim(text).empty()) {
        return items;
    }
    for (;;) {
        const auto comma = text.find(',');
        const auto item = trim(text.substr(0, comma));
        if (item.empty()) {
            throw ValueError("empty item in the comma-separated list");
        }
        items.emplace_back(item);
        if (comma == std::string_view::npos) {
            return items;
        }
        text.remove_prefix(comma + 1);
    }
}

namespace {

ip::address parse_address(std::string_view text) {
    boost::system::error_code ec;
    auto address = ip::make_address(std::string(text), ec);
    if (ec) {
        throw ValueError("'" + std::string(text) + "' is not an IP address");
    }
    return address;
}

/// IPv4-mapped IPv6 (::ffff:a.b.c.d) as the IPv4 address it carries; anything else unchanged.
ip::address unmapped(const ip::address& address) {
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        return ip::make_address_v4(ip::v4_mapped, address.to_v6());
    }
    return address;
}

}  // namespace

ip::tcp::endpoint parse_endpoint(std::string_view text) {
    const std::string shown(text);
    std::string_view host;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            throw ValueError("'" + shown + "' is not [IPv6]:PORT");
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        if (!parse_address(host).is_v6()) {
            throw ValueError("'" + shown + "': only IPv6 addresses go in brackets");
        }
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            throw ValueError("'" + shown + "' has no port (expected HOST:PORT)");
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            throw ValueError("'" + shown + "': write an IPv6 address as [ADDRESS]:PORT");
        }
    }
    std::uint64_t number = 0;
    try {
        number = parse_unsigned(port, 0, 65535);
    } catch (const ValueError&) {
        throw ValueError("'" + shown + "' has a bad port (expected 0 to 65535)");
    }
    return {parse_address(host), static_cast<unsigned short>(number)};
}

Cidr parse_cidr(std::string_view text) {
    const auto slash = text.find('/');
    const auto address = parse_address(trim(text.substr(0, slash)));
    const unsigned width = address.is_v4() ? 32 : 128;
    unsigned prefix = width;
    if (slash != std::string_view::npos) {
        try {
            prefix = static_cast<unsigned>(parse_unsigned(trim(text.substr(slash + 1)), 0, width));
        } catch (const ValueError&) {
            throw ValueError("'" + std::string(text) + "' has a bad prefix length (0 to " +
                             std::to_string(width) + ")");
        }
    }
    if (address.is_v6() && address.to_v6().is_v4_mapped() && prefix >= 96) {
        return Cidr{unmapped(address), prefix - 96};
    }
    return Cidr{address, prefix};
}

namespace {

/// Whether the first prefix bits of two equally long byte arrays agree.
template <std::size_t N>
bool same_prefix(const std::array<unsigned char, N>& a, const std::array<unsigned char, N>& b,
                 unsigned prefix) {
    const unsigned whole = prefix / 8;
    if (!std::equal(a.begin(), a.begin() + whole, b.begin())) {
        return false;
    }
    const unsigned rest = prefix % 8;
    if (rest == 0) {
        return true;
    }
    const auto mask = static_cast<unsigned char>(0xFFU << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

bool Cidr::contains(const ip::address& candidate) const {
    const auto address = unmapped(candidate);
    if (address.is_v4() && network.is_v4()) {
        return same_prefix(address.to_v4().to_bytes(), network.to_v4().to_bytes(), prefix);
    }
    if (address.is_v6() && network.is_v6()) {
        return same_prefix(address.to_v6().to_bytes(), network.to_v6().to_bytes(), prefix);
    }
    return false;
}

std::string Cidr::to_string() const {
    return network.to_string() + "/" + std::to_string(prefix);
}

}  // namespace netd::config
