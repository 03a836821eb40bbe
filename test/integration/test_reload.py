"""SPEC 6: SIGHUP reloads the configuration. Listeners are added and removed as the file says,
ACLs, limits and handler options apply to new connections, connections already open finish under
the config they started with, and a broken file changes nothing. Runs in every mode."""

import os
import re
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (ASYNC_SIGNALS, Netd, blocked_signals, free_port_holder,  # noqa: E402
                          recv_exact, tcp_connect, thread_ids)


def ports(count):
    """count free TCP ports (held only while choosing)."""
    holders = [free_port_holder() for _ in range(count)]
    try:
        return [h.getsockname()[1] for h in holders]
    finally:
        for h in holders:
            h.close()


def echoes(sock, text):
    sock.sendall(text)
    return recv_exact(sock, len(text)) == text


def refused_or_closed(port):
    """True if nothing answers on port: refused, or closed without data."""
    try:
        with tcp_connect(("127.0.0.1", port), timeout=2) as c:
            c.sendall(b"x\n")
            return c.recv(10) == b""
    except (ConnectionRefusedError, ConnectionResetError):
        return True


class Reload(unittest.TestCase):

    def setUp(self):
        self.echo_port, self.daytime_port, self.time_port = ports(3)

    def config(self, extra_echo="", second="daytime", server=""):
        port = self.daytime_port if second == "daytime" else self.time_port
        return ("[server]\nlog_level = info\n%s\n[echo]\ntcp = 127.0.0.1:%d\n%s\n[%s]\ntcp = 127.0.0.1:%d\n"
                % (server, self.echo_port, extra_echo, second, port))

    def rewrite(self, n, text):
        with open(n.config_path, "w") as f:
            f.write(text)

    def reload(self, n, expect):
        """SIGHUP, then wait for the log line matching expect (after the ones already there)."""
        before = len(n.stderr_lines)
        n.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for line in n.stderr_lines[before:]:
                if re.search(expect, line):
                    return line
            time.sleep(0.02)
        self.fail("no %r after SIGHUP\n%s" % (expect, n.describe()))

    def test_listeners_and_acl_change_while_open_connections_go_on(self):
        with Netd(self.config()) as n:
            held = tcp_connect(("127.0.0.1", self.echo_port))
            try:
                self.assertTrue(echoes(held, b"before\n"))
                with tcp_connect(("127.0.0.1", self.daytime_port)) as d:
                    self.assertTrue(d.recv(100))
                # daytime goes, time comes, echo refuses 127.0.0.1 from now on.
                self.rewrite(n, self.config("deny = 127.0.0.1\n", second="time"))
                self.reload(n, r"\[time\] listening on tcp 127\.0\.0\.1:%d" % self.time_port)
                self.assertTrue(echoes(held, b"after the reload\n"), "the open connection was cut")
                with tcp_connect(("127.0.0.1", self.echo_port)) as fresh:
                    fresh.sendall(b"new\n")
                    self.assertEqual(fresh.recv(10), b"", "the tightened ACL does not apply")
                with tcp_connect(("127.0.0.1", self.time_port)) as t:
                    self.assertEqual(len(recv_exact(t, 4)), 4)
                self.assertTrue(refused_or_closed(self.daytime_port), "the removed listener answers")
                self.assertTrue(echoes(held, b"still\n"))
            finally:
                held.close()

    def test_handler_options_apply_to_new_connections_only(self):
        def config(stamp):
            return ("[server]\nlog_level = info\n\n[timefmt]\ntcp = 127.0.0.1:%d\n"
                    "default_format = %s %%Y\ntimezone = utc\n" % (self.echo_port, stamp))
        year = time.strftime("%Y", time.gmtime()).encode()
        with Netd(config("old")) as n:
            held = tcp_connect(("127.0.0.1", self.echo_port))
            try:
                held.sendall(b"\n")
                self.assertEqual(recv_exact(held, 9), b"old " + year + b"\n")
                self.rewrite(n, config("new"))
                self.reload(n, r"info ready: ")
                with tcp_connect(("127.0.0.1", self.echo_port)) as fresh:
                    fresh.sendall(b"\n")
                    self.assertEqual(recv_exact(fresh, 9), b"new " + year + b"\n")
                held.sendall(b"\n")
                self.assertEqual(recv_exact(held, 9), b"old " + year + b"\n",
                                 "an open connection must keep the options it started with")
            finally:
                held.close()

    def test_a_broken_file_changes_nothing(self):
        with Netd(self.config()) as n:
            with tcp_connect(("127.0.0.1", self.echo_port)) as held:
                self.assertTrue(echoes(held, b"one\n"))
                self.rewrite(n, "[echo]\ntcp = 127.0.0.1:%d\ncolour = blue\n" % self.echo_port)
                line = self.reload(n, r"error reload: ")
                self.assertIn("[echo] colour: unknown key", line)
                self.assertIn("the running configuration stays in effect", line)
                self.assertTrue(echoes(held, b"two\n"))
                with tcp_connect(("127.0.0.1", self.echo_port)) as fresh:
                    self.assertTrue(echoes(fresh, b"three\n"))
                with tcp_connect(("127.0.0.1", self.daytime_port)) as d:
                    self.assertTrue(d.recv(100))

    def test_a_port_in_use_changes_nothing(self):
        with Netd(self.config()) as n, free_port_holder() as taken:
            busy = taken.getsockname()[1]
            self.rewrite(n, self.config() + "\n[extra]\nhandler = echo\ntcp = 127.0.0.1:%d\n" % busy)
            line = self.reload(n, r"error reload: ")
            self.assertIn("[extra] tcp: cannot listen on 127.0.0.1:%d" % busy, line)
            with tcp_connect(("127.0.0.1", self.daytime_port)) as d:
                self.assertTrue(d.recv(100))

    def test_keys_that_need_a_restart_are_refused(self):
        with Netd(self.config()) as n:
            self.rewrite(n, self.config(server="max_children = 7\n", second="time"))
            line = self.reload(n, r"error reload: ")
            self.assertIn("[server] max_children: changes only with a restart", line)
            with tcp_connect(("127.0.0.1", self.daytime_port)) as d:
                self.assertTrue(d.recv(100), "a refused reload changed the listeners")

    def test_a_thread_a_reload_starts_takes_no_signals(self):
        """A logger added by a reload starts its writer thread from the thread that takes
        signals; the writer must not take them too (only loop 0's thread does)."""
        with Netd(self.config()) as n:
            before = set(thread_ids(n.pid))
            self.rewrite(n, self.config() + "\n[logger]\ntcp = 127.0.0.1:0\nfile = %s\n"
                         % n.path("messages.log"))
            self.reload(n, r"\[logger\] listening on tcp ")
            started = set(thread_ids(n.pid)) - before
            self.assertTrue(started, "the reload started no thread")
            for tid in started:
                self.assertEqual(blocked_signals(n.pid, tid), ASYNC_SIGNALS, tid)
            self.assertEqual(blocked_signals(n.pid, n.pid), set())


if __name__ == "__main__":
    unittest.main(verbosity=2)
