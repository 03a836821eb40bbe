#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/reader.hpp"
#include "daemon/catalog.hpp"
#include "handlers/registry.hpp"
#include "test/unit/temp_files.hpp"

using namespace netd::config;
namespace ip = boost::asio::ip;

namespace {

/// A config file in a fresh temporary directory, removed again at the end of the test.
class TempIni {
  public:
    explicit TempIni(const std::string& text) {
        static int counter = 0;
        dir_ = std::filesystem::temp_directory_path() /
               ("netd-unit-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / "netd.ini").string();
        std::ofstream(path_) << text;
    }
    ~TempIni() { std::filesystem::remove_all(dir_); }
    const std::string& path() const { return path_; }

  private:
    std::filesystem::path dir_;
    std::string path_;
};

/// Runs the command-line reader on args (argv[0] is added).
CommandLine read(std::vector<std::string> args) {
    args.insert(args.begin(), "netd");
    std::vector<const char*> argv;
    for (const auto& arg : args) {
        argv.push_back(arg.c_str());
    }
    return read_command_line(static_cast<int>(argv.size()), argv.data());
}

std::shared_ptr<const Config> load(const std::string& ini, std::vector<std::string> args = {}) {
    TempIni file(ini);
    args.insert(args.begin(), "--config=" + file.path());
    return build_config(read(args).raw, netd::catalog());
}

/// The ConfigError message a config produces; fails the test when it loads.
std::string error_of(const std::string& ini, std::vector<std::string> args = {}) {
    TempIni file(ini);
    args.insert(args.begin(), "--config=" + file.path());
    try {
        build_config(read(args).raw, netd::catalog());
    } catch (const ConfigError& e) {
        std::string message = e.what();
        // Name the file generically so expectations do not depend on the temp path.
        const auto at = message.find(file.path());
        if (at != std::string::npos) {
            message.replace(at, file.path().size(), "FILE");
        }
        return message;
    }
    BOOST_FAIL("the config was accepted");
    return {};
}

const std::string echo_ini = "[echo]\ntcp = 127.0.0.1:7007\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(config_reading)

BOOST_AUTO_TEST_CASE(a_line_that_is_not_ini_is_named_by_number) {
    // Found by fuzz/config_fuzz.cpp: Program_options never finished formatting its message for
    // a line holding its own placeholder.
    BOOST_TEST(error_of("[echo]\ntcp = 127.0.0.1:7\n%invalid_line%\n") ==
               "FILE:3: not a [section], a key = value or a # comment: '%invalid_line%'");
    BOOST_TEST(error_of("[echo]\n\x01 junk\n") ==
               "FILE:2: not a [section], a key = value or a # comment: '\\x01 junk'");
}

BOOST_AUTO_TEST_CASE(defaults) {
    const auto config = load(echo_ini);
    const auto& server = config->server;
    BOOST_TEST(server.mode == Mode::strand);
    BOOST_TEST(server.threads == 0U);
    BOOST_TEST(server.max_children == 256U);
    BOOST_TEST(server.max_connections == 10000U);
    BOOST_TEST(server.shutdown_timeout.count() == 10);
    BOOST_TEST(server.user.empty());
    BOOST_TEST(server.group.empty());
    BOOST_TEST(server.log_level == LogLevel::info);
    BOOST_TEST((server.log_target.kind == LogTarget::Kind::console));

    BOOST_REQUIRE(config->services.size() == 1U);
    const auto& echo = config->services.front();
    BOOST_TEST(echo.name == "echo");
    BOOST_TEST(echo.handler == "echo");
    BOOST_REQUIRE(echo.tcp.size() == 1U);
    BOOST_TEST(echo.tcp[0].port() == 7007);
    BOOST_TEST(echo.udp.empty());
    BOOST_TEST(echo.unix_stream.empty());
    BOOST_TEST(echo.unix_datagram.empty());
    BOOST_TEST(echo.allow.empty());
    BOOST_TEST(echo.deny.empty());
    BOOST_TEST(echo.max_connections == 1000U);
    BOOST_TEST(echo.max_per_source == 0U);
    BOOST_TEST(echo.rate == 0U);
    BOOST_TEST(echo.idle_timeout.count() == 60);
    BOOST_TEST(echo.max_line == 8192U);
    BOOST_TEST(echo.udp_min_source_port == 1024);
    BOOST_TEST((echo.unix_access == UnixSocketAccess{}));
}

BOOST_AUTO_TEST_CASE(every_key) {
    const auto config = load(R"(# a comment
[server]
mode = strand
threads = 4
max_children = 32
max_connections = 500
shutdown_timeout = 3     # inline comment
user =
group =
log_level = debug
log_target = console

[mirror]
handler = echo
tcp = 127.0.0.1:0, [::1]:7007
udp = 127.0.0.1:9
unix = /tmp/netd-a.sock, /tmp/netd-b.sock
unixgram = /tmp/netd-c.dgram
allow = 127.0.0.0/8, ::1
deny = 127.0.0.2
max_connections = 10
max_per_source = 2
rate = 50
idle_timeout = 0
max_line = 1024
udp_min_source_port = 0
)");
    const auto& server = config->server;
    BOOST_TEST(server.threads == 4U);
    BOOST_TEST(server.max_children == 32U);
    BOOST_TEST(server.max_connections == 500U);
    BOOST_TEST(server.shutdown_timeout.count() == 3);
    BOOST_TEST(server.log_level == LogLevel::debug);

    BOOST_REQUIRE(config->services.size() == 1U);
    const auto& mirror = config->services.front();
    BOOST_TEST(mirror.name == "mirror");
    BOOST_TEST(mirror.handler == "echo");
    BOOST_REQUIRE(mirror.tcp.size() == 2U);
    BOOST_TEST(mirror.tcp[1].address() == ip::make_address("::1"));
    BOOST_TEST(mirror.tcp[1].port() == 7007);
    BOOST_REQUIRE(mirror.udp.size() == 1U);
    BOOST_TEST(mirror.udp[0].port() == 9);
    BOOST_TEST(mirror.unix_stream.size() == 2U);
    BOOST_TEST(mirror.unix_stream[1] == "/tmp/netd-b.sock");
    BOOST_TEST(mirror.unix_datagram.size() == 1U);
    BOOST_TEST(mirror.allow.size() == 2U);
    BOOST_TEST(mirror.deny.size() == 1U);
    BOOST_TEST(mirror.deny[0].contains(ip::make_address("127.0.0.2")));
    BOOST_TEST(mirror.max_connections == 10U);
    BOOST_TEST(mirror.max_per_source == 2U);
    BOOST_TEST(mirror.rate == 50U);
    BOOST_TEST(mirror.idle_timeout.count() == 0);
    BOOST_TEST(mirror.max_line == 1024U);
    BOOST_TEST(mirror.udp_min_source_port == 0);
    BOOST_TEST(mirror.verify.empty());
}

BOOST_AUTO_TEST_CASE(verify_names_registered_verifiers) {
    BOOST_TEST(error_of(echo_ini + "verify = nosuch\n") ==
               "FILE: [echo] verify: unknown verifier 'nosuch' (registered: none)");
}

BOOST_AUTO_TEST_CASE(command_line_wins_over_the_file) {
    const auto config = load(echo_ini + "max_line = 100\n",
                             {"--echo.tcp=127.0.0.1:9999", "--server.log_level=error"});
    BOOST_TEST(config->server.log_level == LogLevel::error);
    BOOST_TEST(config->services[0].tcp[0].port() == 9999);
    BOOST_TEST(config->services[0].max_line == 100U);
}

BOOST_AUTO_TEST_CASE(service_from_the_command_line_only) {
    const auto config = build_config(
        read({"--config=/dev/null", "--mirror.handler=echo", "--mirror.udp=127.0.0.1:0"}).raw,
        netd::catalog());
    BOOST_REQUIRE(config->services.size() == 1U);
    BOOST_TEST(config->services[0].name == "mirror");
    BOOST_TEST(config->services[0].udp.size() == 1U);
}

BOOST_AUTO_TEST_CASE(flags) {
    BOOST_TEST(read({"--help"}).help);
    BOOST_TEST(read({"-h"}).help);
    BOOST_TEST(read({"--version"}).version);
    TempIni file(echo_ini);
    BOOST_TEST(read({"--check-config", "--config", file.path()}).check_config);
}

BOOST_AUTO_TEST_CASE(concurrency_modes) {
    const auto pool = load("[server]\nmode = pool\nthreads = 3\n" + echo_ini);
    BOOST_TEST(pool->server.mode == Mode::pool);
    BOOST_TEST(pool->server.threads == 3U);
    const auto fork = load(echo_ini, {"--server.mode=fork", "--server.max_children=2"});
    BOOST_TEST(fork->server.mode == Mode::fork);
    BOOST_TEST(fork->server.max_children == 2U);
}

BOOST_AUTO_TEST_CASE(bad_values_name_file_section_and_key) {
    BOOST_TEST(error_of("[server]\nmode = turbo\n" + echo_ini) ==
               "FILE: [server] mode: 'turbo' is not a mode (strand, pool or fork)");
    BOOST_TEST(error_of("[server]\nthreads = -1\n" + echo_ini) ==
               "FILE: [server] threads: '-1' is not a whole number");
    BOOST_TEST(error_of("[server]\nlog_level = loud\n" + echo_ini)
                   .starts_with("FILE: [server] log_level: 'loud' is not a log level"));
    BOOST_TEST(error_of("[server]\nlog_target = printer\n" + echo_ini)
                   .starts_with("FILE: [server] log_target: 'printer' is not a log target"));
    BOOST_TEST(error_of("[echo]\ntcp = 127.0.0.1:70000\n") ==
               "FILE: [echo] tcp: '127.0.0.1:70000' has a bad port (expected 0 to 65535)");
    BOOST_TEST(
        error_of("[echo]\ntcp = 127.0.0.1:7, ,\n").starts_with("FILE: [echo] tcp: empty item"));
    BOOST_TEST(error_of(echo_ini + "allow = 10.0.0.0/40\n").starts_with("FILE: [echo] allow: "));
    BOOST_TEST(error_of(echo_ini + "max_line = 0\n")
                   .starts_with("FILE: [echo] max_line: '0' is out of range"));
    BOOST_TEST(error_of(echo_ini + "unix = /" + std::string(120, 'x') + "\n")
                   .starts_with("FILE: [echo] unix: "));
}

BOOST_AUTO_TEST_CASE(structural_errors) {
    BOOST_TEST(
        error_of(echo_ini + "colour = blue\n").starts_with("FILE: [echo] colour: unknown key"));
    BOOST_TEST(error_of("[server]\nspeed = 11\n" + echo_ini) ==
               "FILE: [server] speed: unknown key");
    BOOST_TEST(error_of("[echo]\nhandler = finger\ntcp = 127.0.0.1:7\n") ==
               "FILE: [echo] handler: unknown handler 'finger' (known: echo, timefmt, daytime, "
               "time, logger, stats, chargen, discard, exec)");
    BOOST_TEST(
        error_of("[nothing]\nhandler = echo\n") ==
        "FILE: [nothing] no listener: set at least one of tcp, udp, unix, unixgram, tls (or pass "
        "one by socket activation)");
    BOOST_TEST(
        error_of("[echo]\n") ==
        "FILE: [echo] no listener: set at least one of tcp, udp, unix, unixgram, tls (or pass "
        "one by socket activation)");
    BOOST_TEST(error_of(echo_ini + "tcp = 127.0.0.1:8\n") ==
               "FILE: [echo] tcp: given more than once");
    BOOST_TEST(error_of("[bad name]\ntcp = 127.0.0.1:7\n")
                   .starts_with("FILE: [bad name]: a service name"));
    BOOST_TEST(error_of("stray = 1\n" + echo_ini) == "FILE: 'stray' is outside any [section]");
    BOOST_TEST(
        error_of(
            "[a]\nhandler=echo\nunix = /tmp/x.sock\n[b]\nhandler=echo\nunix = /tmp/x.sock\n") ==
        "FILE: [b] unix: '/tmp/x.sock' is used by another listener");
    BOOST_TEST(error_of("[echo]\nthis line is not ini\n") ==
               "FILE:2: not a [section], a key = value or a # comment: 'this line is not ini'");
}

BOOST_AUTO_TEST_CASE(command_line_errors) {
    TempIni file(echo_ini);
    const std::string config = "--config=" + file.path();
    const auto message = [&](std::vector<std::string> args) {
        try {
            build_config(read(args).raw, netd::catalog());
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    BOOST_TEST(message({config, "--echo.tcp"}) ==
               "command line: [echo] tcp: needs a value: --echo.tcp=VALUE");
    BOOST_TEST(message({config, "--echo.tcp=127.0.0.1:1", "--echo.tcp=127.0.0.1:2"}) ==
               "command line: [echo] tcp: given more than once");
    BOOST_TEST(message({config, "--echo.colour=blue"})
                   .starts_with("command line: [echo] colour: unknown key"));
    BOOST_TEST(message({config, "--echo.max_line=x"}) ==
               "command line: [echo] max_line: 'x' is not a whole number");
    BOOST_TEST(message({config, "stray"}).starts_with("command line: unexpected argument 'stray'"));
    BOOST_TEST(message({config, "--frobnicate"})
                   .starts_with("command line: unknown option '--frobnicate'"));
    BOOST_TEST(message({"--config=/nonexistent/netd.ini"}) ==
               "/nonexistent/netd.ini: cannot open: No such file or directory");
}

BOOST_AUTO_TEST_CASE(user_and_group_must_exist) {
    BOOST_TEST(load("[server]\nuser = nobody\ngroup = nogroup\n" + echo_ini)->server.user ==
               "nobody");
    BOOST_TEST(error_of("[server]\nuser = no-such-user-here\n" + echo_ini) ==
               "FILE: [server] user: no such user 'no-such-user-here'");
    BOOST_TEST(error_of("[server]\ngroup = no-such-group-here\n" + echo_ini) ==
               "FILE: [server] group: no such group 'no-such-group-here'");
}

BOOST_AUTO_TEST_CASE(unix_socket_files_get_a_mode_an_owner_and_a_group) {
    const std::string unix_ini =
        "[log]\nhandler = logger\nfile = /tmp/x.log\nunixgram = /tmp/x.dgram\n";
    const auto access =
        load(unix_ini + "unix_mode = 0666\nunix_owner = daemon\nunix_group = nogroup\n")
            ->services.front()
            .unix_access;
    BOOST_TEST((access.mode == 0666U));
    BOOST_TEST((access.owner == 1U));
    BOOST_TEST((access.group == 65534U));
    for (const auto* mode : {"600", "0", "0750", " 0660 "}) {
        BOOST_TEST(load(unix_ini + "unix_mode = " + mode + "\n")
                       ->services.front()
                       .unix_access.mode.has_value(),
                   mode);
    }
    BOOST_TEST(
        (load(unix_ini + "unix_mode =\n")->services.front().unix_access.mode == std::nullopt));
    for (const auto* mode : {"01777", "0800", "rw-rw-rw-", "0o666", "-1", "00666", "777 7"}) {
        BOOST_TEST(error_of(unix_ini + "unix_mode = " + mode + "\n") ==
                       "FILE: [log] unix_mode: '" + std::string(mode) +
                           "' is not an octal mode from 0000 to 0777 (such as 0660)",
                   mode);
    }
    BOOST_TEST(error_of(unix_ini + "unix_owner = no-such-user-here\n") ==
               "FILE: [log] unix_owner: no such user 'no-such-user-here'");
    BOOST_TEST(error_of(unix_ini + "unix_group = no-such-group-here\n") ==
               "FILE: [log] unix_group: no such group 'no-such-group-here'");
}

BOOST_AUTO_TEST_CASE(unix_socket_keys_need_a_unix_listener) {
    // A key that would do nothing is a mistake to point out, not to ignore.
    for (const auto* key : {"unix_mode = 0666", "unix_owner = nobody", "unix_group = nogroup"}) {
        const std::string name(key, std::string_view(key).find(' '));
        BOOST_TEST(error_of(echo_ini + key + "\n") ==
                       "FILE: [echo] " + name +
                           ": is for the socket files of unix and unixgram listeners, and this "
                           "service has none (a passed socket is set up by its unit: "
                           "SocketMode=, SocketUser=, SocketGroup=)",
                   key);
    }
    const auto config = load("[echo]\nunix = /tmp/x.sock\nunix_mode = 0600\n");
    BOOST_TEST((config->services.front().unix_access.mode == 0600U));
}

BOOST_AUTO_TEST_CASE(tls_keys) {
    // Without the catalog's file check, so that the files need not exist.
    auto catalog = netd::catalog();
    catalog.check_tls = nullptr;
    const auto load_with = [&](const std::string& ini) {
        TempIni file(ini);
        return build_config(read({"--config=" + file.path()}).raw, catalog);
    };
    const std::string keys = "tls_cert = /etc/netd/cert.pem\ntls_key = /etc/netd/key.pem\n";
    const auto plain = load_with(
        "[log]\nhandler = logger\nfile = /tmp/x\ntls = 127.0.0.1:6514, "
        "[::1]:6514\n" +
        keys);
    const auto& service = plain->services.front();
    BOOST_REQUIRE(service.tls.size() == 2U);
    BOOST_TEST(service.tls[0].port() == 6514);
    BOOST_TEST(service.tls[1].address().is_v6());
    BOOST_TEST(service.tcp.empty());
    BOOST_TEST(service.tls_settings.cert == "/etc/netd/cert.pem");
    BOOST_TEST(service.tls_settings.key == "/etc/netd/key.pem");
    BOOST_TEST(service.tls_settings.ca.empty());
    BOOST_TEST((service.tls_settings.min_version == TlsVersion::v1_2));
    BOOST_TEST(service.tls_settings.timeout.count() == 10);
    const auto strict = load_with("[echo]\ntls = 127.0.0.1:0\n" + keys +
                                  "tls_ca = /etc/netd/ca.pem\ntls_min_version = 1.3\n"
                                  "tls_timeout = 3\n")
                            ->services.front()
                            .tls_settings;
    BOOST_TEST(strict.ca == "/etc/netd/ca.pem");
    BOOST_TEST((strict.min_version == TlsVersion::v1_3));
    BOOST_TEST(strict.timeout.count() == 3);
    // A tls listener alone is a service (no other listener needed).
    BOOST_TEST(load_with("[echo]\ntls = 127.0.0.1:0\n" + keys)->services.size() == 1U);
}

BOOST_AUTO_TEST_CASE(tls_keys_that_are_wrong_or_alone) {
    const std::string tls_ini = "[echo]\ntls = 127.0.0.1:6514\n";
    BOOST_TEST(error_of(tls_ini) ==
               "FILE: [echo] tls_cert: is required for tls listeners: the PEM file of the "
               "certificate");
    BOOST_TEST(error_of(tls_ini + "tls_cert = /x.pem\n") ==
               "FILE: [echo] tls_key: is required for tls listeners: the PEM file of the "
               "private key");
    BOOST_TEST(error_of(tls_ini + "tls_cert = /nonexistent/x.pem\ntls_key = /x.key\n") ==
               "FILE: [echo] tls_cert: cannot read '/nonexistent/x.pem': No such file or "
               "directory");
    BOOST_TEST(error_of(tls_ini + "tls_min_version = 1.0\n") ==
               "FILE: [echo] tls_min_version: '1.0' is not a TLS version netd offers (1.2 or "
               "1.3)");
    BOOST_TEST(error_of(tls_ini + "tls_timeout = 0\n").find("FILE: [echo] tls_timeout: ") == 0U);
    BOOST_TEST(error_of("[echo]\ntls = localhost:6514\n").find("FILE: [echo] tls: ") == 0U);
    for (const auto* key : {"tls_cert = /x.pem", "tls_key = /x.key", "tls_ca = /ca.pem",
                            "tls_min_version = 1.3", "tls_timeout = 5"}) {
        const std::string name(key, std::string_view(key).find(' '));
        BOOST_TEST(error_of(echo_ini + key + "\n") ==
                       "FILE: [echo] " + name +
                           ": is for tls listeners, and this service has none (set tls)",
                   key);
    }
    // Their defaults, as --check-config prints them, are no mistake.
    BOOST_TEST(
        load(echo_ini + "tls_min_version = 1.2\ntls_timeout = 10\ntls_cert =\n")->services.size() ==
        1U);
    BOOST_TEST(error_of("[e]\nhandler = exec\nprogram = /bin/cat\ntls = 127.0.0.1:0\n")
                   .find("FILE: [e] tls: exec cannot serve TLS") == 0U);
}

BOOST_AUTO_TEST_CASE(log_targets) {
    BOOST_TEST((load(echo_ini)->server.log_target.kind == LogTarget::Kind::console));
    BOOST_TEST((load("[server]\nlog_target = syslog\n" + echo_ini)->server.log_target.kind ==
                LogTarget::Kind::syslog));
    BOOST_TEST((load("[server]\nlog_target = journal\n" + echo_ini)->server.log_target.kind ==
                LogTarget::Kind::journal));
    const auto file = load("[server]\nlog_target = file:/var/log/netd.log\n" + echo_ini);
    BOOST_TEST((file->server.log_target.kind == LogTarget::Kind::file));
    BOOST_TEST(file->server.log_target.path == "/var/log/netd.log");
    BOOST_TEST(error_of("[server]\nlog_target = file:netd.log\n" + echo_ini) ==
               "FILE: [server] log_target: 'file:netd.log' needs an absolute path (file:/PATH)");
}

BOOST_AUTO_TEST_CASE(check_config_output_reads_back_unchanged) {
    const auto first = load(
        "[server]\nlog_level = debug\n[mirror]\nhandler = echo\n"
        "tcp = 127.0.0.1:0, [::1]:0\nudp = 127.0.0.1:0\nallow = 127.0.0.0/8\n");
    std::ostringstream printed;
    print_effective(printed, *first);
    const auto text = printed.str();
    BOOST_TEST(text.find("[server]\nmode = strand\n") != std::string::npos);
    BOOST_TEST(text.find("handler = echo\n") != std::string::npos);
    BOOST_TEST(text.find("idle_timeout = 60\n") != std::string::npos);
    const auto second = load(text);
    std::ostringstream reprinted;
    print_effective(reprinted, *second);
    // Only the first comment line (the file name) differs.
    const auto body = [](const std::string& s) { return s.substr(s.find('\n')); };
    BOOST_TEST(body(reprinted.str()) == body(text));
}

BOOST_AUTO_TEST_CASE(help_lists_every_key_with_its_default) {
    std::ostringstream help;
    print_key_help(help, netd::catalog());
    for (const auto* key : {"mode = strand",
                            "threads = 0",
                            "max_children = 256",
                            "max_connections = 10000",
                            "shutdown_timeout = 10",
                            "user =",
                            "group =",
                            "log_level = info",
                            "log_target = console",
                            "handler =",
                            "tcp =",
                            "udp =",
                            "unix =",
                            "unixgram =",
                            "allow =",
                            "deny =",
                            "max_connections = 1000",
                            "max_per_source = 0",
                            "rate = 0",
                            "idle_timeout = 60",
                            "max_line = 8192",
                            "udp_min_source_port = 1024",
                            "include_dir =",
                            "log_connections = false",
                            "tls =",
                            "tls_cert =",
                            "tls_key =",
                            "tls_ca =",
                            "tls_min_version = 1.2",
                            "tls_timeout = 10",
                            "echo: RFC 862",
                            "chargen: RFC 864",
                            "discard: RFC 863",
                            "program =",
                            "wait = no"}) {
        BOOST_TEST(help.str().find(key) != std::string::npos, "help lacks '" << key << "'");
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(include_dir)

namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

/// A main file that includes dir/netd.d, and what reading and validating it says.
struct Included {
    netd::test::TempDir dir;
    fs::path main = dir.path / "netd.ini";
    fs::path include = dir.path / "netd.d";

    std::shared_ptr<const Config> load(std::vector<std::string> args = {}) {
        args.insert(args.begin(), "--config=" + main.string());
        return build_config(read(args).raw, netd::catalog());
    }
    std::string error() {
        try {
            load();
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "accepted";
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(files_are_read_after_the_main_file_in_name_order) {
    Included setup;
    write(setup.main, "[server]\ninclude_dir = netd.d\n[echo]\ntcp = 127.0.0.1:0\n");
    write(setup.include / "20-b.ini", "[b]\nhandler = echo\nudp = 127.0.0.1:0\n");
    write(setup.include / "10-a.ini", "[a]\nhandler = echo\nudp = 127.0.0.1:0\n");
    write(setup.include / "a.ini.dpkg-dist", "not an ini file at all");
    const auto config = setup.load();
    BOOST_REQUIRE(config->services.size() == 3U);
    BOOST_TEST(config->services[0].name == "echo");
    BOOST_TEST(config->services[1].name == "a");
    BOOST_TEST(config->services[2].name == "b");
    // Errors name the included file the key is in.
    write(setup.include / "10-a.ini", "[a]\nhandler = echo\nudp = 127.0.0.1:0\ncolour = red\n");
    BOOST_TEST(setup.error().find("10-a.ini: [a] colour: unknown key") != std::string::npos,
               setup.error());
    // So do errors about a section as a whole.
    write(setup.include / "10-a.ini", "[a]\nhandler = echo\n");
    BOOST_TEST(
        setup.error().find((setup.include / "10-a.ini").string() + ": [a] no listener") == 0U,
        setup.error());
    write(setup.include / "10-a.ini", "[a b]\nhandler = echo\nudp = 127.0.0.1:0\n");
    BOOST_TEST(
        setup.error().find((setup.include / "10-a.ini").string() + ": [a b]: a service") == 0U,
        setup.error());
}

BOOST_AUTO_TEST_CASE(a_section_two_files_define_names_both) {
    Included setup;
    write(setup.main, "[server]\ninclude_dir = " + setup.include.string() +
                          "\n[echo]\n"
                          "tcp = 127.0.0.1:0\n");
    write(setup.include / "echo.ini", "[echo]\nudp = 127.0.0.1:0\n");
    const auto error = setup.error();
    BOOST_TEST(error.find("echo.ini: [echo] is also defined in " + setup.main.string()) !=
                   std::string::npos,
               error);
    write(setup.include / "echo.ini", "[more]\nhandler = echo\nudp = 127.0.0.1:0\n");
    write(setup.include / "more.ini", "[more]\nhandler = echo\ntcp = 127.0.0.1:0\n");
    BOOST_TEST(setup.error().find("more.ini: [more] is also defined in ") != std::string::npos);
    BOOST_TEST(setup.error().find("echo.ini") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(server_belongs_in_the_main_file) {
    Included setup;
    write(setup.main, "[server]\ninclude_dir = netd.d\n[echo]\ntcp = 127.0.0.1:0\n");
    write(setup.include / "server.ini", "[server]\nmode = pool\n");
    BOOST_TEST(setup.error().find("server.ini: [server] belongs in the main file") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_directory_or_file_that_cannot_be_read_names_both_places) {
    Included setup;
    write(setup.main, "[server]\ninclude_dir = netd.d\n[echo]\ntcp = 127.0.0.1:0\n");
    BOOST_TEST(setup.error().find(setup.main.string() + ": [server] include_dir: '") == 0U,
               setup.error());
    fs::create_directories(setup.include);
    fs::create_symlink("/nonexistent/netd-test.ini", setup.include / "gone.ini");
    const auto error = setup.error();
    BOOST_TEST(error.find("gone.ini: cannot open") != std::string::npos, error);
    BOOST_TEST(
        error.find("(in [server] include_dir, " + setup.main.string() + ")") != std::string::npos,
        error);
}

BOOST_AUTO_TEST_CASE(the_command_line_may_set_it_and_wins_over_every_file) {
    Included setup;
    write(setup.main, "[echo]\ntcp = 127.0.0.1:0\n");
    write(setup.include / "a.ini", "[a]\nhandler = echo\nudp = 127.0.0.1:1\n");
    const auto config =
        setup.load({"--server.include_dir=" + setup.include.string(), "--a.udp=127.0.0.1:2"});
    BOOST_REQUIRE(config->services.size() == 2U);
    BOOST_TEST(config->services[1].udp[0].port() == 2);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(proxy_keys)

BOOST_AUTO_TEST_CASE(proxy_protocol_takes_its_balancers_and_a_timeout) {
    const auto config = load(echo_ini +
                             "proxy_protocol = v2\nproxy_from = 10.0.0.0/8, ::1\n"
                             "proxy_timeout = 5\n");
    const auto& echo = config->services.front();
    BOOST_TEST((echo.proxy_protocol == ProxyProtocol::v2));
    BOOST_TEST(echo.proxy_from.size() == 2U);
    BOOST_TEST(echo.proxy_timeout.count() == 5);
    BOOST_TEST((load(echo_ini)->services.front().proxy_protocol == ProxyProtocol::off));
    BOOST_TEST(load(echo_ini)->services.front().proxy_timeout.count() == 3);
}

BOOST_AUTO_TEST_CASE(proxy_protocol_errors_name_the_key) {
    BOOST_TEST(error_of(echo_ini + "proxy_protocol = v3\n") ==
               "FILE: [echo] proxy_protocol: 'v3' is not off, v1, v2 or any");
    BOOST_TEST(error_of(echo_ini + "proxy_protocol = any\n") ==
               "FILE: [echo] proxy_from: is needed with proxy_protocol: the addresses of the "
               "balancers (a header from anyone else would let a client pick its address)");
    BOOST_TEST(error_of(echo_ini + "proxy_from = 10.0.0.1\n") ==
               "FILE: [echo] proxy_from: does nothing with proxy_protocol = off");
    BOOST_TEST(
        error_of(echo_ini + "udp = 127.0.0.1:7007\nproxy_protocol = v1\nproxy_from = "
                            "127.0.0.1\n") ==
        "FILE: [echo] proxy_protocol: is for tcp and tls listeners, and this service has udp "
        "listeners too: give them a section of their own");
    BOOST_TEST(
        error_of(echo_ini + "unix = /tmp/e.sock\nproxy_protocol = v1\nproxy_from = "
                            "127.0.0.1\n") ==
        "FILE: [echo] proxy_protocol: is for tcp and tls listeners, and this service has unix "
        "listeners too: give them a section of their own");
    BOOST_TEST(
        error_of(echo_ini + "proxy_timeout = 0\n").starts_with("FILE: [echo] proxy_timeout:"));
}

BOOST_AUTO_TEST_CASE(drain_delay_and_reuseport) {
    const auto config = load("[server]\ndrain_delay = 5\nreuseport = yes\n" + echo_ini);
    BOOST_TEST(config->server.drain_delay.count() == 5);
    BOOST_TEST(config->server.reuseport);
    BOOST_TEST(!load(echo_ini)->server.reuseport);
    BOOST_TEST(error_of("[server]\ndrain_delay = soon\n" + echo_ini)
                   .starts_with("FILE: [server] drain_delay:"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(forward_keys)

const std::string logger_ini =
    "[logger]\ntcp = 127.0.0.1:7514\nfile = /tmp/netd-unit-forward.log\n";

BOOST_AUTO_TEST_CASE(forward_needs_a_spool_and_tls_files_only_for_tls) {
    BOOST_TEST(error_of(logger_ini + "forward = tcp://127.0.0.1:514\n") ==
               "FILE: [logger] forward_spool: is required with forward: the directory where "
               "records wait until the collector has them");
    BOOST_TEST(error_of(logger_ini + "forward = udp://127.0.0.1:514\nforward_spool = /tmp/s\n") ==
               "FILE: [logger] forward: 'udp' is not a forwarding scheme (tcp, tls or relp)");
    BOOST_TEST(error_of(logger_ini + "forward = tcp://127.0.0.1\nforward_spool = /tmp/s\n") ==
               "FILE: [logger] forward: 'tcp://127.0.0.1' has no port (HOST:PORT)");
    BOOST_TEST(error_of(logger_ini + "forward_spool = /tmp/s\n") ==
               "FILE: [logger] forward_spool: is set but forward is not");
    BOOST_TEST(error_of(logger_ini + "forward = relp://127.0.0.1:2514\nforward_spool = /tmp/s\n"
                                     "forward_ca = /etc/ssl/certs/ca-certificates.crt\n") ==
               "FILE: [logger] forward_ca: is for tls:// destinations only");
    BOOST_TEST(error_of(logger_ini + "forward = tls://127.0.0.1:6514\nforward_spool = /tmp/s\n"
                                     "forward_ca = /nonexistent/ca.pem\n") ==
               "FILE: [logger] forward_ca: cannot read '/nonexistent/ca.pem': No such file or "
               "directory");
    BOOST_TEST(error_of(logger_ini + "forward = tls://127.0.0.1:6514\nforward_spool = /tmp/s\n"
                                     "forward_cert = /tmp/c.pem\n") ==
               "FILE: [logger] forward_key: forward_cert and forward_key go together");
}

BOOST_AUTO_TEST_CASE(spool_sizes_take_units) {
    BOOST_TEST(error_of(logger_ini + "forward = tcp://127.0.0.1:514\nforward_spool = /tmp/s\n"
                                     "forward_spool_max = 10 parsecs\n") ==
               "FILE: [logger] forward_spool_max: '10 parsecs' is not a size (bytes, or a "
               "number with K, M or G)");
    BOOST_TEST(error_of(logger_ini + "forward = tcp://127.0.0.1:514\nforward_spool = /tmp/s\n"
                                     "forward_spool_max = 1K\n") ==
               "FILE: [logger] forward_spool_max: '1K' is too small: the spool needs at least "
               "64 KiB");
    for (const char* size : {"64KiB", "64 K", "10M", "2 GiB", "1048576"}) {
        BOOST_CHECK_NO_THROW(load(logger_ini +
                                  "forward = tcp://127.0.0.1:514\n"
                                  "forward_spool = /tmp/s\nforward_spool_max = " +
                                  size + "\n"));
    }
}

BOOST_AUTO_TEST_SUITE_END()
