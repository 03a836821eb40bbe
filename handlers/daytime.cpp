#include "handlers/daytime.hpp"

#include <array>
#include <ctime>

#include "handlers/strftime.hpp"

namespace netd {

namespace {

constexpr std::array<config::KeySpec, 2> daytime_keys{{
    {"format", "%A, %B %d, %Y %H:%M:%S-%Z", "strftime format of the line"},
    {"timezone", "local", "local | utc"},
}};

class DaytimeHandler final : public Handler {
  public:
    DaytimeHandler(std::string format, TimeZone zone) : format_(std::move(format)), zone_(zone) {}

    std::unique_ptr<StreamSession> open_session(const Peer& /*peer*/) override {
        return std::make_unique<Session>(*this);
    }

    void datagram(std::string_view /*bytes*/, const Peer& /*peer*/, Output& out) override {
        out.write(line());
    }

    /// The current time in format, with RFC 867's CRLF.
    std::string line() const {
        auto text = format_time(format_, broken_down(now_seconds(), zone_));
        return (text ? std::move(*text)
                     : "error: output longer than " + std::to_string(max_formatted_size) +
                           " bytes") +
               "\r\n";
    }

  private:
    /// Answers on connect and closes; whatever the client sends is ignored.
    class Session final : public StreamSession {
      public:
        explicit Session(const DaytimeHandler& handler) : handler_(handler) {}
        void setup(Output& out) override {
            out.write(handler_.line());
            out.close();
        }
        void handle(std::string_view /*bytes*/, Output& /*out*/) override {}

      private:
        const DaytimeHandler& handler_;
    };

    std::string format_;
    TimeZone zone_;
};

}  // namespace

HandlerSpec daytime_handler_spec() {
    return HandlerSpec{
        .name = "daytime",
        .summary = "RFC 867: the date and time as one line, then close",
        .stream = true,
        .datagram = true,
        .keys = daytime_keys,
        .make = [](const config::ServiceConfig& service) -> std::unique_ptr<Handler> {
            const auto& format = service.options.at("format");
            if (format.empty()) {
                throw KeyError("format", "must not be empty");
            }
            if (auto why = check_format(format); !why.empty()) {
                throw KeyError("format", why);
            }
            try {
                return std::make_unique<DaytimeHandler>(
                    format, parse_time_zone(service.options.at("timezone")));
            } catch (const config::ValueError& e) {
                throw KeyError("timezone", e.what());
            }
        },
    };
}

}  // namespace netd
