#pragma once
// Unit-test helpers: a handler built from config keys the way netd builds it, and a stream
// conversation with it without sockets.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
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
    built.config = config::build_config(raw);
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

/// Runs a stream session: setup, then each chunk; returns everything written and whether it closed.
inline std::pair<std::string, bool> converse(Handler& handler,
                                             const std::vector<std::string>& chunks,
                                             bool finish = false) {
    std::string buffer;
    Output out(buffer);
    auto session = handler.open_session(Peer{});
    session->setup(out);
    for (const auto& chunk : chunks) {
        session->handle(chunk, out);
    }
    if (finish) {
        session->finish(out);
    }
    return {std::string(out.pending()), out.close_requested()};
}

}  // namespace netd::test
