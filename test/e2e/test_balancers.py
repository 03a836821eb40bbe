"""SPEC 8 with the real balancers from Debian, on loopback: three netd instances behind HAProxy
(send-proxy-v2, /readyz health checks, deploy/haproxy.cfg) and behind nginx's stream module
(proxy_protocol v1, deploy/nginx/netd-stream.conf); the Prometheus scrape config of
deploy/prometheus.yml. The deploy files are used as shipped, with only their example addresses
(10.0.0.x -> 127.0.0.x) and ports replaced.

A client bound to 127.0.0.5 is served and one bound to 127.0.0.6 is refused by netd's own ACL,
which sees the client of the header; the logger records 127.0.0.5; a client that sends a forged
header to netd directly is refused; and under load through HAProxy, an instance that gets SIGTERM
with drain_delay = 2 leaves the pool before it stops accepting: no request fails.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import (  # noqa: E402
    Netd, exchange_from, recv_until_eof, tcp_connect, wait_until,
)
import proxy_header  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DEPLOY = os.path.join(ROOT, "deploy")
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
INSTANCES = ("127.0.0.11", "127.0.0.12", "127.0.0.13")

NETD = """\
[server]
drain_delay = 2
shutdown_timeout = 5

[echo]
tcp = {host}:{echo}
proxy_protocol = any
proxy_from = 127.0.0.1
deny = 127.0.0.6

[logger]
tcp = {host}:{logger}
proxy_protocol = any
proxy_from = 127.0.0.1
file = {{tmp}}/messages.log
flush_interval = 20

[stats]
tcp = {host}:{stats}
"""


def free_port(hosts):
    """A port free on every one of hosts."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            for host in hosts:
                with socket.socket() as t:
                    t.bind((host, port))
            return port
        except OSError:
            continue
    raise AssertionError("no free port")


def deployed(name, listen, instances):
    """A deploy file with its example addresses and ports replaced: listen maps the file's
    `bind :PORT` / `listen PORT` (the balancer's side) to the test's, instances the ports of
    ADDRESS:PORT and `check port PORT` (the netd instances' side)."""
    with open(os.path.join(DEPLOY, name)) as f:
        text = f.read().replace("10.0.0.1", "127.0.0.1")
    for old, new in listen.items():
        text = re.sub(r"(bind |listen )\:?%d\b" % old, r"\g<1>127.0.0.1:%d" % new, text)
    for old, new in instances.items():
        text = re.sub(r"(127\.0\.0\.\d+):%d\b" % old, r"\g<1>:%d" % new, text)
        text = re.sub(r"\bport %d\b" % old, "port %d" % new, text)
    return text


def ask(port, data, source):
    """Through the balancer from source: what comes back until the close (b"" for a reset)."""
    return exchange_from(source, ("127.0.0.1", port), data)


def scrape(host, port):
    with tcp_connect((host, port)) as c:
        return recv_until_eof(c).decode()


class Balancers(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        missing = [tool for tool in ("haproxy", "nginx") if shutil.which(tool) is None and
                   not os.path.exists("/usr/sbin/" + tool)]
        if missing or not os.path.exists(STREAM_MODULE):
            raise unittest.SkipTest("SKIPPED: needs haproxy, nginx and libnginx-mod-stream "
                                    "(scripts/setup installs them); missing: %s" %
                                    (missing or [STREAM_MODULE]))
        cls.ports = {7007: free_port(INSTANCES), 7514: free_port(INSTANCES),
                     7090: free_port(INSTANCES)}
        cls.netds = []
        for host in INSTANCES:
            n = Netd(NETD.format(host=host, echo=cls.ports[7007], logger=cls.ports[7514],
                                 stats=cls.ports[7090]))
            n.__enter__()
            cls.netds.append(n)
        cls.tmp = tempfile.mkdtemp(prefix="netd-balancers-")
        cls.haproxy_ports = {7007: free_port(["127.0.0.1"]), 514: free_port(["127.0.0.1"])}
        cls.nginx_ports = {7007: free_port(["127.0.0.1"]), 514: free_port(["127.0.0.1"])}
        haproxy_cfg = os.path.join(cls.tmp, "haproxy.cfg")
        with open(haproxy_cfg, "w") as f:
            f.write(deployed("haproxy.cfg", cls.haproxy_ports, cls.ports))
        cls.haproxy = subprocess.Popen(["haproxy", "-db", "-f", haproxy_cfg],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stream_conf = os.path.join(cls.tmp, "netd-stream.conf")
        with open(stream_conf, "w") as f:
            f.write(deployed("nginx/netd-stream.conf", cls.nginx_ports, cls.ports))
        nginx_conf = os.path.join(cls.tmp, "nginx.conf")
        with open(nginx_conf, "w") as f:
            f.write("load_module %s;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/error.log info;\n"
                    "events {}\ninclude %s;\n" % (STREAM_MODULE, cls.tmp, cls.tmp, stream_conf))
        cls.nginx = subprocess.Popen(["nginx", "-c", nginx_conf, "-p", cls.tmp],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Every instance is up in HAProxy once three requests in a row reach three instances.
        ok = wait_until(lambda: all(ask(cls.haproxy_ports[7007], b"up\n", "127.0.0.5") == b"up\n"
                                    for _ in range(6)), timeout=10)
        ok = ok and wait_until(
            lambda: ask(cls.nginx_ports[7007], b"up\n", "127.0.0.5") == b"up\n", timeout=10)
        if not ok:
            cls.tearDownClass()
            raise AssertionError("the balancers did not come up")

    @classmethod
    def tearDownClass(cls):
        for process in (getattr(cls, "haproxy", None), getattr(cls, "nginx", None)):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for n in getattr(cls, "netds", []):
            n.__exit__(None, None, None)
        shutil.rmtree(getattr(cls, "tmp", ""), ignore_errors=True)

    def logged(self, text):
        found = []
        for n in self.netds:
            if os.path.exists(n.path("messages.log")):
                with open(n.path("messages.log")) as f:
                    found += [line for line in f.read().splitlines() if text in line]
        return found

    def check_balancer(self, ports, name):
        self.assertEqual(ask(ports[7007], b"hello\n", "127.0.0.5"), b"hello\n")
        self.assertEqual(ask(ports[7007], b"hello\n", "127.0.0.6"), b"")
        ask(ports[514], b"<13>Dec  1 10:00:00 host app: via %s\n" % name.encode(), "127.0.0.5")
        self.assertTrue(wait_until(lambda: self.logged("via " + name)), name)
        line = self.logged("via " + name)[0]
        self.assertRegex(line.split(" ")[1], r"^127\.0\.0\.5:\d+$", line)

    def test_haproxy_v2_the_client_is_known_and_checked(self):
        self.check_balancer(self.haproxy_ports, "haproxy")

    def test_nginx_v1_the_client_is_known_and_checked(self):
        self.check_balancer(self.nginx_ports, "nginx")

    def test_a_forged_header_sent_directly_is_refused(self):
        with tcp_connect((INSTANCES[0], self.ports[7007]), source="127.0.0.5") as c:
            c.sendall(proxy_header.v2("198.51.100.1", 1) + b"forged\n")
            try:
                c.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_until_eof(c), b"")
            except OSError:
                pass  # reset: refused all the same
        self.assertRegex(scrape(INSTANCES[0], self.ports[7090]),
                         r'netd_rejected_total\{service="echo",transport="tcp",reason="proxy"\} [1-9]')

    def test_prometheus_scrapes_every_instance(self):
        with open(os.path.join(DEPLOY, "prometheus.yml")) as f:
            import yaml
            config = yaml.safe_load(f)
        targets = [t for job in config["scrape_configs"] for group in job["static_configs"]
                   for t in group["targets"]]
        self.assertEqual(len(targets), 3)
        for target in targets:
            host, port = target.replace("10.0.0.1", "127.0.0.1").rsplit(":", 1)
            self.assertEqual(int(port), 7090)
            self.assertRegex(scrape(host, self.ports[7090]), r"(?m)^netd_ready 1$")

    def test_zz_an_instance_stopping_under_load_fails_no_request(self):
        # Runs last (name order): it stops the first instance.
        results = []
        stop = threading.Event()

        def client():
            ok = failed = 0
            while not stop.is_set():
                if ask(self.haproxy_ports[7007], b"ping\n", "127.0.0.5") == b"ping\n":
                    ok += 1
                else:
                    failed += 1
            results.append((ok, failed))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1)
        victim = self.netds[0]
        victim.send_signal(signal.SIGTERM)
        self.assertEqual(victim.wait_exit(15), 0, victim.describe())
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(30)
        ok = sum(r[0] for r in results)
        failed = sum(r[1] for r in results)
        print("balancers: %d requests through HAProxy while an instance stopped, %d failed"
              % (ok + failed, failed), file=sys.stderr)
        self.assertGreater(ok, 100)
        self.assertEqual(failed, 0)


if __name__ == "__main__":
    unittest.main()
