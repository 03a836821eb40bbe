"""Hostile input (issue 8): every handler over every transport it serves gets over-long lines,
binary and NUL bytes, invalid UTF-8, telnet IAC sequences, strftime bombs, octet counts that lie,
half-closed and reset connections, and clients that never read their replies. After each, the
same service must still answer a well-formed request correctly; at the end netd is alive, its
memory is bounded, and it exits 0 on SIGTERM. Runs in every mode (NETD_MODE).
"""

import os
import socket
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (  # noqa: E402
    IO_TIMEOUT, SANITIZER, Netd, recv_exact, recv_until_eof, rss_kib, stream_connect, udp_socket,
    unixgram_socket,
)

CONFIG = """\
[server]
log_level = info
shutdown_timeout = 3

[echo]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
unix = {tmp}/echo.sock
unixgram = {tmp}/echo.dgram
max_line = 1024
idle_timeout = 5

[timefmt]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
unix = {tmp}/timefmt.sock
max_line = 1024
idle_timeout = 5

[daytime]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0

[time]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0

[logger]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
unix = {tmp}/logger.sock
unixgram = {tmp}/logger.dgram
file = {tmp}/messages.log
flush_interval = 50
max_line = 1024
idle_timeout = 5

[stats]
tcp = 127.0.0.1:0
unix = {tmp}/stats.sock
request_wait = 100
idle_timeout = 5
"""

PAYLOADS = {
    "overlong line": b"x" * 100_000 + b"\n",
    "binary": bytes(range(256)) * 64,
    "NUL bytes": b"\0" * 1000 + b"abc\0def\n",
    "invalid UTF-8": b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\x28\xed\xa0\x80\n",
    "telnet IAC": b"\xff\xfd\x18\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x19\xff\xf0\xff\xf4\xff\xfd\x06\r\n",
    "strftime bombs": b"%c" * 120 + b"\n" + b"%" * 300 + b"\n" + b"%Y" * 200 + b"\n%-%+%E%O%:\n",
    "octet count 0": b"0 ",
    "octet count huge": b"99999999999 abc\n",
    "octet count longer than the data": b"500 only a few bytes",
    "octet count with 25 digits": b"1234567890123456789012345 x\n",
    "lone CRs and CRLFs": b"\r\r\r\n\r\n\n\r" * 100,
}

# Every stream service and transport, and every datagram one.
STREAMS = [(s, k) for s, kinds in (("echo", ("tcp", "unix")), ("timefmt", ("tcp", "unix")),
                                   ("daytime", ("tcp",)), ("time", ("tcp",)),
                                   ("logger", ("tcp", "unix")), ("stats", ("tcp", "unix")))
           for k in kinds]
DATAGRAMS = [(s, k) for s, kinds in (("echo", ("udp", "unixgram")), ("timefmt", ("udp",)),
                                     ("daytime", ("udp",)), ("time", ("udp",)),
                                     ("logger", ("udp", "unixgram")))
             for k in kinds]




def read_some(sock, seconds):
    """Whatever the server sends within seconds or until it closes (a reset counts as a close)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
    return data


def send_all_tolerant(sock, payload):
    """Sends what the server takes; the server may close early (line too long), which is fine."""
    try:
        sock.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass


class Hostile(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.netd = Netd(CONFIG)
        cls.netd.__enter__()
        cls.start_kib = rss_kib(cls.netd.pid, children=True)
        cls.marks = 0

    @classmethod
    def tearDownClass(cls):
        cls.netd.__exit__(None, None, None)

    def assertServes(self, service, kind):
        """A well-formed request on a fresh connection gets the right answer."""
        n = self.netd
        self.assertIsNone(n.proc.poll(), "netd exited\n" + n.describe())
        with stream_connect(kind, n.addr(service, kind)) as s:
            if service == "echo":
                s.sendall(b"ping\n")
                self.assertEqual(recv_exact(s, 5), b"ping\n")
            elif service == "timefmt":
                s.sendall(b"%Y\n")
                self.assertEqual(recv_exact(s, 5), time.strftime("%Y\n").encode())
            elif service == "daytime":
                self.assertTrue(recv_until_eof(s).endswith(b"\r\n"))
            elif service == "time":
                seconds = struct.unpack("!I", recv_exact(s, 4))[0] - 2208988800
                self.assertLess(abs(seconds - time.time()), 5)
            elif service == "logger":
                type(self).marks += 1
                s.sendall(b"sanity mark %d\n" % self.marks)
            elif service == "stats":
                s.shutdown(socket.SHUT_WR)
                self.assertTrue(recv_until_eof(s).startswith(b"# HELP"))

    def test_stream_payloads(self):
        for service, kind in STREAMS:
            for name, payload in PAYLOADS.items():
                with self.subTest(service=service, transport=kind, payload=name):
                    with stream_connect(kind, self.netd.addr(service, kind)) as s:
                        send_all_tolerant(s, payload)
                        try:
                            s.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                        # Half-closed: the server answers what it got, then closes.
                        started = time.monotonic()
                        read_some(s, IO_TIMEOUT)
                        self.assertLess(time.monotonic() - started, IO_TIMEOUT - 0.5,
                                        "no close after the client's end of input")
                    self.assertServes(service, kind)

    def test_line_too_long_closes_with_an_error(self):
        for kind in ("tcp", "unix"):
            with stream_connect(kind, self.netd.addr("timefmt", kind)) as s:
                send_all_tolerant(s, PAYLOADS["overlong line"])
                self.assertEqual(read_some(s, IO_TIMEOUT), b"error: line too long\n")
            self.assertServes("timefmt", kind)

    def test_reset_connections(self):
        for service, kind in STREAMS:
            with self.subTest(service=service, transport=kind):
                for payload in (b"", b"half a li", PAYLOADS["binary"]):
                    s = stream_connect(kind, self.netd.addr(service, kind))
                    send_all_tolerant(s, payload)
                    # SO_LINGER 0: close sends a reset (TCP) instead of a FIN.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
                self.assertServes(service, kind)

    def test_datagram_payloads(self):
        with tempfile.TemporaryDirectory() as tmp:
            for service, kind in DATAGRAMS:
                for name, payload in list(PAYLOADS.items()) + [("empty", b""),
                                                               ("largest UDP", b"y" * 65507)]:
                    with self.subTest(service=service, transport=kind, payload=name):
                        if kind == "udp":
                            sock = udp_socket()
                        else:
                            sock = unixgram_socket(os.path.join(tmp, "client-%d" % time.monotonic_ns()))
                            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
                        with sock:
                            sock.sendto(payload[:65507], self.netd.addr(service, kind))
                            if service != "logger":  # the logger answers nothing
                                sock.settimeout(0.3)
                                try:
                                    sock.recvfrom(1 << 17)
                                except socket.timeout:
                                    pass
                    self.assertServes(service, "tcp")

    def test_clients_that_never_read(self):
        """Replies pile up for a client that sends but never reads: netd stops reading from it
        (back-pressure) instead of buffering, serves everyone else, and its memory stays put."""
        n = self.netd
        hogs = []
        try:
            for service, kind, line in (("echo", "tcp", b"z" * 1023 + b"\n"),
                                        ("echo", "unix", b"z" * 1023 + b"\n"),
                                        ("timefmt", "tcp", b"%c" * 100 + b"\n"),
                                        ("timefmt", "unix", b"%c" * 100 + b"\n")):
                s = stream_connect(kind, n.addr(service, kind))
                s.setblocking(False)
                chunk = line * 256
                sent = 0
                deadline = time.monotonic() + 5
                blocked_since = None
                while time.monotonic() < deadline and sent < 64 << 20:
                    try:
                        sent += s.send(chunk)
                        blocked_since = None
                    except BlockingIOError:
                        # Both directions full for half a second: netd has stopped reading.
                        blocked_since = blocked_since or time.monotonic()
                        if time.monotonic() - blocked_since > 0.5:
                            break
                        time.sleep(0.01)
                hogs.append(s)
                self.assertLess(sent, 64 << 20, "netd kept reading from a client that never reads")
            for service, kind in STREAMS:
                self.assertServes(service, kind)
            grown = rss_kib(n.pid, children=True) - self.start_kib
            if not SANITIZER:  # ASan's quarantine keeps freed memory on purpose
                self.assertLess(grown, 64 * 1024, "memory grew by %d KiB" % grown)
        finally:
            for s in hogs:
                s.close()


class Aftermath(unittest.TestCase):
    """Runs in its own netd: a heavy sequence, then the logger's records are all there."""

    def test_logger_keeps_every_record_around_hostile_input(self):
        with Netd(CONFIG) as n:
            for kind in ("tcp", "unix"):
                addr = n.addr("logger", kind)
                with stream_connect(kind, addr) as s:
                    s.sendall(b"before %s\n" % kind.encode())
                # Each hostile payload on a connection of its own, and on one after another.
                # (A lying octet count takes what follows into its message, as RFC 6587 says.)
                with stream_connect(kind, addr) as everything:
                    for payload in PAYLOADS.values():
                        send_all_tolerant(everything, payload + b"\n")
                        with stream_connect(kind, addr) as s:
                            send_all_tolerant(s, payload)
                with stream_connect(kind, addr) as s:
                    s.sendall(b"after %s\n" % kind.encode())
            path = n.path("messages.log")
            deadline = time.monotonic() + IO_TIMEOUT
            text = b""
            while time.monotonic() < deadline:
                with open(path, "rb") as f:
                    text = f.read()
                if b" after tcp" in text and b" after unix" in text:
                    break
                time.sleep(0.05)
            for kind in (b"tcp", b"unix"):
                self.assertIn(b" before " + kind + b"\n", text)
                self.assertIn(b" after " + kind + b"\n", text)
            for line in text.splitlines():
                self.assertTrue(all(c >= 0x20 and c != 0x7f for c in line), line[:80])


if __name__ == "__main__":
    unittest.main()
