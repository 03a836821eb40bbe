#pragma once
// What the server holds for every bound socket, whatever its transport, and how it makes one.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "core/peer.hpp"
#include "handlers/exec.hpp"
#include "metrics/service_metrics.hpp"
#include "verify/verify.hpp"

namespace netd {

struct Service;

/// A program to start for a connection, or for a datagram socket (exec).
struct ProgramStart {
    const Program* program = nullptr;
    std::string service;   ///< its name: NETD_SERVICE, the logs
    int socket = -1;       ///< the program's stdin and stdout; the caller closes its own copy
    Peer peer;             ///< the client: REMOTE_ADDR, REMOTE_PORT, the logs
    Peer local;            ///< this end: LOCAL_ADDR, LOCAL_PORT
    Admission admission;   ///< held until the program exits (limits count live programs)
    ProgramRows counters;  ///< the service's program metrics
    /// Where the program's stderr is read (stderr = log) and exited runs.
    boost::asio::any_io_executor executor;
    /// Runs on executor once the program has exited (wait = yes: the socket is netd's again).
    std::function<void()> exited;
};

/// Child processes, as a listener sees them: fork mode's children, and exec's programs
/// (daemon/children.hpp is the one there is).
class ChildProcesses {
  public:
    ChildProcesses() = default;
    ChildProcesses(const ChildProcesses&) = delete;
    ChildProcesses& operator=(const ChildProcesses&) = delete;
    virtual ~ChildProcesses() = default;

    /// Whether another child may start now: fewer than max_children live, and full() (the
    /// service's own limit, for exec) false. If not, resume runs (on loop 0) once one has
    /// exited; the listener stops accepting meanwhile, and clients wait in the kernel's backlog.
    virtual bool has_room(std::function<void()> resume, const std::function<bool()>& full) = 0;

    /// Starts start.program (from any loop); false when it could not be started, which is
    /// logged and counted (exited then never runs).
    virtual bool spawn(ProgramStart start) = 0;

    enum class Forked : std::uint8_t { parent, child, failed };

    /// Forks a child for the admitted connection described (for the logs) by peer. The parent
    /// holds admission until the child is reaped (so limits count live children), and closes its
    /// copy of the connection. The child stops serving anything else and runs serve(), once it is
    /// set up to serve its one connection.
    virtual Forked fork_child(const std::string& peer, Admission admission,
                              std::function<void()> serve) = 0;
};

/// How a listener is set up beyond its address.
struct ListenerOptions {
    /// Pool mode: every event loop gets a copy of each listener (see Listener::copy_for).
    bool shared_port = false;
    /// [server] reuseport: other processes may listen on the same addresses.
    bool reuseport = false;
    /// fork mode: accepted connections are served by child processes.
    bool fork = false;
    /// Where child processes are started: fork mode's, and exec's programs in every mode.
    ChildProcesses* children = nullptr;
};

/// A listening socket the service manager passed (socket activation), to be adopted as is.
struct AdoptedSocket {
    int fd = -1;
};

/// Where a listener of any transport listens: an IP address and port (tcp, udp), a Unix socket
/// path (unix, unixgram), or a passed socket.
using ListenAddress = std::variant<boost::asio::ip::tcp::endpoint, std::string, AdoptedSocket>;

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
    virtual void switch_to(std::shared_ptr<Service> service) = 0;

    /// fork mode, in a child: closes this process's handle only; the parent goes on listening.
    virtual void abandon() = 0;

    /// Pool mode: a listener on the same address served by another event loop; throws
    /// config::ConfigError naming the service key when the socket cannot be opened.
    virtual std::shared_ptr<Listener> copy_for(boost::asio::io_context& io) = 0;
};

/// Opens a listener of transport at address for service, on io; throws config::ConfigError
/// naming the service's key when it cannot.
std::shared_ptr<Listener> open_listener(boost::asio::io_context& io,
                                        const std::shared_ptr<Service>& service,
                                        Transport transport, const ListenAddress& address,
                                        const ListenerOptions& options);

/// "tcp 127.0.0.1:7007", "unix /run/netd/echo.sock", "fd 3": an address in the logs, and what
/// a reload compares to tell a listener it keeps.
std::string describe(Transport transport, const ListenAddress& address);

}  // namespace netd
