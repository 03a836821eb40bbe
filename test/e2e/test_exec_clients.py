"""exec (SPEC 7) side by side with Debian's xinetd: the same programs (/bin/cat, /bin/date, a
script that prints its environment) behind both, asked by the same real client (nc), must look
the same to it; and in.tftpd (tftpd-hpa) under `wait = yes` serves a file to the tftp-hpa client,
as it does under inetd. Loopback only; xinetd and netd run in the foreground on free ports and
are stopped at the end of each test. A missing xinetd, in.tftpd or tftp skips its tests, saying so.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from clients import CLIENT_TIMEOUT, NC, NEED_NC  # noqa: E402
from netd_harness import Netd, clean_env  # noqa: E402

XINETD = shutil.which("xinetd") or ("/usr/sbin/xinetd" if os.access("/usr/sbin/xinetd", os.X_OK) else None)
IN_TFTPD = "/usr/sbin/in.tftpd" if os.access("/usr/sbin/in.tftpd", os.X_OK) else None
TFTP = shutil.which("tftp")
NEED_XINETD = unittest.skipUnless(XINETD, "xinetd (package xinetd) is not installed")
NEED_TFTP = unittest.skipUnless(IN_TFTPD and TFTP, "tftpd-hpa's in.tftpd and the tftp-hpa client "
                                "(packages tftpd-hpa, tftp-hpa) are not installed")


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nc(port, data):
    """What OpenBSD nc prints for a connection to port that sends data, then ends its input."""
    r = subprocess.run([NC, "-N", "127.0.0.1", str(port)], input=data, capture_output=True,
                       timeout=CLIENT_TIMEOUT, env=clean_env())
    return r.stdout


class Xinetd:
    """xinetd in the foreground, serving the given `service` blocks, on loopback."""

    def __init__(self, directory, services):
        self.conf = os.path.join(directory, "xinetd.conf")
        with open(self.conf, "w") as f:
            f.write("defaults\n{\n    instances = UNLIMITED\n    cps = 10000 1\n"
                    "    log_on_success =\n    log_on_failure =\n}\n" + services)
        self.log = os.path.join(directory, "xinetd.log")
        open(self.log, "w").close()  # xinetd appends to it, but does not make it
        self.proc = subprocess.Popen(
            [XINETD, "-dontfork", "-f", self.conf, "-filelog", self.log,
             "-pidfile", os.path.join(directory, "xinetd.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())

    def wait_listening(self, ports):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
            if all(":%d " % p in out for p in ports):
                return
            if self.proc.poll() is not None:
                raise AssertionError("xinetd exited: %s" % open(self.log).read())
            time.sleep(0.05)
        raise AssertionError("xinetd did not listen on %r:\n%s" % (ports, open(self.log).read()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@NEED_NC
@NEED_XINETD
class SideBySide(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="netd-xinetd-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.env_script = os.path.join(self.dir, "env.sh")
        with open(self.env_script, "w") as f:
            # Which client (netd says REMOTE_ADDR as systemd does, xinetd REMOTE_HOST), the
            # PATH both were given, the arguments.
            f.write('#!/bin/sh\necho "client ${REMOTE_ADDR:-$REMOTE_HOST}"\necho "PATH=$PATH"\n'
                    'echo "args: $*"\n')
        os.chmod(self.env_script, 0o755)

    def test_the_same_programs_look_the_same_to_nc(self):
        programs = {"cat": ("/bin/cat", ""), "date": ("/bin/date", "-u +%Y-%m-%d"),
                    "env": (self.env_script, "one two")}
        xports = {name: free_port() for name in programs}
        services = ""
        netd_config = "[server]\nlog_level = info\n"
        for name, (program, args) in programs.items():
            services += ("service %s\n{\n    type = UNLISTED\n    socket_type = stream\n"
                         "    protocol = tcp\n    wait = no\n    user = root\n"
                         "    bind = 127.0.0.1\n    port = %d\n    server = %s\n"
                         "%s    env = PATH=/usr/bin:/bin\n}\n"
                         % (name, xports[name], program,
                            "    server_args = %s\n" % args if args else ""))
            netd_config += ("\n[%s]\nhandler = exec\ntcp = 127.0.0.1:0\nprogram = %s\nargs = %s\n"
                            % (name, program, args))
        xinetd = Xinetd(self.dir, services)
        try:
            xinetd.wait_listening(list(xports.values()))
            with Netd(netd_config) as n:
                for name in programs:
                    # Only cat reads: a program that exits with input unread makes the kernel
                    # reset the connection, which can destroy its output before nc reads it.
                    data = b"a line\nanother\n" if name == "cat" else b""
                    from_xinetd = nc(xports[name], data)
                    from_netd = nc(n.addr(name, "tcp")[1], data)
                    self.assertEqual(from_netd, from_xinetd, name)
                    self.assertTrue(from_netd, name)
        finally:
            xinetd.stop()


@NEED_TFTP
class Tftp(unittest.TestCase):

    def test_in_tftpd_under_wait_yes_serves_a_file(self):
        root = tempfile.mkdtemp(prefix="netd-tftp-")
        self.addCleanup(shutil.rmtree, root, True)
        os.chmod(root, 0o755)
        payload = bytes(range(256)) * 300  # 76,800 bytes: 150 blocks of 512
        with open(os.path.join(root, "boot.img"), "wb") as f:
            f.write(payload)
        os.chmod(os.path.join(root, "boot.img"), 0o644)
        config = ("[server]\nlog_level = info\n\n[tftp]\nhandler = exec\nudp = 127.0.0.1:0\n"
                  # -t 1: in.tftpd waits a second (not 15 minutes) for more requests, then exits
                  # and gives the socket back.
                  "program = %s\nargs = -t 1 -s %s\nwait = yes\n" % (IN_TFTPD, root))
        with Netd(config) as n:
            port = n.addr("tftp", "udp")[1]
            for attempt in ("first.img", "second.img"):  # the socket comes back after each
                target = os.path.join(root, attempt)
                r = subprocess.run([TFTP, "127.0.0.1", str(port), "-m", "binary", "-c", "get",
                                    "boot.img", target], capture_output=True,
                                   timeout=CLIENT_TIMEOUT, cwd=root, env=clean_env())
                self.assertEqual(r.returncode, 0, r.stderr)
                with open(target, "rb") as f:
                    self.assertEqual(f.read(), payload, attempt)
                self.assertIsNotNone(n.wait_for_line(r"\[tftp\] .*in\.tftpd \(pid \d+\) exited",
                                                     timeout=20), n.describe())


if __name__ == "__main__":
    unittest.main(verbosity=2)
