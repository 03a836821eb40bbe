#pragma once
// Per-source rate limiting for the `rate` verifier: a token bucket per source address, in a table
// of fixed size, so that a flood from many (spoofed) addresses cannot grow memory and can never
// throttle anyone but the sources that are over their rate.
//
// The table is set-associative: a source hashes to one set of `ways` entries; a source not in its
// set takes the entry used least recently. A newcomer therefore always starts with a full bucket
// (nobody is refused because the table is full); the price is that a source evicted by a flood
// of other addresses also starts again with a full bucket.

#include <array>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

namespace netd {

/// rate tokens per second, at most `capacity` saved up (one second's worth).
struct TokenBucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last;

    /// Refills for the time since last and takes one token; false when none is left.
    bool take(std::chrono::steady_clock::time_point now, double rate, double capacity) {
        const double refill = std::chrono::duration<double>(now - last).count() * rate;
        tokens = std::min(capacity, tokens + std::max(refill, 0.0));
        last = now;
        if (tokens < 1.0) {
            return false;
        }
        tokens -= 1.0;
        return true;
    }
};

class TokenBucketTable {
  public:
    static constexpr std::size_t set_count = 1024;
    static constexpr std::size_t ways = 4;
    /// Sources tracked at once, at most.
    static constexpr std::size_t capacity = set_count * ways;

    /// rate: tokens (connections or datagrams) per second per source.
    explicit TokenBucketTable(double rate)
        : rate_(rate), burst_(std::max(rate, 1.0)), sets_(std::make_unique<Sets>()) {}

    /// Whether source may go ahead now (takes a token from its bucket).
    bool take(const boost::asio::ip::address& source, std::chrono::steady_clock::time_point now);

  private:
    struct Entry {
        boost::asio::ip::address source;
        TokenBucket bucket;
        bool used = false;
    };
    struct Set {
        std::mutex mutex;
        std::array<Entry, ways> entries;
    };
    using Sets = std::array<Set, set_count>;

    double rate_;
    double burst_;
    std::unique_ptr<Sets> sets_;
};

}  // namespace netd
