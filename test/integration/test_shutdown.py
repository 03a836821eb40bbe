"""SPEC 6: SIGTERM drains. netd stops accepting, handles what clients already sent, lets replies
still on their way reach clients that read them, and closes what is left at shutdown_timeout;
then exits 0. Runs in every mode (fork: each child drains its own connection)."""

import os
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import Netd, tcp_connect  # noqa: E402

CONFIG = """\
[server]
log_level = info
shutdown_timeout = 2

[echo]
tcp = 127.0.0.1:0
"""
PAYLOAD = bytes(range(256)) * 4096 * 8  # 8 MiB: more than the socket buffers hold


def send_in_background(sock, data):
    """Sends data from a thread (the peer does not read meanwhile); returns the thread."""
    def run():
        try:
            sock.sendall(data)
        except OSError:
            pass  # closed by the server at shutdown_timeout: expected in one test
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


class Drain(unittest.TestCase):

    def test_replies_on_their_way_reach_a_client_that_reads(self):
        n = Netd(CONFIG, check_exit=False)
        with n:
            c = tcp_connect(n.addr("echo", "tcp"), timeout=10)
            try:
                sender = send_in_background(c, PAYLOAD)
                time.sleep(0.5)          # netd has echoed until the client's receive buffer is full
                t0 = time.monotonic()
                n.send_signal(signal.SIGTERM)
                received = bytearray()
                while True:              # now the client reads: what netd still holds arrives
                    try:
                        chunk = c.recv(1 << 20)
                    except ConnectionResetError:
                        self.fail("reset after %d bytes: netd threw its unsent reply away" % len(received))
                    if not chunk:
                        break
                    received += chunk
                sender.join(5)
            finally:
                c.close()
            self.assertEqual(n.wait_exit(10), 0, n.describe())
            self.assertLess(time.monotonic() - t0, 2, "netd waited for shutdown_timeout although "
                            "its client took every reply")
        self.assertGreater(len(received), 0)
        self.assertEqual(bytes(received), PAYLOAD[:len(received)], "the echo is not a prefix of what was sent")

    def test_a_client_that_never_reads_is_closed_at_shutdown_timeout(self):
        n = Netd(CONFIG, check_exit=False)
        with n:
            c = tcp_connect(n.addr("echo", "tcp"), timeout=10)
            try:
                send_in_background(c, PAYLOAD)
                time.sleep(0.5)
                t0 = time.monotonic()
                n.send_signal(signal.SIGTERM)
                rc = n.wait_exit(15)
                took = time.monotonic() - t0
            finally:
                c.close()
            self.assertEqual(rc, 0, n.describe())
            self.assertGreater(took, 1.5, "netd did not give the reply shutdown_timeout to be taken")
            self.assertLess(took, 2 + 3)
            self.assertIsNotNone(n.wait_for_line(r"still sending after shutdown_timeout; closed"),
                                 n.describe())


if __name__ == "__main__":
    unittest.main(verbosity=2)
