"""End-to-end tests: the logger service fed by real clients (util-linux `logger`, nc).

Run: NETD_BIN=build/netd python3 test/e2e/test_logger_clients.py -v   (or through ctest)

Needs util-linux `logger` (Debian package bsdutils) and netcat-openbsd (`nc`); a missing client
skips its tests. Every test starts its own netd, runs the client (bounded), waits until the expected
records are in the file, stops netd with SIGTERM (exit status 0) and compares the whole file: each
message exactly once, with the right facility.severity, host, app and text. A client over a Unix
socket is recorded as the process the kernel names, unix:PID:UID; the tests that run it as another
user (nobody) need root and skip otherwise.
"""

import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from clients import CLIENT_TIMEOUT, LOGGER, NC, NEED_LOGGER, NEED_NC  # noqa: E402
from netd_harness import Netd, clean_env, count_lines  # noqa: E402

WAIT = 3.0            # seconds to wait for records to reach the file

CONFIG = """\
[server]
log_level = debug

[logger]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
unix = {tmp}/log.sock
unixgram = {tmp}/dev-log
file = {tmp}/netd.log
flush_interval = 50
"""

TAG = "e2e-tag"
PRIORITY = "local3.warning"
FACSEV = b"local3.warning"
HOSTNAME = socket.gethostname().encode()
HOSTNAMES = {HOSTNAME, HOSTNAME.split(b".")[0]}    # RFC 3164 senders may use the short name
LINES = [b"first message from logger", b"second one, with  two spaces", b"third: colon and [brackets]"]
TRUNC = b" \\[truncated]"

TS_RE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UNIX_PEER = rb"^unix:\d+:%d$" % os.getuid()     # a client process of this user
NOBODY = pwd.getpwnam("nobody")
NEED_ROOT = unittest.skipUnless(os.geteuid() == 0, "needs root to run a client as nobody")


def parse_record(line):
    parts = line.split(b" ", 6)
    if len(parts) != 7 or not TS_RE.match(parts[0]):
        raise AssertionError("malformed text record: %r" % line[:300])
    return parts   # received peer service facsev host app message


def run_client(testcase, argv, data, timeout=CLIENT_TIMEOUT):
    try:
        r = subprocess.run(argv, input=data, capture_output=True, timeout=timeout, env=clean_env())
    except subprocess.TimeoutExpired as e:   # subprocess.run has killed it
        testcase.fail("%r did not finish within %d s (stderr so far: %r)" % (argv, timeout, e.stderr))
    testcase.assertEqual(r.returncode, 0, "%r exited %d, stderr %r" % (argv, r.returncode, r.stderr))
    return r


class LoggerClients(unittest.TestCase):
    maxDiff = 4000

    def records(self, n, count):
        """Wait (bounded) for count lines, SIGTERM netd (exit 0 asserted), return all records."""
        path = n.path("netd.log")
        deadline = time.monotonic() + WAIT
        while count_lines(path) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(n.stop(signal.SIGTERM, 10), 0, "exit status after SIGTERM\n" + n.describe())
        with open(path, "rb") as f:
            data = f.read()
        self.assertTrue(data.endswith(b"\n"), "file must end with a complete record: %r" % data[-200:])
        return [parse_record(l) for l in data.split(b"\n")[:-1]]

    def assertLogged(self, recs, peer_re, hosts, messages, ordered=True):
        """One record per message (in order unless ordered=False) from the logger client:
        FACILITY.SEVERITY, HOST, APP, MESSAGE."""
        got = [(r[2], r[3], r[5], r[6]) for r in recs]
        expected = [(b"logger", FACSEV, TAG.encode(), m) for m in messages]
        if not ordered:
            got, expected = sorted(got), sorted(expected)
        self.assertEqual(got, expected,
                         "\n".join(repr(r)[:300] for r in recs))
        for r in recs:
            self.assertRegex(r[1], peer_re)
            self.assertIn(r[4], hosts, "HOST of %r" % (r,))

    def run_logger(self, n, args, messages=LINES):
        argv = [LOGGER] + args + ["-t", TAG, "-p", PRIORITY]
        run_client(self, argv, b"".join(m + b"\n" for m in messages))
        return self.records(n, len(messages))

    def net(self, n, kind):
        host, port = n.addr("logger", kind)
        return ["-n", host, "-P", str(port)]

    @NEED_LOGGER
    def test_logger_tcp(self):
        with Netd(CONFIG) as n:
            recs = self.run_logger(n, ["--tcp"] + self.net(n, "tcp"))
        self.assertLogged(recs, rb"^127\.0\.0\.1:\d+$", {HOSTNAME}, LINES)

    @NEED_LOGGER
    def test_logger_tcp_octet_count(self):
        with Netd(CONFIG) as n:
            recs = self.run_logger(n, ["--tcp", "--octet-count"] + self.net(n, "tcp"))
        self.assertLogged(recs, rb"^127\.0\.0\.1:\d+$", {HOSTNAME}, LINES)

    @NEED_LOGGER
    def test_logger_tcp_rfc3164(self):
        with Netd(CONFIG) as n:
            recs = self.run_logger(n, ["--tcp", "--rfc3164"] + self.net(n, "tcp"))
        self.assertLogged(recs, rb"^127\.0\.0\.1:\d+$", HOSTNAMES, LINES)

    @NEED_LOGGER
    def test_logger_udp(self):
        with Netd(CONFIG) as n:
            recs = self.run_logger(n, ["--udp"] + self.net(n, "udp"))
        self.assertLogged(recs, rb"^127\.0\.0\.1:\d+$", {HOSTNAME}, LINES, ordered=False)

    @NEED_LOGGER
    def test_logger_udp_octet_count(self):
        with Netd(CONFIG) as n:
            recs = self.run_logger(n, ["--udp", "--octet-count"] + self.net(n, "udp"))
        self.assertLogged(recs, rb"^127\.0\.0\.1:\d+$", {HOSTNAME}, LINES, ordered=False)

    @NEED_LOGGER
    def test_logger_udp_rfc3164(self):
        with Netd(CONFIG) as n:
            recs = self.run_logger(n, ["--udp", "--rfc3164"] + self.net(n, "udp"))
        self.assertLogged(recs, rb"^127\.0\.0\.1:\d+$", HOSTNAMES, LINES, ordered=False)

    @NEED_LOGGER
    def test_logger_message_argument(self):
        """The message on the command line instead of stdin."""
        with Netd(CONFIG) as n:
            run_client(self, [LOGGER, "--tcp"] + self.net(n, "tcp") +
                       ["-t", TAG, "-p", PRIORITY, "from", "the", "command line"], b"")
            recs = self.records(n, 1)
        self.assertLogged(recs, rb"^127\.0\.0\.1:\d+$", {HOSTNAME}, [b"from the command line"])

    @NEED_LOGGER
    def test_logger_unixgram_socket(self):
        """`logger --socket` to a datagram socket, as to /dev/log: the local RFC 3164 form, no HOST."""
        with Netd(CONFIG) as n:
            recs = self.run_logger(n, ["--socket", n.addr("logger", "unixgram"), "--socket-errors=on"])
        self.assertLogged(recs, UNIX_PEER, {b"-"}, LINES)

    @NEED_LOGGER
    def test_logger_unix_stream_socket(self):
        with Netd(CONFIG) as n:
            recs = self.run_logger(n, ["--socket", n.addr("logger", "unix"), "--socket-errors=on"])
        self.assertLogged(recs, UNIX_PEER, {b"-"}, LINES)

    @NEED_LOGGER
    def test_logger_unix_stream_socket_octet_count(self):
        with Netd(CONFIG) as n:
            recs = self.run_logger(n, ["--socket", n.addr("logger", "unix"), "--octet-count"])
        self.assertLogged(recs, UNIX_PEER, {b"-"}, LINES)

    @NEED_LOGGER
    def test_logger_unixgram_rfc5424(self):
        with Netd(CONFIG) as n:
            recs = self.run_logger(n, ["--socket", n.addr("logger", "unixgram"), "--rfc5424"], LINES[:1])
        self.assertLogged(recs, UNIX_PEER, {HOSTNAME}, LINES[:1])

    @NEED_LOGGER
    def test_logger_priorities(self):
        with Netd(CONFIG) as n:
            # not kern: util-linux logger treats facility 0 as "unset" and sends user
            prios = ["daemon.emerg", "user.debug", "mail.info", "authpriv.notice", "cron.err", "local7.crit"]
            for p in prios:
                argv = [LOGGER, "--tcp"] + self.net(n, "tcp") + ["-t", TAG, "-p", p, "prio " + p]
                run_client(self, argv, b"")
            recs = self.records(n, len(prios))
        self.assertEqual([(r[3], r[6]) for r in recs], [(p.encode(), b"prio " + p.encode()) for p in prios])

    # -- nc ---------------------------------------------------------------------

    def run_nc(self, n, data, unix=False):
        if unix:
            argv = [NC, "-N", "-U", n.addr("logger", "unix")]
        else:
            host, port = n.addr("logger", "tcp")
            argv = [NC, "-N", host, str(port)]
        run_client(self, argv, data)

    def assertPlain(self, recs, peer_re, messages):
        self.assertEqual([(r[2], r[3], r[4], r[5], r[6]) for r in recs],
                         [(b"logger", b"user.notice", b"-", b"-", m) for m in messages],
                         "\n".join(repr(r)[:300] for r in recs))
        for r in recs:
            self.assertRegex(r[1], peer_re)

    @NEED_NC
    def test_nc_plain_lines(self):
        with Netd(CONFIG) as n:
            self.run_nc(n, b"plain one\nplain two\n\nno final newline")
            recs = self.records(n, 3)
        self.assertPlain(recs, rb"^127\.0\.0\.1:\d+$", [b"plain one", b"plain two", b"no final newline"])

    @NEED_NC
    def test_nc_crlf(self):
        with Netd(CONFIG) as n:
            self.run_nc(n, b"crlf one\r\ncrlf two\r\n<13>Nov 23 00:18:20 host app: crlf 3164\r\n")
            recs = self.records(n, 3)
        self.assertPlain(recs[:2], rb"^127\.0\.0\.1:\d+$", [b"crlf one", b"crlf two"])
        self.assertEqual(recs[2][3:], [b"user.notice", b"host", b"app", b"crlf 3164"])

    @NEED_NC
    def test_nc_unix_stream(self):
        with Netd(CONFIG) as n:
            self.run_nc(n, b"over nc -U\n", unix=True)
            recs = self.records(n, 1)
        self.assertPlain(recs, UNIX_PEER, [b"over nc -U"])

    @NEED_NC
    def test_nc_1mib_line_truncated(self):
        """Default max_line 8192: one record with the first 8192 bytes and the mark, then the
        next line as usual."""
        big = bytes(b"abcdefghijklmnopqrstuvwxyz"[i % 26] for i in range(1 << 20))
        with Netd(CONFIG) as n:
            self.run_nc(n, big + b"\nafter the big line\n")
            recs = self.records(n, 2)
        self.assertPlain(recs, rb"^127\.0\.0\.1:\d+$", [big[:8192] + TRUNC, b"after the big line"])


class LocalSenders(unittest.TestCase):
    """/dev/log as a system has it: other users' `logger` may write to it when unix_mode lets
    them, and every record names the sending process and user as the kernel reports them,
    whatever program name the message claims."""

    CONFIG = CONFIG + "unix_mode = {mode}\n"
    records = LoggerClients.records

    def netd(self, mode):
        # The temp dir is 0700: nobody's client must be able to pass through it.
        return Netd(self.CONFIG.replace("{mode}", mode), setup=lambda d: os.chmod(d, 0o755))

    def logger_as_nobody(self, args):
        """util-linux logger as nobody, claiming to be sshd: (exit status, stderr, its pid)."""
        argv = [LOGGER] + args + ["--socket-errors=on", "-t", "sshd", "-p", "auth.info",
                                  "Accepted publickey for root"]
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=clean_env(), user=NOBODY.pw_uid,
                             group=NOBODY.pw_gid, extra_groups=[])
        try:
            _, err = p.communicate(timeout=CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.fail("%r did not finish within %d s" % (argv, CLIENT_TIMEOUT))
        return p.returncode, err, p.pid

    @NEED_LOGGER
    @NEED_ROOT
    def test_unix_mode_decides_whether_another_user_may_log(self):
        for mode, kind, extra in (("0666", "unixgram", []), ("0666", "unix", ["--tcp"]),
                                  ("0600", "unixgram", []), ("0600", "unix", ["--tcp"])):
            with self.subTest(mode=mode, kind=kind), self.netd(mode) as n:
                status, err, pid = self.logger_as_nobody(["--socket", n.addr("logger", kind)] + extra)
                if mode == "0600":
                    self.assertNotEqual(status, 0)
                    self.assertIn(b"Permission denied", err)
                    self.assertEqual(n.stop(signal.SIGTERM, 10), 0, n.describe())
                    self.assertEqual(os.path.getsize(n.path("netd.log")), 0)
                    continue
                self.assertEqual(status, 0, err)
                recs = self.records(n, 1)
                self.assertEqual([(r[1], r[3], r[5], r[6]) for r in recs],
                                 [(b"unix:%d:%d" % (pid, NOBODY.pw_uid), b"auth.info", b"sshd",
                                   b"Accepted publickey for root")])


if __name__ == "__main__":
    unittest.main(verbosity=2)
