#include "handlers/discard.hpp"

namespace netd {

namespace {

class DiscardSession final : public StreamSession {
  public:
    void handle(std::string_view /*bytes*/, Output& /*out*/) override {}
};

class DiscardHandler final : public Handler {
  public:
    std::unique_ptr<StreamSession> open_session(const Peer& /*peer*/) override {
        return std::make_unique<DiscardSession>();
    }

    void datagram(std::string_view /*bytes*/, const Peer& /*peer*/, Output& /*out*/) override {}
};

}  // namespace

HandlerSpec discard_handler_spec() {
    return HandlerSpec{
        .name = "discard",
        .summary = "RFC 863: reads and drops everything; never answers",
        .stream = true,
        .datagram = true,
        .keys = {},
        .make = [](const config::ServiceConfig&) -> std::unique_ptr<Handler> {
            return std::make_unique<DiscardHandler>();
        },
    };
}

}  // namespace netd
