"""SPEC 3, stats: the counters in Prometheus text exposition, plain for nc (on connect, then close)
and as an HTTP/1.1 response to an HTTP request line. Counters are checked to move with real
traffic on every transport, in every mode (NETD_MODE): in fork mode the connections are counted by
children and the scrape itself is served by one, in pool mode by several threads.
"""

import http.client
import os
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from exposition import labels, parse, wait_for  # noqa: E402
from netd_harness import (  # noqa: E402
    IO_TIMEOUT, Netd, only_in, recv_exact, recv_until_eof, tcp_connect, test_server_bin, udp_socket,
    unix_connect,
)

CONFIG = """\
[server]
log_level = info
shutdown_timeout = 2

[echo]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
unix = {tmp}/echo.sock
deny = 127.0.0.9

[log]
handler = logger
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
file = {tmp}/messages.log
flush_interval = 50

[stats]
tcp = 127.0.0.1:0
unix = {tmp}/stats.sock
request_wait = 300
"""

def scrape_plain(addr, unix=False):
    """What nc gets: connect, end our input at once, read until the server closes."""
    with (unix_connect(addr) if unix else tcp_connect(addr)) as s:
        s.shutdown(socket.SHUT_WR)
        return parse(recv_until_eof(s).decode())


def scrape_http(addr, path="/metrics", method="GET"):
    conn = http.client.HTTPConnection(addr[0], addr[1], timeout=IO_TIMEOUT)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


class Exposition(unittest.TestCase):

    def test_nc_gets_the_text_without_sending_anything(self):
        """An nc that sends nothing and keeps its input open gets the text after request_wait."""
        with Netd(CONFIG) as n:
            with tcp_connect(n.addr("stats", "tcp")) as s:
                started = time.monotonic()
                text = recv_until_eof(s).decode()
                waited = time.monotonic() - started
            samples = parse(text)
            self.assertEqual(samples[("netd_build_info", 'version="0.1.0"')], 1)
            self.assertIn(("netd_connections_accepted_total", labels("echo", "tcp")), samples)
            self.assertGreater(samples[("process_resident_memory_bytes", "")], 0)
            self.assertGreaterEqual(waited, 0.2, "answered before request_wait")

    def test_plain_over_unix_socket_and_a_non_http_line(self):
        with Netd(CONFIG) as n:
            samples = scrape_plain(n.addr("stats", "unix"), unix=True)
            self.assertIn(("netd_connections_active", labels("stats", "unix")), samples)
            with tcp_connect(n.addr("stats", "tcp")) as s:
                s.sendall(b"hello\n")
                self.assertIn("netd_build_info", recv_until_eof(s).decode())

    def test_http_get_head_and_errors(self):
        with Netd(CONFIG) as n:
            addr = n.addr("stats", "tcp")
            status, headers, body = scrape_http(addr)
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
            self.assertEqual(int(headers["Content-Length"]), len(body.encode()))
            self.assertIn(("netd_build_info", 'version="0.1.0"'), parse(body))
            status, headers, body = scrape_http(addr, method="HEAD")
            self.assertEqual((status, body), (200, ""))
            self.assertGreater(int(headers["Content-Length"]), 0)
            self.assertEqual(scrape_http(addr, path="/")[0], 200)
            self.assertEqual(scrape_http(addr, path="/other")[0], 404)
            status, headers, _ = scrape_http(addr, method="POST")
            self.assertEqual((status, headers.get("Allow")), (405, "GET, HEAD"))
            with tcp_connect(addr) as s:
                # A request split into single bytes is still one request.
                for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n":
                    s.sendall(bytes([byte]))
                self.assertTrue(recv_until_eof(s).startswith(b"HTTP/1.1 200 OK\r\n"))
            with tcp_connect(addr) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nbad header line\r\n\r\n")
                self.assertTrue(recv_until_eof(s).startswith(b"HTTP/1.1 400 Bad Request\r\n"))
            with tcp_connect(addr) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nX-Long: " + b"x" * 20000)
                self.assertTrue(recv_until_eof(s).startswith(b"HTTP/1.1 431 "))
            self.assertTrue(n.proc.poll() is None)


class Counters(unittest.TestCase):

    def test_stream_and_datagram_traffic_is_counted(self):
        with Netd(CONFIG) as n:
            scrape = lambda: scrape_plain(n.addr("stats", "tcp"))  # noqa: E731
            before = scrape()
            payload = b"x" * 1000 + b"\n"
            for _ in range(3):
                with tcp_connect(n.addr("echo", "tcp")) as c:
                    c.sendall(payload)
                    self.assertEqual(recv_exact(c, len(payload)), payload)
            with unix_connect(n.addr("echo", "unix")) as c:
                c.sendall(b"unix\n")
                self.assertEqual(recv_exact(c, 5), b"unix\n")
            with udp_socket() as u:
                for _ in range(4):
                    u.sendto(b"ping", n.addr("echo", "udp"))
                    self.assertEqual(u.recvfrom(100)[0], b"ping")
            tcp, udp, unix = labels("echo", "tcp"), labels("echo", "udp"), labels("echo", "unix")

            # What each counter must have moved by. (A fork child counts its reply's bytes just
            # after sending them: wait for all of them, not only the first.)
            expected = {
                ("netd_connections_accepted_total", tcp): 3,
                ("netd_received_bytes_total", tcp): 3 * len(payload),
                ("netd_sent_bytes_total", tcp): 3 * len(payload),
                ("netd_connections_accepted_total", unix): 1,
                ("netd_sent_bytes_total", unix): 5,
                ("netd_datagrams_received_total", udp): 4,
                ("netd_datagrams_sent_total", udp): 4,
                ("netd_received_bytes_total", udp): 16,
            }

            def deltas(s):
                return {key: s[key] - before[key] for key in expected}
            after = wait_for(scrape, lambda s: deltas(s) == expected and
                             s[("netd_connections_active", tcp)] == 0)
            self.assertEqual(deltas(after), expected)
            self.assertEqual(after[("netd_connections_active", tcp)], 0)
            self.assertEqual(after[("netd_datagrams_dropped_total", udp)], 0)
            # Stream-only and datagram-only metrics stay on their own transports.
            self.assertNotIn(("netd_datagrams_received_total", tcp), after)
            self.assertNotIn(("netd_connections_accepted_total", udp), after)

    def test_an_open_connection_is_active(self):
        with Netd(CONFIG) as n:
            scrape = lambda: scrape_plain(n.addr("stats", "tcp"))  # noqa: E731
            tcp = labels("echo", "tcp")
            with tcp_connect(n.addr("echo", "tcp")) as c1, tcp_connect(n.addr("echo", "tcp")) as c2:
                for c in (c1, c2):
                    c.sendall(b"hi\n")
                    recv_exact(c, 3)
                s = wait_for(scrape, lambda s: s[("netd_connections_active", tcp)] == 2)
                self.assertEqual(s[("netd_connections_active", tcp)], 2)
            s = wait_for(scrape, lambda s: s[("netd_connections_active", tcp)] == 0)
            self.assertEqual(s[("netd_connections_active", tcp)], 0)

    def test_rejections_are_counted_by_reason(self):
        with Netd(CONFIG) as n:
            for _ in range(2):
                with tcp_connect(n.addr("echo", "tcp"), source="127.0.0.9") as c:
                    self.assertEqual(recv_until_eof(c), b"")
            with udp_socket("127.0.0.9") as u:
                u.sendto(b"ping", n.addr("echo", "udp"))
            s = wait_for(lambda: scrape_plain(n.addr("stats", "tcp")),
                         lambda s: s[("netd_rejected_total", labels("echo", "udp", reason="acl"))] == 1)
            self.assertEqual(s[("netd_rejected_total", labels("echo", "tcp", reason="acl"))], 2)
            self.assertEqual(s[("netd_rejected_total", labels("echo", "udp", reason="acl"))], 1)
            self.assertEqual(s[("netd_rejected_total", labels("echo", "tcp", reason="max_connections"))], 0)
            # A datagram rejected still arrived: received, not sent.
            self.assertEqual(s[("netd_datagrams_received_total", labels("echo", "udp"))], 1)
            self.assertEqual(s[("netd_datagrams_sent_total", labels("echo", "udp"))], 0)
            # Reasons that never apply to a transport are not shown for it.
            self.assertNotIn(("netd_rejected_total", labels("echo", "unix", reason="acl")), s)

    def test_logger_records_and_file_writes(self):
        with Netd(CONFIG) as n:
            with tcp_connect(n.addr("log", "tcp")) as c:
                c.sendall(b"one\ntwo\nthree\n")
            with udp_socket() as u:
                u.sendto(b"<13>four", n.addr("log", "udp"))
            path = n.path("messages.log")
            log = 'service="log"'
            file_labels = 'file="%s"' % path
            s = wait_for(lambda: scrape_plain(n.addr("stats", "tcp")),
                         lambda s: s.get(("netd_log_file_records_written_total", file_labels)) == 4
                         and s[("netd_log_file_written_bytes_total", file_labels)] ==
                         os.path.getsize(path))
            self.assertEqual(s[("netd_logger_records_total", log)], 4, s)
            self.assertEqual(s[("netd_logger_records_dropped_total", log)], 0)
            self.assertEqual(s[("netd_log_file_records_written_total", file_labels)], 4)
            self.assertEqual(s[("netd_log_file_written_bytes_total", file_labels)],
                             os.path.getsize(path))
            self.assertEqual(s[("netd_log_file_write_errors_total", file_labels)], 0)

    def test_counts_go_on_across_a_reload(self):
        with Netd(CONFIG) as n:
            tcp = labels("echo", "tcp")
            for _ in range(2):
                with tcp_connect(n.addr("echo", "tcp")) as c:
                    c.sendall(b"a\n")
                    recv_exact(c, 2)
            scrape = lambda: scrape_plain(n.addr("stats", "tcp"))  # noqa: E731
            before = wait_for(scrape, lambda s: s[("netd_connections_accepted_total", tcp)] == 2)
            n.send_signal(signal.SIGHUP)
            after = wait_for(scrape, lambda s: s[("netd_config_reloads_total", "")] == 1)
            self.assertEqual(after[("netd_config_reloads_total", "")], 1)
            self.assertEqual(after[("netd_connections_accepted_total", tcp)],
                             before[("netd_connections_accepted_total", tcp)])
            # A reload the daemon refuses is counted as a failure.
            with open(n.config_path, "a") as f:
                f.write("\n[broken]\nhandler = no_such_handler\ntcp = 127.0.0.1:0\n")
            n.send_signal(signal.SIGHUP)
            after = wait_for(scrape, lambda s: s[("netd_config_reload_failures_total", "")] == 1)
            self.assertEqual(after[("netd_config_reload_failures_total", "")], 1)


FAULTY = """\
[server]
log_level = info
shutdown_timeout = 2

[faulty]
tcp = 127.0.0.1:0

[stats]
tcp = 127.0.0.1:0
"""


class HandlerErrors(unittest.TestCase):

    def test_a_throwing_handler_is_counted(self):
        with Netd(FAULTY, binary=test_server_bin()) as n:
            with tcp_connect(n.addr("faulty", "tcp")) as c:
                c.sendall(b"throw\n")
                recv_until_eof(c)
            s = wait_for(lambda: scrape_plain(n.addr("stats", "tcp")),
                         lambda s: s[("netd_handler_errors_total", labels("faulty", "tcp"))] == 1)
            self.assertEqual(s[("netd_handler_errors_total", labels("faulty", "tcp"))], 1)

    @only_in("fork")
    def test_fork_children_and_a_crashed_child(self):
        with Netd(FAULTY, binary=test_server_bin()) as n:
            scrape = lambda: scrape_plain(n.addr("stats", "tcp"))  # noqa: E731
            with tcp_connect(n.addr("faulty", "tcp")) as a, tcp_connect(n.addr("faulty", "tcp")) as b:
                for c in (a, b):
                    c.sendall(b"hi\n")
                    recv_exact(c, 3)
                # The scrape is served by a child of its own: three children live.
                s = scrape()
                self.assertEqual(s[("netd_fork_children", "")], 3)
                a.sendall(b"crash\n")
                recv_until_eof(a)
                # The parent counts both when it reaps the child; the scrape (another process)
                # may read the table between the two.
                s = wait_for(scrape, lambda s: (
                    s[("netd_handler_errors_total", labels("faulty", "tcp"))] == 1
                    and s[("netd_connections_active", labels("faulty", "tcp"))] == 1))
                self.assertEqual(s[("netd_handler_errors_total", labels("faulty", "tcp"))], 1)
                self.assertEqual(s[("netd_connections_active", labels("faulty", "tcp"))], 1)
            s = wait_for(scrape, lambda s: s[("netd_fork_children", "")] == 1)
            self.assertEqual(s[("netd_fork_children", "")], 1)  # the scrape's own


if __name__ == "__main__":
    unittest.main()
