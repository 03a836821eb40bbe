"""End-to-end: netd's syslog parsing checked field by field against rsyslog's.

Run: NETD_BIN=build/netd python3 test/e2e/test_syslog_rsyslog.py -v   (or ctest -R e2e.syslog_rsyslog)
     python3 test/e2e/test_syslog_rsyslog.py --table [--netd PATH]
         prints the agreement table and every difference, and exits 0 whatever they are (the
         figures in docs/BENCHMARKS.md come from it; --netd measures another binary)

Each message of syslog_corpus.txt (real senders' shapes and edge cases, one per line), and what
util-linux `logger` sends in its framings (captured live from the installed logger), goes to a
netd logger service (format = json) and to a real rsyslogd, over UDP (one datagram each) and over
TCP (RFC 6587 octet counting), from 127.0.0.2. The fields both parse out are compared: facility,
severity, host, app and message, and procid, msgid, structured data and timestamp. A field on
which they differ must be listed in EXPECTED_DIFFERENCES with the reason (docs/configuration.md
lists the same); any other difference fails the test, and so does a listed one that no longer
occurs.

rsyslogd runs in the foreground with its own configuration, pid file and work directory in a
temporary directory (rsyslogd -n -f CONF -i PIDFILE): it reads nothing under /etc, opens no
/dev/log, writes nothing under /var, and is stopped however the tests end. Its settings that make
the comparison fair (each changes how rsyslog stores a field, not what it decides):
- parser.escapeControlCharactersOnReceive="off": by default rsyslog rewrites control bytes as
  #ooo when it receives them; netd keeps them and escapes them on output.
- parser.permitSlashInProgramName="on": netd keeps "/" in a tag's name (postfix/smtpd); rsyslog
  cuts the name there by default.
- pmrfc3164 remove.msgFirstSpace="on": rsyslog keeps the space after an RFC 3164 tag in MSG;
  netd counts it as the separator.
- net.enableDNS="off" and the sender at 127.0.0.2: rsyslog puts the sender into HOSTNAME when a
  message has none; the address 127.0.0.2, which no message contains, is read as "no host".
- rsyslog fills a missing timestamp with the time of receipt: timereported equal to
  timegenerated is read as "no timestamp". Timestamps are compared by month, day and time of
  day (an RFC 3164 timestamp has no year; rsyslog adds one).

If rsyslogd is not installed (Debian package rsyslog, see scripts/setup) or cannot run here, the
tests skip and say why.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from clients import HAVE_UTIL_LINUX_LOGGER, LOGGER, NEED_LOGGER  # noqa: E402
from log_records import unescape_netd  # noqa: E402
from netd_harness import (  # noqa: E402
    Netd, clean_env, count_lines, shared_netd, tcp_connect, udp_socket, unixgram_socket,
)
from rsyslog_collector import RSYSLOGD, RsyslogProcess, jsonf_template  # noqa: E402

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "syslog_corpus.txt")
SENDER = "127.0.0.2"          # no message in the corpus names this host
WAIT = 10.0                   # seconds, for either server to write what it was sent
BATCH = 25                    # datagrams in flight at most: no receive buffer overflows

MAIN_FIELDS = ("facility", "severity", "host", "app", "message")
EXTRA_FIELDS = ("procid", "msgid", "sd", "timestamp")
FIELDS = MAIN_FIELDS + EXTRA_FIELDS

NETD_CONFIG = """\
[server]
mode = strand
log_level = info

[udp_in]
handler = logger
udp = 127.0.0.1:0
file = {tmp}/udp.json
format = json
flush_interval = 20

[tcp_in]
handler = logger
tcp = 127.0.0.1:0
file = {tmp}/tcp.json
format = json
flush_interval = 20
"""

RSYSLOG_CONFIG = """\
global(workDirectory="{tmp}/work" net.enableDNS="off"
       parser.escapeControlCharactersOnReceive="off" parser.permitSlashInProgramName="on")
module(load="imudp")
module(load="imtcp")
parser(name="netd.rfc3164" type="pmrfc3164" remove.msgFirstSpace="on")
{template}
ruleset(name="udp" parser=["rsyslog.rfc5424", "netd.rfc3164"]) {{
    action(type="omfile" file="{tmp}/udp.json" template="fields")
}}
ruleset(name="tcp" parser=["rsyslog.rfc5424", "netd.rfc3164"]) {{
    action(type="omfile" file="{tmp}/tcp.json" template="fields")
}}
input(type="imudp" address="127.0.0.1" port="{udp_port}" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="{tcp_port}" ruleset="tcp")
"""

FIELDS_TEMPLATE = jsonf_template("fields", [
    ("facility", "syslogfacility-text"), ("severity", "syslogseverity-text"),
    ("hostname", "hostname"), ("fromhost", "fromhost-ip"), ("app", "app-name"),
    ("programname", "programname"), ("procid", "procid"), ("msgid", "msgid"),
    ("sd", "structured-data"), ("version", "protocol-version"),
    ("reported", "timereported", 'dateFormat="rfc3339"'),
    ("generated", "timegenerated", 'dateFormat="rfc3339"'), ("msg", "msg")])

# Why netd decides differently; docs/configuration.md ("Where netd and rsyslog differ") says the same.
REASONS = {
    "no-pri-plain": "Without a PRI only a leading timestamp marks a syslog header; otherwise the "
                    "line is a plain message (user.notice) with no host or app. rsyslog reads the "
                    "first words of any line as HOST and TAG, so `echo hello world | nc` would "
                    "become host hello, app world.",
    "no-pri-5424": "RFC 5424 requires the PRI; without it \"1 ...\" is a plain line.",
    "empty-pri": "`<>` is not a PRI (RFC 5424 wants 1 to 3 digits): a plain message with no "
                 "facility. rsyslog reads it as 0, kern.emerg, the most urgent priority there is.",
    "ipv6-host": "An IPv6 address is a HOSTNAME (RFC 5424 section 6.2.4). rsyslog's hostname "
                 "bytes exclude \":\", so it takes the address's first group for the tag and "
                 "the rest for the message.",
    "utf8-name": "A tag's name may hold UTF-8; rsyslog ends the program name at the first "
                 "byte that is not printable ASCII.",
    "nothing-lost": "A tag ends at the first byte that cannot continue it and the message starts "
                    "there. rsyslog ends the tag only at \":\" or a space but its program name "
                    "and pid at other bytes, so the bytes between (Snare's fields after a tab, "
                    "\"x\" in \"app[1]x:\") are in neither the app nor the message.",
    "long-name": "A tag name longer than 48 bytes or a pid longer than 128 is message text: "
                 "they could not be forwarded as RFC 5424's APP-NAME and PROCID. rsyslog allows "
                 "tags of 510 bytes.",
    "bom": "The UTF-8 BOM before an RFC 5424 MSG marks its encoding (RFC 5424 section 6.4) and "
           "is not kept in the message; rsyslog keeps it.",
    "nul": "rsyslog cannot store a NUL byte and writes it as #000; netd keeps it (and escapes it "
           "in the record).",
    "sd-quotes": "Structured data is read quote-aware: a \"]\" inside a quoted value ends "
                 "nothing. rsyslog ends it at the first \"] \"; for an element that never ends it "
                 "keeps the last byte as the message, netd keeps it all as structured data.",
}

# corpus id -> {field: reason}: every field on which netd and rsyslog are known to differ.
EXPECTED_DIFFERENCES = {
    "nxlog-5424-bom": {"message": "bom"},
    "rfc5424-ex3": {"message": "bom"},
    "snare-pri": {"message": "nothing-lost"},
    "snare-no-pri": {"app": "no-pri-plain", "message": "no-pri-plain"},
    "rfc5424-sd-unescaped-bracket": {"message": "sd-quotes", "sd": "sd-quotes"},
    "rfc5424-unterminated-sd": {"message": "sd-quotes", "sd": "sd-quotes"},
    "tag-utf8": {"app": "utf8-name"},
    "host-utf8": {"app": "utf8-name"},
    "tag-long-49": {"app": "long-name", "message": "long-name"},
    "tag-long-java": {"app": "long-name", "message": "long-name"},
    "pid-long": {"message": "long-name", "procid": "long-name"},
    "tag-bracket-junk": {"message": "nothing-lost", "procid": "nothing-lost"},
    "tag-unclosed-bracket": {"message": "nothing-lost"},
    "tag-tab": {"message": "nothing-lost"},
    "host-ipv6": {"host": "ipv6-host", "app": "ipv6-host", "message": "ipv6-host",
                  "procid": "ipv6-host"},
    "host-ipv6-v4": {"host": "ipv6-host", "app": "ipv6-host", "message": "ipv6-host"},
    "pri-empty": {"facility": "empty-pri", "severity": "empty-pri", "host": "empty-pri",
                  "app": "empty-pri", "message": "empty-pri", "timestamp": "empty-pri"},
    "nul-in-message": {"message": "nul"},
    "no-pri-plain": {"host": "no-pri-plain", "app": "no-pri-plain", "message": "no-pri-plain"},
    "no-pri-word": {"host": "no-pri-plain", "message": "no-pri-plain"},
    "no-pri-host-tag": {"host": "no-pri-plain", "app": "no-pri-plain", "message": "no-pri-plain",
                        "procid": "no-pri-plain"},
    "no-pri-5424": {"host": "no-pri-5424", "app": "no-pri-5424", "message": "no-pri-5424",
                    "timestamp": "no-pri-5424"},
}


def decode_corpus_line(raw):
    """`\\xHH` -> the byte, `\\\\` -> a backslash."""
    return re.sub(rb"\\(\\|x[0-9a-fA-F]{2})",
                  lambda m: b"\\" if m.group(1) == b"\\" else bytes([int(m.group(1)[1:], 16)]), raw)


def load_corpus(path=CORPUS, sections=None):
    """[(id, message bytes)] in file order; sections, if given, gets {id: the "# --- name ---"
    heading the message is under}."""
    messages = []
    section = ""
    with open(path, "rb") as f:
        for number, raw in enumerate(f.read().split(b"\n"), 1):
            heading = re.match(rb"^# --- (.*) ---$", raw)
            if heading:
                section = heading.group(1).decode()
            if not raw or raw.startswith(b"#"):
                continue
            ident, sep, text = raw.partition(b" ")
            if not sep:
                raise AssertionError("%s:%d: no message after the id" % (path, number))
            messages.append((ident.decode(), decode_corpus_line(text)))
            if sections is not None:
                sections[ident.decode()] = section
    ids = [i for i, _ in messages]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise AssertionError("%s: ids used twice: %s" % (path, ", ".join(duplicates)))
    return messages


# ---------------------------------------------------------------------------
# What util-linux logger sends, captured from the installed binary

LOGGER_NETWORK = [
    ["--rfc3164"], ["--rfc3164", "-i"], ["--rfc5424"], ["--rfc5424=notq"], ["--rfc5424=notime"],
    ["--rfc5424=nohost"], ["--rfc5424", "--msgid", "ID47", "--id=4242"],
    ["--sd-id", "zoo@32473", "--sd-param", 'tiger="hungry"', "--sd-param", 'zebra="run ning"'],
    ["--sd-id", "esc@32473", "--sd-param", 'v="q\\"b\\]s\\\\e"'],
]
LOGGER_SOCKET = [[], ["-i"], ["--rfc3164"], ["--rfc5424"], ["--octet-count"]]


def capture_logger():
    """[(id, message)] as the installed util-linux logger sends them: over UDP, over TCP with
    octet counting, and to a Unix datagram socket as to /dev/log, for each option set above."""
    captured = []
    tmp = tempfile.mkdtemp(prefix="netd-logger-")
    try:
        base = [LOGGER, "-t", "live-tag", "-p", "local3.warning"]
        with udp_socket() as u:
            host, port = u.getsockname()
            for opts in LOGGER_NETWORK:
                run_logger(base + ["--udp", "-n", host, "-P", str(port)] + opts)
                captured.append(("live logger --udp " + " ".join(opts), u.recv(65536)))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.settimeout(WAIT)
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            port = listener.getsockname()[1]
            for opts in (["--rfc3164"], ["--rfc5424"]):
                run_logger(base + ["--tcp", "--octet-count", "-n", "127.0.0.1", "-P", str(port)]
                           + opts)
                conn, _ = listener.accept()
                with conn:
                    data = read_until_eof(conn)
                count, _, message = data.partition(b" ")
                if not count.isdigit() or int(count) != len(message):
                    raise AssertionError("logger --octet-count sent %r" % data[:200])
                captured.append(("live logger --tcp --octet-count " + " ".join(opts), message))
        path = os.path.join(tmp, "dev-log")
        with unixgram_socket(path) as g:
            for opts in LOGGER_SOCKET:
                run_logger(base + ["--socket", path, "--socket-errors=on"] + opts)
                data = g.recv(65536)
                if "--octet-count" in opts:
                    data = data.partition(b" ")[2]
                captured.append(("live logger --socket " + " ".join(opts), data))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [(ident.strip(), message) for ident, message in captured]


def run_logger(argv):
    r = subprocess.run(argv + ["live message"], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=WAIT, env=clean_env())
    if r.returncode != 0:
        raise AssertionError("%r exited %d: %r" % (argv, r.returncode, r.stderr))


def read_until_eof(conn):
    chunks = []
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


# ---------------------------------------------------------------------------
# The two servers

def free_port(kind):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_lines(path):
    with open(path, "rb") as f:
        return f.read().split(b"\n")[:-1]


class Rsyslogd(RsyslogProcess):
    """rsyslogd in the foreground on free loopback ports, its files in a temporary directory."""

    PROBE = b"<13>1 - - netd-probe - - - ready?"

    def __init__(self):
        self.udp_port = free_port("udp")
        self.tcp_port = free_port("tcp")
        super().__init__(lambda tmp: RSYSLOG_CONFIG.format(
            tmp=tmp, udp_port=self.udp_port, tcp_port=self.tcp_port, template=FIELDS_TEMPLATE))

    def start_and_wait(self):
        """Start, then send probes until one is written (bounded). None when ready, else why not."""
        self.start()
        deadline = time.monotonic() + WAIT
        with udp_socket(SENDER) as u:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return "rsyslogd exited with status %d: %s" % (self.proc.returncode, self.stderr[-2000:])
                u.sendto(self.PROBE, ("127.0.0.1", self.udp_port))
                time.sleep(0.05)
                if count_lines(self.path("udp.json")) > 0:
                    return None
        return "rsyslogd wrote nothing within %.0f s: %s" % (WAIT, self.stderr[-2000:])

    def records(self, transport):
        """Its records for transport (probes left out)."""
        objects = [json.loads(line.decode("utf-8", "surrogateescape"))
                   for line in read_lines(self.path(transport + ".json"))]
        return [o for o in objects if o.get("app") != "netd-probe"]


def rsyslog_fields(o):
    """An rsyslog record as {field: bytes or str or None}, in netd's terms."""
    def raw(key):
        return o.get(key, "").encode("utf-8", "surrogateescape")

    def unless_nil(value):
        return None if value in (b"", b"-") else value

    version5424 = o.get("version") == "1"
    invalid = o.get("facility") == "invld"
    host = raw("hostname")
    return {
        "facility": None if invalid else o.get("facility"),
        "severity": None if invalid else o.get("severity"),
        "host": None if host in (b"", raw("fromhost")) or (version5424 and host == b"-") else host,
        # RFC 3164: APP-NAME would be "-" for an empty tag and for the tag "-".
        "app": unless_nil(raw("app")) if version5424 else raw("programname") or None,
        "message": raw("msg"),
        "procid": unless_nil(raw("procid")),
        "msgid": unless_nil(raw("msgid")),
        "sd": unless_nil(raw("sd")),
        "timestamp": None if o.get("reported") == o.get("generated") else
        time_of_day_3339(o.get("reported", "")),
    }


def netd_fields(o):
    fields = {"facility": o.get("facility"), "severity": o.get("severity")}
    for key in ("host", "app", "message", "procid", "msgid", "sd"):
        fields[key] = unescape_netd(o.get(key))
    fields["message"] = fields["message"] or b""
    stamp = o.get("timestamp")
    fields["timestamp"] = None if stamp is None else time_of_day(stamp)
    return fields


MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
BSD_RE = re.compile(r"^(?:\d{4} )?([A-Za-z]{3}) {1,2}(\d{1,2}) (?:\d{4} )?(\d{1,2}):(\d{1,2}):(\d{1,2})")
RFC3339_RE = re.compile(r"^\d{4}-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)")


def time_of_day_3339(text):
    m = RFC3339_RE.match(text)
    return tuple(int(g) for g in m.groups()) if m else "unreadable " + text


def time_of_day(text):
    """(month, day, hour, minute, second) of a timestamp as netd keeps it."""
    m = BSD_RE.match(text)
    if m:
        return (MONTHS.index(m.group(1).lower()) + 1,) + tuple(int(g) for g in m.groups()[1:])
    return time_of_day_3339(text)


class Comparison:
    """Both servers' fields for each message, and where they differ."""

    def __init__(self, messages, netd_records, rsyslog_records):
        self.rows = []
        for (ident, message), n, r in zip(messages, netd_records, rsyslog_records):
            self.rows.append((ident, message, netd_fields(n), rsyslog_fields(r)))

    def differences(self):
        """[(id, field, netd value, rsyslog value)]"""
        return [(ident, f, n[f], r[f]) for ident, _, n, r in self.rows for f in FIELDS if n[f] != r[f]]

    def unexpected(self):
        """Differences not in EXPECTED_DIFFERENCES, and listed ones that did not happen."""
        found = {(ident, field) for ident, field, _, _ in self.differences()}
        listed = {(ident, field) for ident, fields in EXPECTED_DIFFERENCES.items() for field in fields}
        problems = ["%s %s: netd %r, rsyslog %r (not an expected difference)" % d
                    for d in self.differences() if (d[0], d[1]) not in listed]
        corpus_ids = {ident for ident, _, _, _ in self.rows}
        problems += ["%s %s: listed as a difference, but netd and rsyslog agree" % key
                     for key in sorted(listed - found) if key[0] in corpus_ids]
        return problems

    def sections_table(self, sections):
        """A markdown table: how many messages of each corpus section agree on all five main
        fields, and the share of main fields that agree."""
        lines = ["| messages | count | all five main fields agree | main fields agree |",
                 "|---|---:|---:|---:|"]
        names = []
        for ident, _, _, _ in self.rows:
            if sections.get(ident, "util-linux logger, captured live") not in names:
                names.append(sections.get(ident, "util-linux logger, captured live"))
        for name in names:
            rows = [(n, r) for ident, _, n, r in self.rows
                    if sections.get(ident, "util-linux logger, captured live") == name]
            whole = sum(1 for n, r in rows if all(n[f] == r[f] for f in MAIN_FIELDS))
            fields = sum(1 for n, r in rows for f in MAIN_FIELDS if n[f] == r[f])
            lines.append("| %s | %d | %d | %.1f %% |" % (
                name, len(rows), whole, 100.0 * fields / (len(rows) * len(MAIN_FIELDS))))
        return "\n".join(lines)

    def table(self):
        """A markdown table: agreement per field, and for the five main fields together."""
        lines = ["| field | agree | messages | agreement |", "|---|---:|---:|---:|"]
        total = len(self.rows)
        for field in FIELDS:
            agree = sum(1 for _, _, n, r in self.rows if n[field] == r[field])
            lines.append("| %s | %d | %d | %.1f %% |" % (field, agree, total, 100.0 * agree / total))
        main = sum(1 for _, _, n, r in self.rows for f in MAIN_FIELDS if n[f] == r[f])
        lines.append("| the five main fields, each | %d | %d | %.1f %% |"
                     % (main, total * len(MAIN_FIELDS), 100.0 * main / (total * len(MAIN_FIELDS))))
        whole = sum(1 for _, _, n, r in self.rows if all(n[f] == r[f] for f in MAIN_FIELDS))
        lines.append("| all five main fields of a message | %d | %d | %.1f %% |"
                     % (whole, total, 100.0 * whole / total))
        return "\n".join(lines)


def send_udp(messages, addresses, files):
    """Each message as one datagram from SENDER to each address, BATCH at a time: a batch is
    written by both servers before the next goes out."""
    with udp_socket(SENDER) as u:
        for start in range(0, len(messages), BATCH):
            for _, message in messages[start:start + BATCH]:
                for address in addresses:
                    u.sendto(message, address)
            wait_for(files, min(start + BATCH, len(messages)))


def send_tcp(messages, addresses, files):
    """All messages octet-counted over one connection from SENDER to each address."""
    frames = b"".join(b"%d %s" % (len(m), m) for _, m in messages)
    for address in addresses:
        with connect_when_listening(address) as s:
            s.sendall(frames)
            s.shutdown(socket.SHUT_WR)
    wait_for(files, len(messages))


def connect_when_listening(address):
    """A TCP connection from SENDER; retried for WAIT seconds while refused (rsyslog's imtcp may
    start listening a moment after its UDP input answered the readiness probe)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return tcp_connect(address, timeout=WAIT, source=SENDER)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def wait_for(files, count):
    """Until each file (path, lines before) holds count more lines, at most WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while any(count_lines(path) < before + count for path, before in files):
        if time.monotonic() > deadline:
            raise AssertionError("after %.0f s: %s, expected %d more lines each" % (
                WAIT, ", ".join("%s has %d" % (p, count_lines(p) - b) for p, b in files), count))
        time.sleep(0.02)


def run_servers(netd, rsyslog, messages, transport):
    """Sends messages to both over transport; returns the Comparison of what they wrote."""
    netd_file = netd.path(transport + ".json")
    rsyslog_file = rsyslog.path(transport + ".json")
    netd_before = len(read_lines(netd_file)) if os.path.exists(netd_file) else 0
    rsyslog_before = len(rsyslog.records(transport)) if os.path.exists(rsyslog_file) else 0
    files = [(netd_file, count_lines(netd_file)), (rsyslog_file, count_lines(rsyslog_file))]
    if transport == "udp":
        send_udp(messages, [netd.addr("udp_in", "udp"), ("127.0.0.1", rsyslog.udp_port)], files)
    else:
        send_tcp(messages, [netd.addr("tcp_in", "tcp"), ("127.0.0.1", rsyslog.tcp_port)], files)
    netd_records = [json.loads(line) for line in read_lines(netd_file)][netd_before:]
    rsyslog_records = rsyslog.records(transport)[rsyslog_before:]
    if len(netd_records) != len(messages) or len(rsyslog_records) != len(messages):
        raise AssertionError("sent %d messages; netd wrote %d records, rsyslog %d" % (
            len(messages), len(netd_records), len(rsyslog_records)))
    return Comparison(messages, netd_records, rsyslog_records)


def start_rsyslogd():
    """A running Rsyslogd, or unittest.SkipTest saying why there is none."""
    if RSYSLOGD is None:
        raise unittest.SkipTest("rsyslogd is not installed (Debian package rsyslog; scripts/setup "
                                "installs it): netd's parser is not compared with rsyslog's")
    rsyslog = Rsyslogd()
    try:
        why = rsyslog.start_and_wait()
    except BaseException:
        rsyslog.cleanup()
        raise
    if why is not None:
        rsyslog.cleanup()
        raise unittest.SkipTest("rsyslogd cannot run here, netd's parser is not compared with "
                                "rsyslog's: " + why)
    return rsyslog


class AgreesWithRsyslog(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.rsyslog = start_rsyslogd()
        cls.addClassCleanup(cls.rsyslog.cleanup)
        cls.netd = shared_netd(cls, NETD_CONFIG)

    def check(self, messages, transport):
        comparison = run_servers(self.netd, self.rsyslog, messages, transport)
        problems = comparison.unexpected()
        if problems:
            self.fail("%d unexpected difference(s) with rsyslog over %s:\n%s\n\n%s" % (
                len(problems), transport, "\n".join(problems), comparison.table()))

    def test_corpus_over_udp(self):
        self.check(load_corpus(), "udp")

    def test_corpus_over_tcp_octet_counted(self):
        self.check(load_corpus(), "tcp")

    @NEED_LOGGER
    def test_util_linux_logger_in_every_framing(self):
        """What the installed logger sends, over UDP and TCP and to a socket, replayed to both."""
        messages = capture_logger()
        self.assertEqual(len(messages), len(LOGGER_NETWORK) + 2 + len(LOGGER_SOCKET))
        self.check(messages, "udp")


class ExpectedDifferences(unittest.TestCase):

    def test_name_corpus_messages_fields_and_reasons(self):
        ids = {ident for ident, _ in load_corpus()}
        for ident, fields in EXPECTED_DIFFERENCES.items():
            self.assertIn(ident, ids, "EXPECTED_DIFFERENCES names a message not in the corpus")
            for field, reason in fields.items():
                self.assertIn(field, FIELDS, ident)
                self.assertIn(reason, REASONS, ident)


def print_table(netd_binary):
    """The --table report: agreement per field over UDP, then every difference."""
    if netd_binary:
        os.environ["NETD_BIN"] = os.path.abspath(netd_binary)
    rsyslog = start_rsyslogd()
    try:
        with Netd(NETD_CONFIG) as netd:
            sections = {}
            messages = load_corpus(sections=sections)
            if HAVE_UTIL_LINUX_LOGGER:
                messages += capture_logger()
            comparison = run_servers(netd, rsyslog, messages, "udp")
    finally:
        rsyslog.cleanup()
    print("netd: %s; rsyslogd: %s; %d messages (%d from the corpus), over UDP\n" % (
        os.environ.get("NETD_BIN", "build/netd"), RSYSLOGD, len(messages), len(load_corpus())))
    print(comparison.table())
    print()
    print(comparison.sections_table(sections))
    print("\nDifferences (id, field, netd, rsyslog, reason):")
    for ident, field, n, r in comparison.differences():
        reason = EXPECTED_DIFFERENCES.get(ident, {}).get(field, "UNEXPECTED")
        print("  %-28s %-9s netd %-40r rsyslog %-40r %s" % (ident, field, n, r, reason))


if __name__ == "__main__":
    if "--table" in sys.argv:
        args = sys.argv[1:]
        binary = args[args.index("--netd") + 1] if "--netd" in args else None
        try:
            print_table(binary)
        except unittest.SkipTest as e:
            print("skipped: %s" % e)
        sys.exit(0)
    unittest.main(verbosity=2)
