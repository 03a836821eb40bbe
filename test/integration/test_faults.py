"""Faults (issue 8): file-descriptor exhaustion, a full disk under the logger and a reload away
from it, SIGKILL of a fork-mode child, and 10,000 concurrent connections. netd keeps serving what
it can, does not spin, recovers, and loses nothing silently. Runs in every mode (NETD_MODE).
"""

import os
import resource
import select
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (  # noqa: E402
    IO_TIMEOUT, MODE, SANITIZER, Netd, child_pids, only_in, pid_alive, recv_exact, tcp_connect,
)

ECHO = """\
[server]
log_level = info
shutdown_timeout = 3
max_children = 2000

[echo]
tcp = 127.0.0.1:0
"""


def cpu_seconds(pid):
    """utime + stime of pid (all its threads), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answered(sock, line, timeout):
    """Whether sock gets line echoed within timeout."""
    sock.settimeout(timeout)
    try:
        return recv_exact(sock, len(line)) == line
    except (socket.timeout, ConnectionError, AssertionError):
        return False




def raise_nofile(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted <= hard or (hard == resource.RLIM_INFINITY and soft < wanted):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= wanted


class DescriptorExhaustion(unittest.TestCase):

    # A sanitizer's runtime needs descriptors of its own while it checks (UBSan probes memory
    # through a pipe before it trusts a vtable, and reports go to files): out of descriptors it
    # reports errors that are not netd's.
    @unittest.skipIf(SANITIZER, "sanitizer runtimes fail on their own without descriptors")
    def test_serves_what_it_can_does_not_spin_and_recovers(self):
        with Netd(ECHO) as n:
            # Room for netd's own descriptors and a few dozen connections, no more.
            resource.prlimit(n.pid, resource.RLIMIT_NOFILE, (48, 48))
            addr = n.addr("echo", "tcp")
            clients = []
            try:
                for i in range(120):
                    c = tcp_connect(addr)
                    c.sendall(b"%d\n" % i)
                    clients.append(c)
                time.sleep(0.5)
                cpu_before = cpu_seconds(n.pid)
                served = [c for i, c in enumerate(clients) if answered(c, b"%d\n" % i, 0.05)]
                time.sleep(2)
                spent = cpu_seconds(n.pid) - cpu_before
                self.assertGreater(len(served), 0, "nothing was served")
                self.assertLess(spent, 0.5, "netd spun the CPU while out of descriptors: %.2f s "
                                "in about 2 s" % spent)
                if MODE != "fork":  # a fork-mode parent holds no descriptor per connection
                    self.assertLess(len(served), len(clients))
                    self.assertIsNotNone(n.wait_for_line(r"warning \[echo\] cannot accept on tcp"),
                                         n.describe())
                # Clients that leave free descriptors: every one still waiting is served, as
                # served ones leave. (In any order: in pool mode each loop has its own queue.)
                for c in served:
                    c.close()
                waiting = {c: i for i, c in enumerate(clients) if c not in served}
                deadline = time.monotonic() + 3 * IO_TIMEOUT
                while waiting and time.monotonic() < deadline:
                    readable, _, _ = select.select(list(waiting), [], [], 0.2)
                    for c in readable:
                        self.assertTrue(answered(c, b"%d\n" % waiting[c], IO_TIMEOUT))
                        c.close()
                        del waiting[c]
                self.assertEqual(sorted(waiting.values()), [],
                                 "clients never served after descriptors were freed")
                # One warning, not one per retry (every 100 ms).
                warnings = [line for line in n.stderr_lines if "cannot accept" in line]
                self.assertLessEqual(len(warnings), 2, warnings)
            finally:
                for c in clients:
                    c.close()
            with tcp_connect(addr) as c:
                c.sendall(b"after\n")
                self.assertEqual(recv_exact(c, 6), b"after\n")


class DiskFull(unittest.TestCase):

    def test_logger_survives_a_full_disk_and_a_reload_to_a_good_file(self):
        config = """\
[server]
log_level = info

[log]
handler = logger
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
file = {file}
flush_interval = 50
"""
        with Netd(config.replace("{file}", "/dev/full")) as n:
            with tcp_connect(n.addr("log", "tcp")) as c:
                c.sendall(b"".join(b"lost %d\n" % i for i in range(10)))
            self.assertIsNotNone(n.wait_for_line(r"cannot write /dev/full: No space left"),
                                 n.describe())
            self.assertIsNone(n.proc.poll())
            good = n.path("good.log")
            with open(n.config_path, "w") as f:
                f.write(config.replace("{file}", good))
            n.send_signal(signal.SIGHUP)
            # The records /dev/full refused are not dropped silently: their loss is reported.
            self.assertIsNotNone(n.wait_for_line(r"bytes of records not written to /dev/full|"
                                                 r"records kept, retrying"), n.describe())
            deadline = time.monotonic() + IO_TIMEOUT
            text = b""
            while time.monotonic() < deadline and text.count(b"kept ") < 10:
                with tcp_connect(n.addr("log", "tcp")) as c:
                    c.sendall(b"".join(b"kept %d\n" % i for i in range(10)))
                time.sleep(0.2)
                if os.path.exists(good):
                    with open(good, "rb") as f:
                        text = f.read()
            self.assertGreaterEqual(text.count(b" kept "), 10, n.describe())
            self.assertIn(b" kept 9\n", text)


class ForkChildKilled(unittest.TestCase):

    @only_in("fork")
    def test_sigkill_of_a_child_costs_only_its_connection(self):
        with Netd(ECHO) as n:
            addr = n.addr("echo", "tcp")
            with tcp_connect(addr) as victim, tcp_connect(addr) as bystander:
                for c in (victim, bystander):
                    c.sendall(b"hi\n")
                    self.assertEqual(recv_exact(c, 3), b"hi\n")
                children = child_pids(n.pid)
                self.assertEqual(len(children), 2)
                # The newest child serves the second connection: kill the other one.
                target = min(children)
                os.kill(target, signal.SIGKILL)
                self.assertIsNotNone(n.wait_for_line(r"child %d killed by signal 9" % target),
                                     n.describe())
                deadline = time.monotonic() + IO_TIMEOUT
                while pid_alive(target) and time.monotonic() < deadline:
                    time.sleep(0.02)
                self.assertFalse(pid_alive(target), "the killed child was not reaped")
                for c in (victim, bystander):
                    try:
                        c.sendall(b"again\n")
                        ok = answered(c, b"again\n", 1)
                    except OSError:
                        ok = False
                    if c is bystander:
                        self.assertTrue(ok, "the other connection was lost too")
            with tcp_connect(addr) as c:
                c.sendall(b"new\n")
                self.assertEqual(recv_exact(c, 4), b"new\n")


class TenThousandConnections(unittest.TestCase):

    @unittest.skipIf(MODE == "fork", "fork mode: 10,000 processes are beyond a test machine")
    def test_ten_thousand_concurrent_connections(self):
        count = 10_000
        if not raise_nofile(count + 200):
            self.skipTest("RLIMIT_NOFILE too low for %d client sockets" % count)
        with Netd(ECHO.replace("[server]\n", "[server]\nmax_connections = 20000\n")
                  .replace("[echo]\n", "[echo]\nmax_connections = 20000\n")) as n:
            addr = n.addr("echo", "tcp")
            clients = []
            try:
                for _ in range(count):
                    clients.append(tcp_connect(addr))
                for i, c in enumerate(clients):
                    c.sendall(b"%05d\n" % i)
                wrong = [i for i, c in enumerate(clients) if not answered(c, b"%05d\n" % i, IO_TIMEOUT)]
                self.assertEqual(wrong, [], "connections not served")
                fds = len(os.listdir("/proc/%d/fd" % n.pid))
                self.assertGreaterEqual(fds, count)
                with open("/proc/%d/status" % n.pid) as f:
                    rss = next(line.split()[1] for line in f if line.startswith("VmRSS:"))
                sys.stderr.write("10,000 connections (%s mode): all answered, %d descriptors, "
                                 "RSS %s KiB\n" % (MODE or "strand", fds, rss))
            finally:
                for c in clients:
                    c.close()


if __name__ == "__main__":
    unittest.main()
