#include <boost/test/unit_test.hpp>

#include "handlers/registry.hpp"

using namespace netd;

namespace {

std::unique_ptr<Handler> make_echo() {
    const auto* spec = find_handler("echo");
    BOOST_REQUIRE(spec != nullptr);
    config::ServiceConfig service;
    service.name = "echo";
    return spec->make(service);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(echo)

BOOST_AUTO_TEST_CASE(stream_returns_every_byte_in_order) {
    auto handler = make_echo();
    auto session = handler->open_session(Peer{});
    std::string buffer;
    Output out(buffer);
    session->setup(out);
    BOOST_TEST(out.pending().empty());
    const std::string binary("a\0b\r\n\xff", 6);
    session->handle(binary, out);
    session->handle("more", out);
    BOOST_TEST(out.pending() == binary + "more");
    BOOST_TEST(!out.close_requested());
    session->finish(out);
    BOOST_TEST(out.pending() == binary + "more");
}

BOOST_AUTO_TEST_CASE(datagram_comes_back_whole) {
    auto handler = make_echo();
    std::string buffer;
    Output out(buffer);
    const std::string payload(65507, 'x');
    handler->datagram(
        payload, Peer{.transport = Transport::udp, .port = 5000, .address = {}, .credentials = {}},
        out);
    BOOST_TEST((out.pending() == payload));  // (( )): a mismatch is not worth printing 64 KiB
    BOOST_TEST(out.replied());
}

BOOST_AUTO_TEST_CASE(empty_datagram_gets_an_empty_reply) {
    auto handler = make_echo();
    std::string buffer;
    Output out(buffer);
    BOOST_TEST(!out.replied());
    handler->datagram("", Peer{}, out);
    BOOST_TEST(out.pending().empty());
    BOOST_TEST(out.replied());
}

BOOST_AUTO_TEST_CASE(output_keeps_the_order_of_borrowed_and_copied_writes) {
    std::string buffer;
    Output out(buffer);
    const std::string input = "abc";
    out.write_input(input);
    BOOST_TEST(out.pending().data() == input.data());  // not copied
    out.write("def");
    out.write_input("ghi");
    BOOST_TEST(out.pending() == "abcdefghi");
}

BOOST_AUTO_TEST_CASE(registry_finds_by_name) {
    BOOST_TEST(find_handler("echo") != nullptr);
    BOOST_TEST(find_handler("echo")->stream);
    BOOST_TEST(find_handler("echo")->datagram);
    BOOST_TEST(find_handler("no-such-handler") == nullptr);
}

BOOST_AUTO_TEST_CASE(peers_are_written_for_logs) {
    namespace ip = boost::asio::ip;
    BOOST_TEST((Peer{Transport::tcp, 80, ip::make_address("127.0.0.1"), {}}.to_string()) ==
               "127.0.0.1:80");
    BOOST_TEST((Peer{Transport::udp, 7, ip::make_address("::1"), {}}.to_string()) == "[::1]:7");
    // A Unix client is the process the kernel names: pid and uid.
    const PeerCredentials root{.pid = 4194304, .uid = 0, .gid = 0};
    BOOST_TEST((Peer{Transport::unix_stream, 0, {}, root}.to_string()) == "unix:4194304:0");
    const PeerCredentials far{.pid = 0, .uid = 4294967294U, .gid = 4294967294U};
    BOOST_TEST((Peer{Transport::unix_datagram, 0, {}, far}.to_string()) == "unix:0:4294967294");
    BOOST_TEST((Peer{Transport::unix_stream, 0, {}, {}}.to_string()) == "unix");
}

BOOST_AUTO_TEST_CASE(a_peer_is_appended_to_a_reused_buffer) {
    std::string text = "kept ";
    Peer{Transport::unix_datagram, 0, {}, {.pid = 42, .uid = 1000, .gid = 100}}.append_to(text);
    BOOST_TEST(text == "kept unix:42:1000");
}

BOOST_AUTO_TEST_CASE(a_peer_stays_small) {
    // Every connection's Admission holds one (docs/BENCHMARKS.md, memory per idle connection).
    BOOST_TEST(sizeof(Peer) <= 44U);
}

BOOST_AUTO_TEST_SUITE_END()
