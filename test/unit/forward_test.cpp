// Forwarding's pure pieces: the frame a record becomes (RFC 5424 + RFC 6587), frame parsing, the
// destination syntax, and the spool on disk (without a sender thread).
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>

#include "config/values.hpp"
#include "handlers/logger/forward_record.hpp"
#include "handlers/logger/forward_transport.hpp"
#include "handlers/logger/spool.hpp"
#include "test/unit/temp_files.hpp"

using namespace netd;
using namespace netd::test;
namespace fs = std::filesystem;

namespace {

/// Spool::append of a whole text; false when any of it was refused.
bool append(Spool& spool, std::string_view frames) {
    return spool.append(frames) && frames.empty();
}

/// The frame for message as netd would forward it from 192.0.2.7 (fallback host "client").
std::string frame_of(std::string_view message, std::string_view origin = "192.0.2.7") {
    std::string out;
    append_forward_frame(out,
                         ForwardContext{.received = "2026-12-01T10:00:00.000001Z",
                                        .origin_ip = origin,
                                        .fallback_host = "client",
                                        .now = 1'796'000'000},  // 2026-11-30
                         parse_syslog(message));
    return out;
}

/// A frame's body: the length prefix checked and removed.
std::string body_of(const std::string& frame) {
    const auto space = frame.find(' ');
    BOOST_TEST_REQUIRE(space != std::string::npos);
    BOOST_TEST(std::stoul(frame.substr(0, space)) == frame.size() - space - 1);
    BOOST_TEST(frame_length(frame) == frame.size());
    return frame.substr(space + 1);
}

std::string read_all(Spool& spool, SpoolPlace place) {
    std::string all;
    for (int i = 0; i < 1000; ++i) {
        char buffer[4096];
        bool sealed = false;
        const std::size_t n = spool.read(place, buffer, sizeof(buffer), sealed);
        if (n == 0) {
            if (!sealed) {
                return all;
            }
            place = spool.next(place);
            continue;
        }
        all.append(buffer, n);
        place.offset += n;
    }
    return all;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(forward_record)

BOOST_AUTO_TEST_CASE(rfc5424_keeps_every_field_and_adds_the_origin) {
    BOOST_TEST(body_of(frame_of("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog "
                                "1234 ID47 [exampleSDID@32473 iut=\"3\"] An application event")) ==
               "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 "
               "[exampleSDID@32473 iut=\"3\"][origin ip=\"192.0.2.7\"] An application event");
}

BOOST_AUTO_TEST_CASE(an_origin_the_client_sent_gives_way_to_the_address_netd_saw) {
    // RFC 5424 allows an SD-ID once per message; a forged origin must not stand first.
    BOOST_TEST(
        body_of(frame_of("<14>1 2026-12-01T10:00:00Z h a - - [x@1 k=\"[origin ]\"]"
                         "[origin ip=\"10.9.9.9\" software=\"s\\\"]\"][origin][y@1] text")) ==
        "<14>1 2026-12-01T10:00:00Z h a - - [x@1 k=\"[origin ]\"][y@1]"
        "[origin ip=\"192.0.2.7\"] text");
    // Without an address of netd's own (a Unix client), the client's stays.
    BOOST_TEST(
        body_of(frame_of("<14>1 2026-12-01T10:00:00Z h a - - [origin ip=\"10.9.9.9\"] t", "")) ==
        "<14>1 2026-12-01T10:00:00Z h a - - [origin ip=\"10.9.9.9\"] t");
    BOOST_TEST(sd_element_length("[a k=\"]\\\"]\"][b]") == 12U);
    BOOST_TEST(sd_element_length("[a k=\"never") == 11U);
}

BOOST_AUTO_TEST_CASE(rfc3164_becomes_rfc5424_with_a_year) {
    // TZ is whatever the test runs with: compare up to the seconds.
    const std::string body =
        body_of(frame_of("<34>Oct 11 22:14:15 mymachine su[77]: 'su root' failed"));
    BOOST_TEST(body.starts_with("<34>1 2026-10-11T22:14:15"));
    BOOST_TEST(body.ends_with(" mymachine su 77 - [origin ip=\"192.0.2.7\"] 'su root' failed"));
    // December's records read in January are last year's.
    std::string out;
    append_bsd_as_rfc3339(out, "Dec 31 23:59:59", 1'798'761'600);  // 2027-01-01
    BOOST_TEST(out.starts_with("2026-12-31T23:59:59"));
    out.clear();
    BOOST_TEST(append_bsd_as_rfc3339(out, "2025 Mar  3 01:02:03.250", 1'796'000'000));
    BOOST_TEST(out.starts_with("2025-03-03T01:02:03.250"));
    out.clear();
    BOOST_TEST(!append_bsd_as_rfc3339(out, "no time here", 1'796'000'000));
    BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(missing_fields_are_nil_or_filled_in) {
    // No header at all: PRI 13 (what rsyslog assumes), the received time, the client as host.
    BOOST_TEST(
        body_of(frame_of("just text")) ==
        "<13>1 2026-12-01T10:00:00.000001Z client - - - [origin ip=\"192.0.2.7\"] just text");
    // A Unix client: no origin element, so SD is nil.
    BOOST_TEST(body_of(frame_of("just text", "")) ==
               "<13>1 2026-12-01T10:00:00.000001Z client - - - - just text");
    // An empty message has no MSG part.
    BOOST_TEST(body_of(frame_of("<14>1 - - - - - -", "")) ==
               "<14>1 2026-12-01T10:00:00.000001Z client - - - -");
}

BOOST_AUTO_TEST_CASE(header_fields_stay_printable_and_bounded) {
    const std::string body =
        body_of(frame_of("<14>1 2026-01-02T03:04:05.123456789+02:00 host app - - - text"));
    BOOST_TEST(body.starts_with("<14>1 2026-01-02T03:04:05.123456+02:00 host app"));
    // A tag with bytes RFC 5424 forbids in APP-NAME.
    const std::string tagged = body_of(frame_of("<14>Oct  1 01:02:03 host t\xc3\xa4g: x"));
    BOOST_TEST(tagged.find(" host t__g - - ") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(frames_are_found_whole_or_not_at_all) {
    BOOST_TEST(frame_length("5 hello6 world!") == 7U);
    BOOST_TEST(frame_length("5 hel") == 0U);
    BOOST_TEST(frame_length("12") == 0U);
    BOOST_TEST(frame_length("") == 0U);
    BOOST_TEST(frame_length("x hello") == std::string_view::npos);
    BOOST_TEST(frame_length("05 hello") == std::string_view::npos);
    BOOST_TEST(frame_length("0 ") == std::string_view::npos);
    BOOST_TEST(frame_length("1234567890 x") == std::string_view::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(forward_destination)

BOOST_AUTO_TEST_CASE(schemes_hosts_and_ports) {
    const auto relp = parse_forward_destination("relp://logs.example.com:2514");
    BOOST_TEST((relp.scheme == ForwardDestination::Scheme::relp));
    BOOST_TEST(relp.host == "logs.example.com");
    BOOST_TEST(relp.port == "2514");
    const auto v6 = parse_forward_destination("tls://[::1]:6514");
    BOOST_TEST((v6.scheme == ForwardDestination::Scheme::tls));
    BOOST_TEST(v6.host == "::1");
    BOOST_TEST(parse_forward_destination("tcp://10.0.0.1:514").url == "tcp://10.0.0.1:514");
    for (const char* bad : {"udp://h:514", "h:514", "tcp://h", "tcp://:514", "tcp://h:0",
                            "tcp://h:65536", "tls://[::1]6514"}) {
        BOOST_CHECK_THROW(parse_forward_destination(bad), config::ValueError);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(spool)

BOOST_AUTO_TEST_CASE(what_is_appended_is_read_until_confirmed_and_survives_a_restart) {
    TempDir dir;
    const std::string path = (dir.path / "spool").string();
    {
        Spool spool(path, 1 << 30);
        BOOST_TEST(spool.open().empty());
        BOOST_TEST(append(spool, "5 hello"));
        BOOST_TEST(append(spool, "5 world"));
        BOOST_TEST(read_all(spool, spool.confirmed()) == "5 hello5 world");
        spool.confirm({spool.confirmed().segment, 7});
        BOOST_TEST(read_all(spool, spool.confirmed()) == "5 world");
        // Another process of the tree cannot take the same directory.
        Spool other(path, 1 << 30);
        BOOST_TEST(other.open().find("in use") != std::string::npos);
    }
    Spool again(path, 1 << 30);
    BOOST_TEST(again.open().empty());
    const SpoolCount waiting = again.waiting();
    BOOST_TEST(waiting.records == 1U);
    BOOST_TEST(waiting.bytes == 7U);
    BOOST_TEST(read_all(again, again.confirmed()) == "5 world");
}

BOOST_AUTO_TEST_CASE(full_segments_are_sealed_and_the_oldest_dropped_past_the_limit) {
    TempDir dir;
    const std::string path = (dir.path / "spool").string();
    Spool spool(path, 256 * 1024);  // 64 KiB segments
    BOOST_TEST(spool.open().empty());
    const std::string record = "1000 " + std::string(1000, 'x');
    std::uint64_t dropped = 0;
    for (int i = 0; i < 400; ++i) {  // ~400 KB
        BOOST_TEST(append(spool, record));
        dropped += spool.maintain().records;
    }
    std::uint64_t total = 0;
    for (const auto& entry : fs::directory_iterator(path)) {
        if (entry.path().extension() == ".seg") {
            total += fs::file_size(entry.path());
        }
    }
    BOOST_TEST(total <= 256U * 1024 + 64 * 1024 + record.size());
    BOOST_TEST(dropped > 0U);
    BOOST_TEST(dropped + spool.waiting().records == 400U);
    // Reading starts at the oldest kept, on a frame boundary.
    BOOST_TEST(frame_length(read_all(spool, spool.confirmed())) == record.size());
}

BOOST_AUTO_TEST_CASE(a_batch_larger_than_the_spool_keeps_its_newest_records) {
    // One write of 400 KB into a 256 KiB spool: split into 64 KiB segments as it is written, so
    // dropping the oldest leaves the newest 3 to 4 segments, not nothing.
    TempDir dir;
    Spool spool((dir.path / "spool").string(), 256 * 1024);
    BOOST_TEST(spool.open().empty());
    std::string batch;
    for (int i = 0; i < 400; ++i) {
        const std::string body = std::to_string(1000 + i) + std::string(995, 'x');
        batch += std::to_string(body.size()) + " " + body;
    }
    BOOST_TEST(append(spool, batch));
    const SpoolCount dropped = spool.maintain();
    const SpoolCount kept = spool.waiting();
    BOOST_TEST(dropped.records + kept.records == 400U);
    BOOST_TEST(kept.records >= 190U);  // 3 full segments of 65 records at least
    BOOST_TEST(kept.bytes <= 256U * 1024);
    // The newest is kept: the last record is the last read.
    const std::string all = read_all(spool, spool.confirmed());
    BOOST_TEST(all.substr(all.size() - 1003, 8) == "999 1399");
}

BOOST_AUTO_TEST_CASE(a_torn_tail_is_left_to_the_reader_and_writing_goes_on_in_a_new_segment) {
    TempDir dir;
    const std::string path = (dir.path / "spool").string();
    {
        Spool spool(path, 1 << 30);
        BOOST_TEST(spool.open().empty());
        BOOST_TEST(append(spool, "5 hello5 wo"));  // as a killed writer may leave it
    }
    Spool spool(path, 1 << 30);
    BOOST_TEST(spool.open().empty());
    BOOST_TEST(append(spool, "5 again"));
    char buffer[64];
    bool sealed = false;
    const SpoolPlace first = spool.confirmed();
    BOOST_TEST(spool.read(first, buffer, sizeof(buffer), sealed) == 11U);
    BOOST_TEST(sealed);  // so the sender may skip the torn "5 wo" and go on
    BOOST_TEST(read_all(spool, spool.next(first)) == "5 again");
}

BOOST_AUTO_TEST_SUITE_END()
