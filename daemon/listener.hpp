#pragma once
// What the server holds for every bound socket, whatever its transport.

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

namespace netd {

class ForkModel;
struct Service;

/// How a listener is set up beyond its address.
struct ListenerOptions {
    /// Pool mode: every event loop gets a copy of each listener (see Listener::copy_for).
    bool shared_port = false;
    /// Fork mode: accepted connections are served by child processes.
    ForkModel* fork = nullptr;
};

/// A listening socket the service manager passed (socket activation), to be adopted as is.
struct AdoptedSocket {
    int fd = -1;
};

class Listener {
  public:
    Listener() = default;
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    virtual ~Listener() = default;

    /// Begins accepting connections or receiving datagrams (the first of a listener's copies
    /// logs the bound address).
    virtual void start() = 0;

    /// Shutdown: handles what already arrived: waiting datagrams, or connections waiting to be
    /// accepted (which the server then drains with the others).
    virtual void drain() = 0;

    /// Stop for good: close the socket (and remove a Unix socket file this listener created).
    virtual void stop() = 0;

    /// Reload: connections accepted from now on belong to service (those already open keep
    /// theirs). Called on the listener's own loop.
    virtual void serve_for(std::shared_ptr<Service> service) = 0;

    /// Fork mode, in a child: closes this process's handle only; the parent goes on listening.
    virtual void abandon() = 0;

    /// Pool mode: a listener on the same address served by another event loop; throws
    /// config::ConfigError naming the service key when the socket cannot be opened.
    virtual std::shared_ptr<Listener> copy_for(boost::asio::io_context& io) = 0;
};

}  // namespace netd
