"""SPEC 6: netd and its service manager. The test plays systemd: it owns the NOTIFY_SOCKET netd
reports to (checking with SO_PASSCRED that only netd's main process speaks, never a fork-mode
child), and sets WATCHDOG_USEC."""

import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import Netd, child_pids, tcp_connect  # noqa: E402

CONFIG = """\
[server]
log_level = info

[echo]
tcp = 127.0.0.1:0
"""


class ServiceManager:
    """A NOTIFY_SOCKET: every message with the pid that sent it."""

    def __init__(self, abstract=False):
        self.dir = tempfile.mkdtemp(prefix="netd-notify-")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if abstract:
            # "@NAME" in NOTIFY_SOCKET: the abstract namespace, as systemd --user may pass.
            name = os.path.basename(self.dir)
            self.sock.bind("\0" + name)
            self.path = "@" + name
        else:
            self.path = os.path.join(self.dir, "notify")
            self.sock.bind(self.path)
        self.messages = []  # (pid, {key: value})

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def receive(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        self.messages.append((pid, fields))
        return pid, fields

    def wait_for(self, key, value=None, timeout=5.0):
        """The first message from now on that carries key (with value, if given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.receive(deadline - time.monotonic())
            if got and key in got[1] and (value is None or got[1][key] == value):
                return got
        return None


class Notify(unittest.TestCase):

    def setUp(self):
        self.manager = ServiceManager()
        self.addCleanup(self.manager.close)

    def test_ready_watchdog_reload_stopping_from_the_main_process_only(self):
        env = {"NOTIFY_SOCKET": self.manager.path, "WATCHDOG_USEC": "200000"}
        n = Netd(CONFIG, env=env, check_exit=False)
        with n:
            got = self.manager.wait_for("READY", "1")
            self.assertIsNotNone(got, "no READY=1\n" + n.describe())
            self.assertEqual(got[0], n.pid)
            self.assertIn("1 services, 1 listeners", got[1].get("STATUS", ""))

            # A connection (a child in fork mode) must not make anyone else speak.
            with tcp_connect(n.addr("echo", "tcp")) as c:
                c.sendall(b"hi\n")
                self.assertEqual(c.recv(10), b"hi\n")
                pings = 0
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    got = self.manager.receive(deadline - time.monotonic())
                    if got and got[1].get("WATCHDOG") == "1":
                        pings += 1
                # WATCHDOG_USEC = 200 ms: a ping every 100 ms.
                self.assertGreaterEqual(pings, 3, "watchdog pings in 1 s: %d" % pings)

            before = time.monotonic_ns() // 1000
            n.send_signal(signal.SIGHUP)
            got = self.manager.wait_for("RELOADING", "1")
            self.assertIsNotNone(got, "no RELOADING=1 after SIGHUP")
            stamp = int(got[1]["MONOTONIC_USEC"])
            self.assertLessEqual(before, stamp)
            self.assertLess(stamp - before, 5_000_000)
            self.assertIsNotNone(self.manager.wait_for("READY", "1"), "no READY=1 after the reload")

            n.send_signal(signal.SIGTERM)
            got = self.manager.wait_for("STOPPING", "1")
            self.assertIsNotNone(got, "no STOPPING=1 on SIGTERM")
            self.assertEqual(n.wait_exit(10), 0, n.describe())
        senders = {pid for pid, _ in self.manager.messages}
        self.assertEqual(senders, {n.pid}, "notifications from other processes than netd's main one")

    def test_no_watchdog_pings_unless_asked(self):
        with Netd(CONFIG, env={"NOTIFY_SOCKET": self.manager.path}):
            self.assertIsNotNone(self.manager.wait_for("READY", "1"))
            self.assertIsNone(self.manager.wait_for("WATCHDOG", timeout=0.5))

    def test_abstract_notify_socket(self):
        manager = ServiceManager(abstract=True)
        self.addCleanup(manager.close)
        with Netd(CONFIG, env={"NOTIFY_SOCKET": manager.path}) as n:
            got = manager.wait_for("READY", "1")
            self.assertIsNotNone(got, "no READY=1 on " + manager.path + "\n" + n.describe())
            self.assertEqual(got[0], n.pid)

    def test_a_notify_socket_nobody_listens_on_is_a_warning(self):
        missing = os.path.join(self.manager.dir, "gone")
        with Netd(CONFIG, env={"NOTIFY_SOCKET": missing}) as n:
            with tcp_connect(n.addr("echo", "tcp")) as c:
                c.sendall(b"x\n")
                self.assertEqual(c.recv(10), b"x\n")
            self.assertIsNotNone(
                n.wait_for_line(r"warning cannot notify the service manager: No such file"),
                n.describe())

    def test_without_notify_socket_nothing_is_sent(self):
        with Netd(CONFIG) as n:
            with tcp_connect(n.addr("echo", "tcp")) as c:
                c.sendall(b"x\n")
                self.assertEqual(c.recv(10), b"x\n")
        self.assertIsNone(self.manager.receive(0.2))


def ids(status_text, field):
    for line in status_text.splitlines():
        if line.startswith(field + ":"):
            return [int(x) for x in line.split()[1:]]
    return None


def thread_statuses(pid):
    """/proc status text of every thread of pid."""
    texts = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            texts.append(f.read())
    return texts


@unittest.skipUnless(os.geteuid() == 0, "dropping privileges needs root")
class Privileges(unittest.TestCase):
    """`user` (and `group`): bind as root, then drop to that account for good, in every thread and
    (fork mode) every child."""

    def test_user_nobody(self):
        import pwd
        nobody = pwd.getpwnam("nobody")
        with Netd(CONFIG.replace("[server]\n", "[server]\nuser = nobody\n")) as n:
            with tcp_connect(n.addr("echo", "tcp")) as c:
                c.sendall(b"hi\n")
                self.assertEqual(c.recv(10), b"hi\n")
                for text in thread_statuses(n.pid):
                    self.assertEqual(ids(text, "Uid"), [nobody.pw_uid] * 4, text)
                    self.assertEqual(ids(text, "Gid"), [nobody.pw_gid] * 4, text)
                    self.assertEqual(ids(text, "Groups"), [nobody.pw_gid], text)
                for child in child_pids(n.pid):   # fork mode: the child serving c
                    with open("/proc/%d/status" % child) as f:
                        self.assertEqual(ids(f.read(), "Uid"), [nobody.pw_uid] * 4)
            self.assertIsNotNone(n.wait_for_line(r"running as uid %d, gid %d" % (nobody.pw_uid, nobody.pw_gid)))

    def test_group_only(self):
        import grp
        nogroup = grp.getgrnam("nogroup")
        with Netd(CONFIG.replace("[server]\n", "[server]\ngroup = nogroup\n")) as n:
            with open("/proc/%d/status" % n.pid) as f:
                text = f.read()
            self.assertEqual(ids(text, "Uid"), [0] * 4)
            self.assertEqual(ids(text, "Gid"), [nogroup.gr_gid] * 4)
            self.assertEqual(ids(text, "Groups"), [nogroup.gr_gid])


if __name__ == "__main__":
    unittest.main(verbosity=2)
