#pragma once
// stats: the daemon's counters in Prometheus text exposition (SPEC 3). A client that sends
// nothing (nc), ends its input, or sends a first line that is not an HTTP request line gets the
// plain text and the connection closes. A client whose first line is an HTTP request line (curl,
// Prometheus) gets the same text as an HTTP/1.1 response: GET or HEAD of /metrics or /.
// Streams only (TCP and Unix).

#include "handlers/registry.hpp"

namespace netd {

HandlerSpec stats_handler_spec();

}  // namespace netd
