#pragma once
// One accepted stream connection driving its handler session over a byte stream (byte_stream.hpp:
// a plain socket; tls_stream.hpp: TLS over one; one class for every kind of stream). The stream
// never blocks. While waiting, the connection holds no buffer (it waits for readability,
// readable_wait.hpp); when data comes it reads into the thread's 256 KiB scratch buffer
// (io_buffers.hpp) until the stream is dry, hands the bytes to the session and sends the reply at
// once. A reply the peer is too slow
// to take is kept and reading pauses until it is sent (back-pressure).
//
// Its life is one Phase at a time:
//   starting -> serving     start(): a TLS stream's handshake first, within tls_timeout (a
//                           failure is counted as a rejection, reason tls); then the session
//                           opens and sets up
//   serving  -> draining    drain(): shutdown, or the idle timeout
//   serving  -> closing     the session asked to close, or the client ended its input
//   draining -> closing     what the client had sent is handled; the session finishes
//   closing  -> lingering   the last reply is sent (TLS: then close_notify); what the client
//                           still sends is discarded
//   any      -> closed      the client is done, an error, abort(), or lingering ends

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/log/trivial.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "net/byte_stream.hpp"
#include "net/connection.hpp"
#include "net/service.hpp"
#include "net/tls_stream.hpp"

namespace netd {

template <class Stream>
class StreamConnection final : public Connection,
                               public std::enable_shared_from_this<StreamConnection<Stream>> {
  public:
    /// admission: the peer, what the service's verifiers counted for this connection (released
    /// when it ends), and the metrics row its traffic is counted in.
    StreamConnection(Stream stream, std::shared_ptr<Service> service, Admission admission);

    /// Runs the stream's handshake, if it has one, then opens the handler session, runs its
    /// setup and starts reading.
    void start();

    void drain(Drain why) override;
    void abort() override;

  private:
    enum class Phase : std::uint8_t { starting, serving, draining, closing, lingering, closed };

    /// The wait for input, if one is queued.
    enum class QueuedRead : std::uint8_t {
        none,
        waiting,  ///< queued; drain() and wake() cancel it and finish in its completion
        woken,    ///< cancelled by wake(): its completion runs the session's wake
    };

    // starting
    /// A TLS stream: the handshake, and its deadline.
    void handshake();
    void on_handshake(const boost::system::error_code& ec);
    /// The handshake failed (why, for the log): counted as a rejection (reason tls), logged at
    /// level at most once a second for the service (fork mode's children together), and closed.
    void handshake_failed(const std::string& why, boost::log::trivial::severity_level level);
    /// The session opens and sets up; reading starts.
    void open_session();

    // serving
    /// Reads until the stream is dry, feeding the session; waits for more when it is.
    void do_read();
    /// A session that produces (chargen): sends its next parts while the stream takes them,
    /// dropping what the client sends.
    void do_produce();
    /// Waits for data to arrive, or pauses while the session is not ready for more.
    void wait_readable();
    /// The wait completed (the stream is readable, or ended, or failed; or it was cancelled).
    void on_readable(boost::system::error_code ec);
    /// Asks the session again after a short while (back-pressure).
    void pause();
    /// The session's wake_after passed: lets it speak unprompted, if the connection is waiting
    /// for input then (otherwise input is on its way, and the session answers that).
    void wake();
    /// Bytes arrived: the session handles them; whether reading may go on.
    bool handle_input(std::string_view bytes);
    /// The read side ended: end of input lets the session finish, an error closes.
    void end_of_input(const boost::system::error_code& ec);

    // answering, in every phase that has a session
    /// Runs one session callback step(out), containing a handler that throws, and sends what it
    /// wrote. Returns whether input may be read now: all of it is sent and nobody asked to close.
    template <class Step>
    bool respond(Step step);
    /// Sends reply until done or the stream would block (then do_write goes on with the rest);
    /// like respond, returns whether input may be read now.
    bool send(std::string_view reply);
    /// Sends what is pending until done or the stream would block; then carries on as the phase
    /// says.
    void do_write();

    // ending
    /// Reads what the stream holds now, then lets the session finish; while a reply is on its
    /// way, do_write comes back here once it is sent.
    void finish_drain();
    /// No more input will be handled: the session's finish, its last reply, then the close.
    void finish_session();
    /// Closing after the last reply: end our side, read and discard what the client still sends
    /// (a close with unread input would reset the connection and could destroy that reply)
    /// until its end of input or linger_time, then close.
    void linger();
    void discard_input();
    void fail(const boost::system::error_code& ec, const char* what);
    void close();
    /// log_connections: how the connection ends, if nothing said so before ("" on first use).
    void ending(std::string_view how);
    /// log_connections: bytes the client sent (in) or took (out).
    void count(std::size_t bytes, bool in);

    struct Timers {
        explicit Timers(const typename Stream::executor_type& executor)
            : pause(executor), wake(executor) {}
        /// The handshake's deadline, then back-pressure pauses, then lingering.
        boost::asio::steady_timer pause;
        boost::asio::steady_timer wake;  ///< the session's wake_after
    };
    /// Made on first use.
    Timers& timers();

    Stream stream_;
    std::shared_ptr<Service> service_;
    Admission admission_;
    std::unique_ptr<StreamSession> session_;
    /// Reply bytes the peer has not taken yet; empty (no allocation) in the common case.
    std::string pending_;
    /// How much of pending_ is sent.
    std::size_t pending_sent_ = 0;
    Phase phase_ = Phase::starting;
    QueuedRead queued_read_ = QueuedRead::none;
    /// The client ended its input: a close then needs no lingering.
    bool input_ended_ = false;
    /// The client has sent something (a drain at shutdown waits first_bytes_grace otherwise).
    bool heard_ = false;
    /// The drains that came during the handshake (shutdown, then late): the connection drains
    /// as soon as it is up.
    std::optional<Drain> drain_when_started_;
    std::chrono::steady_clock::time_point linger_until_;
    /// Made on first use, so connections that never pause, linger or wake do not pay for them.
    std::unique_ptr<Timers> timers_;

    /// log_connections: what the line at the end says.
    struct Record {
        std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
        std::uint64_t in = 0;
        std::uint64_t out = 0;
        std::string how;  ///< the first reason the connection ended
    };
    /// Only for services with log_connections: the others pay one pointer.
    std::unique_ptr<Record> record_;
};

extern template class StreamConnection<PlainStream<boost::asio::ip::tcp>>;
extern template class StreamConnection<PlainStream<boost::asio::local::stream_protocol>>;
extern template class StreamConnection<TlsStream>;

}  // namespace netd
