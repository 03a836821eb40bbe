#pragma once
// What the server holds for every bound socket, whatever its transport.

#include <string>

namespace netd {

class Listener {
  public:
    Listener() = default;
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    virtual ~Listener() = default;

    /// Begin accepting connections or receiving datagrams.
    virtual void start() = 0;

    /// Shutdown: handles what already arrived (datagrams); a stream listener has nothing to do.
    virtual void drain() {}

    /// Stop for good: close the socket (and remove a Unix socket file this listener created).
    virtual void stop() = 0;

    /// "tcp 127.0.0.1:7007", "unix /run/netd/echo.sock": the bound address, real port included.
    virtual std::string describe() const = 0;
};

}  // namespace netd
