"""SPEC 8, reuseport: several netd processes of one user serve the same addresses with
[server] reuseport = true, the kernel spreading connections over them; one of them stopping loses
no client: what is in its accept queue when it drains is served (netd accepts its backlog before it
closes the listener), and with net.ipv4.tcp_migrate_req = 1 the kernel hands connections that
arrive during the close to the others.

The stop-under-load test runs in a network namespace of its own (unshare --net, as root), where it
sets net.ipv4.tcp_migrate_req without touching the machine's; it also measures what is lost
without it, and prints that (a figure, not a pass/fail).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from netd_harness import MODE, Netd, recv_until_eof, tcp_connect  # noqa: E402

IN_NETNS = os.environ.get("NETD_TEST_NETNS") == "1"

CONFIG = """\
[server]
reuseport = true
shutdown_timeout = 5

[echo]
tcp = 127.0.0.1:{port}

[stats]
tcp = 127.0.0.1:0
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepted(netd):
    with tcp_connect(netd.addr("stats", "tcp")) as c:
        text = recv_until_eof(c).decode()
    m = re.search(r'^netd_connections_accepted_total\{service="echo",transport="tcp"\} (\d+)$',
                  text, re.M)
    return int(m.group(1)) if m else 0


def ping_failure(port):
    """None when the echo came back, else what went wrong."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"ping\n")
            c.shutdown(socket.SHUT_WR)
            got = recv_until_eof(c)
            return None if got == b"ping\n" else "answered %r" % got
    except OSError as e:
        return repr(e)


def ping(port):
    return ping_failure(port) is None


def kernel_migrations():
    """The kernel's counts of connections moved from a closing listener to another of its
    SO_REUSEPORT group, and of those it could not move (dropped), in this network namespace."""
    with open("/proc/net/netstat") as f:
        rows = [line.split() for line in f if line.startswith("TcpExt:")]
    counts = dict(zip(rows[0][1:], rows[1][1:]))
    return int(counts.get("TCPMigrateReqSuccess", 0)), int(counts.get("TCPMigrateReqFailure", 0))


def stop_one_under_load(instances, port, clients=4, seconds=2.0):
    """Clients connect and ping in a loop while instances[0] gets SIGTERM halfway; returns
    (pings, what went wrong with each failed ping)."""
    results = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client():
        ok = 0
        failed = []
        while time.monotonic() < end:
            why = ping_failure(port)
            if why is None:
                ok += 1
            else:
                failed.append(why)
        with lock:
            results.append((ok, failed))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds / 2)
    instances[0].send_signal(signal.SIGTERM)
    for t in threads:
        t.join(seconds + 30)
    return (sum(ok + len(failed) for ok, failed in results),
            [why for _, failed in results for why in failed])


class ReusePort(unittest.TestCase):

    def test_three_instances_share_one_port_and_all_take_connections(self):
        port = free_port()
        with Netd(CONFIG.format(port=port)) as a, Netd(CONFIG.format(port=port)) as b, \
                Netd(CONFIG.format(port=port)) as c:
            for _ in range(60):
                self.assertTrue(ping(port))
            counts = [accepted(n) for n in (a, b, c)]
            self.assertEqual(sum(counts), 60)
            self.assertTrue(all(count > 0 for count in counts), counts)

    def test_without_reuseport_a_second_instance_cannot_start(self):
        # In pool mode too, whose threads share each address with SO_REUSEPORT among
        # themselves: another process must not join them unless both set reuseport. (One that
        # sets it can join pool mode's sockets all the same: the kernel asks no more than
        # SO_REUSEPORT on both sides; docs/operations.md.)
        both = "[server]\nreuseport = {first}\n[echo]\ntcp = 127.0.0.1:{port}\nudp = 127.0.0.1:{port}\n"
        one = "[server]\nreuseport = {second}\n[echo]\n{transport} = 127.0.0.1:{port}\n"
        for first, second in (("true", "false"), ("false", "false")):
            port = free_port()
            with Netd(both.format(first=first, port=port)):
                for transport in ("tcp", "udp"):
                    with self.subTest(first=first, second=second, transport=transport):
                        other = Netd(one.format(second=second, transport=transport, port=port),
                                     check_exit=False)
                        other.start()
                        self.assertEqual(other.wait_ready_or_exit(), "exit")
                        self.assertEqual(other.proc.wait(5), 1)  # SPEC 1: port in use
                        self.assertRegex(other.stderr,
                                         r"\[echo\] %s: cannot (?:listen on|bind) 127\.0\.0\.1:%d: "
                                         r"Address already in use" % (transport, port))
                        other.cleanup()

    @unittest.skipUnless(IN_NETNS, "runs in a network namespace of its own: see test_in_netns")
    def test_stopping_one_instance_under_load_loses_no_client(self):
        for migrate in ("0", "1"):
            subprocess.run(["sysctl", "-qw", "net.ipv4.tcp_migrate_req=" + migrate], check=True)
            port = free_port()
            moved_before, dropped_before = kernel_migrations()
            with Netd(CONFIG.format(port=port)) as a, Netd(CONFIG.format(port=port)), \
                    Netd(CONFIG.format(port=port)):
                pings, failures = stop_one_under_load([a], port)
                self.assertEqual(a.wait_exit(10), 0)
            moved, dropped = kernel_migrations()
            print("reuseport: net.ipv4.tcp_migrate_req=%s: %d of %d pings failed while one of "
                  "three instances stopped; the kernel moved %d connections to another listener "
                  "and dropped %d" % (migrate, len(failures), pings, moved - moved_before,
                                      dropped - dropped_before), file=sys.stderr)
            if migrate == "1":
                # In pool mode an instance has a listener per thread, closed one after another:
                # the kernel drops a connection it moves to one that is closing at that moment.
                self.assertEqual(failures, [])
                self.assertEqual(dropped - dropped_before, 0)
            self.assertGreater(pings, 100)

    @unittest.skipIf(IN_NETNS, "this is the run inside the namespace")
    def test_in_netns(self):
        if os.geteuid() != 0 or shutil.which("unshare") is None or subprocess.run(
                ["unshare", "--net", "true"], capture_output=True).returncode != 0:
            self.skipTest("SKIPPED: stopping under load needs root and unshare --net, to set "
                          "net.ipv4.tcp_migrate_req in a namespace of its own")
        env = dict(os.environ, NETD_TEST_NETNS="1")
        run = subprocess.run(
            ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
             sys.executable, "-m", "unittest", "-v",
             "test_reuseport.ReusePort.test_stopping_one_instance_under_load_loses_no_client"],
            env=env, cwd=os.path.dirname(os.path.abspath(__file__)), capture_output=True,
            text=True, timeout=120)
        sys.stderr.write(run.stderr)
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])


if __name__ == "__main__":
    unittest.main()
