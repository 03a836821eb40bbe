#pragma once
// How forwarded frames reach the collector (SPEC 10). Blocking I/O, run by the forwarder's
// sender thread only, each wait bounded and woken early by the forwarder's stop: tcp:// and
// tls:// over a socket (OpenSSL for TLS), relp:// as RELP over a socket (why not librelp: see
// RelpTransport in the .cpp).
//
// What "the collector has it" means differs, and is what confirmed() reports:
// - tcp://, tls://: the collector's kernel acknowledged the bytes (TCP_INFO's bytes_acked). A
//   collector that crashes with acknowledged bytes unread loses them; nothing else is lost.
// - relp://: the collector answered the record "200 OK".

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace netd {

/// forward = SCHEME://HOST:PORT
struct ForwardDestination {
    enum class Scheme { tcp, tls, relp };
    Scheme scheme = Scheme::tcp;
    std::string host;  ///< a name, an IPv4 address, or an IPv6 address (without its brackets)
    std::string port;
    std::string url;  ///< as configured, for logs and metrics

    bool operator==(const ForwardDestination&) const = default;
};

/// Parses the forward key's value; throws config::ValueError saying what is wrong.
ForwardDestination parse_forward_destination(std::string_view text);

/// forward_ca, forward_cert, forward_key (tls:// only).
struct ForwardTlsFiles {
    std::string ca;    ///< "" = the system's CAs
    std::string cert;  ///< "" = no client certificate
    std::string key;

    bool operator==(const ForwardTlsFiles&) const = default;
};

class ForwardTransport {
  public:
    /// How long a connect, a handshake or a send may go without progress.
    static constexpr std::chrono::seconds patience{10};

    virtual ~ForwardTransport() = default;

    /// Connects; "" or why not.
    virtual std::string connect() = 0;
    /// Sends count whole frames; "" or why the connection is lost.
    virtual std::string send(std::string_view frames, std::uint64_t count) = 0;
    /// How many of the frames sent since connect() the collector is known to have.
    virtual std::uint64_t confirmed() = 0;
    /// Stopping: waits up to wait for the collector to confirm what was sent.
    virtual void settle(std::chrono::milliseconds wait) = 0;
    /// "" while the connection may still deliver, else why not: the collector closed or reset
    /// it, or (RELP) refused a record or ended the session; seen without sending, so that what
    /// waits for confirmation is sent again.
    virtual std::string why_lost() { return {}; }
    /// The most frames one send() should carry: what is sent is confirmed a send() at a time.
    virtual std::uint64_t batch_frames() const { return UINT64_MAX; }
};

/// How the forwarder's stop reaches a transport waiting for the collector.
struct ForwardStop {
    int fd = -1;  ///< readable once stopping: every wait polls it too
};

/// The transport for destination. Throws config::KeyError (naming forward_ca, forward_cert or
/// forward_key) when a TLS file cannot be used.
std::unique_ptr<ForwardTransport> make_forward_transport(const ForwardDestination& destination,
                                                         const ForwardTlsFiles& tls,
                                                         ForwardStop stop);

}  // namespace netd
