"""SPEC 8, PROXY protocol: a service behind a balancer sees the client the header names, in every
mode (NETD_MODE; in fork mode the parent reads the header before it verifies and forks). The
header is taken whole or not at all: a missing, malformed, late or unwelcome one closes the
connection and counts a rejection with reason proxy, and the bytes after a header are the
handler's. The real balancers are in test/e2e/test_balancers.py.
"""

import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (  # noqa: E402
    Netd, recv_until_eof, tcp_connect, wait_until,
)
import proxy_header  # noqa: E402

CONFIG = """\
[server]
shutdown_timeout = 2

[echo]
tcp = 127.0.0.1:0
proxy_protocol = any
proxy_from = 127.0.0.1
proxy_timeout = 1
deny = 203.0.113.66
log_connections = true

[limited]
handler = echo
tcp = 127.0.0.1:0
proxy_protocol = v1
proxy_from = 127.0.0.1
max_per_source = 1

[v2only]
handler = daytime
tcp = 127.0.0.1:0
proxy_protocol = v2
proxy_from = 127.0.0.0/8

[far]
handler = echo
tcp = 127.0.0.1:0
proxy_protocol = v1
proxy_from = 10.0.0.0/8

[log]
handler = logger
tcp = 127.0.0.1:0
proxy_protocol = v1
proxy_from = 127.0.0.1
file = {tmp}/messages.log
flush_interval = 20

[env]
handler = exec
tcp = 127.0.0.1:0
program = /usr/bin/env
proxy_protocol = v2
proxy_from = 127.0.0.1

[stats]
tcp = 127.0.0.1:0
"""


def exchange(addr, data, half_close=True):
    """Sends data and returns what comes back until the server closes (b"" for a connection
    refused by a reset, which may come before the client is done sending)."""
    with tcp_connect(addr) as c:
        try:
            c.sendall(data)
            if half_close:
                c.shutdown(socket.SHUT_WR)
            return recv_until_eof(c)
        except (ConnectionResetError, BrokenPipeError, OSError):
            return b""


def rejected(netd, service, reason):
    with tcp_connect(netd.addr("stats", "tcp")) as c:
        text = recv_until_eof(c).decode()
    m = re.search(r'^netd_rejected_total\{service="%s",transport="tcp",reason="%s"\} (\d+)$'
                  % (service, reason), text, re.M)
    return int(m.group(1)) if m else 0


class ProxyProtocol(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.netd = Netd(CONFIG)
        cls.netd.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.netd.__exit__(None, None, None)

    def test_v1_and_v2_headers_name_the_client_and_what_follows_is_the_handlers(self):
        echo = self.netd.addr("echo", "tcp")
        self.assertEqual(exchange(echo, proxy_header.v1("198.51.100.7", 40001) + b"one\n"),
                         b"one\n")
        self.assertEqual(exchange(echo, proxy_header.v2("2001:db8::7", 40002) + b"two\n"),
                         b"two\n")
        for pattern in (r"\[echo\] tcp 198\.51\.100\.7:40001: closed",
                        r"\[echo\] tcp \[2001:db8::7\]:40002: closed"):
            self.assertIsNotNone(self.netd.wait_for_line(pattern), self.netd.describe())

    def test_local_and_unknown_mean_the_balancer_itself(self):
        echo = self.netd.addr("echo", "tcp")
        self.assertEqual(exchange(echo, proxy_header.v1_unknown() + b"u\n"), b"u\n")
        self.assertEqual(exchange(echo, proxy_header.v2_local() + b"l\n"), b"l\n")

    def test_a_header_split_into_pieces_is_read_whole(self):
        data = proxy_header.v2("198.51.100.8", 40003, tlvs=b"\x04\x00\x05abcde") + b"split\n"
        with tcp_connect(self.netd.addr("echo", "tcp")) as c:
            for at in range(0, len(data), 7):
                c.sendall(data[at:at + 7])
                time.sleep(0.01)
            c.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_until_eof(c), b"split\n")

    def test_verify_request_sees_the_client_of_the_header(self):
        echo = self.netd.addr("echo", "tcp")
        before = rejected(self.netd, "echo", "acl")
        self.assertEqual(exchange(echo, proxy_header.v1("203.0.113.66", 1) + b"x\n"), b"")
        self.assertTrue(wait_until(lambda: rejected(self.netd, "echo", "acl") == before + 1))
        # max_per_source = 1 counts the header's address, not the balancer's.
        limited = self.netd.addr("limited", "tcp")
        with tcp_connect(limited) as first:
            first.sendall(proxy_header.v1("198.51.100.9", 2) + b"held\n")
            self.assertEqual(first.recv(10), b"held\n")
            self.assertIn(b"too many connections",
                          exchange(limited, proxy_header.v1("198.51.100.9", 3) + b"no\n"))
            self.assertEqual(exchange(limited, proxy_header.v1("198.51.100.10", 4) + b"yes\n"),
                             b"yes\n")

    def test_no_header_a_bad_one_or_a_late_one_closes_and_counts(self):
        echo = self.netd.addr("echo", "tcp")
        before = rejected(self.netd, "echo", "proxy")
        self.assertEqual(exchange(echo, b"hello\n"), b"")
        self.assertEqual(exchange(echo, b"PROXY TCP4 198.51.100.1 192.0.2.1 99999 7\r\nx\n"), b"")
        started = time.monotonic()
        with tcp_connect(echo) as c:
            c.sendall(b"PROXY TCP4 198.51")  # and nothing more
            self.assertEqual(recv_until_eof(c), b"")
        self.assertLess(time.monotonic() - started, 3.0)  # proxy_timeout = 1
        self.assertTrue(wait_until(lambda: rejected(self.netd, "echo", "proxy") == before + 3))
        self.assertIsNotNone(self.netd.wait_for_line(
            r"\[echo\] rejected connection from 127\.0\.0\.1:\d+ \(proxy: "))

    def test_a_header_from_outside_proxy_from_is_refused(self):
        # A client that forges a header directly is not a balancer.
        before = rejected(self.netd, "far", "proxy")
        self.assertEqual(exchange(self.netd.addr("far", "tcp"),
                                  proxy_header.v1("198.51.100.1", 1) + b"x\n"), b"")
        self.assertTrue(wait_until(lambda: rejected(self.netd, "far", "proxy") == before + 1))

    def test_a_service_that_speaks_first_waits_for_the_header(self):
        with tcp_connect(self.netd.addr("v2only", "tcp")) as c:
            c.settimeout(0.3)
            with self.assertRaises(socket.timeout):
                c.recv(100)
            c.settimeout(5)
            c.sendall(proxy_header.v2("198.51.100.11", 5))
            self.assertRegex(recv_until_eof(c), rb"\d{4} \d\d:\d\d:\d\d")
        # v1 to a v2 service: refused.
        self.assertEqual(exchange(self.netd.addr("v2only", "tcp"), proxy_header.v1("198.51.100.1", 1)),
                         b"")

    def test_the_logger_records_the_client_of_the_header(self):
        exchange(self.netd.addr("log", "tcp"),
                 proxy_header.v1("198.51.100.12", 6000) + b"<13>Dec  1 10:00:00 host app: hi\n")
        path = self.netd.path("messages.log")
        self.assertTrue(wait_until(lambda: os.path.exists(path) and "hi" in open(path).read()))
        line = [l for l in open(path).read().splitlines() if l.endswith(" hi")][0]
        self.assertEqual(line.split(" ")[1], "198.51.100.12:6000", line)

    def test_a_program_gets_both_ends_from_the_header(self):
        out = exchange(self.netd.addr("env", "tcp"),
                       proxy_header.v2("198.51.100.13", 7001, "192.0.2.5", 7777))
        env = dict(line.split("=", 1) for line in out.decode().splitlines())
        self.assertEqual((env["REMOTE_ADDR"], env["REMOTE_PORT"], env["LOCAL_ADDR"],
                          env["LOCAL_PORT"]), ("198.51.100.13", "7001", "192.0.2.5", "7777"))


if __name__ == "__main__":
    unittest.main()
