#include "handlers/stats.hpp"

#include <algorithm>
#include <array>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <sstream>
#include <stdexcept>

#include "metrics/exposition.hpp"
#include "metrics/health.hpp"

namespace netd {

namespace {

namespace http = boost::beast::http;

constexpr std::array<config::KeySpec, 1> stats_keys{{
    {"request_wait", "500",
     "milliseconds to wait for an HTTP request line before sending the plain text"},
}};

struct StatsOptions {
    std::chrono::milliseconds request_wait{500};
    std::size_t max_line = 0;
};

/// "METHOD SP TARGET SP HTTP/x.y" (RFC 9112 request-line), the CR already removed.
bool is_request_line(std::string_view line) {
    const auto first = line.find(' ');
    const auto last = line.rfind(' ');
    if (first == std::string_view::npos || first == 0 || last == first) {
        return false;
    }
    const auto method = line.substr(0, first);
    return std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; }) &&
           line.substr(last + 1).starts_with("HTTP/");
}

class StatsSession final : public StreamSession {
  public:
    explicit StatsSession(const StatsOptions& options) : options_(options) {
        parser_.header_limit(header_limit());
    }

    void handle(std::string_view bytes, Output& out) override {
        if (answered_) {
            return;  // the answer is on its way; the rest is discarded
        }
        if (!http_) {
            const auto end = bytes.find('\n');
            if (end == std::string_view::npos &&
                first_line_.size() + bytes.size() <= options_.max_line) {
                first_line_.append(bytes);
                return;  // the first line is not complete yet
            }
            first_line_.append(bytes.substr(0, end == std::string_view::npos ? bytes.size() : end));
            std::string_view line = first_line_;
            if (line.ends_with('\r')) {
                line.remove_suffix(1);
            }
            if (end == std::string_view::npos || !is_request_line(line)) {
                return plain(out);
            }
            http_ = true;
            // The parser reads the request from its start: the first line, then what follows.
            std::string request = std::move(first_line_);
            request.append(bytes.substr(end));
            return parse(request, out);
        }
        parse(bytes, out);
    }

    void finish(Output& out) override {
        if (answered_) {
            return;
        }
        if (http_) {
            return respond(http::status::bad_request, "incomplete request\n", out);
        }
        plain(out);
    }

    std::chrono::milliseconds wake_after() const override { return options_.request_wait; }

    void wake(Output& out) override {
        if (!answered_ && !http_) {
            plain(out);  // nothing that could become an HTTP request came: a plain client
        }
    }

  private:
    std::uint32_t header_limit() const {
        return static_cast<std::uint32_t>(std::clamp<std::size_t>(options_.max_line, 1024, 65536));
    }

    void plain(Output& out) {
        answered_ = true;
        out.write(metrics::render());
        out.close();
    }

    /// Feeds the request to the parser; answers once its header is complete, or is bad.
    void parse(std::string_view bytes, Output& out) {
        // What the parser has not taken (an incomplete line) waits for the next bytes.
        pending_.append(bytes);
        std::string_view rest = pending_;
        boost::beast::error_code ec;
        while (!rest.empty() && !parser_.is_header_done()) {
            const std::size_t used = parser_.put(boost::asio::buffer(rest.data(), rest.size()), ec);
            rest.remove_prefix(used);
            if (ec == http::error::need_more) {
                ec = {};
                break;
            }
            if (ec) {
                break;
            }
        }
        pending_.erase(0, pending_.size() - rest.size());
        if (!ec && !parser_.is_header_done() && pending_.size() > header_limit()) {
            ec = http::error::header_limit;
        }
        if (ec) {
            return respond(ec == http::error::header_limit
                               ? http::status::request_header_fields_too_large
                               : http::status::bad_request,
                           ec.message() + "\n", out);
        }
        if (!parser_.is_header_done()) {
            return;
        }
        const auto& request = parser_.get();
        const std::string_view target(request.target().data(), request.target().size());
        const std::string_view path = target.substr(0, target.find('?'));
        if (request.method() != http::verb::get && request.method() != http::verb::head) {
            return respond(http::status::method_not_allowed, "only GET and HEAD\n", out);
        }
        const bool head = request.method() == http::verb::head;
        if (path == "/healthz") {
            std::string why;
            return metrics::live(why)
                       ? respond(http::status::ok, "ok\n", out, head)
                       : respond(http::status::service_unavailable, why + "\n", out, head);
        }
        if (path == "/readyz") {
            const auto readiness = metrics::readiness();
            return respond(readiness == metrics::Readiness::ready
                               ? http::status::ok
                               : http::status::service_unavailable,
                           std::string(metrics::to_string(readiness)) + "\n", out, head);
        }
        if (path != "/metrics" && path != "/") {
            return respond(http::status::not_found,
                           "the metrics are at /metrics; /healthz and /readyz answer 200 or 503\n",
                           out);
        }
        respond(http::status::ok, metrics::render(), out, head, metrics::exposition_content_type);
    }

    void respond(http::status status, std::string body, Output& out, bool head = false,
                 const char* type = "text/plain; charset=utf-8") {
        answered_ = true;
        http::response<http::string_body> response(status, 11);
        response.set(http::field::server, "netd/" NETD_VERSION);
        response.set(http::field::content_type, type);
        response.set(http::field::connection, "close");
        if (status == http::status::method_not_allowed) {
            response.set(http::field::allow, "GET, HEAD");
        }
        response.content_length(body.size());
        if (!head) {
            response.body() = std::move(body);
        }
        std::ostringstream text;
        text << response;
        out.write(text.str());
        out.close();
    }

    const StatsOptions& options_;
    http::request_parser<http::empty_body> parser_;
    std::string first_line_;
    std::string pending_;
    bool http_ = false;
    bool answered_ = false;
};

class StatsHandler final : public Handler {
  public:
    explicit StatsHandler(StatsOptions options) : options_(options) {}

    std::unique_ptr<StreamSession> open_session(const Peer& /*peer*/) override {
        return std::make_unique<StatsSession>(options_);
    }

    void datagram(std::string_view /*bytes*/, const Peer& /*peer*/, Output& /*out*/) override {
        // Configuration refuses datagram listeners for this handler (HandlerSpec::datagram).
        throw std::logic_error("stats serves streams only");
    }

  private:
    StatsOptions options_;
};

}  // namespace

HandlerSpec stats_handler_spec() {
    return HandlerSpec{
        .name = "stats",
        .summary = "the daemon's counters in Prometheus text format, plain or over HTTP",
        .stream = true,
        .datagram = false,
        .keys = stats_keys,
        .make = [](const config::ServiceConfig& service) -> std::unique_ptr<Handler> {
            return std::make_unique<StatsHandler>(StatsOptions{
                .request_wait = std::chrono::milliseconds(parse_option(
                    service, "request_wait",
                    [](const std::string& v) { return config::parse_unsigned(v, 1, 60'000); })),
                .max_line = service.max_line,
            });
        },
    };
}

}  // namespace netd
