"""SPEC 11: the Debian package that scripts/package builds, as an operator meets it.

lintian's verdict; what the package holds; then, in a fresh bookworm root made by mmdebstrap
(test/lib/debian_root.py), one operator's life with it, step by step: `apt-get install
./netd_*.deb` pulls only Debian's runtime libraries, makes the user netd and enables the unit
without starting anything (no systemd runs there); the installed netd passes --check-config,
reads /etc/netd/netd.d/, serves and writes its log as netd; `man -l` renders both pages, which
list the installed binary's keys; an upgrade keeps a changed /etc/netd/netd.ini; remove keeps
the configuration, the user and its files; purge leaves nothing behind.

Run by `scripts/test package` after scripts/package (as root: chroot, namespaces):
    NETD_DEB=dist/netd_0.1.0_amd64.deb python3 -m unittest -v test_package
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "test", "lib"))

from debian_root import DebianRoot, bookworm_tarball  # noqa: E402

BUILD_DIR = os.environ.get("NETD_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
WORK_DIR = os.environ.get("NETD_PACKAGE_DIR", os.path.join(SOURCE_DIR, "build-package"))


def the_package():
    if os.environ.get("NETD_DEB"):
        return os.path.abspath(os.environ["NETD_DEB"])
    found = glob.glob(os.path.join(SOURCE_DIR, "dist", "netd_*.deb"))
    if len(found) != 1:
        raise unittest.SkipTest("no single dist/netd_*.deb (run scripts/package): %s" % found)
    return found[0]


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)


def field(deb, name):
    return run(["dpkg-deb", "-f", deb, name]).stdout.strip()


def units_in_tree():
    """The unit names systemd/ makes (NAME.in is written as NAME)."""
    return sorted(re.sub(r"\.in$", "", name) for name in os.listdir(os.path.join(SOURCE_DIR, "systemd")))


def render_man(path):
    env = dict(os.environ, LC_ALL="C", MANWIDTH="200")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    return run(["man", "--warnings", "-l", path], env=env)


@unittest.skipUnless(shutil.which("lintian"), "lintian is not installed")
class Lintian(unittest.TestCase):

    def test_no_errors(self):
        deb = the_package()
        r = run(["lintian", "--fail-on", "error", "--display-info", "--tag-display-limit", "0", deb])
        print("\nlintian %s:\n%s%s" % (os.path.basename(deb), r.stdout, r.stderr), flush=True)
        errors = [line for line in r.stdout.splitlines() if line.startswith("E: ")]
        self.assertEqual(errors, [])
        self.assertEqual(r.returncode, 0, r.stderr)


class Contents(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.deb = the_package()
        # {path: type letter} from dpkg-deb's listing ("-rw-r--r-- root/root ... ./etc/netd/netd.ini").
        cls.files = {re.sub(r"^\.", "", line.split()[-1]).rstrip("/") or "/": line[0]
                     for line in run(["dpkg-deb", "-c", cls.deb]).stdout.splitlines()
                     if " -> " not in line}

    def test_name_version_architecture(self):
        with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
            version = re.search(r"^project\(netd VERSION (\S+?)[ )]", f.read(), re.M).group(1)
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        self.assertEqual(os.path.basename(self.deb), "netd_%s_%s.deb" % (version, arch))
        self.assertEqual((field(self.deb, "Package"), field(self.deb, "Version")), ("netd", version))

    def test_files(self):
        for path in ("/usr/bin/netd", "/etc/netd/netd.ini", "/etc/netd/netd.d",
                     "/usr/share/man/man8/netd.8.gz", "/usr/share/man/man5/netd.ini.5.gz",
                     "/usr/share/doc/netd/copyright", "/usr/share/doc/netd/changelog.gz"):
            self.assertIn(path, self.files)
        for doc in ("README.md", "configuration.md", "operations.md", "concurrency.md"):
            # dh_compress compresses the larger ones.
            self.assertTrue({"/usr/share/doc/netd/" + doc, "/usr/share/doc/netd/%s.gz" % doc} & self.files.keys(), doc)

    def test_every_unit_of_the_tree(self):
        # Whatever systemd/ holds, and the instance template cmake --install makes of netd.service.in.
        for unit in units_in_tree() + ["netd@.service"]:
            self.assertIn("/lib/systemd/system/" + unit, self.files)

    def test_conffiles(self):
        conffiles = run(["dpkg-deb", "--info", self.deb, "conffiles"]).stdout.split()
        self.assertIn("/etc/netd/netd.ini", conffiles)
        # Every file the package puts under /etc is the administrator's.
        self.assertEqual(sorted(conffiles), sorted(f for f, kind in self.files.items()
                                                   if f.startswith("/etc/") and kind == "-"))
        self.assertEqual(self.files.get("/etc/netd/netd.d"), "d")

    def test_depends(self):
        depends = field(self.deb, "Depends")
        self.assertIn("adduser", depends)
        # Boost and libstdc++ are linked in (NETD_STATIC_DEPS: fork mode's speed); OpenSSL is a
        # shared library, found by dh_shlibdeps; systemd's protocols are spoken without libsystemd.
        self.assertRegex(depends, r"libssl3")
        self.assertNotRegex(depends, r"libsystemd")
        self.assertNotRegex(depends, r"libboost")
        self.assertNotRegex(depends, r"-dev\b")


class Lifecycle(unittest.TestCase):
    """One root, steps in order; a step after a failed one is skipped."""

    failed = None

    @classmethod
    def setUpClass(cls):
        cls.deb = the_package()
        cls.version = field(cls.deb, "Version")
        cls.work = os.path.join(WORK_DIR, "test")
        os.makedirs(cls.work, exist_ok=True)
        cls.root = DebianRoot(bookworm_tarball(BUILD_DIR), os.path.join(cls.work, "root"))
        cls.root.run(["apt-get", "update", "-qq"])
        shutil.copy(cls.deb, cls.root.file("/tmp"))
        cls.next_version = cls.version + "+upgrade1"
        cls.next_deb = cls.root.file("/tmp/netd_%s_%s.deb" % (cls.next_version, field(cls.deb, "Architecture")))
        cls.repack(cls.deb, cls.next_version, cls.next_deb)

    @classmethod
    def tearDownClass(cls):
        if cls.failed is None:
            cls.root.remove()
        else:
            print("\nthe root is kept for a look: %s" % cls.root.path, flush=True)

    @staticmethod
    def repack(deb, version, out):
        """deb with another version: the next release as far as dpkg and the scripts can tell."""
        with tempfile.TemporaryDirectory() as tree:
            subprocess.run(["dpkg-deb", "-R", deb, tree], check=True)
            control = os.path.join(tree, "DEBIAN", "control")
            with open(control) as f:
                text = f.read()
            with open(control, "w") as f:
                f.write(re.sub(r"(?m)^Version: .*$", "Version: " + version, text))
            subprocess.run(["dpkg-deb", "--root-owner-group", "-b", tree, out],
                           check=True, capture_output=True)

    def setUp(self):
        if Lifecycle.failed is not None:
            self.skipTest("an earlier step failed: " + Lifecycle.failed)

    def run_step(self, step):
        try:
            step()
        except BaseException:
            Lifecycle.failed = self.id().rsplit(".", 1)[-1]
            raise

    def installed(self):
        r = self.root.run(["dpkg-query", "-W", "-f", "${Package} ${Status}\n"])
        return {line.split()[0] for line in r.stdout.splitlines() if line.endswith("install ok installed")}

    def status(self):
        r = self.root.run(["dpkg-query", "-W", "-f", "${Status} ${Version}", "netd"], check=False)
        return r.stdout.strip() if r.returncode == 0 else "not installed"

    def user(self, name):
        return self.root.run(["getent", "passwd", name], check=False).stdout.strip()

    def read(self, path):
        with open(self.root.file(path)) as f:
            return f.read()

    def test_1_install_pulls_only_debian_libraries(self):
        def step():
            cls = Lifecycle
            cls.before_packages = self.installed()
            cls.before_files = self.root.snapshot()
            cls.before_accounts = {f: self.read(f) for f in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")}
            self.root.run(["apt-get", "install", "-y", "/tmp/" + os.path.basename(self.deb)])
            cls.pulled = sorted(self.installed() - cls.before_packages - {"netd"})
            print("\napt-get install pulled: %s" % " ".join(cls.pulled), flush=True)
            for package in cls.pulled:
                section = self.root.run(["dpkg-query", "-W", "-f", "${Section}", package]).stdout
                self.assertIn(section, ("libs", "oldlibs"), "%s is not a runtime library" % package)
                policy = self.root.run(["apt-cache", "policy", package]).stdout
                self.assertRegex(policy, r"\*\*\* \S+ \d+\n\s+\d+ https?://[\w.]*debian\.org/",
                                 "%s is not installed from Debian's archive" % package)
            self.assertEqual(self.status(), "install ok installed " + self.version)
        self.run_step(step)

    def test_2_user_and_unit(self):
        def step():
            entry = self.user("netd").split(":")
            self.assertEqual(len(entry), 7, "no user netd")
            self.assertLess(int(entry[2]), 1000, "netd is not a system user")
            self.assertEqual((entry[5], entry[6]), ("/nonexistent", "/usr/sbin/nologin"))
            self.assertEqual(self.root.run(["id", "-gn", "netd"]).stdout.strip(), "netd")
            self.assertFalse(os.path.exists(self.root.file("/nonexistent")))
            # Enabled for the next boot; nothing started (no systemd runs here, and postinst
            # asked none: deb-systemd-invoke is only called where /run/systemd/system exists).
            wants = self.root.file("/etc/systemd/system/multi-user.target.wants/netd.service")
            self.assertEqual(os.readlink(wants), "/lib/systemd/system/netd.service")
            enabled = [os.path.basename(p) for p in glob.glob(self.root.file("/etc/systemd/system/*/netd*"))]
            self.assertEqual(enabled, ["netd.service"], "only netd.service is enabled")
            service = self.read("/lib/systemd/system/netd.service")
            self.assertIn("ExecStart=/usr/bin/netd --config /etc/netd/netd.ini\n", service)
            self.assertIn("man:netd(8)", service)
            r = self.root.run(["netd", "--version"])
            self.assertEqual(r.stdout.strip(), "netd " + self.version.split("+")[0])
        self.run_step(step)

    def test_3_check_config_and_netd_d(self):
        def step():
            r = self.root.run(["netd", "--check-config"])
            for section in ("[server]", "[echo]", "[logger]", "[stats]"):
                self.assertIn(section, r.stdout)
            # A file dropped into /etc/netd/netd.d/ is read (the config's include_dir).
            extra = self.root.file("/etc/netd/netd.d/cat.ini")
            with open(extra, "w") as f:
                f.write("[cat]\nhandler = exec\ntcp = 127.0.0.1:7099\nprogram = /usr/bin/cat\n")
            try:
                r = self.root.run(["netd", "--check-config"])
                self.assertIn("[cat]", r.stdout)
                self.assertIn("program = /usr/bin/cat", r.stdout)
            finally:
                os.remove(extra)
        self.run_step(step)

    def test_4_serves_as_netd(self):
        def step():
            # What systemd's LogsDirectory= and RuntimeDirectory= would make; then netd as its
            # user, on loopback in a network namespace of its own, until SIGTERM.
            script = r"""
                install -d -o netd -g netd /var/log/netd /run/netd
                setpriv --reuid=netd --regid=netd --init-groups /usr/bin/netd --config /dev/null \
                    --logger.tcp=127.0.0.1:7514 --logger.file=/var/log/netd/messages.log &
                pid=$!
                for i in $(seq 100); do
                    if exec 3<>/dev/tcp/127.0.0.1/7514; then break; fi 2>/dev/null
                    sleep 0.1
                done
                echo 'hello from the package test' >&3
                exec 3>&-
                kill -TERM $pid
                wait $pid
                echo "netd exited $?"
            """
            r = self.root.run(["bash", "-c", script], network=False, timeout=60)
            self.assertIn("netd exited 0", r.stdout, r.stderr)
            log = self.root.file("/var/log/netd/messages.log")
            with open(log) as f:
                self.assertIn("hello from the package test", f.read())
            owner = self.root.run(["stat", "-c", "%U:%G", "/var/log/netd/messages.log"]).stdout.strip()
            self.assertEqual(owner, "netd:netd")
        self.run_step(step)

    def test_5_man_pages_render(self):
        def step():
            keys = set(re.findall(r"(?m)^ {2,}(\w+) =", self.root.run(["netd", "--help"]).stdout))
            pages = {"/usr/share/man/man8/netd.8.gz": ("NETD(8)", "SYNOPSIS", "OPTIONS", "SIGNALS", "EXIT STATUS", "FILES"),
                     "/usr/share/man/man5/netd.ini.5.gz": ("NETD.INI(5)", "[SERVER] KEYS", "SERVICE KEYS", "HANDLERS")}
            for page, headings in pages.items():
                r = render_man(self.root.file(page))
                self.assertEqual((r.returncode, r.stderr), (0, ""), page)
                for heading in headings:
                    self.assertIn(heading, r.stdout, page)
                if "netd.ini" in page:
                    shown = set(re.findall(r"(?m)^ {7}(\w+) =", r.stdout))
                    self.assertEqual(shown, keys, "netd.ini(5) against the installed netd --help")
        self.run_step(step)

    def test_6_upgrade_keeps_a_changed_config(self):
        def step():
            path = "/etc/netd/netd.ini"
            changed = self.read(path).replace("log_level = info", "log_level = warning") + "# changed by the administrator\n"
            with open(self.root.file(path), "w") as f:
                f.write(changed)
            self.root.run(["apt-get", "install", "-y", "/tmp/" + os.path.basename(self.next_deb)])
            self.assertEqual(self.status(), "install ok installed " + self.next_version)
            self.assertEqual(self.read(path), changed)
            self.assertEqual(glob.glob(self.root.file("/etc/netd/*.dpkg-*")), [])
            self.assertIn("log_level = warning", self.root.run(["netd", "--check-config"]).stdout)
            self.assertTrue(self.user("netd"))
            self.assertTrue(os.path.islink(self.root.file("/etc/systemd/system/multi-user.target.wants/netd.service")))
            self.assertTrue(os.path.exists(self.root.file("/var/log/netd/messages.log")))
        self.run_step(step)

    def test_7_remove_keeps_config_user_and_files(self):
        def step():
            self.root.run(["apt-get", "remove", "-y", "netd"])
            self.assertTrue(self.status().startswith("deinstall ok config-files"), self.status())
            self.assertFalse(os.path.exists(self.root.file("/usr/bin/netd")))
            self.assertFalse(os.path.exists(self.root.file("/lib/systemd/system/netd.service")))
            self.assertIn("# changed by the administrator", self.read("/etc/netd/netd.ini"))
            self.assertTrue(self.user("netd"))
            self.assertTrue(os.path.exists(self.root.file("/var/log/netd/messages.log")))
        self.run_step(step)

    def test_8_purge_leaves_nothing(self):
        def step():
            self.root.run(["apt-get", "purge", "-y", "netd"])
            self.assertEqual(self.status(), "not installed")
            after = self.root.snapshot()
            # What apt-get install brought along (the libraries) stays, and so does the tools'
            # own bookkeeping (apt, dpkg, ldconfig's cache, the lock adduser leaves in /run, which
            # is a tmpfs on a running system); nothing else may differ.
            pulled_files = set()
            for package in self.pulled:
                pulled_files |= set(self.root.run(["dpkg", "-L", package]).stdout.split())
            bookkeeping = re.compile(r"^/var/(cache/(apt|debconf)|lib/apt|log/(apt|dpkg\.log|alternatives\.log))(/|$)"
                                     r"|^/var/lib/dpkg/(status|status-old|available|lock.*|triggers/.*|info/(%s)(:\w+)?\..*)$"
                                     r"|^/etc/(passwd|group|shadow|gshadow)-$|^/etc/ld\.so\.cache$"
                                     r"|^/var/cache/ldconfig(/|$)|^/run/adduser$"
                                     % "|".join(re.escape(p) for p in self.pulled or ["-"]))
            added = sorted(p for p in set(after) - set(self.before_files)
                           if p not in pulled_files and not bookkeeping.search(p))
            removed = sorted(set(self.before_files) - set(after))
            changed = sorted(p for p in set(after) & set(self.before_files)
                             if after[p] != self.before_files[p])
            self.assertEqual((added, removed, changed), ([], [], []))
            self.assertEqual([p for p in after if re.search(r"(^|/)netd([@._-]|$)", p)], [])
            for path, text in self.before_accounts.items():
                self.assertEqual(self.read(path), text, path)
        self.run_step(step)


if __name__ == "__main__":
    unittest.main(verbosity=2)
