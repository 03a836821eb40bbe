#include "handlers/syslog.hpp"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "handlers/log_record.hpp"
#include "handlers/octet_framer.hpp"

using namespace netd;
using namespace std::string_literals;

namespace {

using Messages = std::vector<std::string>;

/// Feeds the chunks, ends the input; returns the messages, a truncated one marked with a trailing
/// "!".
Messages frame_messages(const std::vector<std::string>& chunks, std::size_t max_message = 64) {
    OctetCountFramer framer(max_message);
    Messages messages;
    const auto collect = [&](std::string_view text, bool truncated) {
        messages.push_back(std::string(text) + (truncated ? "!" : ""));
    };
    for (const auto& chunk : chunks) {
        framer.feed(chunk, collect);
    }
    framer.finish(collect);
    return messages;
}

std::string text_record(std::string_view message, bool truncated = false) {
    std::string out;
    append_record(
        out, RecordFormat::text,
        RecordContext{
            .received = "2026-11-23T00:00:00.000000Z", .peer = "127.0.0.1:5", .service = "log"},
        parse_syslog(message), truncated);
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(octet_framer)

BOOST_AUTO_TEST_CASE(counted_and_line_frames_mix_per_frame) {
    BOOST_TEST(
        frame_messages({"5 hello3 a\nbplain\n2 ok"}) == (Messages{"hello", "a\nb", "plain", "ok"}),
        boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(any_split_gives_the_same_messages) {
    const std::string input = "11 hello world<13>line one\r\n0 6 x\0y\nz!tail\0"s;
    const Messages expected{"hello world", "<13>line one", "", "x\0y\nz!"s, "tail"};
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        BOOST_TEST(frame_messages({input.substr(0, cut), input.substr(cut)}) == expected,
                   boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(digits_without_a_space_are_a_line) {
    BOOST_TEST(frame_messages({"123abc\n42\n"}) == (Messages{"123abc", "42"}),
               boost::test_tools::per_element());
    BOOST_TEST(frame_messages({"99999999999999999999 twenty digits\n"}) ==
                   (Messages{"99999999999999999999 twenty digits"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(empty_lines_are_not_messages_but_a_zero_count_is) {
    BOOST_TEST(frame_messages({"\n\r\n\0a\n0 "s}) == (Messages{"a", ""}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(digits_at_the_end_of_input_are_cut_at_max_message) {
    // Found by fuzz/octet_framer_fuzz.cpp: a count that never got its space came out whole.
    BOOST_TEST(frame_messages({"12345678"}, 4) == (Messages{"1234!"}),
               boost::test_tools::per_element());
    BOOST_TEST(frame_messages({"1234"}, 4) == (Messages{"1234"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(long_messages_are_cut_and_the_rest_skipped) {
    BOOST_TEST(frame_messages({"10 0123456789next\n"}, 4) == (Messages{"0123!", "next"}),
               boost::test_tools::per_element());
    BOOST_TEST(frame_messages({"10 01", "23456", "789", "x\n"}, 4) == (Messages{"0123!", "x"}),
               boost::test_tools::per_element());
    BOOST_TEST(frame_messages({"0123456789\nnext\n"}, 4) == (Messages{"0123!", "next"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_count_that_lies_is_bounded_and_recorded_at_the_end) {
    OctetCountFramer framer(16);
    int messages = 0;
    const auto count = [&](std::string_view text, bool truncated) {
        ++messages;
        BOOST_TEST(text.size() == 16U);
        BOOST_TEST(truncated);
    };
    framer.feed("9999999999999999999 ", count);  // 19 digits: a count, and a lie
    const std::string mebibyte(1 << 20, 'x');
    for (int i = 0; i < 4; ++i) {
        framer.feed(mebibyte, count);
    }
    BOOST_TEST(messages == 0);
    framer.finish(count);
    BOOST_TEST(messages == 1);
    BOOST_TEST(frame_messages({"20 short"}) == (Messages{"short!"}),
               boost::test_tools::per_element());
    BOOST_TEST(frame_messages({"123"}) == (Messages{"123"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(syslog_parsing)

BOOST_AUTO_TEST_CASE(rfc5424) {
    const auto m = parse_syslog(
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        "[exampleSDID@32473 iut=\"3\" eventID=\"1011\"][x a=\"]\\\"\"] \xEF\xBB\xBF"
        "An application event");
    BOOST_TEST(m.facility == 20);
    BOOST_TEST(m.severity == 5);
    BOOST_TEST(m.host == "mymachine.example.com");
    BOOST_TEST(m.app == "evntslog");
    BOOST_TEST(m.text == "An application event");
    const auto nil = parse_syslog("<13>1 - - - - - -");
    BOOST_TEST(nil.host.empty());
    BOOST_TEST(nil.app.empty());
    BOOST_TEST(nil.text.empty());
}

BOOST_AUTO_TEST_CASE(rfc3164_with_and_without_host) {
    const auto m = parse_syslog("<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed");
    BOOST_TEST(facility_name(m.facility) == "auth");
    BOOST_TEST(severity_name(m.severity) == "crit");
    BOOST_TEST(m.host == "mymachine");
    BOOST_TEST(m.app == "su");
    BOOST_TEST(m.text == "'su root' failed");
    const auto local = parse_syslog("<13>Nov  3 00:18:20 root: hello there");
    BOOST_TEST(local.host.empty());
    BOOST_TEST(local.app == "root");
    BOOST_TEST(local.text == "hello there");
    const auto untagged = parse_syslog("<13>Nov 23 00:18:20 host just text");
    BOOST_TEST(untagged.host == "host");
    BOOST_TEST(untagged.app.empty());
    BOOST_TEST(untagged.text == "just text");
    const auto bare = parse_syslog("<13>kernel: panic");
    BOOST_TEST(bare.app == "kernel");
    BOOST_TEST(bare.text == "panic");
}

BOOST_AUTO_TEST_CASE(anything_else_is_plain) {
    for (const auto* text : {"no pri", "<999>x", "<abc>x", "<>x", "<1", "<1234>x"}) {
        const auto m = parse_syslog(text);
        BOOST_TEST(m.facility == -1, text);
        BOOST_TEST(m.text == text);
    }
    BOOST_TEST(facility_name(-1) == "-");
    BOOST_TEST(facility_name(23) == "local7");
    BOOST_TEST(severity_name(7) == "debug");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(log_records)

BOOST_AUTO_TEST_CASE(text_fields_and_dashes) {
    BOOST_TEST(text_record("<14>Nov 23 00:00:00 web nginx[2]: GET /") ==
               "2026-11-23T00:00:00.000000Z 127.0.0.1:5 log user.info web nginx GET /\n");
    BOOST_TEST(text_record("plain") == "2026-11-23T00:00:00.000000Z 127.0.0.1:5 log - - - plain\n");
    BOOST_TEST(text_record("cut", true) ==
               "2026-11-23T00:00:00.000000Z 127.0.0.1:5 log - - - cut \\[truncated]\n");
}

BOOST_AUTO_TEST_CASE(no_client_can_split_or_forge_a_record) {
    const auto record = text_record("a\nforged 127.0.0.1:9 log - - - x\\[truncated]\x7f\x01");
    BOOST_TEST(
        record ==
        "2026-11-23T00:00:00.000000Z 127.0.0.1:5 log - - - a\\x0aforged 127.0.0.1:9 log - - - "
        "x\\\\[truncated]\\x7f\\x01\n");
    std::string field;
    append_escaped(field, "/tmp/my sock", Escape{.invalid_utf8 = false, .space = true});
    BOOST_TEST(field == "/tmp/my\\x20sock");
}

BOOST_AUTO_TEST_CASE(json_is_valid_for_any_bytes) {
    std::string out;
    append_record(out, RecordFormat::json,
                  RecordContext{.received = "T", .peer = "p", .service = "s"},
                  parse_syslog("<13>1 - h a - - - caf\xC3\xA9 \xFF\xC0\x80 \"q\" \\ \x01"), false);
    BOOST_TEST(
        out ==
        "{\"received\":\"T\",\"peer\":\"p\",\"service\":\"s\",\"facility\":\"user\",\"severity\":"
        "\"notice\",\"host\":\"h\",\"app\":\"a\",\"message\":\"caf\xC3\xA9 \\\\xff\\\\xc0\\\\x80 "
        "\\\"q\\\" \\\\\\\\ \\u0001\",\"truncated\":false}\n");
}

BOOST_AUTO_TEST_CASE(json_escapes_del_too) {
    // Found by fuzz/record_fuzz.cpp: JSON allows a raw DEL, a record here never has one.
    std::string out;
    append_record(out, RecordFormat::json,
                  RecordContext{.received = "T", .peer = "p", .service = "s"},
                  parse_syslog("a\x7f"
                               "b"),
                  false);
    BOOST_TEST(out.find('\x7f') == std::string::npos);
    BOOST_TEST(out.find("\"message\":\"a\\u007fb\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(received_clock_is_rfc3339_with_microseconds) {
    ReceivedClock clock;
    const std::string now(clock.now());
    BOOST_TEST(now.size() == 27U);
    BOOST_TEST(now[10] == 'T');
    BOOST_TEST(now[19] == '.');
    BOOST_TEST(now.back() == 'Z');
}

BOOST_AUTO_TEST_SUITE_END()
