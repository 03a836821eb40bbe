#pragma once
// The validated, immutable configuration snapshot. It is built once from a RawConfig (the strings
// read from the INI file and the command line); everything downstream takes these structs, never
// strings.

#include <sys/types.h>

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/values.hpp"

namespace netd::config {

/// One configurable key: its name, default and meaning; the same rows drive parsing and --help.
struct KeySpec {
    std::string_view name;
    std::string_view default_value;
    std::string_view help;
};

/// The origin named in errors about settings given as --section.key flags.
inline constexpr std::string_view command_line_origin = "command line";

/// A value as read, with where it came from so that an error can name the place.
struct Setting {
    std::string value;
    std::string origin;  ///< the config file's path, or command_line_origin
};

/// Section name -> key -> setting, in the order sections first appeared.
struct RawConfig {
    std::string file;  ///< the config file's path ("" when none was read)
    std::vector<std::string> section_order;
    std::map<std::string, std::map<std::string, Setting>> sections;

    /// Adds or replaces a value; a later source (the command line) wins over an earlier one.
    void set(const std::string& section, const std::string& key, Setting setting);
};

/// A configuration that cannot be used. what() is the whole one-line message:
/// "<origin>: [section] key: reason" (or "<origin>: reason" when no key is at fault).
class ConfigError : public std::runtime_error {
  public:
    ConfigError(std::string_view origin, std::string_view section, std::string_view key,
                std::string_view reason);
    explicit ConfigError(const std::string& message) : std::runtime_error(message) {}
};

/// A bad value of one key of a section, found by code that knows the key but not the section
/// (a handler's factory, a handler's start): the caller names file and section.
class KeyError : public ValueError {
  public:
    KeyError(std::string_view key, const std::string& reason) : ValueError(reason), key_(key) {}
    const std::string& key() const { return key_; }

  private:
    std::string key_;
};

enum class Mode { strand, pool, fork };
/// Which PROXY protocol headers a service's stream connections from its balancers begin with.
enum class ProxyProtocol : std::uint8_t { off, v1, v2, any };
enum class LogLevel { trace, debug, info, warning, error };

struct LogTarget {
    enum class Kind { console, syslog, journal, file } kind = Kind::console;
    std::string path;  ///< for Kind::file
};

struct ServerConfig {
    Mode mode = Mode::strand;
    unsigned threads = 0;  ///< pool: 0 = one per core
    unsigned max_children = 256;
    std::uint64_t max_connections = 10000;
    std::chrono::seconds shutdown_timeout{10};
    std::string user;
    std::string group;
    LogLevel log_level = LogLevel::info;
    LogTarget log_target;
    std::string include_dir;  ///< read by the reader; kept for --check-config and reload
    /// SIGTERM: how long netd goes on serving, not ready, before it drains (a balancer's health
    /// checks take it out of rotation meanwhile).
    std::chrono::seconds drain_delay{0};
    /// Listeners set SO_REUSEPORT: several netd processes of one user share their addresses.
    bool reuseport = false;
};

/// The socket files netd creates for a service's unix and unixgram listeners, set up as systemd's
/// SocketMode=, SocketUser= and SocketGroup= do; what is unset stays as bind() made it (the
/// umask's mode, netd's own user and group).
struct UnixSocketAccess {
    std::optional<mode_t> mode;  ///< unix_mode
    std::optional<uid_t> owner;  ///< unix_owner
    std::optional<gid_t> group;  ///< unix_group

    bool operator==(const UnixSocketAccess&) const = default;
};

/// The oldest TLS version a tls listener accepts.
enum class TlsVersion { v1_2, v1_3 };

/// A service's TLS keys (SPEC 9): what the handshakes of its tls listeners use. The files are
/// read when the service is made (at start, and on every reload), not here.
struct TlsSettings {
    std::string cert;  ///< tls_cert: PEM certificate, then the chain up to (not including) the root
    std::string key;   ///< tls_key: PEM private key of cert
    std::string ca;    ///< tls_ca: PEM CA certificates; set: clients must present one they signed
    TlsVersion min_version = TlsVersion::v1_2;
    std::chrono::seconds timeout{10};  ///< tls_timeout: the whole handshake's deadline

    bool operator==(const TlsSettings&) const = default;
};

struct ServiceConfig {
    std::string name;
    std::string handler;
    std::vector<boost::asio::ip::tcp::endpoint> tcp;
    std::vector<boost::asio::ip::tcp::endpoint> tls;  ///< TLS over TCP, same shape as tcp
    std::vector<boost::asio::ip::tcp::endpoint> udp;  ///< same address/port shape as tcp
    std::vector<std::string> unix_stream;
    std::vector<std::string> unix_datagram;
    std::vector<Cidr> allow;
    std::vector<Cidr> deny;
    std::uint64_t max_connections = 1000;
    std::uint64_t max_per_source = 0;
    std::uint64_t rate = 0;
    std::chrono::seconds idle_timeout{60};
    std::size_t max_line = 8192;
    std::uint16_t udp_min_source_port = 1024;
    std::vector<std::string> verify;  ///< custom verifiers, by registered name
    bool log_connections = false;     ///< a log line for each stream connection that ends
    UnixSocketAccess unix_access;
    ProxyProtocol proxy_protocol = ProxyProtocol::off;
    std::vector<Cidr> proxy_from;  ///< the balancers that send PROXY headers
    std::chrono::seconds proxy_timeout{3};
    TlsSettings tls_settings;
    /// The handler's own keys with defaults filled in; the handler's factory turns them into its
    /// typed options (and has already accepted them once, during validation).
    std::map<std::string, std::string, std::less<>> options;

    /// Where each key's value came from, for errors found after validation (a port in use).
    std::map<std::string, std::string, std::less<>> origins;

    /// The error message for a problem with this service's key.
    ConfigError error(std::string_view key, std::string_view reason) const;
};

struct Config {
    std::string file;
    ServerConfig server;
    std::vector<ServiceConfig> services;
    /// Every key with its effective value, by section, for --check-config.
    std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> effective;
};

/// A handler as the configuration knows it: the handler table (handlers/registry) describes each.
struct HandlerKind {
    std::string_view name;
    std::string_view summary;
    bool stream = true;             ///< serves tcp, unix and tls listeners
    bool datagram = true;           ///< serves udp and unixgram listeners
    std::span<const KeySpec> keys;  ///< its own keys, beside the common service keys
    /// Checks the handler's own keys of a service; throws KeyError for a bad one.
    std::function<void(const ServiceConfig&)> check;
};

/// A custom verifier as the configuration knows it (`verify = NAME`).
struct VerifierKind {
    std::string_view name;
    std::string_view summary;
};

/// The names a configuration may use, from the layers above config: it knows handlers and
/// verifiers only through this.
struct Catalog {
    std::vector<HandlerKind> handlers;
    std::vector<VerifierKind> verifiers;
    /// Checks a service's TLS keys by reading the files they name (a service with tls listeners,
    /// or one that socket activation passes sockets to, with tls_cert set); throws KeyError for
    /// the key at fault. Unset: the files are not read during validation.
    std::function<void(const ServiceConfig&)> check_tls;
};

/// The services the service manager passes listening sockets to (socket activation): they need
/// no listener of their own.
using PassedServices = std::set<std::string, std::less<>>;

/// Validates raw settings into a Config, with the handlers and verifiers of catalog; throws
/// ConfigError naming the first problem.
std::shared_ptr<const Config> build_config(const RawConfig& raw, const Catalog& catalog,
                                           const PassedServices& passed = {});

/// The effective configuration as an INI file that netd would read back unchanged.
void print_effective(std::ostream& out, const Config& config);

/// The keys of [server], and those every service has, in the order --help and the manual list
/// them (the tables build_config reads by).
std::vector<KeySpec> server_keys();
std::vector<KeySpec> service_keys();

/// Every key with its default and meaning, the catalog's handlers' own keys included; a default
/// and its meaning are at least two spaces apart (the manual's test reads them back).
void print_key_help(std::ostream& out, const Catalog& catalog);

std::string_view to_string(Mode mode);
std::string_view to_string(ProxyProtocol versions);
std::string_view to_string(LogLevel level);
std::string_view to_string(TlsVersion version);
std::ostream& operator<<(std::ostream& out, Mode mode);
std::ostream& operator<<(std::ostream& out, LogLevel level);

}  // namespace netd::config
