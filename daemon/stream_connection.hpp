#pragma once
// One accepted stream connection driving its handler session. The socket is non-blocking. While
// waiting, the connection holds only a 512-byte first-read buffer; when data comes it reads on into
// the thread's 64 KiB scratch buffer until the socket is dry, hands the bytes to the session and
// sends the reply at once.
// A reply the peer is too slow to take is kept and reading pauses until it drains (back-pressure).

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>

#include "daemon/connection.hpp"
#include "daemon/service.hpp"

namespace netd {

template <class Protocol>
class StreamConnection final : public Connection,
                               public std::enable_shared_from_this<StreamConnection<Protocol>> {
  public:
    using socket_type = typename Protocol::socket;

    /// admission: the peer, what the service's verifiers counted for this connection (released
    /// when it ends), and the metrics row its traffic is counted in.
    StreamConnection(socket_type socket, std::shared_ptr<Service> service, Admission admission);

    /// Opens the handler session, runs its setup and starts reading.
    void start();

    void drain() override;
    void abort() override;

  private:
    /// Reads until the socket is dry, feeding the session; waits for more when it is.
    void do_read();
    /// Queues a read into first_read_ for when data arrives, or pauses while the session is not
    /// ready for more.
    void wait_readable();
    /// Asks the session again after a short while (back-pressure).
    void pause();
    /// Reads what the socket holds now, lets the session finish, closes; while a reply is on its
    /// way, do_write calls it again once the reply is sent.
    void finish_drain();
    /// No more input will be handled: the session's finish, its last reply, then the close.
    void finish_session();
    /// The queued read completed.
    void on_first_read(boost::system::error_code ec, std::size_t n);
    /// Hands bytes to the session and sends its reply; false when reading must pause or stop.
    bool consume(std::string_view bytes);
    /// The read side ended: end of input lets the session finish, an error closes.
    void end_of_input(const boost::system::error_code& ec);
    /// Sends what is pending until done or the socket would block.
    void do_write();
    /// Sends a fresh reply from the thread's buffer; false when reading must pause or stop.
    bool deliver(Output& out);
    /// Runs one session callback, containing a handler that throws.
    template <class Step>
    bool run_session(Step step);
    /// Closing after the last reply: end our side, read and discard what the client still sends
    /// (a close with unread input would reset the connection and could destroy that reply)
    /// until its end of input or linger_time, then close.
    void linger();
    void discard_input();
    void fail(const boost::system::error_code& ec, const char* what);
    void close();
    /// The session's wake_after passed: lets it speak unprompted (if the connection is waiting
    /// for input then; otherwise input is on its way and the session answers that).
    void wake();

    struct Timers {
        explicit Timers(const typename socket_type::executor_type& executor)
            : pause(executor), wake(executor) {}
        boost::asio::steady_timer pause;  ///< back-pressure pauses, then lingering
        boost::asio::steady_timer wake;   ///< the session's wake_after
    };
    /// Made on first use.
    Timers& timers();

    socket_type socket_;
    std::shared_ptr<Service> service_;
    Admission admission_;
    std::unique_ptr<StreamSession> session_;
    /// Where a waiting read lands. Small, so that idle connections stay cheap; a read that fills
    /// it is topped up from the thread's large buffer.
    std::array<char, 512> first_read_{};
    /// Reply bytes the peer has not taken yet; empty (no allocation) in the common case.
    std::string pending_;
    /// How much of pending_ is sent.
    std::size_t pending_sent_ = 0;
    /// The session asked to close once pending_ is sent.
    bool close_after_write_ = false;
    /// A read into first_read_ is queued; a drain must let it complete first to keep order.
    bool read_pending_ = false;
    /// Shutdown began: no more waiting, whatever arrives is read once and the connection closes.
    bool draining_ = false;
    /// The last reply is sent; what the client still sends is discarded until it ends.
    bool lingering_ = false;
    /// The client ended its input (a close then needs no lingering).
    bool input_ended_ = false;
    /// wake() cancelled the pending read: its completion runs the session's wake.
    bool wake_due_ = false;
    std::chrono::steady_clock::time_point linger_until_;
    /// Made on first use, so connections that never pause, linger or wake do not pay for them.
    std::unique_ptr<Timers> timers_;
};

extern template class StreamConnection<boost::asio::ip::tcp>;
extern template class StreamConnection<boost::asio::local::stream_protocol>;

}  // namespace netd
