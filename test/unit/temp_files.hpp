#pragma once
// Unit-test helpers for tests that write files: a fresh directory, and a file's lines.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace netd::test {

/// A fresh directory, removed at the end of the test.
struct TempDir {
    TempDir() {
        static int counter = 0;
        path = std::filesystem::temp_directory_path() /
               ("netd-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(path);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() { std::filesystem::remove_all(path); }
    std::filesystem::path path;
};

/// The lines of a file (none if it does not exist).
inline std::vector<std::string> lines_of(const std::filesystem::path& file) {
    std::vector<std::string> lines;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

}  // namespace netd::test
