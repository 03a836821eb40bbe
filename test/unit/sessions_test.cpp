// Every stream handler, fed the way the daemon feeds it (test/unit/built_handler.hpp's converse:
// one shared read buffer, other clients' bytes in it between calls, input cut anywhere), answers
// the same whatever the cuts, and never with bytes that were not its own client's.

#include <boost/test/unit_test.hpp>

#include "test/unit/built_handler.hpp"
#include "test/unit/temp_files.hpp"

using namespace netd;
using namespace netd::test;

namespace {

/// The replies to chunks under every way of cutting them (several random ones included); each
/// must be free of other clients' bytes, and all must be equal. Returns the first.
std::pair<std::string, bool> same_under_every_cut(Handler& handler,
                                                  const std::vector<std::string>& chunks,
                                                  bool finish) {
    auto whole = converse(handler, chunks, finish, Cuts::whole);
    BOOST_TEST(whole.first.find(other_client_byte) == std::string::npos);
    std::vector<Cuts> others{Cuts::bytes};
    others.insert(others.end(), 8, Cuts::random);
    for (const auto cuts : others) {
        const auto cut = converse(handler, chunks, finish, cuts);
        BOOST_TEST(cut.first == whole.first);
        BOOST_TEST(cut.second == whole.second);
    }
    return whole;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sessions)

BOOST_AUTO_TEST_CASE(echo_returns_its_own_bytes_however_they_are_cut) {
    auto built = build("echo");
    const std::string binary("a\0b\r\n\xfe", 6);
    const auto reply = same_under_every_cut(*built.handler, {binary, "more\n", "x"}, true).first;
    BOOST_TEST(reply == binary + "more\nx");
}

BOOST_AUTO_TEST_CASE(timefmt_answers_with_its_own_line_ends_however_input_is_cut) {
    // Literal formats, so that the answers do not change with the clock between runs.
    auto built = build("timefmt", {{"max_line", "16"}, {"banner", "hi"}});
    const auto [reply, closed] = same_under_every_cut(
        *built.handler,
        {"a%%\r\n", "b\n", "c", std::string("\0d\n", 3), std::string(40, 'x') + "\nlater\n"}, true);
    BOOST_TEST(reply == "hi\r\na%\r\nb\nerror: control byte in format\nerror: line too long\n");
    BOOST_TEST(closed);
}

BOOST_AUTO_TEST_CASE(timefmt_keeps_no_view_of_an_old_read) {
    // The first line's end is reused for the too-long line's answer, reads later: it must be the
    // client's "\n", not whatever another client left in the read buffer by then.
    auto built = build("timefmt", {{"max_line", "16"}});
    const auto [reply, closed] =
        converse(*built.handler, {"ok\n", std::string(40, 'x') + "\n"}, false, Cuts::whole);
    BOOST_TEST(reply == "ok\nerror: line too long\n");
    BOOST_TEST(closed);
    // A last line without an end is answered with the latest request's end, at finish.
    BOOST_TEST(converse(*built.handler, {"one\r\n", "two"}, true, Cuts::whole).first ==
               "one\r\ntwo\r\n");
}

BOOST_AUTO_TEST_CASE(logger_records_the_same_messages_however_input_is_cut) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("netd-sessions-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = dir / "messages.log";
    {
        auto built = build("logger", {{"file", file.string()}, {"max_line", "40"}});
        built.handler->start();
        const std::vector<std::string> chunks{
            "<13>Nov 22 10:00:00 host app: one\n", "7 two two",    std::string("three\0", 6),
            std::string(50, 'y') + "\n",           "15 cut short",
        };
        same_under_every_cut(*built.handler, chunks, true);
        built.handler->stop();
    }
    const auto lines = lines_of(file);
    // Ten conversations (one whole, one byte by byte, eight random) of five records each.
    BOOST_REQUIRE(lines.size() == 50U);
    const auto without_time = [](const std::string& line) { return line.substr(line.find(' ')); };
    for (std::size_t i = 5; i < lines.size(); ++i) {
        BOOST_TEST(without_time(lines[i]) == without_time(lines[i % 5]));
    }
    const std::vector<std::string> ends{"one", " two two", " three",
                                        " " + std::string(40, 'y') + " \\[truncated]",
                                        " cut short \\[truncated]"};
    for (std::size_t i = 0; i < ends.size(); ++i) {
        BOOST_TEST(lines[i].ends_with(ends[i]), lines[i]);
    }
}

BOOST_AUTO_TEST_CASE(logger_names_a_unix_client_by_its_credentials) {
    // The kernel's pid and uid, whatever the message claims (APP sshd, a pid of 1); a client the
    // kernel said nothing about is "unix"; JSON adds pid, uid and gid, null for the others.
    const TempDir dir;
    const Peer datagram_client{.transport = Transport::unix_datagram,
                               .port = 0,
                               .address = {},
                               .credentials = {.pid = 4321, .uid = 1000, .gid = 100}};
    Peer stream_client = datagram_client;
    stream_client.transport = Transport::unix_stream;
    const Peer unknown{
        .transport = Transport::unix_stream, .port = 0, .address = {}, .credentials = {}};
    for (const auto* format : {"text", "json"}) {
        auto built = build("logger", {{"file", (dir.path / format).string()}, {"format", format}});
        built.handler->start();
        std::string buffer;
        Output out(buffer);
        built.handler->datagram("<38>Nov 22 10:00:00 sshd[1]: claimed", datagram_client, out);
        for (const auto& [peer, line] :
             {std::pair<const Peer*, std::string_view>{&stream_client, "over a stream\n"},
              {&unknown, "no credentials\n"}}) {
            auto session = built.handler->open_session(*peer);
            session->handle(line, out);
            session->finish(out);
        }
        built.handler->stop();
    }
    const auto text = lines_of(dir.path / "text");
    BOOST_REQUIRE(text.size() == 3U);
    BOOST_TEST(text[0].ends_with(" unix:4321:1000 logger auth.info - sshd claimed"), text[0]);
    BOOST_TEST(text[1].ends_with(" unix:4321:1000 logger user.notice - - over a stream"), text[1]);
    BOOST_TEST(text[2].ends_with(" unix logger user.notice - - no credentials"), text[2]);
    const auto json = lines_of(dir.path / "json");
    BOOST_REQUIRE(json.size() == 3U);
    for (const auto& line : {json[0], json[1]}) {
        BOOST_TEST(line.find(R"("peer":"unix:4321:1000","pid":4321,"uid":1000,"gid":100,)") !=
                       std::string::npos,
                   line);
    }
    BOOST_TEST(
        json[2].find(R"("peer":"unix","pid":null,"uid":null,"gid":null,)") != std::string::npos,
        json[2]);
}

BOOST_AUTO_TEST_SUITE_END()
