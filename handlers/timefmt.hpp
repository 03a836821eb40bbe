#pragma once
// timefmt (the seeds' time server): each line a client sends is a strftime format, answered with
// the current time in it; an empty line means default_format. Datagrams work the same way.

#include "handlers/registry.hpp"

namespace netd {

HandlerSpec timefmt_handler_spec();

}  // namespace netd
