#pragma once
// echo (RFC 862): every byte back, in order; every datagram back to its sender.

#include "handlers/registry.hpp"

namespace netd {

HandlerSpec echo_handler_spec();

}  // namespace netd
