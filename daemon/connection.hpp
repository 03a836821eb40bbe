#pragma once
// What the daemon knows of each live stream connection: enough to drain it at shutdown.

#include <unordered_set>

namespace netd {

class Connection {
  public:
    Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    virtual ~Connection();

    /// Shutdown: reads and handles what the client already sent, lets the session finish, closes.
    virtual void drain() = 0;
};

/// The live connections of the calling thread's event loop. A connection is created, served and
/// destroyed on one loop's thread, so each loop drains its own set and none needs a lock.
using ConnectionSet = std::unordered_set<Connection*>;
ConnectionSet& live_connections();

}  // namespace netd
