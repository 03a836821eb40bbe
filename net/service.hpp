#pragma once
// A running service: its settings (and the config snapshot they live in), its handler, its
// counters and its verify_request chain.

#include <memory>

#include "config/config.hpp"
#include "handlers/handler.hpp"
#include "verify/verify.hpp"

namespace netd {

struct Service {
    /// Keeps the snapshot alive for as long as any connection of this service is.
    std::shared_ptr<const config::Config> config;
    const config::ServiceConfig& settings;
    std::unique_ptr<Handler> handler;
    ServiceMetrics metrics;
    std::shared_ptr<VerifyChain> verify;
};

/// "[name]", the prefix of every log line about a service.
inline std::string log_prefix(const Service& service) {
    return "[" + service.settings.name + "] ";
}

}  // namespace netd
