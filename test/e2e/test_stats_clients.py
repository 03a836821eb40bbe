"""End-to-end tests: the stats service read by real clients, curl over HTTP (TCP and Unix socket)
and nc in plain text, with counters that move between two reads.

Needs curl and netcat-openbsd; a missing client skips its tests.
"""

import os
import select
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from clients import CLIENT_TIMEOUT, CURL, NC, NEED_CURL, NEED_NC  # noqa: E402
from netd_harness import clean_env, shared_netd  # noqa: E402

CONFIG = """\
[server]
log_level = info

[echo]
tcp = 127.0.0.1:0

[stats]
tcp = 127.0.0.1:0
unix = {tmp}/stats.sock
request_wait = 200
"""


def run(testcase, argv, data=b""):
    try:
        r = subprocess.run(argv, input=data, capture_output=True, timeout=CLIENT_TIMEOUT,
                           env=clean_env())
    except subprocess.TimeoutExpired:
        testcase.fail("%r did not finish within %d s" % (argv, CLIENT_TIMEOUT))
    testcase.assertEqual(r.returncode, 0, "%r exited %d: %r" % (argv, r.returncode, r.stderr))
    return r.stdout.decode()


def value(text, sample):
    """The value of the sample line that starts with `sample ` in an exposition."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError("no %r in:\n%s" % (sample, text))


class StatsWithClients(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.netd = shared_netd(cls, CONFIG)

    def accepted(self, text):
        return value(text, 'netd_connections_accepted_total{service="echo",transport="tcp"}')

    @NEED_CURL
    @NEED_NC
    def test_curl_scrapes_over_http_and_counters_move(self):
        host, port = self.netd.addr("stats", "tcp")
        url = "http://%s:%d/metrics" % (host, port)
        before = run(self, [CURL, "-sS", "--fail", url])
        self.assertIn("# TYPE netd_connections_accepted_total counter", before)
        echo_host, echo_port = self.netd.addr("echo", "tcp")
        for _ in range(3):
            self.assertEqual(run(self, [NC, "-N", echo_host, str(echo_port)], b"hi\n"), "hi\n")
        after = run(self, [CURL, "-sS", "--fail", url])
        self.assertEqual(self.accepted(after) - self.accepted(before), 3)
        headers = run(self, [CURL, "-sS", "--fail", "-I", url])
        self.assertIn("Content-Type: text/plain; version=0.0.4; charset=utf-8", headers)
        # curl --fail exits 22 on an HTTP error: a missing page is reported as one.
        r = subprocess.run([CURL, "-sS", "--fail", "http://%s:%d/nothing" % (host, port)],
                           capture_output=True, timeout=CLIENT_TIMEOUT, env=clean_env())
        self.assertEqual(r.returncode, 22, r.stderr)

    @NEED_CURL
    def test_curl_over_the_unix_socket(self):
        path = self.netd.addr("stats", "unix")
        text = run(self, [CURL, "-sS", "--fail", "--unix-socket", path, "http://netd/metrics"])
        self.assertEqual(value(text, 'netd_build_info{version="0.1.0"}'), 1)

    @NEED_NC
    def test_nc_reads_the_plain_text(self):
        host, port = self.netd.addr("stats", "tcp")
        # nc -N with no input ends its side at once: the text comes without waiting.
        text = run(self, [NC, "-N", host, str(port)])
        self.assertIn("# TYPE netd_connections_active gauge", text)
        self.assertFalse(text.startswith("HTTP/"))
        # An nc whose input stays open (a terminal) gets the text after request_wait (and exits
        # when its input ends: OpenBSD nc's way).
        proc = subprocess.Popen([NC, host, str(port)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=clean_env())
        out = b""
        try:
            deadline = time.monotonic() + CLIENT_TIMEOUT
            while b"\nprocess_max_fds " not in out and time.monotonic() < deadline:
                if select.select([proc.stdout], [], [], 0.1)[0]:
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    out += chunk
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=CLIENT_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        self.assertIn(b"# TYPE netd_connections_active gauge", out)
        self.assertIn(b"\nprocess_max_fds ", out)

if __name__ == "__main__":
    unittest.main()
