#pragma once
// A listening stream socket (TCP or Unix) that accepts connections for one service: each passes
// the service's verifiers, then is served on this loop, or in a child process of its own (fork
// mode).

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>

#include "net/listen_socket.hpp"
#include "net/listener.hpp"
#include "net/service.hpp"
#include "net/stream_connection.hpp"

namespace netd {

template <class Protocol>
class StreamListener final : public Listener,
                             public std::enable_shared_from_this<StreamListener<Protocol>> {
  public:
    /// Binds and listens at once (or adopts a passed socket); throws config::ConfigError naming
    /// the service key on failure.
    StreamListener(boost::asio::io_context& io, std::shared_ptr<Service> service,
                   const ListenAt<Protocol>& at, ListenerOptions options);

    void start() override;
    void drain() override;
    void stop() override;
    void abandon() override;
    void switch_to(std::shared_ptr<Service> service) override { service_ = std::move(service); }
    std::shared_ptr<Listener> copy_for(boost::asio::io_context& io) override;

  private:
    /// A copy of original for another event loop.
    StreamListener(boost::asio::io_context& io, StreamListener& original);

    /// Accepts the next connection, once fork mode has room for another child.
    void do_accept();
    void on_accept(boost::system::error_code ec, typename Protocol::socket socket);
    /// Runs the service's verifiers on an accepted socket: true when it may be served (admission
    /// is then set); false when the peer is already gone or was rejected (the socket is then
    /// closed, after the busy answer for a limit).
    bool verify(typename Protocol::socket& socket, Admission& admission);
    /// Makes an admitted socket a connection of this listener's service, on this loop.
    std::shared_ptr<StreamConnection<PlainStream<Protocol>>> serve(typename Protocol::socket socket,
                                                                   Admission admission);
    /// fork mode: a child process serves the admitted socket. Whether this process is that
    /// child.
    bool serve_in_child(typename Protocol::socket socket, Admission admission);
    /// An accepted socket: verified, then served here, in a child, or by a program.
    void take(typename Protocol::socket socket);
    /// exec: the accepted socket becomes a program's once there is room for one.
    void take_for_program(const Program& program, typename Protocol::socket socket);
    /// exec: program gets the admitted socket (this listener's copy closes after).
    void start_program(const Program& program, typename Protocol::socket& socket,
                       Admission admission);
    /// There is room for a child again: accept on this listener's loop.
    void resume_accepting();
    /// Runs step on this listener's loop, unless the listener has stopped by then.
    void on_own_loop(std::function<void()> step);
    /// Accepting failed for lack of resources (descriptors, memory): pause instead of spinning.
    void pause_accepting();
    /// Puts the opened socket into the listening state; throws like the constructor (naming
    /// the key not_opened blames, or the transport's).
    void listen(const OpenError& not_opened);

    ListeningSocket<typename Protocol::acceptor> acceptor_;
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
