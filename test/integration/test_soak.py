"""Soak (issue 8): a bounded mixed load on every service and transport for NETD_SOAK_SECONDS
(default 60) against one netd, its memory sampled every second. Afterwards every answer was
right, every logger record is in the file exactly once, and memory did not keep growing: the
second half of the run holds no more than the first half plus a small margin. Runs in the pool
pass of the suite (threads, the mode with the most sharing); figures go to docs/reliability.md.
"""

import os
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (  # noqa: E402
    IO_TIMEOUT, SANITIZER, Netd, only_in, recv_exact, recv_until_eof, rss_kib, tcp_connect,
    udp_socket, unix_connect,
)

SECONDS = float(os.environ.get("NETD_SOAK_SECONDS", "60"))

CONFIG = """\
[server]
log_level = info
shutdown_timeout = 5

[echo]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
unix = {tmp}/echo.sock

[timefmt]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0

[daytime]
tcp = 127.0.0.1:0

[time]
udp = 127.0.0.1:0

[log]
handler = logger
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
file = {tmp}/soak.log
flush_interval = 100

[stats]
tcp = 127.0.0.1:0
request_wait = 100
"""


class Soak(unittest.TestCase):

    @only_in("pool")
    def test_mixed_load_keeps_memory_flat_and_answers_right(self):
        with Netd(CONFIG, stop_timeout=30) as n:
            stop = threading.Event()
            errors = []
            counts = {}
            lock = threading.Lock()

            def count(name, k=1):
                with lock:
                    counts[name] = counts.get(name, 0) + k

            def worker(name, body):
                def run():
                    i = 0
                    while not stop.is_set():
                        try:
                            body(i)
                        except Exception as e:  # noqa: BLE001 - every failure is a finding
                            errors.append("%s #%d: %r" % (name, i, e))
                            return
                        count(name)
                        i += 1
                return threading.Thread(target=run, name=name, daemon=True)

            def echo_tcp(i):
                with tcp_connect(n.addr("echo", "tcp")) as c:
                    payload = (b"%d " % i) * (1 + i % 500) + b"\n"
                    c.sendall(payload)
                    assert recv_exact(c, len(payload)) == payload

            def echo_unix_long(i):
                with unix_connect(n.addr("echo", "unix")) as c:
                    for k in range(50):
                        c.sendall(b"line %d %d\n" % (i, k))
                        assert recv_exact(c, len(b"line %d %d\n" % (i, k))) == b"line %d %d\n" % (i, k)

            udp = udp_socket()

            def echo_udp(i):
                udp.sendto(b"dgram %d" % i, n.addr("echo", "udp"))
                assert udp.recvfrom(100)[0] == b"dgram %d" % i

            def timefmt(i):
                with tcp_connect(n.addr("timefmt", "tcp")) as c:
                    c.sendall(b"%Y\n%c\n\n")
                    assert recv_exact(c, 5) == time.strftime("%Y\n").encode()

            def daytime(i):
                with tcp_connect(n.addr("daytime", "tcp")) as c:
                    assert recv_until_eof(c).endswith(b"\r\n")

            tsock = udp_socket()

            def time_udp(i):
                tsock.sendto(b"", n.addr("time", "udp"))
                seconds = struct.unpack("!I", tsock.recvfrom(10)[0])[0] - 2208988800
                assert abs(seconds - time.time()) < 5

            def logger(i):
                with tcp_connect(n.addr("log", "tcp")) as c:
                    c.sendall(b"".join(b"soak tcp %d %d\n" % (i, k) for k in range(20)))
                count("log lines", 20)

            def stats(i):
                with tcp_connect(n.addr("stats", "tcp")) as c:
                    c.shutdown(socket.SHUT_WR)
                    assert recv_until_eof(c).startswith(b"# HELP")
                time.sleep(0.2)

            threads = [worker(f.__name__, f) for f in
                       (echo_tcp, echo_unix_long, echo_udp, timefmt, daytime, time_udp, logger,
                        stats)]
            samples = []
            started = time.monotonic()
            for t in threads:
                t.start()
            try:
                while time.monotonic() - started < SECONDS and not errors:
                    samples.append(rss_kib(n.pid, children=True))
                    time.sleep(1)
            finally:
                stop.set()
                for t in threads:
                    t.join(IO_TIMEOUT * 2)
                udp.close()
                tsock.close()
            self.assertEqual(errors, [], n.describe())
            # Every logger record arrives, exactly once.
            sent = counts.get("log lines", 0)
            path = n.path("soak.log")
            deadline = time.monotonic() + IO_TIMEOUT
            lines = 0
            while time.monotonic() < deadline:
                with open(path, "rb") as f:
                    lines = f.read().count(b" soak tcp ")
                if lines >= sent:
                    break
                time.sleep(0.1)
            self.assertEqual(lines, sent)
            half = len(samples) // 2
            first, second = max(samples[:half]), max(samples[half:])
            sys.stderr.write("soak: %.0f s, %s; memory KiB: start %d, max first half %d, max "
                             "second half %d\n" % (SECONDS, counts, samples[0], first, second))
            if not SANITIZER:  # ASan's quarantine keeps freed memory on purpose
                self.assertLessEqual(second, first + 2048, "memory kept growing: %r" % samples)


if __name__ == "__main__":
    unittest.main()
