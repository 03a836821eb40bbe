#pragma once
// The daemon's counters, for the stats service (SPEC 3). They live in one shared anonymous
// mapping made before the first fork, so fork-mode children count into the same memory as their
// parent and a scrape served by any process sees every process's counts. A counter is a relaxed
// atomic add on a row that only the calling event loop's thread normally touches (rows are
// sharded per loop), so counting costs no lock and no shared cache line on the request path.
//
// A row is found or made by (family, labels, shard) when a service, handler or file starts, never
// per request; callers keep the Row reference. Rows are never freed: a service removed by a reload
// keeps its counts, and one that comes back continues them. The table is bounded; when it is full,
// new keys share one overflow row per family (rendered with overflow="true").

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace netd::metrics {

/// What a row counts; the meaning of its values depends on the family.
enum class Family : std::uint8_t {
    traffic,     ///< one service on one transport: Traffic values
    rejections,  ///< one service, transport and verifier: RejectionValue values
    logger,      ///< one logger service: Logger values
    log_file,    ///< one log file: LogFileValue values
    server,      ///< the daemon: ServerValue values
    programs,    ///< one exec service: ProgramValue values
    exits,       ///< one exec service and outcome (ok, error, signal): ExitValue values
    forward,     ///< one logger service's forwarding destination: ForwardValue values
    spool,       ///< one forward spool: SpoolValue values (not rendered)
    loop,        ///< one event loop of the daemon: LoopValue values (the last family)
};

/// Values of a traffic row.
enum Traffic : std::size_t {
    accepted,           ///< stream connections admitted by verify_request
    active,             ///< stream connections open now (added and subtracted)
    bytes_in,           ///< bytes received from clients
    bytes_out,          ///< bytes sent to clients
    datagrams_in,       ///< datagrams received, rejected ones included
    datagrams_out,      ///< replies sent
    datagrams_dropped,  ///< received but not served: too large, or the reply could not be sent
    handler_errors,     ///< a handler threw (or, fork mode, its child died of a signal)
    listening,          ///< 1 once a listener of this transport served: the row is rendered
};

/// Values of a rejections row.
enum RejectionValue : std::size_t {
    rejected,  ///< connections or datagrams this verifier turned away
    /// A connection stage's rejections (VerifyChain::reject: proxy, tls), made in fork mode by
    /// the children too: when one was last logged (steady_clock ticks, see throttle_ready) and
    /// how many there were then, so that all processes together log one line a second at most.
    /// Not rendered.
    last_logged,
    rejected_when_logged,
};

/// Values of a logger row.
enum Logger : std::size_t {
    records,          ///< records handed to the log file
    records_dropped,  ///< datagrams dropped because the file's queue was full
};

/// Values of a log_file row.
enum LogFileValue : std::size_t {
    records_written,  ///< records (lines) written to the file
    bytes_written,
    write_errors,  ///< failed writes (each is retried)
};

/// Values of a programs row.
enum ProgramValue : std::size_t {
    programs_started,  ///< programs started for connections (or datagram sockets)
    programs_running,  ///< programs not exited yet
    start_failures,    ///< programs that could not be started (the client's connection closed)
};

/// Values of an exits row.
enum ExitValue : std::size_t {
    exited,  ///< programs that exited this way
};

/// Values of a forward row.
enum ForwardValue : std::size_t {
    forwarded_records,  ///< records the collector has (see forward_transport.hpp for what counts)
    forwarded_bytes,
    spooled_records,  ///< waiting in the spool now (set by the sender)
    spooled_bytes,    ///< waiting in the spool now (set by the sender)
    forward_dropped,  ///< dropped, oldest first, past forward_spool_max
    reconnects,       ///< connections made to this destination after one was lost
    connected,        ///< 1 while connected to the collector
};

/// Values of a spool row: what went in and out of one forward spool, whichever destination it
/// went to; the spooled gauges of its current destination are the difference.
enum SpoolValue : std::size_t {
    appended,        ///< records written to the spool by any process
    appended_bytes,  ///< their bytes
    gone,            ///< records that left it: delivered or dropped
    gone_bytes,      ///< their bytes
};

/// Values of the server row.
enum ServerValue : std::size_t {
    fork_children,  ///< fork mode: live children
    reloads,        ///< SIGHUP reloads that took effect
    reload_failures,
    ready,     ///< 1 while serving and ready for new clients (see metrics/health.hpp)
    draining,  ///< 1 from SIGTERM on: drain_delay, then the drain
};

/// Values of a loop row.
enum LoopValue : std::size_t {
    heartbeat,  ///< when the loop last ran its heartbeat timer: steady clock, milliseconds
};

constexpr std::size_t row_values = 10;

/// One row of counters in the shared table.
class Row {
  public:
    void add(std::size_t value, std::uint64_t n = 1) {
        values_[value].fetch_add(n, std::memory_order_relaxed);
    }
    void subtract(std::size_t value, std::uint64_t n = 1) {
        values_[value].fetch_sub(n, std::memory_order_relaxed);
    }
    void set(std::size_t value, std::uint64_t n) {
        values_[value].store(n, std::memory_order_relaxed);
    }
    std::uint64_t get(std::size_t value) const {
        return values_[value].load(std::memory_order_relaxed);
    }
    /// The value itself, for more than adding and setting (a throttle shared by processes).
    std::atomic<std::uint64_t>& at(std::size_t value) { return values_[value]; }

  private:
    std::atomic<std::uint64_t> values_[row_values];
};

/// The row for (family, labels, shard), made on first use. labels is the Prometheus label text,
/// e.g. `service="echo",transport="tcp"` (see label()); longer than max_labels bytes (only names
/// full of characters that need escaping get there), it is the family's overflow row.
Row& row(Family family, std::string_view labels, unsigned shard = 0);

constexpr std::size_t max_labels = 160;

/// `name="value"` with value escaped for the exposition format; a value over 48 bytes is cut to
/// its last 48 after "...", so that a label set of three fits max_labels.
std::string label(std::string_view name, std::string_view value);

/// The shard of the calling thread: its event loop's index (0 outside the loops).
unsigned shard();
/// Called by each event loop's thread before it runs.
void set_shard(unsigned shard);

/// The process that made the table (its first row()): the daemon, whose process figures a scrape
/// reports. The server makes its own row first, before it could fork.
int daemon_pid();

/// One (family, labels) with its values summed over every shard.
struct Series {
    Family family;
    std::string labels;
    std::uint64_t values[row_values];
};

/// Every row, summed over shards, sorted by family and labels.
std::vector<Series> collect();

}  // namespace netd::metrics
