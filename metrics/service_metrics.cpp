#include "metrics/service_metrics.hpp"

#include <algorithm>

namespace netd {

std::string traffic_labels(std::string_view service, Transport transport) {
    return metrics::label("service", service) + "," +
           metrics::label("transport", to_string(transport));
}

ServiceMetrics::ServiceMetrics(std::string_view service, unsigned shards)
    : service_(service), shards_(std::max(shards, 1U)) {
    traffic_.resize(all_transports.size() * shards_);
    for (const auto transport : all_transports) {
        const auto labels = traffic_labels(service, transport);
        for (unsigned shard = 0; shard < shards_; ++shard) {
            traffic_[index(transport) * shards_ + shard] =
                &metrics::row(metrics::Family::traffic, labels, shard);
        }
    }
}

metrics::Row& ServiceMetrics::rejections(Transport transport, std::string_view verifier) const {
    return metrics::row(metrics::Family::rejections, traffic_labels(service_, transport) + "," +
                                                         metrics::label("reason", verifier));
}

const ProgramRows& ServiceMetrics::programs() {
    if (programs_.counts == nullptr) {
        const auto service = metrics::label("service", service_);
        const auto exits = [&](std::string_view outcome) {
            return &metrics::row(metrics::Family::exits,
                                 service + "," + metrics::label("outcome", outcome));
        };
        programs_ = ProgramRows{.counts = &metrics::row(metrics::Family::programs, service),
                                .ok = exits("ok"),
                                .error = exits("error"),
                                .signal = exits("signal")};
    }
    return programs_;
}

}  // namespace netd
