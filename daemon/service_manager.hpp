#pragma once
// Talking to systemd (or any service manager speaking its notify protocol,
// daemon/systemd_protocol.hpp): READY=1 once every listener is bound, RELOADING=1 (with
// MONOTONIC_USEC) and READY=1 around a reload, STOPPING=1 at shutdown, STATUS= with a one-line
// summary, and WATCHDOG=1 every half WATCHDOG_USEC when the manager asks for a watchdog. Without
// NOTIFY_SOCKET every call does nothing.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string>

namespace netd {

class ServiceManager {
  public:
    /// io: where the watchdog timer runs (the main loop).
    explicit ServiceManager(boost::asio::io_context& io);
    ServiceManager(const ServiceManager&) = delete;
    ServiceManager& operator=(const ServiceManager&) = delete;

    /// Serving: READY=1 with status, and the watchdog starts if one is asked for.
    void ready(const std::string& status);
    /// A reload begins (RELOADING=1, MONOTONIC_USEC=now); ready() ends it.
    void reloading();
    /// SIGTERM with a drain_delay: STATUS= only (still serving; the watchdog goes on).
    void draining(const std::string& status);
    /// Shutdown began: STOPPING=1 with status; the watchdog stops.
    void stopping(const std::string& status);

    /// fork mode, in a child: only the main process speaks to the manager.
    void silence();

  private:
    void notify(const std::string& message) const;
    void ping();

    boost::asio::steady_timer watchdog_;
    std::chrono::microseconds watchdog_interval_{0};  ///< 0: no watchdog
    bool silent_ = false;
};

}  // namespace netd
