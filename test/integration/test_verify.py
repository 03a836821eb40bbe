"""SPEC 5: verify_request. Access control, connection limits, per-source rates, the UDP loop guard,
custom verifiers and idle timeouts, seen from clients bound to different loopback sources
(127.0.0.2, 127.0.0.3, ...: all of 127.0.0.0/8 is the loopback interface on Linux). Runs in every
mode (NETD_MODE): in fork mode limits count live children, in pool mode state is shared by threads.
"""

import os
import resource
import select
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (  # noqa: E402
    IO_TIMEOUT, MODE, Netd, ipv6_available, recv_exact, rss_kib, run_netd, tcp_connect,
    test_server_bin, udp_socket, wait_until,
)

BUSY = b"error: too many connections, try later\n"
QUIET = 0.5  # how long a dropped datagram or a refused connection is given to answer anyway


def connect_from(source, addr, timeout=IO_TIMEOUT):
    """A TCP connection to addr from the loopback address source."""
    return tcp_connect(addr, timeout, source=source)


def udp_from(source, port=0):
    return udp_socket(source, QUIET, port)


def everything_until_eof(sock, timeout=IO_TIMEOUT):
    """What the server sends before it closes (a reset counts as a close)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


def echoes(sock, payload=b"hello\n"):
    sock.sendall(payload)
    return recv_exact(sock, len(payload)) == payload


def udp_answered(source, addr, payload=b"ping"):
    with udp_from(source) as u:
        u.sendto(payload, addr)
        try:
            return u.recvfrom(100)[0] == payload
        except socket.timeout:
            return False






def echo_config(extra="", server=""):
    return ("[server]\nlog_level = info\nmax_children = 1100\n" + server +
            "\n[echo]\ntcp = 127.0.0.1:0\nudp = 127.0.0.1:0\n" + extra)


class Acl(unittest.TestCase):

    def test_deny_wins_over_allow(self):
        with Netd(echo_config("allow = 127.0.0.0/8\ndeny = 127.0.0.2/32\n")) as n:
            tcp, udp = n.addr("echo", "tcp"), n.addr("echo", "udp")
            for source in ("127.0.0.1", "127.0.0.3"):
                with connect_from(source, tcp) as c:
                    self.assertTrue(echoes(c), source)
                self.assertTrue(udp_answered(source, udp), source)
            with connect_from("127.0.0.2", tcp) as c:
                self.assertEqual(everything_until_eof(c), b"", "a refused connection gets no data")
            self.assertFalse(udp_answered("127.0.0.2", udp), "a denied datagram was answered")
            self.assertIsNotNone(n.wait_for_line(r"\[echo\] rejected connection from 127\.0\.0\.2:\d+ \(acl\)"),
                                 n.describe())

    def test_allow_list_admits_only_what_it_names(self):
        with Netd(echo_config("allow = 127.0.0.3\n")) as n:
            with connect_from("127.0.0.3", n.addr("echo", "tcp")) as c:
                self.assertTrue(echoes(c))
            with connect_from("127.0.0.1", n.addr("echo", "tcp")) as c:
                self.assertEqual(everything_until_eof(c), b"")
            self.assertTrue(udp_answered("127.0.0.3", n.addr("echo", "udp")))
            self.assertFalse(udp_answered("127.0.0.1", n.addr("echo", "udp")))

    @unittest.skipUnless(ipv6_available(), "no IPv6 loopback")
    def test_ipv6_rules(self):
        config = """\
[server]
log_level = info

[closed6]
handler = echo
tcp = [::1]:0
deny = ::1/128

[open6]
handler = echo
tcp = [::1]:0
allow = ::1
deny = 127.0.0.0/8
"""
        with Netd(config) as n:
            with connect_from("::1", n.addr("closed6", "tcp")) as c:
                self.assertEqual(everything_until_eof(c), b"")
            with connect_from("::1", n.addr("open6", "tcp")) as c:
                self.assertTrue(echoes(c))

    def test_rejections_are_logged_at_most_once_a_second(self):
        with Netd(echo_config("deny = 127.0.0.2\n")) as n:
            for _ in range(30):
                with connect_from("127.0.0.2", n.addr("echo", "tcp")) as c:
                    everything_until_eof(c)
            lines = [l for l in n.stderr_lines if "(acl)" in l]
            self.assertGreaterEqual(len(lines), 1)
            self.assertLessEqual(len(lines), 3, "\n".join(lines))


class Limits(unittest.TestCase):

    def test_service_max_connections(self):
        with Netd(echo_config("max_connections = 2\n")) as n:
            addr = n.addr("echo", "tcp")
            first, second = connect_from("127.0.0.1", addr), connect_from("127.0.0.1", addr)
            try:
                self.assertTrue(echoes(first) and echoes(second))
                with connect_from("127.0.0.1", addr) as third:
                    self.assertEqual(everything_until_eof(third), BUSY)
                self.assertTrue(echoes(first), "a rejection must not disturb the admitted")
                first.close()

                def admitted_again():
                    with connect_from("127.0.0.1", addr) as again:
                        again.sendall(b"x\n")
                        return again.recv(100) == b"x\n"
                self.assertTrue(wait_until(admitted_again), "the limit was not freed when a connection closed")
            finally:
                first.close()
                second.close()
            self.assertIsNotNone(n.wait_for_line(r"\(max_connections\)"), n.describe())

    def test_server_max_connections_counts_every_service(self):
        config = "[server]\nlog_level = info\nmax_connections = 2\n\n[a]\nhandler = echo\ntcp = 127.0.0.1:0\n" \
                 "\n[b]\nhandler = echo\ntcp = 127.0.0.1:0\n"
        with Netd(config) as n:
            with connect_from("127.0.0.1", n.addr("a", "tcp")) as a, \
                    connect_from("127.0.0.1", n.addr("b", "tcp")) as b:
                self.assertTrue(echoes(a) and echoes(b))
                with connect_from("127.0.0.1", n.addr("a", "tcp")) as third:
                    self.assertEqual(everything_until_eof(third), BUSY)

    def test_max_per_source(self):
        with Netd(echo_config("max_per_source = 1\n")) as n:
            addr = n.addr("echo", "tcp")
            with connect_from("127.0.0.2", addr) as mine, connect_from("127.0.0.3", addr) as other:
                self.assertTrue(echoes(mine) and echoes(other))
                with connect_from("127.0.0.2", addr) as second:
                    self.assertEqual(everything_until_eof(second), BUSY)
                with connect_from("127.0.0.4", addr) as third_source:
                    self.assertTrue(echoes(third_source))
            self.assertIsNotNone(n.wait_for_line(r"\(max_per_source\)"), n.describe())


class Rate(unittest.TestCase):

    def test_connections_over_the_rate_are_refused_while_others_are_served(self):
        # rate 2 (burst 2): 20 connections take far less than the 4 s that would refill enough
        # tokens for half of them, even on a loaded machine.
        with Netd(echo_config("rate = 2\n")) as n:
            addr = n.addr("echo", "tcp")
            answers = []
            for _ in range(20):
                with connect_from("127.0.0.2", addr) as c:
                    c.sendall(b"x\n")
                    answers.append(c.recv(100))
            busy = answers.count(BUSY)
            self.assertGreaterEqual(busy, 10, "20 connections at rate 2: %r" % answers)
            self.assertLessEqual(busy, 18)
            for _ in range(2):  # within its own burst
                with connect_from("127.0.0.3", addr) as c:
                    self.assertTrue(echoes(c), "a second source was throttled too")
            self.assertIsNotNone(n.wait_for_line(r"\(rate\)"), n.describe())

    def test_datagrams_over_the_rate_are_dropped_while_others_are_answered(self):
        with Netd(echo_config("rate = 2\n")) as n:
            addr = n.addr("echo", "udp")
            with udp_from("127.0.0.2") as noisy:
                for i in range(30):
                    noisy.sendto(b"%d" % i, addr)
                answered = 0
                try:
                    while True:
                        noisy.recvfrom(100)
                        answered += 1
                except socket.timeout:
                    pass
            self.assertGreaterEqual(answered, 2)
            self.assertLessEqual(answered, 8, "30 datagrams at rate 2 (burst 2)")
            for _ in range(2):  # within its own burst
                self.assertTrue(udp_answered("127.0.0.3", addr))


class UdpGuard(unittest.TestCase):
    """A datagram from a privileged source port (where other hosts' echo and chargen live) gets no
    answer: no loops between two such services, no reflection. Binding such a port needs root."""

    @staticmethod
    def bind_low_port():
        for port in range(1023, 600, -1):
            try:
                return udp_from("127.0.0.1", port)
            except OSError:
                continue
        return None

    @unittest.skipUnless(os.geteuid() == 0, "binding a port below 1024 needs root")
    def test_low_source_ports_get_no_answer(self):
        with Netd(echo_config()) as n:
            addr = n.addr("echo", "udp")
            low = self.bind_low_port()
            self.assertIsNotNone(low, "no free port below 1024")
            with low:
                low.sendto(b"loop?", addr)
                with self.assertRaises(socket.timeout):
                    low.recvfrom(100)
            try:
                at_limit = udp_from("127.0.0.1", 1024)
            except OSError:
                self.skipTest("port 1024 is taken")
            with at_limit:
                at_limit.sendto(b"fine", addr)
                self.assertEqual(at_limit.recvfrom(100)[0], b"fine")
            self.assertIsNotNone(n.wait_for_line(r"rejected datagram from 127\.0\.0\.1:\d+ \(udp_guard\)"),
                                 n.describe())

    @unittest.skipUnless(os.geteuid() == 0, "binding a port below 1024 needs root")
    def test_the_guard_can_be_turned_off(self):
        with Netd(echo_config("udp_min_source_port = 0\n")) as n:
            low = self.bind_low_port()
            with low:
                low.sendto(b"allowed", n.addr("echo", "udp"))
                self.assertEqual(low.recvfrom(100)[0], b"allowed")


class CustomVerifier(unittest.TestCase):
    """`verify = NAME` runs a verifier registered through the C++ API (test/support)."""

    def test_registered_verifier_decides(self):
        config = echo_config("verify = test_blocklist\n")
        with Netd(config, binary=test_server_bin()) as n:
            tcp, udp = n.addr("echo", "tcp"), n.addr("echo", "udp")
            with connect_from("127.0.0.1", tcp) as c:
                self.assertTrue(echoes(c))
            with connect_from("127.0.0.2", tcp) as c:
                self.assertEqual(everything_until_eof(c), b"")
            with connect_from("127.0.0.3", tcp) as c:
                self.assertEqual(everything_until_eof(c), BUSY)
            self.assertFalse(udp_answered("127.0.0.2", udp))
            self.assertTrue(udp_answered("127.0.0.1", udp))
            self.assertIsNotNone(n.wait_for_line(r"\(test_blocklist\)"), n.describe())

    def test_unknown_verifier_is_a_config_error(self):
        r = run_netd(echo_config("verify = nosuch\n"))
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertIn("[echo] verify: unknown verifier 'nosuch'", r.stderr)


class IdleTimeout(unittest.TestCase):
    IDLE = 1000

    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = self.IDLE + 200
        if hard != resource.RLIM_INFINITY and hard < need:
            self.skipTest("open-file limit %d below %d" % (hard, need))
        if soft != resource.RLIM_INFINITY and soft < need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))

    def test_silent_connections_are_closed_and_an_active_one_is_not(self):
        with Netd(echo_config("idle_timeout = 1\n")) as n:
            addr = n.addr("echo", "tcp")
            active = connect_from("127.0.0.1", addr)
            idle = []
            try:
                for i in range(self.IDLE):
                    idle.append(connect_from("127.0.0.2", addr))
                    # Opening them can take longer than idle_timeout (fork mode on a loaded
                    # machine forks a child for each): the active client must not fall silent.
                    if i % 50 == 0:
                        self.assertTrue(echoes(active, b"meanwhile\n"))
                self.assertTrue(echoes(active))
                open_ = {s.fileno(): s for s in idle}
                poller = select.poll()
                for fd in open_:
                    poller.register(fd, select.POLLIN)
                deadline = time.monotonic() + 15 + (10 if MODE == "fork" else 0)
                while open_ and time.monotonic() < deadline:
                    self.assertTrue(echoes(active, b"still here\n"), "the active client was cut off")
                    for fd, _ in poller.poll(300):
                        try:
                            closed = open_[fd].recv(100) == b""
                        except ConnectionResetError:
                            closed = True
                        if closed:
                            poller.unregister(fd)
                            del open_[fd]
                self.assertEqual(len(open_), 0, "%d of %d silent connections still open" % (len(open_), self.IDLE))
                self.assertTrue(echoes(active, b"after the sweep\n"))
            finally:
                active.close()
                for s in idle:
                    s.close()


    def test_an_idle_logger_connection_is_drained_not_dropped(self):
        """Every byte a client sends ends up in a record (SPEC 3), even a line the idle timeout
        cuts short."""
        config = ("[server]\nlog_level = info\n\n[logger]\ntcp = 127.0.0.1:0\nidle_timeout = 1\n"
                  "file = {tmp}/netd.log\nflush_interval = 50\n")
        with Netd(config) as n:
            with connect_from("127.0.0.1", n.addr("logger", "tcp")) as c:
                c.sendall(b"complete\npartial, then silence")
                self.assertEqual(everything_until_eof(c, 5), b"", "the idle connection was not closed")
            path = n.path("netd.log")
            deadline = time.monotonic() + 5
            lines = []
            while time.monotonic() < deadline and len(lines) < 2:
                with open(path, "rb") as f:
                    lines = f.read().splitlines()
                time.sleep(0.05)
        self.assertEqual([l.rsplit(b" ", 2)[-2:] for l in lines][:1], [[b"-", b"complete"]])
        self.assertTrue(lines[1].endswith(b" partial, then silence"), lines)


class Memory(unittest.TestCase):
    SOURCES = 100_000

    def test_a_flood_from_many_sources_keeps_memory_bounded(self):
        """100,000 datagrams, each from another address of 127.0.0.0/8: the rate table is bounded,
        and the noisy sources never switch the service off for anyone else."""
        with Netd(echo_config("rate = 10\n")) as n:
            addr = n.addr("echo", "udp")
            self.assertTrue(udp_answered("127.0.0.1", addr))
            before = rss_kib(n.pid)
            sent = 0
            for i in range(self.SOURCES):
                source = "127.%d.%d.%d" % (1 + (i >> 16) % 254, (i >> 8) & 255, 1 + i % 254)
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    s.bind((source, 0))
                    s.sendto(b"flood", addr)
                    sent += 1
                finally:
                    s.close()
            time.sleep(0.5)
            after = rss_kib(n.pid)
            print("\n  %d datagrams from distinct sources: netd RSS %d -> %d KiB (%+d KiB)"
                  % (sent, before, after, after - before), file=sys.stderr)
            self.assertLess(after - before, 4 * 1024, "the per-source table must be bounded")
            self.assertTrue(udp_answered("127.0.0.1", addr), "the flood switched the service off")


if __name__ == "__main__":
    unittest.main(verbosity=2)
