"""A syslog collector for the forwarding tests: a TCP listener on loopback reading RFC 6587
octet-counted frames (what netd's tcp:// sends), in a thread. It can be stopped and started
again on the same port (a collector outage), or made to accept connections and never read them
(a stuck collector). Given an ssl.SSLContext it is a TLS collector (RFC 5425)."""

import socket
import threading
import time


def chunks(conn, stop):
    """What conn receives, a recv at a time, until it closes or stop (an Event) is set."""
    conn.settimeout(0.1)
    while not stop.is_set():
        try:
            data = conn.recv(1 << 16)
        except socket.timeout:
            continue
        except OSError:
            return
        if not data:
            return
        yield data


class Collected:
    """What a test collector received, in arrival order, shared with its threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._items = []

    def keep(self, item):
        with self._lock:
            self._items.append(item)

    def received(self):
        with self._lock:
            return list(self._items)

    def wait_for(self, count, timeout=10.0):
        """Waits (bounded) until count items arrived; returns them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = self.received()
            if len(items) >= count:
                return items
            time.sleep(0.05)
        return self.received()


class OctetCollector(Collected):
    def __init__(self, reading=True, tls=None):
        super().__init__()
        self.reading = reading
        self.tls = tls
        self.handshake_errors = []
        self.connections = 0
        self._stop = threading.Event()
        self._threads = []
        self._sockets = []
        self.port = None
        self.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port or 0))
        listener.listen(16)
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._stop.clear()
        self._sockets.append(listener)
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self):
        """Closes the listener and every connection (what a dying collector does)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self._threads = []
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass
        self._sockets = []

    def _accept(self, listener):
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            self._sockets.append(conn)
            if self.reading:
                thread = threading.Thread(target=self._read, args=(conn,), daemon=True)
                thread.start()
                self._threads.append(thread)

    def _read(self, conn):
        if self.tls is not None:
            conn.settimeout(5)
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ValueError) as e:
                with self._lock:
                    self.handshake_errors.append(str(e))
                conn.close()
                return
            self._sockets.append(conn)
        buffer = b""
        for data in chunks(conn, self._stop):
            buffer += data
            while True:
                space = buffer.find(b" ")
                if space <= 0:
                    break
                length = int(buffer[:space])
                if len(buffer) < space + 1 + length:
                    break
                self.keep(buffer[space + 1:space + 1 + length])
                buffer = buffer[space + 1 + length:]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
