// LineFramer: whatever the bytes and however they are split, the same lines come out; no line is
// longer than max_line; a line's text holds no line end; and when nothing was truncated the lines
// with their endings are exactly the input. Fed through a reused read buffer, as the daemon
// feeds it, so that a view the framer hands out for longer than a call shows.

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "fuzz/fuzz_input.hpp"
#include "handlers/line_framer.hpp"

namespace {

using Lines = std::vector<std::tuple<std::string, std::string, bool>>;

/// Frames chunks as the daemon feeds a session: each copied into one read buffer that holds
/// other clients' bytes once the call returns. A line's text is copied during the call (it is
/// valid only then); its ending is kept as the view the framer gave, which must stay valid.
Lines frame(std::size_t max_line, bool nul_ends, const std::vector<std::string_view>& chunks) {
    netd::LineFramer framer(max_line, nul_ends);
    std::size_t longest = 0;
    for (const auto chunk : chunks) {
        longest = std::max(longest, chunk.size());
    }
    std::string scratch(longest, '\xff');
    std::vector<std::tuple<std::string, std::string_view, bool>> seen;
    const auto on_line = [&](const netd::Line& line) {
        seen.emplace_back(std::string(line.text), line.ending, line.truncated);
    };
    for (const auto chunk : chunks) {
        std::copy(chunk.begin(), chunk.end(), scratch.begin());
        framer.feed(std::string_view(scratch.data(), chunk.size()), on_line);
        std::fill(scratch.begin(), scratch.end(), '\xff');
        // One byte more while it may be the CR of a CRLF.
        if (framer.buffered() > max_line + 1) {
            netd::fuzz::fail("the framer holds more than max_line + 1 bytes");
        }
    }
    framer.finish(on_line);
    Lines lines;
    for (const auto& [text, ending, truncated] : seen) {
        lines.emplace_back(text, std::string(ending), truncated);
    }
    return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    netd::fuzz::Input in(data, size);
    const std::size_t max_line = 1 + in.pick(64);
    const bool nul_ends = in.pick(2) == 1;
    const std::string_view bytes = in.rest();
    const std::size_t split = in.pick(bytes.size() + 1);
    const Lines whole = frame(max_line, nul_ends, {bytes});
    for (const auto& chunks : netd::fuzz::other_splits(bytes, split)) {
        if (frame(max_line, nul_ends, chunks) != whole) {
            netd::fuzz::fail("the way the input was split changed the lines");
        }
    }
    std::string joined;
    bool any_truncated = false;
    for (const auto& [text, ending, truncated] : whole) {
        if (text.size() > max_line || (truncated && text.size() != max_line)) {
            netd::fuzz::fail("a line's length breaks max_line");
        }
        if (text.find('\n') != std::string::npos ||
            (nul_ends && text.find('\0') != std::string::npos)) {
            netd::fuzz::fail("a line holds a line end");
        }
        if (ending != "\n" && ending != "\r\n" && ending != std::string(1, '\0') &&
            !ending.empty()) {
            netd::fuzz::fail("an unknown line ending");
        }
        any_truncated = any_truncated || truncated;
        joined += text + ending;
    }
    if (!any_truncated && joined != bytes) {
        netd::fuzz::fail("the lines do not add up to the input");
    }
    return 0;
}
