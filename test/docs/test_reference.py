"""One reference, three places: `netd --help`, the manual pages netd(8) and netd.ini(5) as `man`
renders them, and docs/configuration.md must name the same options and the same keys, with the
same defaults (and, --help against the manual, the same meanings).

Nothing here lists keys: whatever keys netd has are compared, so a key added to netd's tables
shows up in --help and the manual by itself (netd-man writes the pages from those tables at build
time) and this test fails until docs/configuration.md has its row too."""

import os
import re
import shutil
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("NETD_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("NETD_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
NETD = os.environ.get("NETD_BIN", os.path.join(BUILD_DIR, "netd"))
MAN_DIR = os.path.join(BUILD_DIR, "man")
MAN = shutil.which("man")

SERVER = "[server]"
SERVICE = "service"


def handler_group(name):
    return "handler " + name


class Reference:
    """What one place says: usage forms, options {name: help}, keys {group: {key: (default,
    meaning)}} (meaning None where the place gives none), handler names."""

    def __init__(self):
        self.usage = []
        self.options = {}
        self.keys = {}
        self.handlers = []


def read_help():
    r = subprocess.run([NETD, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    ref = Reference()
    lines = r.stdout.splitlines()
    section = None
    group = None
    for line in lines:
        m = re.match(r"^(?:Usage:|      ) netd (.*)$", line)
        if m and section is None:
            ref.usage.append(m.group(1))
            continue
        if line == "Options:":
            section = "options"
            continue
        if line == "Config keys (with defaults):":
            section = "keys"
            continue
        if section == "options":
            # Program_options: "  -h [ --help ]   text" or "  --config PATH   text", the text
            # wrapped onto lines that start with blanks only.
            m = re.match(r"^  (?:-\w \[ )?--([\w-]+)(?: \])?(?: (\S+))?\s{2,}(.*)$", line)
            if m:
                last = m.group(1)
                ref.options[last] = m.group(3).strip()
            elif line.strip() and ref.options:
                ref.options[last] += " " + line.strip()
            continue
        if section != "keys":
            continue
        if line == SERVER:
            group = SERVER
        elif line.startswith("[SERVICE]"):
            group = SERVICE
        elif line.startswith("Handlers ") or line.startswith("Custom verifiers "):
            group = None
        else:
            m = re.match(r"^  ([\w-]+): ", line)
            if m:
                group = handler_group(m.group(1))
                ref.handlers.append(m.group(1))
                ref.keys[group] = {}
                continue
            # "  key = default  meaning": a default and its meaning are two blanks apart or more.
            m = re.match(r"^ {2,}(\w+) =(?: (.*?))?(?: {2,}(.*))?$", line)
            if m and group:
                ref.keys.setdefault(group, {})[m.group(1)] = (m.group(2) or "", m.group(3))
    return ref


def render_man(page):
    """The page as `man -l` shows it on a plain terminal; groff's warnings fail the test."""
    env = dict(os.environ, LC_ALL="C", MANWIDTH="250", MAN_KEEP_FORMATTING="")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    r = subprocess.run([MAN, "--warnings", "-l", os.path.join(MAN_DIR, page)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stderr == "", "man -l %s: %s" % (page, r.stderr)
    return r.stdout


def man_sections(text):
    """{SECTION HEADING: [lines]} of a rendered page."""
    sections = {}
    current = None
    for line in text.splitlines():
        if re.match(r"^[A-Z\[]", line):
            current = line.strip()
            sections[current] = []
        elif current:
            sections[current].append(line)
    return sections


def man_tagged(lines):
    """(tag, first body line) of each .TP paragraph: the tag 7 blanks in, the body 14."""
    items = []
    for i, line in enumerate(lines):
        if re.match(r"^ {7}\S", line):
            body = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].startswith(" " * 14) else ""
            items.append((line.strip(), body))
    return items


def man_keys(lines):
    keys = {}
    for tag, body in man_tagged(lines):
        m = re.match(r"^(\w+) =(?: (.*))?$", tag)
        if m:
            keys[m.group(1)] = (m.group(2) or "", body)
    return keys


def read_man():
    ref = Reference()
    netd8 = man_sections(render_man("netd.8"))
    ref.usage = [re.sub(r"^netd ", "", line.strip()) for line in netd8["SYNOPSIS"] if line.strip()]
    for tag, body in man_tagged(netd8["OPTIONS"]):
        m = re.match(r"^(?:-\w, )?--([\w-]+)(?: \S+)?$", tag)
        if m:
            ref.options[m.group(1)] = body
    ini5 = man_sections(render_man("netd.ini.5"))
    ref.keys[SERVER] = man_keys(ini5["[SERVER] KEYS"])
    ref.keys[SERVICE] = man_keys(ini5["SERVICE KEYS"])
    handler_lines = {}
    current = None
    for line in ini5["HANDLERS"]:
        m = re.match(r"^ {3}(\S+)$", line)
        if m:
            current = m.group(1)
            ref.handlers.append(current)
            handler_lines[current] = []
        elif current:
            handler_lines[current].append(line)
    for name, lines in handler_lines.items():
        ref.keys[handler_group(name)] = man_keys(lines)
    return ref


def markdown_tables(lines):
    """Each table in lines as (header cells, [row cells])."""
    tables = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| ]+\|$", lines[i + 1]):
            header = split_row(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(split_row(lines[i]))
                i += 1
            tables.append((header, rows))
        else:
            i += 1
    return tables


def split_row(line):
    # "\|" is a pipe inside a cell.
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def doc_keys(lines):
    """{key: (default, None)} from the first table headed "key | default" in lines."""
    for header, rows in markdown_tables(lines):
        if header[:2] == ["key", "default"]:
            keys = {}
            for cells in rows:
                # A default written as code is the value; words ("empty", "required", "the
                # section name") stand for no default.
                m = re.match(r"^`([^`]*)`", cells[1])
                default = m.group(1) if m else ""
                for key in re.findall(r"`([^`]+)`", cells[0]):
                    keys[key] = (default, None)
            return keys
    return {}


def read_docs():
    with open(os.path.join(SOURCE_DIR, "docs", "configuration.md"), encoding="utf-8") as f:
        text = f.read()
    # Level-2 sections, and within "## Handlers" the level-3 ones.
    chunks = re.split(r"^(##+ .*)$", text, flags=re.M)
    sections = {chunks[i]: chunks[i + 1].splitlines() for i in range(1, len(chunks), 2)}
    ref = Reference()
    ref.keys[SERVER] = doc_keys(sections["## [server]"])
    ref.keys[SERVICE] = doc_keys(sections["## Services: any other section"])
    for header, rows in markdown_tables(sections["## Handlers"]):
        if header[0] == "handler":
            ref.handlers = [re.sub(r"`", "", cells[0]) for cells in rows]
    headings = [h for h in sections if h.startswith("### ")]
    for name in ref.handlers:
        heading = next((h for h in headings if h.split()[1] == name), None)
        assert heading, "docs/configuration.md has no '### %s' section" % name
        ref.keys[handler_group(name)] = doc_keys(sections[heading])
    return ref


@unittest.skipUnless(MAN, "man (package man-db) is not installed")
class Reference3Ways(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.help = read_help()
        cls.man = read_man()
        cls.docs = read_docs()

    def test_help_lists_keys(self):
        # The parse itself: a broken --help layout must not pass as "nothing to compare".
        self.assertGreater(len(self.help.keys[SERVER]), 5)
        self.assertGreater(len(self.help.keys[SERVICE]), 10)
        self.assertIn("logger", self.help.handlers)
        self.assertIn("check-config", self.help.options)

    def test_manual_synopsis_is_the_usage(self):
        self.assertEqual(self.man.usage, self.help.usage)

    def test_manual_options_are_helps(self):
        self.assertEqual(self.man.options, self.help.options)

    def test_manual_keys_are_helps(self):
        self.assertEqual(self.man.handlers, self.help.handlers)
        for group, keys in self.help.keys.items():
            with self.subTest(group=group):
                self.assertEqual(self.man.keys.get(group), keys)

    def test_configuration_md_keys_and_defaults_are_helps(self):
        self.assertEqual(sorted(self.docs.handlers), sorted(self.help.handlers),
                         "docs/configuration.md's handler table")
        for group, keys in self.help.keys.items():
            with self.subTest(group=group):
                documented = {key: default for key, (default, _) in self.docs.keys.get(group, {}).items()}
                expected = {key: default for key, (default, _) in keys.items()}
                self.assertEqual(documented, expected,
                                 "docs/configuration.md (%s): missing %s, not in netd %s, defaults %s" % (
                                     group, sorted(set(expected) - set(documented)),
                                     sorted(set(documented) - set(expected)),
                                     {k: (documented[k], expected[k]) for k in set(documented) & set(expected)
                                      if documented[k] != expected[k]}))


if __name__ == "__main__":
    unittest.main(verbosity=2)
