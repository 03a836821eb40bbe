#pragma once
// One service's rows in the metrics table: traffic per transport, sharded per event loop, and
// rejections per transport and verifier. Looked up once when the service is made (a reload makes
// it again and finds the same rows, so counts go on); the request path only adds to a row.

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "core/peer.hpp"
#include "metrics/registry.hpp"

namespace netd {

/// An exec service's program rows: counts (started, running, failed starts) and exits by outcome.
struct ProgramRows {
    metrics::Row* counts = nullptr;
    metrics::Row* ok = nullptr;      ///< exit status 0
    metrics::Row* error = nullptr;   ///< another exit status
    metrics::Row* signal = nullptr;  ///< killed by a signal
};

class ServiceMetrics {
  public:
    ServiceMetrics() = default;
    /// shards: the number of event loops (each counts into its own rows).
    ServiceMetrics(std::string_view service, unsigned shards);

    /// The traffic row of transport for the calling thread's loop.
    metrics::Row& traffic(Transport transport) const {
        const unsigned shard = metrics::shard();
        return *traffic_[index(transport) * shards_ + (shard < shards_ ? shard : 0)];
    }

    /// The rejections row of transport and verifier.
    metrics::Row& rejections(Transport transport, std::string_view verifier) const;

    /// A listener of transport serves: its rows are shown from now on.
    void listening(Transport transport) const { traffic(transport).set(metrics::listening, 1); }

    /// The rows of an exec service's programs (found on the first call: only exec services have
    /// them, so only they show them).
    const ProgramRows& programs();

  private:
    static std::size_t index(Transport transport) { return static_cast<std::size_t>(transport); }

    std::string service_;
    unsigned shards_ = 0;
    std::vector<metrics::Row*> traffic_;  ///< [transport * shards_ + shard]
    ProgramRows programs_;
};

/// The label text of a service's traffic rows: service="NAME",transport="tcp|udp|unix|unixgram".
std::string traffic_labels(std::string_view service, Transport transport);

}  // namespace netd
