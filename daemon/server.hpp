#pragma once
// Owns the services and their listeners. Every listener is bound before any is started, so a bad
// address fails the whole start-up with a config error instead of leaving a half-started daemon.

#include <boost/asio/io_context.hpp>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "daemon/listener.hpp"
#include "daemon/service.hpp"

namespace netd {

class Server {
  public:
    Server(boost::asio::io_context& io, std::shared_ptr<const config::Config> config);
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server();

    /// Builds every service's handler, binds every listener and starts the handlers (opening
    /// log files); throws config::ConfigError (naming file, section and key) and leaves nothing
    /// bound or open on failure.
    void bind();

    /// Starts accepting and receiving on every listener (each logs its real address).
    void start();

    /// SIGHUP: handlers reopen their files.
    void reopen();

    /// SIGTERM: stops accepting, handles the datagrams and stream bytes that already arrived,
    /// and closes every connection. The event loop then runs out of work.
    void shutdown();

    /// After the event loop ended: handlers flush and stop (log files written out).
    void stop_handlers();

    /// Closes every listener (removing the Unix socket files it created).
    void stop();

    std::size_t listener_count() const { return listeners_.size(); }
    std::size_t service_count() const { return services_.size(); }

  private:
    boost::asio::io_context& io_;
    std::shared_ptr<const config::Config> config_;
    std::vector<std::shared_ptr<Service>> services_;
    std::vector<std::shared_ptr<Listener>> listeners_;
};

}  // namespace netd
