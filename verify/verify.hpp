#pragma once
// verify_request (SPEC 5): every accepted stream connection and every datagram passes its service's
// chain of verifiers before a handler sees it; the first rejection wins. Built-in verifiers (acl,
// udp_guard, rate, limits) are chosen by the service's keys; custom ones are registered by name,
// like handlers, and listed with `verify = name, ...`.
//
// A verifier that counts live connections (limits) is told when each connection it admitted ends:
// the chain hands out an Admission that releases them when it is destroyed.

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <boost/log/trivial.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "core/peer.hpp"
#include "metrics/service_metrics.hpp"

namespace netd {

/// What a verifier decides. A rejection is counted and logged under the verifier's name
/// ("acl", "udp_guard", "rate", "max_connections", "max_per_source", or a custom verifier's).
enum class Verdict : std::uint8_t {
    accept,
    refuse,  ///< close without a word (access control); a datagram is dropped
    busy,    ///< "error: too many connections, try later", then close; a datagram is dropped
};

/// One verifier of one service. Called from whichever thread received the connection or datagram
/// (pool mode: several at once), so it must be safe to call concurrently.
class Verifier {
  public:
    Verifier() = default;
    Verifier(const Verifier&) = delete;
    Verifier& operator=(const Verifier&) = delete;
    virtual ~Verifier() = default;

    /// A new stream connection (stream = true) or a datagram from peer.
    virtual Verdict verify(const Peer& peer, bool stream) = 0;

    /// A stream connection this verifier accepted has ended.
    virtual void release(const Peer& /*peer*/) {}

    /// Whether verify can ever reject on transport: its rejections there get a metrics row.
    virtual bool can_reject(Transport /*transport*/) const { return true; }
};

/// A custom verifier's entry in the table: `verify = NAME` builds it for a service.
struct VerifierSpec {
    std::string_view name;
    std::string_view summary;  ///< one line for --help
    std::unique_ptr<Verifier> (*make)(const config::ServiceConfig& service);
};

/// Adds a custom verifier (tests and embedders do this before loading a config); a name already
/// registered is replaced.
void register_verifier(const VerifierSpec& spec);

/// The custom verifier registered under name, or nullptr.
const VerifierSpec* find_verifier(std::string_view name);

/// The registered custom verifiers.
std::span<const VerifierSpec> verifiers();

/// Connections of all services together, for the server's max_connections.
struct GlobalLimit {
    std::atomic<std::uint64_t> max = 0;  ///< a reload may change it while loops verify
    std::atomic<std::uint64_t> live = 0;
};

class TokenBucketTable;

/// What a service's limits count, kept by the service's name for as long as the daemon runs: a
/// reload builds new verifier chains, and the connections they admit count together with those
/// the chains before them admitted, so a reload never lets more in than the limits say. Shared by
/// the chains of one service (pool mode: from several threads).
class ServiceLoad {
  public:
    ServiceLoad();
    ServiceLoad(const ServiceLoad&) = delete;
    ServiceLoad& operator=(const ServiceLoad&) = delete;
    ~ServiceLoad();

    /// Live stream connections of the service (max_connections).
    std::atomic<std::uint64_t> connections = 0;

    /// Counts a connection from source unless it has max already (max_per_source).
    bool take_source(const boost::asio::ip::address& source, std::uint64_t max);
    /// A connection take_source counted has ended.
    void release_source(const boost::asio::ip::address& source);

    /// The token buckets for rate: the same table while the rate stays the same (a bucket filled
    /// at another rate means nothing).
    std::shared_ptr<TokenBucketTable> rate_table(std::uint64_t rate);

  private:
    std::mutex mutex_;
    /// Sources with a live connection, and how many; bounded by max_connections.
    std::unordered_map<boost::asio::ip::address, std::uint64_t> sources_;
    std::shared_ptr<TokenBucketTable> rate_table_;
    std::uint64_t rate_ = 0;  ///< what rate_table_ was made for
};

class VerifyChain;

/// A stream connection's admission: who was admitted, and what the verifiers counted for it,
/// released when it is destroyed. It also holds the connection's place in its service's
/// active-connections gauge.
class Admission {
  public:
    Admission() = default;
    /// peer, counting its traffic in traffic but nothing else (a fork-mode child's connection:
    /// its parent counts it).
    Admission(Peer peer, metrics::Row& traffic) : peer_(std::move(peer)), traffic_(&traffic) {}
    /// Keeps chain alive: a fork-mode child's admission can outlive the service that verified it
    /// (a reload replaces services while children still serve).
    Admission(std::shared_ptr<VerifyChain> chain, Peer peer, std::size_t admitted,
              metrics::Row& traffic)
        : chain_(std::move(chain)),
          peer_(std::move(peer)),
          traffic_(&traffic),
          admitted_(static_cast<std::uint32_t>(admitted)) {
        traffic.add(metrics::accepted);
        traffic.add(metrics::active);
    }
    Admission(Admission&& other) noexcept { *this = std::move(other); }
    Admission& operator=(Admission&& other) noexcept;
    Admission(const Admission&) = delete;
    Admission& operator=(const Admission&) = delete;
    ~Admission() { release(); }

    /// fork mode, in the child: the parent releases, not this copy.
    void forget() { chain_ = nullptr; }

    const Peer& peer() const { return peer_; }

    /// The traffic row the connection counts in (nullptr for an empty admission).
    metrics::Row* traffic() const { return traffic_; }

  private:
    void release();

    /// Set while this admission counts: in the verifiers that accepted it and in traffic_'s
    /// active connections.
    std::shared_ptr<VerifyChain> chain_;
    Peer peer_;
    metrics::Row* traffic_ = nullptr;
    std::uint32_t admitted_ = 0;  ///< how many verifiers of the chain accepted (and may count it)
};

/// A service's verifiers in order, with the rejection counters. Lives as long as the service.
class VerifyChain : public std::enable_shared_from_this<VerifyChain> {
  public:
    /// Builds the chain the service's keys ask for: acl, udp_guard, the custom verifiers listed
    /// in `verify`, rate, max_per_source, max_connections (the service's, counted in load, and
    /// the server's). Admissions and rejections are counted in metrics.
    VerifyChain(const config::ServiceConfig& service, GlobalLimit& global,
                std::shared_ptr<ServiceLoad> load, ServiceMetrics metrics);
    VerifyChain(const VerifyChain&) = delete;
    VerifyChain& operator=(const VerifyChain&) = delete;
    ~VerifyChain();

    /// A stream connection: accept (admission then holds what the verifiers counted), or the
    /// rejection, already counted and logged; the caller closes, with busy_message for busy.
    /// rejected_by, when given, is set to the rejecting verifier's name.
    Verdict verify_stream(const Peer& peer, Admission& admission,
                          std::string_view* rejected_by = nullptr);

    /// A datagram: whether to serve it (a rejected one is counted, logged and dropped).
    bool verify_datagram(const Peer& peer);

    /// A connection turned away by a stage of its own, not by a verifier: before verification
    /// (reason "proxy": a bad or missing PROXY header), or after it (reason "tls": a failed
    /// handshake). Counted under reason and logged like a verifier's rejection, with why, at
    /// level, at most once a second for the service and transport, fork mode's children
    /// included (the count and the throttle live in the shared metrics row). The caller closes
    /// it.
    void reject(std::string_view reason, const Peer& peer, std::string_view why,
                boost::log::trivial::severity_level level = boost::log::trivial::warning);

    /// Whether the service (or the server) has as many live connections as it may: the next
    /// one would be refused by max_connections.
    bool full() const;

    /// Rejections so far by the verifier of that name (0 for an unknown name).
    std::uint64_t rejected(std::string_view name) const;

  private:
    friend class Admission;
    struct Link;

    /// Runs the verifiers; returns the verdict and how many accepted before it.
    std::pair<Verdict, std::size_t> run(const Peer& peer, bool stream);
    /// Counts and (at most once a second per verifier) logs a rejection by link.
    void note(Link& link, const Peer& peer, bool stream);
    /// The log line of a rejection by link, since the last one and total in all.
    void log_rejection(boost::log::trivial::severity_level level, const Link& link,
                       const Peer& peer, bool stream, std::string_view why, std::uint64_t since,
                       std::uint64_t total) const;
    void release(const Peer& peer, std::size_t admitted);

    std::string service_;
    std::uint64_t max_connections_;
    GlobalLimit& global_;
    std::shared_ptr<ServiceLoad> load_;
    ServiceMetrics metrics_;
    std::vector<std::unique_ptr<Link>> links_;
    /// The connection's stages of its own (proxy before verification, tls after it), counted
    /// like verifiers.
    std::vector<std::unique_ptr<Link>> stages_;
};

/// The busy answer a stream rejected by a limit gets before it is closed.
constexpr std::string_view busy_message = "error: too many connections, try later\n";

}  // namespace netd
