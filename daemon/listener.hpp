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

    /// Logs the bound address and begins accepting connections or receiving datagrams.
    virtual void start() = 0;

    /// Shutdown: handles what already arrived: waiting datagrams, or connections waiting to be
    /// accepted (which the server then drains with the others).
    virtual void drain() = 0;

    /// Stop for good: close the socket (and remove a Unix socket file this listener created).
    virtual void stop() = 0;
};

}  // namespace netd
