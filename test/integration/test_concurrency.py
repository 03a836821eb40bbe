"""SPEC 4: the concurrency models. The rest of the integration suite already runs in every mode
(NETD_MODE); this file tests what is particular to one: pool threads, fork children, the limits and
the containment of a handler that throws or crashes.

The `faulty` handler (netd_test_server, test/support) echoes lines, answers "pid" and "tid" with
the serving process and thread, throws on "throw", aborts on "crash" and blocks on "hang".
"""

import os
import signal
import socket
import time
import unittest

from netd_harness import (ASYNC_SIGNALS, Netd, blocked_signals, child_pids, only_in, pid_alive,
                          recv_exact, tcp_connect, test_server_bin, thread_ids, udp_socket,
                          unix_connect, wait_until)

FAULTY = """\
[server]
log_level = debug
shutdown_timeout = 2

[faulty]
tcp = 127.0.0.1:0
udp = 127.0.0.1:0
unix = {tmp}/faulty.sock
"""




def ask(sock, line):
    """Sends a line, returns the answer line (without its ending)."""
    sock.sendall(line + b"\n")
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = sock.recv(100)
        if not chunk:
            raise AssertionError("connection closed after %r (got %r)" % (line, answer))
        answer += chunk
    return answer[:-1]


def closed_by_peer(sock, timeout=5):
    """True if the peer closed the connection (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False




def live_children(pid):
    return [c for c in child_pids(pid) if pid_alive(c)]


def zombies(pid):
    return [c for c in child_pids(pid) if not pid_alive(c)]


class Containment(unittest.TestCase):
    """In every mode: a handler that throws costs its own connection only."""

    def test_throwing_handler_closes_only_its_connection(self):
        with Netd(FAULTY, binary=test_server_bin()) as n:
            addr = n.addr("faulty", "tcp")
            with tcp_connect(addr) as bystander, tcp_connect(addr) as victim:
                self.assertEqual(ask(bystander, b"before"), b"before")
                victim.sendall(b"throw\n")
                self.assertTrue(closed_by_peer(victim), "the connection whose handler threw stays open")
                self.assertEqual(ask(bystander, b"after"), b"after")
            with unix_connect(n.addr("faulty", "unix")) as fresh:
                self.assertEqual(ask(fresh, b"new connection"), b"new connection")
            with udp_socket() as u:
                u.sendto(b"throw", n.addr("faulty", "udp"))
                u.sendto(b"datagram", n.addr("faulty", "udp"))
                self.assertEqual(u.recvfrom(100)[0], b"datagram")
            self.assertIsNotNone(n.wait_for_line(r"handler failed for .*asked to throw"), n.describe())


@only_in("pool")
class PoolMode(unittest.TestCase):

    def config(self):
        return FAULTY.replace("[server]\n", "[server]\nmode = pool\nthreads = 3\n")

    def test_connections_are_spread_over_the_threads(self):
        with Netd(self.config(), binary=test_server_bin()) as n:
            self.assertIsNotNone(n.wait_for_line(r"ready: pool mode \(3 threads\)"), n.describe())
            threads = set()
            for _ in range(40):
                with tcp_connect(n.addr("faulty", "tcp")) as c:
                    threads.add(ask(c, b"tid"))
            # SO_REUSEPORT hashes each connection to one of the three listeners: 40 connections all
            # landing on one thread would happen about once in 3^39 runs.
            self.assertGreater(len(threads), 1, "every connection was served by one thread")
            self.assertLessEqual(len(threads), 3)

    def test_only_the_first_loops_thread_takes_signals(self):
        """SIGTERM/SIGHUP go to the thread holding the signal sets, never to an idle worker."""
        with Netd(self.config(), binary=test_server_bin()) as n:
            def masks():
                return {tid: blocked_signals(n.pid, tid) for tid in thread_ids(n.pid)}
            expected = None
            def settled():
                # "ready" is logged before the workers start, and the main thread blocks every
                # signal while it starts them: wait for all three to settle.
                nonlocal expected
                now = masks()
                expected = {tid: set() if tid == n.pid else ASYNC_SIGNALS for tid in now}
                return len(now) == 3 and now == expected
            wait_until(settled)
            self.assertEqual(masks(), expected,
                             "the main thread must take signals, the workers none")

    def test_a_connection_stays_on_its_thread(self):
        with Netd(self.config(), binary=test_server_bin()) as n:
            with tcp_connect(n.addr("faulty", "tcp")) as c:
                first = ask(c, b"tid")
                for _ in range(50):
                    self.assertEqual(ask(c, b"tid"), first)

    def test_every_pool_thread_drains_at_sigterm(self):
        with Netd(self.config(), binary=test_server_bin(), check_exit=False) as n:
            conns = [tcp_connect(n.addr("faulty", "tcp")) for _ in range(12)]
            try:
                tids = {ask(c, b"tid") for c in conns}
                self.assertEqual(n.stop(signal.SIGTERM, 5), 0, n.describe())
                for c in conns:
                    self.assertTrue(closed_by_peer(c), "a connection survived the shutdown")
            finally:
                for c in conns:
                    c.close()
            self.assertGreater(len(tids), 1)


@only_in("fork")
class ForkMode(unittest.TestCase):

    def netd(self, extra="", **kwargs):
        config = FAULTY.replace("[server]\n", "[server]\nmode = fork\n" + extra)
        return Netd(config, binary=test_server_bin(), **kwargs)

    def test_each_connection_is_served_by_its_own_child(self):
        with self.netd() as n:
            with tcp_connect(n.addr("faulty", "tcp")) as a, unix_connect(n.addr("faulty", "unix")) as b:
                pid_a, pid_b = int(ask(a, b"pid")), int(ask(b, b"pid"))
                self.assertNotIn(n.pid, (pid_a, pid_b))
                self.assertNotEqual(pid_a, pid_b)
                self.assertEqual(sorted(live_children(n.pid)), sorted([pid_a, pid_b]))
            # Closed connections: the children exit and are reaped (no zombies left behind).
            self.assertTrue(wait_until(lambda: not child_pids(n.pid)),
                            "children left: %r (zombies: %r)" % (child_pids(n.pid), zombies(n.pid)))
            self.assertIsNotNone(n.wait_for_line(r"child %d exited with status 0" % pid_a), n.describe())

    def test_datagrams_are_served_by_the_parent(self):
        with self.netd() as n:
            with udp_socket() as u:
                u.sendto(b"pid", n.addr("faulty", "udp"))
                self.assertEqual(int(u.recvfrom(100)[0]), n.pid)
            self.assertEqual(child_pids(n.pid), [])

    def test_a_crash_loses_only_its_connection(self):
        with self.netd() as n:
            addr = n.addr("faulty", "tcp")
            with tcp_connect(addr) as bystander, tcp_connect(addr) as victim:
                self.assertEqual(ask(bystander, b"one"), b"one")
                victim_pid = int(ask(victim, b"pid"))
                victim.sendall(b"crash\n")
                self.assertTrue(closed_by_peer(victim))
                self.assertTrue(wait_until(lambda: victim_pid not in child_pids(n.pid)),
                                "the crashed child was not reaped")
                self.assertEqual(ask(bystander, b"two"), b"two")
            with tcp_connect(addr) as fresh:
                self.assertEqual(ask(fresh, b"three"), b"three")
            self.assertTrue(pid_alive(n.pid))
            self.assertIsNotNone(
                n.wait_for_line(r"warning .*child %d killed by signal %d" % (victim_pid, signal.SIGABRT)),
                n.describe())

    def test_max_children_pauses_accepting_until_a_child_exits(self):
        with self.netd("max_children = 2\n") as n:
            addr = n.addr("faulty", "tcp")
            first, second = tcp_connect(addr), tcp_connect(addr)
            waiting = None
            try:
                self.assertTrue(ask(first, b"pid") and ask(second, b"pid"))
                # A third client is not refused: the kernel's backlog holds it until a child exits.
                waiting = tcp_connect(addr)
                waiting.sendall(b"queued\n")
                waiting.settimeout(0.5)
                with self.assertRaises(socket.timeout, msg="served beyond max_children"):
                    waiting.recv(100)
                self.assertEqual(len(live_children(n.pid)), 2)
                first.close()
                waiting.settimeout(5)
                self.assertEqual(recv_exact(waiting, 7), b"queued\n")
                self.assertEqual(len(live_children(n.pid)), 2)
            finally:
                for s in (first, second, waiting):
                    if s is not None:
                        s.close()

    def test_a_burst_beyond_max_children_is_served_in_full(self):
        with self.netd("max_children = 4\n", args=["--server.log_level=info"]) as n:
            addr = n.addr("faulty", "tcp")
            conns = [tcp_connect(addr) for _ in range(40)]
            try:
                for i, c in enumerate(conns):
                    c.sendall(b"burst %d\n" % i)
                    c.shutdown(socket.SHUT_WR)
                for i, c in enumerate(conns):
                    self.assertEqual(recv_exact(c, len(b"burst %d\n" % i)), b"burst %d\n" % i)
            finally:
                for c in conns:
                    c.close()
            self.assertTrue(wait_until(lambda: not child_pids(n.pid)), "children left after the burst")

    def test_sigterm_drains_children_and_leaves_none(self):
        with self.netd(check_exit=False) as n:
            conns = [tcp_connect(n.addr("faulty", "tcp")) for _ in range(5)]
            try:
                kids = [int(ask(c, b"pid")) for c in conns]
                t0 = time.monotonic()
                self.assertEqual(n.stop(signal.SIGTERM, 5), 0, n.describe())
                self.assertLess(time.monotonic() - t0, 2, "idle children were not told to finish")
                for c in conns:
                    self.assertTrue(closed_by_peer(c))
            finally:
                for c in conns:
                    c.close()
            self.assertFalse([k for k in kids if pid_alive(k)], "children outlived the parent")

    def test_a_child_that_cannot_finish_is_killed_after_shutdown_timeout(self):
        with self.netd(check_exit=False) as n:   # shutdown_timeout = 2
            with tcp_connect(n.addr("faulty", "tcp")) as stuck, tcp_connect(n.addr("faulty", "tcp")) as idle:
                stuck_pid = int(ask(stuck, b"pid"))
                ask(idle, b"pid")
                stuck.sendall(b"hang\n")
                time.sleep(0.2)
                t0 = time.monotonic()
                rc = n.stop(signal.SIGTERM, 10)
                took = time.monotonic() - t0
                self.assertEqual(rc, 0, n.describe())
                self.assertGreater(took, 1.5, "the parent did not wait shutdown_timeout for its child")
                self.assertLess(took, 5)
                self.assertFalse(pid_alive(stuck_pid), "the hung child is still alive")
                self.assertTrue(closed_by_peer(idle))
            self.assertIsNotNone(n.wait_for_line(r"still running after shutdown_timeout; killed"),
                                 n.describe())

    def test_a_reloaded_shutdown_timeout_is_the_one_that_kills(self):
        with self.netd(check_exit=False) as n:   # shutdown_timeout = 2
            with open(n.config_path) as f:
                text = f.read()
            with open(n.config_path, "w") as f:
                f.write(text.replace("shutdown_timeout = 2", "shutdown_timeout = 0"))
            n.send_signal(signal.SIGHUP)
            self.assertIsNotNone(n.wait_for_line(r"SIGHUP: reloading"), n.describe())
            with tcp_connect(n.addr("faulty", "tcp")) as stuck:
                ask(stuck, b"pid")
                stuck.sendall(b"hang\n")
                time.sleep(0.2)
                t0 = time.monotonic()
                self.assertEqual(n.stop(signal.SIGTERM, 10), 0, n.describe())
                self.assertLess(time.monotonic() - t0, 1.8, "the shutdown_timeout before the "
                                "reload applied")


if __name__ == "__main__":
    unittest.main()
