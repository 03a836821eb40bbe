#include "daemon/datagram_listener.hpp"

#include <sys/socket.h>

#include <boost/asio/post.hpp>

#include "daemon/endpoint_text.hpp"
#include "daemon/io_buffers.hpp"
#include "daemon/listen_socket.hpp"
#include "daemon/logging.hpp"
#include "daemon/unix_path.hpp"

namespace netd {

namespace asio = boost::asio;

namespace {

/// Datagrams handled in one go before yielding to other sockets.
constexpr int datagrams_per_turn = 64;

}  // namespace

template <class Protocol>
DatagramListener<Protocol>::DatagramListener(asio::io_context& io, std::shared_ptr<Service> service,
                                             const typename Protocol::endpoint& endpoint,
                                             ListenerOptions options)
    : socket_(io), service_(std::move(service)) {
    description_ = describe<Protocol>(endpoint_text(endpoint));
    finish_open(open_and_bind(socket_, endpoint, options.shared_port));
    const auto bound = socket_.local_endpoint();
    description_ = describe<Protocol>(endpoint_text(bound));
    if constexpr (is_local_protocol<Protocol>) {
        unix_inode_ = inode_of(bound.path());
    }
}

template <class Protocol>
DatagramListener<Protocol>::DatagramListener(asio::io_context& io, std::shared_ptr<Service> service,
                                             AdoptedSocket socket, ListenerOptions /*options*/)
    : socket_(io),
      service_(std::move(service)),
      description_(describe<Protocol>("fd " + std::to_string(socket.fd))),
      adopted_(true) {
    finish_open(adopt(socket_, socket.fd));
    description_ =
        describe<Protocol>(endpoint_text(socket_.local_endpoint())) + " (socket activation)";
}

template <class Protocol>
DatagramListener<Protocol>::DatagramListener(asio::io_context& io, DatagramListener& original)
    : socket_(io),
      service_(original.service_),
      description_(original.description_),
      announce_(false),
      adopted_(original.adopted_) {
    finish_open(open_copy(socket_, original.socket_, adopted_));
}

template <class Protocol>
void DatagramListener<Protocol>::finish_open(const std::string& why_not_bound) {
    std::string why = why_not_bound;
    if (why.empty()) {
        boost::system::error_code ec;
        socket_.non_blocking(true, ec);
        why = ec ? ec.message() : "";
    }
    if (!why.empty()) {
        boost::system::error_code ignored;
        socket_.close(ignored);
        throw service_->settings.error(
            kind_name<Protocol>,
            "cannot bind " + description_.substr(description_.find(' ') + 1) + ": " + why);
    }
}

template <class Protocol>
std::shared_ptr<Listener> DatagramListener<Protocol>::copy_for(asio::io_context& io) {
    return std::shared_ptr<DatagramListener>(new DatagramListener(io, *this));
}

template <class Protocol>
void DatagramListener<Protocol>::start() {
    if (announce_) {
        BOOST_LOG_TRIVIAL(info) << log_prefix(*service_) << "listening on " << description_;
    }
    service_->metrics.listening(transport);
    traffic_ = &service_->metrics.traffic(transport);
    do_receive();
}

template <class Protocol>
void DatagramListener<Protocol>::serve_for(std::shared_ptr<Service> service) {
    service_ = std::move(service);
    traffic_ = &service_->metrics.traffic(transport);
}

template <class Protocol>
void DatagramListener<Protocol>::do_receive() {
    for (int turn = 0; turn < datagrams_per_turn; ++turn) {
        switch (receive_one()) {
            case Received::dry:
                socket_.async_wait(Protocol::socket::wait_read,
                                   [self = this->shared_from_this()](boost::system::error_code ec) {
                                       if (!ec) {
                                           self->do_receive();
                                       }
                                   });
                return;
            case Received::closed:
                return;
            case Received::datagram:
                break;
        }
    }
    asio::post(socket_.get_executor(), [self = this->shared_from_this()] { self->do_receive(); });
}

template <class Protocol>
void DatagramListener<Protocol>::drain() {
    while (receive_one() == Received::datagram) {
    }
}

template <class Protocol>
typename DatagramListener<Protocol>::Received DatagramListener<Protocol>::receive_one() {
    auto& buffers = io_buffers();
    typename Protocol::endpoint sender;
    boost::system::error_code ec;
    // MSG_TRUNC makes the kernel report a datagram's real length, so one that did not fit the
    // buffer is recognised and dropped instead of being served cut short.
    const std::size_t n = socket_.receive_from(asio::buffer(buffers.in), sender, MSG_TRUNC, ec);
    if (ec == asio::error::would_block) {
        return Received::dry;
    }
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
        return Received::closed;
    }
    if (ec) {
        // An ICMP error from an earlier send surfaces here (ECONNREFUSED); it is not ours.
        BOOST_LOG_TRIVIAL(debug) << log_prefix(*service_) << description_ << ": " << ec.message();
        return Received::datagram;
    }
    traffic_->add(metrics::datagrams_in);
    traffic_->add(metrics::bytes_in, std::min(n, buffers.in.size()));
    if (n > buffers.in.size()) {
        traffic_->add(metrics::datagrams_dropped);
        BOOST_LOG_TRIVIAL(debug) << log_prefix(*service_) << "dropped a " << n
                                 << "-byte datagram from " << endpoint_text(sender)
                                 << ": larger than " << buffers.in.size() << " bytes";
        return Received::datagram;
    }
    serve(std::string_view(buffers.in.data(), n), sender);
    return Received::datagram;
}

template <class Protocol>
void DatagramListener<Protocol>::serve(std::string_view datagram,
                                       const typename Protocol::endpoint& sender) {
    auto& reply = io_buffers().out;
    reply.clear();
    Output out(reply);
    const Peer peer = make_peer(transport, sender);
    if (!service_->verify->verify_datagram(peer)) {
        return;  // dropped (counted and logged by the chain)
    }
    try {
        service_->handler->datagram(datagram, peer, out);
    } catch (const std::exception& e) {
        traffic_->add(metrics::handler_errors);
        BOOST_LOG_TRIVIAL(error) << log_prefix(*service_) << "handler failed for "
                                 << peer.to_string() << ": " << e.what();
        return;
    }
    if (!out.replied()) {
        return;
    }
    if constexpr (transport == Transport::unix_datagram) {
        if (sender.path().empty()) {
            traffic_->add(metrics::datagrams_dropped);
            return;  // an unnamed Unix socket cannot be answered
        }
    }
    boost::system::error_code ec;
    const std::size_t sent = socket_.send_to(asio::buffer(out.pending()), sender, 0, ec);
    if (!ec) {
        traffic_->add(metrics::datagrams_out);
        traffic_->add(metrics::bytes_out, sent);
    } else {
        traffic_->add(metrics::datagrams_dropped);
        BOOST_LOG_TRIVIAL(debug) << log_prefix(*service_) << "reply to " << peer.to_string()
                                 << " dropped: " << ec.message();
    }
}

template <class Protocol>
void DatagramListener<Protocol>::stop() {
    boost::system::error_code ignored;
    if constexpr (is_local_protocol<Protocol>) {
        if (socket_.is_open() && unix_inode_ != 0) {
            remove_unix_path(socket_.local_endpoint(ignored).path(), unix_inode_);
        }
    }
    abandon();
}

template <class Protocol>
void DatagramListener<Protocol>::abandon() {
    boost::system::error_code ignored;
    socket_.close(ignored);
}

template class DatagramListener<asio::ip::udp>;
template class DatagramListener<asio::local::datagram_protocol>;

}  // namespace netd
