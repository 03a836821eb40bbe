// framer-bench: how long the logger's stream framing (OctetCountFramer and the LineFramer in it)
// takes per message, fed the same input in the same cuts every time.
//
//   build/framer-bench [ROUNDS]
//
// The input is 10,000 messages of 99 bytes: three of every four LF-ended lines, every fourth
// octet-counted ("99 <13>..."), cut into reads of 1 to 8,192 bytes by a generator with a fixed
// seed, so that lines and frames are split across reads as on a busy connection. The input is
// framed ROUNDS times (default 100, a new framer each time) in 9 timed runs; the fastest and the
// median run are printed, in ns per message. Under valgrind --tool=callgrind, two runs with
// different ROUNDS give the instructions per message:
// (total(R2) - total(R1)) / ((R2 - R1) * 9 * 10000). Unlike a whole server's count
// (bench/run-callgrind --mode tcp-logger), this one does not move with how TCP cuts the input.
//
// It needs nothing but the framers' headers and handlers/line_framer.cpp, so the framer of any
// commit can be measured with the same program:
// g++ -std=c++20 -O2 -I TREE TREE/handlers/line_framer.cpp bench/framer_bench.cpp
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/logger/octet_framer.hpp"

namespace {

constexpr std::size_t message_count = 10000;
constexpr std::size_t message_size = 99;

std::string make_input() {
    std::string input;
    for (std::size_t i = 0; i < message_count; ++i) {
        std::string message = "<13>Nov 22 10:00:00 host app: record " + std::to_string(i) + " ";
        message.resize(message_size, 'x');
        if (i % 4 == 3) {
            input += std::to_string(message.size()) + " " + message;
        } else {
            input += message + "\n";
        }
    }
    return input;
}

/// The input cut into reads of 1 to 8,192 bytes, the same every run.
std::vector<std::string_view> make_reads(std::string_view input) {
    std::minstd_rand random(7);
    std::vector<std::string_view> reads;
    for (std::size_t at = 0; at < input.size();) {
        const std::size_t size = std::min<std::size_t>(input.size() - at, 1 + random() % 8192);
        reads.push_back(input.substr(at, size));
        at += size;
    }
    return reads;
}

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 100;
    if (argc > 2 || rounds <= 0) {
        std::fprintf(stderr, "usage: framer-bench [ROUNDS]\n");
        return 2;
    }
    const std::string input = make_input();
    const auto reads = make_reads(input);
    std::size_t messages = 0;
    std::size_t bytes = 0;  // keeps the framing from being optimised away
    const auto on_message = [&](std::string_view text, bool truncated) {
        ++messages;
        bytes += text.size() + (truncated ? 1 : 0);
    };
    std::vector<double> runs;
    for (int run = 0; run < 9; ++run) {
        const auto start = std::chrono::steady_clock::now();
        for (int round = 0; round < rounds; ++round) {
            netd::OctetCountFramer framer(2048);
            for (const auto read : reads) {
                framer.feed(read, on_message);
            }
            framer.finish(on_message);
        }
        const std::chrono::duration<double, std::nano> took =
            std::chrono::steady_clock::now() - start;
        runs.push_back(took.count() / (static_cast<double>(rounds) * message_count));
    }
    if (messages != 9 * static_cast<std::size_t>(rounds) * message_count ||
        bytes != messages * message_size) {
        std::fprintf(stderr, "framer-bench: %zu messages of %zu bytes in all, not %zu of %zu\n",
                     messages, bytes, 9 * static_cast<std::size_t>(rounds) * message_count,
                     message_size);
        return 1;
    }
    std::sort(runs.begin(), runs.end());
    std::printf(
        "%zu messages in %zu reads x %d rounds: fastest %.1f ns, median %.1f ns per "
        "message\n",
        message_count, reads.size(), rounds, runs.front(), runs[runs.size() / 2]);
    return 0;
}
