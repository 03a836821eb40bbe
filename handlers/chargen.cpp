#include "handlers/chargen.hpp"

#include <array>
#include <random>

namespace netd {

namespace {

/// RFC 864's pattern: the 95 printable ASCII characters; line n holds 72 of them starting at
/// character n (mod 95), then CRLF. After 95 lines the pattern repeats.
constexpr std::size_t printable_count = 95;
constexpr std::size_t line_chars = 72;
constexpr std::size_t line_size = line_chars + 2;
constexpr std::size_t cycle_size = printable_count * line_size;
/// How many bytes one produce() hands over: about what a socket takes at once.
constexpr std::size_t chunk_size = std::size_t{64} * 1024;
/// A datagram reply is at most this long (RFC 864: "a random number between 0 and 512").
constexpr std::size_t max_datagram = 512;

/// Enough whole cycles that chunk_size bytes can start at any line, in one piece: a reply is
/// then a view of it, never a copy.
const std::string& pattern() {
    static const std::string text = [] {
        std::string lines;
        const std::size_t count = (chunk_size + cycle_size) / line_size + 1;
        lines.reserve(count * line_size);
        for (std::size_t line = 0; line < count; ++line) {
            for (std::size_t i = 0; i < line_chars; ++i) {
                lines += static_cast<char>(' ' + (line + i) % printable_count);
            }
            lines += "\r\n";
        }
        return lines;
    }();
    return text;
}

class ChargenSession final : public StreamSession {
  public:
    void handle(std::string_view /*bytes*/, Output& /*out*/) override {}
    bool produces() const override { return true; }

    /// chunk_size bytes of the pattern from where the last part ended.
    void produce(Output& out) override {
        out.write_input(std::string_view(pattern()).substr(offset_, chunk_size));
        offset_ = (offset_ + chunk_size) % cycle_size;
    }

  private:
    std::size_t offset_ = 0;  ///< where the next part starts in the pattern
};

class ChargenHandler final : public Handler {
  public:
    std::unique_ptr<StreamSession> open_session(const Peer& /*peer*/) override {
        return std::make_unique<ChargenSession>();
    }

    void datagram(std::string_view /*bytes*/, const Peer& /*peer*/, Output& out) override {
        thread_local std::minstd_rand random(std::random_device{}());
        thread_local std::size_t line = 0;
        const std::size_t length = random() % (max_datagram + 1);
        out.write_input(std::string_view(pattern()).substr(line * line_size, length));
        line = (line + 1) % printable_count;
    }
};

}  // namespace

HandlerSpec chargen_handler_spec() {
    return HandlerSpec{
        .name = "chargen",
        .summary = "RFC 864: rotating lines of characters for as long as the client reads",
        .stream = true,
        .datagram = true,
        .keys = {},
        .make = [](const config::ServiceConfig&) -> std::unique_ptr<Handler> {
            // Built once, before any connection, so that no thread races to make it.
            pattern();
            return std::make_unique<ChargenHandler>();
        },
    };
}

}  // namespace netd
