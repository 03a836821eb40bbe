"""SPEC 8, health and readiness: the stats service answers /healthz (200 while every event loop
answers within a second, else 503) and /readyz (200 while serving, 503 while draining), with the
gauge netd_ready; [server] drain_delay keeps serving, not ready, for that long after SIGTERM, so
that a balancer's health check takes netd out of rotation before it stops accepting. In every
mode (NETD_MODE): in fork mode the scrape is served by a child, which reads the daemon's state
from the shared table.
"""

import os
import re
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (  # noqa: E402
    MODE, Netd, only_in, recv_until_eof, tcp_connect, test_server_bin, wait_until,
)

CONFIG = """\
[server]
shutdown_timeout = 2
drain_delay = {delay}

[echo]
tcp = 127.0.0.1:0

[stats]
tcp = 127.0.0.1:0
"""


def get(netd, path, timeout=5.0):
    """(status, body) of an HTTP GET of path from the stats service."""
    with tcp_connect(netd.addr("stats", "tcp"), timeout=timeout) as c:
        c.sendall(("GET %s HTTP/1.1\r\nHost: netd\r\n\r\n" % path).encode())
        head, _, body = recv_until_eof(c).partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def echo(netd, text=b"ping\n"):
    with tcp_connect(netd.addr("echo", "tcp")) as c:
        c.sendall(text)
        c.shutdown(socket.SHUT_WR)
        return recv_until_eof(c)


def ready_gauge(netd):
    status, body = get(netd, "/metrics")
    return int(re.search(r"^netd_ready (\d+)$", body, re.M).group(1))


class Readiness(unittest.TestCase):

    def test_a_serving_netd_is_live_and_ready(self):
        with Netd(CONFIG.format(delay=0)) as n:
            self.assertEqual(get(n, "/healthz"), (200, "ok\n"))
            self.assertEqual(get(n, "/readyz"), (200, "ready\n"))
            self.assertEqual(ready_gauge(n), 1)
            status, _ = get(n, "/elsewhere")
            self.assertEqual(status, 404)

    def test_sigterm_turns_not_ready_and_serves_on_for_drain_delay(self):
        with Netd(CONFIG.format(delay=2)) as n:
            n.send_signal(signal.SIGTERM)
            self.assertTrue(wait_until(lambda: get(n, "/readyz")[0] == 503), n.describe())
            self.assertEqual(get(n, "/readyz"), (503, "draining\n"))
            self.assertEqual(ready_gauge(n), 0)
            self.assertEqual(get(n, "/healthz"), (200, "ok\n"))  # alive all the same
            started = time.monotonic()
            # New clients are still served meanwhile.
            while time.monotonic() - started < 1.0:
                self.assertEqual(echo(n), b"ping\n")
                time.sleep(0.1)
            self.assertIsNone(n.proc.poll())
            self.assertIsNotNone(n.wait_for_line(r"stopping on SIGTERM$", timeout=5))
            self.assertEqual(n.wait_exit(5), 0)

    def test_a_second_sigterm_cuts_drain_delay_short(self):
        with Netd(CONFIG.format(delay=60)) as n:
            n.send_signal(signal.SIGTERM)
            self.assertIsNotNone(n.wait_for_line(r"not ready; serving for drain_delay = 60 s"))
            n.send_signal(signal.SIGHUP)  # a reload meanwhile leaves it not ready
            self.assertIsNotNone(n.wait_for_line(r"SIGHUP: reloading"))
            self.assertEqual(get(n, "/readyz"), (503, "draining\n"))
            n.send_signal(signal.SIGTERM)
            self.assertIsNotNone(n.wait_for_line(r"stopping on SIGTERM \(drain_delay cut short\)"))
            self.assertEqual(n.wait_exit(5), 0)

    @only_in("pool")
    def test_a_stuck_event_loop_fails_healthz(self):
        config = """\
[server]
threads = 2

[faulty]
tcp = 127.0.0.1:0

[stats]
tcp = 127.0.0.1:0
"""
        with Netd(config, binary=test_server_bin()) as n:
            # One loop at a time is stalled for 2 s; the kernel spreads the scrapes over both
            # loops' sockets, and one that lands on the other loop after a second reports it.
            seen = None
            for _ in range(4):
                with tcp_connect(n.addr("faulty", "tcp")) as stalled:
                    stalled.sendall(b"stall\n")
                    time.sleep(1.2)
                    for _ in range(6):
                        try:
                            status, body = get(n, "/healthz", timeout=0.1)
                        except OSError:
                            continue  # landed on the stuck loop
                        if status == 503:
                            seen = body
                            break
                    stalled.settimeout(5)
                    stalled.recv(10)  # the stall is over
                if seen is not None:
                    break
            self.assertIsNotNone(seen, n.describe())
            self.assertRegex(seen, r'event loop \{loop="\d"\} has not answered for \d+ ms')
            self.assertTrue(wait_until(lambda: get(n, "/healthz") == (200, "ok\n"), timeout=30))


if __name__ == "__main__":
    unittest.main()
