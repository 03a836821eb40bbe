#include "handlers/echo.hpp"

namespace netd {

namespace {

class EchoSession final : public StreamSession {
  public:
    void handle(std::string_view bytes, Output& out) override { out.write_input(bytes); }
};

class EchoHandler final : public Handler {
  public:
    std::unique_ptr<StreamSession> open_session(const Peer& /*peer*/) override {
        return std::make_unique<EchoSession>();
    }

    void datagram(std::string_view bytes, const Peer& /*peer*/, Output& out) override {
        out.write_input(bytes);
    }
};

}  // namespace

HandlerSpec echo_handler_spec() {
    return HandlerSpec{
        .name = "echo",
        .summary = "RFC 862: sends back every byte (stream) or every datagram",
        .stream = true,
        .datagram = true,
        .keys = {},
        .make = [](const config::ServiceConfig&) -> std::unique_ptr<Handler> {
            return std::make_unique<EchoHandler>();
        },
    };
}

}  // namespace netd
