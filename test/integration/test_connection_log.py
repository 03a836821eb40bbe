"""SPEC 7: log_connections = true gives one info line when each stream connection ends: service,
transport, peer, how it ended, how long it lasted, bytes in and out; and one per rejection, naming
the verifier. Off by default. In every mode (fork mode: the child logs its connection)."""

import os
import signal
import socket
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import Netd, recv_exact, recv_until_eof, tcp_connect  # noqa: E402

LINE = (r"\[%s\] tcp 127\.0\.0\.%d:\d+: %s after \d+(\.\d+)?(e-\d+)? s, %d bytes in, %d out")


class ConnectionLog(unittest.TestCase):

    def test_how_each_connection_ended(self):
        config = ("[server]\nlog_level = info\n\n"
                  "[echo]\ntcp = 127.0.0.1:0\nlog_connections = true\nidle_timeout = 1\n"
                  "deny = 127.0.0.2\n\n"
                  "[daytime]\ntcp = 127.0.0.1:0\nlog_connections = true\n\n"
                  "[quiet]\nhandler = echo\ntcp = 127.0.0.1:0\n")
        with Netd(config) as n:
            with tcp_connect(n.addr("echo", "tcp")) as c:
                c.sendall(b"hello\n")
                self.assertEqual(recv_exact(c, 6), b"hello\n")
                c.shutdown(socket.SHUT_WR)
                recv_until_eof(c)
            self.assertIsNotNone(n.wait_for_line(LINE % ("echo", 1, "closed by the client", 6, 6)),
                                 n.describe())
            with tcp_connect(n.addr("daytime", "tcp")) as c:
                answer = recv_until_eof(c)
            self.assertIsNotNone(n.wait_for_line(
                LINE % ("daytime", 1, "closed by the service", 0, len(answer))), n.describe())
            with tcp_connect(n.addr("echo", "tcp")) as c:
                self.assertEqual(recv_until_eof(c, deadline=None), b"")  # silent: closed at 1-2 s
            self.assertIsNotNone(n.wait_for_line(LINE % ("echo", 1, "idle timeout", 0, 0)),
                                 n.describe())
            with tcp_connect(n.addr("echo", "tcp"), source="127.0.0.2") as c:
                self.assertEqual(recv_until_eof(c), b"")
            self.assertIsNotNone(n.wait_for_line(r"\[echo\] tcp 127\.0\.0\.2:\d+: rejected by acl"),
                                 n.describe())
            with tcp_connect(n.addr("quiet", "tcp")) as c:
                c.sendall(b"x\n")
                recv_exact(c, 2)
            held = tcp_connect(n.addr("echo", "tcp"))
            try:
                held.sendall(b"abc\n")
                self.assertEqual(recv_exact(held, 4), b"abc\n")
                n.send_signal(signal.SIGTERM)
                self.assertEqual(n.wait_exit(10), 0, n.describe())
            finally:
                held.close()
        self.assertRegex(n.stderr, LINE % ("echo", 1, "drained at shutdown", 4, 4))
        self.assertNotIn("[quiet] tcp", n.stderr, "log_connections is off by default")


if __name__ == "__main__":
    unittest.main(verbosity=2)
