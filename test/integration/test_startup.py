"""Integration tests: start-up, config errors, command line (SPEC §1, §2).

Run: NETD_BIN=build/netd python3 test/integration/test_startup.py -v   (or through ctest)
"""

import configparser
import datetime
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (  # noqa: E402
    LOG_LINE_RE, LISTEN_RE, Netd, error_lines, free_port_holder, is_ready_line, netd_bin,
    run_netd, stream_roundtrip, tcp_connect, unix_connect, unixgram_socket,
)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# SPEC §2: every key and its default.
SERVER_DEFAULTS = {
    "mode": "strand", "threads": "0", "max_children": "256", "max_connections": "10000",
    "shutdown_timeout": "10", "user": "", "group": "", "log_level": "info", "log_target": "console",
}
SERVICE_DEFAULTS = {
    # None: the SPEC's [echo] block shows an example value, not a default -> presence only.
    "handler": "echo", "tcp": None,
    "udp": None, "unix": None, "unixgram": None, "allow": None, "deny": "",
    "max_connections": "1000", "max_per_source": "0", "rate": "0", "idle_timeout": "60",
    "max_line": "8192", "udp_min_source_port": "1024",
}
CORE_SERVER_KEYS = ("mode", "log_level", "log_target", "shutdown_timeout")
CORE_SERVICE_KEYS = ("handler", "tcp", "udp", "unix", "unixgram")


def squash(value):
    """Compare list values without caring about blanks: '1, 2' == '1,2'."""
    return re.sub(r"\s+", "", value or "")


def parse_ini(text):
    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"),
                                   empty_lines_in_values=False)
    cp.read_string(text)
    return cp


class StartupTestCase(unittest.TestCase):

    def assertConfigError(self, r, section, key=None, name_file=True):
        """Exit 1 without serving, exactly one 'netd: ' line naming file, [section], key."""
        self.assertFalse(r.timed_out, "netd did not exit by itself\n" + r.describe())
        self.assertFalse(r.served, "netd logged 'ready:' although the config is bad\n" + r.describe())
        self.assertEqual(r.returncode, 1, "exit status\n" + r.describe())
        lines = error_lines(r.stderr)
        self.assertEqual(len(lines), 1, "expected exactly one stderr line starting 'netd: '\n" + r.describe())
        line = lines[0]
        if name_file:
            self.assertIn(r.config_path, line, "error line must name the config file")
        self.assertIn("[%s]" % section, line, "error line must name the section")
        if key is not None:
            self.assertRegex(line, r"(?<![\w-])%s(?![\w-])" % re.escape(key),
                             "error line must name the key %r" % key)
        return line


class ConfigErrors(StartupTestCase):

    def test_tcp_port_in_use(self):
        with free_port_holder("tcp") as holder:
            port = holder.getsockname()[1]
            config = ("[echo]\ntcp = 127.0.0.1:0\n\n"
                      "[echo2]\nhandler = echo\ntcp = 127.0.0.1:%d\n" % port)
            r = run_netd(config)
            self.assertConfigError(r, "echo2", "tcp")
            # the holder is untouched and still accepts
            with tcp_connect(("127.0.0.1", port)) as c:
                conn, _ = holder.accept()
                conn.close()

    def test_udp_port_in_use(self):
        with free_port_holder("udp") as holder:
            port = holder.getsockname()[1]
            config = "[echo]\ntcp = 127.0.0.1:0\nudp = 127.0.0.1:%d\n" % port
            r = run_netd(config)
            self.assertConfigError(r, "echo", "udp")

    def test_unknown_handler(self):
        config = "[svc]\nhandler = no_such_handler\ntcp = 127.0.0.1:0\n"
        line = self.assertConfigError(run_netd(config), "svc", "handler")
        self.assertIn("no_such_handler", line, "the error should name the unknown handler")

    def test_unknown_handler_from_section_name(self):
        """No handler key: the handler is the section name, which is not registered."""
        config = "[no_such_service]\ntcp = 127.0.0.1:0\n"
        self.assertConfigError(run_netd(config), "no_such_service")

    def test_unknown_key_in_service(self):
        config = "[echo]\ntcp = 127.0.0.1:0\ncolour = blue\n"
        self.assertConfigError(run_netd(config), "echo", "colour")

    def test_unknown_key_in_server(self):
        config = "[server]\ncolour = blue\n\n[echo]\ntcp = 127.0.0.1:0\n"
        self.assertConfigError(run_netd(config), "server", "colour")

    def test_bad_value_log_level(self):
        config = "[server]\nlog_level = loud\n\n[echo]\ntcp = 127.0.0.1:0\n"
        self.assertConfigError(run_netd(config), "server", "log_level")

    def test_bad_endpoint_values(self):
        for value in ("127.0.0.1:99999", "127.0.0.1:http", "127.0.0.1", "not an address:7"):
            with self.subTest(tcp=value):
                config = "[echo]\ntcp = %s\n" % value
                self.assertConfigError(run_netd(config), "echo", "tcp")

    def test_service_without_listener(self):
        config = "[echo]\nhandler = echo\n"
        self.assertConfigError(run_netd(config), "echo")

    def test_missing_config_file(self):
        r = run_netd(None, ["--config", "/nonexistent/netd-test/netd.ini"])
        self.assertFalse(r.served or r.timed_out, r.describe())
        self.assertEqual(r.returncode, 1, r.describe())
        lines = error_lines(r.stderr)
        self.assertEqual(len(lines), 1, r.describe())
        self.assertIn("/nonexistent/netd-test/netd.ini", lines[0])

    def test_command_line_unknown_key(self):
        config = "[echo]\ntcp = 127.0.0.1:0\n"
        r = run_netd(config, ["--echo.colour=blue"])
        self.assertConfigError(r, "echo", "colour", name_file=False)


class UnixSocketFiles(StartupTestCase):

    @staticmethod
    def make_stale(path, kind):
        """Leave a socket file behind with nothing bound to it."""
        st = socket.SOCK_STREAM if kind == "unix" else socket.SOCK_DGRAM
        s = socket.socket(socket.AF_UNIX, st)
        s.bind(path)
        if kind == "unix":
            s.listen(1)
        s.close()
        assert os.path.exists(path)

    def test_a_failed_start_leaves_no_socket_file_behind(self):
        """A start that fails after binding Unix sockets (a port in use; a log file that cannot be
        opened) removes the files it made."""
        sockets = tempfile.mkdtemp(prefix="netd-sockets-")
        self.addCleanup(shutil.rmtree, sockets, True)
        listeners = "[echo]\nunix = %s/echo.sock\nunixgram = %s/echo.dgram\n\n" % (sockets, sockets)
        with free_port_holder("tcp") as holder:
            r = run_netd(listeners + "[echo2]\nhandler = echo\ntcp = 127.0.0.1:%d\n"
                         % holder.getsockname()[1])
        self.assertConfigError(r, "echo2", "tcp")
        self.assertEqual(os.listdir(sockets), [])
        r = run_netd(listeners + "[logger]\nudp = 127.0.0.1:0\nfile = /nonexistent/netd-test/x.log\n")
        self.assertConfigError(r, "logger", "file")
        self.assertEqual(os.listdir(sockets), [])

    def test_stale_unix_stream_socket_replaced(self):
        setup = lambda tmp: self.make_stale(os.path.join(tmp, "echo.sock"), "unix")  # noqa: E731
        with Netd("[echo]\nunix = {tmp}/echo.sock\n", setup=setup) as n:
            self.assertEqual(n.addr("echo", "unix"), n.path("echo.sock"))
            with unix_connect(n.path("echo.sock")) as s:
                self.assertEqual(stream_roundtrip(s, b"through a replaced socket"),
                                 b"through a replaced socket")

    def test_stale_unixgram_socket_replaced(self):
        setup = lambda tmp: self.make_stale(os.path.join(tmp, "echo.dgram"), "unixgram")  # noqa: E731
        with Netd("[echo]\nunixgram = {tmp}/echo.dgram\n", setup=setup) as n:
            self.assertEqual(n.addr("echo", "unixgram"), n.path("echo.dgram"))
            with unixgram_socket(n.path("client.dgram")) as c:
                c.sendto(b"dgram through a replaced socket", n.path("echo.dgram"))
                self.assertEqual(c.recvfrom(1000)[0], b"dgram through a replaced socket")

    def test_regular_file_at_unix_path_is_not_replaced(self):
        """Only a stale *socket* is replaced; any other file is a config error and stays."""
        path = os.path.join(self.own_tmpdir(), "data.sock")
        with open(path, "w") as f:
            f.write("precious")
        r = run_netd("[echo]\nunix = %s\n" % path)
        self.assertConfigError(r, "echo", "unix")
        with open(path) as f:
            self.assertEqual(f.read(), "precious", "a regular file was overwritten")

    def test_unix_path_in_missing_directory(self):
        r = run_netd("[echo]\nunix = /nonexistent/netd-test/dir/echo.sock\n")
        self.assertConfigError(r, "echo", "unix")

    def test_unix_path_too_long(self):
        path = os.path.join(self.own_tmpdir(), "x" * 120 + ".sock")
        r = run_netd("[echo]\nunixgram = %s\n" % path)
        self.assertConfigError(r, "echo", "unixgram")
        self.assertFalse(os.path.exists(path[:107]), "a truncated path was bound")

    def own_tmpdir(self):
        d = tempfile.mkdtemp(prefix="netd-live-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_live_unix_stream_socket_is_config_error(self):
        """A path where a server listens: exit 1, and the live socket is left alone."""
        path = os.path.join(self.own_tmpdir(), "live.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
            live.settimeout(5)
            live.bind(path)
            live.listen(4)
            r = run_netd("[echo]\nunix = %s\n" % path)
            self.assertConfigError(r, "echo", "unix")
            self.assertTrue(os.path.exists(path), "the live server's socket file was removed")
            with unix_connect(path) as c:
                c.sendall(b"hi")
                # netd's own probe connection may still sit in the backlog: skip it
                for _ in range(5):
                    peer, _ = live.accept()
                    with peer:
                        peer.settimeout(5)
                        data = peer.recv(2)
                    if data:
                        break
                self.assertEqual(data, b"hi", "the live server no longer receives its connections")

    def test_live_unixgram_socket_is_config_error(self):
        path = os.path.join(self.own_tmpdir(), "live.dgram")
        with unixgram_socket(path) as live:
            r = run_netd("[echo]\nunixgram = %s\n" % path)
            self.assertConfigError(r, "echo", "unixgram")
            self.assertTrue(os.path.exists(path), "the live server's socket file was removed")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c:
                c.settimeout(5)
                c.sendto(b"still mine", path)
                self.assertEqual(live.recv(100), b"still mine")


class CheckConfig(StartupTestCase):

    GOOD = ("[server]\nlog_level = debug\n\n"
            "[echo]\ntcp = 127.0.0.1:0, [::1]:0\nunix = {tmp}/echo.sock\n\n"
            "[mirror]\nhandler = echo\nudp = 127.0.0.1:0\n")

    def check(self, config, args=()):
        r = run_netd(config, ["--check-config"] + list(args))
        self.assertFalse(r.served, "--check-config must not serve\n" + r.describe())
        self.assertFalse(r.timed_out, r.describe())
        return r

    def parsed(self, r):
        try:
            return parse_ini(r.stdout)
        except configparser.Error as e:
            self.fail("--check-config output is not valid INI: %s\n%s" % (e, r.describe()))

    def test_good_config(self):
        r = self.check(self.GOOD)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(error_lines(r.stderr), [], r.describe())
        cp = self.parsed(r)
        self.assertEqual(set(cp.sections()), {"server", "echo", "mirror"}, r.stdout)
        for key in CORE_SERVER_KEYS:
            self.assertTrue(cp.has_option("server", key), "[server] %s missing\n%s" % (key, r.stdout))
        for sec in ("echo", "mirror"):
            for key in CORE_SERVICE_KEYS:
                self.assertTrue(cp.has_option(sec, key), "[%s] %s missing\n%s" % (sec, key, r.stdout))
        self.assertEqual(cp.get("server", "log_level"), "debug")
        self.assertEqual(cp.get("server", "mode"), "strand", "default mode")
        self.assertEqual(cp.get("server", "log_target"), "console", "default log_target")
        self.assertEqual(cp.get("server", "shutdown_timeout"), "10", "default shutdown_timeout")
        self.assertEqual(cp.get("echo", "handler"), "echo", "handler defaults to the section name")
        self.assertEqual(cp.get("mirror", "handler"), "echo")
        self.assertEqual(squash(cp.get("echo", "tcp")), "127.0.0.1:0,[::1]:0")
        self.assertTrue(cp.get("echo", "unix").endswith("/echo.sock"), cp.get("echo", "unix"))
        self.assertEqual(squash(cp.get("mirror", "udp")), "127.0.0.1:0")
        self.assertEqual(squash(cp.get("mirror", "tcp")), "")

    def test_all_spec_keys_with_defaults(self):
        """SPEC §2: the effective config lists every key, defaults included."""
        r = self.check("[echo]\ntcp = 127.0.0.1:0\n")
        self.assertEqual(r.returncode, 0, r.describe())
        cp = self.parsed(r)
        problems = []
        for sec, defaults in (("server", SERVER_DEFAULTS), ("echo", SERVICE_DEFAULTS)):
            if not cp.has_section(sec):
                problems.append("section [%s] missing" % sec)
                continue
            for key, want in defaults.items():
                if not cp.has_option(sec, key):
                    problems.append("[%s] %s missing" % (sec, key))
                elif want is not None and squash(cp.get(sec, key)) != squash(want):
                    problems.append("[%s] %s = %r, SPEC default %r" % (sec, key, cp.get(sec, key), want))
        self.assertEqual(problems, [], "\n" + r.stdout)

    def test_output_is_a_valid_config(self):
        """The printed effective config can be fed back and gives the same result."""
        r1 = self.check(self.GOOD)
        self.assertEqual(r1.returncode, 0, r1.describe())
        r2 = self.check(r1.stdout)
        self.assertEqual(r2.returncode, 0, "netd rejects its own effective config\n" + r2.describe())
        # comments may name the file read (they differ between the runs); the rest must not
        strip = lambda text: [l for l in text.splitlines() if not l.lstrip().startswith(("#", ";"))]  # noqa: E731
        self.assertEqual(strip(r2.stdout), strip(r1.stdout))

    def test_command_line_overrides_shown(self):
        r = self.check(self.GOOD, ["--server.log_level=warning", "--echo.tcp=127.0.0.1:0"])
        self.assertEqual(r.returncode, 0, r.describe())
        cp = self.parsed(r)
        self.assertEqual(cp.get("server", "log_level"), "warning")
        self.assertEqual(squash(cp.get("echo", "tcp")), "127.0.0.1:0")

    def test_bad_config(self):
        r = self.check("[echo]\ntcp = 127.0.0.1:0\ncolour = blue\n")
        self.assertConfigError(r, "echo", "colour")

    def test_bad_value(self):
        r = self.check("[server]\nmode = sideways\n\n[echo]\ntcp = 127.0.0.1:0\n")
        self.assertConfigError(r, "server", "mode")


# SPEC §2's example, verbatim except for the ports (0) and the Unix paths (the temp dir).
SPEC_EXAMPLE = """\
[server]
mode = strand            # strand | pool | fork
threads = 0              # pool: worker threads, 0 = one per core
max_children = 256       # fork: live children at most; accepting pauses at the limit
max_connections = 10000  # all services together
shutdown_timeout = 10    # seconds to drain on SIGTERM before connections are closed
user =                   # drop to this user (and group) after binding; needs root
group =
log_level = info         # trace | debug | info | warning | error
log_target = console     # console | syslog | journal | file:PATH

[echo]                   # any other section is a service; its name is free
handler = echo           # registered handler name; defaults to the section name
tcp = 127.0.0.1:0     # comma-separated HOST:PORT list, [::1]:7007 for IPv6, port 0 = any free port
udp = 127.0.0.1:0
unix = {tmp}/echo.sock        # Unix stream socket (optional)
unixgram = {tmp}/echo.dgram   # Unix datagram socket (optional)
allow = 127.0.0.0/8, ::1 # CIDRs; empty = everyone
deny =                   # CIDRs; deny wins over allow
max_connections = 1000   # this service
max_per_source = 0       # concurrent connections from one address; 0 = off
rate = 0                 # new connections (TCP) or datagrams (UDP) per second per source address; 0 = off
idle_timeout = 60        # seconds without input before a connection is closed; 0 = never
max_line = 8192          # line-based handlers: longest accepted line or message, bytes
udp_min_source_port = 1024   # UDP: drop datagrams from lower source ports (loop/reflection guard); 0 = off
"""


class SpecExample(StartupTestCase):

    def test_spec_example_passes_check_config(self):
        r = run_netd(SPEC_EXAMPLE, ["--check-config"])
        self.assertEqual(r.returncode, 0, r.describe())
        cp = parse_ini(r.stdout)
        self.assertEqual(squash(cp.get("echo", "allow")), "127.0.0.0/8,::1", r.stdout)
        self.assertEqual(cp.get("server", "user").strip(), "", "a comment is not a value")
        self.assertEqual(cp.get("echo", "deny").strip(), "", "a comment is not a value")

    def test_spec_example_serves(self):
        with Netd(SPEC_EXAMPLE) as n:
            self.assertEqual(set(n.listeners.get("echo", {})), {"tcp", "udp", "unix", "unixgram"},
                             n.listeners)
            with tcp_connect(n.addr("echo", "tcp")) as s:
                self.assertEqual(stream_roundtrip(s, b"spec example"), b"spec example")


class HelpAndVersion(StartupTestCase):

    def test_help_lists_keys_with_defaults(self):
        r = run_netd(None, ["--help"])
        self.assertFalse(r.served or r.timed_out, r.describe())
        self.assertEqual(r.returncode, 0, r.describe())
        out = r.stdout
        for key in CORE_SERVER_KEYS + CORE_SERVICE_KEYS + ("threads", "max_connections"):
            self.assertRegex(out, r"(?<![\w-])%s(?![\w-])" % key, "--help does not list %r\n%s" % (key, out))
        for key, default in (("mode", "strand"), ("log_level", "info"),
                             ("log_target", "console"), ("shutdown_timeout", "10")):
            lines = [l for l in out.splitlines() if re.search(r"(?<![\w-])%s(?![\w-])" % key, l)]
            self.assertTrue(any(default in l for l in lines),
                            "--help does not show the default %r next to %r:\n%s" % (default, key, "\n".join(lines)))

    def test_help_covers_every_effective_key(self):
        """Every key --check-config prints is documented by --help."""
        help_out = run_netd(None, ["--help"]).stdout
        r = run_netd("[echo]\ntcp = 127.0.0.1:0\n", ["--check-config"])
        self.assertEqual(r.returncode, 0, r.describe())
        cp = parse_ini(r.stdout)
        missing = sorted({k for s in cp.sections() for k in cp.options(s)
                          if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(k), help_out)})
        self.assertEqual(missing, [], "keys missing from --help")

    def test_version(self):
        r = run_netd(None, ["--version"])
        self.assertFalse(r.served or r.timed_out, r.describe())
        self.assertEqual(r.returncode, 0, r.describe())
        out = r.stdout.strip()
        self.assertRegex(out, r"^netd \d+\.\d+\.\d+\S*$")
        cmake = os.path.join(REPO_ROOT, "CMakeLists.txt")
        if os.path.exists(cmake):
            with open(cmake) as f:
                m = re.search(r"project\s*\(\s*netd\s+VERSION\s+([\d.]+)", f.read())
            if m:
                self.assertEqual(out, "netd " + m.group(1), "version differs from CMakeLists.txt")


class CommandLineOverrides(StartupTestCase):

    def test_override_wins_over_file(self):
        """The file names a port that is taken; the command line replaces it."""
        with free_port_holder("tcp") as holder:
            taken = holder.getsockname()[1]
            config = "[echo]\ntcp = 127.0.0.1:%d\n" % taken
            with Netd(config, ["--echo.tcp=127.0.0.1:0"]) as n:
                addrs = n.addrs("echo", "tcp")
                self.assertEqual(len(addrs), 1, addrs)
                self.assertNotEqual(addrs[0][1], taken)
                self.assertNotEqual(addrs[0][1], 0)
                with tcp_connect(addrs[0]) as s:
                    self.assertEqual(stream_roundtrip(s, b"override"), b"override")

    def test_override_adds_key(self):
        with Netd("[echo]\ntcp = 127.0.0.1:0\n", ["--echo.udp=127.0.0.1:0"]) as n:
            addr = n.addr("echo", "udp")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                s.sendto(b"via override", addr)
                self.assertEqual(s.recvfrom(100)[0], b"via override")


class SharedPorts(StartupTestCase):

    def test_tcp_and_udp_on_the_same_port(self):
        """Like the SPEC example (7007 for both): one port number, two transports."""
        for _ in range(20):   # find a port free for both TCP and UDP
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind(("127.0.0.1", 0))
                port = t.getsockname()[1]
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    try:
                        u.bind(("127.0.0.1", port))
                    except OSError:
                        continue
            break
        config = "[echo]\ntcp = 127.0.0.1:%d\nudp = 127.0.0.1:%d\n" % (port, port)
        with Netd(config) as n:
            self.assertEqual(n.addrs("echo", "tcp"), [("127.0.0.1", port)])
            self.assertEqual(n.addrs("echo", "udp"), [("127.0.0.1", port)])
            with tcp_connect(("127.0.0.1", port)) as s:
                self.assertEqual(stream_roundtrip(s, b"tcp side"), b"tcp side")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.settimeout(5)
                u.sendto(b"udp side", ("127.0.0.1", port))
                self.assertEqual(u.recvfrom(100)[0], b"udp side")


class Logging(StartupTestCase):

    def test_log_line_format(self):
        config = "[server]\nlog_level = debug\n\n[echo]\ntcp = 127.0.0.1:0\nunix = {tmp}/e.sock\n"
        with Netd(config) as n:
            lines = n.stderr_lines
        self.assertTrue(lines)
        bad = [l for l in lines if not LOG_LINE_RE.match(l)]
        self.assertEqual(bad, [], "lines not in '<RFC3339> <level> <message>' form")
        for l in lines:
            ts = LOG_LINE_RE.match(l).group("ts").replace("z", "Z").replace("Z", "+00:00")
            datetime.datetime.fromisoformat(ts.replace(" ", "T").replace("t", "T"))
        listening = [LOG_LINE_RE.match(l) for l in lines if LISTEN_RE.search(l)]
        self.assertEqual(len(listening), 2, lines)
        self.assertTrue(all(m.group("level") == "info" for m in listening), lines)
        self.assertEqual(sum(1 for l in lines if is_ready_line(l)), 1, lines)



class DescriptorLimit(unittest.TestCase):
    """netd raises its soft open-file limit to the hard one: the usual soft default (1024) would
    cap it far below max_connections."""

    CONFIG = "[echo]\ntcp = 127.0.0.1:0\n"

    def start_with_soft_limit(self, soft, args=()):
        saved = resource.getrlimit(resource.RLIMIT_NOFILE)
        if saved[1] != resource.RLIM_INFINITY and saved[1] <= soft:
            self.skipTest("hard open-file limit %d is too low for this test" % saved[1])
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, saved[1]))
        try:
            netd = Netd(self.CONFIG, args)
            netd.__enter__()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, saved)
        self.addCleanup(netd.__exit__, None, None, None)
        return netd, saved[1]

    def soft_limit_of(self, pid):
        with open("/proc/%d/limits" % pid) as f:
            for line in f:
                if line.startswith("Max open files"):
                    return line.split()[3]
        self.fail("no open-file limit in /proc/%d/limits" % pid)

    def test_soft_limit_is_raised_to_the_hard_limit(self):
        netd, hard = self.start_with_soft_limit(256, ["--server.max_connections=100"])
        expected = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
        self.assertEqual(self.soft_limit_of(netd.proc.pid), expected)
        self.assertNotIn("open-file limit", netd.stderr)

    def test_a_limit_below_max_connections_is_reported(self):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard == resource.RLIM_INFINITY:
            self.skipTest("the hard open-file limit is unlimited")
        netd, _ = self.start_with_soft_limit(256, ["--server.max_connections=%d" % (hard + 1)])
        self.assertIn("open-file limit %d is too low for max_connections = %d" % (hard, hard + 1),
                      netd.stderr)


class ShippedConfigs(unittest.TestCase):
    """Every configuration file the repository ships (the README's, the container's, the installed
    one) is valid. One that names a relative include_dir (the installed netd.ini: netd.d) is
    checked as it is installed, beside an empty directory of that name."""

    def test_every_file_in_config_passes_check_config(self):
        folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config")
        files = sorted(f for f in os.listdir(folder) if f.endswith(".ini"))
        self.assertIn("netd.ini", files)
        for name in files:
            with self.subTest(config=name), tempfile.TemporaryDirectory() as installed:
                path = os.path.join(folder, name)
                with open(path) as f:
                    include_dir = re.search(r"(?m)^include_dir\s*=\s*([^#\s]+)", f.read())
                if include_dir and not os.path.isabs(include_dir.group(1)):
                    path = shutil.copy(path, installed)
                    os.mkdir(os.path.join(installed, include_dir.group(1)))
                result = subprocess.run([netd_bin(), "--check-config", "--config", path],
                                        capture_output=True, timeout=30)
                self.assertEqual(result.returncode, 0, result.stderr.decode(errors="replace"))

if __name__ == "__main__":
    unittest.main(verbosity=2)
