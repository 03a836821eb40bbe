#include "net/datagram_listener.hpp"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/log/trivial.hpp>

#include "core/endpoint_text.hpp"
#include "net/io_buffers.hpp"
#include "net/peer_credentials.hpp"

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
    finish_open(socket_.open(at, options, service_->settings.unix_access));
}

template <class Protocol>
DatagramListener<Protocol>::DatagramListener(asio::io_context& io, DatagramListener& original)
    : socket_(io), service_(original.service_), options_(original.options_) {
    finish_open(socket_.open_copy(original.socket_));
}

template <class Protocol>
void DatagramListener<Protocol>::finish_open(const OpenError& not_opened) {
    OpenError error = not_opened;
    if (error.why.empty()) {
        boost::system::error_code ec;
        socket_.socket().non_blocking(true, ec);
        error.why = ec ? ec.message() : "";
    }
    if (!error.why.empty()) {
        socket_.stop();
        throw service_->settings.error(error.key.empty() ? to_string(transport) : error.key,
                                       "cannot bind " + socket_.where() + ": " + error.why);
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
        Peer peer;
        std::array<char, 1> first{};
        boost::system::error_code ec;
        receive(asio::buffer(first), MSG_PEEK, sender, peer, ec);
        if (ec == asio::error::would_block) {
            return wait_readable();
        }
        if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
            return;  // stopped
        }
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
                    .local = ec ? Peer{.transport = transport,
                                       .port = 0,
                                       .address = {},
                                       .credentials = {}}
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
std::size_t DatagramListener<Protocol>::receive(asio::mutable_buffer into, int flags,
                                                typename Protocol::endpoint& sender, Peer& peer,
                                                boost::system::error_code& ec) {
    // recvmsg, where Asio's receive_from has no room for a Unix datagram's credentials.
    iovec part{.iov_base = into.data(), .iov_len = into.size()};
    msghdr message{};
    message.msg_name = sender.data();
    message.msg_namelen = static_cast<socklen_t>(sender.capacity());
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    CredentialsMessage credentials;
    if constexpr (transport == Transport::unix_datagram) {
        credentials.attach(message);
    }
    const ssize_t n = ::recvmsg(socket_.socket().native_handle(), &message, flags);
    if (n < 0) {
        ec.assign(errno, boost::system::system_category());
        return 0;
    }
    ec.clear();
    sender.resize(message.msg_namelen);
    peer = make_peer(transport, sender);
    if constexpr (transport == Transport::unix_datagram) {
        peer.credentials = CredentialsMessage::read(message);
    }
    return static_cast<std::size_t>(n);
}

template <class Protocol>
typename DatagramListener<Protocol>::Received DatagramListener<Protocol>::receive_one() {
    auto& buffers = io_buffers();
    typename Protocol::endpoint sender;
    Peer peer;
    boost::system::error_code ec;
    // MSG_TRUNC makes the kernel report a datagram's real length, so one that did not fit the
    // buffer is recognised and dropped instead of being served cut short.
    const std::size_t n = receive(asio::buffer(buffers.in), MSG_TRUNC, sender, peer, ec);
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
                                 << "-byte datagram from " << peer.to_string() << ": larger than "
                                 << buffers.in.size() << " bytes";
        return Received::datagram;
    }
    serve(std::string_view(buffers.in.data(), n), sender, peer);
    return Received::datagram;
}

template <class Protocol>
void DatagramListener<Protocol>::serve(std::string_view datagram,
                                       const typename Protocol::endpoint& sender,
                                       const Peer& peer) {
    auto& reply = io_buffers().out;
    reply.clear();
    Output out(reply);
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
