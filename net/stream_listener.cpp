#include "net/stream_listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/log/trivial.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <type_traits>

#include "net/io_buffers.hpp"
#include "net/peer_credentials.hpp"
#include "net/proxy_header.hpp"

namespace netd {

namespace asio = boost::asio;

namespace {

/// How long accepting pauses after running out of descriptors or memory.
constexpr std::chrono::milliseconds accept_retry_delay{100};
/// While accepting fails, how often it is logged.
constexpr std::chrono::seconds accept_warning_interval{10};

/// Who is at the other end of an accepted socket; none when it is gone already (reset before
/// we got to it).
template <class Protocol>
std::optional<Peer> peer_of(typename Protocol::socket& socket, Transport transport) {
    if constexpr (is_local_protocol<Protocol>) {
        return Peer{.transport = transport,
                    .port = 0,
                    .address = {},
                    .credentials = connection_credentials(socket.native_handle())};
    } else {
        boost::system::error_code ec;
        const auto remote = socket.remote_endpoint(ec);
        if (ec) {
            return std::nullopt;
        }
        return make_peer(transport, remote);
    }
}

}  // namespace

template <class Protocol>
StreamListener<Protocol>::StreamListener(asio::io_context& io, std::shared_ptr<Service> service,
                                         const ListenAt<Protocol>& at, ListenerOptions options,
                                         Transport transport)
    : transport_(transport),
      acceptor_(io, transport),
      service_(std::move(service)),
      options_(options),
      retry_timer_(io) {
    listen(acceptor_.open(at, options_, service_->settings.unix_access));
}

template <class Protocol>
StreamListener<Protocol>::StreamListener(asio::io_context& io, StreamListener& original)
    : transport_(original.transport_),
      acceptor_(io, original.transport_),
      service_(original.service_),
      options_(original.options_),
      retry_timer_(io) {
    listen(acceptor_.open_copy(original.acceptor_));
}

template <class Protocol>
void StreamListener<Protocol>::listen(const OpenError& not_opened) {
    OpenError error = not_opened;
    if (error.why.empty()) {
        boost::system::error_code ec;
        acceptor_.socket().listen(asio::socket_base::max_listen_connections, ec);
        error.why = ec ? ec.message() : "";
    }
    if (!error.why.empty()) {
        acceptor_.stop();
        throw service_->settings.error(error.key.empty() ? to_string(transport_) : error.key,
                                       "cannot listen on " + acceptor_.where() + ": " + error.why);
    }
    report_bytes_left();
}

template <class Protocol>
void StreamListener<Protocol>::switch_to(std::shared_ptr<Service> service) {
    service_ = std::move(service);
    report_bytes_left();  // the service may be exec now, or no longer
}

template <class Protocol>
void StreamListener<Protocol>::report_bytes_left() {
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
        const int on = transport_ == Transport::tcp && service_->handler->program() == nullptr;
        ::setsockopt(acceptor_.socket().native_handle(), IPPROTO_TCP, TCP_INQ, &on, sizeof on);
    }
}

template <class Protocol>
std::shared_ptr<Listener> StreamListener<Protocol>::copy_for(asio::io_context& io) {
    return std::shared_ptr<StreamListener>(new StreamListener(io, *this));
}

template <class Protocol>
void StreamListener<Protocol>::start() {
    if (acceptor_.announce()) {
        BOOST_LOG_TRIVIAL(info) << log_prefix(*service_) << "listening on "
                                << acceptor_.description();
    }
    service_->metrics.listening(transport_);
    do_accept();
}

template <class Protocol>
void StreamListener<Protocol>::do_accept() {
    auto self = this->shared_from_this();
    // A connection that will be a process (fork mode's child, exec's program) waits for room,
    // in the backlog, rather than be accepted and refused: at max_children, and for exec at the
    // service's own max_connections too.
    const auto* program = service_->handler->program();
    if ((options_.fork || program != nullptr) &&
        !options_.children->has_room(
            [self] { self->resume_accepting(); },
            [self, program] { return program != nullptr && self->service_->verify->full(); })) {
        return;
    }
    acceptor_.socket().async_accept(
        [self](boost::system::error_code ec, typename Protocol::socket socket) {
            self->on_accept(ec, std::move(socket));
        });
}

template <class Protocol>
void StreamListener<Protocol>::on_accept(boost::system::error_code ec,
                                         typename Protocol::socket socket) {
    if (!acceptor_.socket().is_open()) {
        // Stopped: a connection accepted just before is taken like the others, and drained
        // (admit serves it without forking or a program); nothing is re-armed (an accept on a
        // closed acceptor fails at once, every time).
        if (!ec) {
            take(std::move(socket));
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
                    << log_prefix(*service_) << "cannot accept on " << acceptor_.description()
                    << ": " << ec.message() << " (" << accept_failures_
                    << " tries since the last report); clients wait in the backlog";
                accept_failures_ = 0;
                last_accept_warning_ = now;
            }
            return pause_accepting();
        }
        BOOST_LOG_TRIVIAL(debug) << log_prefix(*service_) << "accept on " << acceptor_.description()
                                 << ": " << ec.message();
        return do_accept();
    }
    take(std::move(socket));
}

/// The bytes of a PROXY header read so far, and its deadline.
template <class Protocol>
struct StreamListener<Protocol>::PendingHeader {
    PendingHeader(std::shared_ptr<StreamListener> owner, typename Protocol::socket s, Peer balancer,
                  std::string taken)
        : listener(std::move(owner)),
          socket(std::move(s)),
          deadline(socket.get_executor()),
          balancer(std::move(balancer)),
          header(std::move(taken)) {
        listener->headers_.insert(this);
    }
    PendingHeader(const PendingHeader&) = delete;
    PendingHeader& operator=(const PendingHeader&) = delete;
    ~PendingHeader() { listener->headers_.erase(this); }

    std::shared_ptr<StreamListener> listener;
    typename Protocol::socket socket;
    asio::steady_timer deadline;
    Peer balancer;       ///< the socket's peer
    std::string header;  ///< taken off the socket: every byte is the header's
    bool late = false;   ///< proxy_timeout passed
};

namespace {

/// What one look at a socket found of its PROXY header.
struct HeaderStep {
    enum class Kind : std::uint8_t { whole, wait, refused } kind = Kind::wait;
    ProxyHeader header;    ///< whole: what it says
    std::string_view why;  ///< refused: a static text, or strerror's
};

/// Looks at what the socket holds without taking it (MSG_PEEK), then takes only the header's
/// bytes into taken (all of them while it is incomplete): the client's own bytes after it stay
/// in the socket for whoever serves the connection, a child or a program included. Never blocks.
HeaderStep take_header(int fd, std::string& taken, config::ProxyProtocol accepted) {
    auto& buffer = io_buffers().in;
    const ssize_t peeked =
        ::recv(fd, buffer.data(), max_proxy_header - taken.size(), MSG_PEEK | MSG_DONTWAIT);
    if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return {};
    }
    if (peeked <= 0) {
        return {.kind = HeaderStep::Kind::refused,
                .header = {},
                .why = peeked == 0 ? "closed before a whole header" : std::strerror(errno)};
    }
    const auto seen = static_cast<std::size_t>(peeked);
    const std::size_t had = taken.size();
    taken.append(buffer.data(), seen);
    auto header = parse_proxy_header(taken, accepted);
    if (header.status == ProxyHeader::Status::invalid) {
        return {.kind = HeaderStep::Kind::refused, .header = {}, .why = header.error};
    }
    const bool whole = header.status == ProxyHeader::Status::complete;
    const std::size_t take = whole ? header.size - had : seen;
    if (::recv(fd, buffer.data(), take, MSG_DONTWAIT) != static_cast<ssize_t>(take)) {
        return {
            .kind = HeaderStep::Kind::refused, .header = {}, .why = "the header could not be read"};
    }
    if (!whole) {
        return {};
    }
    return {.kind = HeaderStep::Kind::whole, .header = header, .why = {}};
}

}  // namespace

template <class Protocol>
void StreamListener<Protocol>::take(typename Protocol::socket socket) {
    const bool accepting = !draining_;
    const auto peer = peer_of<Protocol>(socket, transport_);
    if (!peer) {
        // Gone before we got to it.
    } else if (service_->settings.proxy_protocol == config::ProxyProtocol::off ||
               !std::is_same_v<Protocol, asio::ip::tcp>) {
        if (!admit(std::move(socket), Ends{.peer = *peer, .local = std::nullopt}, accepting)) {
            return;  // waiting for room for a process (or this is fork mode's child)
        }
    } else if (const auto& from = service_->settings.proxy_from;
               std::none_of(from.begin(), from.end(), [&](const config::Cidr& block) {
                   return block.contains(peer->address);
               })) {
        reject_proxy(socket, *peer, "not from proxy_from");
    } else {
        // A balancer sends the header at once: it is usually here already, and then no timer
        // or waiting state is made.
        std::string taken;
        const auto step =
            take_header(socket.native_handle(), taken, service_->settings.proxy_protocol);
        if (step.kind == HeaderStep::Kind::whole) {
            admit_proxied(std::move(socket), *peer, step.header);
        } else if (step.kind == HeaderStep::Kind::refused) {
            reject_proxy(socket, *peer, step.why);
        } else {
            auto pending = std::make_shared<PendingHeader>(
                this->shared_from_this(), std::move(socket), *peer, std::move(taken));
            pending->deadline.expires_after(service_->settings.proxy_timeout);
            pending->deadline.async_wait([pending](boost::system::error_code ec) {
                if (!ec) {
                    pending->late = true;
                    boost::system::error_code ignored;
                    pending->socket.cancel(ignored);
                }
            });
            wait_for_header(pending);
        }
    }
    if (accepting) {
        do_accept();
    }
}

template <class Protocol>
void StreamListener<Protocol>::wait_for_header(const std::shared_ptr<PendingHeader>& pending) {
    pending->socket.async_wait(
        Protocol::socket::wait_read,
        [self = this->shared_from_this(), pending](boost::system::error_code ec) {
            if (self->abandoned_) {
                return;  // a fork-mode child: the connection is the parent's
            }
            if (pending->late) {
                return self->reject_proxy(pending->socket, pending->balancer,
                                          "no whole header within proxy_timeout");
            }
            if (ec) {
                return self->reject_proxy(pending->socket, pending->balancer, ec.message());
            }
            const auto step = take_header(pending->socket.native_handle(), pending->header,
                                          self->service_->settings.proxy_protocol);
            if (step.kind == HeaderStep::Kind::refused) {
                return self->reject_proxy(pending->socket, pending->balancer, step.why);
            }
            if (step.kind == HeaderStep::Kind::wait) {
                return self->wait_for_header(pending);
            }
            pending->deadline.cancel();
            self->admit_proxied(std::move(pending->socket), pending->balancer, step.header);
        });
}

template <class Protocol>
void StreamListener<Protocol>::admit_proxied(typename Protocol::socket socket, const Peer& balancer,
                                             const ProxyHeader& header) {
    Ends ends{.peer = balancer, .local = std::nullopt};
    if (header.source) {
        ends.peer = make_peer(transport_, *header.source);
        ends.local = make_peer(transport_, *header.destination);
    }
    admit(std::move(socket), std::move(ends), false);
}

template <class Protocol>
void StreamListener<Protocol>::reject_proxy(typename Protocol::socket& socket, const Peer& peer,
                                            std::string_view why) {
    service_->verify->reject("proxy", peer, why);
    if (service_->settings.log_connections) {
        BOOST_LOG_TRIVIAL(info) << log_prefix(*service_) << to_string(peer.transport) << " "
                                << peer.to_string() << ": rejected by proxy (" << why << ")";
    }
    boost::system::error_code ignored;
    socket.close(ignored);
}

template <class Protocol>
bool StreamListener<Protocol>::admit(typename Protocol::socket socket, Ends ends, bool accepting) {
    const auto* program = service_->handler->program();
    if (draining_) {
        // Stopped (shutdown): served and drained here, like the connections already open; no
        // child is forked and no program started any more.
        if (Admission admission; program == nullptr && verify(socket, ends.peer, admission)) {
            serve(std::move(socket), std::move(admission))->drain(Drain::shutdown);
        }
        return false;
    }
    if (program != nullptr || options_.fork) {
        // do_accept checked for room before it accepted; in pool mode another loop may have
        // started the last program the limits allow since, and a PROXY header may have taken
        // its time. Then this connection waits here until there is room: waiting, not refused.
        // (It is admitted then by the service of that moment: a reload may have changed it.)
        auto self = this->shared_from_this();
        auto held = std::make_shared<typename Protocol::socket>(std::move(socket));
        if (!options_.children->has_room(
                [self, held, ends, accepting] {
                    self->on_own_loop([self, held, ends, accepting] {
                        if (self->admit(std::move(*held), ends, accepting) && accepting) {
                            self->do_accept();
                        }
                    });
                },
                [self, program] { return program != nullptr && self->service_->verify->full(); })) {
            return false;
        }
        socket = std::move(*held);
    }
    Admission admission;
    if (!verify(socket, ends.peer, admission)) {
        return true;
    }
    if (program != nullptr) {
        start_program(*program, socket, std::move(admission), ends.local);
        return true;
    }
    if (!options_.fork) {
        serve(std::move(socket), std::move(admission));
        return true;
    }
    // In the child, nothing else: it serves that connection only.
    return !serve_in_child(std::move(socket), std::move(admission));
}

template <class Protocol>
bool StreamListener<Protocol>::verify(typename Protocol::socket& socket, const Peer& peer,
                                      Admission& admission) {
    std::string_view rejected_by;
    const Verdict verdict = service_->verify->verify_stream(peer, admission, &rejected_by);
    if (verdict == Verdict::accept) {
        return true;
    }
    if (service_->settings.log_connections) {
        BOOST_LOG_TRIVIAL(info) << log_prefix(*service_) << to_string(peer.transport) << " "
                                << peer.to_string() << ": rejected by " << rejected_by;
    }
    boost::system::error_code ec;
    socket.non_blocking(true, ec);
    if (verdict == Verdict::busy && transport_ != Transport::tls) {
        // (A TLS client would read the line as a broken handshake, and making a handshake to
        // say it is the very cost a limit is there to spare: it is closed without a word.)
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
std::shared_ptr<Connection> StreamListener<Protocol>::serve(typename Protocol::socket socket,
                                                            Admission admission) {
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
        boost::system::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        if (transport_ == Transport::tls) {
            auto connection = std::make_shared<StreamConnection<TlsStream>>(
                TlsStream(std::move(socket), service_->tls), service_, std::move(admission));
            connection->start();
            return connection;
        }
    }
    auto connection = std::make_shared<StreamConnection<PlainStream<Protocol>>>(
        PlainStream<Protocol>(std::move(socket)), service_, std::move(admission));
    connection->start();
    return connection;
}

template <class Protocol>
bool StreamListener<Protocol>::serve_in_child(typename Protocol::socket socket,
                                              Admission admission) {
    const Peer peer = admission.peer();
    // The child counts its connection's traffic only: the parent holds the admission.
    auto child_serves = [self = this->shared_from_this(), peer,
                         socket = std::make_shared<typename Protocol::socket>(std::move(socket))] {
        self->serve(std::move(*socket),
                    Admission(peer, self->service_->metrics.traffic(peer.transport)));
    };
    // In the parent the socket closes when child_serves goes: the child holds the connection now.
    return options_.children->fork_child(log_prefix(*service_) + peer.to_string(),
                                         std::move(admission),
                                         std::move(child_serves)) == ChildProcesses::Forked::child;
}

template <class Protocol>
void StreamListener<Protocol>::start_program(const Program& program,
                                             typename Protocol::socket& socket, Admission admission,
                                             const std::optional<Peer>& local) {
    boost::system::error_code ec;
    const auto own = socket.local_endpoint(ec);
    const Peer peer = admission.peer();
    options_.children->spawn(ProgramStart{
        .program = &program,
        .service = service_->settings.name,
        .socket = socket.native_handle(),
        .peer = peer,
        .local =
            local ? *local
            : ec  ? Peer{.transport = peer.transport, .port = 0, .address = {}, .credentials = {}}
                  : make_peer(transport_, own),
        .admission = std::move(admission),
        .counters = service_->metrics.programs(),
        .executor = acceptor_.socket().get_executor(),
        .exited = {},
    });
    // The program has the connection now (or it could not start): ours closes with socket.
}

template <class Protocol>
void StreamListener<Protocol>::resume_accepting() {
    on_own_loop([self = this->shared_from_this()] { self->do_accept(); });
}

template <class Protocol>
void StreamListener<Protocol>::on_own_loop(std::function<void()> step) {
    // Children resumes from loop 0; this listener's socket is its own loop's.
    auto& io = static_cast<asio::io_context&>(acceptor_.socket().get_executor().context());
    asio::post(io, [self = this->shared_from_this(), step = std::move(step)] {
        if (self->acceptor_.socket().is_open()) {
            step();
        }
    });
}

namespace {

/// Whether closing a listener hands the connections in its queues to another listener of the
/// same address and SO_REUSEPORT group (net.ipv4.tcp_migrate_req, Linux 5.14), in netd's own
/// network namespace.
bool kernel_migrates_requests() {
    std::ifstream setting("/proc/sys/net/ipv4/tcp_migrate_req");
    int value = 0;
    return setting >> value && value == 1;
}

}  // namespace

template <class Protocol>
void StreamListener<Protocol>::drain() {
    if (std::is_same_v<Protocol, asio::ip::tcp> && options_.reuseport &&
        kernel_migrates_requests()) {
        // The other instances take the backlog, including clients whose request has not
        // arrived yet, which a drain here would close unanswered.
        draining_ = true;
        return;
    }
    // Clients that connected, sent and perhaps closed before we accepted them wait in the
    // backlog; they become connections, which the server drains next like every other (in fork
    // mode too: the parent serves them itself, as it no longer forks).
    // exec's are not started any more: they close.
    draining_ = true;
    auto& acceptor = acceptor_.socket();
    boost::system::error_code ec;
    acceptor.non_blocking(true, ec);
    while (!ec && acceptor.is_open()) {
        auto socket = acceptor.accept(ec);
        if (!ec) {
            take(std::move(socket));
        }
    }
}

template <class Protocol>
void StreamListener<Protocol>::pause_accepting() {
    retry_timer_.expires_after(accept_retry_delay);
    retry_timer_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
        if (!ec && self->acceptor_.socket().is_open()) {
            self->do_accept();
        }
    });
}

template <class Protocol>
void StreamListener<Protocol>::stop() {
    draining_ = true;
    retry_timer_.cancel();
    acceptor_.stop();
}

template <class Protocol>
void StreamListener<Protocol>::abandon() {
    // A fork-mode child: the parent's connections whose header is on its way are the parent's
    // to serve; the child's copies of their sockets close, so that they end when the parent's do.
    draining_ = true;
    abandoned_ = true;
    for (auto* pending : headers_) {
        boost::system::error_code ignored;
        pending->deadline.cancel();
        pending->socket.close(ignored);
    }
    retry_timer_.cancel();
    acceptor_.abandon();
}

template class StreamListener<asio::ip::tcp>;
template class StreamListener<asio::local::stream_protocol>;

}  // namespace netd
