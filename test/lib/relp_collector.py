"""A RELP collector for the forwarding tests (the server side of RELP, as rsyslog's imrelp
speaks it), in a thread, that can misbehave on purpose: refuse the session, refuse records
with "500", or end a session with "serverclose" after some records. The real imrelp is the peer
in test/e2e/test_forward_rsyslog.py."""

import socket
import threading
import time

from octet_collector import Collected, chunks


class RelpCollector(Collected):
    def __init__(self, refuse_records=0, serverclose_after=None, refuse_open=False):
        super().__init__()
        self.refuse_records = refuse_records      # answer this many syslog frames "500"
        self.serverclose_after = serverclose_after  # records per session, then serverclose
        self.refuse_open = refuse_open
        self.sessions = 0
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _frames(self, conn):
        buffer = b""
        for data in chunks(conn, self._stop):
            buffer += data
            while True:
                parts = buffer.split(b" ", 3)
                if len(parts) < 3:
                    break
                digits = parts[2].split(b"\n", 1)[0]
                length = int(digits)
                head = len(parts[0]) + len(parts[1]) + len(digits) + 2
                start = head + (1 if length else 0)
                if len(buffer) < start + length + 1:
                    break
                yield int(parts[0]), parts[1], buffer[start:start + length]
                buffer = buffer[start + length + 1:]

    def _serve(self, conn):
        try:
            self._session(conn)
        except OSError:
            pass  # netd went away mid-answer: it sends the records again

    def _session(self, conn):
        with conn:
            with self._lock:
                self.sessions += 1
            in_session = 0
            for txnr, command, data in self._frames(conn):
                if command == b"open":
                    answer = (b"500 not today" if self.refuse_open else
                              b"200 OK\nrelp_version=0\nrelp_software=test\ncommands=syslog")
                elif command == b"syslog":
                    with self._lock:
                        refuse = self.refuse_records > 0
                        if refuse:
                            self.refuse_records -= 1
                        else:
                            in_session += 1
                    if not refuse:
                        self.keep(data)
                    answer = b"500 queue full" if refuse else b"200 OK"
                elif command == b"close":
                    conn.sendall(b"%d rsp 0\n" % txnr)
                    return
                else:
                    answer = b"500 unknown command"
                conn.sendall(b"%d rsp %d %s\n" % (txnr, len(answer), answer))
                if self.serverclose_after is not None and in_session >= self.serverclose_after:
                    # As a stopping imrelp does; the answers sent are read before the close
                    # (a close with input unread would reset the connection, and take them).
                    conn.sendall(b"0 serverclose 0\n")
                    time.sleep(0.2)
                    return

    def stop(self):
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
