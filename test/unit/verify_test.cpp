#include "verify/verify.hpp"

#include <boost/test/unit_test.hpp>

#include "verify/token_bucket.hpp"

using namespace netd;
namespace ip = boost::asio::ip;
using Clock = std::chrono::steady_clock;

namespace {

Peer tcp_peer(const char* address, std::uint16_t port = 40000) {
    return Peer{.transport = Transport::tcp,
                .port = port,
                .address = ip::make_address(address),
                .credentials = {}};
}

Peer udp_peer(const char* address, std::uint16_t port) {
    auto peer = tcp_peer(address, port);
    peer.transport = Transport::udp;
    return peer;
}

config::ServiceConfig service() {
    config::ServiceConfig s;
    s.name = "svc";
    s.udp_min_source_port = 0;
    return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(verify)

BOOST_AUTO_TEST_CASE(token_bucket_allows_a_burst_then_the_rate) {
    const auto t0 = Clock::now();
    TokenBucket bucket{.tokens = 5, .last = t0};
    int taken = 0;
    for (int i = 0; i < 10; ++i) {
        taken += bucket.take(t0, 5, 5) ? 1 : 0;
    }
    BOOST_TEST(taken == 5);
    BOOST_TEST(!bucket.take(t0 + std::chrono::milliseconds(100), 5, 5));
    BOOST_TEST(bucket.take(t0 + std::chrono::milliseconds(210), 5, 5));  // one token per 200 ms
    BOOST_TEST(!bucket.take(t0 + std::chrono::milliseconds(220), 5, 5));
}

BOOST_AUTO_TEST_CASE(token_bucket_table_throttles_only_the_noisy_source) {
    TokenBucketTable table(2);
    const auto now = Clock::now();
    const auto noisy = ip::make_address("10.0.0.1");
    BOOST_TEST(table.take(noisy, now));
    BOOST_TEST(table.take(noisy, now));
    BOOST_TEST(!table.take(noisy, now));
    BOOST_TEST(table.take(ip::make_address("10.0.0.2"), now));
    BOOST_TEST(table.take(ip::make_address("::1"), now));
}

BOOST_AUTO_TEST_CASE(token_bucket_table_never_refuses_a_newcomer_when_full) {
    TokenBucketTable table(1);
    const auto now = Clock::now();
    // Far more sources than the table holds, each seen once: none is refused.
    for (std::uint32_t i = 0; i < 4 * TokenBucketTable::capacity; ++i) {
        BOOST_TEST_REQUIRE(table.take(ip::address_v4(0x0a000000U + i), now));
    }
}

BOOST_AUTO_TEST_CASE(acl_deny_wins_and_mapped_ipv6_is_ipv4) {
    auto s = service();
    s.allow = {config::parse_cidr("127.0.0.0/8")};
    s.deny = {config::parse_cidr("127.0.0.2")};
    GlobalLimit global{.max = 100};
    auto owner = std::make_shared<VerifyChain>(s, global, std::make_shared<ServiceLoad>(),
                                               ServiceMetrics(s.name, 1));
    auto& chain = *owner;
    Admission admission;
    BOOST_TEST((chain.verify_stream(tcp_peer("127.0.0.1"), admission) == Verdict::accept));
    BOOST_TEST((chain.verify_stream(tcp_peer("127.0.0.2"), admission) == Verdict::refuse));
    BOOST_TEST((chain.verify_stream(tcp_peer("::ffff:127.0.0.2"), admission) == Verdict::refuse));
    BOOST_TEST((chain.verify_stream(tcp_peer("10.0.0.1"), admission) == Verdict::refuse));
    BOOST_TEST(!chain.verify_datagram(udp_peer("127.0.0.2", 5000)));
    const Peer unix_peer{
        .transport = Transport::unix_stream, .port = 0, .address = {}, .credentials = {}};
    BOOST_TEST((chain.verify_stream(unix_peer, admission) == Verdict::accept));
    BOOST_TEST(chain.rejected("acl") == 4U);
}

BOOST_AUTO_TEST_CASE(udp_guard_drops_datagrams_from_privileged_ports) {
    auto s = service();
    s.udp = {ip::tcp::endpoint(ip::make_address("127.0.0.1"), 7)};
    s.udp_min_source_port = 1024;
    GlobalLimit global{.max = 100};
    auto owner = std::make_shared<VerifyChain>(s, global, std::make_shared<ServiceLoad>(),
                                               ServiceMetrics(s.name, 1));
    auto& chain = *owner;
    BOOST_TEST(!chain.verify_datagram(udp_peer("127.0.0.1", 7)));
    BOOST_TEST(!chain.verify_datagram(udp_peer("127.0.0.1", 1023)));
    BOOST_TEST(chain.verify_datagram(udp_peer("127.0.0.1", 1024)));
    Admission admission;
    BOOST_TEST((chain.verify_stream(tcp_peer("127.0.0.1", 7), admission) == Verdict::accept));
}

BOOST_AUTO_TEST_CASE(limits_count_live_connections_until_their_admission_ends) {
    auto s = service();
    s.max_connections = 2;
    s.max_per_source = 1;
    GlobalLimit global{.max = 100};
    auto owner = std::make_shared<VerifyChain>(s, global, std::make_shared<ServiceLoad>(),
                                               ServiceMetrics(s.name, 1));
    auto& chain = *owner;
    Admission a;
    Admission b;
    Admission c;
    BOOST_TEST((chain.verify_stream(tcp_peer("127.0.0.1"), a) == Verdict::accept));
    BOOST_TEST((chain.verify_stream(tcp_peer("127.0.0.1"), b) == Verdict::busy));  // per source
    BOOST_TEST((chain.verify_stream(tcp_peer("127.0.0.2"), b) == Verdict::accept));
    BOOST_TEST((chain.verify_stream(tcp_peer("127.0.0.3"), c) == Verdict::busy));  // service
    BOOST_TEST(global.live.load() == 2U);
    a = Admission();  // the first connection ends
    BOOST_TEST(global.live.load() == 1U);
    BOOST_TEST((chain.verify_stream(tcp_peer("127.0.0.1"), c) == Verdict::accept));
    BOOST_TEST(chain.rejected("max_per_source") == 1U);
    BOOST_TEST(chain.rejected("max_connections") == 1U);
    BOOST_TEST(chain.verify_datagram(udp_peer("127.0.0.9", 5000)));  // limits are for streams
}

BOOST_AUTO_TEST_CASE(the_server_limit_spans_services) {
    GlobalLimit global{.max = 1};
    auto one_owner = std::make_shared<VerifyChain>(
        service(), global, std::make_shared<ServiceLoad>(), ServiceMetrics("svc", 1));
    auto two_owner = std::make_shared<VerifyChain>(
        service(), global, std::make_shared<ServiceLoad>(), ServiceMetrics("svc", 1));
    auto& one = *one_owner;
    auto& two = *two_owner;
    Admission a;
    Admission b;
    BOOST_TEST((one.verify_stream(tcp_peer("127.0.0.1"), a) == Verdict::accept));
    BOOST_TEST((two.verify_stream(tcp_peer("127.0.0.1"), b) == Verdict::busy));
}

BOOST_AUTO_TEST_CASE(limits_hold_across_chains_of_one_service) {
    // A reload builds a new chain for the service; it shares the service's load with the chain
    // before it, whose connections are still open.
    auto s = service();
    s.max_connections = 2;
    s.max_per_source = 1;
    s.rate = 1;
    GlobalLimit global{.max = 100};
    const auto load = std::make_shared<ServiceLoad>();
    auto before = std::make_shared<VerifyChain>(s, global, load, ServiceMetrics(s.name, 1));
    Admission a;
    Admission b;
    BOOST_TEST((before->verify_stream(tcp_peer("127.0.0.1"), a) == Verdict::accept));
    BOOST_TEST((before->verify_stream(tcp_peer("127.0.0.2"), b) == Verdict::accept));
    auto after = std::make_shared<VerifyChain>(s, global, load, ServiceMetrics(s.name, 1));
    before.reset();  // replaced: its admissions keep it alive
    Admission c;
    BOOST_TEST((after->verify_stream(tcp_peer("127.0.0.3"), c) == Verdict::busy));
    BOOST_TEST(after->rejected("rate") == 0U);
    b = Admission();
    // 127.0.0.1 still has its connection, and its token for this second is spent.
    BOOST_TEST((after->verify_stream(tcp_peer("127.0.0.1"), c) == Verdict::busy));
    BOOST_TEST(after->rejected("rate") == 1U);
    BOOST_TEST((after->verify_stream(tcp_peer("127.0.0.4"), c) == Verdict::accept));
    BOOST_TEST(global.live.load() == 2U);
    a = Admission();
    c = Admission();
    BOOST_TEST(load->connections.load() == 0U);
    BOOST_TEST(global.live.load() == 0U);
}

BOOST_AUTO_TEST_SUITE_END()
