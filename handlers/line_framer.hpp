#pragma once
// Splits a byte stream into lines: LF or CRLF ends a line (and NUL too, where asked). A line longer
// than max_line is reported once, cut at max_line and marked truncated, and the rest of it up to
// its end is skipped, so a client can never make a session buffer more than max_line bytes. Shared
// by every line-based handler (timefmt, logger).

#include <cstddef>
#include <string>
#include <string_view>

namespace netd {

struct Line {
    std::string_view text;    ///< without its ending; at most max_line bytes
    std::string_view ending;  ///< "\n", "\r\n", "\0", or "" (cut short, or the end of input)
    bool truncated = false;   ///< the line was longer than max_line; text is its first part
};

class LineFramer {
  public:
    /// max_line must be at least 1. With nul_ends, a NUL byte also ends a line (syslog over TCP).
    explicit LineFramer(std::size_t max_line, bool nul_ends = false)
        : max_line_(max_line), nul_ends_(nul_ends) {}

    /// Feeds bytes; calls on_line(const Line&) for every line they complete, in order. Lines that
    /// lie wholly inside bytes are passed without copying.
    template <class OnLine>
    void feed(std::string_view bytes, OnLine&& on_line);

    /// The end of input: a last line without an ending is delivered with ending "".
    template <class OnLine>
    void finish(OnLine&& on_line);

    /// Bytes held for an unfinished line.
    std::size_t buffered() const { return partial_.size(); }

  private:
    /// Where the next line ending starts in bytes, or npos.
    std::size_t find_end(std::string_view bytes) const;
    /// Whether the line ending at bytes[end] is ended by LF (so a CR before it is its ending);
    /// an incomplete line (end == npos) may still be.
    static bool complete_by_lf(std::string_view bytes, std::size_t end) {
        return end == std::string_view::npos || bytes[end] == '\n';
    }
    /// Forgets the finished line; a large buffer is given back so idle sessions stay small.
    void reset() {
        partial_.clear();
        if (partial_.capacity() > 4096) {
            std::string().swap(partial_);
        }
    }

    std::size_t max_line_;
    bool nul_ends_;
    std::string partial_;    ///< the start of a line whose end has not arrived
    bool skipping_ = false;  ///< inside the over-long part of a truncated line
};

template <class OnLine>
void LineFramer::feed(std::string_view bytes, OnLine&& on_line) {
    while (!bytes.empty()) {
        const std::size_t end = find_end(bytes);
        const bool complete = end != std::string_view::npos;
        if (skipping_) {
            if (!complete) {
                return;
            }
            skipping_ = false;
            bytes.remove_prefix(end + 1);
            continue;
        }
        const std::string_view before = bytes.substr(0, end);  // all of bytes when incomplete
        const std::size_t length = partial_.size() + before.size();
        const char last =
            before.empty() ? (partial_.empty() ? '\0' : partial_.back()) : before.back();
        // One byte more than max_line is allowed while it is a CR: the first half of CRLF.
        if (length > max_line_ + 1 ||
            (length == max_line_ + 1 && (last != '\r' || !complete_by_lf(bytes, end)))) {
            if (partial_.size() < max_line_) {
                partial_.append(before.substr(0, max_line_ - partial_.size()));
            } else {
                partial_.resize(max_line_);
            }
            on_line(Line{partial_, {}, true});
            reset();
            if (!complete) {
                skipping_ = true;
                return;
            }
            bytes.remove_prefix(end + 1);
            continue;
        }
        if (!complete) {
            partial_.append(before);
            return;
        }
        std::string_view text = before;
        if (!partial_.empty()) {
            partial_.append(before);
            text = partial_;
        }
        std::string_view ending = bytes.substr(end, 1);
        if (ending == "\n" && text.ends_with('\r')) {
            text.remove_suffix(1);
            ending = "\r\n";
        }
        on_line(Line{text, ending, false});
        reset();
        bytes.remove_prefix(end + 1);
    }
}

template <class OnLine>
void LineFramer::finish(OnLine&& on_line) {
    if (!partial_.empty()) {
        on_line(Line{partial_, {}, false});
        reset();
    }
    skipping_ = false;
}

}  // namespace netd
