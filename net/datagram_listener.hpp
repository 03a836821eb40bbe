#pragma once
// A bound datagram socket (UDP or Unix datagram) serving one service. When the socket becomes
// readable it is drained in a loop, each datagram handed to the handler and its reply sent back
// to the sender, instead of one datagram per wake-up.

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <memory>

#include "net/listen_socket.hpp"
#include "net/listener.hpp"
#include "net/service.hpp"

namespace netd {

template <class Protocol>
class DatagramListener final : public Listener,
                               public std::enable_shared_from_this<DatagramListener<Protocol>> {
  public:
    /// Binds at once (or adopts a passed socket); throws config::ConfigError naming the service
    /// key on failure.
    DatagramListener(boost::asio::io_context& io, std::shared_ptr<Service> service,
                     const ListenAt<Protocol>& at, ListenerOptions options);

    void start() override;
    void drain() override;
    void stop() override { socket_.stop(); }
    void abandon() override { socket_.abandon(); }
    void switch_to(std::shared_ptr<Service> service) override;
    std::shared_ptr<Listener> copy_for(boost::asio::io_context& io) override;

  private:
    /// A copy of original for another event loop.
    DatagramListener(boost::asio::io_context& io, DatagramListener& original);
    /// Makes the opened socket non-blocking; throws config::ConfigError naming the service key
    /// when that (or the opening, not_opened) failed.
    void finish_open(const OpenError& not_opened);

    enum class Received { datagram, dry, closed };

    /// Receives until the socket would block (or a turn is used up), then waits.
    void do_receive();
    void wait_readable();
    /// exec with wait = yes: the socket goes to the program on the first datagram that passes
    /// verify_request, and is not read again until the program has exited.
    void hand_over(const Program& program);
    /// There is room for a program again: hand over on this listener's loop.
    void resume();
    /// Receives and serves one datagram if there is one.
    Received receive_one();
    /// One recvmsg into into with flags: the datagram's length (MSG_TRUNC: its real length),
    /// its sender's address, and its sender as a Peer (with its credentials on a Unix socket).
    std::size_t receive(boost::asio::mutable_buffer into, int flags,
                        typename Protocol::endpoint& sender, Peer& peer,
                        boost::system::error_code& ec);
    void serve(std::string_view datagram, const typename Protocol::endpoint& sender,
               const Peer& peer);

    static constexpr Transport transport = transport_of<Protocol>;

    ListeningSocket<typename Protocol::socket> socket_;
    std::shared_ptr<Service> service_;
    ListenerOptions options_;
    /// service_'s traffic row for this copy's loop; found on that loop by start() and switch_to().
    metrics::Row* traffic_ = nullptr;
};

extern template class DatagramListener<boost::asio::ip::udp>;
extern template class DatagramListener<boost::asio::local::datagram_protocol>;

}  // namespace netd
