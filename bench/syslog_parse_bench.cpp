// syslog-parse-bench: how long parse_syslog takes per message, over the messages of a file.
//
//   build/syslog-parse-bench [--raw] [--only rfc5424|rfc3164|no-pri] FILE [ROUNDS]
//
// FILE is in test/e2e/syslog_corpus.txt's format ("ID MESSAGE" a line, `\xHH` and `\\` escapes,
// `#` comments), or with --raw one message per line as it is. --only keeps the messages of one
// kind: "<PRI>1 " (rfc5424), another "<" (rfc3164), or none (no-pri). Every message is parsed
// ROUNDS times (default 20000) in 9 timed runs; the fastest and the median run are printed, in
// ns per message. Under valgrind --tool=callgrind, two runs with different ROUNDS give the
// instructions per message: (total(R2) - total(R1)) / ((R2 - R1) * 9 * messages).
//
// It needs nothing but handlers/logger/syslog.cpp, so the parser of any commit can be measured
// with the same program: g++ -std=c++20 -O2 -I TREE TREE/handlers/logger/syslog.cpp
// bench/syslog_parse_bench.cpp (commits before the parser moved to handlers/logger/ have it in
// handlers/: add -DNETD_SYSLOG_HEADER='"handlers/syslog.hpp"').
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#ifdef NETD_SYSLOG_HEADER
#include NETD_SYSLOG_HEADER
#else
#include "handlers/logger/syslog.hpp"
#endif

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    const char lower = static_cast<char>(c | 0x20);
    return lower >= 'a' && lower <= 'f' ? lower - 'a' + 10 : -1;
}

/// A corpus line's message: `\xHH` is the byte HH, `\\` a backslash.
std::string decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == '\\') {
            out += '\\';
            ++i;
        } else if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x' &&
                   hex_value(text[i + 2]) >= 0 && hex_value(text[i + 3]) >= 0) {
            out += static_cast<char>(hex_value(text[i + 2]) * 16 + hex_value(text[i + 3]));
            i += 3;
        } else {
            out += text[i];
        }
    }
    return out;
}

std::string_view kind_of(std::string_view message) {
    if (!message.starts_with('<')) {
        return "no-pri";
    }
    const auto close = message.find('>');
    return close != std::string_view::npos && message.substr(close + 1).starts_with("1 ")
               ? "rfc5424"
               : "rfc3164";
}

int usage() {
    std::fprintf(stderr,
                 "usage: syslog-parse-bench [--raw] [--only rfc5424|rfc3164|no-pri] FILE "
                 "[ROUNDS]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    bool raw = false;
    std::string only;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--raw") {
            raw = true;
        } else if (arg == "--only" && i + 1 < argc) {
            only = argv[++i];
        } else {
            args.emplace_back(arg);
        }
    }
    if (args.empty() || args.size() > 2) {
        return usage();
    }
    std::ifstream in(args[0], std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "syslog-parse-bench: cannot read %s\n", args[0].c_str());
        return 1;
    }
    std::vector<std::string> messages;
    for (std::string line; std::getline(in, line);) {
        if (!raw) {
            if (line.empty() || line.starts_with('#') || line.find(' ') == std::string::npos) {
                continue;
            }
            line = decode(std::string_view(line).substr(line.find(' ') + 1));
        }
        if (only.empty() || kind_of(line) == only) {
            messages.push_back(line);
        }
    }
    const int rounds = args.size() > 1 ? std::atoi(args[1].c_str()) : 20000;
    if (messages.empty() || rounds <= 0) {
        return usage();
    }
    std::size_t sink = 0;  // keeps the parses from being optimised away
    std::vector<double> runs;
    for (int run = 0; run < 9; ++run) {
        const auto start = std::chrono::steady_clock::now();
        for (int round = 0; round < rounds; ++round) {
            for (const auto& message : messages) {
                const auto parsed = netd::parse_syslog(message);
                sink += parsed.text.size() + parsed.host.size() + parsed.app.size() +
                        static_cast<std::size_t>(parsed.facility + 1);
            }
        }
        const std::chrono::duration<double, std::nano> took =
            std::chrono::steady_clock::now() - start;
        runs.push_back(took.count() /
                       (static_cast<double>(rounds) * static_cast<double>(messages.size())));
    }
    std::sort(runs.begin(), runs.end());
    std::printf("%zu messages x %d rounds: fastest %.1f ns, median %.1f ns per message (%zu)\n",
                messages.size(), rounds, runs.front(), runs[runs.size() / 2], sink);
    return 0;
}
