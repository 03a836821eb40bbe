#pragma once
// Owns the event loops, the services and their listeners, and the concurrency model: strand (one
// loop), pool (one loop per worker thread, every listener copied onto each) or fork (one loop
// that forks a child per connection). Every listener is bound before any is started, so a bad
// address fails the whole start-up with a config error instead of leaving a half-started daemon.

#include <atomic>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "daemon/children.hpp"
#include "daemon/service_manager.hpp"
#include "daemon/socket_activation.hpp"
#include "net/event_loops.hpp"
#include "net/listener.hpp"
#include "net/service.hpp"

namespace netd {

class Server {
  public:
    /// Reads the configuration again (SIGHUP), knowing which services hold a socket the service
    /// manager passed; throws config::ConfigError when it is invalid.
    using ConfigSource =
        std::function<std::shared_ptr<const config::Config>(const config::PassedServices&)>;

    /// passed: the sockets socket activation passed, for the services of their names.
    Server(std::shared_ptr<const config::Config> config, std::vector<PassedSocket> passed,
           ConfigSource reread);
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server();

    /// Builds every service's handler, binds every listener and starts the handlers (opening
    /// log files); throws config::ConfigError (naming file, section and key) and leaves nothing
    /// bound or open on failure.
    void start();

    /// Serves until SIGTERM/SIGINT and the drain that follows, then stops the handlers (log
    /// files written out) and returns the exit status. A fork-mode child never returns: it ends
    /// the process once its connection is done.
    int run();

  private:
    /// One configured (or passed) listening address of a service, with its copy on every loop.
    struct BoundListener {
        std::string service;  ///< the service's name
        Transport transport = Transport::tcp;
        ListenAddress address;  ///< as configured, or the socket socket activation passed
        std::string text;       ///< describe(transport, address): what a reload compares
        std::vector<std::shared_ptr<Listener>> copies;  ///< by loop index

        /// Socket activation passed it: it stays with the service of its name.
        bool passed() const { return std::holds_alternative<AdoptedSocket>(address); }
    };

    /// The services config asks for (handlers built, not started).
    std::vector<std::shared_ptr<Service>> make_services(
        const std::shared_ptr<const config::Config>& config);
    /// The listeners services ask for: on reload, an address the same service already listens on
    /// is kept (kept[i] says which of listeners_), the others are bound. Throws
    /// config::ConfigError, having closed again what it bound.
    std::vector<BoundListener> open_listeners(const std::vector<std::shared_ptr<Service>>& services,
                                              std::vector<bool>& kept);
    /// Starts every service's handler; throws config::ConfigError (the started ones stopped).
    static void start_handlers(const std::vector<std::shared_ptr<Service>>& services);
    /// SIGHUP: re-reads the config and applies it to new connections, or keeps the running one
    /// (whatever went wrong: a bad file, a port in use, a handler that could not start).
    void reload();
    /// The part of a reload that can fail: reads the config, binds and starts what it needs.
    /// Throws, having closed and stopped again what it opened and started.
    void prepare_reload(std::shared_ptr<const config::Config>& config,
                        std::vector<std::shared_ptr<Service>>& services,
                        std::vector<BoundListener>& listeners, std::vector<bool>& kept);
    /// The services that hold a socket socket activation passed.
    config::PassedServices passed_services() const;
    /// Runs f on loop's own thread and returns what it returns (or throws what it throws),
    /// waiting for it: a loop's reactor takes no lock per descriptor, so only its own thread may
    /// register a socket with it once the loops run (a reload's new listener copies). Before,
    /// or for loop 0 (this thread), f runs here.
    template <class F>
    auto on_loop(std::size_t loop, F f) -> decltype(f());
    /// Runs f(loop index, listener) for every copy of listener, each on its own loop.
    void on_every_loop(const BoundListener& listener,
                       const std::function<void(std::size_t, Listener&)>& f);
    /// Runs step(loop index) on every loop, each on its own thread, one after another: the
    /// next loop's step is posted once this one's has returned. Pool mode's copies of one
    /// address are siblings in a SO_REUSEPORT group, and closing two at once can lose a
    /// connection: with net.ipv4.tcp_migrate_req the kernel moves a closing copy's queue to a
    /// sibling, and drops what it moves to one that is closing at that moment.
    void in_turn_on_every_loop(std::function<void(std::size_t)> step, std::size_t loop = 0);
    /// Stops every copy of listener, each on its own loop, in turn.
    void stop_on_every_loop(const BoundListener& listener);
    /// Whether listener is one of listeners_ (kept by a reload) rather than newly bound.
    bool already_open(const BoundListener& listener) const;
    /// A reload keeps a Unix socket file as it is: warns when next's unix_mode, unix_owner or
    /// unix_group differ from what the file was made with (services_ still the old ones).
    void note_kept_socket_file(const Service& next, const BoundListener& kept) const;
    void await_signal();
    /// SIGTERM or SIGINT: not ready from now on; serves on for drain_delay (a second signal cuts
    /// it short), then shutdown().
    void begin_stop(int signal);
    /// The drain of shutdown() begins (cut_short: a second signal ended drain_delay).
    void stop_now(int signal, bool cut_short);
    /// Each loop's heartbeat (metrics/health.hpp), until the loop has drained.
    void heartbeat(std::size_t loop);
    /// Closes the connections of the loop that have been silent too long, once a second.
    void sweep_idle(std::size_t loop);
    /// Until the loop's connections have finished draining, or drain_deadline_ aborts them.
    void watch_drain(std::size_t loop);
    /// SIGHUP: handlers reopen their files.
    void reopen();
    /// SIGTERM: every loop stops accepting, handles the datagrams and stream bytes that already
    /// arrived, and closes its connections; the loops then run out of work.
    void shutdown();
    /// fork mode, in a child whose loop stopped after fork_child: closes what is the parent's,
    /// tells the handlers, serves the one connection, and ends the process.
    [[noreturn]] void serve_child();
    /// Closes every listener (removing the Unix socket files it created).
    void stop();
    /// The one-line summary for logs and the service manager's STATUS=.
    std::string summary() const;
    /// fork mode: a child process per stream connection.
    bool forking() const;

    std::shared_ptr<const config::Config> config_;
    ConfigSource reread_;
    /// The server's row of the metrics table (made first: the table must exist before a fork).
    metrics::Row& counters_;
    EventLoops loops_;
    boost::asio::signal_set signals_;
    ServiceManager manager_;        ///< sd_notify
    GlobalLimit connection_limit_;  ///< [server] max_connections, all services together
    /// Each loop's once-a-second idle sweep (close_idle_connections), by loop index.
    std::vector<std::unique_ptr<boost::asio::steady_timer>> idle_sweeps_;
    /// After SIGTERM, each loop's first_bytes_grace, by loop index.
    std::vector<std::unique_ptr<boost::asio::steady_timer>> drain_graces_;
    /// Each loop's heartbeat timer, by loop index.
    std::vector<std::unique_ptr<boost::asio::steady_timer>> heartbeats_;
    /// Each loop's row in the metrics table that its heartbeat writes, by loop index.
    std::vector<metrics::Row*> heartbeat_rows_;
    /// By loop index: the loop has drained (or is a fork-mode child's): it beats no more. Each
    /// loop's own thread reads and writes its element only.
    std::vector<char> drained_;
    /// SIGTERM came: drain_delay runs on this timer (on loop 0).
    boost::asio::steady_timer drain_delay_;
    bool draining_ = false;
    /// After SIGTERM, each loop's watch over its draining connections, by loop index.
    std::vector<std::unique_ptr<boost::asio::steady_timer>> drain_watches_;
    /// SIGTERM came: sweeps stop; connections still open at this time are aborted.
    std::atomic<bool> stopping_ = false;
    std::chrono::steady_clock::time_point drain_deadline_;
    std::vector<std::shared_ptr<Service>> services_;
    /// What each service's limits count, by service name, across reloads.
    std::map<std::string, std::shared_ptr<ServiceLoad>, std::less<>> loads_;
    /// Sockets socket activation passed, until start() makes them listeners.
    std::vector<PassedSocket> passed_;
    /// Whether the loops run: until then a listener is stopped on the calling thread.
    bool running_ = false;
    /// fork mode's children and exec's programs. Declared after the services: the admissions it
    /// holds for live children release into their services' verifiers, so it must go first.
    std::unique_ptr<Children> children_;
    std::vector<BoundListener> listeners_;
};

}  // namespace netd
