"""Reading the logger's records back: what netd's escaping made of a client's bytes."""

import re


def unescape_netd(text):
    """A JSON record's string back to the client's bytes (netd writes bytes that are not UTF-8 as
    \\xHH and doubles a backslash)."""
    if text is None:
        return None
    return re.sub(rb"\\(\\|x[0-9a-f]{2})",
                  lambda m: b"\\" if m.group(1) == b"\\" else bytes([int(m.group(1)[1:], 16)]),
                  text.encode("utf-8"))
