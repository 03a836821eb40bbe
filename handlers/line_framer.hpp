#pragma once
// Splits a byte stream into lines: LF or CRLF ends a line (and NUL too, where asked). A line longer
// than max_line is reported once, cut at max_line and marked truncated, and the rest of it up to
// its end is skipped, so a client can never make a session buffer more than max_line bytes. Shared
// by every line-based handler (timefmt, logger).

#include <cstddef>
#include <string>
#include <string_view>

namespace netd {

/// One line, as on_line sees it. text is a view into the bytes being fed or into the framer's
/// own buffer: valid only during the on_line call (the daemon reads every connection into one
/// scratch buffer per thread, so by the next read it holds another client's bytes). ending is a
/// view of a static literal: it may be kept for as long as the program runs.
struct Line {
    std::string_view text;    ///< without its ending; at most max_line bytes
    std::string_view ending;  ///< "\n", "\r\n", "\0", or "" (cut short, or the end of input)
    bool truncated = false;   ///< the line was longer than max_line; text is its first part
};

/// The line endings a Line may carry, as static literals.
namespace line_end {
inline constexpr std::string_view lf = "\n";
inline constexpr std::string_view crlf = "\r\n";
inline constexpr std::string_view nul{"\0", 1};
}  // namespace line_end

class LineFramer {
  public:
    /// max_line must be at least 1. With nul_ends, a NUL byte also ends a line (syslog over TCP).
    explicit LineFramer(std::size_t max_line, bool nul_ends = false)
        : max_line_(max_line), nul_ends_(nul_ends) {}

    /// Feeds bytes; calls on_line(const Line&) for every line they complete, in order. Lines that
    /// lie wholly inside bytes are passed without copying.
    template <class OnLine>
    void feed(std::string_view bytes, OnLine&& on_line);

    /// Like feed, but stops after the first line it completes; returns the bytes it consumed
    /// (all of them when no line ends in bytes). For protocols that change framing per message.
    template <class OnLine>
    std::size_t feed_line(std::string_view bytes, OnLine&& on_line);

    /// Whether no line is in progress (nothing buffered, nothing being skipped).
    bool at_line_start() const { return partial_.empty() && !skipping_; }

    /// The end of input: a last line without an ending is delivered with ending "".
    template <class OnLine>
    void finish(OnLine&& on_line);

    /// Bytes held for an unfinished line.
    std::size_t buffered() const { return partial_.size(); }

    /// Bytes of memory the framer holds beyond its own size: none between lines.
    std::size_t heap_bytes() const {
        return partial_.capacity() > std::string().capacity() ? partial_.capacity() : 0;
    }

    /// The longest line delivered whole.
    std::size_t max_line() const { return max_line_; }

  private:
    /// Where the next line ending starts in bytes, or npos.
    std::size_t find_end(std::string_view bytes) const;
    /// Forgets the finished line and gives its buffer back. Most sessions wait idle between
    /// lines, and a buffer kept for the next split line would be most of what an idle session
    /// costs (up to max_line bytes); at most one line per read arrives split, so this is one
    /// allocation per read at most.
    void reset() { std::string().swap(partial_); }

    // Ordered so that the two flags share one word: every idle session holds a framer.
    std::size_t max_line_;
    std::string partial_;  ///< the start of a line whose end has not arrived
    bool nul_ends_;
    bool skipping_ = false;  ///< inside the over-long part of a truncated line
};

template <class OnLine>
void LineFramer::feed(std::string_view bytes, OnLine&& on_line) {
    while (!bytes.empty()) {
        bytes.remove_prefix(feed_line(bytes, on_line));
    }
}

template <class OnLine>
std::size_t LineFramer::feed_line(std::string_view bytes, OnLine&& on_line) {
    const std::size_t end = find_end(bytes);
    const bool complete = end != std::string_view::npos;
    const std::size_t used = complete ? end + 1 : bytes.size();
    if (skipping_) {
        skipping_ = !complete;
        return used;
    }
    const std::string_view before = bytes.substr(0, end);  // all of bytes when incomplete
    const std::size_t length = partial_.size() + before.size();
    const char last = !before.empty() ? before.back() : (partial_.empty() ? '\0' : partial_.back());
    // One byte more than max_line is allowed while it is a CR: the first half of CRLF.
    const bool cr_may_end = last == '\r' && (!complete || bytes[end] == '\n');
    if (length > max_line_ + 1 || (length == max_line_ + 1 && !cr_may_end)) {
        if (partial_.size() < max_line_) {
            partial_.append(before.substr(0, max_line_ - partial_.size()));
        } else {
            partial_.resize(max_line_);
        }
        on_line(Line{partial_, {}, true});
        reset();
        skipping_ = !complete;
        return used;
    }
    if (!complete) {
        partial_.append(before);
        return used;
    }
    std::string_view text = before;
    if (!partial_.empty()) {
        partial_.append(before);
        text = partial_;
    }
    std::string_view ending = bytes[end] == '\n' ? line_end::lf : line_end::nul;
    if (ending == line_end::lf && text.ends_with('\r')) {
        text.remove_suffix(1);
        ending = line_end::crlf;
    }
    on_line(Line{text, ending, false});
    reset();
    return used;
}

template <class OnLine>
void LineFramer::finish(OnLine&& on_line) {
    if (!partial_.empty()) {
        // One byte over max_line is held while it may be the CR of a CRLF; at the end of input
        // it is not, and the line is too long.
        const bool too_long = partial_.size() > max_line_;
        if (too_long) {
            partial_.resize(max_line_);
        }
        on_line(Line{partial_, {}, too_long});
        reset();
    }
    skipping_ = false;
}

}  // namespace netd
