#include "handlers/registry.hpp"

#include "handlers/chargen.hpp"
#include "handlers/daytime.hpp"
#include "handlers/discard.hpp"
#include "handlers/echo.hpp"
#include "handlers/exec.hpp"
#include "handlers/logger/logger.hpp"
#include "handlers/stats.hpp"
#include "handlers/time.hpp"
#include "handlers/timefmt.hpp"

namespace netd {

namespace {

std::vector<HandlerSpec>& table() {
    static std::vector<HandlerSpec> specs{
        echo_handler_spec(),    timefmt_handler_spec(), daytime_handler_spec(),
        time_handler_spec(),    logger_handler_spec(),  stats_handler_spec(),
        chargen_handler_spec(), discard_handler_spec(), exec_handler_spec(),
    };
    return specs;
}

}  // namespace

std::span<const HandlerSpec> handlers() {
    return table();
}

const HandlerSpec* find_handler(std::string_view name) {
    return find_by_name(table(), name);
}

void register_handler(const HandlerSpec& spec) {
    add_by_name(table(), spec);
}

}  // namespace netd
