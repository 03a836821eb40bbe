#pragma once
// What a service knows of each of its live stream connections: enough to drain them at shutdown.

#include <unordered_set>

namespace netd {

class Connection {
  public:
    Connection() = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    virtual ~Connection() = default;

    /// Shutdown: reads and handles what the client already sent, lets the session finish, closes.
    virtual void drain() = 0;
};

/// A service's live connections. Touched only from the thread that runs the service's event loop.
using ConnectionSet = std::unordered_set<Connection*>;

}  // namespace netd
