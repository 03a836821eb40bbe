"""Integration tests: the time services timefmt, daytime and time (SPEC §3).

Run: NETD_BIN=build/netd python3 test/integration/test_time_services.py -v   (or through ctest)

Every answer that carries a time is compared with C strftime (Python's time.strftime) for the same
instant under the same TZ: netd is started with TZ in its environment, this process sets the same TZ,
and the reference is computed for every second between just before the request and just after the
answer, so a second boundary in between cannot make a test flaky.
"""

import configparser
import contextlib
import os
import re
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (  # noqa: E402
    IO_TIMEOUT, Netd, error_lines, pid_alive, recv_until_eof, run_netd, shared_netd, tcp_connect,
    udp_socket, unix_connect, unixgram_socket,
)

RFC868_EPOCH_OFFSET = 2208988800          # seconds from 1900-01-01 to 1970-01-01 (RFC 868)
DEFAULT_FORMAT = "%Y-%m-%d %X"             # [timefmt] default_format
DAYTIME_FORMAT = "%A, %B %d, %Y %H:%M:%S-%Z"   # [daytime] format
MAX_FORMAT = 256                           # bytes
MAX_OUTPUT = 1024                          # bytes
C_LEN = 24                                 # len(strftime("%c")) in the C locale, 4-digit years


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


def zone(name, posix):
    """An Olson zone if this host has its tzdata file, else an equivalent POSIX TZ string
    (glibc understands those without any file)."""
    return name if os.path.exists(os.path.join("/usr/share/zoneinfo", name)) else posix


NEW_YORK = zone("America/New_York", "EST5EDT,M3.2.0,M11.1.0")
KOLKATA = zone("Asia/Kolkata", "IST-5:30")      # a half-hour offset: %z = +0530

# Formats whose output must equal C strftime's: every accepted conversion, the E and O variants,
# literal text, %% and the whitespace conversions %t and %n (the answer then contains a tab or a
# newline before its line end).
ALL_CONVERSIONS = ("%a %A %b %B %c %C %d %D %e %F %g %G %h %H %I %j %m %M %n %p %r %R %S %t %T "
                   "%u %U %V %w %W %x %X %y %Y %z %Z %% %Ec %EC %Ex %EX %Ey %EY %Od %Oe %OH %OI "
                   "%Om %OM %OS %Ou %OU %OV %Ow %OW %Oy")
REFERENCE_FORMATS = [
    DEFAULT_FORMAT,
    "%c", "%x", "%X", "%Z", "%z", "%j", "%U", "%V", "%G", "%g", "%e", "%C", "%D", "%F",
    "%a %A %b %B %h",
    "%H %I %p %M %S",
    "%r|%R|%T",
    "%u %w %U %W %V",
    "%y %Y %m %d",
    "%Ec|%EC|%Ex|%EX|%Ey|%EY",
    "%Od|%Oe|%OH|%OI|%Om|%OM|%OS|%Ou|%OU|%OV|%Ow|%OW|%Oy",
    "%%", "100%% sure", "%%Y is literal, %%%Y is not",
    "tab%there", "two%nlines",
    "It is %H o'clock in %Z (UTC%z), day %j of %Y.",
    "plain text without conversions",
    "  %H  ",
    "[%e]",
    ALL_CONVERSIONS,
]
assert all(len(f) <= MAX_FORMAT for f in REFERENCE_FORMATS)

# Conversions outside the POSIX set: (format, the conversion as the error must name it).
UNSUPPORTED = [
    ("%k", "%k"), ("%l", "%l"), ("%s", "%s"), ("%P", "%P"), ("%+", "%+"), ("%-d", "%-d"),
    ("%_H", "%_H"), ("%0e", "%0e"), ("%^a", "%^a"), ("%#b", "%#b"), ("%5Y", "%5Y"), ("%10d", "%10d"),
    ("%Ek", "%Ek"), ("%Ea", "%Ea"), ("%Ed", "%Ed"), ("%Oa", "%Oa"), ("%OY", "%OY"), ("%Ok", "%Ok"),
    ("%f", "%f"), ("%L", "%L"), ("%N", "%N"), ("%q", "%q"), ("%v", "%v"), ("%i", "%i"),
    ("date %Y and %k", "%k"), ("%H:%M %P", "%P"),
]

# Formats carrying a control byte (0x00-0x1f other than the line end, or 0x7f).
CONTROL_FORMATS = [b"%H\x00%M", b"\x01", b"a\tb", b"%Y\x1b[31m", b"x\x7f", b"\x1f%H", b"a\rb", b"\x0b"]


def reference(fmt, t0, t1, zone_key="local"):
    """strftime(fmt) for every whole second from t0 to t1 (bytes; ASCII formats)."""
    conv = time.localtime if zone_key == "local" else time.gmtime
    return sorted({time.strftime(fmt, conv(t)).encode("ascii")
                   for t in range(int(t0), int(t1) + 1)})


def answer_lines(fmt):
    """How many LF-ended lines the answer to fmt spans (%n puts a newline into the output)."""
    return time.strftime(fmt).count("\n") + 1


@contextlib.contextmanager
def process_tz(tz):
    old = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


class Conn:
    """A stream connection with a receive buffer; answers are read by their number of LFs."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()
        return False

    def send(self, data):
        self.sock.sendall(data)

    def read_lines(self, n=1, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while self.buf.count(b"\n") < n:
            if time.monotonic() > deadline:
                raise AssertionError("no complete answer within %.0f s; got %r" % (timeout, bytes(self.buf)))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError("no complete answer within %.0f s; got %r"
                                     % (self.sock.gettimeout(), bytes(self.buf))) from None
            if not chunk:
                raise AssertionError("connection closed by netd; got %r" % bytes(self.buf))
            self.buf += chunk
        end = -1
        for _ in range(n):
            end = self.buf.index(b"\n", end + 1)
        out = bytes(self.buf[:end + 1])
        del self.buf[:end + 1]
        return out

    def silence(self, wait=0.3):
        """Nothing arrives within wait seconds: returns None; else what came (b'' for EOF)."""
        if self.buf:
            return bytes(self.buf)
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(65536)
        except socket.timeout:
            return None
        finally:
            self.sock.settimeout(IO_TIMEOUT)

    def read_to_close(self, timeout=10.0):
        """Everything until the server closes: (bytes, 'eof' | 'reset')."""
        deadline = time.monotonic() + timeout
        how = "eof"
        while True:
            if time.monotonic() > deadline:
                raise AssertionError("netd did not close the connection within %.0f s; got %r"
                                     % (timeout, bytes(self.buf[:200])))
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                how = "reset"
                break
            except socket.timeout:
                raise AssertionError("netd did not close the connection; got %r" % bytes(self.buf[:200])) from None
            if not chunk:
                break
            self.buf += chunk
        out = bytes(self.buf)
        self.buf.clear()
        return out, how


def connect(addr, kind="tcp"):
    return Conn(unix_connect(addr) if kind == "unix" else tcp_connect(addr))


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


class TimeTestCase(unittest.TestCase):
    """netd and this process run under the same TZ (class attribute TZ)."""

    TZ = "UTC"
    maxDiff = 2000

    @classmethod
    def setUpClass(cls):
        tz = process_tz(cls.TZ)
        tz.__enter__()
        cls.addClassCleanup(tz.__exit__, None, None, None)

    def netd(self, config=CONFIG, args=(), **kw):
        env = dict(kw.pop("env", {}) or {})
        env.setdefault("TZ", self.TZ)
        return Netd(config, args, env=env, **kw)

    # -- assertions --------------------------------------------------------------------------
    def assertTimeAnswer(self, got, fmt, t0, t1, ending, zone_key="local", what=""):
        want = [c + ending for c in reference(fmt, t0, t1, zone_key)]
        if got not in want:
            self.fail("%sformat %r (TZ=%s, timezone=%s): got %r, expected %s"
                      % (what and what + ": ", fmt, self.TZ, zone_key, got,
                         " or ".join(repr(w) for w in want)))

    def ask(self, conn, fmt, ending=b"\n", zone_key="local"):
        """Send one format line, check the answer against strftime."""
        t0 = before()
        conn.send(fmt.encode("ascii") + ending)
        got = conn.read_lines(answer_lines(fmt))
        t1 = time.time()
        self.assertTimeAnswer(got, fmt, t0, t1, ending, zone_key, "stream")
        return got

    def ask_error(self, conn, fmt, reason, ending=b"\n"):
        conn.send(fmt + ending)
        got = conn.read_lines(1)
        self.assertEqual(got, b"error: " + reason.encode() + ending, "answer to format %r" % (fmt,))

    def dgram(self, addr, payload, kind="udp", client_path=None, extra_wait=0.02):
        """One datagram to addr; returns (reply, t0, t1). The reply must come from addr and be the
        only one (a second reply sent right after the first is queued within extra_wait on
        loopback)."""
        if kind == "unixgram":
            s = unixgram_socket(client_path)
        else:
            s = udp_socket(addr[0])
        with s:
            t0 = before()
            s.sendto(payload, addr)
            try:
                data, peer = s.recvfrom(70000)
            except socket.timeout:
                self.fail("no reply to datagram %r from %r within %.0f s" % (payload[:80], addr, IO_TIMEOUT))
            t1 = time.time()
            if kind == "udp":
                self.assertEqual(peer[:2], tuple(addr), "reply must come from the listening address")
            s.settimeout(extra_wait)
            with self.assertRaises(socket.timeout, msg="a second datagram came back for one request"):
                s.recvfrom(70000)
        return data, t0, t1

    def dgram_time(self, addr, payload, fmt, zone_key="local", kind="udp", client_path=None):
        data, t0, t1 = self.dgram(addr, payload, kind, client_path)
        self.assertTimeAnswer(data, fmt, t0, t1, b"\n", zone_key, "datagram %r" % (payload,))
        return data


# ---------------------------------------------------------------------------------------------
# Output equals C strftime, under several time zones

class ReferenceMixin:
    """Shared netd per class; the subclasses pick TZ."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.n = shared_netd(cls, CONFIG, env={"TZ": cls.TZ})

    def test_timefmt_stream_lf(self):
        with connect(self.n.addr("timefmt", "tcp")) as c:
            for fmt in REFERENCE_FORMATS:
                with self.subTest(fmt=fmt):
                    self.ask(c, fmt, b"\n")

    def test_timefmt_stream_crlf(self):
        with connect(self.n.addr("timefmt", "tcp")) as c:
            for fmt in REFERENCE_FORMATS:
                with self.subTest(fmt=fmt):
                    self.ask(c, fmt, b"\r\n")

    def test_timefmt_stream_default_format(self):
        with connect(self.n.addr("timefmt", "tcp")) as c:
            for ending in (b"\n", b"\r\n"):
                t0 = before()
                c.send(ending)
                got = c.read_lines(1)
                self.assertTimeAnswer(got, DEFAULT_FORMAT, t0, time.time(), ending, what="empty line")

    def test_timefmt_datagram(self):
        addr = self.n.addr("timefmt", "udp")
        for fmt in REFERENCE_FORMATS:
            with self.subTest(fmt=fmt):
                self.dgram_time(addr, fmt.encode() + b"\n", fmt)

    def test_timefmt_datagram_default_format(self):
        addr = self.n.addr("timefmt", "udp")
        for payload in (b"", b"\n", b"\r\n"):
            with self.subTest(payload=payload):
                self.dgram_time(addr, payload, DEFAULT_FORMAT)

    def test_daytime_tcp(self):
        with connect(self.n.addr("daytime", "tcp")) as c:
            t0 = before()
            got, how = c.read_to_close()
            t1 = time.time()
        self.assertEqual(how, "eof", "daytime must close the connection normally")
        self.assertTimeAnswer(got, DAYTIME_FORMAT, t0, t1, b"\r\n", what="daytime tcp")

    def test_daytime_udp(self):
        addr = self.n.addr("daytime", "udp")
        data, t0, t1 = self.dgram(addr, b"")
        self.assertTimeAnswer(data, DAYTIME_FORMAT, t0, t1, b"\r\n", what="daytime udp")


class ReferenceUTC(ReferenceMixin, TimeTestCase):
    TZ = "UTC"


class ReferenceNewYork(ReferenceMixin, TimeTestCase):
    TZ = NEW_YORK


class ReferenceKolkata(ReferenceMixin, TimeTestCase):
    TZ = KOLKATA


class TimezoneUtcKey(TimeTestCase):
    """timezone = utc: UTC whatever the process's TZ is."""

    TZ = KOLKATA        # +05:30: local and UTC never agree on %H:%M
    CONFIG = CONFIG.replace("[timefmt]\n", "[timefmt]\ntimezone = utc\n").replace(
        "[daytime]\n", "[daytime]\ntimezone = utc\nformat = %Y-%m-%dT%H:%M:%S%z day %j\n")
    FORMATS = [f for f in REFERENCE_FORMATS if "%Z" not in f]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.n = shared_netd(cls, cls.CONFIG, env={"TZ": cls.TZ})

    def test_timefmt_stream(self):
        with connect(self.n.addr("timefmt", "tcp")) as c:
            for fmt in self.FORMATS:
                with self.subTest(fmt=fmt):
                    self.ask(c, fmt, b"\n", zone_key="utc")
            t0 = before()
            c.send(b"\r\n")
            self.assertTimeAnswer(c.read_lines(1), DEFAULT_FORMAT, t0, time.time(), b"\r\n", "utc",
                                  "empty line")

    def test_timefmt_datagram(self):
        addr = self.n.addr("timefmt", "udp")
        for fmt in self.FORMATS:
            with self.subTest(fmt=fmt):
                self.dgram_time(addr, fmt.encode() + b"\r\n", fmt, zone_key="utc")

    def test_timefmt_zone_name_is_utc_or_gmt(self):
        with connect(self.n.addr("timefmt", "tcp")) as c:
            c.send(b"%Z|%z\n")
            self.assertIn(c.read_lines(1), (b"GMT|+0000\n", b"UTC|+0000\n"))

    def test_daytime_format_and_timezone_keys(self):
        fmt = "%Y-%m-%dT%H:%M:%S%z day %j"
        with connect(self.n.addr("daytime", "tcp")) as c:
            t0 = before()
            got, how = c.read_to_close()
            t1 = time.time()
        self.assertTimeAnswer(got, fmt, t0, t1, b"\r\n", "utc", "daytime tcp")
        data, t0, t1 = self.dgram(self.n.addr("daytime", "udp"), b"what time is it?\n")
        self.assertTimeAnswer(data, fmt, t0, t1, b"\r\n", "utc", "daytime udp")


class TimezoneLocalKey(TimeTestCase):
    """timezone = local (explicit) is the process's TZ."""

    TZ = NEW_YORK

    def test_explicit_local(self):
        args = ["--timefmt.timezone=local", "--daytime.timezone=local"]
        with self.netd(args=args) as n:
            with connect(n.addr("timefmt", "tcp")) as c:
                self.ask(c, "%H:%M %Z %z")
            self.dgram_time(n.addr("timefmt", "udp"), b"%c %Z", "%c %Z")
            data, t0, t1 = self.dgram(n.addr("daytime", "udp"), b"x")
            self.assertTimeAnswer(data, DAYTIME_FORMAT, t0, t1, b"\r\n", what="daytime udp")


# ---------------------------------------------------------------------------------------------
# timefmt over streams: framing, banner, errors, limits

class TimefmtStream(TimeTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.n = shared_netd(cls, CONFIG, env={"TZ": cls.TZ})

    def conn(self):
        return connect(self.n.addr("timefmt", "tcp"))

    def assertStillServing(self, c, ending=b"\n"):
        self.ask(c, "%Y-%m-%d %H:%M:%S", ending)

    def test_no_banner_by_default(self):
        with self.conn() as c:
            self.assertIsNone(c.silence(0.5), "netd sent something on connect without a banner")
            self.assertStillServing(c)

    def test_line_end_is_mirrored(self):
        with self.conn() as c:
            for ending in (b"\n", b"\r\n", b"\n", b"\r\n", b"\r\n", b"\n"):
                got = self.ask(c, "%H:%M:%S", ending)
                self.assertTrue(got.endswith(ending) and not got[:-len(ending)].endswith(b"\r"), got)

    def test_connection_stays_open_for_many_lines(self):
        with self.conn() as c:
            for i in range(50):
                self.ask(c, "%S #" + str(i))

    def test_pipelined_requests_answered_in_order(self):
        reqs = [("%Y", b"\n"), ("%m", b"\r\n"), ("", b"\n"), ("%k", b"\r\n"), ("<%d>", b"\n"),
                ("", b"\r\n"), ("%", b"\n"), ("%j%n%U", b"\r\n"), ("end", b"\n")]
        with self.conn() as c:
            t0 = before()
            c.send(b"".join(f.encode() + e for f, e in reqs))
            answers = [c.read_lines(1 if f in ("%k", "%") else answer_lines(f or DEFAULT_FORMAT))
                       for f, _ in reqs]
            t1 = time.time()
            for (fmt, ending), got in zip(reqs, answers):
                with self.subTest(fmt=fmt, ending=ending):
                    if fmt == "%k":
                        self.assertEqual(got, b"error: unsupported conversion %k\r\n")
                    elif fmt == "%":
                        self.assertEqual(got, b"error: format ends in a lone %\n")
                    else:
                        self.assertTimeAnswer(got, fmt or DEFAULT_FORMAT, t0, t1, ending)
            self.assertIsNone(c.silence(0.3), "more answers than requests")

    def test_many_pipelined_requests(self):
        count = 500
        with self.conn() as c:
            t0 = before()
            c.send(b"".join(b"%Y-%m-%d #" + str(i).encode() + b"\r\n" for i in range(count)))
            for i in range(count):
                got = c.read_lines(1)
                self.assertTimeAnswer(got, "%Y-%m-%d #" + str(i), t0, time.time(), b"\r\n")

    def test_request_split_across_writes(self):
        with self.conn() as c:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = before()
            for piece in (b"%Y-", b"%m-%d", b" %H", b":%M"):
                c.send(piece)
                time.sleep(0.05)
            self.assertIsNone(c.silence(0.2), "answered before the line ended")
            c.send(b"\r")
            self.assertIsNone(c.silence(0.3), "answered on a bare CR (the line ends with LF)")
            c.send(b"\n")
            self.assertTimeAnswer(c.read_lines(1), "%Y-%m-%d %H:%M", t0, time.time(), b"\r\n")

    def test_request_one_byte_per_write(self):
        with self.conn() as c:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = before()
            for b in b"[%H:%M]\n":
                c.send(bytes([b]))
                time.sleep(0.01)
            self.assertTimeAnswer(c.read_lines(1), "[%H:%M]", t0, time.time(), b"\n")

    def test_unsupported_conversions(self):
        with self.conn() as c:
            for ending in (b"\n", b"\r\n"):
                for fmt, conv in UNSUPPORTED:
                    with self.subTest(fmt=fmt, ending=ending):
                        self.ask_error(c, fmt.encode(), "unsupported conversion " + conv, ending)
            self.assertStillServing(c)

    def test_lone_percent(self):
        with self.conn() as c:
            for fmt in (b"%", b"abc %", b"%Y%", b"%%%"):
                for ending in (b"\n", b"\r\n"):
                    with self.subTest(fmt=fmt, ending=ending):
                        self.ask_error(c, fmt, "format ends in a lone %", ending)
            self.ask(c, "%%")
            self.ask(c, "%%%%")

    def test_control_bytes(self):
        with self.conn() as c:
            for fmt in CONTROL_FORMATS:
                endings = (b"\n",) if b"\r" in fmt else (b"\n", b"\r\n")
                for ending in endings:
                    with self.subTest(fmt=fmt, ending=ending):
                        self.ask_error(c, fmt, "control byte in format", ending)
            self.assertStillServing(c, b"\r\n")

    def test_bytes_above_0x7f_pass_through(self):
        with self.conn() as c:
            for prefix in ("Zeit: \u00fc ".encode("utf-8"), b"\xff\x80 "):
                t0 = before()
                c.send(prefix + b"%H:%M\n")
                got = c.read_lines(1)
                want = [prefix + r + b"\n" for r in reference("%H:%M", t0, time.time())]
                self.assertIn(got, want)

    def test_format_length_limit(self):
        with self.conn() as c:
            self.ask(c, "x" * MAX_FORMAT)
            self.ask(c, "%Y" * (MAX_FORMAT // 2), b"\r\n")        # 256-byte format, 512-byte answer
            self.ask_error(c, b"x" * (MAX_FORMAT + 1), "format longer than 256 bytes")
            self.ask_error(c, b"%H" * 150, "format longer than 256 bytes", b"\r\n")
            self.ask_error(c, b"y" * 4000, "format longer than 256 bytes")
            self.assertStillServing(c)

    def test_output_length_limit(self):
        exact = "%c" * 42 + "y" * (MAX_OUTPUT - 42 * C_LEN)      # exactly 1024 bytes of output
        with self.conn() as c:
            got = self.ask(c, exact)
            self.assertEqual(len(got), MAX_OUTPUT + 1)
            self.ask_error(c, (exact + "y").encode(), "output longer than 1024 bytes")
            self.ask_error(c, b"%c" * 60, "output longer than 1024 bytes", b"\r\n")
            self.ask_error(c, b"%Y" * 128 + b"%%", "format longer than 256 bytes")
            self.assertStillServing(c, b"\r\n")

    def test_concurrent_connections_independent(self):
        with self.conn() as a, self.conn() as b:
            a.send(b"%Y-%m")                       # a's line is not finished
            t0 = before()
            b.send(b"%H:%M\r\n")
            self.assertTimeAnswer(b.read_lines(1), "%H:%M", t0, time.time(), b"\r\n", what="b")
            self.assertIsNone(a.silence(0.2))
            a.send(b"-%d\n")
            self.assertTimeAnswer(a.read_lines(1), "%Y-%m-%d", t0, time.time(), b"\n", what="a")

    def test_half_close_answers_then_closes(self):
        """The client finishes sending: netd answers every complete line, then closes."""
        with self.conn() as c:
            t0 = before()
            c.send(b"%Y\n%k\r\n\n")
            c.sock.shutdown(socket.SHUT_WR)
            got, how = c.read_to_close()
            t1 = time.time()
        self.assertEqual(how, "eof", got)
        lines = got.split(b"\n")
        self.assertEqual(len(lines), 4, got)
        self.assertTimeAnswer(lines[0] + b"\n", "%Y", t0, t1, b"\n")
        self.assertEqual(lines[1] + b"\n", b"error: unsupported conversion %k\r\n")
        self.assertTimeAnswer(lines[2] + b"\n", DEFAULT_FORMAT, t0, t1, b"\n")

    def test_many_connections(self):
        addr = self.n.addr("timefmt", "tcp")
        conns = [connect(addr) for _ in range(50)]
        try:
            t0 = before()
            for i, c in enumerate(conns):
                c.send(("%%H #%d\n" % i).encode())
            for i, c in enumerate(conns):
                self.assertTimeAnswer(c.read_lines(1), "%%H #%d" % i, t0, time.time(), b"\n")
        finally:
            for c in conns:
                c.sock.close()


class TimefmtKeys(TimeTestCase):

    def test_banner(self):
        config = CONFIG.replace("[timefmt]\n", "[timefmt]\nbanner = netd timefmt: send a strftime format\n")
        with self.netd(config) as n:
            with connect(n.addr("timefmt", "tcp")) as c:
                self.assertEqual(c.read_lines(1), b"netd timefmt: send a strftime format\r\n")
                self.assertIsNone(c.silence(0.3), "only the banner is sent on connect")
                self.ask(c, "%H:%M:%S")
                self.ask(c, "%H:%M:%S", b"\r\n")
            # the banner is a stream thing: a datagram gets just its answer
            self.dgram_time(n.addr("timefmt", "udp"), b"%Y", "%Y")

    def test_banner_from_command_line(self):
        with self.netd(args=["--timefmt.banner=hello there"]) as n:
            for _ in range(2):      # every connection gets it
                with connect(n.addr("timefmt", "tcp")) as c:
                    self.assertEqual(c.read_lines(1), b"hello there\r\n")
                    self.ask(c, "%j")

    def test_default_format_key(self):
        config = CONFIG.replace("[timefmt]\n", "[timefmt]\ndefault_format = %H:%M:%S on %d.%m.%Y\n")
        fmt = "%H:%M:%S on %d.%m.%Y"
        with self.netd(config) as n:
            with connect(n.addr("timefmt", "tcp")) as c:
                for ending in (b"\n", b"\r\n"):
                    t0 = before()
                    c.send(ending)
                    self.assertTimeAnswer(c.read_lines(1), fmt, t0, time.time(), ending)
                self.ask(c, "%Y")          # an explicit format still wins
            self.dgram_time(n.addr("timefmt", "udp"), b"", fmt)
            self.dgram_time(n.addr("timefmt", "udp"), b"\n", fmt)

    def test_default_format_from_command_line(self):
        with self.netd(args=["--timefmt.default_format=%c (%Z)"]) as n:
            with connect(n.addr("timefmt", "tcp")) as c:
                t0 = before()
                c.send(b"\r\n")
                self.assertTimeAnswer(c.read_lines(1), "%c (%Z)", t0, time.time(), b"\r\n")

    def test_custom_section_name(self):
        config = ("[clock]\nhandler = timefmt\ntcp = 127.0.0.1:0\nudp = 127.0.0.1:0\n"
                  "timezone = utc\nbanner = clock\n\n"
                  "[rfc867]\nhandler = daytime\ntcp = 127.0.0.1:0\nformat = %Y\n\n"
                  "[rfc868]\nhandler = time\nudp = 127.0.0.1:0\n")
        with self.netd(config) as n:
            with connect(n.addr("clock", "tcp")) as c:
                self.assertEqual(c.read_lines(1), b"clock\r\n")
                self.ask(c, "%H:%M", zone_key="utc")
            self.dgram_time(n.addr("clock", "udp"), b"%T", "%T", zone_key="utc")
            with connect(n.addr("rfc867", "tcp")) as c:
                t0 = before()
                got, _ = c.read_to_close()
                self.assertTimeAnswer(got, "%Y", t0, time.time(), b"\r\n")
            data, t0, t1 = self.dgram(n.addr("rfc868", "udp"), b"")
            self.assertEqual(len(data), 4, data)
            value = struct.unpack("!I", data)[0] - RFC868_EPOCH_OFFSET
            self.assertLessEqual(abs(value - (t0 + t1) / 2), 2)

    def test_unix_transports(self):
        config = ("[timefmt]\nunix = {tmp}/timefmt.sock\nunixgram = {tmp}/timefmt.dgram\n\n"
                  "[daytime]\nunix = {tmp}/daytime.sock\n\n[time]\nunixgram = {tmp}/time.dgram\n")
        with self.netd(config) as n:
            with connect(n.path("timefmt.sock"), "unix") as c:
                self.ask(c, "%F %T")
                self.ask(c, "%F %T", b"\r\n")
                self.ask_error(c, b"%k", "unsupported conversion %k")
            self.dgram_time(n.path("timefmt.dgram"), b"%F %T\n", "%F %T", kind="unixgram",
                            client_path=n.path("c1.dgram"))
            with connect(n.path("daytime.sock"), "unix") as c:
                t0 = before()
                got, _ = c.read_to_close()
                self.assertTimeAnswer(got, DAYTIME_FORMAT, t0, time.time(), b"\r\n")
            data, t0, t1 = self.dgram(n.path("time.dgram"), b"", kind="unixgram",
                                      client_path=n.path("c2.dgram"))
            self.assertEqual(len(data), 4, data)
            value = struct.unpack("!I", data)[0] - RFC868_EPOCH_OFFSET
            self.assertLessEqual(abs(value - (t0 + t1) / 2), 2)


class TimefmtMaxLine(TimeTestCase):
    """A line over max_line: 'error: line too long', then netd closes; the service goes on."""

    MAX = 100
    TOO_LONG = re.compile(rb"^error: line too long\r?\n$")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.n = shared_netd(cls, CONFIG, ["--timefmt.max_line=%d" % cls.MAX], env={"TZ": cls.TZ})

    def conn(self):
        return connect(self.n.addr("timefmt", "tcp"))

    def assertServiceAlive(self):
        self.assertTrue(pid_alive(self.n.pid), "netd died\n" + self.n.describe())
        with self.conn() as c:
            self.ask(c, "%H:%M:%S")

    def test_line_within_max_line(self):
        with self.conn() as c:
            # MAX bytes including CRLF: within the limit however the line end is counted
            self.ask(c, "%Y" + "x" * (self.MAX - 4), b"\r\n")
            self.ask(c, "%Y" + "x" * (self.MAX - 4), b"\n")

    def test_line_over_max_line_with_line_end(self):
        with self.conn() as c:
            t0 = before()
            c.send(b"%Y\n" + b"x" * (self.MAX + 1) + b"\n")
            self.assertTimeAnswer(c.read_lines(1), "%Y", t0, time.time(), b"\n",
                                  what="request before the long line")
            got, how = c.read_to_close()
        self.assertRegex(got, self.TOO_LONG, "after a %d-byte line (how=%s)" % (self.MAX + 1, how))
        self.assertServiceAlive()

    def test_line_over_max_line_crlf(self):
        with self.conn() as c:
            c.send(b"%H" * 60 + b"\r\n")        # 120 bytes, also a valid (<256) format
            got, how = c.read_to_close()
        self.assertRegex(got, self.TOO_LONG, "how=%s" % how)
        self.assertServiceAlive()

    def test_one_mib_without_line_end(self):
        payload = b"%Y" * (1 << 19)          # 1 MiB, no LF anywhere
        with self.conn() as c:
            send_error = []

            def sender():
                try:
                    c.sock.sendall(payload)
                except OSError as e:          # netd closed while we were still sending: expected
                    send_error.append(e)

            t = threading.Thread(target=sender, daemon=True)
            t.start()
            try:
                got, how = c.read_to_close(timeout=15)
            finally:
                t.join(15)
            self.assertFalse(t.is_alive(), "sender still blocked: netd neither reads nor closes")
        self.assertRegex(got, self.TOO_LONG,
                         "1 MiB without a line end (how=%s): expected the error line, then close" % how)
        self.assertServiceAlive()

    def test_datagrams_unaffected_by_stream_close(self):
        with self.conn() as c:
            c.send(b"z" * 500)
            c.read_to_close()
        self.dgram_time(self.n.addr("timefmt", "udp"), b"%T\n", "%T")

    def test_the_error_line_carries_no_other_clients_bytes(self):
        """The answer to a too-long line reuses the line end of an earlier request; another
        client's read in between (echo, on the same event loop in strand mode) must not show."""
        config = "[timefmt]\ntcp = 127.0.0.1:0\nmax_line = 16\n\n[echo]\ntcp = 127.0.0.1:0\n"
        with self.netd(config) as n, connect(n.addr("timefmt", "tcp")) as a:
            self.ask(a, "ok")
            with tcp_connect(n.addr("echo", "tcp")) as b:
                b.sendall(b"Z" * 3000)
                b.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_until_eof(b), b"Z" * 3000)
            a.send(b"x" * 40 + b"\n")
            got, how = a.read_to_close()
        self.assertEqual(got, b"error: line too long\n", "how=%s" % how)


# ---------------------------------------------------------------------------------------------
# timefmt over datagrams

class TimefmtDatagram(TimeTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.n = shared_netd(cls, CONFIG, env={"TZ": cls.TZ})

    def addr(self):
        return self.n.addr("timefmt", "udp")

    def test_line_ends_stripped(self):
        for payload in (b"%Y-%m-%d %T", b"%Y-%m-%d %T\n", b"%Y-%m-%d %T\r\n"):
            with self.subTest(payload=payload):
                self.dgram_time(self.addr(), payload, "%Y-%m-%d %T")

    def test_errors(self):
        cases = [(f.encode() + b"\n", "unsupported conversion " + conv) for f, conv in UNSUPPORTED]
        cases += [(b"%", "format ends in a lone %"), (b"abc %\r\n", "format ends in a lone %")]
        cases += [(f, "control byte in format") for f in CONTROL_FORMATS]
        cases += [(b"%H\n%M", "control byte in format"), (b"%H\r%M\n", "control byte in format")]
        cases += [(b"x" * (MAX_FORMAT + 1), "format longer than 256 bytes"),
                  (b"x" * 2000 + b"\n", "format longer than 256 bytes"),
                  (b"%c" * 60, "output longer than 1024 bytes")]
        for payload, reason in cases:
            with self.subTest(payload=payload[:40]):
                data, _, _ = self.dgram(self.addr(), payload)
                self.assertEqual(data, b"error: " + reason.encode() + b"\n", "answer to datagram %r" % (payload[:40],))
        self.dgram_time(self.addr(), b"%c", "%c")

    def test_limits_accept_the_maximum(self):
        self.dgram_time(self.addr(), b"x" * MAX_FORMAT, "x" * MAX_FORMAT)
        exact = "%c" * 42 + "y" * (MAX_OUTPUT - 42 * C_LEN)
        data = self.dgram_time(self.addr(), exact.encode() + b"\n", exact)
        self.assertEqual(len(data), MAX_OUTPUT + 1)

    def test_exactly_one_reply(self):
        for payload in (b"%Y\n", b"", b"%k\n"):
            with self.subTest(payload=payload):
                self.dgram(self.addr(), payload, extra_wait=0.5)

    def test_newline_conversion_in_datagram(self):
        self.dgram_time(self.addr(), b"%Y%n%m%t%d\n", "%Y%n%m%t%d")

    def test_senders_get_their_own_answers(self):
        with udp_socket() as a, udp_socket() as b:
            t0 = before()
            a.sendto(b"A %H", self.addr())
            b.sendto(b"B %M", self.addr())
            ga, gb = a.recvfrom(2000)[0], b.recvfrom(2000)[0]
            t1 = time.time()
        self.assertTimeAnswer(ga, "A %H", t0, t1, b"\n")
        self.assertTimeAnswer(gb, "B %M", t0, t1, b"\n")

    def test_burst_of_datagrams(self):
        with udp_socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            t0 = before()
            got = []
            for i in range(100):            # one at a time: loopback loses none of these
                s.sendto(b"%%Y #%d" % i, self.addr())
                got.append(s.recvfrom(2000)[0])
            t1 = time.time()
        for i, data in enumerate(got):
            self.assertTimeAnswer(data, "%%Y #%d" % i, t0, t1, b"\n")


# ---------------------------------------------------------------------------------------------
# daytime (RFC 867) and time (RFC 868)

class Daytime(TimeTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.n = shared_netd(cls, CONFIG, env={"TZ": cls.TZ})

    def test_tcp_one_line_then_close(self):
        for _ in range(3):
            with connect(self.n.addr("daytime", "tcp")) as c:
                t0 = before()
                got, how = c.read_to_close()
                t1 = time.time()
            self.assertEqual(how, "eof")
            self.assertEqual(got.count(b"\n"), 1, got)
            self.assertTimeAnswer(got, DAYTIME_FORMAT, t0, t1, b"\r\n")

    def test_tcp_client_input_ignored(self):
        with connect(self.n.addr("daytime", "tcp")) as c:
            t0 = before()
            c.send(b"%k please\r\n")
            got, how = c.read_to_close()
            self.assertTimeAnswer(got, DAYTIME_FORMAT, t0, time.time(), b"\r\n")

    def test_udp_any_datagram(self):
        for payload in (b"", b"\n", b"hello", b"%Y\r\n", b"\x00" * 100):
            with self.subTest(payload=payload[:10]):
                data, t0, t1 = self.dgram(self.n.addr("daytime", "udp"), payload)
                self.assertTimeAnswer(data, DAYTIME_FORMAT, t0, t1, b"\r\n")

    def test_format_key(self):
        with self.netd(args=["--daytime.format=%d.%m.%Y %T %z"]) as n:
            with connect(n.addr("daytime", "tcp")) as c:
                t0 = before()
                got, _ = c.read_to_close()
                self.assertTimeAnswer(got, "%d.%m.%Y %T %z", t0, time.time(), b"\r\n")
            data, t0, t1 = self.dgram(n.addr("daytime", "udp"), b"")
            self.assertTimeAnswer(data, "%d.%m.%Y %T %z", t0, t1, b"\r\n")


class Time(TimeTestCase):

    TZ = KOLKATA     # the value is UTC-based whatever the local zone

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.n = shared_netd(cls, CONFIG, env={"TZ": cls.TZ})

    def assertRfc868(self, data, t0, t1):
        self.assertEqual(len(data), 4, "expected 4 bytes, got %r" % (data,))
        value = struct.unpack("!I", data)[0]
        now = (t0 + t1) / 2 + RFC868_EPOCH_OFFSET
        self.assertLessEqual(abs(value - now), 2,
                             "time value %d is %.1f s away from this clock" % (value, value - now))

    def test_tcp_four_bytes_then_close(self):
        for _ in range(3):
            with connect(self.n.addr("time", "tcp")) as c:
                t0 = before()
                got, how = c.read_to_close()
                t1 = time.time()
            self.assertEqual(how, "eof")
            self.assertRfc868(got, t0, t1)

    def test_tcp_client_input_ignored(self):
        with connect(self.n.addr("time", "tcp")) as c:
            t0 = before()
            c.send(b"hello\n")
            got, _ = c.read_to_close()
            self.assertRfc868(got, t0, time.time())

    def test_udp_any_datagram(self):
        for payload in (b"", b"\n", b"x" * 1000):
            with self.subTest(payload=payload[:10]):
                data, t0, t1 = self.dgram(self.n.addr("time", "udp"), payload)
                self.assertRfc868(data, t0, t1)

    def test_concurrent_tcp_clients(self):
        addr = self.n.addr("time", "tcp")
        conns = [connect(addr) for _ in range(30)]
        try:
            t0 = before()
            results = [c.read_to_close() for c in conns]
            t1 = time.time()
        finally:
            for c in conns:
                c.sock.close()
        for got, how in results:
            self.assertRfc868(got, t0, t1)


# ---------------------------------------------------------------------------------------------
# configuration

class TimeConfig(TimeTestCase):

    def assertConfigError(self, r, section, key, name_file=True):
        """Exit 1 without serving, exactly one 'netd: ' line naming file, [section] and key."""
        self.assertFalse(r.timed_out, "netd did not exit by itself\n" + r.describe())
        self.assertFalse(r.served, "netd logged 'ready:' although the config is bad\n" + r.describe())
        self.assertEqual(r.returncode, 1, "exit status\n" + r.describe())
        lines = error_lines(r.stderr)
        self.assertEqual(len(lines), 1, "expected exactly one stderr line starting 'netd: '\n" + r.describe())
        if name_file:
            self.assertIn(r.config_path, lines[0], "error line must name the config file")
        self.assertIn("[%s]" % section, lines[0], "error line must name the section")
        self.assertRegex(lines[0], r"(?<![\w-])%s(?![\w-])" % re.escape(key),
                         "error line must name the key %r" % key)

    def test_bad_timezone(self):
        for section in ("timefmt", "daytime"):
            for value in ("mars", "UTC+1", "Europe/Berlin"):
                with self.subTest(section=section, value=value):
                    config = CONFIG.replace("[%s]\n" % section, "[%s]\ntimezone = %s\n" % (section, value))
                    self.assertConfigError(run_netd(config), section, "timezone")

    def test_bad_timezone_on_command_line(self):
        r = run_netd(CONFIG, ["--timefmt.timezone=mars"])
        self.assertConfigError(r, "timefmt", "timezone", name_file=False)

    def test_bad_timezone_in_custom_section(self):
        config = "[clock]\nhandler = timefmt\ntcp = 127.0.0.1:0\ntimezone = mars\n"
        self.assertConfigError(run_netd(config), "clock", "timezone")

    def test_unknown_keys(self):
        cases = [("daytime", "banner", "hi"), ("daytime", "default_format", "%Y"),
                 ("time", "format", "%Y"), ("time", "timezone", "utc"), ("time", "banner", "hi"),
                 ("timefmt", "format", "%Y"), ("timefmt", "colour", "blue"),
                 ("echo", "timezone", "utc")]
        for section, key, value in cases:
            with self.subTest(section=section, key=key):
                config = CONFIG + "\n[echo]\ntcp = 127.0.0.1:0\n"
                config = config.replace("[%s]\n" % section, "[%s]\n%s = %s\n" % (section, key, value))
                self.assertConfigError(run_netd(config), section, key)

    def test_unknown_key_on_command_line(self):
        r = run_netd(CONFIG, ["--daytime.banner=hi"])
        self.assertConfigError(r, "daytime", "banner", name_file=False)

    def test_invalid_format_keys(self):
        """A format netd would refuse from a client is no valid configured format either."""
        cases = [("timefmt", "default_format", "%k"), ("timefmt", "default_format", "%Y %"),
                 ("daytime", "format", "%s"), ("daytime", "format", "x" * (MAX_FORMAT + 1))]
        for section, key, value in cases:
            with self.subTest(section=section, key=key, value=value[:20]):
                config = CONFIG.replace("[%s]\n" % section, "[%s]\n%s = %s\n" % (section, key, value))
                self.assertConfigError(run_netd(config), section, key)

    def test_check_config_shows_handler_keys_with_defaults(self):
        r = run_netd(CONFIG, ["--check-config"])
        self.assertFalse(r.served or r.timed_out, r.describe())
        self.assertEqual(r.returncode, 0, r.describe())
        cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
        try:
            cp.read_string(r.stdout)
        except configparser.Error as e:
            self.fail("--check-config output is not valid INI: %s\n%s" % (e, r.describe()))
        want = {("timefmt", "default_format"): DEFAULT_FORMAT, ("timefmt", "timezone"): "local",
                ("timefmt", "banner"): "", ("timefmt", "max_line"): "8192",
                ("daytime", "format"): DAYTIME_FORMAT, ("daytime", "timezone"): "local"}
        problems = []
        for (section, key), value in want.items():
            if not cp.has_option(section, key):
                problems.append("[%s] %s missing" % (section, key))
            elif cp.get(section, key).strip() != value:
                problems.append("[%s] %s = %r, expected %r" % (section, key, cp.get(section, key), value))
        for section in ("timefmt", "daytime", "time"):
            if cp.has_section(section) and cp.get(section, "handler", fallback=None) != section:
                problems.append("[%s] handler = %r" % (section, cp.get(section, "handler", fallback=None)))
        self.assertEqual(problems, [], "\n" + r.stdout)
        # the effective config is itself a valid config that means the same
        r2 = run_netd(r.stdout, ["--check-config"])
        self.assertEqual(r2.returncode, 0, "netd rejects its own effective config\n" + r2.describe())
        strip = lambda text: [l for l in text.splitlines() if not l.lstrip().startswith(("#", ";"))]  # noqa: E731
        self.assertEqual(strip(r2.stdout), strip(r.stdout))

    def test_help_documents_handler_keys(self):
        r = run_netd(None, ["--help"])
        self.assertEqual(r.returncode, 0, r.describe())
        for key in ("timefmt", "daytime", "default_format", "timezone", "banner", "format"):
            self.assertRegex(r.stdout, r"(?<![\w-])%s(?![\w-])" % key, "--help does not mention %r" % key)


if __name__ == "__main__":
    unittest.main(verbosity=2)
