"""SPEC 12: Unix sockets as a system service uses them. The socket files netd creates get
unix_mode, unix_owner and unix_group; the sender of every Unix connection and datagram is the
process the kernel names (SO_PEERCRED, SCM_CREDENTIALS), in every mode; descriptors a client
passes along never stay in netd.

Run: NETD_BIN=build/netd python3 test/integration/test_unix_sockets.py -v   (or through ctest,
per mode). Tests that change a file's owner or run a client as another user need root and skip
otherwise.
"""

import array
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import Netd, child_pids, pid_alive, wait_until  # noqa: E402

ROOT = os.geteuid() == 0
NEED_ROOT = unittest.skipUnless(ROOT, "needs root: another user's client, or a file's owner")
NOBODY = pwd.getpwnam("nobody")
STRACE = shutil.which("strace")


def strace_can_trace():
    if not STRACE:
        return False
    r = subprocess.run([STRACE, "-o", "/dev/null", "true"], capture_output=True, timeout=15)
    return r.returncode == 0


NEED_STRACE = unittest.skipUnless(strace_can_trace(), "strace is not installed or may not trace")

LOGGER = """\
[server]
log_level = info

[logger]
unix = {{tmp}}/log.sock
unixgram = {{tmp}}/log.dgram
file = {{tmp}}/netd.log
flush_interval = 20
{extra}
"""

# A client of its own: connects or sends, then prints its pid (what the record must name).
CLIENT = r"""
import os, socket, sys
kind, path, text = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM if kind == "unix" else socket.SOCK_DGRAM)
try:
    s.connect(path)
    s.sendall(text.encode() + b"\n")
except OSError as e:
    print(e.__class__.__name__)
    sys.exit(3)
print(os.getpid())
"""


def send_from_child(kind, path, text, user=None):
    """Runs CLIENT as a process of its own (as user, when given); returns (exit status, what it
    printed: its pid, or the error's name)."""
    python, kwargs = sys.executable, {}
    if user is not None:
        # The system's, which any user may run (this one may live in root's home).
        python, kwargs = "/usr/bin/python3", dict(user=user.pw_uid, group=user.pw_gid,
                                                  extra_groups=[])
    r = subprocess.run([python, "-c", CLIENT, kind, path, text], capture_output=True,
                       timeout=15, **kwargs)
    return r.returncode, r.stdout.decode().strip()


def records(path):
    try:
        with open(path, "rb") as f:
            return [line.split(b" ", 6) for line in f.read().split(b"\n")[:-1]]
    except FileNotFoundError:
        return []


def open_for_all(tmpdir):
    """The harness's temp dir is 0700: another user's client needs to pass through it."""
    os.chmod(tmpdir, 0o755)


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


class UnixTestCase(unittest.TestCase):

    def netd(self, extra="", **kwargs):
        return Netd(LOGGER.format(extra=extra), setup=open_for_all, **kwargs)

    def wait_records(self, n, count):
        path = n.path("netd.log")
        wait_until(lambda: len(records(path)) >= count, timeout=5)
        return records(path)


class Credentials(UnixTestCase):
    """PEER is unix:PID:UID of the process that connected or sent, whatever the message says."""

    def test_a_stream_and_a_datagram_name_the_process_that_sent_them(self):
        with self.netd() as n:
            sent = []
            for kind in ("unix", "unixgram"):
                status, pid = send_from_child(kind, n.addr("logger", kind),
                                              "<38>Nov 22 10:00:00 sshd[1]: over " + kind)
                self.assertEqual(status, 0, pid)
                sent.append(int(pid))
            recs = self.wait_records(n, 2)
        got = sorted((r[1], r[5], r[6]) for r in recs)
        self.assertEqual(got, sorted([(b"unix:%d:%d" % (sent[0], os.getuid()), b"sshd", b"over unix"),
                                      (b"unix:%d:%d" % (sent[1], os.getuid()), b"sshd",
                                       b"over unixgram")]))
        self.assertNotIn(os.getpid(), sent)

    @NEED_ROOT
    def test_another_users_process_is_recorded_with_its_uid(self):
        with self.netd("unix_mode = 0666") as n:
            sent = []
            for kind in ("unix", "unixgram"):
                status, pid = send_from_child(kind, n.addr("logger", kind), "as nobody", NOBODY)
                self.assertEqual(status, 0, pid)
                sent.append(int(pid))
            recs = self.wait_records(n, 2)
        self.assertEqual(sorted(r[1] for r in recs),
                         sorted(b"unix:%d:%d" % (pid, NOBODY.pw_uid) for pid in sent))

    def test_json_gives_pid_uid_and_gid(self):
        with self.netd("format = json") as n:
            status, pid = send_from_child("unixgram", n.addr("logger", "unixgram"), "in json")
            self.assertEqual(status, 0, pid)
            recs = self.wait_records(n, 1)
        line = b" ".join(recs[0])
        self.assertIn(b'"peer":"unix:%s:%d","pid":%s,"uid":%d,"gid":%d,' % (
            pid.encode(), os.getuid(), pid.encode(), os.getuid(), os.getgid()), line)

    def test_descriptors_sent_along_are_not_kept(self):
        # SCM_RIGHTS to the datagram socket: the record is written, the descriptors are closed
        # by the kernel (no room for them next to the credentials), none lands in netd.
        with self.netd() as n:
            fds_before = len(os.listdir("/proc/%d/fd" % n.pid))
            passed = [os.open("/dev/null", os.O_RDONLY) for _ in range(8)]
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                    s.connect(n.addr("logger", "unixgram"))
                    for i in range(100):
                        s.sendmsg([b"with descriptors %d" % i],
                                  [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", passed))])
            finally:
                for fd in passed:
                    os.close(fd)
            recs = self.wait_records(n, 100)
            fds_after = len(os.listdir("/proc/%d/fd" % n.pid))
        self.assertEqual(len(recs), 100)
        self.assertEqual({r[1] for r in recs}, {b"unix:%d:%d" % (os.getpid(), os.getuid())})
        self.assertLessEqual(fds_after, fds_before)


class SocketFiles(UnixTestCase):
    """unix_mode, unix_owner, unix_group: the files netd creates, before anybody can use them."""

    def start_with_umask(self, umask, extra=""):
        """A running netd started with this umask (this process's is put back at once)."""
        old = os.umask(umask)
        try:
            n = self.netd(extra)
            n.__enter__()
        finally:
            os.umask(old)
        self.addCleanup(n.__exit__, None, None, None)
        return n

    def test_unix_mode_wins_over_the_umask(self):
        n = self.start_with_umask(0o077, "unix_mode = 0666")
        for kind in ("unix", "unixgram"):
            self.assertEqual(mode_of(n.addr("logger", kind)), 0o666, kind)

    def test_without_unix_mode_the_umask_decides(self):
        n = self.start_with_umask(0o027)
        for kind in ("unix", "unixgram"):
            self.assertEqual(mode_of(n.addr("logger", kind)), 0o750, kind)

    @NEED_STRACE
    def test_a_datagram_socket_is_never_more_open_than_unix_mode(self):
        # A datagram socket takes datagrams as soon as it is bound, before netd sets the file's
        # mode. strace holds netd at that chmod for a second: meanwhile the file must not be more
        # open than unix_mode (bind alone, under a umask of 0, would make it 0777).
        n = self.netd("unix_mode = 0660")
        # LeakSanitizer cannot run under ptrace: under ASan this netd does without it.
        if "ASAN_OPTIONS" in n.env:
            n.env["ASAN_OPTIONS"] += " detect_leaks=0"
        n.argv[:0] = [STRACE, "-f", "-o", "/dev/null", "-e", "trace=chmod,fchmodat",
                      "-e", "inject=chmod,fchmodat:delay_enter=1s"]
        old = os.umask(0)
        try:
            n.start()
        finally:
            os.umask(old)
        self.addCleanup(n.cleanup)
        path = n.path("log.dgram")
        self.assertTrue(wait_until(lambda: os.path.exists(path), timeout=10), n.describe())
        during = mode_of(path)
        self.assertEqual(n.wait_ready_or_exit(), "ready", n.describe())
        self.assertEqual(during & ~0o660, 0, "mode %o before the chmod" % during)
        self.assertEqual(mode_of(path), 0o660)
        netd = child_pids(n.pid)
        self.assertEqual(len(netd), 1, n.describe())
        self.addCleanup(lambda: pid_alive(netd[0]) and os.kill(netd[0], signal.SIGKILL))
        os.kill(netd[0], signal.SIGTERM)
        self.assertEqual(n.wait_exit(10), 0, n.describe())

    @NEED_ROOT
    def test_0600_keeps_another_user_out_and_0666_lets_it_in(self):
        for mode, allowed in (("0600", False), ("0666", True)):
            with self.subTest(mode=mode), self.netd("unix_mode = " + mode) as n:
                for kind in ("unix", "unixgram"):
                    status, said = send_from_child(kind, n.addr("logger", kind), "hello", NOBODY)
                    if allowed:
                        self.assertEqual(status, 0, said)
                    else:
                        self.assertEqual((status, said), (3, "PermissionError"), kind)

    @NEED_ROOT
    def test_owner_and_group(self):
        with self.netd("unix_owner = nobody\nunix_group = nogroup\nunix_mode = 0660") as n:
            for kind in ("unix", "unixgram"):
                st = os.lstat(n.addr("logger", kind))
                self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)),
                                 (NOBODY.pw_uid, NOBODY.pw_gid, 0o660), kind)
            status, pid = send_from_child("unixgram", n.addr("logger", "unixgram"), "owner",
                                          NOBODY)
            self.assertEqual(status, 0, pid)
            self.assertEqual(len(self.wait_records(n, 1)), 1)

    @NEED_ROOT
    def test_changing_the_owner_needs_privilege_and_a_refusal_leaves_no_file(self):
        # Started as root, netd drops to nobody; a reload that would give a new socket file to
        # root is refused by the kernel, reported naming the key, and the running config stays.
        def setup(tmpdir):
            open_for_all(tmpdir)
            os.mkdir(os.path.join(tmpdir, "run"))
            os.chown(os.path.join(tmpdir, "run"), NOBODY.pw_uid, NOBODY.pw_gid)

        base = "[server]\nlog_level = info\nuser = nobody\n[echo]\nunix = {tmp}/run/a.sock\n"
        with Netd(base, setup=setup) as n:
            with open(n.config_path, "a") as f:
                f.write("[other]\nhandler = echo\nunix = %s\nunix_owner = root\n"
                        % n.path("run", "b.sock"))
            n.send_signal(signal.SIGHUP)
            line = n.wait_for_line(r"reload: .*\[other\] unix_owner: cannot listen on \S+b\.sock: "
                                   r"cannot change its owner or group: Operation not permitted "
                                   r"\(netd runs as uid %d\)" % NOBODY.pw_uid)
            self.assertIsNotNone(line, n.describe())
            self.assertFalse(os.path.exists(n.path("run", "b.sock")))
            self.assertTrue(stat.S_ISSOCK(os.lstat(n.path("run", "a.sock")).st_mode))

    def test_a_reload_keeps_a_files_mode_and_gives_a_new_one_the_keys(self):
        with self.netd("unix_mode = 0600") as n:
            with open(n.config_path) as f:
                text = f.read()
            text = text.replace("unix_mode = 0600", "unix_mode = 0644").replace(
                "unix = %s" % n.path("log.sock"),
                "unix = %s, %s" % (n.path("log.sock"), n.path("new.sock")))
            with open(n.config_path, "w") as f:
                f.write(text)
            n.send_signal(signal.SIGHUP)
            self.assertIsNotNone(n.wait_for_line(r"\[logger\] listening on unix \S+new\.sock"),
                                 n.describe())
            self.assertIsNotNone(n.wait_for_line(
                r"warning \[logger\] unix \S+log\.sock: the socket file keeps its mode and owner"),
                n.describe())
            self.assertEqual(mode_of(n.path("log.sock")), 0o600)
            self.assertEqual(mode_of(n.path("log.dgram")), 0o600)
            self.assertEqual(mode_of(n.path("new.sock")), 0o644)


if __name__ == "__main__":
    unittest.main()
