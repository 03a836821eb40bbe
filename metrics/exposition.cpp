#include "metrics/exposition.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

#include "metrics/registry.hpp"

namespace netd::metrics {

namespace {

enum class Applies : std::uint8_t { all, stream, datagram };

struct Metric {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    Family family;
    std::uint8_t value;  ///< index into the row's values
    Applies applies = Applies::all;
};

constexpr Metric metrics_table[] = {
    {"netd_connections_accepted_total", "counter", "Stream connections admitted by verify_request.",
     Family::traffic, accepted, Applies::stream},
    {"netd_connections_active", "gauge", "Stream connections open now.", Family::traffic, active,
     Applies::stream},
    {"netd_rejected_total", "counter",
     "Connections and datagrams rejected by verify_request, by verifier.", Family::rejections,
     rejected},
    {"netd_received_bytes_total", "counter", "Bytes received from clients.", Family::traffic,
     bytes_in},
    {"netd_sent_bytes_total", "counter", "Bytes sent to clients.", Family::traffic, bytes_out},
    {"netd_datagrams_received_total", "counter", "Datagrams received, rejected ones included.",
     Family::traffic, datagrams_in, Applies::datagram},
    {"netd_datagrams_sent_total", "counter", "Reply datagrams sent.", Family::traffic,
     datagrams_out, Applies::datagram},
    {"netd_datagrams_dropped_total", "counter",
     "Datagrams received but not served: too large, or the reply could not be sent.",
     Family::traffic, datagrams_dropped, Applies::datagram},
    {"netd_handler_errors_total", "counter",
     "Handler failures: an exception, or in fork mode a child killed by a signal.", Family::traffic,
     handler_errors},
    {"netd_logger_records_total", "counter", "Records the logger handed to its log file.",
     Family::logger, records},
    {"netd_logger_records_dropped_total", "counter",
     "Logger datagrams dropped because the log file's queue was full.", Family::logger,
     records_dropped},
    {"netd_forward_records_total", "counter",
     "Records the collector has: acknowledged (relp://) or acknowledged by its kernel (tcp://, "
     "tls://).",
     Family::forward, forwarded_records},
    {"netd_forward_bytes_total", "counter", "Bytes of the records the collector has.",
     Family::forward, forwarded_bytes},
    {"netd_forward_spooled_records", "gauge", "Records waiting in the spool for the collector.",
     Family::forward, spooled_records},
    {"netd_forward_spooled_bytes", "gauge", "Bytes waiting in the spool for the collector.",
     Family::forward, spooled_bytes},
    {"netd_forward_records_dropped_total", "counter",
     "Spooled records dropped, oldest first, past forward_spool_max.", Family::forward,
     forward_dropped},
    {"netd_forward_reconnects_total", "counter",
     "Connections to the collector made after one was lost.", Family::forward, reconnects},
    {"netd_forward_connected", "gauge", "1 while connected to the collector.", Family::forward,
     connected},
    {"netd_log_file_records_written_total", "counter", "Records written to the log file.",
     Family::log_file, records_written},
    {"netd_log_file_written_bytes_total", "counter", "Bytes written to the log file.",
     Family::log_file, bytes_written},
    {"netd_log_file_write_errors_total", "counter",
     "Failed writes to the log file (the records are kept and retried).", Family::log_file,
     write_errors},
    {"netd_fork_children", "gauge", "fork mode: live child processes.", Family::server,
     fork_children},
    {"netd_programs_started_total", "counter", "exec: programs started.", Family::programs,
     programs_started},
    {"netd_programs_running", "gauge", "exec: programs running now.", Family::programs,
     programs_running},
    {"netd_programs_exited_total", "counter",
     "exec: programs that exited, by outcome (ok: status 0, error: another status, signal).",
     Family::exits, exited},
    {"netd_program_start_failures_total", "counter",
     "exec: programs that could not be started (the client's connection was closed).",
     Family::programs, start_failures},
    {"netd_config_reloads_total", "counter", "SIGHUP reloads that took effect.", Family::server,
     reloads},
    {"netd_ready", "gauge",
     "1 while netd serves and takes new clients (/readyz 200); 0 while starting and draining.",
     Family::server, ready},
    {"netd_config_reload_failures_total", "counter",
     "SIGHUP reloads refused (the running configuration stayed in effect).", Family::server,
     reload_failures},
};

bool is_datagram(std::string_view traffic_labels) {
    // Traffic labels are made by ServiceMetrics as service="...",transport="..." (transport last).
    return traffic_labels.ends_with("transport=\"udp\"") ||
           traffic_labels.ends_with("transport=\"unixgram\"");
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels,
            std::string_view value) {
    out.append(name);
    if (!labels.empty()) {
        out.append("{").append(labels).append("}");
    }
    out.append(" ").append(value).append("\n");
}

std::string number(double value) {
    char text[32];
    const auto [end, ec] = std::to_chars(text, text + sizeof text, value);
    return ec == std::errc() ? std::string(text, end) : "NaN";
}

std::optional<std::string> slurp(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return std::nullopt;
    }
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Fields of /proc/PID/stat from the third (state) on: the name before may contain spaces.
std::vector<std::string> stat_fields(int pid) {
    const auto text = slurp("/proc/" + std::to_string(pid) + "/stat");
    if (!text) {
        return {};
    }
    const auto close = text->rfind(')');
    if (close == std::string::npos) {
        return {};
    }
    std::istringstream in(text->substr(close + 1));
    std::vector<std::string> fields;
    for (std::string field; in >> field;) {
        fields.push_back(field);
    }
    return fields;
}

double boot_time() {
    const auto text = slurp("/proc/stat");
    if (!text) {
        return 0;
    }
    const auto at = text->find("\nbtime ");
    return at == std::string::npos ? 0 : std::strtod(text->c_str() + at + 7, nullptr);
}

/// The soft "Max open files" of /proc/PID/limits.
std::optional<double> max_fds(int pid) {
    const auto text = slurp("/proc/" + std::to_string(pid) + "/limits");
    if (!text) {
        return std::nullopt;
    }
    const auto at = text->find("Max open files");
    if (at == std::string::npos) {
        return std::nullopt;
    }
    return std::strtod(text->c_str() + at + 14, nullptr);
}

std::optional<double> open_fds(int pid) {
    std::error_code ec;
    std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec);
    if (ec) {
        return std::nullopt;  // after dropping privileges the daemon's own fds may be hidden
    }
    double count = 0;
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (ec) {
            return std::nullopt;
        }
        ++count;
    }
    return count;
}

void process_info(std::string& out) {
    const int pid = daemon_pid();
    const auto fields = stat_fields(pid);
    const auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    // /proc/PID/stat fields, numbered as in proc(5): utime 14, stime 15, cutime 16, cstime 17,
    // starttime 22, vsize 23, rss 24; fields[0] is field 3.
    const auto field = [&](std::size_t number) {
        return std::strtod(fields[number - 3].c_str(), nullptr);
    };
    const auto gauge = [&](std::string_view name, std::string_view type, std::string_view help,
                           double value) {
        header(out, name, type, help);
        sample(out, name, "", number(value));
    };
    if (fields.size() >= 22) {
        gauge("process_cpu_seconds_total", "counter", "CPU time of the daemon process, seconds.",
              (field(14) + field(15)) / ticks);
        gauge("netd_children_cpu_seconds_total", "counter",
              "CPU time of the daemon's exited child processes (fork mode), seconds.",
              (field(16) + field(17)) / ticks);
        gauge("process_start_time_seconds", "gauge",
              "Start time of the daemon since the Unix epoch, seconds.",
              boot_time() + field(22) / ticks);
        gauge("process_virtual_memory_bytes", "gauge", "Virtual memory size of the daemon.",
              field(23));
        gauge("process_resident_memory_bytes", "gauge", "Resident memory of the daemon.",
              field(24) * page);
    }
    if (const auto open = open_fds(pid)) {
        gauge("process_open_fds", "gauge", "Open file descriptors of the daemon.", *open);
    }
    if (const auto max = max_fds(pid)) {
        gauge("process_max_fds", "gauge", "The daemon's limit of open file descriptors.", *max);
    }
}

}  // namespace

std::string render() {
    const auto all = collect();
    std::set<std::string_view> listening;
    for (const auto& series : all) {
        if (series.family == Family::traffic && series.values[Traffic::listening] != 0) {
            listening.insert(series.labels);
        }
    }
    // A rejections row belongs to the traffic row its labels start with.
    const auto traffic_of = [](std::string_view labels) {
        return labels.substr(0, labels.find(",reason="));
    };
    std::string out;
    out.reserve(4096);
    header(out, "netd_build_info", "gauge", "The running netd's version.");
    sample(out, "netd_build_info", label("version", NETD_VERSION), "1");
    for (const auto& metric : metrics_table) {
        header(out, metric.name, metric.type, metric.help);
        for (const auto& series : all) {
            if (series.family != metric.family) {
                continue;
            }
            if (metric.family == Family::traffic || metric.family == Family::rejections) {
                const auto traffic = traffic_of(series.labels);
                if (!listening.contains(traffic)) {
                    continue;
                }
                if ((metric.applies == Applies::stream && is_datagram(traffic)) ||
                    (metric.applies == Applies::datagram && !is_datagram(traffic))) {
                    continue;
                }
            }
            sample(out, metric.name, series.labels, std::to_string(series.values[metric.value]));
        }
    }
    process_info(out);
    return out;
}

}  // namespace netd::metrics
