#include <boost/test/unit_test.hpp>

#include "handlers/time.hpp"
#include "test/unit/built_handler.hpp"

using namespace netd;
using namespace netd::test;

namespace {

bool looks_like_default_time(std::string_view text) {
    // %Y-%m-%d %X in the C locale: 2026-11-22 23:30:59
    return text.size() == 19 && text[4] == '-' && text[7] == '-' && text[10] == ' ' &&
           text[13] == ':' && text[16] == ':';
}

}  // namespace

BOOST_AUTO_TEST_SUITE(timefmt)

BOOST_AUTO_TEST_CASE(lines_are_answered_with_their_own_line_end) {
    auto built = build("timefmt");
    const auto [reply, closed] = converse(*built.handler, {"%Y\n", "%Y\r\n"});
    BOOST_TEST(!closed);
    BOOST_REQUIRE(reply.size() == 4 + 1 + 4 + 2);
    BOOST_TEST(reply.substr(4, 1) == "\n");
    BOOST_TEST(reply.substr(9, 2) == "\r\n");
}

BOOST_AUTO_TEST_CASE(an_empty_line_means_the_default_format) {
    auto built = build("timefmt");
    const auto reply = converse(*built.handler, {"\r\n"}).first;
    BOOST_TEST(looks_like_default_time(reply.substr(0, reply.size() - 2)), reply);
    auto custom = build("timefmt", {{"default_format", "[%H]"}});
    BOOST_TEST(converse(*custom.handler, {"\n"}).first.size() == 5U);
}

BOOST_AUTO_TEST_CASE(banner_then_pipelined_requests_in_order) {
    auto built = build("timefmt", {{"banner", "hello"}});
    const auto reply = converse(*built.handler, {"a%%\nb\n%k\nc"}, true).first;
    BOOST_TEST(reply == "hello\r\na%\nb\nerror: unsupported conversion %k\nc\n");
}

BOOST_AUTO_TEST_CASE(errors_keep_the_connection_open) {
    auto built = build("timefmt");
    std::string sixty_c;
    for (int i = 0; i < 60; ++i) {
        sixty_c += "%c";
    }
    const auto [reply, closed] = converse(
        *built.handler, {"%\n", "a\tb\n", std::string(300, 'x') + "\n", sixty_c + "\n", "ok\n"});
    BOOST_TEST(reply ==
               "error: format ends in a lone %\nerror: control byte in format\n"
               "error: format longer than 256 bytes\nerror: output longer than 1024 bytes\nok\n");
    BOOST_TEST(!closed);
}

BOOST_AUTO_TEST_CASE(a_line_over_max_line_closes_the_connection) {
    auto built = build("timefmt", {{"max_line", "16"}});
    const auto [reply, closed] =
        converse(*built.handler, {"ok\r\n" + std::string(17, 'x') + "\r\nlater\r\n"});
    BOOST_TEST(reply == "ok\r\nerror: line too long\r\n");
    BOOST_TEST(closed);
}

BOOST_AUTO_TEST_CASE(datagrams) {
    auto built = build("timefmt");
    std::string buffer;
    Output out(buffer);
    built.handler->datagram("x%%y\r\n", Peer{}, out);
    BOOST_TEST(out.pending() == "x%y\n");
    std::string empty_buffer;
    Output empty(empty_buffer);
    built.handler->datagram("", Peer{}, empty);
    BOOST_TEST(looks_like_default_time(empty.pending().substr(0, 19)));
    std::string bad_buffer;
    Output bad(bad_buffer);
    built.handler->datagram("%k", Peer{}, bad);
    BOOST_TEST(bad.pending() == "error: unsupported conversion %k\n");
}

BOOST_AUTO_TEST_CASE(bad_keys_are_config_errors) {
    BOOST_TEST(config_error("timefmt", "timezone", "mars") ==
               "test: [timefmt] timezone: 'mars' is not a time zone (local or utc)");
    BOOST_TEST(config_error("timefmt", "default_format", "%k") ==
               "test: [timefmt] default_format: unsupported conversion %k");
    BOOST_TEST(config_error("timefmt", "banner", "two\tparts") ==
               "test: [timefmt] banner: must be one line without control bytes");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(daytime)

BOOST_AUTO_TEST_CASE(one_line_then_close) {
    auto built = build("daytime", {{"format", "%Y"}});
    const auto [reply, closed] = converse(*built.handler, {"ignored input"});
    BOOST_TEST(reply.size() == 6U);
    BOOST_TEST(reply.ends_with("\r\n"));
    BOOST_TEST(closed);
    std::string buffer;
    Output out(buffer);
    built.handler->datagram("anything", Peer{}, out);
    BOOST_TEST(out.pending() == reply);
}

BOOST_AUTO_TEST_CASE(default_format_and_errors) {
    auto built = build("daytime");
    BOOST_TEST(converse(*built.handler, {}).first.find(", ") != std::string::npos);
    BOOST_TEST(config_error("daytime", "format", "%s") ==
               "test: [daytime] format: unsupported conversion %s");
    BOOST_TEST(
        config_error("daytime", "banner", "x").starts_with("test: [daytime] banner: unknown key"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rfc868)

BOOST_AUTO_TEST_CASE(seconds_since_1900_big_endian) {
    BOOST_TEST(rfc868_time(0) == std::string("\x83\xaa\x7e\x80", 4));  // 2,208,988,800
    BOOST_TEST(rfc868_time(1'700'000'000) == std::string("\xe8\xfe\x6f\x80", 4));
}

BOOST_AUTO_TEST_CASE(four_bytes_then_close) {
    auto built = build("time");
    const auto [reply, closed] = converse(*built.handler, {});
    BOOST_TEST(reply.size() == 4U);
    BOOST_TEST(closed);
    std::string buffer;
    Output out(buffer);
    built.handler->datagram("", Peer{}, out);
    BOOST_TEST(out.pending().size() == 4U);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(chargen_and_discard)

namespace {

/// RFC 864's line n: 72 printable characters from ' ' + n (mod 95), then CRLF.
std::string rfc864_line(std::size_t n) {
    std::string line;
    for (std::size_t i = 0; i < 72; ++i) {
        line += static_cast<char>(' ' + (n + i) % 95);
    }
    return line + "\r\n";
}

}  // namespace

BOOST_AUTO_TEST_CASE(chargen_streams_the_rotating_lines_and_drops_input) {
    auto built = build("chargen");
    auto session = built.handler->open_session(Peer{});
    BOOST_REQUIRE(session->produces());
    std::string sent;
    while (sent.size() < 300 * 74) {
        std::string buffer;
        Output out(buffer);
        session->handle("ignored\n", out);
        BOOST_TEST(out.pending().empty());
        session->produce(out);
        BOOST_TEST(!out.pending().empty());
        sent += out.pending();
    }
    for (std::size_t n = 0; n < 300; ++n) {
        BOOST_TEST_REQUIRE(sent.substr(n * 74, 74) == rfc864_line(n), "line " << n);
    }
}

BOOST_AUTO_TEST_CASE(chargen_answers_a_datagram_with_0_to_512_characters_of_a_line) {
    auto built = build("chargen");
    std::size_t longest = 0;
    for (int i = 0; i < 200; ++i) {
        std::string buffer;
        Output out(buffer);
        built.handler->datagram("x", Peer{}, out);
        BOOST_TEST(out.replied());
        const auto reply = std::string(out.pending());
        BOOST_TEST_REQUIRE(reply.size() <= 512U);
        longest = std::max(longest, reply.size());
        if (!reply.empty()) {
            // The pattern from some line's start: each line starts one character further.
            const auto first = static_cast<std::size_t>(reply.front() - ' ');
            std::string expected;
            for (std::size_t n = first; expected.size() < reply.size(); ++n) {
                expected += rfc864_line(n);
            }
            BOOST_TEST_REQUIRE(reply == expected.substr(0, reply.size()));
        }
    }
    BOOST_TEST(longest > 74U);
}

BOOST_AUTO_TEST_CASE(discard_never_answers) {
    auto built = build("discard");
    const auto [reply, closed] =
        converse(*built.handler, {"anything\n", std::string(5000, 'x')}, true);
    BOOST_TEST(reply.empty());
    BOOST_TEST(!closed);
    std::string buffer;
    Output out(buffer);
    built.handler->datagram("x", Peer{}, out);
    BOOST_TEST(!out.replied());
}

BOOST_AUTO_TEST_SUITE_END()
