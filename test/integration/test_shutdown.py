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

from netd_harness import Netd, recv_until_eof, tcp_connect, unix_connect  # noqa: E402

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

    def test_a_client_accepted_just_before_sigterm_gets_its_answer(self):
        # Its request is on its way when the drain starts: the connection waits
        # first_bytes_grace (250 ms) for its first bytes instead of closing unanswered.
        with Netd(CONFIG) as n:
            with tcp_connect(n.addr("echo", "tcp")) as c:
                time.sleep(0.2)  # accepted and waiting for input
                n.send_signal(signal.SIGTERM)
                self.assertIsNotNone(n.wait_for_line(r"stopping on SIGTERM"), n.describe())
                time.sleep(0.05)
                c.sendall(b"late\n")
                self.assertEqual(recv_until_eof(c), b"late\n")
            self.assertEqual(n.wait_exit(5), 0, n.describe())

    def test_a_silent_client_is_closed_once_the_grace_is_over(self):
        with Netd(CONFIG) as n:
            with tcp_connect(n.addr("echo", "tcp")) as c:
                time.sleep(0.2)
                t0 = time.monotonic()
                n.send_signal(signal.SIGTERM)
                self.assertEqual(recv_until_eof(c), b"")
                self.assertLess(time.monotonic() - t0, 1.5)  # not shutdown_timeout
            self.assertEqual(n.wait_exit(5), 0, n.describe())

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

    def test_a_sigterm_while_it_exits_does_not_change_its_exit_status(self):
        """Once drained netd only exits: a SIGTERM that comes after 'stopped' (a supervisor, or
        this harness, sending its own) stays pending, and the exit status still says netd
        stopped cleanly. The window is the teardown after 'stopped': a few milliseconds, longer
        under the sanitizers, where this failed 6 times in 20 before the fix."""
        for _ in range(5):
            with Netd(CONFIG) as n:
                n.send_signal(signal.SIGTERM)
                self.assertIsNotNone(n.wait_for_line(r" info stopped$"), n.describe())
                n.send_signal(signal.SIGTERM)
                self.assertEqual(n.wait_exit(10), 0, n.describe())

    def test_a_session_finishes_after_its_waiting_reply_is_sent(self):
        """A drain that meets a reply still on its way lets the session finish once it is sent:
        timefmt then answers the last line, which has no line end yet."""
        config = ("[server]\nlog_level = info\n\n[timefmt]\nunix = {tmp}/timefmt.sock\n"
                  "timezone = utc\n")
        fmt = b"%F" * 100   # 200 bytes in, 1,000 out: the answers outgrow the socket buffers
        lines = 600
        with Netd(config) as n, unix_connect(n.addr("timefmt", "unix"), timeout=10) as c:
            c.sendall(fmt + b"\n" + (fmt + b"\n") * (lines - 1) + b"%%last")
            time.sleep(0.3)  # netd answers until the socket takes no more, then waits for a read
            n.send_signal(signal.SIGTERM)
            got = recv_until_eof(c, deadline=time.monotonic() + 10)
        answers = got.split(b"\n")
        self.assertEqual(len(answers), lines + 2, got[-200:])
        self.assertEqual(answers[-2], b"%last", "the last line was not answered at the drain")
        self.assertEqual(answers[-1], b"")


if __name__ == "__main__":
    unittest.main(verbosity=2)
