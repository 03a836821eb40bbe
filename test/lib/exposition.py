"""The stats service's Prometheus text exposition, read back by the tests."""

import re
import time

SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$')


def parse(text):
    """{(name, labels): value} of an exposition, checking every line is well formed."""
    samples = {}
    typed = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP ") or not line:
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("malformed exposition line: %r" % line)
        name, labels, value = m.groups()
        if name not in typed:
            raise AssertionError("sample before its # TYPE: %r" % line)
        samples[(name, labels or "")] = float(value)
    return samples


def labels(service, transport, **more):
    text = 'service="%s",transport="%s"' % (service, transport)
    for key, value in more.items():
        text += ',%s="%s"' % (key, value)
    return text


def wait_for(scrape, predicate, timeout=5.0):
    """Scrapes until predicate(samples) holds (counts made by a fork child or a writer thread may
    land a moment after the client saw its answer); returns the last samples."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape()
        if predicate(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)
