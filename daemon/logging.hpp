#pragma once
// Diagnostics through Boost.Log. Every file logs with BOOST_LOG_TRIVIAL(level); this sets up where
// the records go ([server] log_target) and how they look.

#include <boost/log/trivial.hpp>

#include "config/config.hpp"

namespace netd {

/// Sends records at level and above to target:
/// - console: stderr, "<RFC 3339 UTC timestamp> <level> <message>"; when stderr is the journal
///   (JOURNAL_STREAM names it, as under systemd) "<N>message" with the syslog priority N instead,
///   the journal stamping the time itself;
/// - syslog: the system logger (/dev/log), facility daemon, ident netd;
/// - journal: the systemd journal's native protocol, with PRIORITY= and SYSLOG_IDENTIFIER=netd;
/// - file:PATH: appended to PATH, in the console format.
/// Throws config::ConfigError naming [server] log_target when the target cannot be opened.
void init_logging(config::LogLevel level, const config::LogTarget& target);

/// Changes the level records must reach to be logged (reload).
void set_log_level(config::LogLevel level);

}  // namespace netd
