#pragma once
// The handler interface. Handlers are sans-I/O: they never touch a socket. The daemon feeds them
// bytes and sends what they put in Output, so one handler behaves identically under every
// concurrency model and can be unit-tested with plain strings.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "core/peer.hpp"

namespace netd {

/// Where a handler puts its reply, and how it asks for the connection to be closed.
class Output {
  public:
    /// buffer receives the reply bytes; the daemon owns it and reuses its capacity.
    explicit Output(std::string& buffer) : buffer_(buffer) {}
    Output(const Output&) = delete;
    Output& operator=(const Output&) = delete;

    /// Appends reply bytes. For a datagram, any write, even of nothing, means "answer": an empty
    /// datagram is a reply too (echo sends one back).
    void write(std::string_view bytes) {
        if (!borrowed_.empty()) {
            buffer_.append(borrowed_);
            borrowed_ = {};
        }
        buffer_.append(bytes);
        replied_ = true;
    }

    /// Like write, but without copying when it is the first write: for replies that are slices
    /// of the input bytes the handler was given, which stay valid until the daemon has sent them.
    void write_input(std::string_view bytes) {
        if (buffer_.empty() && borrowed_.empty()) {
            borrowed_ = bytes;
            replied_ = true;
            return;
        }
        write(bytes);
    }

    /// Close the connection once everything written so far has been sent.
    void close() { close_ = true; }

    bool close_requested() const { return close_; }
    bool replied() const { return replied_; }
    /// The reply so far.
    std::string_view pending() const { return borrowed_.empty() ? buffer_ : borrowed_; }

  private:
    std::string& buffer_;
    std::string_view borrowed_;  ///< set only while buffer_ is empty
    bool close_ = false;
    bool replied_ = false;
};

/// One stream connection's conversation: the setup -> handle -> finish lifecycle of Python's
/// BaseRequestHandler. A session is only ever called from one thread at a time.
class StreamSession {
  public:
    StreamSession() = default;
    StreamSession(const StreamSession&) = delete;
    StreamSession& operator=(const StreamSession&) = delete;
    virtual ~StreamSession() = default;

    /// The connection was accepted: a banner, or an answer that needs no request (daytime, time).
    virtual void setup(Output& /*out*/) {}

    /// Bytes arrived, in order; they may split or join the client's writes anywhere. bytes are
    /// valid during the call only: the daemon reads every connection of a thread into one
    /// buffer, which holds other clients' bytes by the next call. Keep a copy of what must last
    /// (out.write_input's borrowed reply is sent before the buffer is reused).
    virtual void handle(std::string_view bytes, Output& out) = 0;

    /// The client closed its sending side; last chance to answer before the connection closes.
    virtual void finish(Output& /*out*/) {}

    /// Whether the session can take more bytes now; while false the daemon stops reading from
    /// this client (back-pressure, e.g. the logger's writer is behind) and asks again shortly.
    virtual bool ready() const { return true; }

    /// Asked once after setup: call wake() this long after the connection opened, if it is then
    /// waiting for input; zero (the default) for never. (The stats session answers a client that
    /// sends no request this way.)
    virtual std::chrono::milliseconds wake_after() const { return {}; }

    /// wake_after passed while the connection waited for input.
    virtual void wake(Output& /*out*/) {}

    /// A session that sends without being asked (chargen) says so. The connection then calls
    /// produce() each time all it wrote has been sent, so it sends only as fast as the client
    /// reads; what the client sends is read and dropped, without handle().
    virtual bool produces() const { return false; }

    /// The next part of an unasked-for reply (produces() is true): write at least one byte.
    virtual void produce(Output& /*out*/) {}
};

struct Program;

/// A service's handler, built from its ServiceConfig. One instance serves every connection and
/// datagram of its service, possibly from several threads at once, so its methods must be
/// safe to call concurrently.
class Handler {
  public:
    Handler() = default;
    Handler(const Handler&) = delete;
    Handler& operator=(const Handler&) = delete;
    virtual ~Handler() = default;

    /// Called once before the service serves: open files, start threads. Throws KeyError (the
    /// key at fault and why) when it cannot. A handler that started is stopped exactly once,
    /// also when its configuration is not taken (a reload that fails elsewhere): what it shares
    /// with the running configuration's handlers must not change before commit().
    virtual void start() {}

    /// The configuration this handler belongs to is now the running one: at start-up once every
    /// handler started, on SIGHUP once the reload can no longer fail. Apply here what changes
    /// things shared with the handlers of the configuration before (a log file's settings).
    virtual void commit() {}

    /// SIGHUP: reopen files (after logrotate renamed them).
    virtual void reopen() {}

    /// After the last connection and datagram were handled, or when the configuration was not
    /// taken: flush, stop threads.
    virtual void stop() {}

    /// fork mode: this process is a new child that serves one connection. The parent's threads
    /// do not exist here; anything that relied on them must now work without.
    virtual void enter_child() {}

    /// A new session for an accepted stream connection.
    virtual std::unique_ptr<StreamSession> open_session(const Peer& peer) = 0;

    /// One datagram; whatever goes into out is sent back to the peer as one datagram.
    virtual void datagram(std::string_view bytes, const Peer& peer, Output& out) = 0;

    /// A handler that runs a program per connection (exec) instead of a session: what to run.
    /// The daemon then hands the connection's socket to the program and never calls
    /// open_session or datagram.
    virtual const Program* program() const { return nullptr; }
};

}  // namespace netd
