#include "daemon/catalog.hpp"

#include "handlers/registry.hpp"
#include "net/tls_context.hpp"
#include "verify/verify.hpp"

namespace netd {

config::Catalog catalog() {
    config::Catalog catalog;
    for (const auto& spec : handlers()) {
        catalog.handlers.push_back(config::HandlerKind{
            .name = spec.name,
            .summary = spec.summary,
            .stream = spec.stream,
            .datagram = spec.datagram,
            .keys = spec.keys,
            .check = [make = spec.make](const config::ServiceConfig& service) { make(service); },
        });
    }
    for (const auto& spec : verifiers()) {
        catalog.verifiers.push_back({.name = spec.name, .summary = spec.summary});
    }
    // Reading the files is the check: the context made is dropped again.
    catalog.check_tls = [](const config::ServiceConfig& service) {
        TlsContext check(service.tls_settings);
    };
    return catalog;
}

}  // namespace netd
