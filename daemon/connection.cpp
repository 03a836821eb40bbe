#include "daemon/connection.hpp"

namespace netd {

ConnectionSet& live_connections() {
    thread_local ConnectionSet connections;
    return connections;
}

Connection::Connection() {
    live_connections().insert(this);
}

Connection::~Connection() {
    live_connections().erase(this);
}

}  // namespace netd
