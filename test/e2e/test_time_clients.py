"""End-to-end tests: the time services driven by real clients (rdate, nc, socat, telnet).

Run: NETD_BIN=build/netd python3 test/e2e/test_time_clients.py -v   (or through ctest)

Needs rdate (RFC 868 client; -p only prints, it never sets the clock), netcat-openbsd (`nc`, for -N),
socat and telnet; a missing client skips its tests. netd and the clients run with TZ=UTC and LC_ALL=C, and
answers are checked against this process's clock (time.strftime / time.time()).
"""

import calendar
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from clients import (CLIENT_TIMEOUT, NC, NEED_NC, NEED_RDATE, NEED_SOCAT,  # noqa: E402
                     NEED_TELNET, RDATE, SOCAT, TELNET)
from netd_harness import Netd, clean_env, shared_netd  # noqa: E402

RFC868_EPOCH_OFFSET = 2208988800
DEFAULT_FORMAT = "%Y-%m-%d %X"
DAYTIME_FORMAT = "%A, %B %d, %Y %H:%M:%S-%Z"


# C time() reads the kernel's coarse real-time clock (a tick behind CLOCK_REALTIME, which
# time.time() reads), so netd may legitimately see a second that ended just before our time.time().
# The lower bound of every reference window is therefore the coarse clock when Linux has it.
_CLOCK_REALTIME_COARSE = getattr(time, "CLOCK_REALTIME_COARSE", 5 if sys.platform.startswith("linux") else None)


def before():
    """This instant, never later than what C time() can return after it."""
    t = time.time()
    if _CLOCK_REALTIME_COARSE is not None:
        try:
            t = min(t, time.clock_gettime(_CLOCK_REALTIME_COARSE))
        except OSError:
            pass
    return t

PRINTF = shutil.which("printf")


NEED_PRINTF = unittest.skipUnless(PRINTF, "printf(1) is not installed")

CLIENT_ENV = clean_env({"TZ": "UTC", "LC_ALL": "C"})

CONFIG = """\
[server]
log_level = debug

[timefmt]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0

[daytime]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0

[time]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
"""

# What rdate -p prints: ctime-like, with the zone name, e.g. "Mon Nov 23 00:15:28 UTC 2026".
RDATE_RE = re.compile(r"(?P<wd>[A-Z][a-z]{2}) (?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) "
                      r"(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2}) (?P<zone>\S+) (?P<year>\d{4})")
MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def run_client(testcase, argv, data=b"", timeout=CLIENT_TIMEOUT):
    """Run a client in its own process group; on timeout the whole group is killed."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=CLIENT_ENV,
                         start_new_session=True)
    try:
        out, err = p.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        testcase.fail("%r did not finish within %d s (stdout so far: %r, stderr: %r)"
                      % (argv, timeout, out, err))
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


def printf(fmt, *args):
    """printf(1) output, e.g. printf('%s\\r\\n', '%Y') -> b'%Y\\r\\n'."""
    return subprocess.run([PRINTF, fmt] + list(args), capture_output=True, check=True,
                          timeout=5).stdout


def reference(fmt, t0, t1):
    """strftime(fmt) for every second from t0 to t1, in this process's TZ (UTC during the tests,
    like netd's: localtime, not gmtime, so %Z is named as netd's localtime names it)."""
    return sorted({time.strftime(fmt, time.localtime(t)).encode() for t in range(int(t0), int(t1) + 1)})


def _set_tz(value):
    if value is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = value
    time.tzset()


class TimeClients(unittest.TestCase):
    maxDiff = 2000

    @classmethod
    def setUpClass(cls):
        cls.addClassCleanup(_set_tz, os.environ.get("TZ"))
        _set_tz("UTC")
        cls.netd = shared_netd(cls, CONFIG, env={"TZ": "UTC"})

    def assertOk(self, r):
        self.assertEqual(r.returncode, 0, "%r exited %d, stdout %r, stderr %r"
                         % (r.args, r.returncode, r.stdout, r.stderr))

    def assertAnswers(self, got, expected, t0, t1):
        """expected: list of (format or None, literal bytes, line end). Each answer is checked
        against strftime in UTC for every second between t0 and t1."""
        rest = got
        for fmt, literal, ending in expected:
            if fmt is None:
                want = [literal + ending]
            else:
                want = [c + ending for c in reference(fmt, t0, t1)]
            match = next((w for w in want if rest.startswith(w)), None)
            if match is None:
                self.fail("answer to %r: expected one of %r at %r (whole output %r)"
                          % (fmt or literal, want, rest[:100], got))
            rest = rest[len(match):]
        self.assertEqual(rest, b"", "unexpected trailing output (whole output %r)" % got)

    # -- rdate against time (RFC 868) ------------------------------------------------------
    def rdate(self, extra):
        host, port = self.netd.addr("time", "tcp" if "-u" not in extra else "udp")
        argv = [RDATE, "-p"] + extra + ["-o", str(port), host]
        r = run_client(self, argv, None)
        now = time.time()
        self.assertOk(r)
        text = r.stdout.decode("utf-8", "replace")
        m = RDATE_RE.search(text)
        self.assertIsNotNone(m, "cannot parse rdate's output %r" % text)
        self.assertIn(m.group("zone"), ("UTC", "GMT"), "rdate ran with TZ=UTC: %r" % text)
        printed = calendar.timegm((int(m.group("year")), MONTHS[m.group("mon")], int(m.group("day")),
                                   int(m.group("h")), int(m.group("m")), int(m.group("s")), 0, 0, 0))
        self.assertLessEqual(abs(printed - now), 3,
                             "rdate printed %r, %.1f s away from this clock" % (text, printed - now))

    @NEED_RDATE
    def test_rdate_tcp(self):
        self.rdate([])

    @NEED_RDATE
    def test_rdate_udp(self):
        self.rdate(["-u"])

    # -- nc against timefmt -----------------------------------------------------------------
    @NEED_NC
    @NEED_PRINTF
    def test_nc_timefmt_tcp(self):
        host, port = self.netd.addr("timefmt", "tcp")
        data = printf("%s\\n%s\\r\\n\\n%s\\r\\n%s\\n", "%Y-%m-%d", "%H:%M (%Z)", "%k", "day %j of %Y")
        self.assertEqual(data, b"%Y-%m-%d\n%H:%M (%Z)\r\n\n%k\r\nday %j of %Y\n")
        argv = [NC, "-N", host, str(port)]
        t0 = before()
        r = run_client(self, argv, data)
        t1 = time.time()
        self.assertOk(r)
        self.assertAnswers(r.stdout, [
            ("%Y-%m-%d", None, b"\n"),
            ("%H:%M (%Z)", None, b"\r\n"),
            (DEFAULT_FORMAT, None, b"\n"),
            (None, b"error: unsupported conversion %k", b"\r\n"),
            ("day %j of %Y", None, b"\n"),
        ], t0, t1)

    @NEED_NC
    @NEED_PRINTF
    def test_nc_timefmt_udp(self):
        host, port = self.netd.addr("timefmt", "udp")
        for data, fmt in ((printf("%s\\n", "%Y-%m-%d %H:%M:%S"), "%Y-%m-%d %H:%M:%S"),
                          (printf("%s\\r\\n", "%c"), "%c"),
                          (printf("\\n"), DEFAULT_FORMAT)):
            with self.subTest(data=data):
                # -w1: nc quits 1 s after stdin EOF and the last datagram
                argv = [NC, "-u", "-w1", host, str(port)]
                t0 = before()
                r = run_client(self, argv, data)
                t1 = time.time()
                self.assertOk(r)
                self.assertAnswers(r.stdout, [(fmt, None, b"\n")], t0, t1)

    @NEED_NC
    def test_nc_timefmt_udp_error(self):
        host, port = self.netd.addr("timefmt", "udp")
        r = run_client(self, [NC, "-u", "-w1", host, str(port)], b"%+\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, b"error: unsupported conversion %+\n")

    # -- nc against daytime and time ------------------------------------------------------------
    @NEED_NC
    def test_nc_daytime_tcp(self):
        host, port = self.netd.addr("daytime", "tcp")
        argv = [NC, "-N", host, str(port)]
        t0 = before()
        r = run_client(self, argv, None)      # stdin is /dev/null
        t1 = time.time()
        self.assertOk(r)
        self.assertAnswers(r.stdout, [(DAYTIME_FORMAT, None, b"\r\n")], t0, t1)

    @NEED_NC
    def test_nc_daytime_udp(self):
        host, port = self.netd.addr("daytime", "udp")
        t0 = before()
        r = run_client(self, [NC, "-u", "-w1", host, str(port)], b"\n")
        t1 = time.time()
        self.assertOk(r)
        self.assertAnswers(r.stdout, [(DAYTIME_FORMAT, None, b"\r\n")], t0, t1)

    @NEED_NC
    def test_nc_time_tcp(self):
        host, port = self.netd.addr("time", "tcp")
        r = run_client(self, [NC, "-N", host, str(port)], None)
        now = time.time()
        self.assertOk(r)
        self.assertEqual(len(r.stdout), 4, r.stdout)
        value = struct.unpack("!I", r.stdout)[0] - RFC868_EPOCH_OFFSET
        self.assertLessEqual(abs(value - now), 2)

    # -- socat against timefmt ---------------------------------------------------------------------
    @NEED_SOCAT
    def test_socat_timefmt_tcp(self):
        host, port = self.netd.addr("timefmt", "tcp")
        data = b"%a %b %e %T %Y\r\n%%\n%\r\n"
        # -t 5: after stdin EOF socat waits up to 5 s for netd to finish and close
        argv = [SOCAT, "-t", "5", "-", "TCP:%s:%d" % (host, port)]
        t0 = before()
        r = run_client(self, argv, data)
        t1 = time.time()
        self.assertOk(r)
        self.assertAnswers(r.stdout, [
            ("%a %b %e %T %Y", None, b"\r\n"),
            (None, b"%", b"\n"),
            (None, b"error: format ends in a lone %", b"\r\n"),
        ], t0, t1)

    # -- telnet against timefmt, as the README shows it ---------------------------------------
    @NEED_TELNET
    def test_telnet_timefmt(self):
        """The README's `telnet 127.0.0.1 7013`, typed at: telnet sends each line with CRLF and
        shows the answers (CRLF as a line break); when its input ends it closes its side, and netd
        then closes the connection."""
        config = "[timefmt]\ntcp = 127.0.0.1:0\nbanner = netd timefmt: one strftime format a line\n"
        with Netd(config, env={"TZ": "UTC"}) as netd:
            out, err, t0, t1 = self.telnet(*netd.addr("timefmt", "tcp"))
        self.assertIn(b"Connection closed by foreign host", err, "netd did not close (%r)" % err)
        # telnet's own lines, then what netd said.
        self.assertIn(b"Connected to 127.0.0.1.", out)
        escape = b"Escape character is '^]'.\n"
        answers = out[out.index(escape) + len(escape):]
        self.assertAnswers(answers, [
            (None, b"netd timefmt: one strftime format a line", b"\n"),
            ("%Y-%m-%d %H:%M", None, b"\n"),
            (None, b"%literal", b"\n"),
            (None, b"error: unsupported conversion %k", b"\n"),
        ], t0, t1)

    def telnet(self, host, port):
        """Types three lines into telnet, each once the answer to the one before came, then ends
        its input; returns its stdout, stderr, and the times before and after."""
        p = subprocess.Popen([TELNET, host, str(port)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=CLIENT_ENV,
                             start_new_session=True)
        out = bytearray()

        def read():
            for chunk in iter(lambda: p.stdout.read1(4096), b""):
                out.extend(chunk)
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            t0 = before()
            for line in (b"%Y-%m-%d %H:%M\n", b"%%literal\n", b"%k\n"):
                # One line at a time, as a person types: each answer before the next line.
                answers = out.count(b"\n")
                p.stdin.write(line)
                p.stdin.flush()
                deadline = time.monotonic() + CLIENT_TIMEOUT
                while out.count(b"\n") == answers and time.monotonic() < deadline:
                    time.sleep(0.01)
            t1 = time.time()
            p.stdin.close()
            p.wait(CLIENT_TIMEOUT)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            reader.join(5)
        err = p.stderr.read()
        p.stderr.close()
        p.stdout.close()
        return bytes(out), err, t0, t1

if __name__ == "__main__":
    unittest.main(verbosity=2)
