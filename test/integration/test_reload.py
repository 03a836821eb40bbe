"""SPEC 6: SIGHUP reloads the configuration, as docs/operations.md's table says for each kind of
key: listeners are added and removed as the file says; ACLs, limits and handler options apply to
new connections, while the limits count the connections still open from before; the logger's
file settings apply to its writer; connections already open finish under the config they started
with; keys that need a restart, a broken file, a port in use or a handler that cannot start change
nothing, and the next SIGHUP is handled as ever. Runs in every mode."""

import os
import re
import signal
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (ASYNC_SIGNALS, MODE, POOL_THREADS, Netd, blocked_signals,  # noqa: E402
                          free_port_holder, recv_exact, recv_until_eof, run_netd, tcp_connect, test_server_bin,
                          thread_ids, wait_until)

BUSY = b"error: too many connections, try later\n"


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

    def reload(self, n, expect=r"info ready: "):
        """SIGHUP, then wait for the 'ready:' line netd logs after every reload, taken or not;
        returns the line since the SIGHUP that matches expect. Unless expect looks for the error,
        a reload that logged one fails the test."""
        before = len(n.stderr_lines)
        n.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = n.stderr_lines[before:]
            if any(re.search(r"info ready: ", line) for line in lines):
                if "error reload" not in expect:
                    self.assertFalse([line for line in lines if "error reload: " in line],
                                     n.describe())
                for line in lines:
                    if re.search(expect, line):
                        return line
                break
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
        # The mode in the file, not on the command line (which would win over the file).
        mode = MODE or "strand"
        running = "mode = %s\nthreads = %d\n" % (mode, POOL_THREADS if mode == "pool" else 0)
        with Netd(self.config(server=running)) as n:
            for key, value in (("mode", "fork" if mode != "fork" else "strand"), ("threads", "3"),
                               ("max_children", "7"), ("user", "nobody"), ("group", "nogroup"),
                               ("log_target", "syslog")):
                changed = re.sub(r"(?m)^%s = .*$" % key, "%s = %s" % (key, value), running)
                if changed == running:
                    changed += "%s = %s\n" % (key, value)
                self.rewrite(n, self.config(server=changed, second="time"))
                line = self.reload(n, r"error reload: ")
                self.assertIn("[server] %s: changes only with a restart" % key, line)
                with tcp_connect(("127.0.0.1", self.daytime_port)) as d:
                    self.assertTrue(d.recv(100), "a refused reload changed the listeners")

    def test_server_keys_that_apply_at_once(self):
        """[server] max_connections and log_level apply on reload."""
        with Netd(self.config(server="max_connections = 1\n")) as n:
            with tcp_connect(("127.0.0.1", self.echo_port)) as held:
                self.assertTrue(echoes(held, b"one\n"))
                with tcp_connect(("127.0.0.1", self.echo_port)) as second:
                    self.assertEqual(recv_until_eof(second), BUSY)
                self.rewrite(n, self.config(server="max_connections = 2\n").replace(
                    "log_level = info", "log_level = debug"))
                self.reload(n, r"info ready: ")
                with tcp_connect(("127.0.0.1", self.echo_port)) as second:
                    self.assertTrue(echoes(second, b"two\n"))
            # A client that resets its connection is worth a debug line (once the limit has room:
            # fork mode counts a connection until its child is reaped).
            def served_then_reset():
                with tcp_connect(("127.0.0.1", self.echo_port)) as reset:
                    reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return echoes(reset, b"three\n")
            self.assertTrue(wait_until(served_then_reset))
            self.assertTrue(wait_until(lambda: any(" debug " in line for line in n.stderr_lines)),
                            "log_level = debug did not apply")

    def test_limits_count_the_connections_open_from_before(self):
        """max_connections and max_per_source count per service, across reloads: connections
        admitted under the old config still count against the new one."""
        limits = "max_connections = 2\nmax_per_source = 2\n"
        with Netd(self.config(limits)) as n:
            held = [tcp_connect(("127.0.0.1", self.echo_port)) for _ in range(2)]
            try:
                for h in held:
                    self.assertTrue(echoes(h, b"held\n"))
                self.rewrite(n, self.config(limits + "idle_timeout = 30\n"))
                self.reload(n, r"info ready: ")
                with tcp_connect(("127.0.0.1", self.echo_port)) as third:
                    self.assertEqual(recv_until_eof(third), BUSY, "a reload reset the limits")
                # A wider per-service limit: the per-source one (2, from 127.0.0.1) still holds.
                self.rewrite(n, self.config("max_connections = 5\nmax_per_source = 2\n"))
                self.reload(n, r"info ready: ")
                with tcp_connect(("127.0.0.1", self.echo_port)) as third:
                    self.assertEqual(recv_until_eof(third), BUSY, "max_per_source was reset")
                with tcp_connect(("127.0.0.1", self.echo_port), source="127.0.0.2") as other:
                    self.assertTrue(echoes(other, b"another source\n"))
                held.pop().close()
                self.assertTrue(wait_until(lambda: self.admitted()), "a closed connection still counts")
                for h in held:
                    self.assertTrue(echoes(h, b"still served\n"))
            finally:
                for h in held:
                    h.close()

    def admitted(self):
        """Whether a new echo connection from 127.0.0.1 is served (not answered busy)."""
        with tcp_connect(("127.0.0.1", self.echo_port)) as c:
            c.sendall(b"x\n")
            return c.recv(100) == b"x\n"

    def test_logger_file_settings_apply_to_the_running_writer(self):
        """rotate_size (and flush_interval, fsync, max_files) changed by a reload apply to the
        file's writer, which serves the old and the new configuration alike."""
        def config(file_keys):
            return ("[server]\nlog_level = info\n\n[logger]\ntcp = 127.0.0.1:%d\nfile = %s\n%s"
                    % (self.echo_port, path, file_keys))
        with Netd(lambda tmp: "") as n:
            path = n.path("messages.log")
            self.rewrite(n, config("rotate_size = 0\n"))
            self.reload(n, r"\[logger\] listening on tcp ")
            with tcp_connect(("127.0.0.1", self.echo_port)) as held:
                held.sendall(b"before\n")
                self.assertTrue(wait_until(lambda: os.path.exists(path) and os.path.getsize(path) > 0))
                self.rewrite(n, config("rotate_size = 300\nmax_files = 2\nflush_interval = 10\n"))
                self.reload(n, r"info ready: ")
                # Records of the connection from before, then of a new one, pass 300 bytes.
                held.sendall(b"x" * 200 + b"\n")
                with tcp_connect(("127.0.0.1", self.echo_port)) as fresh:
                    fresh.sendall(b"y" * 200 + b"\n")
                    self.assertTrue(wait_until(lambda: os.path.exists(path + ".1")),
                                    "rotate_size = 300 did not apply: no %s.1" % path)

    def test_services_sharing_a_file_must_agree_on_its_settings(self):
        r = run_netd("[a]\nhandler = logger\nudp = 127.0.0.1:0\nfile = {tmp}/x.log\n\n"
                     "[b]\nhandler = logger\nudp = 127.0.0.1:0\nfile = {tmp}/x.log\nfsync = true\n")
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertIn("[b] fsync: differs from the fsync of another service writing", r.stderr)

    def test_a_handler_that_cannot_start_changes_nothing(self):
        """A reload that fails for another reason than the config (a handler's start throws, as it
        does when no thread can be had) keeps the running config, the logger's writer that both
        configs share, and the signals: the next SIGHUP and SIGTERM are handled as ever."""
        def config(extra=""):
            return ("[server]\nlog_level = info\n\n[logger]\ntcp = 127.0.0.1:%d\nfile = %s\n%s"
                    % (self.echo_port, path, extra))
        with Netd(lambda tmp: "", binary=test_server_bin()) as n:
            path = n.path("messages.log")
            self.rewrite(n, config())
            self.reload(n, r"info ready: ")
            self.rewrite(n, config("\n[bad]\nhandler = faulty\ntcp = 127.0.0.1:%d\n"
                                   "start_error = system\n" % self.daytime_port))
            line = self.reload(n, r"error reload: ")
            self.assertIn("[bad] cannot start: faulty handler: no thread", line)
            self.assertIn("the running configuration stays in effect", line)
            with tcp_connect(("127.0.0.1", self.echo_port)) as c:
                c.sendall(b"written after the failed reload\n")
            self.assertTrue(wait_until(lambda: os.path.exists(path) and
                                       b"written after the failed reload" in open(path, "rb").read()),
                            "the failed reload stopped the shared writer")
            self.assertTrue(refused_or_closed(self.daytime_port))
            self.rewrite(n, config("\n[daytime]\ntcp = 127.0.0.1:%d\n" % self.daytime_port))
            self.reload(n, r"\[daytime\] listening on tcp ")

    def test_the_include_dir_is_read_again(self):
        """A file added to include_dir adds its service on SIGHUP; one removed, removes it."""
        def main(tmp):
            os.mkdir(os.path.join(tmp, "netd.d"))
            return self.config(server="include_dir = netd.d\n")
        with Netd(main) as n:
            extra = n.path("netd.d", "extra.ini")
            with open(extra, "w") as f:
                f.write("[extra]\nhandler = echo\ntcp = 127.0.0.1:%d\n" % self.time_port)
            self.reload(n, r"\[extra\] listening on tcp 127\.0\.0\.1:%d" % self.time_port)
            with tcp_connect(("127.0.0.1", self.time_port)) as c:
                self.assertTrue(echoes(c, b"from the new file\n"))
            with open(n.path("netd.d", "clash.ini"), "w") as f:
                f.write("[echo]\ntcp = 127.0.0.1:%d\n" % self.echo_port)
            line = self.reload(n, r"error reload: ")
            self.assertIn("clash.ini: [echo] is also defined in %s" % n.config_path, line)
            os.unlink(n.path("netd.d", "clash.ini"))
            os.unlink(extra)
            self.reload(n, r"info ready: ")
            self.assertTrue(refused_or_closed(self.time_port), "a removed file's service answers")

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
