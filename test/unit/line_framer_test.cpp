#include "handlers/line_framer.hpp"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

using netd::Line;
using netd::LineFramer;

namespace {

/// A delivered line, copied: "text|ending" with ending spelled LF, CRLF, NUL or "" and a "!" for
/// truncated.
std::string show(const Line& line) {
    std::string ending = line.ending == "\n"     ? "LF"
                         : line.ending == "\r\n" ? "CRLF"
                         : line.ending.empty()   ? ""
                                                 : "NUL";
    return std::string(line.text) + "|" + ending + (line.truncated ? "!" : "");
}

/// Feeds the chunks in order, then ends the input; returns every line delivered.
std::vector<std::string> frame_lines(const std::vector<std::string>& chunks, std::size_t max_line,
                                     bool nul_ends = false) {
    LineFramer framer(max_line, nul_ends);
    std::vector<std::string> lines;
    for (const auto& chunk : chunks) {
        framer.feed(chunk, [&](const Line& line) { lines.push_back(show(line)); });
    }
    framer.finish([&](const Line& line) { lines.push_back(show(line)); });
    return lines;
}

using Lines = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_SUITE(line_framer)

BOOST_AUTO_TEST_CASE(lf_and_crlf) {
    BOOST_TEST(frame_lines({"a\nbb\r\n\n\r\n"}, 10) == (Lines{"a|LF", "bb|CRLF", "|LF", "|CRLF"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(lines_split_anywhere_including_between_cr_and_lf) {
    BOOST_TEST(
        frame_lines({"he", "llo\r", "\nwor", "ld\n"}, 10) == (Lines{"hello|CRLF", "world|LF"}),
        boost::test_tools::per_element());
    // Every possible split of the same input gives the same lines.
    const std::string input = "one\r\ntwo\nthree\r\n";
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        BOOST_TEST(frame_lines({input.substr(0, cut), input.substr(cut)}, 10) ==
                       (Lines{"one|CRLF", "two|LF", "three|CRLF"}),
                   boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(a_lone_cr_is_text) {
    BOOST_TEST(frame_lines({"a\rb\n"}, 10) == (Lines{"a\rb|LF"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(nul_ends_a_line_only_when_asked) {
    const std::string input("a\0b\n", 4);
    BOOST_TEST(frame_lines({input}, 10, true) == (Lines{"a|NUL", "b|LF"}),
               boost::test_tools::per_element());
    BOOST_TEST(frame_lines({input}, 10, false).size() == 1U);
}

BOOST_AUTO_TEST_CASE(exactly_max_line_fits_with_either_ending) {
    BOOST_TEST(frame_lines({"abcd\n"}, 4) == (Lines{"abcd|LF"}), boost::test_tools::per_element());
    BOOST_TEST(frame_lines({"abcd\r\n"}, 4) == (Lines{"abcd|CRLF"}),
               boost::test_tools::per_element());
    BOOST_TEST(frame_lines({"abcd\r", "\n"}, 4) == (Lines{"abcd|CRLF"}),
               boost::test_tools::per_element());
    BOOST_TEST(frame_lines({"ab", "cd", "\r", "\n"}, 4) == (Lines{"abcd|CRLF"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_cr_past_max_line_at_the_end_of_input_is_a_long_line) {
    // Found by fuzz/line_framer_fuzz.cpp: the CR held as a possible CRLF made a last line one
    // byte longer than max_line.
    BOOST_TEST(frame_lines({"abcd\r"}, 4) == (Lines{"abcd|!"}), boost::test_tools::per_element());
    BOOST_TEST(frame_lines({"abc\r"}, 4) == (Lines{"abc\r|"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(long_lines_are_cut_once_and_the_rest_skipped) {
    BOOST_TEST(frame_lines({"abcdef\nok\n"}, 4) == (Lines{"abcd|!", "ok|LF"}),
               boost::test_tools::per_element());
    BOOST_TEST(frame_lines({"abcde\r\nok\n"}, 4) == (Lines{"abcd|!", "ok|LF"}),
               boost::test_tools::per_element());
    BOOST_TEST(frame_lines({"abcd\rx\nok\n"}, 4) == (Lines{"abcd|!", "ok|LF"}),
               boost::test_tools::per_element());
    // Across chunks: reported as soon as the limit is passed, the rest skipped up to the end.
    BOOST_TEST(frame_lines({"ab", "cdef", "ghij", "kl\nok\n"}, 4) == (Lines{"abcd|!", "ok|LF"}),
               boost::test_tools::per_element());
    BOOST_TEST(frame_lines({"abcd\r", "x", "\nok\n"}, 4) == (Lines{"abcd|!", "ok|LF"}),
               boost::test_tools::per_element());
    const std::string nul_then("abcd\r\0ok\n", 9);
    BOOST_TEST(frame_lines({nul_then}, 4, true) == (Lines{"abcd|!", "ok|LF"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(memory_is_bounded_by_max_line) {
    LineFramer framer(100);
    int lines = 0;
    const std::string mebibyte(1 << 20, 'x');
    for (int i = 0; i < 8; ++i) {
        framer.feed(mebibyte, [&](const Line& line) {
            ++lines;
            BOOST_TEST(line.truncated);
            BOOST_TEST(line.text.size() == 100U);
        });
        BOOST_TEST(framer.buffered() <= 101U);
    }
    BOOST_TEST(lines == 1);
    framer.feed("\nnext\n", [&](const Line& line) { BOOST_TEST(show(line) == "next|LF"); });
}

BOOST_AUTO_TEST_CASE(no_memory_is_held_between_lines) {
    // An idle session holds a framer: a line that arrived in pieces must not leave its buffer
    // behind once it is delivered (bench/run-idle-memory --split-line).
    LineFramer framer(2048);
    const std::string half(500, 'x');
    std::vector<std::string> lines;
    const auto keep = [&](const Line& line) { lines.push_back(show(line)); };
    framer.feed(half, keep);
    BOOST_TEST(framer.heap_bytes() >= 500U);
    framer.feed(half + "\n" + half, keep);
    BOOST_TEST(lines.size() == 1U);
    BOOST_TEST(framer.heap_bytes() >= 500U);  // the next line's start
    framer.feed("\n", keep);
    BOOST_TEST(lines.size() == 2U);
    BOOST_TEST(framer.heap_bytes() == 0U);
    framer.feed(half, keep);
    framer.finish(keep);
    BOOST_TEST(lines.size() == 3U);
    BOOST_TEST(framer.heap_bytes() == 0U);
}

BOOST_AUTO_TEST_CASE(the_end_of_input_delivers_an_unfinished_line) {
    BOOST_TEST(frame_lines({"a\nlast"}, 10) == (Lines{"a|LF", "last|"}),
               boost::test_tools::per_element());
    BOOST_TEST(frame_lines({"a\n"}, 10) == (Lines{"a|LF"}), boost::test_tools::per_element());
    BOOST_TEST(frame_lines({"abcdefgh"}, 4) == (Lines{"abcd|!"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
