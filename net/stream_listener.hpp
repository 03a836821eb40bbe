#pragma once
// A listening stream socket (TCP, TLS over TCP, or Unix) that accepts connections for one
// service: each passes the service's verifiers, then is served on this loop, or in a child
// process of its own (fork mode). A TLS connection's handshake is the connection's first step,
// after verify_request and (fork mode) in the child.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>

#include "net/listen_socket.hpp"
#include "net/listener.hpp"
#include "net/proxy_header.hpp"
#include "net/service.hpp"
#include "net/stream_connection.hpp"

namespace netd {

template <class Protocol>
class StreamListener final : public Listener,
                             public std::enable_shared_from_this<StreamListener<Protocol>> {
  public:
    /// Binds and listens at once (or adopts a passed socket); throws config::ConfigError naming
    /// the service key on failure. transport: tls makes its connections TLS ones (TCP only).
    StreamListener(boost::asio::io_context& io, std::shared_ptr<Service> service,
                   const ListenAt<Protocol>& at, ListenerOptions options,
                   Transport transport = transport_of<Protocol>);

    void start() override;
    void drain() override;
    void stop() override;
    void abandon() override;
    void switch_to(std::shared_ptr<Service> service) override;
    std::shared_ptr<Listener> copy_for(boost::asio::io_context& io) override;

  private:
    /// A copy of original for another event loop.
    StreamListener(boost::asio::io_context& io, StreamListener& original);

    /// What is known of an accepted connection's two ends: the client, and the address it
    /// reached when a PROXY header said (unset: the socket's own).
    struct Ends {
        Peer peer;
        std::optional<Peer> local;
    };
    /// A connection whose PROXY header is on its way.
    struct PendingHeader;

    /// Accepts the next connection, once fork mode has room for another child.
    void do_accept();
    void on_accept(boost::system::error_code ec, typename Protocol::socket socket);
    /// An accepted socket: its client known (from a PROXY header where the service wants one),
    /// then admitted.
    void take(typename Protocol::socket socket);
    /// PROXY protocol, a header not whole at accept: reads on as its bytes come (never past it,
    /// so that what follows is the handler's or the program's), then admits the connection as
    /// the header says; closes it at proxy_timeout, or at the first byte that cannot be a header.
    void wait_for_header(const std::shared_ptr<PendingHeader>& pending);
    /// The whole header came from balancer: the client it names (or the balancer, for LOCAL
    /// and UNKNOWN) is admitted.
    void admit_proxied(typename Protocol::socket socket, const Peer& balancer,
                       const ProxyHeader& header);
    /// A connection whose header is missing, bad, late or not from proxy_from: counted (reason
    /// proxy) and closed.
    void reject_proxy(typename Protocol::socket& socket, const Peer& peer, std::string_view why);
    /// The client is known: verified, then served here, in a child, or by a program. A
    /// connection for a process (fork mode's child, exec's program) waits for room for one,
    /// and is admitted once there is (the listener stops accepting meanwhile when it is the one
    /// that waits: accepting). Returns whether the listener goes on accepting now.
    bool admit(typename Protocol::socket socket, Ends ends, bool accepting);
    /// Runs the service's verifiers for peer: true when it may be served (admission is then
    /// set); false when it was rejected (the socket is then closed, after the busy answer for a
    /// limit).
    bool verify(typename Protocol::socket& socket, const Peer& peer, Admission& admission);
    /// Makes an admitted socket a connection of this listener's service, on this loop.
    std::shared_ptr<Connection> serve(typename Protocol::socket socket, Admission admission);
    /// fork mode: a child process serves the admitted socket. Whether this process is that
    /// child.
    bool serve_in_child(typename Protocol::socket socket, Admission admission);
    /// exec: program gets the admitted socket (this listener's copy closes after); local is
    /// the address the client reached, when a PROXY header said.
    void start_program(const Program& program, typename Protocol::socket& socket,
                       Admission admission, const std::optional<Peer>& local);
    /// There is room for a child again: accept on this listener's loop.
    void resume_accepting();
    /// Runs step on this listener's loop, unless the listener has stopped by then.
    void on_own_loop(std::function<void()> step);
    /// Accepting failed for lack of resources (descriptors, memory): pause instead of spinning.
    void pause_accepting();
    /// Puts the opened socket into the listening state; throws like the constructor (naming
    /// the key not_opened blames, or the transport's).
    void listen(const OpenError& not_opened);
    /// TCP_INQ on the listening socket, which the sockets it accepts inherit, where netd reads
    /// them itself (PlainStream::read_some learns with every read whether anything is left):
    /// not for TLS (OpenSSL reads the socket) nor for exec (a program reading with recvmsg would
    /// get a control message it never asked for). A kernel without it reads as before.
    void report_bytes_left();

    /// tcp or tls (a TCP listener), unix: what its connections are, counted and logged as.
    Transport transport_;
    ListeningSocket<typename Protocol::acceptor> acceptor_;
    /// drain() or stop() came: what is accepted from now on (the backlog, a PROXY header that
    /// completes) is served here and drained at once, and nothing is accepted again.
    bool draining_ = false;
    /// A fork-mode child's copy: nothing of it is served here.
    bool abandoned_ = false;
    /// Connections whose PROXY header is on its way (each removes itself when it goes).
    std::set<PendingHeader*> headers_;
    std::shared_ptr<Service> service_;
    ListenerOptions options_;
    boost::asio::steady_timer retry_timer_;
    /// Out of descriptors (or memory): failed accepts since the last warning, and its time; the
    /// warning is repeated at most every accept_warning_interval while it lasts.
    std::uint64_t accept_failures_ = 0;
    std::chrono::steady_clock::time_point last_accept_warning_{};
};

extern template class StreamListener<boost::asio::ip::tcp>;
extern template class StreamListener<boost::asio::local::stream_protocol>;

}  // namespace netd
