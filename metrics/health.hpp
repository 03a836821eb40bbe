#pragma once
// Liveness and readiness, for the stats service's /healthz and /readyz and a balancer's health
// checks. Kept in the shared counter table, like every counter: a scrape served by a fork-mode
// child reads what the daemon wrote.
//
// Live: every event loop ran its heartbeat timer lately (a loop stuck in a handler, or starved,
// stops beating). Ready: serving, not starting and not draining.

#include <chrono>
#include <string>

namespace netd::metrics {

/// How often each loop beats; /healthz allows some slack on top of it.
constexpr std::chrono::milliseconds heartbeat_interval{250};
/// A loop that has not beaten for this long is not live.
constexpr std::chrono::milliseconds heartbeat_limit{1000};

class Row;

/// The row loop (its index) beats into: made once, when the loop starts.
Row& heartbeat_row(unsigned loop);

/// Records that the loop of row runs now.
void beat(Row& row);

/// Whether every loop that ever beat did so within heartbeat_limit; otherwise why not.
bool live(std::string& why);

enum class Readiness : std::uint8_t { starting, ready, draining };

void set_readiness(Readiness readiness);
Readiness readiness();

std::string_view to_string(Readiness readiness);

}  // namespace netd::metrics
