#pragma once
// One accepted stream connection driving its handler session. The socket is non-blocking; the
// connection waits for readability (holding no buffer while idle), reads into the thread's scratch
// buffer until the socket is dry, hands the bytes to the session and sends the reply at once.
// A reply the peer is too slow to take is kept and reading pauses until it drains (back-pressure).

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memory>
#include <string>

#include "daemon/service.hpp"

namespace netd {

template <class Protocol>
class StreamConnection : public std::enable_shared_from_this<StreamConnection<Protocol>> {
  public:
    using socket_type = typename Protocol::socket;

    StreamConnection(socket_type socket, std::shared_ptr<Service> service, Peer peer);
    StreamConnection(const StreamConnection&) = delete;
    StreamConnection& operator=(const StreamConnection&) = delete;

    /// Opens the handler session, runs its setup and starts reading.
    void start();

  private:
    /// Reads until the socket is dry, feeding the session; waits for more when it is.
    void do_read();
    /// Waits for readability, holding no buffer meanwhile.
    void wait_readable();
    /// Sends what is pending until done or the socket would block.
    void do_write();
    /// Sends a fresh reply from the thread's buffer; false when reading must pause or stop.
    bool deliver(Output& out);
    /// Runs one session callback, containing a handler that throws.
    template <class Step>
    bool run_session(Step step);
    void fail(const boost::system::error_code& ec, const char* what);
    void close();

    socket_type socket_;
    std::shared_ptr<Service> service_;
    Peer peer_;
    std::unique_ptr<StreamSession> session_;
    /// Reply bytes the peer has not taken yet; empty (no allocation) in the common case.
    std::string pending_;
    /// The session asked to close once pending_ is sent.
    bool close_after_write_ = false;
};

extern template class StreamConnection<boost::asio::ip::tcp>;
extern template class StreamConnection<boost::asio::local::stream_protocol>;

}  // namespace netd
