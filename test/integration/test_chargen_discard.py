"""SPEC 7: chargen (RFC 864) and discard (RFC 863) over real sockets, in every mode."""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (  # noqa: E402
    Netd, recv_exact, rss_kib, shared_netd, tcp_connect, udp_socket, wait_until,
)

CONFIG = """\
[server]
log_level = info

[chargen]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
idle_timeout = 2

[discard]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0

[stats]
tcp = 127.0.0.1:0
"""


def line(n):
    return bytes(32 + (n + i) % 95 for i in range(72)) + b"\r\n"


class Chargen(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.n = shared_netd(cls, CONFIG)

    def test_a_stream_gets_the_rotating_lines_as_fast_as_it_reads(self):
        with tcp_connect(self.n.addr("chargen", "tcp")) as c:
            c.sendall(b"what the client sends is dropped\n")
            got = recv_exact(c, 500 * 74)
            for n in range(500):
                self.assertEqual(got[n * 74:(n + 1) * 74], line(n), "line %d" % n)
            # A reader that stops is not flooded: netd writes only what the socket takes, and
            # keeps nothing of its own for it. Measured as netd's memory while the reader stands
            # still (draining what waits measured netd's speed instead: it refills the socket as
            # fast as a drain loop empties it, 240 MB under ASan).
            time.sleep(0.3)
            before = rss_kib(self.n.pid, children=True)
            time.sleep(1.0)
            grown = rss_kib(self.n.pid, children=True) - before
            self.assertLess(grown, 64 << 10, "netd grew %d KiB for a reader that stopped" % grown)

    def test_a_reader_that_keeps_reading_is_not_idle(self):
        with tcp_connect(self.n.addr("chargen", "tcp")) as c:
            deadline = time.monotonic() + 3.5  # past idle_timeout = 2
            total = 0
            while time.monotonic() < deadline:
                chunk = c.recv(65536)
                self.assertTrue(chunk, "closed after %d bytes although the client reads" % total)
                total += len(chunk)
                time.sleep(0.01)

    def test_a_datagram_gets_0_to_512_characters(self):
        with udp_socket() as u:
            sizes = []
            for _ in range(30):
                u.sendto(b"x", self.n.addr("chargen", "udp"))
                reply, _ = u.recvfrom(2048)
                self.assertLessEqual(len(reply), 512)
                if reply:
                    first = reply[0] - 32
                    expected = b"".join(line(first + k) for k in range(8))
                    self.assertEqual(reply, expected[:len(reply)])
                sizes.append(len(reply))
            self.assertGreater(max(sizes), 74)


class Discard(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.n = shared_netd(cls, CONFIG)

    def test_everything_is_read_and_nothing_answered(self):
        with tcp_connect(self.n.addr("discard", "tcp")) as c:
            c.sendall(b"x" * (4 << 20))  # 4 MiB: read, or this would block
            c.shutdown(socket.SHUT_WR)
            self.assertEqual(c.recv(10), b"")
        with udp_socket(timeout=0.3) as u:
            u.sendto(b"anything", self.n.addr("discard", "udp"))
            with self.assertRaises(socket.timeout):
                u.recvfrom(100)


if __name__ == "__main__":
    unittest.main(verbosity=2)
