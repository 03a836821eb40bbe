#include "net/connection.hpp"

#include <vector>

namespace netd {

namespace {

/// Seconds since this loop's first sweep, advanced by close_idle_connections.
std::uint32_t& idle_clock() {
    thread_local std::uint32_t seconds = 0;
    return seconds;
}

}  // namespace

ConnectionSet& live_connections() {
    thread_local ConnectionSet connections;
    return connections;
}

Connection::Connection(std::chrono::seconds idle_timeout)
    : last_input_(idle_clock()), idle_timeout_(static_cast<std::uint32_t>(idle_timeout.count())) {
    live_connections().insert(this);
}

Connection::~Connection() {
    live_connections().erase(this);
}

void Connection::touch() {
    last_input_ = idle_clock();
}

bool Connection::idle() const {
    // The clock ticks once a second, so "more than idle_timeout" closes a connection between
    // idle_timeout and idle_timeout + 1 seconds after its last input.
    return idle_timeout_ > 0 && idle_clock() - last_input_ > idle_timeout_;
}

void close_idle_connections() {
    ++idle_clock();
    std::vector<Connection*> idle;
    for (auto* connection : live_connections()) {
        if (connection->idle()) {
            idle.push_back(connection);
        }
    }
    for (auto* connection : idle) {
        connection->drain(Drain::idle);
    }
}

}  // namespace netd
