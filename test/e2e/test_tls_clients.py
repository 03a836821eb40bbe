"""End-to-end, SPEC 9: netd's TLS listeners with the real clients and peers people use, on
loopback, with certificates the tests make (tls_certs): `openssl s_client` and GnuTLS's
`gnutls-cli` to echo and timefmt (and with and without a client certificate to a service with
tls_ca), `curl --cacert` scraping stats over https://, rsyslog forwarding to netd's logger
over TLS with its OpenSSL stream driver (RFC 5425's transport, octet-counted frames), every record
arriving intact, with and without a client certificate of its own; and HAProxy in front, sending a
PROXY v2 header and then TLS (send-proxy-v2 ssl verify required), netd's ACL and logger seeing
the client of the header.

Needs openssl, gnutls-cli (gnutls-bin), curl, rsyslogd with rsyslog-openssl, haproxy
(scripts/setup); a missing one skips its tests and says which.
"""

import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from clients import CLIENT_TIMEOUT, CURL, NEED_CURL  # noqa: E402
from log_records import unescape_netd  # noqa: E402
from netd_harness import (  # noqa: E402
    clean_env, count_lines, exchange_from, free_port, shared_netd, tcp_connect, wait_until,
)
from rsyslog_collector import OSSL_DRIVER, RSYSLOGD, RsyslogProcess  # noqa: E402
from tls_certs import certificates, service_keys  # noqa: E402

OPENSSL = shutil.which("openssl")
GNUTLS_CLI = shutil.which("gnutls-cli")
HAPROXY = shutil.which("haproxy") or next(
    (p for p in ("/usr/sbin/haproxy",) if os.access(p, os.X_OK)), None)

NEED_OPENSSL = unittest.skipUnless(OPENSSL, "openssl (package openssl) is not installed")
NEED_GNUTLS_CLI = unittest.skipUnless(GNUTLS_CLI, "gnutls-cli (package gnutls-bin) is not installed")
NEED_HAPROXY = unittest.skipUnless(HAPROXY, "haproxy (package haproxy) is not installed")
NEED_RSYSLOG_OSSL = unittest.skipUnless(
    RSYSLOGD and OSSL_DRIVER,
    "rsyslogd is not installed" if not RSYSLOGD else
    "rsyslog's OpenSSL stream driver (package rsyslog-openssl) is not installed")

CERTS = certificates()
WAIT = 15.0


CONFIG = """\
[server]
log_level = info

[echo]
tls = 127.0.0.1:0
{keys}
[timefmt]
tls = 127.0.0.1:0
{keys}
[stats]
tls = 127.0.0.1:0
request_wait = 200
{keys}
[mutual]
handler = echo
tls = 127.0.0.1:0
{mutual}
[syslog]
handler = logger
tls = 127.0.0.1:0
file = {{tmp}}/syslog.json
format = json
flush_interval = 20
{keys}
[syslog_mutual]
handler = logger
tls = 127.0.0.1:0
file = {{tmp}}/syslog-mutual.json
format = json
flush_interval = 20
{mutual}
""".format(keys=service_keys(), mutual=service_keys(ca="ca"))


def converse(testcase, argv, request, expect, timeout=CLIENT_TIMEOUT):
    """Runs a client, writes request to its input once it runs, and reads its output until
    expect is in it (or it exits, or timeout passes); then ends its input and waits for it.
    Returns (exit status, output). Its input stays open until the answer came: s_client and
    gnutls-cli close the connection at the end of their input, answered or not."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=clean_env())
    deadline = time.monotonic() + timeout
    output = b""

    def read_until(done):
        nonlocal output
        while not done() and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 0.1)[0]:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    return
                output += chunk

    try:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(request)
            proc.stdin.flush()
        read_until(lambda: expect in output)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        read_until(lambda: False)
        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        testcase.fail("%r did not finish within %d s; output so far: %r" % (argv, timeout, output))
    finally:
        proc.stdout.close()
    return proc.returncode, output


def s_client(port, *extra):
    return [OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile",
            CERTS.path("ca.pem"), "-verify_return_error", "-verify_hostname", "localhost",
            "-quiet", "-no_ign_eof", *extra]


def gnutls_cli(port, *extra):
    return [GNUTLS_CLI, "--x509cafile", CERTS.path("ca.pem"), "--verify-hostname", "localhost",
            "-p", str(port), *extra, "127.0.0.1"]


class TlsClients(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.netd = shared_netd(cls, CONFIG)

    def port(self, service):
        return self.netd.addr(service, "tls")[1]

    def echo_and_timefmt(self, client, name):
        """client(port): the argv of a client to that port; returns echo's whole output."""
        line = ("hello from %s\n" % name).encode()
        rc, echoed = converse(self, client(self.port("echo")), line, line)
        self.assertIn(line, echoed)
        self.assertEqual(rc, 0, echoed)
        year = time.strftime("%Y").encode()
        rc, out = converse(self, client(self.port("timefmt")), b"%Y\n", year + b"\n")
        self.assertIn(year + b"\n", out)
        return echoed

    @NEED_OPENSSL
    def test_openssl_s_client_echo_and_timefmt(self):
        self.echo_and_timefmt(s_client, "openssl s_client")

    @NEED_OPENSSL
    def test_openssl_s_client_tls_1_2_and_1_3(self):
        for version in ("-tls1_2", "-tls1_3"):
            line = ("over %s\n" % version).encode()
            rc, out = converse(self, s_client(self.port("echo"), version), line, line)
            self.assertIn(line, out, version)

    @NEED_GNUTLS_CLI
    def test_gnutls_cli_echo_and_timefmt(self):
        out = self.echo_and_timefmt(gnutls_cli, "gnutls-cli")
        self.assertIn(b"- Status: The certificate is trusted.", out)

    @NEED_OPENSSL
    def test_openssl_s_client_with_and_without_a_client_certificate(self):
        line = b"mutual\n"
        rc, out = converse(self, s_client(self.port("mutual"), "-cert", CERTS.path("client.pem"),
                                          "-key", CERTS.path("client.key")), line, line)
        self.assertIn(line, out)
        rc, out = converse(self, s_client(self.port("mutual")), line, line, timeout=5)
        self.assertNotIn(line, out)
        self.assertIn(b"certificate required", out)
        rc, out = converse(self, s_client(self.port("mutual"), "-cert", CERTS.path("expired.pem"),
                                          "-key", CERTS.path("expired.key")), line, line, timeout=5)
        self.assertNotIn(line, out)

    @NEED_GNUTLS_CLI
    def test_gnutls_cli_with_a_client_certificate(self):
        line = b"mutual gnutls\n"
        rc, out = converse(self, gnutls_cli(self.port("mutual"), "--x509certfile",
                                            CERTS.path("client.pem"), "--x509keyfile",
                                            CERTS.path("client.key")), line, line)
        self.assertIn(line, out)
        rc, out = converse(self, gnutls_cli(self.port("mutual")), line, line, timeout=5)
        self.assertNotIn(line, out)

    @NEED_CURL
    def test_curl_scrapes_stats_over_https(self):
        r = subprocess.run([CURL, "-sS", "--fail", "--max-time", "10", "--cacert",
                            CERTS.path("ca.pem"),
                            "https://localhost:%d/metrics" % self.port("stats")],
                           capture_output=True, timeout=CLIENT_TIMEOUT, env=clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b'netd_connections_accepted_total{service="stats",transport="tls"}',
                      r.stdout)
        self.assertIn(b"# TYPE netd_rejected_total counter", r.stdout)
        # Without the CA curl refuses the certificate (it is no self-signed stand-in).
        r = subprocess.run([CURL, "-sS", "--max-time", "10",
                            "https://localhost:%d/metrics" % self.port("stats")],
                           capture_output=True, timeout=CLIENT_TIMEOUT, env=clean_env())
        self.assertNotEqual(r.returncode, 0)


RSYSLOG_CONFIG = """\
global(workDirectory="{tmp}/work" net.enableDNS="off"
       DefaultNetstreamDriverCAFile="{ca}"{client_cert})
module(load="imtcp" StreamDriver.Name="ptcp" StreamDriver.Mode="0")
input(type="imtcp" address="127.0.0.1" port="{in_port}" ruleset="forward")
ruleset(name="forward") {{
    action(type="omfwd" target="127.0.0.1" port="{netd_port}" protocol="tcp"
           StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="x509/name"
           StreamDriverPermittedPeers="localhost" TCP_Framing="octet-counted"
           template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1"
           queue.type="LinkedList")
}}
"""


class RsyslogForwarder(RsyslogProcess):
    """rsyslogd in the foreground: a plain TCP input on a free loopback port, everything it
    takes forwarded over TLS to netd_port (with the test client certificate if client_cert)."""

    def __init__(self, netd_port, client_cert):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.in_port = s.getsockname()[1]
        cert = ('\n       DefaultNetstreamDriverCertFile="%s" DefaultNetstreamDriverKeyFile="%s"'
                % (CERTS.path("client.pem"), CERTS.path("client.key"))) if client_cert else ""
        super().__init__(
            lambda tmp: RSYSLOG_CONFIG.format(tmp=tmp, ca=CERTS.path("ca.pem"), client_cert=cert,
                                              in_port=self.in_port, netd_port=netd_port))


class RsyslogOverTls(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.netd = shared_netd(cls, CONFIG)

    def records(self, path):
        with open(path, "rb") as f:
            return [json.loads(line) for line in f.read().splitlines()]

    def forward(self, service, client_cert):
        """Messages into rsyslog's plain input, out of netd's TLS logger: every one exactly once
        and intact (message text, app, host, facility and severity)."""
        path = self.netd.path(service.replace("_", "-") + ".json")
        forwarder = RsyslogForwarder(self.netd.addr(service, "tls")[1], client_cert)
        try:
            forwarder.start()
            messages = [("tls forward %04d: %s" % (i, text)).encode() for i, text in enumerate(
                ["plain words", "UTF-8 \u00e9t\u00e9 \u2713", "quotes \" and \\ backslash",
                 "a long one " + "x" * 3000, "[brackets] {braces} <angles>"] * 100)]
            deadline = time.monotonic() + WAIT
            while True:  # until rsyslog listens
                try:
                    sender = tcp_connect(("127.0.0.1", forwarder.in_port))
                    break
                except ConnectionRefusedError:
                    if forwarder.proc.poll() is not None or time.monotonic() > deadline:
                        self.fail("rsyslogd did not listen: %s" % forwarder.describe())
                    time.sleep(0.05)
            with sender:
                for i, message in enumerate(messages):
                    sender.sendall(b"<%d>1 2026-12-01T10:00:00.000000Z sender.example app%d - - - "
                                   % (8 * 16 + i % 8, i % 3) + message + b"\n")
            arrived = wait_until(lambda: count_lines(path) >= len(messages), timeout=30)
            self.assertTrue(arrived, "%d of %d records arrived\n%s\n%s" % (
                count_lines(path), len(messages), forwarder.describe(), self.netd.stderr[-3000:]))
            records = self.records(path)
            by_text = {}
            for record in records:
                # RSYSLOG_SyslogProtocol23Format ends every message with a LF, which an
                # octet-counted frame holds and netd keeps (docs/operations.md).
                text = unescape_netd(record["message"])
                self.assertTrue(text.endswith(b"\n"), text[-80:])
                by_text.setdefault(text[:-1], []).append(record)
            for i, message in enumerate(messages):
                found = by_text.get(message, [])
                self.assertEqual(len(found), 1, "message %d arrived %d times: %r"
                                 % (i, len(found), message[:80]))
                record = found[0]
                self.assertEqual(record["host"], "sender.example")
                self.assertEqual(record["app"], "app%d" % (i % 3))
                self.assertEqual(record["facility"], "local0")
                self.assertEqual(record["severity"], ["emerg", "alert", "crit", "err", "warning",
                                                      "notice", "info", "debug"][i % 8])
            self.assertEqual(len(records), len(messages))
        finally:
            forwarder.cleanup()

    @NEED_RSYSLOG_OSSL
    def test_rsyslog_forwards_over_tls_and_every_record_arrives_intact(self):
        self.forward("syslog", client_cert=False)

    @NEED_RSYSLOG_OSSL
    def test_rsyslog_with_a_client_certificate(self):
        self.forward("syslog_mutual", client_cert=True)


HAPROXY_CONFIG = """\
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend echo
    bind 127.0.0.1:{echo_in}
    default_backend echo
backend echo
    server netd 127.0.0.1:{echo} send-proxy-v2 ssl verify required ca-file {ca} sni str(localhost)
frontend syslog
    bind 127.0.0.1:{syslog_in}
    default_backend syslog
backend syslog
    server netd 127.0.0.1:{syslog} send-proxy-v2 ssl verify required ca-file {ca} sni str(localhost)
"""

PROXIED_CONFIG = """\
[server]
log_level = info

[echo]
tls = 127.0.0.1:0
proxy_protocol = v2
proxy_from = 127.0.0.1
deny = 127.0.0.6
{keys}
[syslog]
handler = logger
tls = 127.0.0.1:0
proxy_protocol = v2
proxy_from = 127.0.0.1
file = {{tmp}}/proxied.json
format = json
flush_interval = 20
{keys}
""".format(keys=service_keys())


def through(port, data, source):
    """data to HAProxy's port from source: what comes back until the close."""
    return exchange_from(source, ("127.0.0.1", port), data)


class HaproxyProxyThenTls(unittest.TestCase):
    """HAProxy connects to netd's tls listeners with send-proxy-v2 and ssl: the PROXY header in
    the clear, then the handshake, HAProxy checking netd's certificate."""

    @NEED_HAPROXY
    def test_haproxy_send_proxy_v2_then_tls(self):
        netd = shared_netd(self.__class__, PROXIED_CONFIG)
        ports = {"echo_in": free_port(), "syslog_in": free_port(),
                 "echo": netd.addr("echo", "tls")[1], "syslog": netd.addr("syslog", "tls")[1],
                 "ca": CERTS.path("ca.pem")}
        directory = tempfile.mkdtemp(prefix="netd-haproxy-")
        config = os.path.join(directory, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(HAPROXY_CONFIG.format(**ports))
        haproxy = subprocess.Popen([HAPROXY, "-db", "-f", config], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        try:
            self.assertTrue(wait_until(
                lambda: through(ports["echo_in"], b"up\n", "127.0.0.5") == b"up\n", timeout=10),
                "no echo through HAProxy: %s" % netd.stderr[-2000:])
            self.assertEqual(through(ports["echo_in"], b"refused\n", "127.0.0.6"), b"")
            through(ports["syslog_in"], b"<13>Dec  1 10:00:00 host app: via haproxy and TLS\n",
                    "127.0.0.5")
            path = netd.path("proxied.json")
            self.assertTrue(wait_until(lambda: count_lines(path) >= 1, timeout=5))
            with open(path) as f:
                record = json.loads(f.readline())
            self.assertRegex(record["peer"], r"^127\.0\.0\.5:\d+$")
            self.assertEqual(record["message"], "via haproxy and TLS")
        finally:
            haproxy.terminate()
            try:
                haproxy.wait(5)
            except subprocess.TimeoutExpired:
                haproxy.kill()
                haproxy.wait()
            haproxy.stderr.close()
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
