#pragma once
// time (RFC 868): the current time as 32-bit big-endian seconds since 1900-01-01 00:00 UTC, then
// close; any datagram is answered with the same four bytes. `rdate -p` reads it.

#include <cstdint>
#include <ctime>
#include <string>

#include "handlers/registry.hpp"

namespace netd {

/// The four bytes RFC 868 sends for Unix time t (modulo 2^32, as the RFC's clock wraps in 2036).
std::string rfc868_time(std::time_t t);

HandlerSpec time_handler_spec();

}  // namespace netd
