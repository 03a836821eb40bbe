"""PROXY protocol headers (HAProxy's proxy-protocol.txt) as the tests and benchmarks send them."""

import ipaddress
import struct

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def _destination(source, destination):
    if destination is not None:
        return destination
    return "2001:db8::1" if ipaddress.ip_address(source).version == 6 else "192.0.2.1"


def v1(source, source_port, destination=None, destination_port=7007):
    destination = _destination(source, destination)
    family = "TCP6" if ipaddress.ip_address(source).version == 6 else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (family, source, destination, source_port,
                                           destination_port)).encode()


def v1_unknown():
    return b"PROXY UNKNOWN\r\n"


def v2(source, source_port, destination=None, destination_port=7007, tlvs=b""):
    src = ipaddress.ip_address(source)
    dst = ipaddress.ip_address(_destination(source, destination))
    family = 0x11 if src.version == 4 else 0x21  # AF_INET or AF_INET6, STREAM
    body = src.packed + dst.packed + struct.pack("!HH", source_port, destination_port) + tlvs
    return V2_SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(body)) + body


def v2_local():
    """What a balancer's own health check sends: use the connection's own addresses."""
    return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)
