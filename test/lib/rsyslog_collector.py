"""A real rsyslogd on loopback, run by the tests and benchmarks: as a collector that writes every
record it receives field by field, or with a configuration of the caller's own.

rsyslogd runs in the foreground (`rsyslogd -n -f CONF -i PIDFILE`) with its configuration, pid
file and work directory in a temporary directory of its own: it loads no journal, kmsg or system
socket module (no /dev/log), reads nothing under /etc, writes nothing under /var, listens on
127.0.0.1 only, on a port above 1024, so it runs as any user. It is killed however the test ends
(netd_harness's process handling: a parent-death signal, an atexit sweep).

* ``RsyslogProcess(config)``: rsyslogd with the configuration ``config(tmpdir)`` returns
  (``{tmp}/work`` exists as its work directory).
* ``Collector(transport)``: a collector listening on a free port with
  - ``tcp``: imtcp (RFC 6587 octet-counted frames, and LF-ended lines);
  - ``relp``: imrelp (Debian package rsyslog-relp);
  - ``tls``: imtcp over TLS with rsyslog's OpenSSL stream driver (rsyslog-openssl), the server
    certificate from tls_certs; ``client_auth=True`` wants a client certificate of the test CA.
  Every message it receives is one line of JSON in ``records.json`` (FIELDS below, each on its
  own). ``start()`` waits until the port accepts connections; ``stop()`` (SIGTERM), ``kill()``
  (SIGKILL) and ``start()`` again restart it on the same port with the same file.
  ``records()`` reads them back; ``count()`` counts them cheaply. ``durable=False``: rsyslog's
  in-memory main queue instead of a Direct one (COLLECTOR_CONFIG says why tests want that).
* ``why_not(transport)``: None if a collector for transport can run here, else the reason (a
  test skips with it).
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import time

from netd_harness import NetdProcess, free_port  # noqa: F401 (used here and re-exported)

RSYSLOGD = shutil.which("rsyslogd") or next(
    (p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if os.access(p, os.X_OK)), None)
MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog",
               "/usr/lib/rsyslog")


def module_path(name):
    """The path of rsyslog's loadable module NAME (e.g. imrelp), or None if not installed."""
    return next((os.path.join(d, name + ".so") for d in MODULE_DIRS
                 if os.path.exists(os.path.join(d, name + ".so"))), None)


OSSL_DRIVER = module_path("lmnsd_ossl")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

# What each transport needs beyond rsyslogd: (module, Debian package).
NEEDS = {"tcp": [], "relp": [("imrelp", "rsyslog-relp"), ("omrelp", "rsyslog-relp")],
         "tls": [("lmnsd_ossl", "rsyslog-openssl")]}


def why_not(transport="tcp"):
    """None if rsyslogd with what transport needs is installed, else why not (scripts/setup
    installs all of it)."""
    if RSYSLOGD is None:
        return "rsyslogd is not installed (Debian package rsyslog; scripts/setup installs it)"
    for module, package in NEEDS[transport]:
        if module_path(module) is None:
            return "rsyslog's %s module is not installed (Debian package %s; scripts/setup " \
                   "installs it)" % (module, package)
    return None


def accepts(port, host="127.0.0.1"):
    """True if something accepts a TCP connection on host:port now."""
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


class LineCounter:
    """How many complete lines the file at path holds, read incrementally: cheap to call in a
    loop while the file grows (0 while it does not exist)."""

    def __init__(self, path):
        self.path = path
        self._offset = 0
        self._lines = 0

    def count(self):
        with contextlib.suppress(FileNotFoundError):
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
            end = data.rfind(b"\n") + 1
            self._lines += data.count(b"\n", 0, end)
            self._offset += end
        return self._lines


class RsyslogProcess(NetdProcess):
    """rsyslogd in the foreground with the configuration config(tmpdir) returns; its work
    directory is {tmp}/work."""

    def __init__(self, config):
        super().__init__(config, ["-n", "-f", "{tmp}/rsyslog.conf", "-i", "{tmp}/rsyslogd.pid"],
                         config_name="rsyslog.conf", pass_config=False, binary=RSYSLOGD,
                         setup=lambda tmp: os.makedirs(os.path.join(tmp, "work"), exist_ok=True))

    def wait_listening(self, port, timeout=START_TIMEOUT):
        """Until port accepts connections (None) or rsyslogd exits or timeout passes (why)."""
        deadline = time.monotonic() + timeout
        while not accepts(port):
            if self.proc.poll() is not None:
                return "rsyslogd exited with status %d: %s" % (self.proc.returncode,
                                                               self.stderr[-2000:])
            if time.monotonic() > deadline:
                return "rsyslogd did not listen on port %d within %.0f s: %s" % (
                    port, timeout, self.stderr[-2000:])
            time.sleep(0.05)
        return None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """sig, then up to timeout for it to exit; SIGKILL if it has not. The exit status."""
        rc = super().stop(sig, timeout)
        if rc is None:
            self.kill()
            rc = self.proc.returncode
        return rc


# Each field of a record on its own, as rsyslog parsed it (RFC 5424 names).
FIELDS = ("pri", "timestamp", "hostname", "app", "procid", "msgid", "sd", "msg", "fromhost")

def jsonf_template(name, fields):
    """An rsyslog list template writing one JSON object a line: fields is [(key, property)] or
    [(key, property, extra attributes)]."""
    lines = ['template(name="%s" type="list" option.jsonf="on") {' % name]
    for key, prop, *extra in fields:
        lines.append('    property(outname="%s" name="%s"%s format="jsonf")'
                     % (key, prop, "".join(" " + e for e in extra)))
    return "\n".join(lines + ["}"]) + "\n"


FIELDS_TEMPLATE = jsonf_template("fields", [
    ("pri", "pri"), ("timestamp", "timereported", 'dateFormat="rfc3339"'),
    ("hostname", "hostname"), ("app", "app-name"), ("procid", "procid"), ("msgid", "msgid"),
    ("sd", "structured-data"), ("msg", "msg"), ("fromhost", "fromhost-ip")])

# durable (the default): the main queue is Direct, so a message is written (omfile, one write
# per batch) before the input takes the next, and what imrelp acknowledged is in the file even
# when the collector is SIGKILLed (with a queue in memory it would be lost with the process:
# rsyslog's loss, not the sender's). durable=False keeps rsyslog's default in-memory main queue
# (the benchmarks' collector: the input is not held up by the file).
COLLECTOR_CONFIG = """\
global(workDirectory="{tmp}/work" net.enableDNS="off" maxMessageSize="64k"
       parser.escapeControlCharactersOnReceive="off"{tls_files})
{main_queue}
{template}
ruleset(name="collect") {{
    action(type="omfile" file="{tmp}/records.json" template="fields")
}}
{input}
"""

INPUTS = {
    "tcp": 'module(load="imtcp")\n'
           'input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="collect")',
    "relp": 'module(load="imrelp")\n'
            'input(type="imrelp" address="127.0.0.1" port="{port}" ruleset="collect")',
    "tls": 'module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" '
           'StreamDriver.AuthMode="{auth}")\n'
           'input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="collect")',
}


class Collector(RsyslogProcess):
    """rsyslogd as a syslog collector on a free loopback port (see the module's text)."""

    def __init__(self, transport="tcp", *, certs=None, client_auth=False, port=None,
                 durable=True):
        if transport not in INPUTS:
            raise ValueError("transport must be tcp, relp or tls, not %r" % transport)
        self.transport = transport
        self.port = port or free_port()
        tls_files = ""
        if transport == "tls":
            tls_files = ('\n       DefaultNetstreamDriverCAFile="%s"'
                         '\n       DefaultNetstreamDriverCertFile="%s"'
                         '\n       DefaultNetstreamDriverKeyFile="%s"'
                         % (certs.path("ca.pem"), certs.path("server.pem"),
                            certs.path("server.key")))
        auth = "x509/certvalid" if client_auth else "anon"
        super().__init__(lambda tmp: COLLECTOR_CONFIG.format(
            tmp=tmp, tls_files=tls_files, template=FIELDS_TEMPLATE,
            main_queue='main_queue(queue.type="Direct")' if durable else "",
            input=INPUTS[transport].format(port=self.port, auth=auth)))
        self._counter = LineCounter(self.file)

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.transport, self.port)

    @property
    def file(self):
        return self.path("records.json")

    def start(self, timeout=START_TIMEOUT):
        """Starts rsyslogd and waits until it listens; AssertionError saying why if it does not."""
        with contextlib.suppress(FileNotFoundError):  # left by a SIGKILLed one
            os.unlink(self.path("rsyslogd.pid"))
        super().start()
        why = self.wait_listening(self.port, timeout)
        if why is not None:
            raise AssertionError(why)
        return self

    def count(self):
        """Records in the file so far (read incrementally: cheap to call in a loop)."""
        return self._counter.count()

    def wait_count(self, n, timeout, progress_timeout=None):
        """Until the file holds at least n records; False if timeout passes first, or
        progress_timeout passes without a new record."""
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        while True:
            now = self.count()
            if now >= n:
                return True
            t = time.monotonic()
            if now != last:
                last, last_change = now, t
            if t > deadline or progress_timeout and t - last_change > progress_timeout:
                return False
            time.sleep(0.05)

    def records(self):
        """Every record in the file (complete lines), a dict of FIELDS (str; bytes not UTF-8 as
        surrogates)."""
        with contextlib.suppress(FileNotFoundError):
            with open(self.file, "rb") as f:
                data = f.read()
            data = data[:data.rfind(b"\n") + 1]  # not a line rsyslogd is writing now
            return [json.loads(line.decode("utf-8", "surrogateescape"))
                    for line in data.split(b"\n") if line]
        return []


def start_collector(test_case, transport="tcp", **kwargs):
    """A started Collector, stopped by a cleanup of test_case (a TestCase, or a class in
    setUpClass); unittest.SkipTest saying why when rsyslog cannot run one here."""
    import unittest
    why = why_not(transport)
    if why is not None:
        raise unittest.SkipTest(why)
    collector = Collector(transport, **kwargs)
    add_cleanup = getattr(test_case, "addCleanup", None) or test_case.addClassCleanup
    add_cleanup(collector.cleanup)
    try:
        collector.start()
    except AssertionError as e:
        if "exited" in str(e):
            raise unittest.SkipTest("rsyslogd cannot run here: %s" % e) from None
        raise
    return collector

