#include "handlers/log_file.hpp"

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace netd;
namespace fs = std::filesystem;

namespace {

/// A fresh directory, removed at the end of the test.
struct TempDir {
    TempDir() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("netd-logfile-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    fs::path path;
};

std::vector<std::string> lines_of(const fs::path& file) {
    std::vector<std::string> lines;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

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

BOOST_AUTO_TEST_SUITE_END()
