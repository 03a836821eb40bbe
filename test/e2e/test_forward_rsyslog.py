"""End-to-end, SPEC 10: netd's logger forwarding its records to a real rsyslog collector on
loopback (test/lib/rsyslog_collector.py: imtcp, imrelp from rsyslog-relp, imtcp over TLS with
rsyslog-openssl), every field of every record compared with what the clients sent.

- 100,000 records from several clients (two TCP with octet-counted frames, one TCP with LF-ended
  lines, one UDP) over tcp:// and over relp:// arrive once each with PRI, timestamp, host, app,
  procid, msgid, structured data (plus `[origin ip="127.0.0.1"]`) and message intact; the local
  file has every one; netd's forward metrics count them.
- relp://: once the collector has every record, an idle netd sends none again and counts none
  as waiting (past the 10 s a collector has to answer).
- relp://: the collector is SIGKILLed in the middle and restarted on the same port: every record
  arrives (duplicates allowed, unique ones counted).
- netd SIGKILLed in the middle of sending its spool and restarted on the same spool (relp:// and
  tcp://): every record arrives.
- The collector down and forward_spool_max = 256 KiB: the oldest records are dropped and counted
  (netd_forward_records_dropped_total, the log line), the local file has every record, and when
  the collector comes back what was still spooled arrives: the newest ones.
- A collector that accepts but never reads (a Python socket): the clients are not slowed, the
  local file has every record, netd stops promptly on SIGTERM.
- tls:// to rsyslog's TLS listener with forward_ca, and with a client certificate
  (forward_cert/forward_key) to a listener that wants one.
- Record shapes other than RFC 5424 (RFC 3164, no PRI, nil fields) leave as the contract says.

Record counts are 100,000 where the issue says so and 1,000 to 40,000 elsewhere; every wait is
bounded (the whole file: about 30 s). A missing rsyslogd or module skips the tests that need it, saying which (scripts/setup
installs rsyslog, rsyslog-relp and rsyslog-openssl).
"""

import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from exposition import parse, wait_for  # noqa: E402
from log_records import unescape_netd  # noqa: E402
from netd_harness import (  # noqa: E402
    Netd, recv_until_eof, tcp_connect, udp_socket, wait_until,
)
from rsyslog_collector import Collector, LineCounter, start_collector, why_not  # noqa: E402
from tls_certs import certificates  # noqa: E402

WAIT = 60.0          # longest wait for records to arrive
PROGRESS = 20.0      # ... and without a single new one
BIG = 100000         # records where the issue asks for 100,000
SMALL = 20000        # where it does not
MIDWAY = 40000       # where something is killed midway: enough that it is still midway

CONFIG = """\
[server]
log_level = info

[logger]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
file = {dir}/local.json
format = json
flush_interval = 100
forward = {url}
forward_spool = {dir}/spool
{extra}
[stats]
tcp = 127.0.0.1:0
"""

TIMESTAMPS = ("2026-12-01T10:%02d:%02d.%06dZ", "2026-11-30T23:59:59.5-05:30",
              "2026-12-01T10:00:00+02:00", "2026-12-01T10:00:00.123Z")
MESSAGES = ("plain words", "UTF-8 \u00e9t\u00e9 \u2713", "quotes \" and \\ backslash",
            "[brackets] {braces} <angles>", "a longer one " + "x" * 1500, "tab\there")
SDS = ("-", '[ex@32473 client="%d" seq="%d"]', '[esc@1 v="a\\"b\\]c\\\\d"][two@1 k="v"]')


def make_record(client, seq):
    """{field: str} of record seq of client: every field varies, the message names both."""
    n = client * 7 + seq
    stamp = TIMESTAMPS[n % len(TIMESTAMPS)]
    if "%" in stamp:
        stamp = stamp % (seq // 60 % 60, seq % 60, seq % 1000000)
    sd = SDS[n % len(SDS)]
    if "%" in sd:
        sd = sd % (client, seq)
    return {"pri": str(n % 192), "timestamp": stamp, "hostname": "host-%d.example" % client,
            "app": "app%d" % (n % 5) if n % 11 else "-", "procid": str(seq) if n % 3 else "-",
            "msgid": "ID%d" % (n % 50) if n % 4 else "-", "sd": sd,
            "msg": "rec %d %d %s" % (client, seq, MESSAGES[n % len(MESSAGES)])}


def wire(record):
    return ("<{pri}>1 {timestamp} {hostname} {app} {procid} {msgid} {sd} {msg}"
            .format(**record).encode())


KEY_RE = re.compile(r"\brec (\d+) (\d+)\b")


def key_of(msg):
    m = KEY_RE.search(msg)
    return (int(m.group(1)), int(m.group(2))) if m else None


def expected_at_collector(record, origin="127.0.0.1"):
    """What the collector should have: the record as sent, with netd's origin element."""
    out = dict(record)
    out["sd"] = ("" if record["sd"] == "-" else record["sd"]) + '[origin ip="%s"]' % origin
    return out


def check_arrival(test, collector, sent, exact=True):
    """Every record of sent ({key: record}) arrived with its fields intact; exact: each once.
    Returns how many duplicates there were."""
    records = collector.records()
    seen = {}
    problems = []
    for r in records:
        key = key_of(r.get("msg", ""))
        if key is None or key not in sent:
            problems.append("a record nobody sent: %r" % r)
            continue
        seen[key] = seen.get(key, 0) + 1
        want = expected_at_collector(sent[key])
        got = {f: r.get(f) for f in want}
        if got != want:
            problems.append("record %r: sent %r, collector has %r" % (key, want, got))
    missing = sorted(set(sent) - set(seen))
    if missing:
        problems.append("%d of %d records missing, e.g. %r" % (len(missing), len(sent),
                                                               missing[:5]))
    dups = sum(n - 1 for n in seen.values())
    if exact and dups:
        problems.append("%d duplicates, e.g. %r" % (
            dups, [k for k, n in seen.items() if n > 1][:5]))
    if problems:
        test.fail("%d problem(s) at the collector (%d records):\n%s\n--- collector ---\n%s" % (
            len(problems), len(records), "\n".join(problems[:15]), collector.stderr[-2000:]))
    return dups


def local_keys(path):
    """{key: count} of the records in netd's local file (format = json)."""
    keys = {}
    with open(path, "rb") as f:
        for line in f:
            key = key_of(unescape_netd(json.loads(line)["message"]).decode("utf-8", "replace"))
            keys[key] = keys.get(key, 0) + 1
    return keys


def scrape(netd):
    with tcp_connect(netd.addr("stats", "tcp")) as s:
        s.shutdown(socket.SHUT_WR)
        return parse(recv_until_eof(s).decode())


def metric(samples, name, **labels):
    """The sum of name's samples whose labels include labels."""
    want = ['%s="%s"' % kv for kv in labels.items()]
    return sum(v for (n, lab), v in samples.items()
               if n == name and all(w in lab for w in want))


class ForwardTest(unittest.TestCase):
    """One netd per test, its file and spool in a directory of the test's own (a restarted netd
    finds them)."""

    maxDiff = None

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="netd-forward-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.local = LineCounter(os.path.join(self.dir, "local.json"))

    def start_netd(self, url, extra=""):
        netd = Netd(CONFIG.format(dir=self.dir, url=url, extra=extra))
        netd.__enter__()
        self.addCleanup(netd.cleanup)
        return netd

    def stop_netd(self, netd):
        netd.__exit__(None, None, None)

    # -- clients ------------------------------------------------------------
    def send(self, netd, records, udp=True):
        """records ([record]) to netd's logger from several clients at once: the first three of
        every four over TCP (two with octet counting, one with LF-ended lines), every fourth
        over UDP, paced so that no datagram is dropped. Returns when all were sent."""
        shares = [records[i::4] for i in range(4)] if udp else [records[i::3] for i in range(3)]
        errors = []

        def tcp(share, octets):
            try:
                frames = b"".join(b"%d %s" % (len(w), w) if octets else w + b"\n"
                                  for w in map(wire, share))
                with tcp_connect(netd.addr("logger", "tcp"), timeout=WAIT) as s:
                    s.sendall(frames)
                    s.shutdown(socket.SHUT_WR)
                    recv_until_eof(s)
            except Exception as e:  # reported below
                errors.append(e)

        def datagrams(share):
            try:
                address = netd.addr("logger", "udp")
                with udp_socket() as u:
                    # 50 datagrams of up to 1.6 KB (about 2.3 KB each in the kernel's account)
                    # fit in a default receive buffer
                    for start in range(0, len(share), 50):
                        for record in share[start:start + 50]:
                            u.sendto(wire(record), address)
                        done = start + len(share[start:start + 50])
                        if not wait_until(lambda: metric(
                                scrape(netd), "netd_datagrams_received_total",
                                service="logger") >= done, timeout=WAIT, step=0.01):
                            raise AssertionError("netd received fewer than %d datagrams" % done)
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=tcp, args=(shares[i], i < 2)) for i in range(3)]
        if udp:
            threads.append(threading.Thread(target=datagrams, args=(shares[3],)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT * 2)
        self.assertFalse(any(t.is_alive() for t in threads), "a client still sending")
        self.assertEqual(errors, [])

    def wait_local(self, n):
        self.assertTrue(wait_until(lambda: self.local.count() >= n, timeout=WAIT),
                        "the local file has %d of %d records" % (self.local.count(), n))

    def wait_collector(self, collector, n, netd=None):
        if not collector.wait_count(n, WAIT, progress_timeout=PROGRESS):
            self.fail("the collector has %d of %d records\n--- netd ---\n%s\n--- collector ---\n%s"
                      % (collector.count(), n, netd.stderr[-3000:] if netd else "",
                         collector.stderr[-2000:]))

    def wait_unique(self, collector, sent, netd=None):
        """Until every key of sent is at the collector (duplicates allowed), bounded."""
        def unique():
            return len({key_of(r.get("msg", "")) for r in collector.records()} & set(sent))
        self.wait_collector(collector, len(sent), netd)
        if not wait_until(lambda: unique() >= len(sent), timeout=WAIT, step=0.5):
            self.fail("%d of %d records at the collector\n--- netd ---\n%s" % (
                unique(), len(sent), netd.stderr[-3000:] if netd else ""))

    def records(self, n, clients=4):
        return [make_record(c, seq) for seq in range(n // clients) for c in range(clients)]


def needs(transport):
    why = why_not(transport)
    return unittest.skipIf(why is not None, why or "")


class EveryFieldIntact(ForwardTest):

    def many(self, transport):
        collector = start_collector(self, transport)
        netd = self.start_netd(collector.url)
        records = self.records(BIG)
        sent = {key_of(r["msg"]): r for r in records}
        self.send(netd, records)
        self.wait_collector(collector, len(records), netd)
        self.wait_local(len(records))
        check_arrival(self, collector, sent)
        self.assertEqual(sorted(local_keys(self.local.path).items()),
                         sorted((k, 1) for k in sent))
        for record in collector.records()[:10]:
            self.assertEqual(record["fromhost"], "127.0.0.1")
        samples = wait_for(lambda: scrape(netd), lambda s: metric(
            s, "netd_forward_records_total", destination=collector.url) >= len(records))
        self.assertEqual(metric(samples, "netd_forward_records_total",
                                destination=collector.url), len(records))
        self.assertEqual(metric(samples, "netd_forward_spooled_records",
                                destination=collector.url), 0)
        self.assertEqual(metric(samples, "netd_forward_records_dropped_total",
                                destination=collector.url), 0)
        self.assertEqual(metric(samples, "netd_forward_connected", destination=collector.url), 1)
        self.stop_netd(netd)

    @needs("tcp")
    def test_100000_records_over_tcp(self):
        self.many("tcp")

    @needs("relp")
    def test_100000_records_over_relp(self):
        self.many("relp")

    @needs("relp")
    def test_relp_idle_after_delivery_sends_nothing_again(self):
        """Once the collector has acknowledged every record, an idle netd neither resends any
        (no duplicates) nor counts any as waiting, past the 10 s a collector has to answer."""
        collector = start_collector(self, "relp")
        netd = self.start_netd(collector.url)
        records = self.records(1000)
        self.send(netd, records, udp=False)
        self.wait_collector(collector, len(records), netd)
        time.sleep(11)
        self.assertEqual(collector.count(), len(records), "records sent again while idle\n"
                         + netd.stderr[-2000:])
        samples = scrape(netd)
        self.assertEqual((metric(samples, "netd_forward_records_total"),
                          metric(samples, "netd_forward_spooled_records"),
                          metric(samples, "netd_forward_reconnects_total")),
                         (len(records), 0, 0), "(forwarded, spooled, reconnects)")
        self.stop_netd(netd)


class Outages(ForwardTest):

    @needs("relp")
    def test_relp_collector_killed_and_restarted_midway_every_record_arrives(self):
        collector = start_collector(self, "relp")
        netd = self.start_netd(collector.url)
        records = self.records(MIDWAY)
        sent = {key_of(r["msg"]): r for r in records}
        sender = threading.Thread(target=self.send, args=(netd, records, False))
        sender.start()
        try:
            self.wait_collector(collector, MIDWAY // 4, netd)
            collector.stop(signal.SIGKILL)
            at_kill = collector.count()
            time.sleep(0.5)
            collector.start()
        finally:
            sender.join(WAIT)
        self.assertLess(at_kill, MIDWAY, "everything had arrived before the collector was killed")
        self.wait_unique(collector, sent, netd)
        check_arrival(self, collector, sent, exact=False)
        self.wait_local(MIDWAY)
        self.assertGreaterEqual(metric(scrape(netd), "netd_forward_reconnects_total"), 1)
        self.assertTrue(netd.wait_for_line(r"forward to relp://127\.0\.0\.1:%d: down"
                                           % collector.port, timeout=1), netd.stderr[-2000:])
        self.assertTrue(netd.wait_for_line(r"forward to relp://127\.0\.0\.1:%d: up again"
                                           % collector.port, timeout=5), netd.stderr[-2000:])
        self.stop_netd(netd)

    def netd_killed(self, transport):
        """Records spooled while the collector is down; netd SIGKILLed while it sends them,
        restarted on the same spool: every record arrives."""
        collector = Collector(transport)
        self.addCleanup(collector.cleanup)
        netd = self.start_netd(collector.url)
        records = self.records(MIDWAY)
        sent = {key_of(r["msg"]): r for r in records}
        self.send(netd, records, udp=False)
        self.wait_local(MIDWAY)  # received, so spooled
        collector.start()
        self.wait_collector(collector, MIDWAY // 10, netd)
        netd.kill()
        at_kill = collector.count()
        self.assertLess(at_kill, MIDWAY, "everything had arrived before netd was killed")
        netd = self.start_netd(collector.url)
        self.wait_unique(collector, sent, netd)
        check_arrival(self, collector, sent, exact=False)
        self.stop_netd(netd)

    @needs("relp")
    def test_netd_killed_midway_relp_every_record_arrives(self):
        self.netd_killed("relp")

    @needs("tcp")
    def test_netd_killed_midway_tcp_every_record_arrives(self):
        self.netd_killed("tcp")

    @needs("relp")
    def test_spool_limit_drops_the_oldest_and_counts_them(self):
        collector = Collector("relp")
        self.addCleanup(collector.cleanup)
        netd = self.start_netd(collector.url, "forward_spool_max = 256 KiB\n")
        records = self.records(4000)  # about 1.3 MB on the wire: five times the limit
        sent = {key_of(r["msg"]): r for r in records}
        with tcp_connect(netd.addr("logger", "tcp")) as s:  # one connection: in order
            s.sendall(b"".join(wire(r) + b"\n" for r in records))
        self.wait_local(len(records))
        self.assertEqual(sorted(local_keys(self.local.path)), sorted(sent))
        samples = scrape(netd)
        dropped = metric(samples, "netd_forward_records_dropped_total")
        spooled_bytes = metric(samples, "netd_forward_spooled_bytes")
        self.assertGreater(dropped, 0)
        self.assertLessEqual(spooled_bytes, 256 * 1024)
        self.assertTrue(netd.wait_for_line(
            r"forward: dropped \d+ records so far \(the spool is past forward_spool_max",
            timeout=5), netd.stderr[-2000:])
        collector.start()
        self.wait_collector(collector, len(records) - dropped, netd)
        arrived = {key_of(r["msg"]) for r in collector.records()}
        self.assertEqual(len(arrived) + dropped, len(records),
                         "%d arrived, %d dropped, %d sent" % (len(arrived), dropped, len(records)))
        order = [key_of(r["msg"]) for r in records]
        newest = order[len(order) - len(arrived):]
        self.assertEqual(arrived, set(newest), "what arrived is not the newest records")
        check_arrival(self, collector, {k: sent[k] for k in newest})
        samples = wait_for(lambda: scrape(netd), lambda s: metric(
            s, "netd_forward_spooled_records") == 0)
        self.assertEqual((metric(samples, "netd_forward_spooled_records"),
                          metric(samples, "netd_forward_records_total")), (0, len(arrived)),
                         "(records still spooled, records forwarded) once the collector has them")
        self.stop_netd(netd)

    def test_collector_that_never_reads_slows_nobody(self):
        with socket.socket() as sink:
            sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sink.bind(("127.0.0.1", 0))
            sink.listen(8)
            sink.settimeout(0.2)
            held = []
            done = threading.Event()

            def accept():  # and never read
                while not done.is_set():
                    try:
                        held.append(sink.accept()[0])
                    except OSError:
                        pass
            acceptor = threading.Thread(target=accept)
            acceptor.start()
            self.addCleanup(lambda: [c.close() for c in held])
            self.addCleanup(acceptor.join)
            self.addCleanup(done.set)
            netd = self.start_netd("tcp://127.0.0.1:%d" % sink.getsockname()[1])
            records = self.records(SMALL)
            started = time.monotonic()
            self.send(netd, records)
            self.wait_local(SMALL)
            took = time.monotonic() - started
            self.assertLess(took, 30, "the clients took %.1f s" % took)
            self.assertEqual(len(local_keys(self.local.path)), SMALL)
            samples = scrape(netd)
            self.assertLess(metric(samples, "netd_forward_records_total"), SMALL)
            stopping = time.monotonic()
            self.assertEqual(netd.stop(signal.SIGTERM, timeout=10), 0, netd.stderr[-2000:])
            self.assertLess(time.monotonic() - stopping, 5, "netd took long to stop")
            self.assertGreaterEqual(len(held), 1, "netd never connected")


@needs("tls")
class OverTls(ForwardTest):

    def tls(self, client_auth):
        certs = certificates()
        collector = start_collector(self, "tls", certs=certs, client_auth=client_auth)
        extra = "forward_ca = %s\n" % certs.path("ca.pem")
        if client_auth:
            extra += "forward_cert = %s\nforward_key = %s\n" % (certs.path("client.pem"),
                                                                 certs.path("client.key"))
        netd = self.start_netd(collector.url, extra)
        records = self.records(2000)
        self.send(netd, records)
        self.wait_collector(collector, len(records), netd)
        check_arrival(self, collector, {key_of(r["msg"]): r for r in records})
        self.stop_netd(netd)

    def test_tls_with_forward_ca(self):
        self.tls(client_auth=False)

    def test_tls_with_a_client_certificate(self):
        self.tls(client_auth=True)


@needs("tcp")
class RecordShapes(ForwardTest):
    """What leaves for records that are not complete RFC 5424 (the contract's wire format)."""

    def test_shapes(self):
        collector = start_collector(self, "tcp")
        netd = self.start_netd(collector.url)
        with tcp_connect(netd.addr("logger", "tcp")) as s:
            s.sendall(b"<34>Oct 11 22:14:15 mymachine su[77]: rec 0 0 bsd\n"
                      b"no pri at all: rec 0 1\n"
                      b"<999>rec 0 2 bad pri\n"
                      b"<13>1 - - - - - - rec 0 3 all nil\n"
                      b"<13>1 2026-12-01T10:00:00Z h\x01st app\x7f - - - rec 0 4 odd bytes\n")
        self.wait_collector(collector, 5, netd)
        got = {key_of(r["msg"]): r for r in collector.records()}
        origin = '[origin ip="127.0.0.1"]'
        bsd = got[(0, 0)]
        self.assertEqual((bsd["pri"], bsd["hostname"], bsd["app"], bsd["procid"], bsd["sd"]),
                         ("34", "mymachine", "su", "77", origin))
        self.assertRegex(bsd["timestamp"], r"^\d{4}-10-11T22:14:15(\.0+)?([+-]\d\d:\d\d|Z)$")
        plain = got[(0, 1)]
        self.assertEqual((plain["pri"], plain["hostname"], plain["app"], plain["sd"]),
                         ("13", "127.0.0.1", "-", origin))
        self.assertEqual(plain["msg"], "no pri at all: rec 0 1")
        self.assertEqual(got[(0, 2)]["pri"], "13")
        nil = got[(0, 3)]
        self.assertEqual((nil["hostname"], nil["app"], nil["procid"], nil["msgid"], nil["sd"]),
                         ("127.0.0.1", "-", "-", "-", origin))
        odd = got[(0, 4)]
        self.assertEqual((odd["hostname"], odd["app"]), ("h_st", "app_"))
        self.stop_netd(netd)


if __name__ == "__main__":
    unittest.main(verbosity=2)
