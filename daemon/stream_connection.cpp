#include "daemon/stream_connection.hpp"

#include <boost/asio/post.hpp>

#include "daemon/io_buffers.hpp"
#include "daemon/logging.hpp"

namespace netd {

namespace {

/// Reads handled in one go before yielding to other connections, so one fast sender cannot
/// monopolise the thread.
constexpr int reads_per_turn = 16;

}  // namespace

template <class Protocol>
StreamConnection<Protocol>::StreamConnection(socket_type socket, std::shared_ptr<Service> service,
                                             Peer peer)
    : socket_(std::move(socket)), service_(std::move(service)), peer_(std::move(peer)) {}

template <class Protocol>
void StreamConnection<Protocol>::start() {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    if (ec) {
        return fail(ec, "non_blocking");
    }
    auto& out_buffer = io_buffers().out;
    out_buffer.clear();
    Output out(out_buffer);
    const bool opened = run_session([&] {
        session_ = service_->handler->open_session(peer_);
        session_->setup(out);
    });
    if (opened && deliver(out)) {
        do_read();
    }
}

template <class Protocol>
template <class Step>
bool StreamConnection<Protocol>::run_session(Step step) {
    try {
        step();
        return true;
    } catch (const std::exception& e) {
        BOOST_LOG_TRIVIAL(error) << log_prefix(*service_) << "handler failed for "
                                 << peer_.to_string() << ": " << e.what() << "; connection closed";
    } catch (...) {
        BOOST_LOG_TRIVIAL(error) << log_prefix(*service_) << "handler failed for "
                                 << peer_.to_string() << "; connection closed";
    }
    close();
    return false;
}

template <class Protocol>
void StreamConnection<Protocol>::do_read() {
    auto& buffers = io_buffers();
    for (int turn = 0; turn < reads_per_turn; ++turn) {
        boost::system::error_code ec;
        const std::size_t n = socket_.read_some(boost::asio::buffer(buffers.in), ec);
        if (ec == boost::asio::error::would_block) {
            return wait_readable();
        }
        buffers.out.clear();
        Output out(buffers.out);
        if (ec == boost::asio::error::eof) {
            // The client is done sending: the session may still answer, then we close.
            close_after_write_ = true;
            if (run_session([&] { session_->finish(out); })) {
                out.close();
                deliver(out);
            }
            return;
        }
        if (ec) {
            return fail(ec, "read");
        }
        const std::string_view bytes(buffers.in.data(), n);
        if (!run_session([&] { session_->handle(bytes, out); }) || !deliver(out)) {
            return;
        }
        if (n < buffers.in.size()) {
            // A short read emptied the socket: wait now rather than spend a read on EAGAIN.
            return wait_readable();
        }
    }
    // Still readable after a full turn: let other connections run, then carry on.
    boost::asio::post(socket_.get_executor(),
                      [self = this->shared_from_this()] { self->do_read(); });
}

template <class Protocol>
void StreamConnection<Protocol>::wait_readable() {
    // Asio re-arms the descriptor (EPOLL_CTL_MOD) for every wait, so bytes that arrived after the
    // last read complete the wait at once: no wake-up is lost, whichever thread polls.
    socket_.async_wait(socket_type::wait_read,
                       [self = this->shared_from_this()](boost::system::error_code ec) {
                           if (ec) {
                               return self->fail(ec, "wait_read");
                           }
                           self->do_read();
                       });
}

template <class Protocol>
bool StreamConnection<Protocol>::deliver(Output& out) {
    close_after_write_ = close_after_write_ || out.close_requested();
    std::string_view reply = out.pending();
    while (!reply.empty()) {
        boost::system::error_code ec;
        const std::size_t n = socket_.write_some(boost::asio::buffer(reply), ec);
        if (ec == boost::asio::error::would_block) {
            pending_.assign(reply);
            do_write();
            return false;
        }
        if (ec) {
            fail(ec, "write");
            return false;
        }
        reply.remove_prefix(n);
    }
    if (close_after_write_) {
        close();
        return false;
    }
    return true;
}

template <class Protocol>
void StreamConnection<Protocol>::do_write() {
    while (!pending_.empty()) {
        boost::system::error_code ec;
        const std::size_t n = socket_.write_some(boost::asio::buffer(pending_), ec);
        if (ec == boost::asio::error::would_block) {
            socket_.async_wait(socket_type::wait_write,
                               [self = this->shared_from_this()](boost::system::error_code ec) {
                                   if (ec) {
                                       return self->fail(ec, "wait_write");
                                   }
                                   self->do_write();
                               });
            return;
        }
        if (ec) {
            return fail(ec, "write");
        }
        pending_.erase(0, n);
    }
    // Drained: give the memory back and resume reading.
    std::string().swap(pending_);
    if (close_after_write_) {
        return close();
    }
    do_read();
}

template <class Protocol>
void StreamConnection<Protocol>::fail(const boost::system::error_code& ec, const char* what) {
    if (ec != boost::asio::error::operation_aborted) {
        BOOST_LOG_TRIVIAL(debug) << log_prefix(*service_) << peer_.to_string() << ": " << what
                                 << ": " << ec.message();
    }
    close();
}

template <class Protocol>
void StreamConnection<Protocol>::close() {
    boost::system::error_code ignored;
    socket_.shutdown(socket_type::shutdown_both, ignored);
    socket_.close(ignored);
}

template class StreamConnection<boost::asio::ip::tcp>;
template class StreamConnection<boost::asio::local::stream_protocol>;

}  // namespace netd
