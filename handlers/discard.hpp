#pragma once
// discard (RFC 863): everything a client sends is read and dropped; nothing is ever sent.

#include "handlers/registry.hpp"

namespace netd {

HandlerSpec discard_handler_spec();

}  // namespace netd
