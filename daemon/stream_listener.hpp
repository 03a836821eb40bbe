#pragma once
// A listening stream socket (TCP or Unix) that accepts connections for one service.

#include <sys/types.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "daemon/listener.hpp"
#include "daemon/service.hpp"
#include "daemon/stream_connection.hpp"

namespace netd {

template <class Protocol>
class StreamListener final : public Listener,
                             public std::enable_shared_from_this<StreamListener<Protocol>> {
  public:
    /// Binds and listens at once; throws config::ConfigError naming the service key on failure.
    StreamListener(boost::asio::io_context& io, std::shared_ptr<Service> service,
                   const typename Protocol::endpoint& endpoint);

    void start() override;
    void drain() override;
    void stop() override;

  private:
    void do_accept();
    void on_accept(boost::system::error_code ec, typename Protocol::socket socket);
    /// Makes an accepted socket a connection of this listener's service (nullptr if the peer is
    /// already gone).
    std::shared_ptr<StreamConnection<Protocol>> serve(typename Protocol::socket socket);
    /// Accepting failed for lack of resources (descriptors, memory): pause instead of spinning.
    void pause_accepting();

    typename Protocol::acceptor acceptor_;
    std::shared_ptr<Service> service_;
    boost::asio::steady_timer retry_timer_;
    std::string description_;
    ino_t unix_inode_ = 0;  ///< the socket file we created, removed again on stop
};

extern template class StreamListener<boost::asio::ip::tcp>;
extern template class StreamListener<boost::asio::local::stream_protocol>;

}  // namespace netd
