#include "handlers/logger/syslog.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "handlers/logger/log_record.hpp"
#include "handlers/logger/octet_framer.hpp"

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
    append_record(out, RecordFormat::text,
                  RecordContext{.received = "2026-11-23T00:00:00.000000Z",
                                .peer = "127.0.0.1:5",
                                .service = "log",
                                .credentials = {}},
                  parse_syslog(message), truncated);
    return out;
}

/// "FACILITY.SEVERITY|TIMESTAMP|HOST|APP|PROCID|MSGID|SD|TEXT" as parse_syslog reads message.
std::string fields(std::string_view message) {
    const auto m = parse_syslog(message);
    std::string out = m.facility < 0 ? std::string("-")
                                     : std::string(facility_name(m.facility)) + "." +
                                           std::string(severity_name(m.severity));
    for (const auto field : {m.timestamp, m.host, m.app, m.procid, m.msgid, m.sd, m.text}) {
        out += '|';
        out += field;
    }
    return out;
}

/// The bytes of message that parse_syslog put in no field and that cannot be syntax either (the
/// PRI, separators, brackets, colons, a nil "-", a BOM): what a parse would have lost.
std::string unaccounted(std::string_view message) {
    const auto m = parse_syslog(message);
    std::vector<bool> kept(message.size(), false);
    for (const auto field : {m.timestamp, m.host, m.app, m.procid, m.msgid, m.sd, m.text}) {
        if (!field.empty()) {
            const auto start = static_cast<std::size_t>(field.data() - message.data());
            std::fill_n(kept.begin() + static_cast<std::ptrdiff_t>(start), field.size(), true);
        }
    }
    std::string lost;
    for (std::size_t i = 0; i < message.size(); ++i) {
        if (!kept[i] && std::string_view("<>0123456789 :[]-\xEF\xBB\xBF").find(message[i]) ==
                            std::string_view::npos) {
            lost += message[i];
        }
    }
    return lost;
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

BOOST_AUTO_TEST_CASE(rfc5424_keeps_every_header_field) {
    BOOST_TEST(fields("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
                      "[exampleSDID@32473 iut=\"3\" eventID=\"1011\"] \xEF\xBB\xBF"
                      "An application event") ==
               "local4.notice|2003-10-11T22:14:15.003Z|mymachine.example.com|evntslog||ID47|"
               "[exampleSDID@32473 iut=\"3\" eventID=\"1011\"]|An application event");
    BOOST_TEST(
        fields("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's "
               "time") ==
        "local4.notice|2003-08-24T05:14:15.000003-07:00|192.0.2.1|myproc|8710|||%% It's time");
    BOOST_TEST(fields("<13>1 - - - - - -") == "user.notice|||||||");
    BOOST_TEST(fields("<13>1 - h a - - -   two spaces kept") ==
               "user.notice||h|a||||  two spaces kept");
}

BOOST_AUTO_TEST_CASE(rfc5424_structured_data_is_kept_with_its_escapes) {
    BOOST_TEST(
        fields("<14>1 - h a - - [a@1 k=\"x\\]y\" q=\"say \\\"hi\\\"\" b=\"C:\\\\\"][b@2] m") ==
        "user.info||h|a|||[a@1 k=\"x\\]y\" q=\"say \\\"hi\\\"\" b=\"C:\\\\\"][b@2]|m");
    // RFC 5424 wants "]" in a value escaped; a sender that does not still gets its value whole.
    BOOST_TEST(fields("<14>1 - h a - - [a@1 k=\"x] y\"] m") ==
               "user.info||h|a|||[a@1 k=\"x] y\"]|m");
    BOOST_TEST(fields("<14>1 - h a - - [a@1 k=\"v\" never ends") ==
               "user.info||h|a|||[a@1 k=\"v\" never ends|");
    BOOST_TEST(fields("<14>1 - h a - - [a@1 k=\"\\") == "user.info||h|a|||[a@1 k=\"\\|");
}

BOOST_AUTO_TEST_CASE(rfc5424_without_structured_data_or_timestamp) {
    // As rsyslog: where SD should be, the message starts; a bad TIMESTAMP makes it all message.
    BOOST_TEST(fields("<14>1 2024-03-12T10:01:02Z h app 1 M msg where SD should be") ==
               "user.info|2024-03-12T10:01:02Z|h|app|1|M||msg where SD should be");
    BOOST_TEST(fields("<14>1 2024-03-12 10:01:02 h app - - - x") ==
               "user.info|||||||2024-03-12 10:01:02 h app - - - x");
    BOOST_TEST(fields("<14>1 - h app - -  one space kept") ==
               "user.info||h|app|||| one space kept");
    BOOST_TEST(fields("<14>1 2024-03-12T10:01:02Z h") == "user.info|2024-03-12T10:01:02Z|h|||||");
}

BOOST_AUTO_TEST_CASE(rfc3164_textbook_and_local_forms) {
    BOOST_TEST(fields("<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed") ==
               "auth.crit|Oct 11 22:14:15|mymachine|su|230|||'su root' failed");
    // What logger and glibc's syslog() send to /dev/log: no HOST, and "root:" cannot be one.
    BOOST_TEST(fields("<13>Nov  3 00:18:20 root: hello there") ==
               "user.notice|Nov  3 00:18:20||root||||hello there");
    BOOST_TEST(fields("<13>Nov  3 00:18:20 root[42]: hello") ==
               "user.notice|Nov  3 00:18:20||root|42|||hello");
}

BOOST_AUTO_TEST_CASE(rfc3164_tag_is_any_printable_run) {
    BOOST_TEST(fields("<167>Mar 27 19:06:53 source_server sshd(pam_unix)[12750]: opened") ==
               "local4.debug|Mar 27 19:06:53|source_server|sshd(pam_unix)|12750|||opened");
    BOOST_TEST(fields("<167>Mar  6 16:57:54 172.20.245.8 %PIX-7-710005: UDP discarded") ==
               "local4.debug|Mar  6 16:57:54|172.20.245.8|%PIX-7-710005||||UDP discarded");
    BOOST_TEST(fields("<22>Mar 12 10:01:02 mail01 postfix/smtpd[3456]: connect") ==
               "mail.info|Mar 12 10:01:02|mail01|postfix/smtpd|3456|||connect");
    BOOST_TEST(fields("<14>Mar 12 10:01:02 U7PG2 a,b=c.d: x") ==
               "user.info|Mar 12 10:01:02|U7PG2|a,b=c.d||||x");
}

BOOST_AUTO_TEST_CASE(rfc3164_tag_may_end_at_a_space) {
    BOOST_TEST(fields("<167>AUG 10 22:18:24 host tag This msg") ==
               "local4.debug|AUG 10 22:18:24|host|tag||||This msg");
    BOOST_TEST(fields("<30>Mar 12 10:01:02 web01 chronyd[678] Selected source") ==
               "daemon.info|Mar 12 10:01:02|web01|chronyd|678|||Selected source");
    BOOST_TEST(fields("<167>Feb 18 16:01:59 serverX -- MARK --") ==
               "local4.debug|Feb 18 16:01:59|serverX|--||||MARK --");
}

BOOST_AUTO_TEST_CASE(rfc3164_tag_parts_may_be_missing) {
    BOOST_TEST(fields("<13>Mar 12 10:01:02 host app:no space") ==
               "user.notice|Mar 12 10:01:02|host|app||||no space");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 host app:  two") ==
               "user.notice|Mar 12 10:01:02|host|app|||| two");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 host app[]: x") ==
               "user.notice|Mar 12 10:01:02|host|app||||x");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 host [42]: x") ==
               "user.notice|Mar 12 10:01:02|host||42|||x");
    BOOST_TEST(fields("<164>Jan 12 2024 10:01:02 fw01 : %ASA-4-106023: Deny") ==
               "local4.warning|Jan 12 2024 10:01:02|fw01|||||%ASA-4-106023: Deny");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 host app:") ==
               "user.notice|Mar 12 10:01:02|host|app||||");
}

BOOST_AUTO_TEST_CASE(rfc3164_tag_name_and_pid_fit_rfc5424_fields) {
    const std::string name(max_tag_name, 'a');
    BOOST_TEST(fields("<13>Mar 12 10:01:02 h " + name + ": x") ==
               "user.notice|Mar 12 10:01:02|h|" + name + "||||x");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 h " + name + "b: x") ==
               "user.notice|Mar 12 10:01:02|h|||||" + name + "b: x");
    const std::string pid(max_pid, '7');
    BOOST_TEST(fields("<13>Mar 12 10:01:02 h a[" + pid + "]: x") ==
               "user.notice|Mar 12 10:01:02|h|a|" + pid + "|||x");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 h a[" + pid + "7]: x") ==
               "user.notice|Mar 12 10:01:02|h|a||||[" + pid + "7]: x");
}

BOOST_AUTO_TEST_CASE(rfc3164_tag_ends_where_it_cannot_continue) {
    // The message starts at the byte that ended the tag: nothing falls between the two.
    BOOST_TEST(fields("<13>Mar 12 10:01:02 h MSWinEventLog\t1\tSecurity x") ==
               "user.notice|Mar 12 10:01:02|h|MSWinEventLog||||\t1\tSecurity x");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 h app[42]x: y") ==
               "user.notice|Mar 12 10:01:02|h|app||||[42]x: y");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 h app[42 y") ==
               "user.notice|Mar 12 10:01:02|h|app||||[42 y");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 h pr\xC3\xB6gram: y") ==
               "user.notice|Mar 12 10:01:02|h|pr\xC3\xB6gram||||y");
}

BOOST_AUTO_TEST_CASE(rfc3164_months_in_any_case) {
    BOOST_TEST(fields("<30>sep 14 09:00:01 nas smbd: x") ==
               "daemon.info|sep 14 09:00:01|nas|smbd||||x");
    BOOST_TEST(fields("<30>dEc 14 09:00:01 nas smbd: x") ==
               "daemon.info|dEc 14 09:00:01|nas|smbd||||x");
    BOOST_TEST(fields("<30>Foo 14 09:00:01 nas smbd: x") ==
               "daemon.info||Foo|14||||09:00:01 nas smbd: x");
}

BOOST_AUTO_TEST_CASE(rfc3164_days_years_fractions_and_a_colon) {
    for (const char* stamp :
         {"Mar 7 19:06:53", "Mar  7 19:06:53", "Mar 07 19:06:53", "Mar 7 2008 19:06:53",
          "2008 Mar 7 19:06:53", "Mar  1 00:01:08.471"}) {
        BOOST_TEST(fields("<167>" + std::string(stamp) + " example tag: m") ==
                   "local4.debug|" + std::string(stamp) + "|example|tag||||m");
    }
    // Cisco writes a colon after the time; it is not part of the timestamp.
    BOOST_TEST(fields("<167>Mar 7 2008 19:06:53: example tag: m") ==
               "local4.debug|Mar 7 2008 19:06:53|example|tag||||m");
    BOOST_TEST(fields("<189>Mar  1 00:01:08.471: %SYS-5-CONFIG_I: Configured") ==
               "local7.notice|Mar  1 00:01:08.471||%SYS-5-CONFIG_I||||Configured");
    // A year after the time is not looked for (rsyslog's default): it reads as the HOST.
    BOOST_TEST(fields("<6>AUG 10 22:18:24 2009  netips [audit] x") ==
               "kern.info|AUG 10 22:18:24|2009|||||netips [audit] x");
}

BOOST_AUTO_TEST_CASE(rfc3164_invalid_timestamps_are_not_timestamps) {
    BOOST_TEST(fields("<13>Mar 32 10:01:02 host app: x") ==
               "user.notice||Mar|32||||10:01:02 host app: x");
    BOOST_TEST(fields("<13>Mar 12 25:01:02 host app: x") ==
               "user.notice||Mar|12||||25:01:02 host app: x");
    BOOST_TEST(fields("<13>Mar 12 10:01:02x host app: x") ==
               "user.notice||Mar|12||||10:01:02x host app: x");
    BOOST_TEST(fields("<13>2024-03-12T10:01:02 host app: no zone") ==
               "user.notice|||2024-03-12T10||||01:02 host app: no zone");
}

BOOST_AUTO_TEST_CASE(rfc3164_space_after_the_pri) {
    BOOST_TEST(fields("<14> Mar 12 10:01:02 10.0.0.2 FFI: port 1") ==
               "user.info|Mar 12 10:01:02|10.0.0.2|FFI||||port 1");
    BOOST_TEST(fields("<14> just text") == "user.info|||||||just text");
}

BOOST_AUTO_TEST_CASE(rfc3164_with_an_rfc3339_timestamp) {
    BOOST_TEST(fields("<166>2024-03-12T10:01:02.123Z esxi01 Hostd: info") ==
               "local4.info|2024-03-12T10:01:02.123Z|esxi01|Hostd||||info");
    BOOST_TEST(fields("<13>2024-03-12T10:01:02+05:30 host app: x") ==
               "user.notice|2024-03-12T10:01:02+05:30|host|app||||x");
}

BOOST_AUTO_TEST_CASE(rfc3164_host_without_a_tag) {
    BOOST_TEST(fields("<14>Aug 30 23:00:05 X4711") == "user.info|Aug 30 23:00:05|X4711|||||");
    BOOST_TEST(fields("<14>Aug 30 23:00:05 X4711 ") == "user.info|Aug 30 23:00:05|X4711|||||");
    BOOST_TEST(fields("<14>Aug 30 23:00:05") == "user.info|Aug 30 23:00:05||||||");
    BOOST_TEST(fields("<14>Jan  6 2009 15:22:26 localhost") ==
               "user.info|Jan  6 2009 15:22:26|localhost|||||");
}

BOOST_AUTO_TEST_CASE(rfc3164_host_is_told_from_a_tag_by_its_bytes) {
    // rsyslog's rule: hostname bytes, ending in a letter or digit, then a space.
    BOOST_TEST(fields("<13>Mar 12 10:01:02 host. app: x") ==
               "user.notice|Mar 12 10:01:02||host.||||app: x");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 my_host-1.example.com app: x") ==
               "user.notice|Mar 12 10:01:02|my_host-1.example.com|app||||x");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 host.") == "user.notice|Mar 12 10:01:02|host.|||||");
    const std::string longest(max_hostname, 'h');
    BOOST_TEST(fields("<13>Mar 12 10:01:02 " + longest + " a: x") ==
               "user.notice|Mar 12 10:01:02|" + longest + "|a||||x");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 " + longest + "h a: x") ==
               "user.notice|Mar 12 10:01:02||||||" + longest + "h a: x");
}

BOOST_AUTO_TEST_CASE(rfc3164_ipv6_address_is_a_host) {
    BOOST_TEST(fields("<13>Mar 12 10:01:02 2001:db8::17 app[7]: x") ==
               "user.notice|Mar 12 10:01:02|2001:db8::17|app|7|||x");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 ::ffff:192.0.2.7 app: x") ==
               "user.notice|Mar 12 10:01:02|::ffff:192.0.2.7|app||||x");
    BOOST_TEST(fields("<13>Mar 12 10:01:02 1:2:3:4:5:6:7:8 app: x") ==
               "user.notice|Mar 12 10:01:02|1:2:3:4:5:6:7:8|app||||x");
    for (const char* not_an_address : {"12:34:56", "1:2:3:4:5:6:7:8:9", "1::2::3",
                                       "12345::", "::1.2.3.256", "fe80::1%eth0", "abc:"}) {
        BOOST_TEST(
            parse_syslog("<13>Mar 12 10:01:02 " + std::string(not_an_address) + " x").host.empty(),
            not_an_address);
    }
}

BOOST_AUTO_TEST_CASE(rfc3164_without_a_timestamp) {
    // As rsyslog: the PRI says syslog, so HOST and TAG are still looked for.
    BOOST_TEST(fields("<13>myhost app[1]: x") == "user.notice||myhost|app|1|||x");
    BOOST_TEST(fields("<13>kernel: panic") == "user.notice|||kernel||||panic");
    BOOST_TEST(fields("<166>%ASA-6-302014: Teardown") == "local4.info|||%ASA-6-302014||||Teardown");
    BOOST_TEST(fields("<189>52: *Mar  1 00:01:08.471: x") ==
               "local7.notice|||52||||*Mar  1 00:01:08.471: x");
}

BOOST_AUTO_TEST_CASE(json_after_the_pri_is_all_message) {
    BOOST_TEST(fields("<13>{\"a\":1} b") == "user.notice|||||||{\"a\":1} b");
    BOOST_TEST(fields("<13> \t[1,2]") == "user.notice|||||||\t[1,2]");
    BOOST_TEST(fields("<11>[Tue Mar 12 10:01:02 2024] [error]") ==
               "user.err|||||||[Tue Mar 12 10:01:02 2024] [error]");
}

BOOST_AUTO_TEST_CASE(no_pri_is_user_notice_and_plain) {
    BOOST_TEST(fields("a plain line from nc") == "user.notice|||||||a plain line from nc");
    BOOST_TEST(fields("web01 sshd[1]: no timestamp") ==
               "user.notice|||||||web01 sshd[1]: no timestamp");
    BOOST_TEST(fields("1 2024-03-12T10:01:02Z h app - - - x") ==
               "user.notice|||||||1 2024-03-12T10:01:02Z h app - - - x");
    BOOST_TEST(fields("") == "user.notice|||||||");
}

BOOST_AUTO_TEST_CASE(no_pri_but_a_timestamp_is_a_header) {
    BOOST_TEST(fields("Feb 18 16:01:59 serverX -- MARK --") ==
               "user.notice|Feb 18 16:01:59|serverX|--||||MARK --");
    BOOST_TEST(fields("2024-03-12T10:01:02Z web01 app: x") ==
               "user.notice|2024-03-12T10:01:02Z|web01|app||||x");
    BOOST_TEST(fields(" Mar 12 10:01:02 web01 app: x") ==
               "user.notice|Mar 12 10:01:02|web01|app||||x");
}

BOOST_AUTO_TEST_CASE(malformed_pri_is_plain_without_facility) {
    for (const char* text :
         {"<999>x", "<192>x", "<abc>x", "<>x", "<1", "<1234>x", "<", "< 13>x", "<-1>x", "<13 x"}) {
        const auto m = parse_syslog(text);
        BOOST_TEST(m.facility == -1, text);
        BOOST_TEST(m.severity == -1, text);
        BOOST_TEST(m.text == text);
    }
    BOOST_TEST(facility_name(-1) == "-");
    BOOST_TEST(facility_name(23) == "local7");
    BOOST_TEST(severity_name(7) == "debug");
}

BOOST_AUTO_TEST_CASE(pri_may_have_leading_zeros) {
    BOOST_TEST(fields("<0013>kernel: x") == "user.notice|||kernel||||x");
    BOOST_TEST(fields("<000191>kernel: x") == "local7.debug|||kernel||||x");
    BOOST_TEST(fields("<0>kernel: x") == "kern.emerg|||kernel||||x");
}

BOOST_AUTO_TEST_CASE(every_byte_is_in_a_field_or_is_syntax) {
    for (const std::string message :
         {"<165>1 2003-10-11T22:14:15.003Z h app 1 ID [a@1 k=\"v\"] \xEF\xBB\xBFm",
          "<167>Mar 7 2008 19:06:53: example tag[12]: m", "<14> Mar 12 10:01:02 h a[]:",
          "<13>Mar 12 10:01:02 h app\tx", "<13>{\"a\":1}", "<13>1 - - - - - -", "<13>1 bad",
          "Feb 18 16:01:59 serverX -- MARK --", "plain", "<>x", "<13>2001:db8::1 a: m"}) {
        BOOST_TEST(unaccounted(message).empty(), message);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(log_records)

BOOST_AUTO_TEST_CASE(text_fields_and_dashes) {
    BOOST_TEST(text_record("<14>Nov 23 00:00:00 web nginx[2]: GET /") ==
               "2026-11-23T00:00:00.000000Z 127.0.0.1:5 log user.info web nginx GET /\n");
    BOOST_TEST(text_record("plain") ==
               "2026-11-23T00:00:00.000000Z 127.0.0.1:5 log user.notice - - plain\n");
    BOOST_TEST(text_record("cut", true) ==
               "2026-11-23T00:00:00.000000Z 127.0.0.1:5 log user.notice - - cut \\[truncated]\n");
    BOOST_TEST(text_record("<999>bad pri") ==
               "2026-11-23T00:00:00.000000Z 127.0.0.1:5 log - - - <999>bad pri\n");
}

BOOST_AUTO_TEST_CASE(text_format_has_no_column_for_timestamp_procid_msgid_sd) {
    BOOST_TEST(text_record("<165>1 2003-10-11T22:14:15.003Z h app 8710 ID47 [a@1 k=\"v\"] msg") ==
               "2026-11-23T00:00:00.000000Z 127.0.0.1:5 log local4.notice h app msg\n");
}

BOOST_AUTO_TEST_CASE(no_client_can_split_or_forge_a_record) {
    const auto record = text_record("a\nforged 127.0.0.1:9 log - - - x\\[truncated]\x7f\x01");
    BOOST_TEST(
        record ==
        "2026-11-23T00:00:00.000000Z 127.0.0.1:5 log user.notice - - a\\x0aforged 127.0.0.1:9 log "
        "- - - "
        "x\\\\[truncated]\\x7f\\x01\n");
    std::string field;
    append_escaped(field, "/tmp/my sock", Escape{.invalid_utf8 = false, .space = true});
    BOOST_TEST(field == "/tmp/my\\x20sock");
}

BOOST_AUTO_TEST_CASE(json_is_valid_for_any_bytes) {
    std::string out;
    append_record(out, RecordFormat::json,
                  RecordContext{.received = "T", .peer = "p", .service = "s", .credentials = {}},
                  parse_syslog("<13>1 - h a - - - caf\xC3\xA9 \xFF\xC0\x80 \"q\" \\ \x01"), false);
    BOOST_TEST(
        out ==
        "{\"received\":\"T\",\"peer\":\"p\",\"pid\":null,\"uid\":null,\"gid\":null,\"service\":"
        "\"s\",\"facility\":\"user\",\"severity\":"
        "\"notice\",\"timestamp\":null,\"host\":\"h\",\"app\":\"a\",\"procid\":null,\"msgid\":null,"
        "\"sd\":null,\"message\":\"caf\xC3\xA9 \\\\xff\\\\xc0\\\\x80 \\\"q\\\" \\\\\\\\ "
        "\\u0001\",\"truncated\":false}\n");
}

BOOST_AUTO_TEST_CASE(json_keeps_timestamp_procid_msgid_and_structured_data) {
    std::string out;
    append_record(out, RecordFormat::json,
                  RecordContext{.received = "T", .peer = "p", .service = "s", .credentials = {}},
                  parse_syslog("<165>1 2003-10-11T22:14:15.003Z h app 8710 ID47 "
                               "[a@1 k=\"x\\]y\"][b@2] msg"),
                  false);
    BOOST_TEST(
        out ==
        "{\"received\":\"T\",\"peer\":\"p\",\"pid\":null,\"uid\":null,\"gid\":null,\"service\":"
        "\"s\",\"facility\":\"local4\","
        "\"severity\":\"notice\",\"timestamp\":\"2003-10-11T22:14:15.003Z\",\"host\":\"h\","
        "\"app\":\"app\",\"procid\":\"8710\",\"msgid\":\"ID47\","
        "\"sd\":\"[a@1 k=\\\"x\\\\\\\\]y\\\"][b@2]\",\"message\":\"msg\",\"truncated\":false}\n");
    out.clear();
    append_record(out, RecordFormat::json,
                  RecordContext{.received = "T", .peer = "p", .service = "s", .credentials = {}},
                  parse_syslog("<30>Mar  1 10:01:02 web01 sshd[42]: hi"), false);
    BOOST_TEST(out.find("\"timestamp\":\"Mar  1 10:01:02\",\"host\":\"web01\",\"app\":\"sshd\","
                        "\"procid\":\"42\",\"msgid\":null,\"sd\":null,\"message\":\"hi\"") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(json_gives_a_unix_clients_pid_uid_and_gid) {
    std::string out;
    append_record(out, RecordFormat::json,
                  RecordContext{.received = "T",
                                .peer = "unix:42:1000",
                                .service = "s",
                                .credentials = {.pid = 42, .uid = 1000, .gid = 100}},
                  parse_syslog("<38>Nov 22 10:00:00 sshd[1]: claimed"), false);
    BOOST_TEST(out.starts_with("{\"received\":\"T\",\"peer\":\"unix:42:1000\",\"pid\":42,"
                               "\"uid\":1000,\"gid\":100,\"service\":\"s\","),
               out);
    BOOST_TEST(out.find("\"app\":\"sshd\",\"procid\":\"1\"") != std::string::npos, out);
}

BOOST_AUTO_TEST_CASE(json_escapes_del_too) {
    // Found by fuzz/record_fuzz.cpp: JSON allows a raw DEL, a record here never has one.
    std::string out;
    append_record(out, RecordFormat::json,
                  RecordContext{.received = "T", .peer = "p", .service = "s", .credentials = {}},
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
