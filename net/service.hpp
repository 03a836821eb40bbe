#pragma once
// A running service: its settings (and the config snapshot they live in), its handler, its
// counters, its verify_request chain, and for tls listeners its TLS context.

#include <memory>

#include "config/config.hpp"
#include "handlers/handler.hpp"
#include "net/tls_context.hpp"
#include "verify/verify.hpp"

namespace netd {

struct Service {
    /// Keeps the snapshot alive for as long as any connection of this service is.
    std::shared_ptr<const config::Config> config;
    const config::ServiceConfig& settings;
    std::unique_ptr<Handler> handler;
    ServiceMetrics metrics;
    std::shared_ptr<VerifyChain> verify;
    /// What its tls listeners' handshakes use (read from the files of its TLS keys when the
    /// service was made); null for a service without TLS.
    std::shared_ptr<const TlsContext> tls;
};

/// "[name]", the prefix of every log line about a service.
inline std::string log_prefix(const Service& service) {
    return "[" + service.settings.name + "] ";
}

}  // namespace netd
