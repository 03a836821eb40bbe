"""Integration tests: forwarding logger records (SPEC 10) to a collector over tcp://, in every
mode (NETD_MODE). The collector is test/lib/octet_collector.py, a Python listener reading
octet-counted frames; the real rsyslog is the peer in test/e2e/test_forward_rsyslog.py.

Run: NETD_BIN=build/netd python3 test/integration/test_forward.py -v   (or through ctest)
"""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from exposition import parse, wait_for  # noqa: E402
from netd_harness import (  # noqa: E402
    Netd, NetdProcess, count_lines, ipv6_available, netd_bin, recv_until_eof, run_netd,
    tcp_connect, udp_socket, wait_until,
)
from octet_collector import OctetCollector  # noqa: E402
from relp_collector import RelpCollector  # noqa: E402
from tls_certs import certificates, service_keys  # noqa: E402
from tls_client import tls_connect  # noqa: E402

CONFIG = """\
[logger]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
file = {{tmp}}/netd.log
flush_interval = 50
forward = {scheme}://{collector}
forward_spool = {spool}
{extra}

[stats]
tcp = 127.0.0.1:0
"""

FRAME_RE = re.compile(rb'^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (.*?\]|-)(?: (.*))?$', re.S)


def config(collector, spool="{tmp}/spool", extra="", scheme="tcp"):
    return CONFIG.format(collector=collector, spool=spool, extra=extra, scheme=scheme)


def collector_tls(client_ca=None):
    """A TLS collector's context: the test server certificate; client_ca: clients must present
    a certificate it signed."""
    certs = certificates()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.path("server.pem"), certs.path("server.key"))
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(certs.path(client_ca))
    return context


def scrape(netd):
    with tcp_connect(netd.addr("stats", "tcp")) as s:
        s.shutdown(socket.SHUT_WR)
        return parse(recv_until_eof(s).decode())


def by_destination(samples, name):
    """{destination URL: value} of one forward metric."""
    found = {}
    for (metric, labels), value in samples.items():
        m = re.match(r'destination="([^"]*)"', labels)
        if metric == name and m:
            found[m.group(1)] = value
    return found


def forward_value(samples, name):
    """A forward metric's value where netd forwards to one destination."""
    values = list(by_destination(samples, name).values())
    if len(values) != 1:
        raise AssertionError("%s for %d destinations in the scrape, not one" % (name, len(values)))
    return values[0]


def send_lines(addr, lines):
    with tcp_connect(addr) as s:
        s.sendall(b"".join(line + b"\n" for line in lines))


def numbered(count, start=0, size=0):
    """RFC 3164 lines with a number to find them by, padded to about size bytes."""
    pad = b"." * max(0, size - 50)
    return [b"<30>Oct 11 22:14:15 host%d app[%d]: record %d %s" % (i % 3, i, i, pad)
            for i in range(start, start + count)]


def numbers_in(frames):
    found = set()
    for frame in frames:
        m = re.search(rb" record (\d+)", frame)
        if m:
            found.add(int(m.group(1)))
    return found


def ranges(numbers):
    """[(first, last), ...] of a set of numbers, for messages."""
    out = []
    for n in sorted(numbers):
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


class Forwarding(unittest.TestCase):

    def test_every_record_arrives_with_its_fields_and_origin(self):
        with OctetCollector() as collector, Netd(config(collector.address)) as netd:
            addr = netd.addr("logger", "tcp")
            send_lines(addr, numbered(1000))
            send_lines(addr, numbered(1000, start=1000))
            udp = udp_socket()
            self.addCleanup(udp.close)
            udp.sendto(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
                       b"[exampleSDID@32473 iut=\"3\" eventSource=\"App\"] An event",
                       netd.addr("logger", "udp"))
            frames = collector.wait_for(2001)
            self.assertEqual(len(frames), 2001, netd.describe())
            self.assertEqual(numbers_in(frames), set(range(2000)))
            for frame in frames:
                m = FRAME_RE.match(frame)
                self.assertIsNotNone(m, frame)
                pri, stamp, host, app, procid, msgid, sd, msg = m.groups()
                self.assertTrue(sd.endswith(b'[origin ip="127.0.0.1"]'), frame)
                if app == b"evntslog":
                    self.assertEqual((pri, stamp, host, procid, msgid, msg),
                                     (b"165", b"2003-10-11T22:14:15.003Z",
                                      b"mymachine.example.com", b"-", b"ID47", b"An event"))
                    self.assertEqual(sd, b'[exampleSDID@32473 iut="3" eventSource="App"]'
                                         b'[origin ip="127.0.0.1"]')
                else:
                    n = int(re.search(rb"record (\d+)", msg).group(1))
                    self.assertEqual((pri, host, app, procid, msgid),
                                     (b"30", b"host%d" % (n % 3), b"app", b"%d" % n, b"-"))
                    self.assertRegex(stamp, rb"^\d{4}-10-11T22:14:15(Z|[+-]\d\d:\d\d)$")
            self.assertTrue(wait_until(lambda: count_lines(netd.path("netd.log")) == 2001))
            # Counted once the collector's kernel acknowledged the bytes, a moment later.
            samples = wait_for(lambda: scrape(netd), lambda samples: forward_value(
                samples, "netd_forward_records_total") == 2001 and forward_value(
                samples, "netd_forward_spooled_records") == 0)
            self.assertEqual(forward_value(samples, "netd_forward_records_total"), 2001)
            self.assertEqual(forward_value(samples, "netd_forward_spooled_records"), 0)
            self.assertEqual(forward_value(samples, "netd_forward_connected"), 1)
            # Bytes count the frames as they went on the wire, length prefix included.
            self.assertEqual(forward_value(samples, "netd_forward_bytes_total"),
                             sum(len(b"%d " % len(frame)) + len(frame) for frame in frames))
            self.assertEqual(forward_value(samples, "netd_forward_spooled_bytes"), 0)

    def test_a_tls_client_is_the_origin(self):
        with OctetCollector() as collector, Netd(config(collector.address).replace(
                "udp = 127.0.0.1:0\n", "tls = 127.0.0.1:0\n" + service_keys())) as netd:
            with tls_connect(netd.addr("logger", "tls")) as s:
                s.sendall(b"<30>Oct 11 22:14:15 host app: record 0\n")
                s.unwrap()
            frames = collector.wait_for(1)
            self.assertEqual(numbers_in(frames), {0}, netd.describe())
            self.assertIn(b'[origin ip="127.0.0.1"]', frames[0])

    @unittest.skipUnless(ipv6_available(), "no IPv6 loopback (::1) on this host")
    def test_an_ipv6_stream_client_is_the_origin_without_brackets_or_port(self):
        # The session keeps its origin as a part of its "[::1]:PORT" peer text.
        with OctetCollector() as collector, Netd(config(collector.address).replace(
                "tcp = 127.0.0.1:0\n", "tcp = 127.0.0.1:0, [::1]:0\n")) as netd:
            v6 = [a for a in netd.addrs("logger", "tcp") if a[0] == "::1"][0]
            with tcp_connect(v6) as s:  # a line, then an octet-counted frame
                s.sendall(b"<30>Oct 11 22:14:15 host app: record 0\n"
                          b"38 <30>Oct 11 22:14:15 host app: record 1")
            send_lines(netd.addr("logger", "tcp"), numbered(1, start=2))
            frames = collector.wait_for(3)
            self.assertEqual(numbers_in(frames), {0, 1, 2}, netd.describe())
            for frame in frames:
                origin = b"127.0.0.1" if b" record 2" in frame else b"::1"
                self.assertIn(b'[origin ip="%s"]' % origin, frame)

    def test_an_outage_loses_nothing_and_is_logged_once_each_way(self):
        with OctetCollector() as collector, Netd(config(collector.address)) as netd:
            addr = netd.addr("logger", "tcp")
            send_lines(addr, numbered(100))
            collector.wait_for(100)
            collector.stop()
            send_lines(addr, numbered(500, start=100))
            self.assertIsNotNone(
                netd.wait_for_line(r"forward to tcp://\S+: down \("),
                netd.describe())
            time.sleep(1.0)  # several retries, still one line
            samples = wait_for(lambda: scrape(netd), lambda samples: forward_value(
                samples, "netd_forward_spooled_records") == 500)
            self.assertEqual(forward_value(samples, "netd_forward_connected"), 0)
            self.assertGreater(forward_value(samples, "netd_forward_spooled_records"), 0)
            collector.start()
            frames = collector.wait_for(600, timeout=25)
            self.assertEqual(numbers_in(frames), set(range(600)))
            self.assertIsNotNone(
                netd.wait_for_line(r"forward to tcp://\S+: up again after"),
                netd.describe())
            self.assertEqual(sum("forward to tcp" in line and ": down (" in line
                                 for line in netd.stderr_lines), 1, netd.stderr)
            samples = wait_for(lambda: scrape(netd), lambda samples: forward_value(
                samples, "netd_forward_spooled_records") == 0)
            self.assertGreaterEqual(forward_value(samples, "netd_forward_reconnects_total"), 1)
            self.assertEqual(forward_value(samples, "netd_forward_spooled_records"), 0)

    def test_records_survive_sigkill(self):
        spool = tempfile.mkdtemp(prefix="netd-spool-")
        self.addCleanup(shutil.rmtree, spool, True)
        collector = OctetCollector()
        self.addCleanup(collector.stop)
        collector.stop()  # down from the start: everything waits in the spool
        first = NetdProcess(config(collector.address, spool=spool))
        self.addCleanup(first.cleanup)
        first.start()
        self.assertEqual(first.wait_ready_or_exit(), "ready", first.describe())
        from netd_harness import parse_listeners
        addr = parse_listeners(first.stderr_lines)["logger"]["tcp"][0]
        send_lines(addr, numbered(1000))
        self.assertTrue(wait_until(lambda: count_lines(first.path("netd.log")) == 1000))
        time.sleep(0.3)  # the spooler's batch is out of the process (in the page cache)
        first.kill()
        collector.start()
        with Netd(config(collector.address, spool=spool)) as second:
            self.assertIsNotNone(
                second.wait_for_line(r"1000 records from before are waiting"),
                second.describe())
            frames = collector.wait_for(1000, timeout=25)
            self.assertEqual(numbers_in(frames), set(range(1000)))

    def test_past_the_spool_limit_the_oldest_are_dropped_and_counted(self):
        collector = OctetCollector()
        self.addCleanup(collector.stop)
        collector.stop()
        with Netd(config(collector.address, extra="forward_spool_max = 256KiB")) as netd:
            addr = netd.addr("logger", "tcp")
            # One connection after another, each in the file before the next starts: "oldest"
            # is the order netd received them in, which is then the records' numbers.
            for start in range(0, 4000, 500):
                send_lines(addr, numbered(500, start=start, size=300))
                self.assertTrue(wait_until(
                    lambda: count_lines(netd.path("netd.log")) == start + 500, timeout=10),
                    "the local file has every record")
            # Dropping happens in the spool's maintenance (every 100 ms, and after each write):
            # wait until every record is either dropped or waiting, and the count holds.
            seen = []

            def settled(samples):
                seen.append(forward_value(samples, "netd_forward_records_dropped_total"))
                waiting = forward_value(samples, "netd_forward_spooled_records")
                return seen[-1] > 0 and seen[-1] + waiting == 4000 and seen[-2:-1] == seen[-1:]
            samples = wait_for(lambda: (time.sleep(0.2), scrape(netd))[1], settled, timeout=10)
            dropped = forward_value(samples, "netd_forward_records_dropped_total")
            self.assertGreater(dropped, 0)
            self.assertEqual(dropped + forward_value(samples, "netd_forward_spooled_records"),
                             4000)
            self.assertIsNotNone(
                netd.wait_for_line(r"forward: dropped \d+ records so far \(the spool is past "
                                   r"forward_spool_max"),
                netd.describe())
            collector.start()
            # Reconnects back off to every 10 s while the collector is away.
            arrived = numbers_in(collector.wait_for(4000 - dropped, timeout=25))
            missing = set(range(4000)) - arrived
            self.assertEqual(len(missing), dropped, "dropped: %d, missing: %s\n%s" % (
                dropped, ranges(missing), netd.describe()))
            # The oldest went: what arrived is the newest, ending with the last record.
            self.assertEqual(arrived, set(range(4000 - len(arrived), 4000)),
                             "arrived: %s" % ranges(arrived))

    def test_a_collector_that_never_reads_slows_nobody(self):
        with OctetCollector(reading=False) as collector, \
                Netd(config(collector.address)) as netd:
            addr = netd.addr("logger", "tcp")
            started = time.monotonic()
            for start in range(0, 20000, 2000):
                send_lines(addr, numbered(2000, start=start, size=1000))  # 20 MB
            self.assertTrue(wait_until(lambda: count_lines(netd.path("netd.log")) == 20000,
                                       timeout=20))
            self.assertLess(time.monotonic() - started, 15)
            samples = wait_for(lambda: scrape(netd), lambda samples: forward_value(
                samples, "netd_forward_spooled_records") > 0)
            self.assertGreater(forward_value(samples, "netd_forward_spooled_records"), 0)
            self.assertEqual(collector.connections, 1)
            stop_started = time.monotonic()
        # Netd's exit asserted status 0; the sender waiting on the collector did not hold it.
        self.assertLess(time.monotonic() - stop_started, 5)

    def test_a_spool_belongs_to_one_netd(self):
        with OctetCollector() as collector:
            spool = tempfile.mkdtemp(prefix="netd-spool-")
            self.addCleanup(shutil.rmtree, spool, True)
            with Netd(config(collector.address, spool=spool)):
                result = run_netd(config(collector.address, spool=spool))
                self.assertNotEqual(result.returncode, 0)
                self.assertIn("[logger] forward_spool: %s is in use by another netd" % spool,
                              result.stderr)

    def test_services_sharing_a_spool_must_agree_on_where_it_goes(self):
        # One spool, one sender: a second service may share it only with the same destination,
        # CA and limit; otherwise the configuration is refused, naming the key.
        def service(name, collector, extra=""):
            return ("[%s]\nhandler = logger\nudp = 127.0.0.1:0\nfile = {tmp}/%s.log\n"
                    "forward = tcp://%s\nforward_spool = {tmp}/spool\n%s\n"
                    % (name, name, collector, extra))
        with OctetCollector() as one, OctetCollector() as two:
            result = run_netd(service("a", one.address) + service("b", two.address))
            self.assertEqual(result.returncode, 1, result.describe())
            self.assertIn("[b] forward: differs from the forward of another service using the "
                          "spool", result.stderr)
            result = run_netd(service("a", one.address) +
                              service("b", one.address, "forward_spool_max = 10M"))
            self.assertEqual(result.returncode, 1, result.describe())
            self.assertIn("[b] forward_spool_max: differs", result.stderr)
            with Netd(service("a", one.address) + service("b", one.address)) as netd:
                for name in ("a", "b"):
                    with udp_socket() as u:
                        u.sendto(b"<30>Oct 11 22:14:15 host app: record %d" % (name == "b"),
                                 netd.addr(name, "udp"))
                self.assertEqual(numbers_in(one.wait_for(2)), {0, 1}, netd.describe())

    def test_a_reload_moves_to_a_new_destination(self):
        with OctetCollector() as old, OctetCollector() as new:
            with Netd(config(old.address)) as netd:
                addr = netd.addr("logger", "tcp")
                send_lines(addr, numbered(10))
                self.assertEqual(len(old.wait_for(10)), 10)
                old.stop()
                send_lines(addr, numbered(5, start=10))  # they wait: the old one is down
                was, now = "tcp://" + old.address, "tcp://" + new.address
                samples = wait_for(lambda: scrape(netd), lambda samples: by_destination(
                    samples, "netd_forward_spooled_records").get(was) == 5)
                self.assertEqual(
                    by_destination(samples, "netd_forward_spooled_records"), {was: 5})
                with open(netd.config_path) as f:
                    text = f.read()
                with open(netd.config_path, "w") as f:
                    f.write(text.replace(old.address, new.address))
                netd.send_signal(signal.SIGHUP)
                self.assertIsNotNone(
                    netd.wait_for_line(r"reload"),
                    netd.describe())
                self.assertEqual(numbers_in(new.wait_for(5)), set(range(10, 15)))
                send_lines(addr, numbered(10, start=15))
                self.assertEqual(numbers_in(new.wait_for(15)), set(range(10, 25)))
                # The metrics follow: the old destination keeps what it delivered and shows
                # nothing waiting for it; what waited went to the new one, and counts there.
                samples = wait_for(lambda: scrape(netd), lambda samples: by_destination(
                    samples, "netd_forward_records_total").get(now) == 15)
                for name, expected in [("netd_forward_records_total", {was: 10, now: 15}),
                                       ("netd_forward_spooled_records", {was: 0, now: 0}),
                                       ("netd_forward_connected", {was: 0, now: 1}),
                                       ("netd_forward_reconnects_total", {was: 0, now: 0})]:
                    self.assertEqual(by_destination(samples, name), expected, name)

    def test_a_reload_to_another_spool_says_what_the_old_one_still_holds(self):
        with OctetCollector() as collector:
            collector.stop()  # down: the records wait in the spool
            with Netd(config(collector.address)) as netd:
                send_lines(netd.addr("logger", "tcp"), numbered(5))
                samples = wait_for(lambda: scrape(netd), lambda samples: forward_value(
                    samples, "netd_forward_spooled_records") == 5)
                self.assertEqual(forward_value(samples, "netd_forward_spooled_records"), 5)
                with open(netd.config_path) as f:
                    text = f.read()
                with open(netd.config_path, "w") as f:
                    f.write(text.replace("/spool\n", "/spool2\n"))
                netd.send_signal(signal.SIGHUP)
                self.assertIsNotNone(
                    netd.wait_for_line(r"forward to tcp://\S+: stopped with 5 records not "
                                       r"delivered; they wait in \S+/spool for the next netd"),
                    netd.describe())


class ForwardingOverTls(unittest.TestCase):

    def test_records_arrive_over_tls_checked_against_forward_ca(self):
        certs = certificates()
        with OctetCollector(tls=collector_tls()) as collector, \
                Netd(config(collector.address, scheme="tls",
                            extra="forward_ca = %s" % certs.path("ca.pem"))) as netd:
            send_lines(netd.addr("logger", "tcp"), numbered(500))
            self.assertEqual(numbers_in(collector.wait_for(500)), set(range(500)))
            samples = wait_for(lambda: scrape(netd), lambda samples: forward_value(
                samples, "netd_forward_records_total") == 500)
            self.assertEqual(forward_value(samples, "netd_forward_records_total"), 500)

    def test_a_client_certificate_when_the_collector_wants_one(self):
        certs = certificates()
        with OctetCollector(tls=collector_tls(client_ca="ca.pem")) as collector, \
                Netd(config(collector.address, scheme="tls",
                            extra="forward_ca = %s\nforward_cert = %s\nforward_key = %s" % (
                                certs.path("ca.pem"), certs.path("client.pem"),
                                certs.path("client.key")))) as netd:
            send_lines(netd.addr("logger", "tcp"), numbered(50))
            self.assertEqual(numbers_in(collector.wait_for(50)), set(range(50)))

    def test_a_reload_with_an_unusable_forward_ca_keeps_the_running_config(self):
        certs = certificates()
        with OctetCollector(tls=collector_tls()) as collector, \
                Netd(config(collector.address, scheme="tls",
                            extra="forward_ca = %s" % certs.path("ca.pem"))) as netd:
            with open(netd.config_path) as f:
                text = f.read()
            with open(netd.config_path, "w") as f:
                f.write(text.replace(certs.path("ca.pem"), netd.path("missing-ca.pem")))
            netd.send_signal(signal.SIGHUP)
            self.assertIsNotNone(netd.wait_for_line(
                r"reload: .*\[logger\] forward_ca: cannot read '.*missing-ca\.pem': No such file.*"
                r"the running configuration stays in effect"), netd.describe())
            send_lines(netd.addr("logger", "tcp"), numbered(20))
            self.assertEqual(numbers_in(collector.wait_for(20)), set(range(20)))

    @unittest.skipUnless(shutil.which("script"), "needs script(1) (bsdutils) for a terminal")
    def test_an_encrypted_forward_key_is_a_config_error_not_a_prompt(self):
        # With a terminal, OpenSSL would ask for the key's passphrase there and wait. netd runs
        # in one here (script(1) gives it a controlling terminal that nobody types into).
        certs = certificates()
        with tempfile.TemporaryDirectory(prefix="netd-fwd-") as tmp:
            path = os.path.join(tmp, "netd.ini")
            with open(path, "w") as f:
                f.write(config("127.0.0.1:9", spool=tmp + "/spool", scheme="tls",
                               extra="forward_cert = %s\nforward_key = %s" % (
                                   certs.path("client.pem"), certs.path("encrypted.key")))
                        .replace("{tmp}", tmp))
            command = "%s --check-config --config %s" % (netd_bin(), path)
            try:
                run = subprocess.run(["script", "-qec", command, "/dev/null"],
                                     stdin=subprocess.PIPE, capture_output=True, timeout=10)
            except subprocess.TimeoutExpired:
                self.fail("netd waited at the terminal for forward_key's passphrase")
        self.assertEqual(run.returncode, 1, run.stdout)
        self.assertRegex(run.stdout.decode(),
                         r"\[logger\] forward_key: '.*encrypted\.key' holds no unencrypted PEM "
                         r"private key")

    def test_a_collector_the_ca_did_not_sign_gets_nothing(self):
        certs = certificates()
        with OctetCollector(tls=collector_tls()) as collector, \
                Netd(config(collector.address, scheme="tls",
                            extra="forward_ca = %s" % certs.path("other-ca.pem"))) as netd:
            send_lines(netd.addr("logger", "tcp"), numbered(5))
            self.assertIsNotNone(netd.wait_for_line(
                r"forward to tls://\S+: down \(TLS: the collector's certificate: "),
                netd.describe())
            time.sleep(0.3)
            self.assertEqual(collector.received(), [])
            samples = scrape(netd)
            self.assertEqual(forward_value(samples, "netd_forward_spooled_records"), 5)



class ForwardTlsFileErrors(unittest.TestCase):
    """forward_ca, forward_cert and forward_key are read as a service's tls_ca, tls_cert and
    tls_key are (config/tls_files): a file netd cannot use is a config error that names the key
    and says what is wrong with the file."""

    def assertConfigError(self, extra, pattern, setup=None):
        r = run_netd(config("127.0.0.1:9", spool="{tmp}/spool", scheme="tls", extra=extra),
                     ["--check-config"], setup=setup)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertRegex(r.stderr, r"netd\.ini: \[logger\] " + pattern)

    def test_a_file_that_is_not_what_its_key_wants(self):
        certs = certificates()
        pair = "forward_cert = %s\nforward_key = %s"
        for extra, pattern in (
                (pair % (certs.path("client.key"), certs.path("client.key")),
                 r"forward_cert: '.*client\.key' holds no PEM certificate: no start line"),
                (pair % (certs.path("client.pem"), certs.path("client.pem")),
                 r"forward_key: '.*client\.pem' holds no unencrypted PEM private key"),
                (pair % (certs.path("client.pem"), certs.path("server.key")),
                 r"forward_key: '.*server\.key' is not the private key of the certificate in "
                 r"'.*client\.pem'"),
                ("forward_ca = %s" % certs.path("client.key"),
                 r"forward_ca: '.*client\.key' holds no PEM certificate: no start line"),
                ("forward_ca = %s" % certs.dir,
                 r"forward_ca: cannot read '.*': Is a directory")):
            with self.subTest(pattern=pattern):
                self.assertConfigError(extra, pattern)

    def test_a_broken_certificate_in_forward_ca_is_named(self):
        certs = certificates()

        def setup(tmp):
            with open(os.path.join(tmp, "cas.pem"), "w") as f:
                f.write(certs.text("ca.pem") + certs.text("other-ca.pem").replace("M", "!", 1))

        self.assertConfigError("forward_ca = {tmp}/cas.pem",
                               r"forward_ca: '.*cas\.pem' holds a broken certificate after 1: ",
                               setup)


class ForwardingOverRelp(unittest.TestCase):
    """RELP against a collector that misbehaves on purpose (test/lib/relp_collector.py); the
    well-behaved one is rsyslog's imrelp, in test/e2e/test_forward_rsyslog.py."""

    def test_records_answered_200_are_delivered_exactly_once(self):
        with RelpCollector() as collector, \
                Netd(config(collector.address, scheme="relp")) as netd:
            send_lines(netd.addr("logger", "tcp"), numbered(3000))
            records = collector.wait_for(3000)
            self.assertEqual(sorted(numbers_in(records)), list(range(3000)))
            self.assertEqual(len(records), 3000)
            samples = wait_for(lambda: scrape(netd), lambda samples: forward_value(
                samples, "netd_forward_records_total") == 3000 and forward_value(
                samples, "netd_forward_spooled_records") == 0)
            self.assertEqual(forward_value(samples, "netd_forward_records_total"), 3000)
            time.sleep(1.0)
            self.assertEqual(len(collector.received()), 3000, "nothing is sent twice when idle")

    def test_refused_records_and_a_serverclose_send_them_again(self):
        with RelpCollector(refuse_records=5, serverclose_after=400) as collector, \
                Netd(config(collector.address, scheme="relp")) as netd:
            send_lines(netd.addr("logger", "tcp"), numbered(1000))
            # Records sent again arrive twice: wait for every number, not for a count.
            self.assertTrue(wait_until(lambda: numbers_in(collector.received()) ==
                                       set(range(1000)), timeout=25),
                            sorted(set(range(1000)) - numbers_in(collector.received()))[:10])
            self.assertIsNotNone(
                netd.wait_for_line(r"forward to relp://\S+: down \(the collector refused a record: "
                                   r"500 queue full\)"),
                netd.describe())
            self.assertGreater(collector.sessions, 2)

    def test_a_refused_session_is_logged_and_nothing_is_lost(self):
        with RelpCollector(refuse_open=True) as collector, \
                Netd(config(collector.address, scheme="relp")) as netd:
            send_lines(netd.addr("logger", "tcp"), numbered(10))
            self.assertIsNotNone(
                netd.wait_for_line(r"forward to relp://\S+: down \(the collector refused the RELP "
                                   r"session: 500 not today\)"),
                netd.describe())
            samples = wait_for(lambda: scrape(netd), lambda samples: forward_value(
                samples, "netd_forward_spooled_records") == 10)
            self.assertEqual(forward_value(samples, "netd_forward_spooled_records"), 10)


if __name__ == "__main__":
    unittest.main()
