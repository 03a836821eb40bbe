#pragma once
// A bound datagram socket (UDP or Unix datagram) serving one service. When the socket becomes
// readable it is drained in a loop, each datagram handed to the handler and its reply sent back
// to the sender, instead of one datagram per wake-up.

#include <sys/types.h>

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <memory>
#include <type_traits>

#include "daemon/listener.hpp"
#include "daemon/service.hpp"

namespace netd {

template <class Protocol>
class DatagramListener final : public Listener,
                               public std::enable_shared_from_this<DatagramListener<Protocol>> {
  public:
    /// Binds at once; throws config::ConfigError naming the service key on failure.
    DatagramListener(boost::asio::io_context& io, std::shared_ptr<Service> service,
                     const typename Protocol::endpoint& endpoint, ListenerOptions options);

    /// Adopts a socket the service manager passed; throws like the other constructor.
    DatagramListener(boost::asio::io_context& io, std::shared_ptr<Service> service,
                     AdoptedSocket socket, ListenerOptions options);

    void start() override;
    void drain() override;
    void stop() override;
    void abandon() override;
    void serve_for(std::shared_ptr<Service> service) override;
    std::shared_ptr<Listener> copy_for(boost::asio::io_context& io) override;

  private:
    /// A copy of original for another event loop.
    DatagramListener(boost::asio::io_context& io, DatagramListener& original);
    /// Makes the bound socket non-blocking; throws config::ConfigError naming the service key
    /// when it (or the bind, why_not_bound) failed.
    void finish_open(const std::string& why_not_bound);

    enum class Received { datagram, dry, closed };

    /// Receives until the socket would block (or a turn is used up), then waits.
    void do_receive();
    /// Receives and serves one datagram if there is one.
    Received receive_one();
    void serve(std::string_view datagram, const typename Protocol::endpoint& sender);

    static constexpr Transport transport =
        std::is_same_v<Protocol, boost::asio::ip::udp> ? Transport::udp : Transport::unix_datagram;

    typename Protocol::socket socket_;
    std::shared_ptr<Service> service_;
    /// service_'s traffic row for this copy's loop; found on that loop by start() and serve_for().
    metrics::Row* traffic_ = nullptr;
    std::string description_;
    ino_t unix_inode_ = 0;  ///< the socket file we created, removed again on stop
    bool announce_ = true;  ///< the original logs its address, its pool-mode copies do not
    bool adopted_ = false;  ///< passed by the service manager: copies share its descriptor
};

extern template class DatagramListener<boost::asio::ip::udp>;
extern template class DatagramListener<boost::asio::local::datagram_protocol>;

}  // namespace netd
