// The stats session's request reading (Boost.Beast): any bytes, split anywhere, give either no
// answer yet or exactly one answer, plain text or an HTTP/1.1 response, and a close.

#include <memory>
#include <string>

#include "config/config.hpp"
#include "daemon/catalog.hpp"
#include "fuzz/fuzz_input.hpp"
#include "handlers/registry.hpp"

namespace {

std::unique_ptr<netd::Handler> make_stats() {
    netd::config::RawConfig raw;
    raw.set("stats", "tcp", {"127.0.0.1:0", "fuzz"});
    raw.set("stats", "max_line", {"2048", "fuzz"});
    static const auto config = netd::config::build_config(raw, netd::catalog());
    return netd::find_handler("stats")->make(config->services.front());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto handler = make_stats();
    netd::fuzz::Input in(data, size);
    const std::size_t chunk = 1 + in.pick(64);
    const bool end_input = in.pick(2) == 1;
    std::string_view bytes = in.rest();
    std::string buffer;
    netd::Output out(buffer);
    auto session = handler->open_session(netd::Peer{});
    session->setup(out);
    while (!bytes.empty()) {
        const auto piece = bytes.substr(0, chunk);
        bytes.remove_prefix(piece.size());
        session->handle(piece, out);
    }
    if (end_input) {
        session->finish(out);
    } else {
        session->wake(out);
    }
    const std::string_view reply = out.pending();
    if (reply.empty()) {
        return 0;  // an HTTP request still coming: it waits (idle_timeout bounds it)
    }
    if (!out.close_requested() ||
        !(reply.starts_with("HTTP/1.1 ") || reply.starts_with("# HELP netd_build_info"))) {
        netd::fuzz::fail("an answer that is neither HTTP nor the plain text, or no close");
    }
    return 0;
}
