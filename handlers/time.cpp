#include "handlers/time.hpp"

#include "handlers/one_shot.hpp"
#include "handlers/strftime.hpp"

namespace netd {

namespace {

/// Seconds from 1900-01-01 to 1970-01-01, both 00:00 UTC.
constexpr std::uint64_t seconds_1900_to_1970 = 2'208'988'800ULL;

class TimeHandler final : public OneShotHandler {
  public:
    std::string answer() const override { return rfc868_time(now_seconds()); }
};

}  // namespace

std::string rfc868_time(std::time_t t) {
    const auto seconds =
        static_cast<std::uint32_t>(static_cast<std::uint64_t>(t) + seconds_1900_to_1970);
    return {static_cast<char>(seconds >> 24), static_cast<char>(seconds >> 16),
            static_cast<char>(seconds >> 8), static_cast<char>(seconds)};
}

HandlerSpec time_handler_spec() {
    return HandlerSpec{
        .name = "time",
        .summary = "RFC 868: seconds since 1900 as 4 bytes big-endian, then close",
        .stream = true,
        .datagram = true,
        .keys = {},
        .make = [](const config::ServiceConfig&) -> std::unique_ptr<Handler> {
            return std::make_unique<TimeHandler>();
        },
    };
}

}  // namespace netd
