"""Integration tests: netd-bench against a real netd, in every mode, and against the wrong service.

Run: NETD_BIN=build/netd NETD_BUILD_DIR=build python3 test/integration/test_bench.py -v
(or through ctest, once per concurrency mode).

The positive tests check that a clean run exits 0 with zero errors and a sane JSON summary; the
negative ones point a mode at a service that answers differently (or not at all) and check that
the verification notices: non-zero exit status and the errors counted. Runs are short (about half
a second); every netd-bench run is bounded by a timeout and killed when it passes it.
"""

import json
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import Netd, free_port_holder, shared_netd  # noqa: E402

BUILD_DIR = os.environ.get(
    "NETD_BUILD_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build"))
RUN_TIMEOUT = 30.0
SHORT = ("--duration", "0.5", "--warmup", "0.1")

CONFIG = """\
[server]
log_level = info

[echo]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0

[timefmt]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0

[daytime]
tcp = 127.0.0.1:0

[logger]
tcp = 127.0.0.1:0
file = {tmp}/bench.log
flush_interval = 50

[devlog]
handler = logger
unixgram = {tmp}/bench.dgram
file = {tmp}/bench-dgram.log
flush_interval = 50
"""

# Fields every request/response summary carries (bench/run-echo parses several of them).
SUMMARY_FIELDS = ("mode", "connections", "pipeline", "requests", "requests_total",
                  "requests_per_s", "mb_per_s", "latency_us", "errors", "mismatches",
                  "connection_errors", "timeouts", "lost", "client_cpu_pct")


def bench_bin():
    path = os.path.abspath(os.path.join(BUILD_DIR, "netd-bench"))
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError("netd-bench not found or not executable: %r (set NETD_BUILD_DIR)"
                             % path)
    return path


class BenchResult:
    def __init__(self, argv, proc):
        self.argv = argv
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.summary = None
        lines = [l for l in proc.stdout.splitlines() if l.strip()]
        if len(lines) == 1:
            try:
                self.summary = json.loads(lines[0])
            except ValueError:
                pass

    def describe(self):
        return "argv=%r rc=%r\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            self.argv, self.returncode, self.stdout, self.stderr[-3000:])


def run_bench(port, *args, env=None):
    return run_bench_at(["--host", "127.0.0.1", "--port", str(port)], *args, env=env)


def run_bench_at(target, *args, env=None):
    argv = [bench_bin()] + target + ["--json", "--quiet"] + list(args)
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, env=env)
    return BenchResult(argv, proc)


class BenchTestCase(unittest.TestCase):
    def assertClean(self, r, mode, count=None):
        """Exit 0, no error of any kind, and a summary whose figures hang together."""
        self.assertEqual(r.returncode, 0, r.describe())
        s = r.summary
        self.assertIsNotNone(s, "no single-line JSON summary\n" + r.describe())
        for field in SUMMARY_FIELDS:
            self.assertIn(field, s, r.describe())
        self.assertEqual(s["mode"], mode)
        self.assertEqual(s["errors"], 0, r.describe())
        self.assertEqual(s["errors"], s["mismatches"] + s["connection_errors"] + s["timeouts"] +
                         s["lost"], r.describe())
        self.assertGreater(s["requests"], 0, r.describe())
        self.assertGreaterEqual(s["requests_total"], s["requests"])
        self.assertGreater(s["requests_per_s"], 0)
        self.assertGreater(s["mb_per_s"], 0)
        lat = s["latency_us"]
        self.assertGreater(lat["p50"], 0, r.describe())
        self.assertTrue(lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"],
                        r.describe())
        if count is not None:
            self.assertEqual(s["requests"], count, r.describe())
            self.assertEqual(s["requests_total"], count, r.describe())
        return s

    def assertCaught(self, r, *counters):
        """Exit status 1 and at least one of the counters above zero, counted as errors."""
        self.assertEqual(r.returncode, 1, r.describe())
        s = r.summary
        self.assertIsNotNone(s, "no single-line JSON summary\n" + r.describe())
        self.assertGreater(sum(s[c] for c in counters), 0, r.describe())
        self.assertGreater(s["errors"], 0, r.describe())
        return s


class BenchAgainstNetd(BenchTestCase):
    @classmethod
    def setUpClass(cls):
        cls.netd = shared_netd(cls, CONFIG)

    def port(self, service, kind="tcp"):
        return self.netd.addr(service, kind)[1]

    # -- every mode, clean runs --------------------------------------------------------------

    def test_echo(self):
        s = self.assertClean(run_bench(self.port("echo"), "--connections", "4", *SHORT), "echo")
        self.assertEqual(s["size"], 64)

    def test_echo_pipeline(self):
        r = run_bench(self.port("echo"), "--connections", "2", "--pipeline", "8", "--size",
                      "1000", *SHORT)
        self.assertEqual(self.assertClean(r, "echo")["pipeline"], 8)

    def test_connect(self):
        self.assertClean(run_bench(self.port("echo"), "--mode", "connect", "--connections", "2",
                                   *SHORT), "connect")

    def test_udp_echo(self):
        r = run_bench(self.port("echo", "udp"), "--mode", "udp-echo", "--connections", "4",
                      "--pipeline", "4", *SHORT)
        self.assertClean(r, "udp-echo")

    def test_timefmt(self):
        self.assertClean(run_bench(self.port("timefmt"), "--mode", "timefmt", "--connections",
                                   "2", *SHORT), "timefmt")

    def test_timefmt_other_format_pipelined(self):
        r = run_bench(self.port("timefmt"), "--mode", "timefmt", "--format", "%A %j %H:%M:%S %Z",
                      "--pipeline", "4", "--connections", "2", *SHORT)
        self.assertEqual(self.assertClean(r, "timefmt")["format"], "%A %j %H:%M:%S %Z")

    def test_count_in_every_mode(self):
        for mode, service, kind in (("echo", "echo", "tcp"), ("connect", "echo", "tcp"),
                                    ("udp-echo", "echo", "udp"), ("timefmt", "timefmt", "tcp")):
            with self.subTest(mode=mode):
                r = run_bench(self.port(service, kind), "--mode", mode, "--count", "300",
                              "--connections", "3")
                self.assertClean(r, mode, count=300)

    def test_rate_is_open_loop(self):
        # 300 requests due at 1000/s: the last one is due 0.299 s after the start, so the run
        # cannot be shorter, whatever the server's speed.
        r = run_bench(self.port("echo"), "--rate", "1000", "--count", "300", "--connections",
                      "3", "--pipeline", "2")
        s = self.assertClean(r, "echo", count=300)
        self.assertEqual(s["rate"], 1000)
        self.assertGreaterEqual(s["duration_s"], 0.299, r.describe())

    def test_rate_udp(self):
        r = run_bench(self.port("echo", "udp"), "--mode", "udp-echo", "--rate", "2000",
                      "--count", "200", "--connections", "2")
        self.assertClean(r, "udp-echo", count=200)

    def test_logger_verify_file(self):
        r = run_bench(self.port("logger"), "--mode", "logger", "--count", "2000", "--connections",
                      "4", "--verify-file", self.netd.path("bench.log"), "--timeout", "10")
        self.assertEqual(r.returncode, 0, r.describe())
        s = r.summary
        self.assertIsNotNone(s, r.describe())
        self.assertEqual((s["mode"], s["errors"], s["sent"], s["records"], s["missing"],
                          s["duplicates"], s["malformed"]), ("logger", 0, 2000, 2000, 0, 0, 0),
                         r.describe())

    def test_logger_unixgram_verify_file(self):
        # A datagram per line, over 4 sockets, to the logger's /dev/log stand-in.
        path = self.netd.addr("devlog", "unixgram")
        r = run_bench_at(["--unixgram", path], "--mode", "logger", "--count", "2000",
                         "--connections", "4", "--verify-file", self.netd.path("bench-dgram.log"),
                         "--timeout", "10")
        self.assertEqual(r.returncode, 0, r.describe())
        s = r.summary
        self.assertIsNotNone(s, r.describe())
        self.assertEqual((s["mode"], s["unixgram"], s["errors"], s["sent"], s["records"],
                          s["missing"], s["duplicates"], s["malformed"]),
                         ("logger", path, 0, 2000, 2000, 0, 0, 0), r.describe())

    # -- verification: the wrong service, or none, must fail the run -------------------------

    def test_echo_against_daytime_fails(self):
        r = run_bench(self.port("daytime"), "--connections", "2", *SHORT)
        self.assertCaught(r, "mismatches", "connection_errors")

    def test_echo_against_timefmt_fails(self):
        # timefmt holds a payload without a line end and answers a line only after one, so
        # this is caught as a mismatch or, at the latest, by --timeout.
        r = run_bench(self.port("timefmt"), "--connections", "2", "--timeout", "0.3",
                      "--duration", "1", "--warmup", "0")
        self.assertCaught(r, "mismatches", "timeouts", "connection_errors")

    def test_timefmt_against_echo_fails(self):
        r = run_bench(self.port("echo"), "--mode", "timefmt", "--connections", "2", *SHORT)
        s = self.assertCaught(r, "mismatches")
        self.assertEqual(s["requests"], 0, r.describe())

    def test_udp_echo_against_timefmt_fails(self):
        r = run_bench(self.port("timefmt", "udp"), "--mode", "udp-echo", "--connections", "2",
                      "--timeout", "0.3", *SHORT)
        self.assertCaught(r, "mismatches")

    def test_echo_against_a_closing_server_fails(self):
        with free_port_holder("tcp") as listener:  # accepts, then closes at once
            done = threading.Event()

            def close_all():
                listener.settimeout(0.1)
                while not done.is_set():
                    try:
                        listener.accept()[0].close()
                    except OSError:
                        pass

            closer = threading.Thread(target=close_all, daemon=True)
            closer.start()
            try:
                r = run_bench(listener.getsockname()[1], "--connections", "2", *SHORT)
            finally:
                done.set()
                closer.join(5)
        s = self.assertCaught(r, "connection_errors")
        self.assertEqual(s["connection_errors"], 2, r.describe())

    def test_udp_echo_without_answers_counts_lost(self):
        with free_port_holder("udp") as silent:  # bound, never reads: every datagram is lost
            r = run_bench(silent.getsockname()[1], "--mode", "udp-echo", "--connections", "2",
                          "--pipeline", "2", "--timeout", "0.2", "--duration", "0.6", "--warmup",
                          "0")
        s = self.assertCaught(r, "lost")
        self.assertEqual(s["requests"], 0, r.describe())
        self.assertEqual(s["errors"], s["lost"], r.describe())


class BenchTimefmtZones(BenchTestCase):
    """--utc accepts UTC answers only; without it the client's local time is accepted too."""

    ZONE = "IST-5:30"  # a POSIX TZ string: no tzdata needed, and never equal to UTC

    def test_local_answers(self):
        config = "[server]\nlog_level = info\n[timefmt]\ntcp = 127.0.0.1:0\ntimezone = local\n"
        env = dict(os.environ, TZ=self.ZONE)
        with Netd(config, env={"TZ": self.ZONE}) as n:
            port = n.addr("timefmt", "tcp")[1]
            self.assertClean(run_bench(port, "--mode", "timefmt", "--count", "100", env=env),
                             "timefmt", count=100)
            r = run_bench(port, "--mode", "timefmt", "--count", "100", "--utc", env=env)
            self.assertCaught(r, "mismatches")

    def test_utc_answers(self):
        config = "[server]\nlog_level = info\n[timefmt]\ntcp = 127.0.0.1:0\ntimezone = utc\n"
        env = dict(os.environ, TZ=self.ZONE)
        with Netd(config, env={"TZ": self.ZONE}) as n:
            r = run_bench(n.addr("timefmt", "tcp")[1], "--mode", "timefmt", "--count", "100",
                          "--utc", env=env)
            self.assertClean(r, "timefmt", count=100)


class BenchUsage(unittest.TestCase):
    def test_option_of_another_mode_is_a_usage_error(self):
        for args in (("--mode", "logger", "--count", "5", "--pipeline", "2"),
                     ("--mode", "timefmt", "--size", "10"),
                     ("--count", "5", "--duration", "1")):
            with self.subTest(args=args):
                r = run_bench(9, *args)
                self.assertEqual(r.returncode, 2, r.describe())

    def test_unixgram_is_for_the_logger_alone(self):
        for target, args in ((["--unixgram", "/tmp/x"], ("--count", "5")),
                             (["--unixgram", "/tmp/x", "--port", "9"],
                              ("--mode", "logger", "--count", "5"))):
            with self.subTest(target=target, args=args):
                r = run_bench_at(target, *args)
                self.assertEqual(r.returncode, 2, r.describe())


if __name__ == "__main__":
    unittest.main()
