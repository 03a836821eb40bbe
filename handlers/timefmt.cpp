#include "handlers/timefmt.hpp"

#include <algorithm>
#include <array>

#include "handlers/line_framer.hpp"
#include "handlers/strftime.hpp"

namespace netd {

namespace {

constexpr std::array<config::KeySpec, 3> timefmt_keys{{
    {"default_format", "%Y-%m-%d %X", "strftime format for an empty request"},
    {"timezone", "local", "local | utc"},
    {"banner", "", "a line sent on connect; empty = none"},
}};

struct TimefmtOptions {
    TimeFormat default_format;  ///< for an empty request line; its zone is used for every answer
    std::string banner;
    std::size_t max_line = 0;
};

TimefmtOptions parse_timefmt_options(const config::ServiceConfig& service) {
    return TimefmtOptions{
        .default_format = parse_time_format(service, "default_format"),
        .banner =
            parse_option(service, "banner",
                         [](const std::string& banner) {
                             if (std::any_of(banner.begin(), banner.end(), is_control_byte)) {
                                 throw config::ValueError("must be one line without control bytes");
                             }
                             return banner;
                         }),
        .max_line = service.max_line,
    };
}

/// The answer to one format, without its line end: the time, or "error: ...".
std::string answer(const TimefmtOptions& options, std::string_view format) {
    const TimeZone zone = options.default_format.zone;
    if (format.empty()) {
        return format_now(options.default_format.format, zone);  // checked at configuration
    }
    if (auto why = check_format(format); !why.empty()) {
        return "error: " + why;
    }
    return format_now(format, zone);
}

class TimefmtSession final : public StreamSession {
  public:
    explicit TimefmtSession(const TimefmtOptions& options)
        : options_(options), framer_(options.max_line) {}

    void setup(Output& out) override {
        if (!options_.banner.empty()) {
            out.write(options_.banner);
            out.write("\r\n");
        }
    }

    void handle(std::string_view bytes, Output& out) override {
        framer_.feed(bytes, [&](const Line& line) { serve(line, out); });
    }

    void finish(Output& out) override {
        framer_.finish([&](const Line& line) { serve(line, out); });
    }

  private:
    void serve(const Line& line, Output& out) {
        if (out.close_requested()) {
            return;  // the connection is closing; later lines in the same read go unanswered
        }
        if (!line.ending.empty()) {
            ending_ = line.ending;
        }
        if (line.truncated) {
            out.write("error: line too long");
            out.write(ending_);
            out.close();
            return;
        }
        out.write(answer(options_, line.text));
        out.write(ending_);
    }

    const TimefmtOptions& options_;
    LineFramer framer_;
    /// The line end of the latest request, for answers to lines that have none of their own (a
    /// static literal, as Line::ending is: it outlives the read it came in).
    std::string_view ending_ = line_end::lf;
};

class TimefmtHandler final : public Handler {
  public:
    explicit TimefmtHandler(TimefmtOptions options) : options_(std::move(options)) {}

    std::unique_ptr<StreamSession> open_session(const Peer& /*peer*/) override {
        return std::make_unique<TimefmtSession>(options_);
    }

    void datagram(std::string_view bytes, const Peer& /*peer*/, Output& out) override {
        while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r')) {
            bytes.remove_suffix(1);
        }
        out.write(answer(options_, bytes));
        out.write("\n");
    }

  private:
    TimefmtOptions options_;
};

}  // namespace

HandlerSpec timefmt_handler_spec() {
    return HandlerSpec{
        .name = "timefmt",
        .summary = "each line is a strftime format, answered with the current time",
        .stream = true,
        .datagram = true,
        .keys = timefmt_keys,
        .make = [](const config::ServiceConfig& service) -> std::unique_ptr<Handler> {
            return std::make_unique<TimefmtHandler>(parse_timefmt_options(service));
        },
    };
}

}  // namespace netd
