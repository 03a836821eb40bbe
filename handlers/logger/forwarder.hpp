#pragma once
// A logger service's forwarding to one collector (SPEC 10), with two threads of its own: the
// spooler writes the records sessions hand over into the spool (so no event loop waits for the
// disk, as with the log file), and the sender reads the spool and sends it (so no session waits
// for the collector). Records are in the spool before they are sent and leave it only once the
// collector has them, which is what makes delivery survive outages, restarts and SIGKILL.
//
// Like a log file, a forwarder is found by its spool directory and shared by the configurations
// that name it across a reload: the new one stages its settings and they apply at commit (a new
// destination reconnects; the spool stays). In a fork-mode child, appends go straight into the
// spool's newest segment, and the parent's sender finds them there.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "core/throttle.hpp"
#include "handlers/logger/forward_transport.hpp"
#include "handlers/logger/spool.hpp"
#include "handlers/logger/staged_options.hpp"
#include "metrics/registry.hpp"

namespace netd {

struct ForwardOptions {
    ForwardDestination destination;
    ForwardTlsFiles tls;
    std::string spool;  ///< forward_spool
    std::uint64_t spool_max = std::uint64_t{1} << 30;

    bool operator==(const ForwardOptions&) const = default;
};

class Forwarder {
  public:
    /// Records waiting for the spooler past this are dropped (counted): the disk refuses them.
    static constexpr std::size_t refuse_above = std::size_t{64} * 1024 * 1024;

    /// The forwarder of options.spool, made on first use.
    static std::shared_ptr<Forwarder> for_spool(const ForwardOptions& options,
                                                std::string_view service);

    Forwarder(ForwardOptions options, std::string service);
    Forwarder(const Forwarder&) = delete;
    Forwarder& operator=(const Forwarder&) = delete;
    ~Forwarder();

    /// A configuration being started asks for options; "" or the key whose value differs from
    /// what another service of that configuration asked for. Matched by commit() or unstage().
    std::string_view stage(const ForwardOptions& options);
    void commit();
    void unstage();

    /// A user begins: the first opens the spool and starts the threads. "" or why not.
    std::string start();
    /// A user is done: the last one spools what is queued and stops the threads.
    void stop();
    /// fork mode, in a new child: appends go to the spool directly.
    void enter_child();

    /// Queues count whole frames for the spool.
    void append(std::string_view frames, std::uint64_t count);

    /// netd's host name: a Unix client's record's HOSTNAME when it names none.
    const std::string& hostname() const { return hostname_; }

  private:
    void spool_loop();
    void send_loop();
    /// The sender's wait for more records, the stop, or timeout.
    void wait_for_records(std::chrono::milliseconds timeout);
    /// Sleeps for delay unless stopping; false when stopping.
    bool pause(std::chrono::milliseconds delay);
    /// Spools what the spooler took; false when the disk refused it (kept for a retry).
    bool write_batch();
    /// What waits in the spool: the spool row's in minus out (appended and gone, records or
    /// bytes), never below 0 (a fork child's append may be counted a moment late).
    std::uint64_t spooled(std::size_t in, std::size_t out) const;
    /// Sets the current destination's spooled gauges from what went in and out of the spool:
    /// by the spooler at each tick, and by the sender as it confirms.
    void update_gauges();
    /// The metrics row of records sent to url from this spool.
    metrics::Row& destination_row(const std::string& url) const;
    /// The current destination's row.
    metrics::Row& destination() const { return *destination_.load(std::memory_order_acquire); }
    /// The sender, when a reload changed the destination: the old row keeps its counts and
    /// shows nothing spooled and not connected; what waits is the new one's.
    void move_to(const std::string& url);
    void note_dropped(std::uint64_t records, std::uint64_t bytes, std::string_view why);

    ForwardOptions options_;                ///< (under mutex_ once started)
    StagedOptions<ForwardOptions> staged_;  ///< what the configuration being started asks for
    bool reconfigured_ = false;             ///< the sender must reconnect with options_
    std::string service_;
    std::string hostname_;
    Spool spool_;
    /// What went in and out of the spool, whichever destination it went to (fork children
    /// count their appends into it too).
    metrics::Row* spool_counts_ = nullptr;
    /// The current destination's row: the sender moves it when a reload changes the
    /// destination; the spooler and fork-mode children read it.
    std::atomic<metrics::Row*> destination_ = nullptr;
    std::mutex gauges_mutex_;  ///< the gauges' update against a move to a new destination

    std::mutex mutex_;
    std::condition_variable spooler_wake_;
    std::condition_variable sender_wake_;
    std::string front_;  ///< frames sessions appended (under mutex_)
    std::uint64_t front_records_ = 0;
    std::string back_;  ///< the spooler's batch
    std::uint64_t back_records_ = 0;
    unsigned users_ = 0;
    bool started_ = false;
    bool child_ = false;
    std::atomic<bool> stopping_ = false;
    int stop_fd_ = -1;                            ///< an eventfd, readable once stopping
    Throttle drop_log_{std::chrono::seconds(1)};  ///< drop warnings: a line a second at most
    std::thread spooler_;
    std::thread sender_;
};

}  // namespace netd
