"""End-to-end tests: the echo service driven by real clients (nc, socat).

Run: NETD_BIN=build/netd python3 test/e2e/test_clients.py -v   (or through ctest)

Needs netcat-openbsd (`nc`, for -N and -U) and socat; a missing client skips its tests.
"""

import os
import pwd
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from clients import CLIENT_TIMEOUT, NC, NEED_NC, NEED_SOCAT, SOCAT  # noqa: E402
from netd_harness import Netd, clean_env, deterministic_bytes, ipv6_available, shared_netd  # noqa: E402

CONFIG = """\
[server]
log_level = debug

[echo]
tcp = 127.0.0.1:0{v6}
udp = 127.0.0.1:0
unix = {{tmp}}/echo.sock
unixgram = {{tmp}}/echo.dgram
""".format(v6=", [::1]:0" if ipv6_available() else "")

TEXT = b"hello from a real client\r\nline two\nline three without end"


def run_client(testcase, argv, data, timeout=CLIENT_TIMEOUT, **kwargs):
    try:
        r = subprocess.run(argv, input=data, capture_output=True, timeout=timeout, env=clean_env(),
                           **kwargs)
    except subprocess.TimeoutExpired as e:   # subprocess.run has killed it
        testcase.fail("%r did not finish within %d s (stdout so far: %r)" % (argv, timeout, e.stdout))
    return r


class EchoWithClients(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.netd = shared_netd(cls, CONFIG)

    def assertEchoed(self, r, data, argv):
        self.assertEqual(r.returncode, 0, "%r exited %d, stderr %r" % (argv, r.returncode, r.stderr))
        self.assertEqual(r.stdout, data, "%r: echoed bytes differ" % (argv,))

    @NEED_NC
    def test_nc_tcp_ipv4(self):
        host, port = self.netd.addr("echo", "tcp")
        argv = [NC, "-N", host, str(port)]
        self.assertEchoed(run_client(self, argv, TEXT), TEXT, argv)

    @NEED_NC
    def test_nc_tcp_binary_256k(self):
        data = deterministic_bytes(256 * 1024, seed=42)
        host, port = self.netd.addr("echo", "tcp")
        argv = [NC, "-N", host, str(port)]
        self.assertEchoed(run_client(self, argv, data), data, argv)

    @NEED_NC
    @unittest.skipUnless(ipv6_available(), "no IPv6 loopback (::1) on this host")
    def test_nc_tcp_ipv6(self):
        v6 = [a for a in self.netd.addrs("echo", "tcp") if a[0] == "::1"]
        self.assertEqual(len(v6), 1, self.netd.listeners)
        argv = [NC, "-6", "-N", "::1", str(v6[0][1])]
        self.assertEchoed(run_client(self, argv, TEXT), TEXT, argv)

    @NEED_NC
    def test_nc_udp(self):
        host, port = self.netd.addr("echo", "udp")
        data = b"hello over udp from nc\n"
        # -w1: nc quits 1 s after stdin EOF and the last datagram
        argv = [NC, "-u", "-w1", host, str(port)]
        self.assertEchoed(run_client(self, argv, data), data, argv)

    @NEED_NC
    def test_nc_unix_stream(self):
        path = self.netd.addr("echo", "unix")
        argv = [NC, "-N", "-U", path]
        self.assertEchoed(run_client(self, argv, TEXT), TEXT, argv)

    @NEED_NC
    def test_nc_unixgram(self):
        # OpenBSD nc binds its own temporary socket path for the reply
        path = self.netd.addr("echo", "unixgram")
        data = b"hello over a unix datagram from nc\n"
        argv = [NC, "-u", "-U", "-w1", path]
        self.assertEchoed(run_client(self, argv, data), data, argv)

    @NEED_SOCAT
    def test_socat_unix_stream(self):
        path = self.netd.addr("echo", "unix")
        # -t 5: after stdin EOF socat waits up to 5 s for netd to finish and close
        argv = [SOCAT, "-t", "5", "-", "UNIX-CONNECT:" + path]
        self.assertEchoed(run_client(self, argv, TEXT), TEXT, argv)

    @NEED_SOCAT
    def test_socat_unix_stream_binary_1m(self):
        data = deterministic_bytes(1 << 20, seed=43)
        path = self.netd.addr("echo", "unix")
        argv = [SOCAT, "-t", "5", "-", "UNIX-CONNECT:" + path]
        self.assertEchoed(run_client(self, argv, data), data, argv)

    @NEED_SOCAT
    def test_socat_tcp(self):
        host, port = self.netd.addr("echo", "tcp")
        argv = [SOCAT, "-t", "5", "-", "TCP:%s:%d" % (host, port)]
        self.assertEchoed(run_client(self, argv, TEXT), TEXT, argv)

    @NEED_SOCAT
    def test_socat_unixgram(self):
        path = self.netd.addr("echo", "unixgram")
        client = self.netd.path("socat-client.dgram")
        data = b"hello over a unix datagram from socat\n"
        # -t 1: wait 1 s for the answer after stdin EOF
        argv = [SOCAT, "-t", "1", "-", "UNIX-SENDTO:%s,bind=%s" % (path, client)]
        self.assertEchoed(run_client(self, argv, data), data, argv)


class EchoForOtherUsers(unittest.TestCase):
    """unix_mode = 0666 opens the echo socket to every local user; its client is socat."""

    @NEED_SOCAT
    @unittest.skipUnless(os.geteuid() == 0, "needs root to run socat as nobody")
    def test_socat_as_nobody(self):
        nobody = pwd.getpwnam("nobody")
        config = "[server]\nlog_level = info\n[echo]\nunix = {tmp}/echo.sock\nunix_mode = 0666\n"
        with Netd(config, setup=lambda d: os.chmod(d, 0o755)) as n:
            argv = [SOCAT, "-t", "5", "-", "UNIX-CONNECT:" + n.addr("echo", "unix")]
            r = run_client(self, argv, TEXT, user=nobody.pw_uid, group=nobody.pw_gid,
                           extra_groups=[])
        self.assertEqual((r.returncode, r.stdout), (0, TEXT), r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
