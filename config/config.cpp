#include "config/config.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <ostream>
#include <set>

namespace netd::config {

namespace {

/// One row of a key table: the key's documentation and how its text lands in the typed struct.
template <class Target>
struct KeyRow {
    KeySpec spec;
    void (*apply)(Target& target, std::string_view value);
};

Mode parse_mode(std::string_view text) {
    if (text == "strand") {
        return Mode::strand;
    }
    if (text == "pool") {
        return Mode::pool;
    }
    if (text == "fork") {
        return Mode::fork;
    }
    throw ValueError("'" + std::string(text) + "' is not a mode (strand, pool or fork)");
}

ProxyProtocol parse_proxy_protocol(std::string_view text) {
    for (const auto versions :
         {ProxyProtocol::off, ProxyProtocol::v1, ProxyProtocol::v2, ProxyProtocol::any}) {
        if (text == to_string(versions)) {
            return versions;
        }
    }
    throw ValueError("'" + std::string(text) + "' is not off, v1, v2 or any");
}

LogLevel parse_log_level(std::string_view text) {
    static constexpr std::array<std::pair<std::string_view, LogLevel>, 5> levels{{
        {"trace", LogLevel::trace},
        {"debug", LogLevel::debug},
        {"info", LogLevel::info},
        {"warning", LogLevel::warning},
        {"error", LogLevel::error},
    }};
    for (const auto& [name, level] : levels) {
        if (name == text) {
            return level;
        }
    }
    throw ValueError("'" + std::string(text) +
                     "' is not a log level (trace, debug, info, warning or error)");
}

LogTarget parse_log_target(std::string_view text) {
    if (text == "console") {
        return {};
    }
    if (text == "syslog") {
        return {.kind = LogTarget::Kind::syslog, .path = {}};
    }
    if (text == "journal") {
        return {.kind = LogTarget::Kind::journal, .path = {}};
    }
    if (text.starts_with("file:")) {
        const auto path = text.substr(5);
        if (path.empty() || path.front() != '/') {
            throw ValueError("'" + std::string(text) + "' needs an absolute path (file:/PATH)");
        }
        return {.kind = LogTarget::Kind::file, .path = std::string(path)};
    }
    throw ValueError("'" + std::string(text) +
                     "' is not a log target (console, syslog, journal or file:PATH)");
}

/// The user named text, by id; none for an empty text.
std::optional<uid_t> parse_user_id(std::string_view text) {
    const std::string name(trim(text));
    if (name.empty()) {
        return std::nullopt;
    }
    const passwd* entry = ::getpwnam(name.c_str());
    if (entry == nullptr) {
        throw ValueError("no such user '" + name + "'");
    }
    return entry->pw_uid;
}

/// The group named text, by id; none for an empty text.
std::optional<gid_t> parse_group_id(std::string_view text) {
    const std::string name(trim(text));
    if (name.empty()) {
        return std::nullopt;
    }
    const ::group* entry = ::getgrnam(name.c_str());
    if (entry == nullptr) {
        throw ValueError("no such group '" + name + "'");
    }
    return entry->gr_gid;
}

std::string parse_user(std::string_view text) {
    parse_user_id(text);  // throws for an unknown name
    return std::string(trim(text));
}

std::string parse_group(std::string_view text) {
    parse_group_id(text);  // throws for an unknown name
    return std::string(trim(text));
}

/// An octal permission mode, 0 to 0777 (a socket has no use for setuid, setgid or sticky
/// bits); none for an empty text.
std::optional<mode_t> parse_file_mode(std::string_view text) {
    const std::string_view digits = trim(text);
    if (digits.empty()) {
        return std::nullopt;
    }
    const auto bad = [&] {
        return ValueError("'" + std::string(digits) +
                          "' is not an octal mode from 0000 to 0777 (such as 0660)");
    };
    if (digits.size() > 4 || digits.find_first_not_of("01234567") != std::string_view::npos) {
        throw bad();
    }
    mode_t mode = 0;
    for (const char digit : digits) {
        mode = mode * 8 + static_cast<mode_t>(digit - '0');
    }
    if (mode > 0777) {
        throw bad();
    }
    return mode;
}

std::vector<std::string> parse_unix_paths(std::string_view text) {
    auto paths = parse_list(text);
    for (const auto& path : paths) {
        if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
            throw ValueError("'" + path + "' is longer than a Unix socket path may be (" +
                             std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");
        }
    }
    return paths;
}

TlsVersion parse_tls_version(std::string_view text) {
    if (text == "1.2") {
        return TlsVersion::v1_2;
    }
    if (text == "1.3") {
        return TlsVersion::v1_3;
    }
    throw ValueError("'" + std::string(text) + "' is not a TLS version netd offers (1.2 or 1.3)");
}

std::vector<boost::asio::ip::tcp::endpoint> parse_endpoints(std::string_view text) {
    std::vector<boost::asio::ip::tcp::endpoint> endpoints;
    for (const auto& item : parse_list(text)) {
        endpoints.push_back(parse_endpoint(item));
    }
    return endpoints;
}

std::vector<Cidr> parse_cidrs(std::string_view text) {
    std::vector<Cidr> blocks;
    for (const auto& item : parse_list(text)) {
        blocks.push_back(parse_cidr(item));
    }
    return blocks;
}

/// "a, b, c" of the names in a catalog's list, or "none".
template <class Kinds>
std::string names_of(const Kinds& kinds) {
    std::string names;
    for (const auto& kind : kinds) {
        names += (names.empty() ? "" : ", ") + std::string(kind.name);
    }
    return names.empty() ? "none" : names;
}

/// The catalog's entry named name, or nullptr.
template <class Kinds>
auto find_kind(const Kinds& kinds, std::string_view name) -> decltype(&kinds.front()) {
    const auto found = std::find_if(kinds.begin(), kinds.end(),
                                    [&](const auto& kind) { return kind.name == name; });
    return found == kinds.end() ? nullptr : &*found;
}

constexpr std::uint64_t max_count = 100'000'000;
constexpr std::uint64_t max_seconds = 86'400ULL * 365;

// clang-format off
const std::array server_table{
    KeyRow<ServerConfig>{{"mode", "strand", "strand | pool | fork: how connections are scheduled"},
        [](ServerConfig& c, std::string_view v) { c.mode = parse_mode(v); }},
    KeyRow<ServerConfig>{{"threads", "0", "pool: worker threads, 0 = one per core"},
        [](ServerConfig& c, std::string_view v) { c.threads = static_cast<unsigned>(parse_unsigned(v, 0, 1024)); }},
    KeyRow<ServerConfig>{{"max_children", "256", "fork: live children at most; accepting pauses at the limit"},
        [](ServerConfig& c, std::string_view v) { c.max_children = static_cast<unsigned>(parse_unsigned(v, 1, 100000)); }},
    KeyRow<ServerConfig>{{"max_connections", "10000", "connections at most, all services together"},
        [](ServerConfig& c, std::string_view v) { c.max_connections = parse_unsigned(v, 1, max_count); }},
    KeyRow<ServerConfig>{{"shutdown_timeout", "10", "seconds to drain on SIGTERM before connections are closed"},
        [](ServerConfig& c, std::string_view v) { c.shutdown_timeout = std::chrono::seconds(parse_unsigned(v, 0, max_seconds)); }},
    KeyRow<ServerConfig>{{"user", "", "drop to this user after binding; needs root"},
        [](ServerConfig& c, std::string_view v) { c.user = parse_user(v); }},
    KeyRow<ServerConfig>{{"group", "", "drop to this group after binding; needs root"},
        [](ServerConfig& c, std::string_view v) { c.group = parse_group(v); }},
    KeyRow<ServerConfig>{{"log_level", "info", "trace | debug | info | warning | error"},
        [](ServerConfig& c, std::string_view v) { c.log_level = parse_log_level(v); }},
    KeyRow<ServerConfig>{{"log_target", "console", "console | syslog | journal | file:PATH"},
        [](ServerConfig& c, std::string_view v) { c.log_target = parse_log_target(v); }},
    KeyRow<ServerConfig>{{"include_dir", "", "a directory whose *.ini files are read after this file, in name order; empty = none"},
        [](ServerConfig& c, std::string_view v) { c.include_dir = std::string(trim(v)); }},
    KeyRow<ServerConfig>{{"drain_delay", "0", "seconds netd serves on, not ready (/readyz 503), after SIGTERM before it drains"},
        [](ServerConfig& c, std::string_view v) { c.drain_delay = std::chrono::seconds(parse_unsigned(v, 0, 3600)); }},
    KeyRow<ServerConfig>{{"reuseport", "false", "listeners set SO_REUSEPORT: several netd processes of one user share the addresses"},
        [](ServerConfig& c, std::string_view v) { c.reuseport = parse_bool(v); }},
};

const std::array service_table{
    KeyRow<ServiceConfig>{{"handler", "", "registered handler name; defaults to the section name"},
        [](ServiceConfig&, std::string_view) {}},
    KeyRow<ServiceConfig>{{"tcp", "", "comma-separated HOST:PORT list, [::1]:PORT for IPv6, port 0 = any free port"},
        [](ServiceConfig& c, std::string_view v) { c.tcp = parse_endpoints(v); }},
    KeyRow<ServiceConfig>{{"tls", "", "comma-separated HOST:PORT list of TLS listeners (needs tls_cert and tls_key)"},
        [](ServiceConfig& c, std::string_view v) { c.tls = parse_endpoints(v); }},
    KeyRow<ServiceConfig>{{"udp", "", "comma-separated HOST:PORT list for datagrams"},
        [](ServiceConfig& c, std::string_view v) { c.udp = parse_endpoints(v); }},
    KeyRow<ServiceConfig>{{"unix", "", "Unix stream socket paths"},
        [](ServiceConfig& c, std::string_view v) { c.unix_stream = parse_unix_paths(v); }},
    KeyRow<ServiceConfig>{{"unixgram", "", "Unix datagram socket paths"},
        [](ServiceConfig& c, std::string_view v) { c.unix_datagram = parse_unix_paths(v); }},
    KeyRow<ServiceConfig>{{"allow", "", "CIDRs allowed to connect; empty = everyone"},
        [](ServiceConfig& c, std::string_view v) { c.allow = parse_cidrs(v); }},
    KeyRow<ServiceConfig>{{"deny", "", "CIDRs refused; deny wins over allow"},
        [](ServiceConfig& c, std::string_view v) { c.deny = parse_cidrs(v); }},
    KeyRow<ServiceConfig>{{"max_connections", "1000", "connections at most for this service"},
        [](ServiceConfig& c, std::string_view v) { c.max_connections = parse_unsigned(v, 1, max_count); }},
    KeyRow<ServiceConfig>{{"max_per_source", "0", "concurrent connections from one address; 0 = off"},
        [](ServiceConfig& c, std::string_view v) { c.max_per_source = parse_unsigned(v, 0, max_count); }},
    KeyRow<ServiceConfig>{{"rate", "0", "new connections or datagrams per second per source address; 0 = off"},
        [](ServiceConfig& c, std::string_view v) { c.rate = parse_unsigned(v, 0, max_count); }},
    KeyRow<ServiceConfig>{{"idle_timeout", "60", "seconds without input before a connection is closed; 0 = never"},
        [](ServiceConfig& c, std::string_view v) { c.idle_timeout = std::chrono::seconds(parse_unsigned(v, 0, max_seconds)); }},
    KeyRow<ServiceConfig>{{"verify", "", "custom verifiers, by registered name, after acl and udp_guard"},
        [](ServiceConfig& c, std::string_view v) { c.verify = parse_list(v); }},
    KeyRow<ServiceConfig>{{"max_line", "8192", "line-based handlers: longest accepted line or message, bytes"},
        [](ServiceConfig& c, std::string_view v) { c.max_line = parse_unsigned(v, 16, 16ULL * 1024 * 1024); }},
    KeyRow<ServiceConfig>{{"udp_min_source_port", "1024", "UDP: drop datagrams from lower source ports; 0 = off"},
        [](ServiceConfig& c, std::string_view v) { c.udp_min_source_port = static_cast<std::uint16_t>(parse_unsigned(v, 0, 65535)); }},
    KeyRow<ServiceConfig>{{"log_connections", "false", "a log line for each stream connection that ends: peer, duration, bytes, how"},
        [](ServiceConfig& c, std::string_view v) { c.log_connections = parse_bool(v); }},
    KeyRow<ServiceConfig>{{"unix_mode", "", "octal mode of the unix and unixgram socket files netd creates (0666 for a /dev/log); empty = the umask's"},
        [](ServiceConfig& c, std::string_view v) { c.unix_access.mode = parse_file_mode(v); }},
    KeyRow<ServiceConfig>{{"unix_owner", "", "user owning those socket files; needs root; empty = netd's"},
        [](ServiceConfig& c, std::string_view v) { c.unix_access.owner = parse_user_id(v); }},
    KeyRow<ServiceConfig>{{"unix_group", "", "group owning those socket files; empty = netd's"},
        [](ServiceConfig& c, std::string_view v) { c.unix_access.group = parse_group_id(v); }},
    KeyRow<ServiceConfig>{{"proxy_protocol", "off", "off | v1 | v2 | any: tcp and tls connections from proxy_from begin with a PROXY protocol header"},
        [](ServiceConfig& c, std::string_view v) { c.proxy_protocol = parse_proxy_protocol(trim(v)); }},
    KeyRow<ServiceConfig>{{"proxy_from", "", "CIDRs of the balancers that send PROXY headers; needed with proxy_protocol"},
        [](ServiceConfig& c, std::string_view v) { c.proxy_from = parse_cidrs(v); }},
    KeyRow<ServiceConfig>{{"proxy_timeout", "3", "seconds a connection has to send its whole PROXY header"},
        [](ServiceConfig& c, std::string_view v) { c.proxy_timeout = std::chrono::seconds(parse_unsigned(v, 1, 3600)); }},
    KeyRow<ServiceConfig>{{"tls_cert", "", "PEM file: the tls listeners' certificate, then its chain; read at start and on SIGHUP"},
        [](ServiceConfig& c, std::string_view v) { c.tls_settings.cert = std::string(trim(v)); }},
    KeyRow<ServiceConfig>{{"tls_key", "", "PEM file: tls_cert's private key (unencrypted)"},
        [](ServiceConfig& c, std::string_view v) { c.tls_settings.key = std::string(trim(v)); }},
    KeyRow<ServiceConfig>{{"tls_ca", "", "PEM file of CA certificates; set: clients must present a certificate one of them signed"},
        [](ServiceConfig& c, std::string_view v) { c.tls_settings.ca = std::string(trim(v)); }},
    KeyRow<ServiceConfig>{{"tls_min_version", "1.2", "1.2 | 1.3: the oldest TLS version accepted"},
        [](ServiceConfig& c, std::string_view v) { c.tls_settings.min_version = parse_tls_version(v); }},
    KeyRow<ServiceConfig>{{"tls_timeout", "10", "seconds a client has to complete the TLS handshake"},
        [](ServiceConfig& c, std::string_view v) { c.tls_settings.timeout = std::chrono::seconds(parse_unsigned(v, 1, 3600)); }},
};
// clang-format on

template <class Table>
auto find_row(const Table& table, std::string_view key) {
    return std::find_if(table.begin(), table.end(),
                        [&](const auto& row) { return row.spec.name == key; });
}

bool valid_service_name(std::string_view name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

/// Reads one section's keys through a table, then reports keys the table and `extra` do not know.
class SectionReader {
  public:
    SectionReader(const RawConfig& raw, std::string section, std::string_view fallback_origin)
        : section_(std::move(section)), fallback_origin_(fallback_origin) {
        const auto found = raw.sections.find(section_);
        if (found != raw.sections.end()) {
            settings_ = &found->second;
        }
    }

    /// The key's text (its default when unset) and where it came from.
    std::pair<std::string, std::string> get(std::string_view key, std::string_view fallback) {
        used_.insert(std::string(key));
        if (settings_ != nullptr) {
            const auto found = settings_->find(std::string(key));
            if (found != settings_->end()) {
                return {found->second.value, found->second.origin};
            }
        }
        return {std::string(fallback), std::string(fallback_origin_)};
    }

    template <class Target, std::size_t N>
    void apply(const std::array<KeyRow<Target>, N>& table, Target& target,
               std::vector<std::pair<std::string, std::string>>& effective) {
        for (const auto& row : table) {
            const auto [value, origin] = get(row.spec.name, row.spec.default_value);
            try {
                row.apply(target, value);
            } catch (const ValueError& e) {
                throw ConfigError(origin, section_, row.spec.name, e.what());
            }
            effective.emplace_back(row.spec.name, value);
        }
    }

    /// Throws for the first key nobody asked for.
    void reject_unknown(std::string_view hint) const {
        if (settings_ == nullptr) {
            return;
        }
        for (const auto& [key, setting] : *settings_) {
            if (!used_.contains(key)) {
                throw ConfigError(setting.origin, section_, key, "unknown key" + std::string(hint));
            }
        }
    }

    const std::string& section() const { return section_; }
    std::string_view fallback_origin() const { return fallback_origin_; }
    /// The file the section is in (one file defines a section: the main one or one of
    /// include_dir's), for an error about the section as a whole; the main file when only the
    /// command line set its keys.
    std::string_view origin() const {
        if (settings_ != nullptr) {
            for (const auto& [key, setting] : *settings_) {
                if (setting.origin != command_line_origin) {
                    return setting.origin;
                }
            }
        }
        return fallback_origin_;
    }

  private:
    std::string section_;
    std::string_view fallback_origin_;
    const std::map<std::string, Setting>* settings_ = nullptr;
    std::set<std::string> used_;
};

/// A service's TLS keys together: a tls listener needs a certificate and its key, TLS keys without
/// a tls listener would do nothing (unless socket activation may pass one), and the files are
/// read (catalog.check_tls) so that a bad one is an error now rather than at the first client.
void check_tls_keys(const ServiceConfig& service, bool passed, const Catalog& catalog) {
    const auto& tls = service.tls_settings;
    if (service.tls.empty() && !passed) {
        // Set means other than the default (--check-config prints every key, defaults too).
        const TlsSettings defaults;
        for (const auto& [key, set] : {std::pair{"tls_cert", !tls.cert.empty()},
                                       {"tls_key", !tls.key.empty()},
                                       {"tls_ca", !tls.ca.empty()},
                                       {"tls_min_version", tls.min_version != defaults.min_version},
                                       {"tls_timeout", tls.timeout != defaults.timeout}}) {
            if (set) {
                throw service.error(key,
                                    "is for tls listeners, and this service has none (set tls)");
            }
        }
        return;
    }
    if (service.tls.empty() && tls.cert.empty() && tls.key.empty()) {
        return;  // sockets passed to it may be plain ones only
    }
    if (tls.cert.empty()) {
        throw service.error("tls_cert",
                            "is required for tls listeners: the PEM file of the certificate");
    }
    if (tls.key.empty()) {
        throw service.error("tls_key",
                            "is required for tls listeners: the PEM file of the private key");
    }
    if (catalog.check_tls) {
        try {
            catalog.check_tls(service);
        } catch (const KeyError& e) {
            throw service.error(e.key(), e.what());
        }
    }
}

}  // namespace

void RawConfig::set(const std::string& section, const std::string& key, Setting setting) {
    if (!sections.contains(section)) {
        section_order.push_back(section);
    }
    sections[section][key] = std::move(setting);
}

ConfigError::ConfigError(std::string_view origin, std::string_view section, std::string_view key,
                         std::string_view reason)
    : std::runtime_error(std::string(origin) + ": [" + std::string(section) + "] " +
                         std::string(key) + (key.empty() ? "" : ": ") + std::string(reason)) {}

ConfigError ServiceConfig::error(std::string_view key, std::string_view reason) const {
    const auto found = origins.find(key);
    return {found == origins.end() ? std::string_view("config") : found->second, name, key, reason};
}

std::shared_ptr<const Config> build_config(const RawConfig& raw, const Catalog& catalog,
                                           const PassedServices& passed) {
    auto config = std::make_shared<Config>();
    config->file = raw.file;
    const std::string_view fallback = raw.file.empty() ? command_line_origin : raw.file;

    SectionReader server(raw, "server", fallback);
    auto& server_effective =
        config->effective.emplace_back("server", std::vector<std::pair<std::string, std::string>>{})
            .second;
    server.apply(server_table, config->server, server_effective);
    server.reject_unknown("");

    std::set<std::string> seen_paths;
    for (const auto& name : raw.section_order) {
        if (name == "server") {
            continue;
        }
        SectionReader section(raw, name, fallback);
        if (!valid_service_name(name)) {
            throw ConfigError(std::string(section.origin()) + ": [" + name +
                              "]: a service name uses only letters, digits, '_' and '-' "
                              "(64 at most)");
        }
        ServiceConfig service;
        service.name = name;
        auto [handler_name, handler_origin] = section.get("handler", name);
        const auto* spec = find_kind(catalog.handlers, handler_name);
        if (spec == nullptr) {
            throw ConfigError(handler_origin, name, "handler",
                              "unknown handler '" + handler_name +
                                  "' (known: " + names_of(catalog.handlers) + ")");
        }
        service.handler = handler_name;
        auto& effective =
            config->effective.emplace_back(name, std::vector<std::pair<std::string, std::string>>{})
                .second;
        section.apply(service_table, service, effective);
        effective.front().second = handler_name;
        for (const auto& key : spec->keys) {
            auto [value, origin] = section.get(key.name, key.default_value);
            service.options.emplace(std::string(key.name), value);
            service.origins.emplace(std::string(key.name), origin);
            effective.emplace_back(key.name, value);
        }
        section.reject_unknown(" (neither a service key nor one of handler '" + handler_name +
                               "')");
        for (const auto& row : service_table) {
            service.origins.emplace(std::string(row.spec.name),
                                    std::string(section.get(row.spec.name, "").second));
        }

        if (service.tcp.empty() && service.udp.empty() && service.unix_stream.empty() &&
            service.unix_datagram.empty() && service.tls.empty() && !passed.contains(name)) {
            throw ConfigError(section.origin(), name, "",
                              "no listener: set at least one of tcp, udp, unix, unixgram, tls "
                              "(or pass one by socket activation)");
        }
        if (!spec->stream &&
            (!service.tcp.empty() || !service.unix_stream.empty() || !service.tls.empty())) {
            throw service.error(!service.tcp.empty()   ? "tcp"
                                : !service.tls.empty() ? "tls"
                                                       : "unix",
                                "handler '" + handler_name + "' does not serve streams");
        }
        if (!spec->datagram && (!service.udp.empty() || !service.unix_datagram.empty())) {
            throw service.error(service.udp.empty() ? "unixgram" : "udp",
                                "handler '" + handler_name + "' does not serve datagrams");
        }
        if (service.unix_stream.empty() && service.unix_datagram.empty()) {
            // A key that would do nothing hides a mistake (a key in the wrong section, a
            // listener left out); a passed socket's file is made by the service manager.
            for (const auto& [key, set] :
                 {std::pair{"unix_mode", service.unix_access.mode.has_value()},
                  {"unix_owner", service.unix_access.owner.has_value()},
                  {"unix_group", service.unix_access.group.has_value()}}) {
                if (set) {
                    throw service.error(
                        key,
                        "is for the socket files of unix and unixgram listeners, and "
                        "this service has none (a passed socket is set up by its "
                        "unit: SocketMode=, SocketUser=, SocketGroup=)");
                }
            }
        }
        if (service.proxy_protocol != ProxyProtocol::off) {
            // A header only ever comes from a balancer on a TCP connection (before TLS, on a
            // tls listener): datagrams carry none, and a Unix client is named by the kernel,
            // not by its bytes.
            for (const auto& [key, used] : {std::pair{"udp", !service.udp.empty()},
                                            {"unix", !service.unix_stream.empty()},
                                            {"unixgram", !service.unix_datagram.empty()}}) {
                if (used) {
                    throw service.error("proxy_protocol",
                                        std::string("is for tcp and tls listeners, and this "
                                                    "service has ") +
                                            key +
                                            " listeners too: give them a section of their own");
                }
            }
            if (service.proxy_from.empty()) {
                throw service.error("proxy_from",
                                    "is needed with proxy_protocol: the addresses of the balancers "
                                    "(a header from anyone else would let a client pick its "
                                    "address)");
            }
        } else if (!service.proxy_from.empty()) {
            throw service.error("proxy_from", "does nothing with proxy_protocol = off");
        }
        for (const auto* key : {"unix", "unixgram"}) {
            const auto& paths =
                std::string_view(key) == "unix" ? service.unix_stream : service.unix_datagram;
            for (const auto& path : paths) {
                if (!seen_paths.insert(path).second) {
                    throw service.error(key, "'" + path + "' is used by another listener");
                }
            }
        }
        for (const auto& verifier : service.verify) {
            if (find_kind(catalog.verifiers, verifier) == nullptr) {
                throw service.error("verify", "unknown verifier '" + verifier + "' (registered: " +
                                                  names_of(catalog.verifiers) + ")");
            }
        }
        try {
            spec->check(service);
        } catch (const KeyError& e) {
            throw service.error(e.key(), e.what());
        }
        check_tls_keys(service, passed.contains(name), catalog);
        config->services.push_back(std::move(service));
    }
    return config;
}

void print_effective(std::ostream& out, const Config& config) {
    if (!config.file.empty()) {
        out << "# effective configuration of " << config.file << "\n";
    }
    for (const auto& [section, keys] : config.effective) {
        out << "\n[" << section << "]\n";
        for (const auto& [key, value] : keys) {
            if (section == "server" && key == "include_dir" && !value.empty()) {
                // Its files' sections are printed below, with the others: read back, the
                // directory would define them twice.
                out << "# include_dir = " << value << " (its sections are below)\n";
                out << key << " =\n";
                continue;
            }
            out << key << " =" << (value.empty() ? "" : " ") << value << "\n";
        }
    }
}

namespace {

template <class Table>
std::vector<KeySpec> specs_of(const Table& table) {
    std::vector<KeySpec> specs;
    specs.reserve(table.size());
    for (const auto& row : table) {
        specs.push_back(row.spec);
    }
    return specs;
}

}  // namespace

std::vector<KeySpec> server_keys() {
    return specs_of(server_table);
}

std::vector<KeySpec> service_keys() {
    return specs_of(service_table);
}

void print_key_help(std::ostream& out, const Catalog& catalog) {
    const auto row = [&out](const KeySpec& spec) {
        std::string left = "  " + std::string(spec.name) + " = " + std::string(spec.default_value);
        left.resize(std::max<std::size_t>(left.size() + 2, 30), ' ');
        out << left << spec.help << "\n";
    };
    out << "[server]\n";
    for (const auto& key : server_keys()) {
        row(key);
    }
    out << "\n[SERVICE]  (any other section is a service; its name is free)\n";
    for (const auto& key : service_keys()) {
        row(key);
    }
    out << "\nHandlers (handler = NAME) and their own keys:\n";
    for (const auto& spec : catalog.handlers) {
        out << "  " << spec.name << ": " << spec.summary << "\n";
        for (const auto& key : spec.keys) {
            out << "  ";
            row(key);
        }
    }
    if (!catalog.verifiers.empty()) {
        out << "\nCustom verifiers (verify = NAME, ...):\n";
        for (const auto& verifier : catalog.verifiers) {
            out << "  " << verifier.name << ": " << verifier.summary << "\n";
        }
    }
}

std::string_view to_string(Mode mode) {
    switch (mode) {
        case Mode::strand:
            return "strand";
        case Mode::pool:
            return "pool";
        case Mode::fork:
            return "fork";
    }
    return "?";
}

std::string_view to_string(ProxyProtocol versions) {
    switch (versions) {
        case ProxyProtocol::off:
            return "off";
        case ProxyProtocol::v1:
            return "v1";
        case ProxyProtocol::v2:
            return "v2";
        case ProxyProtocol::any:
            return "any";
    }
    return "?";
}

std::string_view to_string(LogLevel level) {
    switch (level) {
        case LogLevel::trace:
            return "trace";
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warning:
            return "warning";
        case LogLevel::error:
            return "error";
    }
    return "?";
}

std::string_view to_string(TlsVersion version) {
    return version == TlsVersion::v1_3 ? "1.3" : "1.2";
}

std::ostream& operator<<(std::ostream& out, Mode mode) {
    return out << to_string(mode);
}
std::ostream& operator<<(std::ostream& out, LogLevel level) {
    return out << to_string(level);
}

}  // namespace netd::config
