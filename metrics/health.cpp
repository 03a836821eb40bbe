#include "metrics/health.hpp"

#include <cstdint>

#include "metrics/registry.hpp"

namespace netd::metrics {

namespace {

std::uint64_t now_ms() {
    // CLOCK_MONOTONIC: one clock for every process of the machine, so that a child's scrape
    // compares its now with the daemon's beats.
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

Row& server_row() {
    return row(Family::server, "");
}

}  // namespace

Row& heartbeat_row(unsigned loop) {
    return row(Family::loop, label("loop", std::to_string(loop)));
}

void beat(Row& row) {
    row.set(heartbeat, now_ms());
}

bool live(std::string& why) {
    const auto now = now_ms();
    bool any = false;
    for (const auto& series : collect()) {
        if (series.family != Family::loop || !series.labels.starts_with("loop=")) {
            continue;  // (the family's overflow row is no loop)
        }
        any = true;
        const auto last = series.values[heartbeat];
        const auto age = now > last ? now - last : 0;
        if (age > static_cast<std::uint64_t>(heartbeat_limit.count())) {
            why = "event loop {" + series.labels + "} has not answered for " + std::to_string(age) +
                  " ms";
            return false;
        }
    }
    if (!any) {
        why = "no event loop runs yet";
    }
    return any;
}

void set_readiness(Readiness readiness) {
    auto& server = server_row();
    server.set(ready, readiness == Readiness::ready ? 1 : 0);
    server.set(draining, readiness == Readiness::draining ? 1 : 0);
}

Readiness readiness() {
    const auto& server = server_row();
    if (server.get(draining) != 0) {
        return Readiness::draining;
    }
    return server.get(ready) != 0 ? Readiness::ready : Readiness::starting;
}

std::string_view to_string(Readiness readiness) {
    switch (readiness) {
        case Readiness::starting:
            return "starting";
        case Readiness::ready:
            return "ready";
        case Readiness::draining:
            return "draining";
    }
    return "?";
}

}  // namespace netd::metrics
