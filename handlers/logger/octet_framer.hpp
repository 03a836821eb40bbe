#pragma once
// Syslog over a stream (RFC 6587): a frame that starts with a digit is octet-counted ("LEN SP MSG",
// the next LEN bytes are the message, LF included); any other frame is a line ended by LF, CRLF or
// NUL. The choice is made per frame. A message over max_message is cut there and marked truncated,
// the rest of it skipped; a session never holds more than max_message bytes, whatever a count says.

#include <cstdint>
#include <string>
#include <string_view>

#include "handlers/line_framer.hpp"

namespace netd {

class OctetCountFramer {
  public:
    explicit OctetCountFramer(std::size_t max_message) : lines_(max_message, true) {}

    /// Feeds bytes; calls on_message(std::string_view text, bool truncated) for each message they
    /// complete. Empty lines are not messages; an octet-counted "0 " frame is an empty one.
    template <class OnMessage>
    void feed(std::string_view bytes, OnMessage&& on_message);

    /// The end of input: a message in progress is delivered as it is (a count that promised
    /// more than arrived is marked truncated; digits with no space after them are a message).
    template <class OnMessage>
    void finish(OnMessage&& on_message);

  private:
    /// Longest count accepted (any 19-digit number fits in 64 bits); more digits than this are an
    /// ordinary line.
    static constexpr std::size_t max_count_digits = 19;

    enum class State { frame_start, count, body, line };

    static bool is_digit(char c) { return c >= '0' && c <= '9'; }

    std::size_t max_message() const { return lines_.max_line(); }

    // Every idle logger session holds one of these, so nothing is kept twice: max_message is
    // the line framer's max_line, and one string holds what the state in progress needs.
    // [[no_unique_address]] lets truncated_ and state_ sit in the tail padding of lines_.
    [[no_unique_address]] LineFramer lines_;
    bool truncated_ = false;
    State state_ = State::frame_start;
    /// count: the digits read so far; body: the kept part of a body split across reads; empty
    /// otherwise (a line in progress is in lines_).
    std::string pending_;
    std::uint64_t remaining_ = 0;  ///< body bytes still to come
};

template <class OnMessage>
void OctetCountFramer::feed(std::string_view bytes, OnMessage&& on_message) {
    const auto on_line = [&](const Line& line) {
        if (!line.text.empty() || line.truncated) {
            on_message(line.text, line.truncated);
        }
    };
    while (!bytes.empty()) {
        switch (state_) {
            case State::frame_start:
                state_ = is_digit(bytes.front()) ? State::count : State::line;
                break;
            case State::count: {
                std::size_t digits = 0;
                while (digits < bytes.size() && is_digit(bytes[digits]) &&
                       pending_.size() <= max_count_digits) {
                    pending_ += bytes[digits++];
                }
                bytes.remove_prefix(digits);
                if (bytes.empty()) {
                    return;
                }
                if (bytes.front() == ' ' && pending_.size() <= max_count_digits) {
                    remaining_ = std::stoull(pending_);
                    pending_.clear();
                    bytes.remove_prefix(1);
                    truncated_ = false;
                    state_ = State::body;
                    if (remaining_ == 0) {
                        on_message(std::string_view(), false);
                        state_ = State::frame_start;
                    }
                    break;
                }
                // Not a count after all: the digits begin an ordinary line.
                lines_.feed_line(pending_, on_line);
                pending_.clear();
                state_ = State::line;
                break;
            }
            case State::body: {
                const auto take =
                    static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size()));
                if (pending_.empty() && take == remaining_ && take <= max_message() &&
                    !truncated_) {
                    on_message(bytes.substr(0, take), false);  // whole frame in this read: no copy
                } else {
                    const std::size_t room = max_message() - pending_.size();
                    pending_.append(bytes.substr(0, std::min(take, room)));
                    truncated_ = truncated_ || take > room;
                    if (take == remaining_) {
                        on_message(std::string_view(pending_), truncated_);
                        std::string().swap(pending_);
                    }
                }
                remaining_ -= take;
                bytes.remove_prefix(take);
                if (remaining_ == 0) {
                    state_ = State::frame_start;
                }
                break;
            }
            case State::line:
                bytes.remove_prefix(lines_.feed_line(bytes, on_line));
                if (lines_.at_line_start()) {
                    state_ = State::frame_start;
                }
                break;
        }
    }
}

template <class OnMessage>
void OctetCountFramer::finish(OnMessage&& on_message) {
    switch (state_) {
        case State::count: {
            // Digits with nothing after them: a message of its own, cut at max_message.
            const std::string_view digits(pending_);
            on_message(digits.substr(0, max_message()), digits.size() > max_message());
            break;
        }
        case State::body:
            on_message(std::string_view(pending_), true);
            break;
        case State::line:
            lines_.finish([&](const Line& line) { on_message(line.text, line.truncated); });
            break;
        case State::frame_start:
            break;
    }
    std::string().swap(pending_);
    state_ = State::frame_start;
}

}  // namespace netd
