#include "net/datagram_listener.hpp"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/log/trivial.hpp>

#include "core/endpoint_text.hpp"
#include "net/io_buffers.hpp"

namespace netd {

namespace asio = boost::asio;

namespace {

/// Datagrams handled in one go before yielding to other sockets.
constexpr int datagrams_per_turn = 64;

}  // namespace

template <class Protocol>
DatagramListener<Protocol>::DatagramListener(asio::io_context& io, std::shared_ptr<Service> service,
                                             const ListenAt<Protocol>& at, ListenerOptions options)
    : socket_(io), service_(std::move(service)), options_(options) {
    finish_open(socket_.open(at, options.shared_port));
}

template <class Protocol>
DatagramListener<Protocol>::DatagramListener(asio::io_context& io, DatagramListener& original)
    : socket_(io), service_(original.service_), options_(original.options_) {
    finish_open(socket_.open_copy(original.socket_));
}

template <class Protocol>
void DatagramListener<Protocol>::finish_open(const std::string& why_not_bound) {
    std::string why = why_not_bound;
    if (why.empty()) {
        boost::system::error_code ec;
        socket_.socket().non_blocking(true, ec);
        why = ec ? ec.message() : "";
    }
    if (!why.empty()) {
        socket_.abandon();
        throw service_->settings.error(to_string(transport),
                                       "cannot bind " + socket_.where() + ": " + why);
    }
}

template <class Protocol>
std::shared_ptr<Listener> DatagramListener<Protocol>::copy_for(asio::io_context& io) {
    return std::shared_ptr<DatagramListener>(new DatagramListener(io, *this));
}

template <class Protocol>
void DatagramListener<Protocol>::start() {
    if (socket_.announce()) {
        BOOST_LOG_TRIVIAL(info) << log_prefix(*service_) << "listening on "
                                << socket_.description();
    }
    service_->metrics.listening(transport);
    traffic_ = &service_->metrics.traffic(transport);
    do_receive();
}

template <class Protocol>
void DatagramListener<Protocol>::switch_to(std::shared_ptr<Service> service) {
    service_ = std::move(service);
    traffic_ = &service_->metrics.traffic(transport);
}

template <class Protocol>
void DatagramListener<Protocol>::do_receive() {
    if (const auto* program = service_->handler->program()) {
        return hand_over(*program);
    }
    for (int turn = 0; turn < datagrams_per_turn; ++turn) {
        switch (receive_one()) {
            case Received::dry:
                return wait_readable();
            case Received::closed:
                return;
            case Received::datagram:
                break;
        }
    }
    asio::post(socket_.socket().get_executor(),
               [self = this->shared_from_this()] { self->do_receive(); });
}

template <class Protocol>
void DatagramListener<Protocol>::wait_readable() {
    socket_.socket().async_wait(Protocol::socket::wait_read,
                                [self = this->shared_from_this()](boost::system::error_code ec) {
                                    if (!ec) {
                                        self->do_receive();
                                    }
                                });
}

template <class Protocol>
void DatagramListener<Protocol>::hand_over(const Program& program) {
    auto& socket = socket_.socket();
    for (;;) {
        // The first datagram is looked at, not taken: it is the program's to read.
        typename Protocol::endpoint sender;
        std::array<char, 1> first{};
        boost::system::error_code ec;
        socket.receive_from(asio::buffer(first), sender, MSG_PEEK, ec);
        if (ec == asio::error::would_block) {
            return wait_readable();
        }
        if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
            return;  // stopped
        }
        const Peer peer = make_peer(transport, sender);
        traffic_->add(metrics::datagrams_in);
        if (!ec && service_->verify->verify_datagram(peer)) {
            auto self = this->shared_from_this();
            if (!options_.children->has_room([self] { self->resume(); }, [] { return false; })) {
                return;  // at max_children: the datagram waits in the socket
            }
            const auto local = socket.local_endpoint(ec);
            if (options_.children->spawn(ProgramStart{
                    .program = &program,
                    .service = service_->settings.name,
                    .socket = socket.native_handle(),
                    .peer = peer,
                    .local = ec ? Peer{.transport = transport, .address = {}, .port = 0, .path = {}}
                                : make_peer(transport, local),
                    .admission = {},
                    .counters = service_->metrics.programs(),
                    .executor = socket.get_executor(),
                    .exited = [self] { self->do_receive(); },
                })) {
                return;  // the socket is the program's until it exits
            }
        }
        // Rejected, an error the kernel queued (ICMP), or a program that could not start: that
        // datagram is dropped, so that the next one is looked at.
        socket.receive_from(asio::buffer(first), sender, 0, ec);
    }
}

template <class Protocol>
void DatagramListener<Protocol>::resume() {
    asio::post(socket_.socket().get_executor(), [self = this->shared_from_this()] {
        if (self->socket_.socket().is_open()) {
            self->do_receive();
        }
    });
}

template <class Protocol>
void DatagramListener<Protocol>::drain() {
    if (service_->handler->program() != nullptr) {
        return;  // wait = yes: what arrived is the program's to read
    }
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
    const std::size_t n =
        socket_.socket().receive_from(asio::buffer(buffers.in), sender, MSG_TRUNC, ec);
    if (ec == asio::error::would_block) {
        return Received::dry;
    }
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
        return Received::closed;
    }
    if (ec) {
        // An ICMP error from an earlier send surfaces here (ECONNREFUSED); it is not ours.
        BOOST_LOG_TRIVIAL(debug) << log_prefix(*service_) << socket_.description() << ": "
                                 << ec.message();
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
    const std::size_t sent = socket_.socket().send_to(asio::buffer(out.pending()), sender, 0, ec);
    if (!ec) {
        traffic_->add(metrics::datagrams_out);
        traffic_->add(metrics::bytes_out, sent);
    } else {
        traffic_->add(metrics::datagrams_dropped);
        BOOST_LOG_TRIVIAL(debug) << log_prefix(*service_) << "reply to " << peer.to_string()
                                 << " dropped: " << ec.message();
    }
}

template class DatagramListener<asio::ip::udp>;
template class DatagramListener<asio::local::datagram_protocol>;

}  // namespace netd
