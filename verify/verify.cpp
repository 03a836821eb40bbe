#include "verify/verify.hpp"

#include <algorithm>
#include <array>
#include <boost/log/trivial.hpp>
#include <chrono>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "core/name_table.hpp"
#include "core/throttle.hpp"
#include "verify/token_bucket.hpp"

namespace netd {

namespace {

/// The address a rule or a table sees: IPv4-mapped IPv6 (::ffff:a.b.c.d) is IPv4.
boost::asio::ip::address plain_address(const boost::asio::ip::address& address) {
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
    }
    return address;
}

/// acl: deny wins; with an allow list, only what it names gets in. Unix peers have no address
/// and are not subject to it (file permissions guard Unix sockets).
class AclVerifier final : public Verifier {
  public:
    AclVerifier(std::vector<config::Cidr> allow, std::vector<config::Cidr> deny)
        : allow_(std::move(allow)), deny_(std::move(deny)) {}

    Verdict verify(const Peer& peer, bool /*stream*/) override {
        if (!has_address(peer.transport)) {
            return Verdict::accept;
        }
        const auto in = [&](const std::vector<config::Cidr>& blocks) {
            return std::any_of(blocks.begin(), blocks.end(),
                               [&](const auto& block) { return block.contains(peer.address); });
        };
        if (in(deny_) || (!allow_.empty() && !in(allow_))) {
            return Verdict::refuse;
        }
        return Verdict::accept;
    }

    bool can_reject(Transport transport) const override { return has_address(transport); }

  private:
    std::vector<config::Cidr> allow_;
    std::vector<config::Cidr> deny_;
};

/// udp_guard: no answer to UDP datagrams from privileged source ports, where echo, chargen and
/// friends of other hosts live (loops between two such services, reflection attacks); the
/// OpenBSD inetd policy.
class UdpGuard final : public Verifier {
  public:
    explicit UdpGuard(std::uint16_t min_port) : min_port_(min_port) {}

    Verdict verify(const Peer& peer, bool stream) override {
        if (stream || peer.transport != Transport::udp || peer.port >= min_port_) {
            return Verdict::accept;
        }
        return Verdict::refuse;
    }

    bool can_reject(Transport transport) const override { return transport == Transport::udp; }

  private:
    std::uint16_t min_port_;
};

/// rate: new connections or datagrams per second per source address, each source with its own
/// token bucket in a bounded table (see TokenBucketTable).
class RateVerifier final : public Verifier {
  public:
    explicit RateVerifier(std::shared_ptr<TokenBucketTable> table) : table_(std::move(table)) {}

    Verdict verify(const Peer& peer, bool /*stream*/) override {
        if (!has_address(peer.transport) ||
            table_->take(plain_address(peer.address), std::chrono::steady_clock::now())) {
            return Verdict::accept;
        }
        return Verdict::busy;
    }

    bool can_reject(Transport transport) const override { return has_address(transport); }

  private:
    std::shared_ptr<TokenBucketTable> table_;  ///< the service's, shared across reloads
};

/// max_per_source: live stream connections from one address, counted in the service's load.
class SourceLimit final : public Verifier {
  public:
    SourceLimit(std::uint64_t max, ServiceLoad& load) : max_(max), load_(load) {}

    Verdict verify(const Peer& peer, bool stream) override {
        if (!stream || !has_address(peer.transport) ||
            load_.take_source(plain_address(peer.address), max_)) {
            return Verdict::accept;
        }
        return Verdict::busy;
    }

    void release(const Peer& peer) override {
        if (has_address(peer.transport)) {
            load_.release_source(plain_address(peer.address));
        }
    }

    bool can_reject(Transport transport) const override {
        return is_stream(transport) && has_address(transport);
    }

  private:
    std::uint64_t max_;
    ServiceLoad& load_;  ///< kept alive by the chain
};

/// max_connections: live stream connections of the service (counted in its load), and of all
/// services together.
class ConnectionLimit final : public Verifier {
  public:
    ConnectionLimit(std::uint64_t max, GlobalLimit& global, ServiceLoad& load)
        : max_(max), global_(global), live_(load.connections) {}

    Verdict verify(const Peer& /*peer*/, bool stream) override {
        if (!stream) {
            return Verdict::accept;
        }
        if (live_.fetch_add(1) >= max_) {
            live_.fetch_sub(1);
            return Verdict::busy;
        }
        if (global_.live.fetch_add(1) >= global_.max) {
            global_.live.fetch_sub(1);
            live_.fetch_sub(1);
            return Verdict::busy;
        }
        return Verdict::accept;
    }

    void release(const Peer& /*peer*/) override {
        global_.live.fetch_sub(1);
        live_.fetch_sub(1);
    }

    bool can_reject(Transport transport) const override { return is_stream(transport); }

  private:
    std::uint64_t max_;
    GlobalLimit& global_;
    std::atomic<std::uint64_t>& live_;  ///< the service's load: kept alive by the chain
};

std::vector<VerifierSpec>& custom_table() {
    static std::vector<VerifierSpec> specs;
    return specs;
}

/// Rejections are logged at most this often per service and verifier.
constexpr std::chrono::seconds rejection_log_interval{1};

}  // namespace

void register_verifier(const VerifierSpec& spec) {
    add_by_name(custom_table(), spec);
}

const VerifierSpec* find_verifier(std::string_view name) {
    return find_by_name(custom_table(), name);
}

std::span<const VerifierSpec> verifiers() {
    return custom_table();
}

/// One verifier in the chain, with its rejection counter.
struct VerifyChain::Link {
    std::string name;
    std::unique_ptr<Verifier> verifier;
    std::atomic<std::uint64_t> rejected = 0;
    std::atomic<std::uint64_t> logged = 0;  ///< rejected when the last log line was written
    Throttle log{rejection_log_interval};
    /// The metrics rows of its rejections, by transport.
    std::array<metrics::Row*, all_transports.size()> counted{};
};

ServiceLoad::ServiceLoad() = default;
ServiceLoad::~ServiceLoad() = default;

bool ServiceLoad::take_source(const boost::asio::ip::address& source, std::uint64_t max) {
    const std::lock_guard lock(mutex_);
    auto& live = sources_[source];  // max >= 1: never left at 0
    if (live >= max) {
        return false;
    }
    ++live;
    return true;
}

void ServiceLoad::release_source(const boost::asio::ip::address& source) {
    const std::lock_guard lock(mutex_);
    const auto found = sources_.find(source);
    if (found != sources_.end() && --found->second == 0) {
        sources_.erase(found);
    }
}

std::shared_ptr<TokenBucketTable> ServiceLoad::rate_table(std::uint64_t rate) {
    const std::lock_guard lock(mutex_);
    if (!rate_table_ || rate_ != rate) {
        rate_table_ = std::make_shared<TokenBucketTable>(static_cast<double>(rate));
        rate_ = rate;
    }
    return rate_table_;
}

VerifyChain::VerifyChain(const config::ServiceConfig& service, GlobalLimit& global,
                         std::shared_ptr<ServiceLoad> load, ServiceMetrics metrics)
    : service_(service.name),
      max_connections_(service.max_connections),
      global_(global),
      load_(std::move(load)),
      metrics_(std::move(metrics)) {
    const auto add = [&](std::string name, std::unique_ptr<Verifier> verifier) {
        auto link = std::make_unique<Link>();
        for (const auto transport : all_transports) {
            if (verifier->can_reject(transport)) {
                link->counted[static_cast<std::size_t>(transport)] =
                    &metrics_.rejections(transport, name);
            }
        }
        link->name = std::move(name);
        link->verifier = std::move(verifier);
        links_.push_back(std::move(link));
    };
    const auto add_stage = [&](std::string name, std::initializer_list<Transport> transports) {
        auto link = std::make_unique<Link>();
        for (const auto transport : transports) {
            link->counted[static_cast<std::size_t>(transport)] =
                &metrics_.rejections(transport, name);
        }
        link->name = std::move(name);
        stages_.push_back(std::move(link));
    };
    if (service.proxy_protocol != config::ProxyProtocol::off) {
        add_stage("proxy", {Transport::tcp, Transport::tls});
    }
    if (!service.tls_settings.cert.empty()) {
        add_stage("tls", {Transport::tls});
    }
    if (!service.allow.empty() || !service.deny.empty()) {
        add("acl", std::make_unique<AclVerifier>(service.allow, service.deny));
    }
    if (service.udp_min_source_port > 0 && !service.udp.empty()) {
        add("udp_guard", std::make_unique<UdpGuard>(service.udp_min_source_port));
    }
    for (const auto& name : service.verify) {
        add(name, find_verifier(name)->make(service));
    }
    if (service.rate > 0) {
        add("rate", std::make_unique<RateVerifier>(load_->rate_table(service.rate)));
    }
    if (service.max_per_source > 0) {
        add("max_per_source", std::make_unique<SourceLimit>(service.max_per_source, *load_));
    }
    add("max_connections",
        std::make_unique<ConnectionLimit>(service.max_connections, global, *load_));
}

VerifyChain::~VerifyChain() = default;

std::pair<Verdict, std::size_t> VerifyChain::run(const Peer& peer, bool stream) {
    for (std::size_t i = 0; i < links_.size(); ++i) {
        const Verdict verdict = links_[i]->verifier->verify(peer, stream);
        if (verdict != Verdict::accept) {
            note(*links_[i], peer, stream);
            return {verdict, i};
        }
    }
    return {Verdict::accept, links_.size()};
}

Verdict VerifyChain::verify_stream(const Peer& peer, Admission& admission,
                                   std::string_view* rejected_by) {
    const auto [verdict, admitted] = run(peer, true);
    if (verdict == Verdict::accept) {
        admission = Admission(shared_from_this(), peer, admitted, metrics_.traffic(peer.transport));
    } else {
        release(peer, admitted);  // what the verifiers before the rejecting one counted
        if (rejected_by != nullptr) {
            *rejected_by = links_[admitted]->name;
        }
    }
    return verdict;
}

bool VerifyChain::verify_datagram(const Peer& peer) {
    return run(peer, false).first == Verdict::accept;
}

bool VerifyChain::full() const {
    return load_->connections.load() >= max_connections_ ||
           global_.live.load() >= global_.max.load();
}

void VerifyChain::release(const Peer& peer, std::size_t admitted) {
    for (std::size_t i = 0; i < admitted; ++i) {
        links_[i]->verifier->release(peer);
    }
}

void VerifyChain::reject(std::string_view reason, const Peer& peer, std::string_view why,
                         boost::log::trivial::severity_level level) {
    for (const auto& stage : stages_) {
        if (stage->name != reason) {
            continue;
        }
        ++stage->rejected;
        auto* counted = stage->counted[static_cast<std::size_t>(peer.transport)];
        if (counted == nullptr) {
            return;
        }
        // Counted, and the log throttled, in the row: it is in memory that fork mode's children
        // share, and a TLS handshake fails in a child, whose copy of this chain is its own.
        counted->add(metrics::rejected);
        if (!throttle_ready(counted->at(metrics::last_logged), rejection_log_interval)) {
            return;  // logged this second already
        }
        const auto total = counted->get(metrics::rejected);
        const auto since = total - counted->at(metrics::rejected_when_logged).exchange(total);
        return log_rejection(level, *stage, peer, true, why, since, total);
    }
}

void VerifyChain::note(Link& link, const Peer& peer, bool stream) {
    if (auto* counted = link.counted[static_cast<std::size_t>(peer.transport)]) {
        counted->add(metrics::rejected);
    }
    const auto total = ++link.rejected;
    if (!link.log.ready()) {
        return;  // logged this second already
    }
    const auto since = total - link.logged.exchange(total);
    log_rejection(boost::log::trivial::warning, link, peer, stream, {}, since, total);
}

void VerifyChain::log_rejection(boost::log::trivial::severity_level level, const Link& link,
                                const Peer& peer, bool stream, std::string_view why,
                                std::uint64_t since, std::uint64_t total) const {
    BOOST_LOG_SEV(boost::log::trivial::logger::get(), level)
        << "[" << service_ << "] rejected " << (stream ? "connection" : "datagram") << " from "
        << peer.to_string() << " (" << link.name << (why.empty() ? "" : ": ") << why << "); "
        << since << " rejected by " << link.name << " since the last report, " << total
        << " in all";
}

std::uint64_t VerifyChain::rejected(std::string_view name) const {
    for (const auto* links : {&links_, &stages_}) {
        for (const auto& link : *links) {
            if (link->name == name) {
                return link->rejected.load();
            }
        }
    }
    return 0;
}

Admission& Admission::operator=(Admission&& other) noexcept {
    if (this != &other) {
        release();
        chain_ = std::move(other.chain_);
        other.chain_.reset();
        peer_ = std::move(other.peer_);
        admitted_ = other.admitted_;
        traffic_ = other.traffic_;
    }
    return *this;
}

void Admission::release() {
    if (chain_) {
        const auto chain = std::move(chain_);
        chain_.reset();
        traffic_->subtract(metrics::active);
        chain->release(peer_, admitted_);
    }
}

}  // namespace netd
