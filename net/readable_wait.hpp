#pragma once
// Waiting for a socket to become readable, as cheaply as a queued read and without its buffer.
//
// Asio's socket.async_wait(wait_read) re-arms the descriptor with epoll_ctl(EPOLL_CTL_MOD) every
// time it is called (it never lets the reactor try it speculatively), a system call per request
// for a connection that waits between requests. A queued async_read_some costs none (after a
// short read Asio knows the socket is dry and queues the next read without trying it), but it
// must hold a buffer for as long as it waits: per idle connection, for ever.
//
// async_wait_readable is the read without the buffer: an operation that the reactor may try at
// once (when it has not seen the socket run dry since its last event) and that is complete as
// soon as it is tried, telling the reactor that the socket is now dry (done_and_exhausted). So
// waiting costs no system call and no buffer; the caller reads into its own (per-thread) buffer
// once the socket is readable, or finds would_block after a spurious wake-up (when the reactor saw
// an event for bytes the caller had already read).
//
// The contract: the caller reads until would_block (or the end, or an error) before it waits
// again. The reactor's epoll registration is edge-triggered, and the edge that announced data may
// also have announced the client's end of input (the FIN came with the last bytes); a short read
// returns the bytes, only the next read tells of the end, and no new edge would.
//
// This uses Asio's reactor through its detail namespace (there is no public way to queue a
// speculative wait), so it is built only for the reactor it was written against, Boost 1.81's
// epoll reactor (Debian bookworm's); with any other, and for a socket that is not non-blocking,
// it is socket.async_wait(wait_read).

#include <boost/asio/basic_socket.hpp>
#include <boost/version.hpp>
#include <utility>

#if BOOST_VERSION >= 108100 && BOOST_VERSION < 108400 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && !defined(BOOST_ASIO_ENABLE_HANDLER_TRACKING)
#define NETD_SPECULATIVE_READABLE_WAIT 1
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/recycling_allocator.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
#endif

namespace netd {

#if defined(NETD_SPECULATIVE_READABLE_WAIT)
namespace readable_wait_detail {

namespace detail = boost::asio::detail;

/// The reactor operation: complete whenever it is tried, and the socket then counts as dry.
template <class Handler, class IoExecutor>
class Operation final : public detail::reactor_op {
  public:
    Operation(Handler handler, const IoExecutor& executor)
        : reactor_op(boost::system::error_code(), &perform, &complete),
          handler_(std::move(handler)),
          work_(handler_, executor) {}

    static Operation* make(Handler handler, const IoExecutor& executor) {
        Allocator allocator;
        Operation* memory = allocator.allocate(1);
        try {
            return new (memory) Operation(std::move(handler), executor);
        } catch (...) {
            allocator.deallocate(memory, 1);
            throw;
        }
    }

  private:
    /// Asio's own per-thread recycling of operation memory: no heap allocation per wait once
    /// the thread has warmed up.
    using Allocator = detail::recycling_allocator<Operation>;

    static status perform(reactor_op* /*operation*/) { return done_and_exhausted; }

    /// owner is null when the reactor is destroyed with the operation queued: then the handler
    /// is destroyed, not called.
    static void complete(void* owner, detail::operation* base,
                         const boost::system::error_code& /*ec*/, std::size_t /*bytes*/) {
        auto* self = static_cast<Operation*>(base);
        detail::binder1<Handler, boost::system::error_code> call(self->handler_, self->ec_);
        detail::handler_work<Handler, IoExecutor> work(std::move(self->work_));
        self->~Operation();
        Allocator().deallocate(self, 1);
        if (owner != nullptr) {
            work.complete(call, call.handler_);
        }
    }

    Handler handler_;
    detail::handler_work<Handler, IoExecutor> work_;
};

/// The reactor of the context a socket belongs to. use_service looks it up in the context's
/// registry under a mutex, comparing type names (a strcmp each): a fifth of a request's user-space
/// instructions when done per wait. Each thread runs one io_context (net/event_loops.hpp), which
/// lives as long as the process, so the thread keeps the last answer.
inline detail::reactor& reactor_of(boost::asio::execution_context& context) {
    thread_local boost::asio::execution_context* cached_context = nullptr;
    thread_local detail::reactor* cached_reactor = nullptr;
    if (cached_context != &context) {
        cached_reactor = &boost::asio::use_service<detail::reactor>(context);
        cached_context = &context;
    }
    return *cached_reactor;
}

/// basic_socket's implementation (its descriptor and reactor registration) is a protected
/// member; a pointer to it, taken in a derived class, reaches it in any socket of the type.
template <class Socket>
struct Access : Socket {
    static constexpr auto implementation = &Access::impl_;
};

}  // namespace readable_wait_detail
#endif

/// Completes (with no error) when socket can be read without blocking, or has ended or failed;
/// or with operation_aborted when cancelled. It may also complete when the socket turns out to
/// be dry (the caller then reads would_block and waits again).
template <class Socket, class Handler>
void async_wait_readable(Socket& socket, Handler&& handler) {
#if defined(NETD_SPECULATIVE_READABLE_WAIT)
    namespace detail = boost::asio::detail;
    auto& implementation =
        (socket.*readable_wait_detail::Access<Socket>::implementation).get_implementation();
    if ((implementation.state_ & detail::socket_ops::non_blocking) != 0) {
        using Operation =
            readable_wait_detail::Operation<std::decay_t<Handler>, typename Socket::executor_type>;
        auto* operation = Operation::make(std::forward<Handler>(handler), socket.get_executor());
        auto& reactor = readable_wait_detail::reactor_of(
            boost::asio::query(socket.get_executor(), boost::asio::execution::context));
        reactor.start_op(detail::reactor::read_op, implementation.socket_,
                         implementation.reactor_data_, operation, false, true);
        return;
    }
#endif
    socket.async_wait(Socket::wait_read, std::forward<Handler>(handler));
}

}  // namespace netd
