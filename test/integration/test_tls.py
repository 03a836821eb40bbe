"""SPEC 9, TLS: `tls` listeners for stream handlers, with certificates the tests make (tls_certs).
Echo, timefmt, the logger and stats (HTTPS) over TLS; large transfers and back-pressure; client
certificates (tls_ca) required, expired and unknown ones refused; tls_min_version; the handshake
deadline (tls_timeout) and what a client that never finishes, speaks plain text or sends garbage
gets: closed, counted (reason tls), logged at most once a second, nobody else slowed; close_notify
on drain and idle timeout; config errors naming the key; reloads that read the files again (a bad
one keeps the old certificate, a good one is used by new connections). Runs in every mode.
"""

import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from exposition import labels, parse, wait_for  # noqa: E402
from netd_harness import (  # noqa: E402
    IO_TIMEOUT, Netd, count_lines, deterministic_bytes, free_port_holder, pid_alive, recv_exact,
    recv_until_eof, run_netd, shared_netd, tcp_connect, wait_until,
)
import proxy_header  # noqa: E402
from tls_certs import certificates, service_keys as tls_keys  # noqa: E402
from tls_client import (  # noqa: E402
    client_context, closed_within, handshake_refused, roundtrip, tls_connect,
)

CERTS = certificates()


CONFIG = """\
[server]
log_level = info
shutdown_timeout = 3

[echo]
tls = 127.0.0.1:0
tcp = 127.0.0.1:0
{echo_keys}
[timefmt]
tls = 127.0.0.1:0
{keys}
[log]
handler = logger
tls = 127.0.0.1:0
file = {{tmp}}/messages.log
flush_interval = 20
{keys}
[stats]
tls = 127.0.0.1:0
request_wait = 200
{keys}
[mutual]
handler = echo
tls = 127.0.0.1:0
{mutual_keys}
[modern]
handler = echo
tls = 127.0.0.1:0
{modern_keys}
[slow]
handler = echo
tls = 127.0.0.1:0
{slow_keys}
""".format(echo_keys=tls_keys(), keys=tls_keys(), mutual_keys=tls_keys(ca="ca"),
           modern_keys=tls_keys(tls_min_version="1.3"), slow_keys=tls_keys(tls_timeout="3"))


def scrape_plain(addr):
    """The stats service's text as nc gets it."""
    with tcp_connect(addr) as s:
        s.shutdown(socket.SHUT_WR)
        return parse(recv_until_eof(s).decode())


def https_get(addr, path="/metrics"):
    conn = http.client.HTTPSConnection("localhost", addr[1], timeout=IO_TIMEOUT,
                                       context=client_context())
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def peer_name(addr):
    """The CN of the certificate the TLS server at addr presents now."""
    with tls_connect(addr) as tls:
        subject = dict(item[0] for item in tls.getpeercert()["subject"])
        return subject["commonName"]


class TlsServices(unittest.TestCase):
    """One netd serving every kind of TLS service; each test checks one behaviour."""

    @classmethod
    def setUpClass(cls):
        cls.netd = shared_netd(cls, CONFIG)

    def scrape(self):
        status, body = https_get(self.netd.addr("stats", "tls"))
        self.assertEqual(status, 200)
        return parse(body)

    def tls_rejections(self, service, samples=None):
        return (samples or self.scrape()).get(
            ("netd_rejected_total", labels(service, "tls", reason="tls")), 0)

    def rejected_since(self, service, before, expected):
        """Failed handshakes of service counted since before (at least expected of them)."""
        samples = wait_for(self.scrape,
                           lambda s: self.tls_rejections(service, s) >= before + expected)
        return self.tls_rejections(service, samples) - before

    def test_echo_over_tls(self):
        with tls_connect(self.netd.addr("echo", "tls")) as tls:
            self.assertEqual(tls.version()[:5], "TLSv1")
            for line in (b"hello over TLS\n", b"\x00\xffbinary\r\n", b"x" * 20000):
                tls.sendall(line)
                self.assertEqual(recv_exact(tls, len(line)), line)

    def test_plain_tcp_beside_tls_is_still_plain(self):
        with tcp_connect(self.netd.addr("echo", "tcp")) as s:
            s.sendall(b"plain\n")
            self.assertEqual(s.recv(100), b"plain\n")

    def test_large_transfer_both_ways(self):
        payload = deterministic_bytes(8 << 20, seed=18)
        with tls_connect(self.netd.addr("echo", "tls")) as tls:
            got = roundtrip(tls, payload, timeout=60)
        self.assertEqual(len(got), len(payload))
        self.assertTrue(got == payload, "8 MiB echoed over TLS differ")

    def test_back_pressure_bounds_buffering(self):
        """A TLS client that writes without reading is slowed down (the server stops reading
        while its reply waits), and then gets every byte back."""
        chunk = deterministic_bytes(256 * 1024, seed=5)
        limit = 256 << 20
        tls = tls_connect(self.netd.addr("echo", "tls"))
        try:
            tls.setblocking(False)
            sent = 0
            last_progress = time.monotonic()
            deadline = time.monotonic() + 30
            while sent < limit and time.monotonic() < deadline:
                try:
                    sent += tls.send(chunk[sent % len(chunk):][:65536])
                    last_progress = time.monotonic()
                    continue
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
                if time.monotonic() - last_progress > 0.5:
                    break  # no progress for half a second: back-pressure
                time.sleep(0.01)
            self.assertLess(sent, limit, "netd took %d bytes from a client that reads nothing: "
                                         "no back-pressure over TLS" % sent)
            self.assertTrue(pid_alive(self.netd.pid))
            tls.settimeout(20)
            got = recv_exact(tls, sent)
        finally:
            tls.close()
        expected = (chunk * (sent // len(chunk) + 1))[:sent]
        self.assertTrue(got == expected, "echo after back-pressure differs")

    def test_timefmt_over_tls(self):
        with tls_connect(self.netd.addr("timefmt", "tls")) as tls:
            tls.sendall(b"%Y\n")
            year = recv_exact(tls, 5)
        self.assertEqual(year, time.strftime("%Y\n").encode())

    def test_logger_over_tls_keeps_every_record(self):
        """1000 lines, the last without its LF, and a client that closes without close_notify
        (as Python's does): every record is written."""
        path = self.netd.path("messages.log")
        before = count_lines(path)
        lines = [b"<13>tls record %04d from the test" % i for i in range(1000)]
        with tls_connect(self.netd.addr("log", "tls")) as tls:
            tls.sendall(b"\n".join(lines))
        self.assertTrue(wait_until(lambda: count_lines(path) >= before + 1000, timeout=10),
                        "%d of 1000 records written" % (count_lines(path) - before))
        with open(path, "rb") as f:
            text = f.read()
        for line in (lines[0], lines[500], lines[-1]):
            self.assertIn(line[4:], text)

    def test_stats_over_https(self):
        with tls_connect(self.netd.addr("echo", "tls")) as tls:
            tls.sendall(b"counted\n")
            recv_exact(tls, 8)
        samples = wait_for(self.scrape, lambda s: s.get(
            ("netd_connections_accepted_total", labels("echo", "tls")), 0) >= 1)
        self.assertGreaterEqual(
            samples[("netd_connections_accepted_total", labels("echo", "tls"))], 1)
        self.assertGreaterEqual(samples[("netd_received_bytes_total", labels("echo", "tls"))], 8)

    def test_client_certificates_required_when_tls_ca_is_set(self):
        addr = self.netd.addr("mutual", "tls")
        before = self.tls_rejections("mutual")
        self.assertTrue(handshake_refused(addr, client_context()), "no client certificate")
        self.assertTrue(handshake_refused(addr, client_context(cert="expired")), "expired one")
        self.assertTrue(handshake_refused(addr, client_context(cert="stranger")),
                        "one signed by another CA")
        with tls_connect(addr, client_context(cert="client")) as tls:
            tls.sendall(b"mutual\n")
            self.assertEqual(recv_exact(tls, 7), b"mutual\n")
        self.assertEqual(self.rejected_since("mutual", before, 3), 3)
        self.assertIsNotNone(self.netd.wait_for_line(
            r"\[mutual\] rejected connection from 127\.0\.0\.1:\d+ \(tls: .*"
            r"(peer did not return a certificate|certificate has expired|unable to get local "
            r"issuer certificate|certificate verify failed)"))

    def test_min_version_1_3(self):
        addr = self.netd.addr("modern", "tls")
        self.assertTrue(handshake_refused(
            addr, client_context(max_version=ssl.TLSVersion.TLSv1_2)), "a TLS 1.2 client")
        with tls_connect(addr) as tls:
            self.assertEqual(tls.version(), "TLSv1.3")
        with tls_connect(self.netd.addr("echo", "tls"),
                         client_context(max_version=ssl.TLSVersion.TLSv1_2)) as tls:
            self.assertEqual(tls.version(), "TLSv1.2", "1.2 is the default minimum")
            tls.sendall(b"v1.2\n")
            self.assertEqual(recv_exact(tls, 5), b"v1.2\n")

    def test_plain_text_and_garbage_on_the_tls_port(self):
        """Plain text, an HTTP request, random bytes, a record header that claims too much, a
        ClientHello cut short, a fatal alert, and then a reset: each is closed (without an answer
        the client could take for one), counted, and the service goes on."""
        addr = self.netd.addr("echo", "tls")
        before = self.tls_rejections("echo")
        hostile = [
            b"hello in plain text\n",
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
            deterministic_bytes(4096, seed=7),
            b"\x16\x03\x01\xff\xff" + b"\x01" * 100,
            b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",
            b"\x15\x03\x03\x00\x02\x02\x28",  # a fatal alert as the first record
        ]
        for payload in hostile:
            with tcp_connect(addr) as s:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                self.assertTrue(closed_within(s, 5), "netd did not close after %r" % payload[:20])
        self.assertGreaterEqual(self.rejected_since("echo", before, 6), 6)
        # A reset in the middle of a ClientHello (counted only if netd accepted the connection
        # before the reset came, which fork mode's parent, busy forking, often does not).
        with tcp_connect(addr) as s:
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        with tls_connect(addr) as tls:
            tls.sendall(b"still here\n")
            self.assertEqual(recv_exact(tls, 11), b"still here\n")
        self.assertIsNotNone(self.netd.wait_for_line(
            r"warning \[echo\] rejected connection from 127\.0\.0\.1:\d+ \(tls: "))

    def test_unfinished_handshakes_time_out_and_slow_nobody(self):
        """Clients that connect and say nothing, or stop in the middle of their ClientHello,
        are closed at tls_timeout (3 s here) and counted; meanwhile another client's handshake
        and echo go through at once."""
        addr = self.netd.addr("slow", "tls")
        before = self.tls_rejections("slow")
        stalled = []
        try:
            for i in range(12):
                s = tcp_connect(addr)
                stalled.append(s)
                if i % 2:
                    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            started = time.monotonic()
            for _ in range(3):
                with tls_connect(addr) as tls:
                    tls.sendall(b"not slowed\n")
                    self.assertEqual(recv_exact(tls, 11), b"not slowed\n")
            served_in = time.monotonic() - started
            still_open = [not closed_within(s, 0) for s in stalled]
            self.assertLess(served_in, 3.0, "a client waited for stalled handshakes")
            self.assertTrue(all(still_open) or time.monotonic() - started > 2.5,
                            "a stalled handshake was closed before tls_timeout")
            for s in stalled:
                self.assertTrue(closed_within(s, 6), "a stalled handshake outlived tls_timeout")
        finally:
            for s in stalled:
                s.close()
        self.assertEqual(self.rejected_since("slow", before, 12), 12)
        self.assertIsNotNone(self.netd.wait_for_line(
            r"\[slow\] rejected connection from .* \(tls: not complete within tls_timeout "
            r"\(3 s\)\)"))


class TlsFailuresLog(unittest.TestCase):

    def test_failures_are_logged_at_most_once_a_second(self):
        """60 failed handshakes in a burst: every one counted, but one log line a second (in
        fork mode too, where each fails in a child of its own)."""
        config = "[server]\nlog_level = info\n[echo]\ntls = 127.0.0.1:0\n" + tls_keys() + \
                 "[stats]\ntcp = 127.0.0.1:0\n"
        with Netd(config) as n:
            addr = n.addr("echo", "tls")
            started = time.monotonic()
            for _ in range(60):
                with tcp_connect(addr) as s:
                    s.sendall(b"not TLS\n")
                    s.shutdown(socket.SHUT_WR)
                    closed_within(s, 5)
            elapsed = time.monotonic() - started
            pattern = re.compile(r"rejected connection from .* \(tls: .*\); (\d+) rejected by tls "
                                 r"since the last report, (\d+) in all")

            def counted():
                return scrape_plain(n.addr("stats", "tcp")).get(
                    ("netd_rejected_total", labels("echo", "tls", reason="tls")), 0)

            self.assertTrue(wait_until(lambda: counted() == 60, timeout=5), "not 60 counted")
            lines = [l for l in n.stderr_lines if pattern.search(l)]
            self.assertGreaterEqual(len(lines), 1)
            self.assertLessEqual(len(lines), int(elapsed) + 2,
                                 "%d lines in %.1f s:\n%s" % (len(lines), elapsed,
                                                              "\n".join(lines)))
            reported = [int(pattern.search(l).group(1)) for l in lines]
            self.assertEqual(reported[0], 1)
            self.assertLessEqual(sum(reported), 60)


class TlsEnding(unittest.TestCase):
    """How a TLS connection ends: close_notify on drain and idle timeout."""

    def config(self, extra=""):
        return ("[server]\nlog_level = info\nshutdown_timeout = 10\n[echo]\ntls = 127.0.0.1:0\n"
                + tls_keys(tls_timeout="10") + extra)

    def test_close_notify_on_shutdown(self):
        with Netd(self.config()) as n:
            tls = tls_connect(n.addr("echo", "tls"), ragged_eof_is_error=True)
            try:
                tls.sendall(b"before the drain\n")
                self.assertEqual(recv_exact(tls, 17), b"before the drain\n")
                n.send_signal(signal.SIGTERM)
                # A TCP end without close_notify would raise SSLEOFError here.
                self.assertEqual(recv_until_eof(tls), b"")
            finally:
                tls.close()
            self.assertEqual(n.wait_exit(10), 0)

    def test_close_notify_at_idle_timeout(self):
        with Netd(self.config("idle_timeout = 1\n")) as n:
            with tls_connect(n.addr("echo", "tls"), ragged_eof_is_error=True) as tls:
                tls.settimeout(5)
                started = time.monotonic()
                self.assertEqual(recv_until_eof(tls), b"")
                self.assertLess(time.monotonic() - started, 4)

    def test_shutdown_is_not_held_by_a_client_in_its_handshake(self):
        """A client that connected but has not finished its handshake cannot have sent a
        request: at SIGTERM it is closed at once, not waited for until tls_timeout."""
        with Netd(self.config()) as n:
            with tcp_connect(n.addr("echo", "tls")) as s:
                s.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello
                time.sleep(0.2)
                started = time.monotonic()
                n.send_signal(signal.SIGTERM)
                self.assertEqual(n.wait_exit(10), 0)
                self.assertLess(time.monotonic() - started, 3)
                self.assertTrue(closed_within(s, 1))


class TlsConfigErrors(unittest.TestCase):

    def assertConfigError(self, service_text, pattern, args=()):
        r = run_netd("[echo]\n" + service_text, args)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertFalse(r.served, r.describe())
        self.assertRegex(r.stderr, pattern)

    def test_missing_and_bad_files_name_their_key(self):
        d = CERTS.dir
        for cert, key, pattern in (
                ("none.pem", "server.key",
                 r"netd: .*netd\.ini: \[echo\] tls_cert: cannot read '.*none\.pem': No such file"),
                ("server.key", "server.key",
                 r"\[echo\] tls_cert: '.*server\.key' holds no PEM certificate"),
                ("server.pem", "server.pem",
                 r"\[echo\] tls_key: '.*server\.pem' holds no unencrypted PEM private key"),
                ("server.pem", "server2.key",
                 r"\[echo\] tls_key: '.*server2\.key' is not the private key of the "
                 r"certificate"),
                ("server.pem", "encrypted.key",
                 r"\[echo\] tls_key: '.*encrypted\.key' holds no unencrypted PEM private key")):
            self.assertConfigError("tls = 127.0.0.1:0\ntls_cert = %s/%s\ntls_key = %s/%s\n"
                                   % (d, cert, d, key), pattern)
        self.assertConfigError(
            "tls = 127.0.0.1:0\n" + tls_keys() + "tls_ca = %s/server.key\n" % d,
            r"\[echo\] tls_ca: '.*server\.key' holds no PEM certificate")
        self.assertConfigError("tls = 127.0.0.1:0\n" + tls_keys() + "tls_ca = %s\n" % d,
                               r"\[echo\] tls_ca: cannot read '.*': Is a directory")

    def test_a_broken_certificate_after_good_ones_is_named(self):
        # The chain of tls_cert and the CAs of tls_ca are read alike (config/tls_files): the
        # message says how many certificates came before the broken one.
        def setup(tmp):
            broken = CERTS.text("ca.pem").replace("M", "!", 1)
            for name, first in (("chain.pem", "server.pem"), ("cas.pem", "ca.pem")):
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(CERTS.text(first) + broken)

        for keys, pattern in (
                ("tls_cert = {tmp}/chain.pem\ntls_key = %s\n" % CERTS.path("server.key"),
                 r"\[echo\] tls_cert: '.*chain\.pem' holds a broken certificate after 1: "
                 r"bad base64 decode"),
                (tls_keys() + "tls_ca = {tmp}/cas.pem\n",
                 r"\[echo\] tls_ca: '.*cas\.pem' holds a broken certificate after 1: "
                 r"bad base64 decode")):
            with self.subTest(pattern=pattern):
                r = run_netd("[echo]\ntls = 127.0.0.1:0\n" + keys, ["--check-config"],
                             setup=setup)
                self.assertEqual(r.returncode, 1, r.describe())
                self.assertRegex(r.stderr, pattern)

    def test_check_config_reads_the_files_too(self):
        r = run_netd("[echo]\ntls = 127.0.0.1:0\ntls_cert = /nonexistent.pem\n"
                     "tls_key = /nonexistent.key\n", ["--check-config"])
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertRegex(r.stderr, r"\[echo\] tls_cert: cannot read '/nonexistent\.pem'")

    def test_keys_that_go_together(self):
        self.assertConfigError("tls = 127.0.0.1:0\n",
                               r"\[echo\] tls_cert: is required for tls listeners")
        self.assertConfigError("tls = 127.0.0.1:0\ntls_cert = %s\n" % CERTS.path("server.pem"),
                               r"\[echo\] tls_key: is required for tls listeners")
        self.assertConfigError("tcp = 127.0.0.1:0\n" + tls_keys(),
                               r"\[echo\] tls_cert: is for tls listeners, and this service has none")
        self.assertConfigError("tcp = 127.0.0.1:0\ntls_timeout = 5\n",
                               r"\[echo\] tls_timeout: is for tls listeners")

    def test_bad_values(self):
        self.assertConfigError("tls = 127.0.0.1:0\n" + tls_keys(tls_min_version="1.1"),
                               r"\[echo\] tls_min_version: '1\.1' is not a TLS version")
        self.assertConfigError("tls = 127.0.0.1:0\n" + tls_keys(tls_timeout="0"),
                               r"\[echo\] tls_timeout: ")
        self.assertConfigError("tls = 127.0.0.1\n" + tls_keys(), r"\[echo\] tls: ")

    def test_exec_cannot_serve_tls(self):
        self.assertConfigError("handler = exec\nprogram = /bin/cat\ntls = 127.0.0.1:0\n" +
                               tls_keys(), r"\[echo\] tls: exec cannot serve TLS")

    def test_a_port_in_use(self):
        holder = free_port_holder()
        try:
            port = holder.getsockname()[1]
            self.assertConfigError("tls = 127.0.0.1:%d\n" % port + tls_keys(),
                                   r"\[echo\] tls: cannot listen on 127\.0\.0\.1:%d" % port)
        finally:
            holder.close()


class TlsReload(unittest.TestCase):
    """SIGHUP reads the certificate files again."""

    def setUp(self):
        holder = free_port_holder()
        self.port = holder.getsockname()[1]
        holder.close()

    def config(self, directory):
        return ("[server]\nlog_level = info\n[echo]\ntls = 127.0.0.1:%d\n"
                "tls_cert = %s/cert.pem\ntls_key = %s/cert.key\n"
                % (self.port, directory, directory))

    def install(self, directory, name):
        shutil.copy(CERTS.path(name + ".pem"), os.path.join(directory, "cert.pem"))
        shutil.copy(CERTS.path(name + ".key"), os.path.join(directory, "cert.key"))

    def reload(self, n):
        before = len(n.stderr_lines)
        n.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: any("ready: " in l for l in n.stderr_lines[before:]),
                                   timeout=10), n.describe())
        return "\n".join(n.stderr_lines[before:])

    def test_a_bad_new_certificate_keeps_the_old_and_a_good_one_is_used(self):
        with Netd(lambda tmp: self.config(tmp), setup=lambda tmp: self.install(tmp, "server")) as n:
            addr = ("127.0.0.1", self.port)
            self.assertEqual(peer_name(addr), "localhost")
            old = tls_connect(addr)
            try:
                # A broken certificate file: the reload fails and says which key.
                with open(n.path("cert.pem"), "w") as f:
                    f.write("not a certificate\n")
                log = self.reload(n)
                self.assertRegex(log, r"reload: .*\[echo\] tls_cert: .* holds no PEM certificate"
                                      r".*the running configuration stays in effect")
                self.assertEqual(peer_name(addr), "localhost")
                # A key that does not match the new certificate: refused as well.
                shutil.copy(CERTS.path("server2.pem"), n.path("cert.pem"))
                log = self.reload(n)
                self.assertRegex(log, r"reload: .*\[echo\] tls_key: .* is not the private key")
                self.assertEqual(peer_name(addr), "localhost")
                # Both files renewed in place, as certbot does: new connections get them.
                self.install(n.tmpdir, "server2")
                log = self.reload(n)
                self.assertNotIn("reload: ", log)
                self.assertEqual(peer_name(addr), "netd test server 2")
                # The connection from before goes on under its own.
                old.sendall(b"old connection\n")
                self.assertEqual(recv_exact(old, 15), b"old connection\n")
            finally:
                old.close()

    def test_a_reload_can_add_tls_to_a_service(self):
        other = free_port_holder()
        tls_port = other.getsockname()[1]
        other.close()
        plain = "[server]\nlog_level = info\n[echo]\ntcp = 127.0.0.1:%d\n" % self.port
        with Netd(plain) as n:
            with open(n.config_path, "w") as f:
                f.write(plain + "tls = 127.0.0.1:%d\n" % tls_port + tls_keys())
            self.assertNotIn("reload: ", self.reload(n))
            with tls_connect(("127.0.0.1", tls_port)) as tls:
                tls.sendall(b"added\n")
                self.assertEqual(recv_exact(tls, 6), b"added\n")


PROXY_CONFIG = """\
[server]
log_level = info

[echo]
tls = 127.0.0.1:0
proxy_protocol = any
proxy_from = 127.0.0.1
deny = 203.0.113.66
log_connections = true
{keys}
[log]
handler = logger
tls = 127.0.0.1:0
proxy_protocol = v2
proxy_from = 127.0.0.1
file = {{tmp}}/messages.json
format = json
flush_interval = 20
{keys}
[stats]
tcp = 127.0.0.1:0
""".format(keys=tls_keys())


def tls_after(addr, header, context=None):
    """A TLS connection to addr that begins, before the handshake, with header (as a balancer
    sends it: HAProxy's send-proxy-v2 with ssl)."""
    sock = tcp_connect(addr)
    try:
        sock.sendall(header)
        return (context or client_context()).wrap_socket(sock, server_hostname="localhost")
    except BaseException:
        sock.close()
        raise


class TlsBehindProxy(unittest.TestCase):
    """proxy_protocol on a tls listener: the PROXY header comes first, in the clear, then the
    handshake; the client the header names is the peer of everything, and each failure is counted
    under its own reason."""

    @classmethod
    def setUpClass(cls):
        cls.netd = shared_netd(cls, PROXY_CONFIG)

    def scrape(self):
        return scrape_plain(self.netd.addr("stats", "tcp"))

    def test_a_v1_and_a_v2_header_then_tls(self):
        addr = self.netd.addr("echo", "tls")
        for header in (proxy_header.v2("198.51.100.7", 4242), proxy_header.v1("198.51.100.8", 4343),
                       proxy_header.v2_local()):
            with tls_after(addr, header) as tls:
                tls.sendall(b"behind a balancer\n")
                self.assertEqual(recv_exact(tls, 18), b"behind a balancer\n")
        self.assertIsNotNone(self.netd.wait_for_line(
            r"\[echo\] tls 198\.51\.100\.7:4242: closed by the client"))
        self.assertIsNotNone(self.netd.wait_for_line(
            r"\[echo\] tls 198\.51\.100\.8:4343: closed by the client"))

    def test_the_logger_records_the_client_of_the_header(self):
        with tls_after(self.netd.addr("log", "tls"), proxy_header.v2("198.51.100.9", 5151)) as tls:
            tls.sendall(b"<13>from behind a balancer over TLS\n")
        path = self.netd.path("messages.json")
        self.assertTrue(wait_until(lambda: count_lines(path) >= 1, timeout=5))
        with open(path) as f:
            self.assertIn('"peer":"198.51.100.9:5151"', f.read())

    def test_the_header_is_checked_before_the_handshake_and_the_handshake_after(self):
        addr = self.netd.addr("echo", "tls")

        def key(reason):
            return ("netd_rejected_total", labels("echo", "tls", reason=reason))

        before = self.scrape()
        # No header: a TLS ClientHello is no PROXY header (reason proxy, transport tls).
        self.assertTrue(handshake_refused(addr, client_context()))
        # The ACL sees the header's client, before any handshake.
        self.assertTrue(handshake_refused_after(addr, proxy_header.v2("203.0.113.66", 1)))
        # A good header, then no TLS: reason tls, logged with the header's client.
        with tcp_connect(addr) as s:
            s.sendall(proxy_header.v2("198.51.100.10", 6000) + b"plain text\n")
            s.shutdown(socket.SHUT_WR)
            self.assertTrue(closed_within(s, 5))
        after = wait_for(self.scrape, lambda s: s.get(key("tls"), 0) > before.get(key("tls"), 0))
        for reason in ("proxy", "acl", "tls"):
            self.assertEqual(after.get(key(reason), 0) - before.get(key(reason), 0), 1, reason)
        self.assertIsNotNone(self.netd.wait_for_line(
            r"rejected connection from 198\.51\.100\.10:6000 \(tls: "))


def handshake_refused_after(addr, header):
    try:
        with tls_after(addr, header) as tls:
            tls.sendall(b"x\n")
            return tls.recv(10) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


class TlsLimits(unittest.TestCase):

    def test_a_tls_client_over_the_limit_is_closed_without_plain_text(self):
        config = ("[server]\nlog_level = info\n[echo]\ntls = 127.0.0.1:0\nmax_connections = 1\n"
                  + tls_keys())
        with Netd(config) as n:
            addr = n.addr("echo", "tls")
            with tls_connect(addr) as first:
                first.sendall(b"one\n")
                self.assertEqual(recv_exact(first, 4), b"one\n")
                with tcp_connect(addr) as second:
                    second.settimeout(5)
                    try:
                        self.assertEqual(second.recv(100), b"", "plain text on a TLS port")
                    except ConnectionResetError:
                        pass


if __name__ == "__main__":
    unittest.main()
