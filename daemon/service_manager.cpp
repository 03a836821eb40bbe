#include "daemon/service_manager.hpp"

#include <cstdint>
#include <cstring>
#include <ctime>

#include "daemon/logging.hpp"
#include "daemon/systemd_protocol.hpp"

namespace netd {

namespace {

/// CLOCK_MONOTONIC in microseconds, what MONOTONIC_USEC carries.
std::uint64_t monotonic_usec() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000U +
           static_cast<std::uint64_t>(now.tv_nsec) / 1'000U;
}

}  // namespace

ServiceManager::ServiceManager(boost::asio::io_context& io) : watchdog_(io) {
    // Also checks WATCHDOG_PID: a watchdog meant for another process is not ours.
    if (const auto interval = systemd::watchdog_interval()) {
        watchdog_interval_ = *interval / 2;
    }
}

void ServiceManager::ready(const std::string& status) {
    notify("READY=1\nSTATUS=" + status);
    if (watchdog_interval_.count() > 0) {
        ping();
    }
}

void ServiceManager::reloading() {
    notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()));
}

void ServiceManager::draining(const std::string& status) {
    notify("STATUS=" + status);
}

void ServiceManager::stopping(const std::string& status) {
    watchdog_.cancel();
    notify("STOPPING=1\nSTATUS=" + status);
}

void ServiceManager::silence() {
    silent_ = true;
    watchdog_.cancel();
}

void ServiceManager::notify(const std::string& message) const {
    if (silent_) {
        return;
    }
    if (const int error = systemd::notify(message); error != 0) {
        BOOST_LOG_TRIVIAL(warning) << "cannot notify the service manager: " << std::strerror(error);
    }
}

void ServiceManager::ping() {
    // The loop's own timer: if the loop hangs, the pings stop and the manager restarts netd.
    notify("WATCHDOG=1");
    watchdog_.expires_after(watchdog_interval_);
    watchdog_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec && !silent_) {
            ping();
        }
    });
}

}  // namespace netd
