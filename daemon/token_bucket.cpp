#include "daemon/token_bucket.hpp"

#include <functional>

namespace netd {

namespace {

std::size_t hash_of(const boost::asio::ip::address& address) {
    if (address.is_v4()) {
        // Multiplicative hashing spreads neighbouring addresses (10.0.0.1, 10.0.0.2) over sets.
        return static_cast<std::size_t>(address.to_v4().to_uint() * 0x9E3779B97F4A7C15ULL >> 32);
    }
    const auto bytes = address.to_v6().to_bytes();
    std::size_t hash = 0xcbf29ce484222325ULL;  // FNV-1a
    for (const auto byte : bytes) {
        hash = (hash ^ byte) * 0x100000001b3ULL;
    }
    return hash;
}

}  // namespace

bool TokenBucketTable::take(const boost::asio::ip::address& source,
                            std::chrono::steady_clock::time_point now) {
    auto& set = (*sets_)[hash_of(source) % set_count];
    const std::lock_guard lock(set.mutex);
    Entry* victim = &set.entries.front();
    for (auto& entry : set.entries) {
        if (entry.used && entry.source == source) {
            return entry.bucket.take(now, rate_, burst_);
        }
        if (!entry.used || (victim->used && entry.bucket.last < victim->bucket.last)) {
            victim = &entry;
        }
    }
    victim->used = true;
    victim->source = source;
    victim->bucket = TokenBucket{.tokens = burst_, .last = now};
    return victim->bucket.take(now, rate_, burst_);
}

}  // namespace netd
