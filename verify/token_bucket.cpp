#include "verify/token_bucket.hpp"

#include <functional>

namespace netd {

bool TokenBucketTable::take(const boost::asio::ip::address& source,
                            std::chrono::steady_clock::time_point now) {
    auto& set = (*sets_)[std::hash<boost::asio::ip::address>()(source) % set_count];
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
