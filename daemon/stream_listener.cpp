#include "daemon/stream_listener.hpp"

#include <array>
#include <boost/asio/socket_base.hpp>

#include "daemon/endpoint_text.hpp"
#include "daemon/fork_model.hpp"
#include "daemon/listen_socket.hpp"
#include "daemon/logging.hpp"
#include "daemon/stream_connection.hpp"
#include "daemon/unix_path.hpp"

namespace netd {

namespace asio = boost::asio;

namespace {

/// How long accepting pauses after running out of descriptors or memory.
constexpr std::chrono::milliseconds accept_retry_delay{100};
/// While accepting fails, how often it is logged.
constexpr std::chrono::seconds accept_warning_interval{10};

}  // namespace

template <class Protocol>
StreamListener<Protocol>::StreamListener(asio::io_context& io, std::shared_ptr<Service> service,
                                         const typename Protocol::endpoint& endpoint,
                                         ListenerOptions options)
    : acceptor_(io), service_(std::move(service)), options_(options), retry_timer_(io) {
    description_ = describe<Protocol>(endpoint_text(endpoint));
    listen(open_and_bind(acceptor_, endpoint, options_.shared_port));
    const auto bound = acceptor_.local_endpoint();
    description_ = describe<Protocol>(endpoint_text(bound));
    if constexpr (is_local_protocol<Protocol>) {
        unix_inode_ = inode_of(bound.path());
    }
}

template <class Protocol>
StreamListener<Protocol>::StreamListener(asio::io_context& io, std::shared_ptr<Service> service,
                                         AdoptedSocket socket, ListenerOptions options)
    : acceptor_(io),
      service_(std::move(service)),
      options_(options),
      retry_timer_(io),
      description_(describe<Protocol>("fd " + std::to_string(socket.fd))),
      adopted_(true) {
    listen(adopt(acceptor_, socket.fd));
    description_ =
        describe<Protocol>(endpoint_text(acceptor_.local_endpoint())) + " (socket activation)";
}

template <class Protocol>
StreamListener<Protocol>::StreamListener(asio::io_context& io, StreamListener& original)
    : acceptor_(io),
      service_(original.service_),
      options_(original.options_),
      retry_timer_(io),
      description_(original.description_),
      announce_(false),
      adopted_(original.adopted_) {
    listen(open_copy(acceptor_, original.acceptor_, adopted_));
}

template <class Protocol>
void StreamListener<Protocol>::listen(const std::string& why_not_bound) {
    std::string why = why_not_bound;
    if (why.empty()) {
        boost::system::error_code ec;
        acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        why = ec ? ec.message() : "";
    }
    if (!why.empty()) {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        throw error("cannot listen on " + description_.substr(description_.find(' ') + 1) + ": " +
                    why);
    }
}

template <class Protocol>
config::ConfigError StreamListener<Protocol>::error(const std::string& reason) const {
    return service_->settings.error(kind_name<Protocol>, reason);
}

template <class Protocol>
std::shared_ptr<Listener> StreamListener<Protocol>::copy_for(asio::io_context& io) {
    return std::shared_ptr<StreamListener>(new StreamListener(io, *this));
}

template <class Protocol>
void StreamListener<Protocol>::start() {
    if (announce_) {
        BOOST_LOG_TRIVIAL(info) << log_prefix(*service_) << "listening on " << description_;
    }
    service_->metrics.listening(is_local_protocol<Protocol> ? Transport::unix_stream
                                                            : Transport::tcp);
    do_accept();
}

template <class Protocol>
void StreamListener<Protocol>::do_accept() {
    auto self = this->shared_from_this();
    if (options_.fork != nullptr && !options_.fork->admit([self] {
            if (self->acceptor_.is_open()) {
                self->do_accept();
            }
        })) {
        return;  // at max_children: the backlog holds new clients until a child exits
    }
    acceptor_.async_accept([self](boost::system::error_code ec, typename Protocol::socket socket) {
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
            // Clients wait in the backlog meanwhile; retrying every accept_retry_delay costs
            // next to nothing, and the log gets one line per accept_warning_interval.
            ++accept_failures_;
            const auto now = std::chrono::steady_clock::now();
            if (now - last_accept_warning_ >= accept_warning_interval) {
                BOOST_LOG_TRIVIAL(warning)
                    << log_prefix(*service_) << "cannot accept on " << description_ << ": "
                    << ec.message() << " (" << accept_failures_
                    << " tries since the last report); clients wait in the backlog";
                accept_failures_ = 0;
                last_accept_warning_ = now;
            }
            return pause_accepting();
        }
        BOOST_LOG_TRIVIAL(debug) << log_prefix(*service_) << "accept on " << description_ << ": "
                                 << ec.message();
        return do_accept();
    }
    if (options_.fork != nullptr) {
        serve_in_child(std::move(socket));
        if (options_.fork->in_child()) {
            return;  // the child serves this connection only
        }
    } else {
        serve(std::move(socket));
    }
    do_accept();
}

template <class Protocol>
bool StreamListener<Protocol>::admit(typename Protocol::socket& socket, Admission& admission) {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) {
        return false;  // reset before we got to it
    }
    const Peer peer =
        make_peer(is_local_protocol<Protocol> ? Transport::unix_stream : Transport::tcp, remote);
    const Verdict verdict = service_->verify->verify_stream(peer, admission);
    if (verdict == Verdict::accept) {
        return true;
    }
    socket.non_blocking(true, ec);
    if (verdict == Verdict::busy) {
        socket.write_some(asio::buffer(busy_message), ec);
    }
    // Closing with unread bytes would reset the connection and could destroy the answer before
    // the client reads it: end our side, and discard what the client already sent. (No lingering
    // as an open connection does: a rejected client must cost next to nothing.)
    socket.shutdown(Protocol::socket::shutdown_send, ec);
    std::array<char, 512> discard{};
    socket.read_some(asio::buffer(discard), ec);
    socket.close(ec);
    return false;
}

template <class Protocol>
std::shared_ptr<StreamConnection<Protocol>> StreamListener<Protocol>::serve(
    typename Protocol::socket socket) {
    Admission admission;
    if (!admit(socket, admission)) {
        return nullptr;
    }
    return serve(std::move(socket), std::move(admission));
}

template <class Protocol>
std::shared_ptr<StreamConnection<Protocol>> StreamListener<Protocol>::serve(
    typename Protocol::socket socket, Admission admission) {
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
        boost::system::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    }
    auto connection = std::make_shared<StreamConnection<Protocol>>(std::move(socket), service_,
                                                                   std::move(admission));
    connection->start();
    return connection;
}

template <class Protocol>
void StreamListener<Protocol>::serve_in_child(typename Protocol::socket socket) {
    Admission admission;
    if (!admit(socket, admission)) {
        return;  // no child for a rejected connection
    }
    // The parent keeps the admission until the child is reaped: limits count live children.
    const Peer peer = admission.peer();
    if (options_.fork->fork_child(log_prefix(*service_) + peer.to_string(), std::move(admission))) {
        serve(std::move(socket), Admission(peer, service_->metrics.traffic(peer.transport)));
    }
    // In the parent the socket closes here: the child holds the connection now.
}

template <class Protocol>
void StreamListener<Protocol>::drain() {
    // Clients that connected, sent and perhaps closed before we accepted them wait in the
    // backlog; they become connections, which the server drains next like every other (in fork
    // mode too: the parent serves them itself, as it no longer forks).
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
    if constexpr (is_local_protocol<Protocol>) {
        if (acceptor_.is_open() && unix_inode_ != 0) {
            remove_unix_path(acceptor_.local_endpoint(ignored).path(), unix_inode_);
        }
    }
    abandon();
}

template <class Protocol>
void StreamListener<Protocol>::abandon() {
    boost::system::error_code ignored;
    retry_timer_.cancel();
    acceptor_.close(ignored);
}

template class StreamListener<asio::ip::tcp>;
template class StreamListener<asio::local::stream_protocol>;

}  // namespace netd
