#pragma once
// What this process can serve, for the configuration to check names against: the handlers and
// custom verifiers registered so far (built-ins, and what tests or embedders register before
// daemon_main runs).

#include "config/config.hpp"

namespace netd {

config::Catalog catalog();

}  // namespace netd
