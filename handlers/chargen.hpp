#pragma once
// chargen (RFC 864): a stream gets the RFC's rotating 72-character lines for as long as it reads
// them; a datagram gets one reply of 0 to 512 characters. What the client sends is dropped.

#include "handlers/registry.hpp"

namespace netd {

HandlerSpec chargen_handler_spec();

}  // namespace netd
