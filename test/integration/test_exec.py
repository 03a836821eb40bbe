"""SPEC 7: exec runs a program per connection (and, with wait = yes, per datagram socket hand-over),
the same in every mode: the socket on stdin and stdout, nothing else open, default signals, a clean
environment that says who connected where, one log line when it exits, counted against
max_children and the service's limits (accepting pauses rather than refusing), and nothing left
behind: descriptors, zombies, counts.

Run: NETD_BIN=build/netd python3 test/integration/test_exec.py -v   (or through ctest, per mode)
"""

import errno
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (  # noqa: E402
    Netd, child_pids, netd_bin, recv_exact, recv_until_eof, run_netd, tcp_connect, udp_socket,
    unix_connect, unixgram_socket, wait_until,
)

SH = "/bin/sh"
CAT = "/bin/cat"


def script(directory, name, body, mode=0o755):
    """A program for netd to run: a shell script written into directory."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, mode)
    return path


def service(name, program, extra="", listen="tcp = 127.0.0.1:0"):
    return "[%s]\nhandler = exec\n%s\nprogram = %s\n%s\n" % (name, listen, program, extra)


def ask(addr, data=b"", timeout=10):
    """Connects, sends data, ends its side, and returns everything until netd closes (a reset,
    when netd closes with what was sent unread, ends it too)."""
    with tcp_connect(addr, timeout=timeout) as c:
        try:
            if data:
                c.sendall(data)
            c.shutdown(socket.SHUT_WR)  # ENOTCONN: reset already
            return recv_until_eof(c, deadline=time.monotonic() + timeout)
        except (ConnectionResetError, BrokenPipeError):
            return b""
        except OSError as e:
            if e.errno == errno.ENOTCONN:
                return b""
            raise


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def zombies_of(pid):
    found = []
    for child in child_pids(pid):
        try:
            with open("/proc/%d/stat" % child) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    found.append(child)
        except OSError:
            pass
    return found


class ExecTestCase(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="netd-exec-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(subprocess.run, ["rm", "-rf", self.dir])

    def netd(self, services, server="", **kwargs):
        return Netd("[server]\nlog_level = info\nshutdown_timeout = 3\n%s\n%s" % (server, services),
                    **kwargs)


class Streams(ExecTestCase):

    def test_the_connection_is_stdin_and_stdout(self):
        with self.netd(service("cat", CAT, listen="tcp = 127.0.0.1:0\nunix = {tmp}/cat.sock")) as n:
            self.assertEqual(ask(n.addr("cat", "tcp"), b"hello\nworld\n"), b"hello\nworld\n")
            with unix_connect(n.addr("cat", "unix")) as c:
                c.sendall(b"over unix\n")
                c.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_until_eof(c), b"over unix\n")
            line = n.wait_for_line(r"\[cat\] 127\.0\.0\.1:\d+: /bin/cat \(pid \d+\) exited with "
                                   r"status 0 after \d+\.\d+ s")
            self.assertIsNotNone(line, n.describe())

    def test_the_environment_is_clean_and_says_who_connected_where(self):
        with self.netd(service("env", "/usr/bin/env", "env = LANG=C.UTF-8, GREETING=hello world")) as n:
            host, port = n.addr("env", "tcp")
            with tcp_connect((host, port)) as c:
                local_port = c.getsockname()[1]
                c.shutdown(socket.SHUT_WR)
                got = dict(line.split("=", 1) for line in
                           recv_until_eof(c).decode().splitlines())
        self.assertEqual(got, {
            "PATH": "/usr/bin:/bin", "NETD_SERVICE": "env",
            "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": str(local_port),
            "LOCAL_ADDR": "127.0.0.1", "LOCAL_PORT": str(port),
            "LANG": "C.UTF-8", "GREETING": "hello world",
        })

    def test_a_unix_client_is_named_by_its_process_user_and_group(self):
        # From the kernel (SO_PEERCRED), in every mode: in fork mode the parent reads them.
        with self.netd(service("env", "/usr/bin/env", listen="unix = {tmp}/env.sock")) as n:
            with unix_connect(n.addr("env", "unix")) as c:
                c.shutdown(socket.SHUT_WR)
                got = dict(line.split("=", 1) for line in
                           recv_until_eof(c).decode().splitlines())
        self.assertEqual(got, {
            "PATH": "/usr/bin:/bin", "NETD_SERVICE": "env", "REMOTE_PID": str(os.getpid()),
            "REMOTE_UID": str(os.getuid()), "REMOTE_GID": str(os.getgid()),
        })

    def test_nothing_but_the_socket_is_open_and_no_signal_is_blocked_or_ignored(self):
        probe = script(self.dir, "probe.sh",
                       "ls /proc/self/fd\ngrep -E '^Sig(Blk|Ign):' /proc/self/status\n"
                       "readlink /proc/self/fd/0\n")
        with self.netd(service("probe", probe, "stderr = null")) as n:
            out = ask(n.addr("probe", "tcp")).decode()
        lines = out.split("\n")
        # ls itself holds one more descriptor, for /proc/self/fd.
        self.assertEqual(sorted(lines[:4]), ["0", "1", "2", "3"], out)
        self.assertIn("SigBlk:\t0000000000000000", out)
        self.assertIn("SigIgn:\t0000000000000000", out)
        self.assertRegex(out, r"socket:\[\d+\]")

    def test_the_socket_has_no_option_of_netds_own(self):
        # netd's listeners ask TCP_INQ (every read says what is left); a program that reads
        # with recvmsg must not get that control message.
        probe = os.path.join(self.dir, "options.py")
        with open(probe, "w") as f:
            f.write("import socket, sys\n"
                    "s = socket.socket(fileno=0)\n"
                    "data, ancillary, _, _ = s.recvmsg(100, 64)\n"
                    "s.sendall(b'%d %d ' % (s.getsockopt(socket.IPPROTO_TCP, 36), "
                    "len(ancillary)) + data)\n")
        with self.netd(service("probe", "/usr/bin/python3", "args = %s\nstderr = log" % probe)) as n:
            self.assertEqual(ask(n.addr("probe", "tcp"), b"hi"), b"0 0 hi", n.describe())

    def test_args_are_split_like_a_shell_line_and_never_expanded(self):
        args = script(self.dir, "args.sh", 'for a in "$@"; do printf "<%s>" "$a"; done\n')
        with self.netd(service("args", args,
                               "args = one \"two words\" 'three $HOME' four\\ five *")) as n:
            self.assertEqual(ask(n.addr("args", "tcp")),
                             b"<one><two words><three $HOME><four five><*>")

    def test_stderr_goes_to_the_log_the_socket_or_nowhere(self):
        noisy = script(self.dir, "noisy.sh", "echo out\necho 'err line' >&2\n")
        services = (service("log", noisy) + service("sock", noisy, "stderr = socket") +
                    service("null", noisy, "stderr = null"))
        with self.netd(services) as n:
            self.assertEqual(ask(n.addr("log", "tcp")), b"out\n")
            self.assertIsNotNone(n.wait_for_line(r"\[log\] 127\.0\.0\.1:\d+: noisy\.sh\[\d+\]: "
                                                 r"err line$"), n.describe())
            self.assertEqual(ask(n.addr("sock", "tcp")), b"out\nerr line\n")
            self.assertEqual(ask(n.addr("null", "tcp")), b"out\n")

    def test_a_flood_on_stderr_is_bounded(self):
        flood = script(self.dir, "flood.sh",
                       "i=0; while [ $i -lt 2000 ]; do echo \"line $i\" >&2; i=$((i+1)); done\n"
                       "head -c 100000 /dev/zero | tr '\\0' x >&2; echo done\n")
        with self.netd(service("flood", flood)) as n:
            self.assertEqual(ask(n.addr("flood", "tcp")), b"done\n")
            self.assertIsNotNone(n.wait_for_line(r"lines not logged"), n.describe())
            logged = [l for l in n.stderr_lines if "flood.sh[" in l and ": line " in l]
            self.assertLess(len(logged), 100)
            self.assertFalse([l for l in n.stderr_lines if len(l) > 1200], "a line was not cut")

    def test_exit_status_and_signals_are_logged_and_counted(self):
        fails = script(self.dir, "fails.sh", "exit 3\n")
        killed = script(self.dir, "killed.sh", "kill -9 $$\n")
        services = (service("fails", fails) + service("killed", killed) +
                    "[stats]\ntcp = 127.0.0.1:0\n")
        with self.netd(services) as n:
            self.assertEqual(ask(n.addr("fails", "tcp")), b"")
            self.assertEqual(ask(n.addr("killed", "tcp")), b"")
            self.assertIsNotNone(n.wait_for_line(r"\[fails\] .*fails\.sh \(pid \d+\) exited with "
                                                 r"status 3"), n.describe())
            self.assertIsNotNone(n.wait_for_line(r"\[killed\] .*killed\.sh \(pid \d+\) killed by "
                                                 r"signal 9"), n.describe())

            def metrics():
                text = ask(n.addr("stats", "tcp")).decode()
                return {m.group(1): float(m.group(2)) for m in re.finditer(
                    r"^(netd_program\w+\{[^}]*\}) (\S+)$", text, re.M)}
            self.assertTrue(wait_until(lambda: metrics().get(
                'netd_programs_exited_total{service="killed",outcome="signal"}') == 1))
            m = metrics()
            self.assertEqual(m['netd_programs_started_total{service="fails"}'], 1)
            self.assertEqual(m['netd_programs_exited_total{service="fails",outcome="error"}'], 1)
            self.assertEqual(m['netd_programs_exited_total{service="fails",outcome="ok"}'], 0)
            self.assertEqual(m['netd_programs_running{service="fails"}'], 0)

    def assert_waits_until(self, addr, release):
        """A new client of addr is not served (nor refused) until release() makes room."""
        with tcp_connect(addr) as waiting:
            waiting.sendall(b"waiting\n")
            waiting.settimeout(0.5)
            with self.assertRaises(socket.timeout, msg="served past the limit"):
                waiting.recv(10)
            release()
            waiting.settimeout(5)
            self.assertEqual(recv_exact(waiting, 8), b"waiting\n")

    def test_max_children_pauses_accepting_instead_of_refusing(self):
        with self.netd(service("cat", CAT), server="max_children = 2") as n:
            addr = n.addr("cat", "tcp")
            held = [tcp_connect(addr) for _ in range(2)]
            try:
                for h in held:
                    h.sendall(b"held\n")
                    self.assertEqual(recv_exact(h, 5), b"held\n")
                self.assert_waits_until(addr, lambda: held.pop().close())  # a cat ends
            finally:
                for h in held:
                    h.close()

    def test_the_services_max_connections_pauses_accepting_too(self):
        with self.netd(service("cat", CAT, "max_connections = 1")) as n:
            addr = n.addr("cat", "tcp")
            with tcp_connect(addr) as held:
                held.sendall(b"held\n")
                self.assertEqual(recv_exact(held, 5), b"held\n")
                self.assert_waits_until(addr, held.close)

    def test_a_program_that_cannot_start_closes_only_its_connection(self):
        vanishing = script(self.dir, "vanishing.sh", "echo never\n")
        with self.netd(service("gone", vanishing) + service("cat", CAT)) as n:
            os.unlink(vanishing)  # after the config checked it
            self.assertEqual(ask(n.addr("gone", "tcp"), b"x"), b"")
            self.assertIsNotNone(n.wait_for_line(r"\[gone\] .*: cannot start .*vanishing\.sh: "
                                                 r"execve: No such file or directory"), n.describe())
            self.assertEqual(ask(n.addr("cat", "tcp"), b"still\n"), b"still\n")

    def test_programs_that_exit_at_once_never_read_or_leave_a_grandchild(self):
        quick = script(self.dir, "quick.sh", "exit 0\n")
        deaf = script(self.dir, "deaf.sh", "sleep 30\n")
        orphan = script(self.dir, "orphan.sh", "sleep 30 & echo started\n")
        with self.netd(service("quick", quick) + service("deaf", deaf) + service("orphan", orphan) +
                       service("cat", CAT), check_exit=False) as n:
            self.assertEqual(ask(n.addr("quick", "tcp")), b"")
            with tcp_connect(n.addr("deaf", "tcp")) as d:
                d.setblocking(False)
                try:
                    while True:
                        d.send(b"x" * 65536)  # until the buffers are full: nobody reads
                except BlockingIOError:
                    pass
                with tcp_connect(n.addr("orphan", "tcp")) as o:
                    self.assertEqual(recv_exact(o, 8), b"started\n")
                    self.assertEqual(ask(n.addr("cat", "tcp"), b"others\n"), b"others\n")
                    # SIGTERM: the programs get it; netd does not wait for the grandchild.
                    t0 = time.monotonic()
                    self.assertEqual(n.stop(signal.SIGTERM, 10), 0, n.describe())
                    self.assertLess(time.monotonic() - t0, 5)
        # This test's own deaf.sh, by its path: the same test runs in the other modes at the same
        # time, each with a deaf.sh of its own.
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if deaf.encode() in f.read():
                        self.fail("a program outlived netd")
            except OSError:
                pass

    def test_a_reload_leaves_running_programs_alone_and_changes_new_ones(self):
        with self.netd(service("svc", CAT)) as n:
            addr = n.addr("svc", "tcp")
            with tcp_connect(addr) as held:
                held.sendall(b"before\n")
                self.assertEqual(recv_exact(held, 7), b"before\n")
                with open(n.config_path, "w") as f:
                    f.write("[server]\nlog_level = info\n\n" +
                            service("svc", "/bin/echo", "args = new program"))
                before = len(n.stderr_lines)
                n.send_signal(signal.SIGHUP)
                self.assertTrue(wait_until(lambda: any("ready:" in l
                                                       for l in n.stderr_lines[before:])))
                self.assertFalse([l for l in n.stderr_lines[before:] if "error" in l])
                self.assertEqual(ask(addr), b"new program\n")
                held.sendall(b"after\n")
                self.assertEqual(recv_exact(held, 6), b"after\n", "the running cat was touched")

    def test_a_thousand_connections_leave_no_descriptor_or_zombie(self):
        with self.netd(service("cat", CAT)) as n:
            addr = n.addr("cat", "tcp")
            self.assertEqual(ask(addr, b"warm\n"), b"warm\n")
            self.assertTrue(wait_until(lambda: not child_pids(n.pid)))
            before = open_fds(n.pid)
            for i in range(1000):
                payload = b"%d\n" % i
                self.assertEqual(ask(addr, payload), payload)
            self.assertTrue(wait_until(lambda: not child_pids(n.pid), timeout=10),
                            "programs left: %r" % child_pids(n.pid))
            self.assertEqual(zombies_of(n.pid), [])
            self.assertTrue(wait_until(lambda: open_fds(n.pid) == before),
                            "%d descriptors before, %d after" % (before, open_fds(n.pid)))

    @unittest.skipUnless(os.geteuid() == 0, "changing a program's user needs root")
    def test_the_program_runs_as_its_user_and_groups(self):
        whoami = script(self.dir, "whoami.sh",
                        "grep -E '^(Uid|Gid|Groups):' /proc/self/status\n")
        import grp
        import pwd
        nobody = pwd.getpwnam("nobody")
        nogroup = grp.getgrgid(nobody.pw_gid)
        with self.netd(service("who", whoami, "user = nobody") +
                       service("grp", whoami, "user = nobody\ngroup = root")) as n:
            out = ask(n.addr("who", "tcp")).decode()
            self.assertRegex(out, r"Uid:\t%d\t%d\t%d\t%d" % ((nobody.pw_uid,) * 4))
            self.assertRegex(out, r"Gid:\t%d\t%d\t%d\t%d" % ((nobody.pw_gid,) * 4))
            groups = sorted(int(g) for g in re.search(r"Groups:\t?(.*)", out).group(1).split())
            self.assertEqual(groups, sorted(set([nogroup.gr_gid] + os.getgrouplist(
                "nobody", nobody.pw_gid))))
            out = ask(n.addr("grp", "tcp")).decode()
            self.assertRegex(out, r"Gid:\t0\t0\t0\t0")


class Datagrams(ExecTestCase):
    """wait = yes: the socket is the program's from the first datagram on, until it exits."""

    PROGRAM = """#!/usr/bin/env python3
import socket, sys
s = socket.socket(fileno=0)
data, peer = s.recvfrom(2048)
s.sendto(data.upper() + b" " + str(__import__("os").getpid()).encode(), peer)
"""

    def program(self, name, text):
        """text as an executable file in the test's directory; its path."""
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
        return path

    def test_the_program_reads_the_datagrams_and_netd_resumes_after_it(self):
        path = self.program("upper.py", self.PROGRAM)
        with self.netd(service("upper", path, "wait = yes", listen="udp = 127.0.0.1:0")) as n:
            addr = n.addr("upper", "udp")
            pids = set()
            with udp_socket() as u:
                for word in (b"one", b"two", b"three"):
                    u.sendto(word, addr)
                    reply, _ = u.recvfrom(100)
                    text, pid = reply.split(b" ")
                    self.assertEqual(text, word.upper())
                    pids.add(pid)
            self.assertEqual(len(pids), 3, "a program per hand-over")

    ENV_PROGRAM = """#!/usr/bin/env python3
import os, socket
s = socket.socket(fileno=0)
data, peer = s.recvfrom(2048)
s.sendto(" ".join(os.environ.get(k, "-") for k in ("REMOTE_PID", "REMOTE_UID", "REMOTE_GID"))
         .encode(), peer)
"""

    def test_a_unix_datagram_program_learns_who_sent_the_first_datagram(self):
        path = self.program("who.py", self.ENV_PROGRAM)
        with self.netd(service("who", path, "wait = yes", listen="unixgram = {tmp}/who.dgram")) as n:
            with unixgram_socket(n.path("client.dgram")) as u:
                u.sendto(b"who am i", n.addr("who", "unixgram"))
                reply, _ = u.recvfrom(100)
        self.assertEqual(reply.decode(), "%d %d %d" % (os.getpid(), os.getuid(), os.getgid()))


class Config(ExecTestCase):

    def error_of(self, services, key):
        r = run_netd("[server]\nlog_level = info\n\n" + services)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertRegex(r.stderr, r"netd: .*\[\w+\] %s: " % key)
        return r.stderr

    def test_bad_programs_are_config_errors(self):
        text = os.path.join(self.dir, "text.txt")
        with open(text, "w") as f:
            f.write("not a program\n")
        self.assertIn("not an absolute path", self.error_of(service("x", "cat"), "program"))
        self.assertIn("No such file", self.error_of(service("x", "/nonexistent/prog"), "program"))
        self.assertIn("not an executable file", self.error_of(service("x", text), "program"))
        self.assertIn("is required", self.error_of("[x]\nhandler = exec\ntcp = 127.0.0.1:0\n",
                                                   "program"))
        self.assertIn("a quote is not closed", self.error_of(service("x", CAT, "args = 'open"),
                                                             "args"))
        self.assertIn("is set by netd", self.error_of(service("x", CAT, "env = REMOTE_ADDR=1"),
                                                      "env"))
        self.assertIn("is set by netd", self.error_of(service("x", CAT, "env = REMOTE_UID=0"),
                                                      "env"))
        self.assertIn("not log, socket or null", self.error_of(service("x", CAT, "stderr = file"),
                                                               "stderr"))

    def test_wait_goes_with_the_transport(self):
        self.assertIn("yes is for datagram services",
                      self.error_of(service("x", CAT, "wait = yes"), "wait"))
        self.assertIn("needs wait = yes",
                      self.error_of(service("x", CAT, listen="udp = 127.0.0.1:0"), "wait"))

    @unittest.skipUnless(os.geteuid() == 0, "the test drops to nobody itself")
    def test_a_user_needs_root(self):
        config = os.path.join(self.dir, "netd.ini")
        with open(config, "w") as f:
            f.write(service("x", CAT, "user = nobody"))
        os.chmod(config, 0o644)
        r = subprocess.run([netd_bin(), "--check-config",
                            "--config", config], capture_output=True, text=True, timeout=10,
                           user="nobody")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("[x] user: needs root", r.stderr)
        with open(config, "w") as f:
            f.write("[server]\nuser = nobody\n" + service("x", CAT, "user = nobody"))
        r = run_netd(open(config).read())
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertIn("[server] user drops it", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
