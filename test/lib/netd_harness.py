"""Test harness for running the netd binary from Python unittest.

Everything here is bounded in time and confined to loopback:

* ``Netd`` is a context manager: it writes a config into a fresh temporary
  directory, starts ``$NETD_BIN --config FILE [args]``, collects stderr in a
  background thread, waits (bounded) for the ``ready:`` log line and parses the
  ``[SERVICE] listening on KIND ADDRESS`` lines.  On exit it sends SIGTERM,
  waits (bounded), optionally asserts exit status 0, and *always* kills the
  process if it is still alive and removes the temporary directory.
* ``run_netd`` runs the binary once for the cases that must exit by
  themselves (``--check-config``, ``--help``, ``--version``, bad configs).  If
  such a run prints ``ready:`` (it started serving) or does not exit in time it
  is killed and the result says so.
* Socket helpers create sockets that always carry a timeout.

The config text may contain the placeholder ``{tmp}``; it is replaced by the
temporary directory (so Unix socket paths can live there).  A callable
``config(tmpdir) -> str`` is accepted too.
"""

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import unittest
import time

DEFAULT_BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "netd")
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
RUN_TIMEOUT = 10.0
IO_TIMEOUT = 5.0

# Environment variables that would switch netd into systemd behaviour.
_SYSTEMD_ENV = (
    "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
    "JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID",
)

# `<RFC3339 timestamp> <level> <message>`
LOG_LINE_RE = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2}))"
    r" (?P<level>trace|debug|info|warning|error|fatal) (?P<msg>.*)$")
LISTEN_RE = re.compile(
    r"\[(?P<service>[^\]\s]+)\] listening on (?P<kind>tcp|udp|unixgram|unix|tls) (?P<addr>\S+)\s*$")


# The concurrency model every serving netd runs in, unless its test names one: the integration
# suite runs once per mode (ctest sets NETD_MODE), so every handler and transport is tested in all.
MODE = os.environ.get("NETD_MODE", "")
POOL_THREADS = 2
# Set by scripts/sanitize when netd is a sanitizer build: tests of memory bounds and of
# throughput-dependent behaviour skip themselves (shadow memory, 5-15x slower code).
SANITIZER = os.environ.get("NETD_SANITIZER", "")


def mode_args(config_text, args):
    """The command-line flags that put a netd into MODE, unless its config or args choose."""
    if not MODE or any(a.startswith("--server.mode") for a in args) or \
            re.search(r"(?m)^\s*mode\s*=", config_text or ""):
        return []
    extra = ["--server.mode=" + MODE]
    if MODE == "pool" and not any(a.startswith("--server.threads") for a in args) and \
            not re.search(r"(?m)^\s*threads\s*=", config_text or ""):
        extra.append("--server.threads=%d" % POOL_THREADS)
    return extra


def netd_bin():
    # Absolute, because netd runs with a temp dir as its working directory.
    return os.path.abspath(os.environ.get("NETD_BIN", DEFAULT_BIN))


def test_server_bin():
    """netd_test_server: netd plus the test-only `faulty` handler (test/support)."""
    default = os.path.join(os.path.dirname(DEFAULT_BIN), "netd_test_server")
    return os.path.abspath(os.environ.get("NETD_TEST_BIN", default))


def require_binary(path=None):
    """The binary's path; AssertionError if it is missing.

    A missing binary is a failure, not a skip: the suite exists to test it.
    """
    path = path or netd_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError("netd binary not found or not executable: %r "
                             "(set NETD_BIN)" % path)
    return path


def clean_env(extra=None):
    env = dict(os.environ)
    for k in _SYSTEMD_ENV:
        env.pop(k, None)
    env.setdefault("LC_ALL", "C")
    if extra:
        env.update(extra)
    return env


def log_message(line):
    """The message part of a log line (the whole line if it is not in log format)."""
    m = LOG_LINE_RE.match(line)
    return m.group("msg") if m else line


def is_ready_line(line):
    return log_message(line).startswith("ready:")


def parse_address(kind, text):
    """'127.0.0.1:41234' -> ('127.0.0.1', 41234); '[::1]:41234' -> ('::1', 41234);
    Unix kinds: the path unchanged."""
    if kind in ("unix", "unixgram"):
        return text
    m = re.match(r"^\[(?P<host>[^\]]+)\]:(?P<port>\d+)$", text) or \
        re.match(r"^(?P<host>[^:\[\]]+):(?P<port>\d+)$", text)
    if not m:
        raise ValueError("unparsable %s address %r" % (kind, text))
    return (m.group("host"), int(m.group("port")))


def parse_listeners(lines):
    """{service: {kind: [address, ...]}} from stderr lines, in log order."""
    result = {}
    for line in lines:
        m = LISTEN_RE.search(log_message(line))
        if not m:
            continue
        addr = parse_address(m.group("kind"), m.group("addr"))
        result.setdefault(m.group("service"), {}).setdefault(m.group("kind"), []).append(addr)
    return result


def error_lines(stderr_text):
    """Lines of stderr that start with 'netd: ' (the config error line)."""
    return [l for l in stderr_text.splitlines() if l.startswith("netd: ")]


# ---------------------------------------------------------------------------
# Process management

_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - non-Linux
    _prctl = None


ASYNC_SIGNALS = frozenset({signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGCHLD})


def blocked_signals(pid, tid):
    """Which of the signals netd handles (ASYNC_SIGNALS) thread tid of process pid blocks."""
    with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
        mask = int(next(line.split()[1] for line in f if line.startswith("SigBlk:")), 16)
    return {sig for sig in ASYNC_SIGNALS if mask & (1 << (sig - 1))}


def thread_ids(pid):
    return sorted(int(t) for t in os.listdir("/proc/%d/task" % pid))


def _child_setup():
    # Make the kernel kill netd if the test process dies without cleaning up.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


_live = set()
_live_lock = threading.Lock()


def _kill_leftovers():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        with contextlib.suppress(Exception):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)


import atexit  # noqa: E402
atexit.register(_kill_leftovers)


def pid_alive(pid):
    """True if a process with this pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def pids_with_arg(substr):
    """Live (non-zombie) processes whose command line contains substr."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if substr in cmdline and pid_alive(int(entry)):
            found.append(int(entry))
    return found


def child_pids(pid):
    """Direct children of pid (from /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def rss_kib(pid, field="VmRSS", children=False):
    """Resident memory (or VmHWM: its peak) of pid, KiB; with children, plus that of its direct
    children (fork mode's connections). A process that is gone counts 0."""
    total = 0
    for p in [pid] + (child_pids(pid) if children else []):
        try:
            with open("/proc/%d/status" % p) as f:
                total += next(int(line.split()[1]) for line in f if line.startswith(field + ":"))
        except (OSError, StopIteration):
            if p == pid:
                raise AssertionError("no %s for pid %d" % (field, pid))
    return total


def count_lines(path):
    """How many lines the file at path holds (0 while it does not exist): records, for a test
    that waits for a log file to fill."""
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_until(predicate, timeout=5.0, step=0.02):
    """predicate() until it is true or timeout passes; its last answer (fork mode frees a limit
    only when the child is reaped, a writer thread writes a moment later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def only_in(mode):
    """Runs a mode-specific test once: in that mode's pass of the suite (or when no pass is set)."""
    return unittest.skipUnless(MODE in ("", mode), "tested in the %s pass of the suite" % mode)


class NetdProcess:
    """One netd process with its temporary directory and captured output."""

    def __init__(self, config=None, args=(), *, env=None, config_name="netd.ini",
                 pass_config=True, setup=None, binary=None):
        self.tmpdir = tempfile.mkdtemp(prefix="netd-")
        self.setup = setup  # setup(tmpdir), called by start() before the process starts
        self.config_path = None
        if config is not None:
            text = config(self.tmpdir) if callable(config) else config.replace("{tmp}", self.tmpdir)
            self.config_path = os.path.join(self.tmpdir, config_name)
            with open(self.config_path, "w") as f:
                f.write(text)
        self.argv = [binary or netd_bin()]
        if pass_config and self.config_path is not None:
            self.argv += ["--config", self.config_path]
        self.argv += [a.replace("{tmp}", self.tmpdir) for a in args]
        self.env = clean_env(env)
        self.proc = None
        self._cond = threading.Condition()
        self._err_lines = []
        self._out_chunks = []
        self._threads = []
        self._ready = False
        self.returncode = None

    # -- output collection -------------------------------------------------
    def _read_stderr(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._cond:
                self._err_lines.append(line)
                if is_ready_line(line):
                    self._ready = True
                self._cond.notify_all()
        stream.close()
        with self._cond:
            self._cond.notify_all()

    def _read_stdout(self, stream):
        for chunk in iter(lambda: stream.read1(65536), b""):
            with self._cond:
                self._out_chunks.append(chunk)
        stream.close()

    @property
    def pid(self):
        return self.proc.pid

    @property
    def stderr_lines(self):
        with self._cond:
            return list(self._err_lines)

    @property
    def stderr(self):
        return "\n".join(self.stderr_lines)

    @property
    def stdout(self):
        with self._cond:
            return b"".join(self._out_chunks).decode("utf-8", "replace")

    @property
    def ready(self):
        with self._cond:
            return self._ready

    def start(self):
        require_binary(self.argv[0])
        if self.setup is not None:
            self.setup(self.tmpdir)
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self.env, cwd=self.tmpdir,
            preexec_fn=_child_setup, close_fds=True)
        with _live_lock:
            _live.add(self.proc)
        for target, stream in ((self._read_stderr, self.proc.stderr),
                               (self._read_stdout, self.proc.stdout)):
            t = threading.Thread(target=target, args=(stream,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    # -- waiting -------------------------------------------------------------
    def wait_ready_or_exit(self, timeout=READY_TIMEOUT):
        """Wait until 'ready:' is logged or the process exits (then with all it wrote read, so
        that stderr is whole). Returns 'ready', 'exit' or 'timeout'."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._ready:
                    return "ready"
                if self.proc.poll() is not None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return "timeout"
                self._cond.wait(min(left, 0.05))
        self._join_readers()  # outside the lock: the readers take it for every line
        return "exit"

    def wait_for_line(self, pattern, timeout=IO_TIMEOUT):
        """Wait for a stderr line matching the regex; return the match or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._err_lines:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self._threads_alive():
                    return None
                self._cond.wait(min(left, 0.05))

    def _threads_alive(self):
        return any(t.is_alive() for t in self._threads)

    def wait_exit(self, timeout):
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._join_readers()
        return self.returncode

    def _join_readers(self, timeout=5.0):
        for t in self._threads:
            t.join(timeout)

    def send_signal(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send sig, wait up to timeout. Returns the exit status, or None if the
        process did not exit in time (it is then still running: call kill())."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)

    def strays(self):
        """Processes other than the one we started (e.g. a forked-off daemon)
        whose command line carries this run's temp dir."""
        return [p for p in pids_with_arg(self.tmpdir)
                if self.proc is None or p != self.proc.pid]

    def cleanup(self):
        """Kill if alive (and any stray started with our temp dir in its command
        line), join readers, remove the temp dir. Idempotent."""
        try:
            self.kill()
            if self.proc is not None:
                for pid in self.strays():
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                self._join_readers()
                with _live_lock:
                    _live.discard(self.proc)
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmpdir, *parts)

    def threads(self):
        """Where each thread of a live netd is and which signals it blocks, has pending and
        catches (/proc/PID/task/TID/status, wchan): what a stuck shutdown leaves to read."""
        lines = ["--- threads ---"]
        with contextlib.suppress(OSError, TypeError):
            for tid in sorted(os.listdir("/proc/%d/task" % self.proc.pid), key=int):
                task = "/proc/%d/task/%s/" % (self.proc.pid, tid)
                with contextlib.suppress(OSError):
                    with open(task + "status") as f:
                        fields = dict(line.split(":", 1) for line in f if ":" in line)
                    with open(task + "wchan") as f:
                        wchan = f.read()
                    lines.append("%s %s: state %s wchan %s SigPnd %s ShdPnd %s SigBlk %s SigCgt %s" % (
                        tid, fields["Name"].strip(), fields["State"].strip(), wchan or "-",
                        *(fields[k].strip() for k in ("SigPnd", "ShdPnd", "SigBlk", "SigCgt"))))
        return "\n".join(lines)

    def describe(self):
        rc = self.proc.poll() if self.proc else None
        return "argv=%r rc=%r\n--- stderr ---\n%s\n--- stdout ---\n%s" % (
            self.argv, rc, self.stderr, self.stdout)


class Netd(NetdProcess):
    """Context manager around a serving netd.

        with Netd(CONFIG) as n:
            host, port = n.addr("echo", "tcp")

    On exit: SIGTERM, bounded wait, exit status 0 asserted when
    ``check_exit`` is true (and the body did not already fail), process killed
    if still alive, temp dir removed.
    """

    def __init__(self, config, args=(), *, check_exit=True, ready_timeout=READY_TIMEOUT,
                 stop_timeout=STOP_TIMEOUT, env=None, setup=None, binary=None):
        super().__init__(config, args, env=env, setup=setup, binary=binary)
        config_text = None
        if self.config_path is not None:
            with open(self.config_path) as f:
                config_text = f.read()
        self.argv += mode_args(config_text, self.argv)
        self.check_exit = check_exit
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.listeners = {}

    def __enter__(self):
        try:
            self.start()
            state = self.wait_ready_or_exit(self.ready_timeout)
            if state != "ready":
                if state == "exit":
                    self.wait_exit(5)
                what = {"exit": "exited before logging 'ready:'",
                        "timeout": "did not log 'ready:' within %.0f s" % self.ready_timeout}[state]
                raise AssertionError("netd %s\n%s" % (what, self.describe()))
            self.listeners = parse_listeners(self.stderr_lines)
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.proc.poll() is None:
                rc = self.stop(signal.SIGTERM, self.stop_timeout)
            else:
                rc = self.wait_exit(5)
            if self.check_exit and exc_type is None:
                if rc is None:
                    raise AssertionError("netd did not exit within %.0f s of SIGTERM\n%s\n%s"
                                         % (self.stop_timeout, self.threads(), self.describe()))
                if rc != 0:
                    raise AssertionError("netd exited with status %r after SIGTERM, expected 0\n%s"
                                         % (rc, self.describe()))
                stray = self.strays()
                if stray:
                    raise AssertionError("processes still running after netd exited: %r\n%s"
                                         % (stray, self.describe()))
        finally:
            self.cleanup()
        return False

    def addrs(self, service, kind):
        try:
            return list(self.listeners[service][kind])
        except KeyError:
            raise AssertionError("no %s listener logged for [%s]; listeners=%r\n%s"
                                 % (kind, service, self.listeners, self.describe())) from None

    def addr(self, service, kind, index=0):
        a = self.addrs(service, kind)
        if index >= len(a):
            raise AssertionError("only %d %s listener(s) for [%s]: %r" % (len(a), kind, service, a))
        return a[index]


class RunResult:
    def __init__(self, returncode, stdout, stderr, served, timed_out, config_path, argv):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.served = served          # 'ready:' was logged
        self.timed_out = timed_out    # did not exit by itself within the timeout
        self.config_path = config_path
        self.argv = argv

    def describe(self):
        return "argv=%r rc=%r served=%r timed_out=%r\n--- stderr ---\n%s\n--- stdout ---\n%s" % (
            self.argv, self.returncode, self.served, self.timed_out, self.stderr, self.stdout)


def shared_netd(test_class, *args, **kwargs):
    """One netd for a whole test class: started now (in setUpClass), stopped by a class cleanup
    however the tests end. Arguments as for Netd."""
    netd = Netd(*args, **kwargs)
    netd.__enter__()
    test_class.addClassCleanup(netd.__exit__, None, None, None)
    return netd


def run_netd(config=None, args=(), *, timeout=RUN_TIMEOUT, pass_config=True, env=None,
             setup=None):
    """Run netd to completion (bounded). A run that logs 'ready:' is killed at once.

    setup(tmpdir) is called after the temp dir exists and before the start.
    """
    p = NetdProcess(config, args, env=env, pass_config=pass_config, setup=setup)
    try:
        p.start()
        state = p.wait_ready_or_exit(timeout)
        served = state == "ready"
        timed_out = state == "timeout"
        if state == "exit":
            rc = p.wait_exit(5)
        else:
            p.kill()
            p._join_readers()
            rc = p.proc.returncode
        return RunResult(rc, p.stdout, p.stderr, served, timed_out, p.config_path, p.argv)
    finally:
        p.cleanup()


# ---------------------------------------------------------------------------
# Socket helpers (every socket has a timeout)

def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def tcp_connect(addr, timeout=IO_TIMEOUT, source=None):
    """A TCP connection to addr; from the local address source if given (127.0.0.2, ...)."""
    host, port = addr
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if source is not None:
            s.bind((source, 0))
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def unix_connect(path, timeout=IO_TIMEOUT):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except BaseException:
        s.close()
        raise
    return s


def stream_connect(kind, addr, timeout=IO_TIMEOUT):
    return unix_connect(addr, timeout) if kind == "unix" else tcp_connect(addr, timeout)


def udp_socket(host="127.0.0.1", timeout=IO_TIMEOUT, port=0):
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.bind((host, port))
    except BaseException:
        s.close()
        raise
    return s


def unixgram_socket(path, timeout=IO_TIMEOUT):
    """A Unix datagram socket bound to path (needed to receive the reply)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.bind(path)
    except BaseException:
        s.close()
        raise
    return s


def recv_exact(sock, n, deadline=None):
    buf = bytearray()
    while len(buf) < n:
        _check_deadline(deadline, "recv_exact(%d): got %d bytes" % (n, len(buf)))
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise AssertionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_until_eof(sock, limit=256 << 20, deadline=None):
    buf = bytearray()
    while True:
        _check_deadline(deadline, "recv_until_eof: got %d bytes, no EOF" % len(buf))
        chunk = sock.recv(1 << 20)
        if not chunk:
            return bytes(buf)
        buf += chunk
        if len(buf) > limit:
            raise AssertionError("more than %d bytes received" % limit)


def _check_deadline(deadline, what):
    if deadline is not None and time.monotonic() > deadline:
        raise AssertionError("deadline exceeded: " + what)


def stream_roundtrip(sock, payload, timeout=30.0):
    """Send payload from a sender thread, half-close, read until EOF while it sends.
    Returns the bytes received. Bounded by the socket timeout and `timeout`."""
    deadline = time.monotonic() + timeout
    err = []

    def sender():
        try:
            view = memoryview(payload)
            step = 64 * 1024
            for off in range(0, len(view), step):
                sock.sendall(view[off:off + step])
                if time.monotonic() > deadline:
                    raise AssertionError("sender deadline exceeded at %d bytes" % off)
            sock.shutdown(socket.SHUT_WR)
        except BaseException as e:  # reported by the caller
            err.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        got = recv_until_eof(sock, limit=len(payload) + (1 << 20), deadline=deadline)
    finally:
        t.join(max(0.1, deadline - time.monotonic()))
    if t.is_alive():
        raise AssertionError("sender thread still blocked after %.0f s" % timeout)
    if err:
        raise AssertionError("sender failed: %r" % (err[0],))
    return got


def exchange_from(source, addr, data):
    """data to addr from the local address source, half-closed: what comes back until the close
    (b"" for a refused connection or a reset). For clients through a balancer."""
    try:
        with tcp_connect(addr, source=source) as c:
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            return recv_until_eof(c)
    except OSError:
        return b""


def free_port(host="127.0.0.1"):
    """A TCP port free on host now (for a peer that binds it itself: rsyslog, HAProxy)."""
    with socket.socket(family_of(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port_holder(kind="tcp", host="127.0.0.1"):
    """A socket bound (and listening, for tcp) to an ephemeral port; caller closes it."""
    st = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family_of(host), st)
    s.settimeout(IO_TIMEOUT)
    s.bind((host, 0))
    if kind == "tcp":
        s.listen(16)
    return s


def deterministic_bytes(n, seed):
    import random
    return random.Random(seed).randbytes(n)


def fmt_addr(addr):
    if isinstance(addr, str):
        return addr
    host, port = addr
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def diff_summary(expected, got):
    """Short description of where two byte strings differ."""
    if expected == got:
        return "identical"
    n = min(len(expected), len(got))
    first = next((i for i in range(n) if expected[i] != got[i]), n)
    return "expected %d bytes, got %d; first difference at offset %d" % (len(expected), len(got), first)
