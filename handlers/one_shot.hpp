#pragma once
// A handler whose whole reply is one answer: sent on connect, after which the server closes, and
// sent back for any datagram. daytime (RFC 867) and time (RFC 868) are this.

#include <memory>
#include <string>
#include <string_view>

#include "handlers/handler.hpp"

namespace netd {

class OneShotHandler : public Handler {
  public:
    /// The answer, made afresh for every connection and datagram.
    virtual std::string answer() const = 0;

    std::unique_ptr<StreamSession> open_session(const Peer& /*peer*/) override {
        return std::make_unique<Session>(*this);
    }

    void datagram(std::string_view /*bytes*/, const Peer& /*peer*/, Output& out) override {
        out.write(answer());
    }

  private:
    /// Answers on connect and closes; whatever the client sends is ignored.
    class Session final : public StreamSession {
      public:
        explicit Session(const OneShotHandler& handler) : handler_(handler) {}
        void setup(Output& out) override {
            out.write(handler_.answer());
            out.close();
        }
        void handle(std::string_view /*bytes*/, Output& /*out*/) override {}

      private:
        const OneShotHandler& handler_;
    };
};

}  // namespace netd
