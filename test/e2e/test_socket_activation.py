"""SPEC 6: socket activation, end to end with systemd's own `systemd-socket-activate`: it binds
the socket, starts netd on the first client with LISTEN_FDS/LISTEN_FDNAMES, and netd serves the
socket as the service the fd name names (SERVICE.tls: over TLS, SPEC 9)."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import shutil
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from clients import NEED_SOCKET_ACTIVATE, SOCKET_ACTIVATE  # noqa: E402
from netd_harness import clean_env, netd_bin, recv_exact  # noqa: E402
from tls_certs import certificates  # noqa: E402
from tls_client import tls_connect  # noqa: E402

# A service with no listener of its own: socket activation passes it one.
ACTIVATED = "[server]\nlog_level = info\n\n[echo]\n"
# A service with a listener of its own, and a passed socket nobody claims.
UNCLAIMED = "[server]\nlog_level = info\n\n[echo]\ntcp = 127.0.0.1:0\n"


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@NEED_SOCKET_ACTIVATE
class SocketActivation(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="netd-activate-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def activate(self, config, port, fdname, datagram=False):
        path = os.path.join(self.dir, "netd.ini")
        with open(path, "w") as f:
            f.write(config)
        argv = [SOCKET_ACTIVATE] + (["-d"] if datagram else []) + [
            "-l", "127.0.0.1:%d" % port, "--fdname=" + fdname, netd_bin(), "--config", path]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=clean_env(), cwd=self.dir)
        proc.config_path = path
        proc.lines = []
        reader = threading.Thread(target=lambda: proc.lines.extend(
            line.decode(errors="replace") for line in proc.stderr), daemon=True)
        reader.start()
        proc.reader = reader

        def stop():
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
            reader.join(5)
            proc.stderr.close()
        self.addCleanup(stop)
        # systemd-socket-activate needs a moment to bind before the first client.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            out = subprocess.run(["ss", "-Hln" + ("u" if datagram else "t"), "sport = :%d" % port],
                                 capture_output=True, text=True).stdout
            if out.strip():
                return proc
            time.sleep(0.02)
        self.fail("systemd-socket-activate did not bind 127.0.0.1:%d" % port)

    def stop_cleanly(self, proc):
        proc.send_signal(signal.SIGTERM)   # netd has replaced systemd-socket-activate by now
        self.assertEqual(proc.wait(10), 0)
        proc.reader.join(5)
        return "".join(proc.lines)

    def wait_for_lines(self, proc, text, count):
        """Until the log holds count lines containing text (bounded)."""
        deadline = time.monotonic() + 5
        while sum(text in line for line in proc.lines) < count:
            if time.monotonic() > deadline:
                self.fail("fewer than %d %r lines in the log:\n%s" % (count, text, "".join(proc.lines)))
            time.sleep(0.02)

    def test_tcp_socket_named_service_dot_tcp(self):
        port = free_port(socket.SOCK_STREAM)
        proc = self.activate(ACTIVATED, port, "echo.tcp")
        for text in (b"first client starts netd\n", b"second client\n"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(text)
                self.assertEqual(recv_exact(c, len(text)), text)
        log = self.stop_cleanly(proc)
        self.assertIn("[echo] listening on tcp 127.0.0.1:%d (socket activation)" % port, log)

    def test_udp_socket_named_service(self):
        port = free_port(socket.SOCK_DGRAM)
        proc = self.activate(ACTIVATED, port, "echo", datagram=True)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(5)
            # systemd-socket-activate only polls the socket: the datagram stays queued for netd.
            u.sendto(b"wake up", ("127.0.0.1", port))
            self.assertEqual(u.recvfrom(100)[0], b"wake up")
            u.sendto(b"again", ("127.0.0.1", port))
            self.assertEqual(u.recvfrom(100)[0], b"again")
        log = self.stop_cleanly(proc)
        self.assertIn("[echo] listening on udp 127.0.0.1:%d (socket activation)" % port, log)

    def test_a_reload_keeps_the_passed_socket_with_its_service(self):
        """A service whose only listener socket activation passed still has it after SIGHUP: the
        reload is taken (not refused for want of a listener) and the socket serves on."""
        port = free_port(socket.SOCK_STREAM)
        proc = self.activate(ACTIVATED, port, "echo")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"before\n")
            self.assertEqual(recv_exact(c, 7), b"before\n")
        self.wait_for_lines(proc, "ready:", 1)
        with open(proc.config_path, "a") as f:
            f.write("max_connections = 1\n")
        proc.send_signal(signal.SIGHUP)
        self.wait_for_lines(proc, "ready:", 2)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"after\n")
            self.assertEqual(recv_exact(c, 6), b"after\n")
            with socket.create_connection(("127.0.0.1", port), timeout=5) as busy:
                self.assertEqual(busy.recv(100), b"error: too many connections, try later\n",
                                 "the reloaded config is not the one serving the passed socket")
        log = self.stop_cleanly(proc)
        self.assertNotIn("reload:", log)

    def expect_startup_error(self, config, fdname, message):
        port = free_port(socket.SOCK_STREAM)
        proc = self.activate(config, port, fdname)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass  # the first client makes systemd-socket-activate start netd
        except ConnectionResetError:
            pass  # netd refused to start, and closed the socket, before the handshake ended
        self.assertEqual(proc.wait(10), 1)
        proc.reader.join(5)
        self.assertIn(message, "".join(proc.lines))

    def test_a_passed_socket_no_service_claims_is_a_startup_error(self):
        self.expect_startup_error(UNCLAIMED, "nosuch",
                                  "socket activation: fd 3 named 'nosuch' matches no service")

    def test_a_name_that_contradicts_the_socket_is_a_startup_error(self):
        self.expect_startup_error(ACTIVATED, "echo.udp", "the name says 'udp' but the socket is tcp")

    def test_a_tcp_socket_named_service_dot_tls_serves_tls(self):
        certs = certificates()
        config = ACTIVATED + "tls_cert = %s\ntls_key = %s\n" % (certs.path("server.pem"),
                                                              certs.path("server.key"))
        port = free_port(socket.SOCK_STREAM)
        proc = self.activate(config, port, "echo.tls")
        with tls_connect(("127.0.0.1", port), timeout=10) as tls:
            tls.sendall(b"activated over TLS\n")
            self.assertEqual(recv_exact(tls, 19), b"activated over TLS\n")
        log = self.stop_cleanly(proc)
        self.assertIn("[echo] listening on tls 127.0.0.1:%d (socket activation)" % port, log)

    def test_a_tls_socket_for_a_service_without_a_certificate_is_a_startup_error(self):
        self.expect_startup_error(ACTIVATED, "echo.tls",
                                  "[echo] tls_cert: is required for its tls listener (fd 3)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
