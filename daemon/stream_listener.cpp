#include "daemon/stream_listener.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/socket_base.hpp>

#include "daemon/endpoint_text.hpp"
#include "daemon/logging.hpp"
#include "daemon/stream_connection.hpp"
#include "daemon/unix_path.hpp"

namespace netd {

namespace asio = boost::asio;

namespace {

template <class Protocol>
constexpr bool is_unix = std::is_same_v<Protocol, asio::local::stream_protocol>;

/// How long accepting pauses after running out of descriptors or memory.
constexpr std::chrono::milliseconds accept_retry_delay{100};

}  // namespace

template <class Protocol>
StreamListener<Protocol>::StreamListener(asio::io_context& io, std::shared_ptr<Service> service,
                                         const typename Protocol::endpoint& endpoint)
    : acceptor_(io), service_(std::move(service)), retry_timer_(io) {
    constexpr bool unix_socket = is_unix<Protocol>;
    const char* key = unix_socket ? "unix" : "tcp";
    const std::string where = endpoint_text(endpoint);
    if constexpr (is_unix<Protocol>) {
        if (const auto why = free_unix_path(endpoint.path(), SOCK_STREAM); !why.empty()) {
            throw service_->settings.error(key, "cannot listen on " + where + ": " + why);
        }
    }
    boost::system::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
        if (!ec) {
            acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
        }
        if (!ec && endpoint.address().is_v6()) {
            acceptor_.set_option(asio::ip::v6_only(true), ec);
        }
    }
    if (!ec) {
        acceptor_.bind(endpoint, ec);
    }
    if (!ec) {
        acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        throw service_->settings.error(key, "cannot listen on " + where + ": " + ec.message());
    }
    const auto bound = acceptor_.local_endpoint();
    description_ = std::string(unix_socket ? "unix " : "tcp ") + endpoint_text(bound);
    if constexpr (is_unix<Protocol>) {
        unix_inode_ = inode_of(bound.path());
    }
}

template <class Protocol>
void StreamListener<Protocol>::start() {
    BOOST_LOG_TRIVIAL(info) << log_prefix(*service_) << "listening on " << description_;
    do_accept();
}

template <class Protocol>
void StreamListener<Protocol>::do_accept() {
    acceptor_.async_accept([self = this->shared_from_this()](boost::system::error_code ec,
                                                             typename Protocol::socket socket) {
        self->on_accept(ec, std::move(socket));
    });
}

template <class Protocol>
void StreamListener<Protocol>::on_accept(boost::system::error_code ec,
                                         typename Protocol::socket socket) {
    if (!acceptor_.is_open()) {
        // Stopped: a connection accepted just before is drained like the others; nothing is
        // re-armed (an accept on a closed acceptor fails at once, every time).
        if (auto connection = ec ? nullptr : serve(std::move(socket))) {
            connection->drain();
        }
        return;
    }
    if (ec == asio::error::operation_aborted) {
        return;
    }
    if (ec) {
        if (ec == asio::error::no_descriptors || ec == asio::error::no_memory ||
            ec == asio::error::no_buffer_space || ec.value() == ENFILE) {
            BOOST_LOG_TRIVIAL(warning) << log_prefix(*service_) << "cannot accept on "
                                       << description_ << ": " << ec.message();
            return pause_accepting();
        }
        BOOST_LOG_TRIVIAL(debug) << log_prefix(*service_) << "accept on " << description_ << ": "
                                 << ec.message();
        return do_accept();
    }
    serve(std::move(socket));
    do_accept();
}

template <class Protocol>
std::shared_ptr<StreamConnection<Protocol>> StreamListener<Protocol>::serve(
    typename Protocol::socket socket) {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) {
        return nullptr;  // reset before we got to it
    }
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
        socket.set_option(asio::ip::tcp::no_delay(true), ec);
    }
    const auto transport = is_unix<Protocol> ? Transport::unix_stream : Transport::tcp;
    auto connection = std::make_shared<StreamConnection<Protocol>>(std::move(socket), service_,
                                                                   make_peer(transport, remote));
    connection->start();
    return connection;
}

template <class Protocol>
void StreamListener<Protocol>::drain() {
    // Clients that connected, sent and perhaps closed before we accepted them wait in the
    // backlog; they become connections, which the server drains next like every other.
    boost::system::error_code ec;
    acceptor_.non_blocking(true, ec);
    while (!ec && acceptor_.is_open()) {
        auto socket = acceptor_.accept(ec);
        if (!ec) {
            serve(std::move(socket));
        }
    }
}

template <class Protocol>
void StreamListener<Protocol>::pause_accepting() {
    retry_timer_.expires_after(accept_retry_delay);
    retry_timer_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
        if (!ec && self->acceptor_.is_open()) {
            self->do_accept();
        }
    });
}

template <class Protocol>
void StreamListener<Protocol>::stop() {
    boost::system::error_code ignored;
    retry_timer_.cancel();
    if constexpr (is_unix<Protocol>) {
        if (acceptor_.is_open()) {
            remove_unix_path(acceptor_.local_endpoint(ignored).path(), unix_inode_);
        }
    }
    acceptor_.close(ignored);
}

template class StreamListener<asio::ip::tcp>;
template class StreamListener<asio::local::stream_protocol>;

}  // namespace netd
