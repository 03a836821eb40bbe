#include "handlers/logger/log_file.hpp"

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "test/unit/temp_files.hpp"

using namespace netd;
using namespace netd::test;
namespace fs = std::filesystem;

namespace {

/// Waits (at most 5 s) until file holds `lines` lines.
bool wait_for_lines(const fs::path& file, std::size_t lines) {
    for (int i = 0; i < 500; ++i) {
        if (lines_of(file).size() >= lines) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(log_file)

BOOST_AUTO_TEST_CASE(records_are_in_the_file_within_the_flush_interval_and_at_stop) {
    TempDir dir;
    const auto path = dir.path / "a.log";
    LogFile file(
        LogFileOptions{.path = path.string(), .flush_interval = std::chrono::milliseconds(20)});
    BOOST_TEST(file.start().empty());
    file.append("one\n");
    BOOST_TEST(wait_for_lines(path, 1));
    file.append("two\nthree\n");
    file.stop();
    BOOST_TEST(lines_of(path) == (std::vector<std::string>{"one", "two", "three"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(start_reports_a_file_it_cannot_open) {
    LogFile file(LogFileOptions{.path = "/nonexistent-dir/x.log"});
    BOOST_TEST(file.start().find("cannot open /nonexistent-dir/x.log") == 0U);
}

BOOST_AUTO_TEST_CASE(rotation_keeps_max_files_and_never_splits_a_record) {
    TempDir dir;
    const auto path = dir.path / "r.log";
    LogFile file(LogFileOptions{.path = path.string(),
                                .flush_interval = std::chrono::milliseconds(5),
                                .rotate_size = 100,
                                .max_files = 2});
    BOOST_TEST(file.start().empty());
    const std::string record(59, 'r');  // 60 bytes with its LF: every second batch rotates
    for (int i = 0; i < 10; ++i) {
        file.append(record + "\n");
        std::this_thread::sleep_for(std::chrono::milliseconds(30));  // one batch each
    }
    file.stop();
    BOOST_TEST(fs::exists(path.string() + ".1"));
    BOOST_TEST(fs::exists(path.string() + ".2"));
    BOOST_TEST(!fs::exists(path.string() + ".3"));
    for (const auto* suffix : {"", ".1", ".2"}) {
        for (const auto& line : lines_of(path.string() + suffix)) {
            BOOST_TEST(line == record);
        }
    }
}

BOOST_AUTO_TEST_CASE(reopen_follows_a_renamed_file) {
    TempDir dir;
    const auto path = dir.path / "h.log";
    LogFile file(
        LogFileOptions{.path = path.string(), .flush_interval = std::chrono::milliseconds(5)});
    BOOST_TEST(file.start().empty());
    file.append("old\n");
    BOOST_TEST(wait_for_lines(path, 1));
    fs::rename(path, dir.path / "h.log.moved");
    file.reopen();
    file.append("new\n");
    file.stop();
    BOOST_TEST(lines_of(dir.path / "h.log.moved") == (std::vector<std::string>{"old"}),
               boost::test_tools::per_element());
    BOOST_TEST(lines_of(path) == (std::vector<std::string>{"new"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_full_disk_keeps_records_bounded_and_stop_still_returns) {
    LogFile file(
        LogFileOptions{.path = "/dev/full", .flush_interval = std::chrono::milliseconds(5)});
    BOOST_TEST(file.start().empty());
    const std::string chunk(1024 * 1024, 'x');
    for (int i = 0; i < 9; ++i) {
        file.append(chunk);
    }
    BOOST_TEST(file.backlogged());  // readers would pause
    int refused = 0;
    for (int i = 0; i < 80; ++i) {
        refused += file.try_append(chunk) ? 0 : 1;
    }
    BOOST_TEST(refused > 0);  // datagrams would be dropped
    const auto before = std::chrono::steady_clock::now();
    file.stop();
    BOOST_TEST((std::chrono::steady_clock::now() - before < std::chrono::seconds(5)));
}

// fork mode: a child has no writer thread; every append is in the file when it returns.
BOOST_AUTO_TEST_CASE(a_fork_child_writes_each_append_through_at_once) {
    TempDir dir;
    const auto path = dir.path / "c.log";
    LogFile file(
        LogFileOptions{.path = path.string(), .flush_interval = std::chrono::milliseconds(60000)});
    file.enter_child();
    file.append("one\ntwo\n");
    BOOST_TEST(file.try_append("three\n"));
    BOOST_TEST(lines_of(path) == (std::vector<std::string>{"one", "two", "three"}),
               boost::test_tools::per_element());
    BOOST_TEST(!file.backlogged());
    fs::rename(path, dir.path / "c.log.moved");
    file.append("still the open file\n");
    file.reopen();  // SIGHUP, which the parent passes on
    file.append("new file\n");
    file.stop();
    BOOST_TEST(lines_of(dir.path / "c.log.moved").back() == "still the open file");
    BOOST_TEST(lines_of(path) == (std::vector<std::string>{"new file"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_fork_child_rotates_a_full_file_once_whoever_finds_it_full) {
    TempDir dir;
    const auto path = dir.path / "cr.log";
    const LogFileOptions options{.path = path.string(), .rotate_size = 100, .max_files = 3};
    LogFile first(options);  // two children writing the same file
    LogFile second(options);
    first.enter_child();
    second.enter_child();
    const std::string record(59, 'r');
    first.append(record + "\n");
    second.append(record + "\n");  // 120 bytes: second rotates
    first.append(record + "\n");   // first's file was rotated away: it finds it full and reopens
    first.append(record + "\n");
    first.stop();
    second.stop();
    BOOST_TEST(lines_of(path.string() + ".1").size() == 3U);  // two, plus first's one write after
    BOOST_TEST(lines_of(path).size() == 1U);
    BOOST_TEST(!fs::exists(path.string() + ".2"));
}

BOOST_AUTO_TEST_CASE(a_fork_child_keeps_what_the_disk_refuses_and_holds_its_reader_back) {
    LogFile file(LogFileOptions{.path = "/dev/full"});
    file.enter_child();
    file.append("refused\n");
    BOOST_TEST(file.backlogged());  // the session stops reading until the records are written
    file.stop();                    // logs what is lost; returns
}

BOOST_AUTO_TEST_SUITE_END()
