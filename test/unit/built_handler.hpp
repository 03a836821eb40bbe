#pragma once
// Unit-test helpers: a handler built from config keys the way netd builds it, and a stream
// conversation with it without sockets.

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "daemon/catalog.hpp"
#include "handlers/registry.hpp"

namespace netd::test {

/// A handler built the way netd builds it: from a validated config with these keys set.
struct Built {
    std::shared_ptr<const config::Config> config;
    std::unique_ptr<Handler> handler;
};

inline Built build(const std::string& handler,
                   const std::vector<std::pair<std::string, std::string>>& keys = {}) {
    config::RawConfig raw;
    raw.set(handler, "tcp", {"127.0.0.1:0", "test"});
    for (const auto& [key, value] : keys) {
        raw.set(handler, key, {value, "test"});
    }
    Built built;
    built.config = config::build_config(raw, catalog());
    built.handler = find_handler(handler)->make(built.config->services.front());
    return built;
}

inline std::string config_error(const std::string& handler, const std::string& key,
                                const std::string& value) {
    try {
        build(handler, {{key, value}});
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "accepted";
}

/// Bytes that stand for other clients' input: the daemon reads every connection of a thread
/// into one scratch buffer, so once a call returns, its input holds someone else's bytes.
constexpr char other_client_byte = '\xff';

/// How a conversation's input is cut into reads.
enum class Cuts {
    random,  ///< pieces of 1 to 64 bytes, from a generator seeded per conversation
    whole,   ///< each chunk as one read
    bytes,   ///< one byte at a time
};

/// Runs a stream session the way the daemon does: setup, then every chunk, cut into reads as
/// cuts says, each read copied into one shared scratch buffer (the thread's read buffer) and
/// handed over with a fresh Output whose reply is taken (sent) at once; then the buffer is
/// overwritten with other_client_byte before the next read. A session that keeps a view of its
/// input past the call answers with those bytes, and the test sees them. Reading stops once the
/// session asks to close, as the daemon's does. Returns every reply byte and whether it closed.
inline std::pair<std::string, bool> converse(Handler& handler,
                                             const std::vector<std::string>& chunks,
                                             bool finish = false, Cuts cuts = Cuts::random) {
    static unsigned conversations = 0;
    std::minstd_rand random(++conversations);
    std::size_t longest = 0;
    for (const auto& chunk : chunks) {
        longest = std::max(longest, chunk.size());
    }
    std::string scratch(longest, other_client_byte);  // never reallocated: views into it stay
    std::string reply;
    bool closed = false;
    const auto step = [&](auto&& call) {
        std::string buffer;
        Output out(buffer);
        call(out);
        reply += out.pending();
        closed = out.close_requested();
        std::fill(scratch.begin(), scratch.end(), other_client_byte);
    };
    auto session = handler.open_session(Peer{});
    step([&](Output& out) { session->setup(out); });
    for (const auto& chunk : chunks) {
        for (std::size_t at = 0; at < chunk.size() && !closed;) {
            std::size_t size = chunk.size() - at;
            if (cuts == Cuts::bytes) {
                size = 1;
            } else if (cuts == Cuts::random) {
                size = std::min(size, std::size_t{1} + random() % 64);
            }
            const std::string_view read(scratch.data(), size);
            std::copy_n(chunk.data() + at, size, scratch.data());
            at += size;
            step([&](Output& out) { session->handle(read, out); });
        }
    }
    if (finish && !closed) {
        step([&](Output& out) { session->finish(out); });
    }
    return {reply, closed};
}

}  // namespace netd::test
