"""TLS clients for the tests (Python's ssl module, the same OpenSSL as netd's but another code
path: the client side). Every socket carries a timeout; certificates come from tls_certs.
"""

import select
import socket
import ssl
import time

from netd_harness import IO_TIMEOUT, tcp_connect
from tls_certs import certificates


def client_context(cert=None, ca="ca.pem", min_version=None, max_version=None):
    """A client context that trusts the test CA (ca: another file of tls_certs, or None to
    check nothing), presenting the client certificate cert ("client", "expired", ...) if given."""
    certs = certificates()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(certs.path(ca))
    if cert is not None:
        context.load_cert_chain(certs.path(cert + ".pem"), certs.path(cert + ".key"))
    if min_version is not None:
        context.minimum_version = min_version
    if max_version is not None:
        context.maximum_version = max_version
    return context


def tls_connect(addr, context=None, timeout=IO_TIMEOUT, ragged_eof_is_error=True):
    """A TLS connection to addr with the handshake done (server name localhost). By default a
    TCP end without close_notify raises ssl.SSLEOFError rather than reading as the end."""
    sock = tcp_connect(addr, timeout)
    try:
        tls = (context or client_context()).wrap_socket(
            sock, server_hostname="localhost",
            suppress_ragged_eofs=not ragged_eof_is_error)
    except BaseException:
        sock.close()
        raise
    return tls


def roundtrip(tls, payload, timeout=30.0):
    """Sends payload while reading the echo, in one thread (an SSL socket cannot be read and
    written from two at once); returns the bytes received once as many as sent have come."""
    deadline = time.monotonic() + timeout
    tls.setblocking(False)
    sent = 0
    got = bytearray()
    try:
        while len(got) < len(payload):
            if time.monotonic() > deadline:
                raise AssertionError("roundtrip: %d of %d sent, %d received after %.0f s"
                                     % (sent, len(payload), len(got), timeout))
            writing = sent < len(payload)
            select.select([tls], [tls] if writing else [], [], 0.2)
            if writing:
                try:
                    sent += tls.send(payload[sent:sent + 65536])
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            while True:
                try:
                    chunk = tls.recv(1 << 20)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                if not chunk:
                    raise AssertionError("closed after %d bytes of the echo" % len(got))
                got += chunk
    finally:
        tls.settimeout(IO_TIMEOUT)
    return bytes(got)


def handshake_refused(addr, context, payload=b"hello\n"):
    """Whether the server refuses the handshake of a client with context: the handshake fails,
    or (TLS 1.3, where the client is done before the server has checked its certificate) the
    first read does, or reads the end without an echo."""
    try:
        with tls_connect(addr, context) as tls:
            tls.sendall(payload)
            return tls.recv(100) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


def closed_within(sock, seconds):
    """Whether the server closes sock (end of input or a reset) within seconds, whatever it
    sends before; sock is a plain socket."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True
    return False
