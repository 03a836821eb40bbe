#pragma once
// The counters as Prometheus text exposition (format 0.0.4), what the stats service sends.

#include <string>

namespace netd::metrics {

/// The content type of render()'s text, for an HTTP response.
constexpr const char* exposition_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// Every counter of the daemon, plus its process figures (CPU, memory, descriptors, start time,
/// read from /proc for the daemon's process, whichever process calls this).
std::string render();

}  // namespace netd::metrics
