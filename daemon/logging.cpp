#include "daemon/logging.hpp"

#include <sys/stat.h>
#include <syslog.h>

#include <boost/log/attributes/clock.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/basic_sink_backend.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/support/date_time.hpp>
#include <boost/log/utility/setup/console.hpp>
#include <boost/log/utility/setup/file.hpp>
#include <boost/make_shared.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "daemon/systemd_protocol.hpp"

namespace netd {

namespace logging = boost::log;
namespace sinks = boost::log::sinks;
namespace expr = boost::log::expressions;
using logging::trivial::severity_level;

namespace {

severity_level severity_of(config::LogLevel level) {
    switch (level) {
        case config::LogLevel::trace:
            return logging::trivial::trace;
        case config::LogLevel::debug:
            return logging::trivial::debug;
        case config::LogLevel::info:
            return logging::trivial::info;
        case config::LogLevel::warning:
            return logging::trivial::warning;
        case config::LogLevel::error:
            return logging::trivial::error;
    }
    return logging::trivial::info;
}

/// The syslog priority of a severity.
int priority_of(severity_level severity) {
    switch (severity) {
        case logging::trivial::trace:
        case logging::trivial::debug:
            return LOG_DEBUG;
        case logging::trivial::info:
            return LOG_INFO;
        case logging::trivial::warning:
            return LOG_WARNING;
        case logging::trivial::error:
            return LOG_ERR;
        case logging::trivial::fatal:
            return LOG_CRIT;
    }
    return LOG_INFO;
}

/// The syslog priority of a record.
int priority_of(const logging::record_view& record) {
    return priority_of(
        logging::extract_or_default<severity_level>("Severity", record, logging::trivial::info));
}

/// Whether stderr is the journal stream systemd set up (JOURNAL_STREAM = "DEVICE:INODE" of it),
/// and not something a parent redirected it to.
bool stderr_is_journal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    struct stat st {};
    if (stream == nullptr || ::fstat(2, &st) != 0) {
        return false;
    }
    return std::string(stream) == std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

/// The journal's native protocol (sd_journal_send): message, priority and identifier as fields.
class JournalBackend final
    : public sinks::basic_formatted_sink_backend<char, sinks::synchronized_feeding> {
  public:
    static void consume(const logging::record_view& record, const string_type& message) {
        systemd::journal_send(systemd::journal_entry(message, priority_of(record), "netd"));
    }
};

/// The system logger through the POSIX API (/dev/log), facility daemon, ident netd.
class SyslogBackend final
    : public sinks::basic_formatted_sink_backend<char, sinks::synchronized_feeding> {
  public:
    static void consume(const logging::record_view& record, const string_type& message) {
        ::syslog(priority_of(record), "%s", message.c_str());
    }
};

const auto timestamped = expr::stream << expr::format_date_time<boost::posix_time::ptime>(
                                             "TimeStamp", "%Y-%m-%dT%H:%M:%S.%fZ")
                                      << " " << logging::trivial::severity << " " << expr::smessage;

}  // namespace

void init_logging(config::LogLevel level, const config::LogTarget& target) {
    auto core = logging::core::get();
    core->remove_all_sinks();
    core->add_global_attribute("TimeStamp", logging::attributes::utc_clock());
    set_log_level(level);
    using Kind = config::LogTarget::Kind;
    switch (target.kind) {
        case Kind::console:
            if (stderr_is_journal()) {
                // "<3>..." tells the journal the priority of each line.
                logging::add_console_log(
                    std::clog,
                    logging::keywords::format =
                        (expr::stream << "<"
                                      << expr::wrap_formatter([](const logging::record_view& rec,
                                                                 logging::formatting_ostream& out) {
                                             out << priority_of(rec);
                                         })
                                      << ">" << expr::smessage),
                    logging::keywords::auto_flush = true);
            } else {
                logging::add_console_log(std::clog, logging::keywords::format = timestamped,
                                         logging::keywords::auto_flush = true);
            }
            return;
        case Kind::syslog: {
            ::openlog("netd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
            auto sink = boost::make_shared<sinks::synchronous_sink<SyslogBackend>>();
            sink->set_formatter(expr::stream << expr::smessage);
            core->add_sink(sink);
            return;
        }
        case Kind::journal: {
            auto sink = boost::make_shared<sinks::synchronous_sink<JournalBackend>>();
            sink->set_formatter(expr::stream << expr::smessage);
            core->add_sink(sink);
            return;
        }
        case Kind::file: {
            // Opened here so that a path netd cannot write is a start-up error, not silence.
            if (!std::ofstream(target.path, std::ios::app)) {
                throw config::ConfigError("[server] log_target: cannot open " + target.path);
            }
            logging::add_file_log(logging::keywords::file_name = target.path,
                                  logging::keywords::open_mode = std::ios::app,
                                  logging::keywords::format = timestamped,
                                  logging::keywords::auto_flush = true);
            return;
        }
    }
}

void set_log_level(config::LogLevel level) {
    logging::core::get()->set_filter(logging::trivial::severity >= severity_of(level));
}

}  // namespace netd
