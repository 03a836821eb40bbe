#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "daemon/catalog.hpp"
#include "metrics/exposition.hpp"
#include "metrics/registry.hpp"
#include "metrics/service_metrics.hpp"
#include "test/unit/built_handler.hpp"

using namespace netd;
using namespace netd::test;

namespace {

/// The summed values of (family, labels), or nullptr.
const metrics::Series* find(const std::vector<metrics::Series>& all, metrics::Family family,
                            const std::string& labels) {
    for (const auto& series : all) {
        if (series.family == family && series.labels == labels) {
            return &series;
        }
    }
    return nullptr;
}

/// The answer points into the collection: it must outlive the call.
const metrics::Series* find(std::vector<metrics::Series>&& all, metrics::Family family,
                            const std::string& labels) = delete;

/// A stats session fed chunks; then wake (if asked) or finish. Returns what it wrote and whether
/// it asked to close.
std::pair<std::string, bool> ask_stats(const std::vector<std::string>& chunks, bool wake,
                                       bool finish = false) {
    const auto built = build("stats");
    std::string buffer;
    Output out(buffer);
    auto session = built.handler->open_session(Peer{});
    session->setup(out);
    for (const auto& chunk : chunks) {
        session->handle(chunk, out);
    }
    if (wake) {
        session->wake(out);
    }
    if (finish) {
        session->finish(out);
    }
    return {std::string(out.pending()), out.close_requested()};
}

}  // namespace

BOOST_AUTO_TEST_CASE(rows_are_found_again_and_summed_over_shards) {
    const std::string labels = metrics::label("service", "unit-rows");
    auto& shard0 = metrics::row(metrics::Family::logger, labels, 0);
    auto& shard1 = metrics::row(metrics::Family::logger, labels, 1);
    BOOST_TEST(&shard0 == &metrics::row(metrics::Family::logger, labels, 0));
    BOOST_TEST(&shard0 != &shard1);
    shard0.add(metrics::records, 3);
    shard1.add(metrics::records, 4);
    shard1.add(metrics::records_dropped);
    const auto all = metrics::collect();
    const auto* sum = find(all, metrics::Family::logger, labels);
    BOOST_TEST_REQUIRE(sum != nullptr);
    BOOST_TEST(sum->values[metrics::records] == 7U);
    BOOST_TEST(sum->values[metrics::records_dropped] == 1U);
}

BOOST_AUTO_TEST_CASE(a_forked_child_counts_into_the_parents_table) {
    auto& row = metrics::row(metrics::Family::log_file, metrics::label("file", "/unit/fork"));
    const pid_t pid = ::fork();
    if (pid == 0) {
        row.add(metrics::records_written, 5);
        ::_exit(0);
    }
    BOOST_TEST_REQUIRE(pid > 0);
    int status = 0;
    ::waitpid(pid, &status, 0);
    BOOST_TEST(row.get(metrics::records_written) == 5U);
}

BOOST_AUTO_TEST_CASE(labels_are_escaped_and_cut) {
    BOOST_TEST(metrics::label("file", "a\"b\\c\nd") == "file=\"a\\\"b\\\\c\\nd\"");
    const auto cut = metrics::label("file", "/var/log/" + std::string(500, 'x') + "/end.log");
    BOOST_TEST(cut == "file=\"..." + std::string(40, 'x') + "/end.log\"");
}

BOOST_AUTO_TEST_CASE(render_shows_listening_transports_and_their_own_metrics) {
    const ServiceMetrics service("unit-render", 2);
    service.listening(Transport::tcp);
    service.listening(Transport::udp);
    service.traffic(Transport::tcp).add(metrics::accepted, 2);
    metrics::set_shard(1);
    service.traffic(Transport::tcp).add(metrics::accepted, 3);
    metrics::set_shard(0);
    service.rejections(Transport::udp, "acl").add(0);
    const auto text = metrics::render();
    const auto has = [&](const std::string& line) {
        return text.find("\n" + line + "\n") != std::string::npos;
    };
    BOOST_TEST(has(R"(netd_connections_accepted_total{service="unit-render",transport="tcp"} 5)"));
    BOOST_TEST(has(R"(netd_datagrams_received_total{service="unit-render",transport="udp"} 0)"));
    BOOST_TEST(has(R"(netd_rejected_total{service="unit-render",transport="udp",reason="acl"} 1)"));
    // Not listening: not shown. Stream metrics are not shown for datagrams, nor the reverse.
    BOOST_TEST(text.find(R"(service="unit-render",transport="unix")") == std::string::npos);
    BOOST_TEST(!has(R"(netd_connections_accepted_total{service="unit-render",transport="udp"} 0)"));
    BOOST_TEST(!has(R"(netd_datagrams_received_total{service="unit-render",transport="tcp"} 0)"));
    BOOST_TEST(has("# TYPE netd_connections_active gauge"));
    BOOST_TEST(has("# TYPE process_cpu_seconds_total counter"));
    BOOST_TEST(text.ends_with("\n"));
}

BOOST_AUTO_TEST_CASE(stats_answers_plain_on_wake_end_of_input_or_a_non_http_line) {
    for (const auto& [chunks, wake, finish] :
         {std::tuple{std::vector<std::string>{}, true, false},
          std::tuple{std::vector<std::string>{"GET /met"}, true, false},
          std::tuple{std::vector<std::string>{}, false, true},
          std::tuple{std::vector<std::string>{"hello\n"}, false, false},
          std::tuple{std::vector<std::string>{"GET /metrics\n"}, false, false}}) {
        const auto [reply, closed] = ask_stats(chunks, wake, finish);
        BOOST_TEST(reply.starts_with("# HELP netd_build_info"));
        BOOST_TEST(closed);
    }
    // Nothing yet: no answer until wake_after.
    const auto built = build("stats", {{"request_wait", "250"}});
    auto session = built.handler->open_session(Peer{});
    BOOST_TEST(session->wake_after().count() == 250);
    BOOST_TEST(ask_stats({"GET /metrics HTTP/1.1\r\n"}, false).first.empty());
}

BOOST_AUTO_TEST_CASE(stats_answers_http_requests) {
    const auto response = [](const std::string& request) {
        std::vector<std::string> bytes;
        for (const char c : request) {
            bytes.emplace_back(1, c);  // one byte at a time: framing must not matter
        }
        const auto [reply, closed] = ask_stats(bytes, true);
        BOOST_TEST(closed);
        return reply;
    };
    const auto ok = response("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    BOOST_TEST(ok.starts_with("HTTP/1.1 200 OK\r\n"));
    BOOST_TEST(ok.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") !=
               std::string::npos);
    BOOST_TEST(ok.find("\r\n\r\n# HELP netd_build_info") != std::string::npos);
    const auto head = response("HEAD / HTTP/1.0\r\n\r\n");
    BOOST_TEST(head.starts_with("HTTP/1.1 200 OK\r\n"));
    BOOST_TEST(head.ends_with("\r\n\r\n"));
    BOOST_TEST(response("GET /x HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    BOOST_TEST(response("DELETE /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
    BOOST_TEST(response("GET / HTTP/1.1\r\nno colon\r\n\r\n").starts_with("HTTP/1.1 400 "));
    // A client that ends its input in the middle of the header.
    BOOST_TEST(
        ask_stats({"GET / HTTP/1.1\r\nHost:"}, false, true).first.starts_with("HTTP/1.1 400 "));
    // A header over the limit, with no line end in sight.
    BOOST_TEST(ask_stats({"GET / HTTP/1.1\r\nX: " + std::string(70000, 'x')}, false)
                   .first.starts_with("HTTP/1.1 431 "));
}

BOOST_AUTO_TEST_CASE(stats_keys_and_transports_are_checked) {
    BOOST_TEST(config_error("stats", "request_wait", "0").find("request_wait") !=
               std::string::npos);
    config::RawConfig raw;
    raw.set("stats", "udp", {"127.0.0.1:0", "test.ini"});
    try {
        config::build_config(raw, catalog());
        BOOST_FAIL("a datagram listener for stats was accepted");
    } catch (const config::ConfigError& e) {
        BOOST_TEST(std::string(e.what()).find("does not serve datagrams") != std::string::npos);
    }
}
