#include "handlers/daytime.hpp"

#include <array>

#include "handlers/one_shot.hpp"
#include "handlers/strftime.hpp"

namespace netd {

namespace {

constexpr std::array<config::KeySpec, 2> daytime_keys{{
    {"format", "%A, %B %d, %Y %H:%M:%S-%Z", "strftime format of the line"},
    {"timezone", "local", "local | utc"},
}};

/// The current time in the configured format, with RFC 867's CRLF.
class DaytimeHandler final : public OneShotHandler {
  public:
    explicit DaytimeHandler(TimeFormat format) : format_(std::move(format)) {}

    std::string answer() const override {
        return format_now(format_.format, format_.zone) + "\r\n";
    }

  private:
    TimeFormat format_;
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
            return std::make_unique<DaytimeHandler>(parse_time_format(service, "format"));
        },
    };
}

}  // namespace netd
