"""The real clients the end-to-end tests drive, found once: where they are, whether they are the
right flavour, and unittest skip decorators for when they are missing."""

import os
import shutil
import subprocess
import unittest

CLIENT_TIMEOUT = 15   # seconds, per client process

NC = shutil.which("nc")
SOCAT = shutil.which("socat")
CURL = shutil.which("curl")
LOGGER = shutil.which("logger")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")
TELNET = shutil.which("telnet")
RDATE = shutil.which("rdate") or next(
    (p for p in ("/usr/sbin/rdate", "/sbin/rdate") if os.access(p, os.X_OK)), None)


def _help_text(path, flag):
    """What `path flag` prints (stdout and stderr), or b"" if it cannot be run."""
    if not path:
        return b""
    try:
        r = subprocess.run([path, flag], stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return b""
    return r.stdout + r.stderr


HAVE_OPENBSD_NC = b"OpenBSD netcat" in _help_text(NC, "-h")
_logger_help = _help_text(LOGGER, "--help")
HAVE_UTIL_LINUX_LOGGER = all(flag in _logger_help for flag in (b"--octet-count", b"--rfc3164", b"--socket-errors"))

NEED_NC = unittest.skipUnless(
    HAVE_OPENBSD_NC, "netcat-openbsd (nc with -N and -U) is not installed"
    if not NC else "%s is not OpenBSD netcat (needs -N and -U)" % NC)
NEED_SOCAT = unittest.skipUnless(SOCAT, "socat is not installed")
NEED_TELNET = unittest.skipUnless(TELNET, "telnet (package telnet) is not installed")
NEED_CURL = unittest.skipUnless(CURL, "curl is not installed")
NEED_LOGGER = unittest.skipUnless(
    HAVE_UTIL_LINUX_LOGGER, "util-linux logger (with --octet-count, --rfc3164) is not installed")
NEED_RDATE = unittest.skipUnless(RDATE, "rdate is not installed")
NEED_SYSTEMD_ANALYZE = unittest.skipUnless(SYSTEMD_ANALYZE, "systemd-analyze (package systemd) is not installed")
NEED_SOCKET_ACTIVATE = unittest.skipUnless(
    SOCKET_ACTIVATE, "systemd-socket-activate (package systemd) is not installed")
