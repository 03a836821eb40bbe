"""SPEC 6: `log_target` = console (with `<N>` priority prefixes when stderr is the journal stream),
syslog, journal or file:PATH. The syslog and journal tests stand in for the system's daemons by
binding their sockets (/dev/log, /run/systemd/journal/socket), so they need root and a machine
where those daemons do not run; elsewhere they skip."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import shutil
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import Netd, clean_env, netd_bin, run_netd  # noqa: E402

CONFIG = "[echo]\ntcp = 127.0.0.1:0\n"


def stand_in(path):
    """A datagram socket bound at path, if path is free and we may bind it; else None."""
    if os.path.exists(path) or os.geteuid() != 0:
        return None
    os.makedirs(os.path.dirname(path), exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5)
    return s


class LogTargets(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="netd-logtarget-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.config = os.path.join(self.dir, "netd.ini")
        with open(self.config, "w") as f:
            f.write(CONFIG)

    def run_briefly(self, target, **kwargs):
        proc = subprocess.Popen([netd_bin(), "--config", self.config, "--server.log_target=" + target],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, **kwargs)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def collect(self, sock, until):
        seen = []
        while not any(until in m for m in seen):
            seen.append(sock.recv(4096).decode(errors="replace"))
        return seen

    def test_file(self):
        path = os.path.join(self.dir, "netd.log")
        proc = self.run_briefly("file:" + path, stderr=subprocess.PIPE, env=clean_env())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.exists(path):
                with open(path) as f:
                    if "ready:" in f.read():
                        break
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        self.assertEqual(proc.stderr.read(), b"", "a file target writes nothing to stderr")
        proc.stderr.close()
        with open(path) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^\S+Z info \[echo\] listening on tcp 127\.0\.0\.1:\d+$")
        self.assertRegex(text, r"(?m)^\S+Z info stopped$")

    def test_file_target_must_be_absolute_and_writable(self):
        r = run_netd(CONFIG, ["--server.log_target=file:relative.log"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("[server] log_target: 'file:relative.log' needs an absolute path", r.stderr)
        r = run_netd(CONFIG, ["--server.log_target=file:/nonexistent-dir/netd.log"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot open /nonexistent-dir/netd.log", r.stderr)

    def test_console_speaks_the_journal_stream_protocol(self):
        read_end, write_end = os.pipe()
        st = os.fstat(write_end)
        env = clean_env({"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)})
        proc = self.run_briefly("console", stderr=write_end, env=env)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as stream:
            first = stream.readline().decode()
            proc.send_signal(signal.SIGTERM)
            rest = stream.read().decode()
        self.assertEqual(proc.wait(10), 0)
        self.assertRegex(first, r"^<6>\[echo\] listening on tcp 127\.0\.0\.1:\d+\n$")
        self.assertIn("<6>stopped\n", rest)

    def test_console_without_the_journal_keeps_timestamps(self):
        with Netd(CONFIG) as n:
            self.assertRegex(n.stderr_lines[0], r"^\d{4}-\d\d-\d\dT\S+Z info ")

    def test_syslog(self):
        sock = stand_in("/dev/log")
        if sock is None:
            self.skipTest("needs root and a free /dev/log")
        self.addCleanup(os.unlink, "/dev/log")
        self.addCleanup(sock.close)
        proc = self.run_briefly("syslog", stderr=subprocess.DEVNULL, env=clean_env())
        seen = self.collect(sock, "ready:")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        # <30> = facility daemon (3) * 8 + priority info (6)
        self.assertRegex(seen[0], r"^<30>.* netd\[%d\]: \[echo\] listening on tcp" % proc.pid)

    def test_journal(self):
        path = "/run/systemd/journal/socket"
        sock = stand_in(path)
        if sock is None:
            self.skipTest("needs root and no running journald")
        self.addCleanup(os.unlink, path)
        self.addCleanup(sock.close)
        proc = self.run_briefly("journal", stderr=subprocess.DEVNULL, env=clean_env())
        seen = self.collect(sock, "ready:")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        fields = dict(line.split("=", 1) for line in seen[0].splitlines())
        self.assertEqual(fields["SYSLOG_IDENTIFIER"], "netd")
        self.assertEqual(fields["PRIORITY"], "6")
        self.assertRegex(fields["MESSAGE"], r"^\[echo\] listening on tcp 127\.0\.0\.1:\d+$")
        self.assertNotIn("CODE_FILE", fields)


if __name__ == "__main__":
    unittest.main(verbosity=2)
