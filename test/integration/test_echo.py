"""Integration tests: the echo service over every transport (SPEC §3 echo).

Run: NETD_BIN=build/netd python3 test/integration/test_echo.py -v   (or through ctest)
"""

import os
import select
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (  # noqa: E402
    Netd, child_pids, deterministic_bytes, diff_summary, fmt_addr, ipv6_available,
    is_ready_line, pid_alive, recv_exact, recv_until_eof, stream_connect, stream_roundtrip, tcp_connect,
    udp_socket, unix_connect, unixgram_socket,
)

HAVE_IPV6 = ipv6_available()

# Every transport, one listener each (IPv6 only when the host has ::1).
ALL_TRANSPORTS = """\
[server]
log_level = debug

[echo]
tcp = 127.0.0.1:0{v6tcp}
udp = 127.0.0.1:0{v6udp}
unix = {{tmp}}/echo.sock
unixgram = {{tmp}}/echo.dgram
""".format(v6tcp=", [::1]:0" if HAVE_IPV6 else "", v6udp=", [::1]:0" if HAVE_IPV6 else "")

TCP_ONLY = """\
[server]
log_level = debug

[echo]
tcp = 127.0.0.1:0
"""


class EchoTestCase(unittest.TestCase):
    maxDiff = 200

    def assertSameBytes(self, expected, got, what):
        if expected != got:
            self.fail("%s: %s" % (what, diff_summary(expected, got)))

    def stream_echo_once(self, kind, addr, payload):
        with stream_connect(kind, addr) as s:
            got = stream_roundtrip(s, payload)
        self.assertSameBytes(payload, got, "%s echo via %s" % (kind, fmt_addr(addr)))

    def udp_echo_once(self, addr, payload):
        with udp_socket(addr[0]) as s:
            s.sendto(payload, addr)
            data, peer = s.recvfrom(70000)
        self.assertSameBytes(payload, data, "udp echo via %s" % fmt_addr(addr))
        self.assertEqual(peer[:2], addr, "reply must come from the listening address")

    def unixgram_echo_once(self, server_path, client_path, payload):
        with unixgram_socket(client_path) as s:
            s.sendto(payload, server_path)
            data, peer = s.recvfrom(70000)
        self.assertSameBytes(payload, data, "unixgram echo via %s" % server_path)


class EchoTransports(EchoTestCase):
    """Basic echo on each transport."""

    def test_tcp_ipv4(self):
        with Netd(ALL_TRANSPORTS) as n:
            addr = n.addr("echo", "tcp")
            self.assertEqual(addr[0], "127.0.0.1")
            self.assertNotEqual(addr[1], 0, "the real port must be logged, not 0")
            self.stream_echo_once("tcp", addr, b"hello, netd\r\nsecond line\n\x00\xff binary")

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback (::1) on this host")
    def test_tcp_ipv6(self):
        with Netd(ALL_TRANSPORTS) as n:
            v6 = [a for a in n.addrs("echo", "tcp") if a[0] == "::1"]
            self.assertEqual(len(v6), 1, "expected one [::1] tcp listener, got %r" % n.addrs("echo", "tcp"))
            self.assertNotEqual(v6[0][1], 0)
            self.stream_echo_once("tcp", v6[0], b"hello over IPv6\n")

    def test_udp_ipv4(self):
        with Netd(ALL_TRANSPORTS) as n:
            addr = [a for a in n.addrs("echo", "udp") if a[0] == "127.0.0.1"][0]
            self.assertNotEqual(addr[1], 0)
            self.udp_echo_once(addr, b"hello udp\n")

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback (::1) on this host")
    def test_udp_ipv6(self):
        with Netd(ALL_TRANSPORTS) as n:
            v6 = [a for a in n.addrs("echo", "udp") if a[0] == "::1"]
            self.assertEqual(len(v6), 1, "expected one [::1] udp listener, got %r" % n.addrs("echo", "udp"))
            self.udp_echo_once(v6[0], b"hello udp over IPv6")

    def test_unix_stream(self):
        with Netd(ALL_TRANSPORTS) as n:
            path = n.addr("echo", "unix")
            self.assertEqual(path, n.path("echo.sock"))
            self.stream_echo_once("unix", path, b"hello unix stream\n" * 10)

    def test_unixgram(self):
        with Netd(ALL_TRANSPORTS) as n:
            path = n.addr("echo", "unixgram")
            self.assertEqual(path, n.path("echo.dgram"))
            self.unixgram_echo_once(path, n.path("client.dgram"), b"hello unix datagram")

    def test_tcp_interactive_echo_before_close(self):
        """Bytes come back while the connection stays open (no waiting for EOF)."""
        with Netd(TCP_ONLY) as n:
            with tcp_connect(n.addr("echo", "tcp")) as s:
                for i in range(5):
                    msg = ("line %d\r\n" % i).encode()
                    s.sendall(msg)
                    self.assertEqual(recv_exact(s, len(msg)), msg)
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_until_eof(s), b"",
                                 "server must close after the client's EOF with nothing extra")

    def test_tcp_last_bytes_and_end_of_input_in_one_segment(self):
        """The end of input that comes in the same segment as the last bytes (one readiness
        edge for both) is seen: netd answers and closes at once, not at the idle timeout. netd
        stops reading when TCP_INQ says nothing is left, and a FIN counts as something."""
        with Netd(TCP_ONLY + "idle_timeout = 60\n") as n:
            with tcp_connect(n.addr("echo", "tcp")) as s:
                s.settimeout(5)
                for i in range(20):
                    s.sendall(b"ask %d\n" % i)
                    self.assertEqual(recv_exact(s, len(b"ask %d\n" % i)), b"ask %d\n" % i)
                    # Corked: the bytes wait, and shutdown sends them with the FIN.
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                    s.sendall(b"last\n")
                    if i == 19:
                        s.shutdown(socket.SHUT_WR)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
                    self.assertEqual(recv_exact(s, 5), b"last\n")
                start = time.monotonic()
                self.assertEqual(recv_until_eof(s, deadline=start + 5), b"")
                self.assertLess(time.monotonic() - start, 5)

    def test_unix_stream_interactive_echo_before_close(self):
        with Netd(ALL_TRANSPORTS) as n:
            with unix_connect(n.addr("echo", "unix")) as s:
                for i in range(5):
                    msg = ("unix line %d\n" % i).encode()
                    s.sendall(msg)
                    self.assertEqual(recv_exact(s, len(msg)), msg)
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_until_eof(s), b"")

    def test_tcp_empty_connection_closed_after_eof(self):
        """A client that sends nothing and half-closes gets EOF back."""
        with Netd(TCP_ONLY) as n:
            with tcp_connect(n.addr("echo", "tcp")) as s:
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_until_eof(s), b"")


class EchoListeners(EchoTestCase):
    """Several listeners per service and several services sharing a handler."""

    def test_several_listeners_per_service_all_echo(self):
        v6 = HAVE_IPV6
        config = """\
[server]
log_level = debug

[echo]
tcp = 127.0.0.1:0, 127.0.0.1:0{tcp6}
udp = 127.0.0.1:0, 127.0.0.1:0{udp6}
unix = {{tmp}}/a.sock
unixgram = {{tmp}}/a.dgram
""".format(tcp6=", [::1]:0" if v6 else "", udp6=", [::1]:0" if v6 else "")
        with Netd(config) as n:
            tcp = n.addrs("echo", "tcp")
            udp = n.addrs("echo", "udp")
            self.assertEqual(len(tcp), 3 if v6 else 2, "tcp listeners logged: %r" % tcp)
            self.assertEqual(len(udp), 3 if v6 else 2, "udp listeners logged: %r" % udp)
            for group in (tcp, udp):
                self.assertTrue(all(port != 0 for _, port in group), group)
                self.assertEqual(len(set(group)), len(group), "duplicate addresses: %r" % group)
            if v6:
                self.assertIn("::1", [h for h, _ in tcp])
                self.assertIn("::1", [h for h, _ in udp])
            self.assertEqual(n.addrs("echo", "unix"), [n.path("a.sock")])
            self.assertEqual(n.addrs("echo", "unixgram"), [n.path("a.dgram")])
            for i, addr in enumerate(tcp):
                self.stream_echo_once("tcp", addr, ("tcp listener %d\n" % i).encode())
            for i, addr in enumerate(udp):
                self.udp_echo_once(addr, ("udp listener %d" % i).encode())
            self.stream_echo_once("unix", n.path("a.sock"), b"unix listener")
            self.unixgram_echo_once(n.path("a.dgram"), n.path("c.dgram"), b"unixgram listener")

    def test_two_services_same_handler(self):
        config = """\
[server]
log_level = debug

[echo]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0

[mirror]
handler = echo
tcp = 127.0.0.1:0
unix = {tmp}/mirror.sock
"""
        with Netd(config) as n:
            self.assertEqual(set(n.listeners), {"echo", "mirror"}, n.listeners)
            self.assertEqual(set(n.listeners["echo"]), {"tcp", "udp"})
            self.assertEqual(set(n.listeners["mirror"]), {"tcp", "unix"})
            self.assertNotEqual(n.addr("echo", "tcp"), n.addr("mirror", "tcp"))
            self.stream_echo_once("tcp", n.addr("echo", "tcp"), b"to echo")
            self.stream_echo_once("tcp", n.addr("mirror", "tcp"), b"to mirror")
            self.stream_echo_once("unix", n.addr("mirror", "unix"), b"to mirror over unix")
            self.udp_echo_once(n.addr("echo", "udp"), b"udp to echo")

    def test_ready_logged_after_listening_lines(self):
        with Netd(ALL_TRANSPORTS) as n:
            lines = n.stderr_lines
            ready_idx = [i for i, l in enumerate(lines) if is_ready_line(l)]
            listen_idx = [i for i, l in enumerate(lines) if "] listening on " in l]
            self.assertTrue(ready_idx and listen_idx, n.describe())
            self.assertLess(max(listen_idx), ready_idx[0],
                            "every 'listening on' line must precede 'ready:'\n" + n.describe())
            expected = (2 if HAVE_IPV6 else 1) * 2 + 2
            self.assertEqual(len(listen_idx), expected, n.describe())


class EchoBulk(EchoTestCase):
    """Large transfers, back-pressure, large datagrams, many connections."""

    def test_tcp_1mib_one_connection(self):
        payload = deterministic_bytes(1 << 20, seed=1)
        with Netd(TCP_ONLY) as n:
            t0 = time.monotonic()
            with tcp_connect(n.addr("echo", "tcp")) as s:
                got = stream_roundtrip(s, payload, timeout=20)
            self.assertSameBytes(payload, got, "1 MiB over TCP")
            self.assertLess(time.monotonic() - t0, 20)

    def test_unix_stream_1mib_one_connection(self):
        payload = deterministic_bytes(1 << 20, seed=2)
        with Netd(ALL_TRANSPORTS) as n:
            with unix_connect(n.addr("echo", "unix")) as s:
                got = stream_roundtrip(s, payload, timeout=20)
            self.assertSameBytes(payload, got, "1 MiB over a Unix stream socket")

    def test_tcp_back_pressure_bounds_buffering(self):
        """A client that writes but does not read must be slowed down: the server
        stops reading instead of buffering without bound. Afterwards every byte
        the client managed to send comes back intact."""
        limit = 128 << 20     # far above what kernel buffers can hold in flight here
        chunk = deterministic_bytes(256 * 1024, seed=3)
        with Netd(TCP_ONLY) as n:
            host, port = n.addr("echo", "tcp")
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                # small client buffers so the kernel holds little on our side
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
                s.settimeout(10)
                s.connect((host, port))
                s.setblocking(False)
                sent = 0
                last_progress = time.monotonic()
                hard_deadline = time.monotonic() + 30
                while sent < limit:
                    try:
                        k = s.send(chunk[sent % len(chunk):])
                        sent += k
                        last_progress = time.monotonic()
                        continue
                    except BlockingIOError:
                        pass
                    if time.monotonic() - last_progress > 1.0:
                        break   # no progress for 1 s: back-pressure reached
                    if time.monotonic() > hard_deadline:
                        break
                    select.select([], [s], [], 0.1)
                self.assertLess(sent, limit,
                                "server accepted %d bytes from a client that never reads: "
                                "no back-pressure (unbounded buffering)" % sent)
                self.assertTrue(pid_alive(n.pid), "netd died under back-pressure")
                # now read everything back while finishing the stream
                s.settimeout(10)
                s.shutdown(socket.SHUT_WR)
                got = bytearray()
                deadline = time.monotonic() + 20
                while True:
                    if time.monotonic() > deadline:
                        self.fail("draining %d echoed bytes took too long (got %d)" % (sent, len(got)))
                    data = s.recv(1 << 20)
                    if not data:
                        break
                    got += data
            finally:
                s.close()
        self.assertEqual(len(got), sent, "every byte sent before the stall must come back")
        expected = (chunk * (sent // len(chunk) + 1))[:sent]
        self.assertSameBytes(expected, bytes(got), "echo after back-pressure")

    def test_udp_max_size_datagram(self):
        payload = deterministic_bytes(65507, seed=4)
        with Netd(ALL_TRANSPORTS) as n:
            addr = [a for a in n.addrs("echo", "udp") if a[0] == "127.0.0.1"][0]
            self.udp_echo_once(addr, payload)

    def test_unixgram_large_datagram(self):
        payload = deterministic_bytes(60000, seed=5)
        with Netd(ALL_TRANSPORTS) as n:
            self.unixgram_echo_once(n.addr("echo", "unixgram"), n.path("big.dgram"), payload)

    def test_udp_datagram_boundaries_preserved(self):
        sizes = [1, 2, 100, 1000, 1472, 1473, 9000, 30000, 3, 512]
        payloads = [bytes([i]) * size for i, size in enumerate(sizes)]
        with Netd(ALL_TRANSPORTS) as n:
            addr = [a for a in n.addrs("echo", "udp") if a[0] == "127.0.0.1"][0]
            with udp_socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                replies = []
                for p in payloads:   # one at a time: loopback never loses these
                    s.sendto(p, addr)
                    replies.append(s.recvfrom(70000)[0])
        self.assertEqual([len(r) for r in replies], sizes)
        self.assertEqual(replies, payloads)

    def test_udp_replies_go_to_each_sender(self):
        with Netd(ALL_TRANSPORTS) as n:
            addr = [a for a in n.addrs("echo", "udp") if a[0] == "127.0.0.1"][0]
            with udp_socket() as a, udp_socket() as b:
                a.sendto(b"from A", addr)
                b.sendto(b"from B", addr)
                self.assertEqual(a.recvfrom(100)[0], b"from A")
                self.assertEqual(b.recvfrom(100)[0], b"from B")
                # and nothing else is queued for either socket
                for s in (a, b):
                    s.settimeout(0.3)
                    with self.assertRaises(socket.timeout):
                        s.recvfrom(100)

    def test_udp_empty_datagram_echoed(self):
        with Netd(ALL_TRANSPORTS) as n:
            addr = [a for a in n.addrs("echo", "udp") if a[0] == "127.0.0.1"][0]
            with udp_socket() as s:
                s.settimeout(2)
                s.sendto(b"", addr)
                try:
                    data, _ = s.recvfrom(100)
                except socket.timeout:
                    self.fail("a zero-length datagram was not echoed (no reply in 2 s)")
                self.assertEqual(data, b"")
                s.settimeout(10)
                self.udp_echo_once(addr, b"still serving")

    def test_unixgram_empty_datagram_echoed(self):
        with Netd(ALL_TRANSPORTS) as n:
            path = n.addr("echo", "unixgram")
            with unixgram_socket(n.path("empty.dgram")) as s:
                s.settimeout(2)
                s.sendto(b"", path)
                try:
                    data = s.recv(100)
                except socket.timeout:
                    self.fail("a zero-length Unix datagram was not echoed (no reply in 2 s)")
                self.assertEqual(data, b"")

    def test_tcp_200_concurrent_connections(self):
        count = 200
        payloads = [("conn %03d|" % i).encode() + deterministic_bytes(500 + 13 * i, seed=100 + i)
                    for i in range(count)]
        with Netd(TCP_ONLY) as n:
            addr = n.addr("echo", "tcp")
            socks = []
            try:
                for _ in range(count):           # all 200 open at the same time
                    socks.append(tcp_connect(addr))
                for s, p in zip(socks, payloads):
                    s.sendall(p)
                for s in socks:
                    s.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + 30
                for i, (s, p) in enumerate(zip(socks, payloads)):
                    got = recv_until_eof(s, deadline=deadline)
                    self.assertSameBytes(p, got, "connection %d of %d" % (i, count))
            finally:
                for s in socks:
                    s.close()


class EchoRobustness(EchoTestCase):

    def test_client_reset_does_not_disturb_service(self):
        with Netd(TCP_ONLY) as n:
            addr = n.addr("echo", "tcp")
            for _ in range(3):
                s = tcp_connect(addr)
                s.sendall(b"x" * 100000)
                # close with RST (linger 0) while echo data is in flight
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
            time.sleep(0.2)
            self.assertTrue(pid_alive(n.pid), "netd died after client resets\n" + n.describe())
            self.stream_echo_once("tcp", addr, b"still alive")

    def test_unix_stream_client_gone_does_not_disturb_service(self):
        """The server writes to a peer that has gone (EPIPE): no SIGPIPE death."""
        with Netd(ALL_TRANSPORTS) as n:
            path = n.addr("echo", "unix")
            for _ in range(3):
                s = unix_connect(path)
                s.sendall(b"y" * 60000)  # fits the socket buffer; echo of it hits a closed peer
                s.close()
            time.sleep(0.2)
            self.assertTrue(pid_alive(n.pid), "netd died after Unix clients vanished\n" + n.describe())
            self.stream_echo_once("unix", path, b"still alive")

    def test_unixgram_unbound_sender_does_not_disturb_service(self):
        """A sender without its own path cannot get a reply; the service must go on."""
        with Netd(ALL_TRANSPORTS) as n:
            path = n.addr("echo", "unixgram")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as anon:
                anon.settimeout(5)
                anon.sendto(b"nobody to answer", path)
            time.sleep(0.2)
            self.assertTrue(pid_alive(n.pid), "netd died\n" + n.describe())
            self.unixgram_echo_once(path, n.path("bound.dgram"), b"bound client")


class EchoShutdown(EchoTestCase):

    def _stop_and_check(self, sig, config=TCP_ONLY, hold_connection=False, bound=10.0):
        n = Netd(config, check_exit=False)
        with n:
            addr = n.addr("echo", "tcp")
            pid = n.pid
            self.assertTrue(pid_alive(pid))
            self.stream_echo_once("tcp", addr, b"before signal")
            kids_before = child_pids(pid)
            held = tcp_connect(addr) if hold_connection else None
            try:
                if held is not None:
                    held.sendall(b"ping")
                    self.assertEqual(recv_exact(held, 4), b"ping")
                t0 = time.monotonic()
                rc = n.stop(sig, timeout=bound)
                elapsed = time.monotonic() - t0
                if rc is None:
                    self.fail("netd still running %.0f s after %s\n%s"
                              % (bound, signal.Signals(sig).name, n.describe()))
                self.assertEqual(rc, 0, "exit status after %s\n%s" % (signal.Signals(sig).name, n.describe()))
                self.assertFalse(pid_alive(pid), "pid %d still exists after exit" % pid)
                stray = [k for k in kids_before if pid_alive(k)] + n.strays()
                self.assertEqual(stray, [], "processes left running: %r" % stray)
                # the listener is gone
                with self.assertRaises(OSError):
                    tcp_connect(addr, timeout=2).close()
                if held is not None:
                    held.settimeout(5)
                    try:
                        rest = held.recv(100)
                    except ConnectionResetError:
                        rest = b""
                    self.assertEqual(rest, b"", "held connection must be closed by the shutdown")
                return elapsed
            finally:
                if held is not None:
                    held.close()

    def test_restart_on_same_port_right_after_sigterm(self):
        """A restart (e.g. by systemd) binds the same port at once, even with a
        connection the old process closed still in TIME_WAIT."""
        first = Netd(TCP_ONLY, check_exit=False)
        with first:
            addr = first.addr("echo", "tcp")
            with tcp_connect(addr) as c:
                c.sendall(b"hi")
                self.assertEqual(recv_exact(c, 2), b"hi")
                self.assertEqual(first.stop(signal.SIGTERM), 0, first.describe())
                c.settimeout(5)
                try:
                    c.recv(10)           # the server closed first: its side is in TIME_WAIT
                except ConnectionResetError:
                    pass
        config = "[server]\nlog_level = debug\n\n[echo]\ntcp = %s:%d\n" % addr
        with Netd(config) as second:
            self.assertEqual(second.addrs("echo", "tcp"), [addr])
            self.stream_echo_once("tcp", addr, b"after restart")

    def test_sigterm_exits_zero_and_leaves_nothing(self):
        self._stop_and_check(signal.SIGTERM)

    def test_sigint_exits_zero(self):
        self._stop_and_check(signal.SIGINT)

    def test_sigterm_with_open_connection_exits_within_shutdown_timeout(self):
        config = TCP_ONLY.replace("log_level = debug", "log_level = debug\nshutdown_timeout = 2")
        elapsed = self._stop_and_check(signal.SIGTERM, config, hold_connection=True, bound=8.0)
        self.assertLess(elapsed, 8.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
