#pragma once
// daytime (RFC 867): one human-readable line with the current date and time, then close; any
// datagram is answered with the same line.

#include "handlers/registry.hpp"

namespace netd {

HandlerSpec daytime_handler_spec();

}  // namespace netd
