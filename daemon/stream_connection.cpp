#include "daemon/stream_connection.hpp"

#include <boost/asio/post.hpp>
#include <cstring>
#include <utility>

#include "daemon/io_buffers.hpp"
#include "daemon/logging.hpp"

namespace netd {

namespace {

/// Reads handled in one go before yielding to other connections, so one fast sender cannot
/// monopolise the thread.
constexpr int reads_per_turn = 16;

/// How long a paused connection waits before asking its session again.
constexpr std::chrono::milliseconds pause_interval{5};

/// How long a closing connection keeps reading (and discarding) what the client still sends, so
/// that its last reply is not destroyed by a reset (Apache's lingering close), at most...
constexpr std::chrono::seconds linger_time{2};
/// ...and once the client has sent nothing for this long.
constexpr std::chrono::milliseconds linger_quiet{100};

}  // namespace

template <class Protocol>
StreamConnection<Protocol>::StreamConnection(socket_type socket, std::shared_ptr<Service> service,
                                             Admission admission)
    : Connection(service->settings.idle_timeout),
      socket_(std::move(socket)),
      service_(std::move(service)),
      admission_(std::move(admission)) {}

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
        session_ = service_->handler->open_session(admission_.peer());
        session_->setup(out);
    });
    if (!opened) {
        return;
    }
    if (const auto after = session_->wake_after(); after.count() > 0) {
        auto& timer = timers().wake;
        timer.expires_after(after);
        timer.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
            if (!ec) {
                self->wake();
            }
        });
    }
    if (deliver(out)) {
        do_read();
    }
}

template <class Protocol>
typename StreamConnection<Protocol>::Timers& StreamConnection<Protocol>::timers() {
    if (!timers_) {
        timers_ = std::make_unique<Timers>(socket_.get_executor());
    }
    return *timers_;
}

template <class Protocol>
void StreamConnection<Protocol>::wake() {
    // Only while the connection waits for input: cancel that read, and let its completion run
    // the session's wake in order with whatever input came meanwhile.
    if (read_pending_ && !draining_ && !lingering_ && !close_after_write_) {
        wake_due_ = true;
        boost::system::error_code ignored;
        socket_.cancel(ignored);
    }
}

template <class Protocol>
template <class Step>
bool StreamConnection<Protocol>::run_session(Step step) {
    try {
        step();
        return true;
    } catch (const std::exception& e) {
        admission_.traffic()->add(metrics::handler_errors);
        BOOST_LOG_TRIVIAL(error) << log_prefix(*service_) << "handler failed for "
                                 << admission_.peer().to_string() << ": " << e.what()
                                 << "; connection closed";
    } catch (...) {
        admission_.traffic()->add(metrics::handler_errors);
        BOOST_LOG_TRIVIAL(error) << log_prefix(*service_) << "handler failed for "
                                 << admission_.peer().to_string() << "; connection closed";
    }
    close();
    return false;
}

template <class Protocol>
void StreamConnection<Protocol>::do_read() {
    auto& buffers = io_buffers();
    for (int turn = 0; turn < reads_per_turn; ++turn) {
        if (!session_->ready()) {
            return pause();
        }
        boost::system::error_code ec;
        const std::size_t n = socket_.read_some(boost::asio::buffer(buffers.in), ec);
        if (ec == boost::asio::error::would_block) {
            return wait_readable();
        }
        if (ec) {
            return end_of_input(ec);
        }
        if (!consume(std::string_view(buffers.in.data(), n))) {
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
    if (!session_->ready()) {
        return pause();
    }
    read_pending_ = true;
    // A read, not a wait: Asio's async_wait re-arms the descriptor with epoll_ctl every time,
    // while a queued read costs no system call until data arrives; then the reactor reads into
    // first_read_, which is small so that an idle connection stays cheap.
    socket_.async_read_some(
        boost::asio::buffer(first_read_),
        [self = this->shared_from_this()](boost::system::error_code ec, std::size_t n) {
            self->on_first_read(ec, n);
        });
}

template <class Protocol>
void StreamConnection<Protocol>::on_first_read(boost::system::error_code ec, std::size_t n) {
    read_pending_ = false;
    if (draining_) {
        if (!ec) {
            consume(std::string_view(first_read_.data(), n));
        }
        return finish_drain();
    }
    if (std::exchange(wake_due_, false) && ec == boost::asio::error::operation_aborted) {
        // The wake's cancel (input that beat it is handled below instead, the wake then moot).
        auto& reply = io_buffers().out;
        reply.clear();
        Output out(reply);
        if (run_session([&] { session_->wake(out); }) && deliver(out)) {
            wait_readable();
        }
        return;
    }
    if (ec) {
        return end_of_input(ec);
    }
    if (n < first_read_.size()) {
        if (consume(std::string_view(first_read_.data(), n))) {
            wait_readable();
        }
        return;
    }
    // first_read_ filled up, so more is probably waiting: top it up from the socket in the
    // thread's large buffer and hand the session one chunk.
    auto& buffers = io_buffers();
    std::memcpy(buffers.in.data(), first_read_.data(), n);
    const std::size_t more =
        socket_.read_some(boost::asio::buffer(buffers.in.data() + n, buffers.in.size() - n), ec);
    if (!consume(std::string_view(buffers.in.data(), n + more))) {
        return;
    }
    // A short or would-block top-up means the socket is dry; anything else (a full buffer, end
    // of input, an error) is for do_read to find.
    if (ec == boost::asio::error::would_block || (!ec && n + more < buffers.in.size())) {
        return wait_readable();
    }
    do_read();
}

template <class Protocol>
void StreamConnection<Protocol>::pause() {
    auto& timer = timers().pause;
    timer.expires_after(pause_interval);
    timer.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
        if (!ec && !self->draining_) {
            self->do_read();
        }
    });
}

template <class Protocol>
void StreamConnection<Protocol>::drain() {
    if (draining_ || lingering_) {
        return;  // already on its way out
    }
    draining_ = true;
    if (read_pending_) {
        // The reactor may already have read into first_read_: cancel, and finish the drain in
        // that read's completion, after its bytes, so that nothing is handled out of order.
        boost::system::error_code ignored;
        socket_.cancel(ignored);
        return;
    }
    finish_drain();
}

template <class Protocol>
void StreamConnection<Protocol>::abort() {
    close();
}

template <class Protocol>
void StreamConnection<Protocol>::finish_drain() {
    // Read what the client already sent, unless a reply is still waiting for the client to take
    // it (reading on would need unbounded buffering: do_write comes back here once it is sent).
    auto& buffers = io_buffers();
    while (socket_.is_open() && pending_.empty() && !close_after_write_) {
        boost::system::error_code ec;
        const std::size_t n = socket_.read_some(boost::asio::buffer(buffers.in), ec);
        if (ec || !consume(std::string_view(buffers.in.data(), n))) {
            break;  // dry (would_block), the client's end of input, an error, or a reply waits
        }
    }
    if (!socket_.is_open() || !pending_.empty() || close_after_write_) {
        return;  // closed, a reply on its way (then here again), or the session asked to close
    }
    // The session finishes; its last words are sent (do_write carries on in the background) and
    // then the connection closes. The server aborts connections still sending at
    // shutdown_timeout.
    finish_session();
}

template <class Protocol>
void StreamConnection<Protocol>::finish_session() {
    close_after_write_ = true;
    auto& reply = io_buffers().out;
    reply.clear();
    Output out(reply);
    if (run_session([&] { session_->finish(out); })) {
        out.close();
        deliver(out);
    }
}

template <class Protocol>
bool StreamConnection<Protocol>::consume(std::string_view bytes) {
    touch();
    admission_.traffic()->add(metrics::bytes_in, bytes.size());
    auto& reply = io_buffers().out;
    reply.clear();
    Output out(reply);
    return run_session([&] { session_->handle(bytes, out); }) && deliver(out);
}

template <class Protocol>
void StreamConnection<Protocol>::end_of_input(const boost::system::error_code& ec) {
    if (ec != boost::asio::error::eof) {
        return fail(ec, "read");
    }
    // The client is done sending: the session may still answer, then we close.
    input_ended_ = true;
    finish_session();
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
            pending_sent_ = 0;
            do_write();
            return false;
        }
        if (ec) {
            fail(ec, "write");
            return false;
        }
        admission_.traffic()->add(metrics::bytes_out, n);
        reply.remove_prefix(n);
    }
    if (close_after_write_) {
        linger();
        return false;
    }
    return true;
}

template <class Protocol>
void StreamConnection<Protocol>::do_write() {
    while (pending_sent_ < pending_.size()) {
        boost::system::error_code ec;
        const std::size_t n = socket_.write_some(
            boost::asio::buffer(pending_.data() + pending_sent_, pending_.size() - pending_sent_),
            ec);
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
        admission_.traffic()->add(metrics::bytes_out, n);
        pending_sent_ += n;
    }
    // Drained: give the memory back and resume reading (or draining).
    std::string().swap(pending_);
    if (close_after_write_) {
        return linger();
    }
    if (draining_) {
        return finish_drain();
    }
    do_read();
}

template <class Protocol>
void StreamConnection<Protocol>::linger() {
    if (input_ended_) {
        return close();  // nothing more can come, nothing to discard
    }
    lingering_ = true;
    boost::system::error_code ec;
    socket_.shutdown(socket_type::shutdown_send, ec);
    if (ec) {
        return close();
    }
    linger_until_ = std::chrono::steady_clock::now() + linger_time;
    discard_input();
}

template <class Protocol>
void StreamConnection<Protocol>::discard_input() {
    auto& buffers = io_buffers();
    for (;;) {
        boost::system::error_code ec;
        socket_.read_some(boost::asio::buffer(buffers.in), ec);
        if (ec == boost::asio::error::would_block) {
            break;
        }
        if (ec) {
            return close();  // the client's end of input (or a reset): done
        }
    }
    // Close once the client has been quiet a moment (nothing unread, so no reset), or at the end
    // of linger_time whatever it does.
    auto& timer = timers().pause;
    timer.expires_at(std::min(std::chrono::steady_clock::now() + linger_quiet, linger_until_));
    timer.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
        if (!ec) {
            self->close();
        }
    });
    socket_.async_wait(socket_type::wait_read,
                       [self = this->shared_from_this()](boost::system::error_code ec) {
                           if (ec) {
                               return self->close();
                           }
                           self->discard_input();
                       });
}

template <class Protocol>
void StreamConnection<Protocol>::fail(const boost::system::error_code& ec, const char* what) {
    if (ec != boost::asio::error::operation_aborted) {
        BOOST_LOG_TRIVIAL(debug) << log_prefix(*service_) << admission_.peer().to_string() << ": "
                                 << what << ": " << ec.message();
    }
    close();
}

template <class Protocol>
void StreamConnection<Protocol>::close() {
    boost::system::error_code ignored;
    if (timers_) {
        timers_->pause.cancel();
        timers_->wake.cancel();
    }
    socket_.shutdown(socket_type::shutdown_both, ignored);
    socket_.close(ignored);
}

template class StreamConnection<boost::asio::ip::tcp>;
template class StreamConnection<boost::asio::local::stream_protocol>;

}  // namespace netd
