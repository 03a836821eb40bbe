#include "config/values.hpp"

#include <boost/test/unit_test.hpp>

using namespace netd::config;
namespace ip = boost::asio::ip;

BOOST_AUTO_TEST_SUITE(values)

BOOST_AUTO_TEST_CASE(unsigned_numbers) {
    BOOST_TEST(parse_unsigned("0", 0, 10) == 0U);
    BOOST_TEST(parse_unsigned("10", 0, 10) == 10U);
    BOOST_CHECK_THROW(parse_unsigned("11", 0, 10), ValueError);
    BOOST_CHECK_THROW(parse_unsigned("", 0, 10), ValueError);
    BOOST_CHECK_THROW(parse_unsigned("-1", 0, 10), ValueError);
    BOOST_CHECK_THROW(parse_unsigned("+1", 0, 10), ValueError);
    BOOST_CHECK_THROW(parse_unsigned("1x", 0, 10), ValueError);
    BOOST_CHECK_THROW(parse_unsigned("99999999999999999999999", 0, 10), ValueError);
}

BOOST_AUTO_TEST_CASE(sizes) {
    BOOST_TEST(parse_size("1048576") == 1048576U);
    BOOST_TEST(parse_size("64KiB") == 65536U);
    BOOST_TEST(parse_size("64 K") == 65536U);
    BOOST_TEST(parse_size("10M") == 10U * 1024 * 1024);
    BOOST_TEST(parse_size("2 GiB") == 2ULL * 1024 * 1024 * 1024);
    BOOST_TEST(parse_size("1gb") == 1ULL * 1024 * 1024 * 1024);
    for (const char* bad : {"", "K", "10 parsecs", "10KiBs", "-1", "1.5G", "99999999999999G"}) {
        BOOST_CHECK_THROW(parse_size(bad), ValueError);
    }
}

BOOST_AUTO_TEST_CASE(booleans) {
    BOOST_TEST(parse_bool("true"));
    BOOST_TEST(parse_bool("on"));
    BOOST_TEST(!parse_bool("false"));
    BOOST_TEST(!parse_bool("0"));
    BOOST_CHECK_THROW(parse_bool("maybe"), ValueError);
}

BOOST_AUTO_TEST_CASE(lists) {
    BOOST_TEST(parse_list("").empty());
    BOOST_TEST(parse_list("   ").empty());
    const auto items = parse_list(" a , b,c ");
    BOOST_TEST(items.size() == 3U);
    BOOST_TEST(items[0] == "a");
    BOOST_TEST(items[2] == "c");
    BOOST_CHECK_THROW(parse_list("a,,b"), ValueError);
    BOOST_CHECK_THROW(parse_list("a,"), ValueError);
}

BOOST_AUTO_TEST_CASE(endpoints) {
    const auto v4 = parse_endpoint("127.0.0.1:7007");
    BOOST_TEST(v4.address() == ip::make_address("127.0.0.1"));
    BOOST_TEST(v4.port() == 7007);
    const auto v6 = parse_endpoint("[::1]:0");
    BOOST_TEST(v6.address() == ip::make_address("::1"));
    BOOST_TEST(v6.port() == 0);
    BOOST_CHECK_THROW(parse_endpoint("127.0.0.1"), ValueError);
    BOOST_CHECK_THROW(parse_endpoint("127.0.0.1:65536"), ValueError);
    BOOST_CHECK_THROW(parse_endpoint("127.0.0.1:"), ValueError);
    BOOST_CHECK_THROW(parse_endpoint("::1:7"), ValueError);
    BOOST_CHECK_THROW(parse_endpoint("[::1]7"), ValueError);
    BOOST_CHECK_THROW(parse_endpoint("[127.0.0.1]:7"), ValueError);
    BOOST_CHECK_THROW(parse_endpoint("localhost:7"), ValueError);
    BOOST_CHECK_THROW(parse_endpoint("300.1.1.1:7"), ValueError);
}

BOOST_AUTO_TEST_CASE(cidr_v4) {
    const auto block = parse_cidr("10.1.0.0/16");
    BOOST_TEST(block.contains(ip::make_address("10.1.200.3")));
    BOOST_TEST(!block.contains(ip::make_address("10.2.0.1")));
    BOOST_TEST(!block.contains(ip::make_address("::1")));
    const auto odd = parse_cidr("192.168.1.128/25");
    BOOST_TEST(odd.contains(ip::make_address("192.168.1.200")));
    BOOST_TEST(!odd.contains(ip::make_address("192.168.1.127")));
    BOOST_TEST(parse_cidr("0.0.0.0/0").contains(ip::make_address("8.8.8.8")));
    BOOST_TEST(parse_cidr("127.0.0.1").prefix == 32U);
    BOOST_CHECK_THROW(parse_cidr("10.0.0.0/33"), ValueError);
    BOOST_CHECK_THROW(parse_cidr("10.0.0/8"), ValueError);
}

BOOST_AUTO_TEST_CASE(cidr_v6_and_mapped) {
    const auto block = parse_cidr("2001:db8::/32");
    BOOST_TEST(block.contains(ip::make_address("2001:db8:1::5")));
    BOOST_TEST(!block.contains(ip::make_address("2001:db9::1")));
    BOOST_TEST(parse_cidr("::1").contains(ip::make_address("::1")));
    // An IPv4-mapped client matches an IPv4 block, and a mapped block is an IPv4 block.
    BOOST_TEST(parse_cidr("127.0.0.0/8").contains(ip::make_address("::ffff:127.0.0.9")));
    const auto mapped = parse_cidr("::ffff:10.0.0.0/104");
    BOOST_TEST(mapped.network.is_v4());
    BOOST_TEST(mapped.prefix == 8U);
    BOOST_TEST(mapped.contains(ip::make_address("10.9.9.9")));
    BOOST_CHECK_THROW(parse_cidr("::/129"), ValueError);
}

BOOST_AUTO_TEST_SUITE_END()
