#pragma once
// Diagnostics through Boost.Log. Every file logs with BOOST_LOG_TRIVIAL(level); this sets up where
// the records go and how they look.

#include <boost/log/trivial.hpp>

#include "config/config.hpp"

namespace netd {

/// Console sink on stderr: "<RFC 3339 UTC timestamp> <level> <message>", filtered at level.
void init_logging(config::LogLevel level);

}  // namespace netd
