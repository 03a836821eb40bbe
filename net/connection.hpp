#pragma once
// What the daemon knows of each live stream connection: enough to drain it at shutdown and to
// close it when it has been silent for its service's idle_timeout.

#include <chrono>
#include <cstdint>
#include <unordered_set>

namespace netd {

/// Why a connection is drained.
enum class Drain : std::uint8_t {
    shutdown,  ///< SIGTERM
    idle,      ///< silent for longer than its idle_timeout
    /// After shutdown, once first_bytes_grace has passed: a connection that was accepted just
    /// before the SIGTERM and has not sent anything yet stops waiting for its first bytes.
    late,
};

/// How long a drained connection that has not sent a byte yet waits for its first ones: a
/// client whose connect raced the SIGTERM has its request on the way (what a balancer or a
/// reuseport sibling would otherwise see fail).
constexpr std::chrono::milliseconds first_bytes_grace{250};

class Connection {
  public:
    /// idle_timeout: how long the connection may stay silent; 0 = for ever.
    explicit Connection(std::chrono::seconds idle_timeout);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    virtual ~Connection();

    /// Shutdown (and idle timeout): reads and handles what the client already sent, lets the
    /// session finish, closes.
    virtual void drain(Drain why) = 0;

    /// shutdown_timeout passed: close now, whatever is still unsent.
    virtual void abort() = 0;

    /// Input arrived: the idle timeout starts again.
    void touch();

    /// Whether the connection has been silent for longer than its idle_timeout.
    bool idle() const;

  private:
    std::uint32_t last_input_;    ///< idle_clock() when input last arrived
    std::uint32_t idle_timeout_;  ///< seconds, 0 = never
};

/// The live connections of the calling thread's event loop. A connection is created, served and
/// destroyed on one loop's thread, so each loop drains its own set and none needs a lock.
using ConnectionSet = std::unordered_set<Connection*>;
ConnectionSet& live_connections();

/// One idle-timeout mechanism per loop rather than a timer per connection: the loop calls this
/// once a second; it advances the loop's coarse clock (what touch() reads: no system call per
/// read) and drains the connections that have been silent too long.
void close_idle_connections();

}  // namespace netd
