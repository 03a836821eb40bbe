// OctetCountFramer (syslog over TCP, RFC 6587): however the bytes are split, the same messages
// come out, none longer than max_message, and the framer never holds more than max_message bytes,
// whatever a count claims.

#include <string>
#include <utility>
#include <vector>

#include "fuzz/fuzz_input.hpp"
#include "handlers/logger/octet_framer.hpp"

namespace {

using Messages = std::vector<std::pair<std::string, bool>>;

Messages frame(std::size_t max_message, const std::vector<std::string_view>& chunks) {
    netd::OctetCountFramer framer(max_message);
    Messages messages;
    const auto on_message = [&](std::string_view text, bool truncated) {
        if (text.size() > max_message) {
            netd::fuzz::fail("a message is longer than max_message");
        }
        messages.emplace_back(std::string(text), truncated);
    };
    for (const auto chunk : chunks) {
        framer.feed(chunk, on_message);
    }
    framer.finish(on_message);
    return messages;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    netd::fuzz::Input in(data, size);
    const std::size_t max_message = 1 + in.pick(100);
    const std::string_view bytes = in.rest();
    const std::size_t split = in.pick(bytes.size() + 1);
    const Messages whole = frame(max_message, {bytes});
    for (const auto& chunks : netd::fuzz::other_splits(bytes, split)) {
        if (frame(max_message, chunks) != whole) {
            netd::fuzz::fail("the way the input was split changed the messages");
        }
    }
    std::size_t total = 0;
    for (const auto& message : whole) {
        total += message.first.size();
    }
    if (total > bytes.size()) {
        netd::fuzz::fail("the messages hold more bytes than came in");
    }
    return 0;
}
