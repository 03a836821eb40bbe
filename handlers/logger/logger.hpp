#pragma once
// logger (the seeds' SimpleLogger grown into a syslog receiver): every message from a stream
// (LF/CRLF/NUL framed or RFC 6587 octet-counted) or a datagram becomes exactly one record in a
// durable log file, text or JSON.

#include "handlers/registry.hpp"

namespace netd {

HandlerSpec logger_handler_spec();

}  // namespace netd
