#include "daemon/logging.hpp"

#include <boost/log/attributes/clock.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/support/date_time.hpp>
#include <boost/log/utility/setup/console.hpp>
#include <iostream>

namespace netd {

namespace logging = boost::log;
namespace expr = boost::log::expressions;

namespace {

logging::trivial::severity_level severity_of(config::LogLevel level) {
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

}  // namespace

void init_logging(config::LogLevel level) {
    auto core = logging::core::get();
    core->remove_all_sinks();
    core->add_global_attribute("TimeStamp", logging::attributes::utc_clock());
    logging::add_console_log(
        std::clog,
        logging::keywords::format =
            (expr::stream << expr::format_date_time<boost::posix_time::ptime>(
                                 "TimeStamp", "%Y-%m-%dT%H:%M:%S.%fZ")
                          << " " << logging::trivial::severity << " " << expr::smessage),
        logging::keywords::auto_flush = true);
    core->set_filter(logging::trivial::severity >= severity_of(level));
}

}  // namespace netd
