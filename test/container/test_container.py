"""SPEC 6 and 8: the Dockerfile's image, built and run without a Docker daemon.

buildah builds the Dockerfile as `docker build` would (`bud --format docker`, so HEALTHCHECK,
USER and the rest are kept; `--isolation chroot` and vfs storage, which need nothing but root).
The FROM images, debian:bookworm and debian:bookworm-slim, are pulled where a registry answers;
where none does, they are made from Debian's packages: mmdebstrap's bookworm root
(test/lib/debian_root.py, shared with the package test) imported as debian:bookworm, and the
same with the slim image's dpkg path excludes as debian:bookworm-slim.

The image then runs as a container would: its entrypoint and command, as its user, through
`buildah run`, in a network namespace of the test's own (so its ports, all addresses, clash with
nothing on the machine). The tests talk to it with nc, check that netd runs as the image's
non-root user, that the image's HEALTHCHECK command passes while netd serves and fails once it
stopped, and that SIGTERM (its STOPSIGNAL) ends it with status 0.

Run by `scripts/test container` (as root):  python3 -m unittest -v test_container
Storage, kept between runs for the FROM images: build-container/ ($NETD_CONTAINER_DIR)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "test", "lib"))

from debian_root import bookworm_tarball  # noqa: E402

BUILD_DIR = os.environ.get("NETD_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
WORK_DIR = os.path.abspath(os.environ.get("NETD_CONTAINER_DIR", os.path.join(SOURCE_DIR, "build-container")))
IMAGE = "localhost/netd:test"
BASES = ("docker.io/library/debian:bookworm", "docker.io/library/debian:bookworm-slim")
# What debian:bookworm-slim leaves out (debuerreotype's slim variant: /etc/dpkg/dpkg.cfg.d/docker).
SLIM_EXCLUDES = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def buildah(*args, timeout=300, check=True, **kwargs):
    argv = ["buildah", "--root", os.path.join(WORK_DIR, "storage"), "--runroot",
            os.path.join(WORK_DIR, "run"), "--storage-driver", "vfs"] + list(args)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and r.returncode != 0:
        raise AssertionError("buildah %s exited %d:\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def image_label(name, label):
    r = buildah("inspect", "--type", "image", name, check=False)
    if r.returncode != 0:
        return None
    return (json.loads(r.stdout)["OCIv1"]["config"].get("Labels") or {}).get(label, "")


def make_base_images():
    """debian:bookworm and debian:bookworm-slim in the storage: pulled, or made from Debian's
    packages where no registry answers. A made one is made again when the root tarball is."""
    tarball = bookworm_tarball(BUILD_DIR)
    made_from = "%s@%d" % (os.path.basename(tarball), os.path.getmtime(tarball))
    if all(image_label(name, "netd.made-from") in ("", made_from) for name in BASES):
        return "kept"
    pulled = [buildah("pull", "--quiet", name, timeout=120, check=False).returncode == 0 for name in BASES]
    if all(pulled):
        return "pulled from a registry"
    start = time.monotonic()
    bookworm, slim = BASES
    container = buildah("from", "scratch").stdout.strip()
    try:
        buildah("add", container, tarball, "/")
        buildah("config", "--env", PATH, "--cmd", '["bash"]', "--label", "netd.made-from=" + made_from, container)
        buildah("commit", "--quiet", "--rm", container, bookworm)
    except BaseException:
        buildah("rm", container, check=False)
        raise
    container = buildah("from", "--pull-never", bookworm).stdout.strip()
    try:
        script = ("cat > /etc/dpkg/dpkg.cfg.d/docker <<'EOF'\n%sEOF\n"
                  "find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete\n"
                  "rm -rf /usr/share/man/* /usr/share/groff/* /usr/share/info/* /usr/share/lintian/*"
                  " /usr/share/linda/*\n"
                  "find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +\n"
                  % SLIM_EXCLUDES)
        buildah("run", "--isolation", "chroot", container, "--", "sh", "-c", script)
        buildah("commit", "--quiet", "--rm", container, slim)
    except BaseException:
        buildah("rm", container, check=False)
        raise
    return "made from Debian's packages (no registry answered) in %.0f s" % (time.monotonic() - start)


def descendants(pid):
    """Every process below pid."""
    found = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            for task in os.listdir("/proc/%d/task" % parent):
                with open("/proc/%d/task/%s/children" % (parent, task)) as f:
                    children = [int(c) for c in f.read().split()]
                found += children
                pending += children
        except FileNotFoundError:
            continue
    return found


def command_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")[0].decode()
    except FileNotFoundError:
        return ""


class Image(unittest.TestCase):
    """The Dockerfile, built; then a container of it, running."""

    @classmethod
    def setUpClass(cls):
        os.makedirs(WORK_DIR, exist_ok=True)
        how = make_base_images()
        print("\nbase images %s" % how, flush=True)
        buildah("rm", "--all", check=False)
        buildah("rmi", "--force", IMAGE, check=False)
        start = time.monotonic()
        r = buildah("bud", "--isolation", "chroot", "--format", "docker", "--pull-never",
                    "--tag", IMAGE, "--file", os.path.join(SOURCE_DIR, "Dockerfile"), SOURCE_DIR,
                    timeout=1800, check=False)
        if r.returncode != 0:
            raise AssertionError("buildah bud failed:\n" + (r.stdout + r.stderr)[-6000:])
        print("image built in %.0f s" % (time.monotonic() - start), flush=True)
        cls.config = json.loads(buildah("inspect", "--type", "image", IMAGE).stdout)["Docker"]["config"]
        cls.namespace = "netd-container-%d" % os.getpid()
        subprocess.run(["ip", "netns", "add", cls.namespace], check=True)
        subprocess.run(["ip", "-n", cls.namespace, "link", "set", "lo", "up"], check=True)
        cls.container = buildah("from", "--pull-never", IMAGE).stdout.strip()
        cls.log = open(os.path.join(WORK_DIR, "netd.log"), "w+")
        cls.process = subprocess.Popen(
            cls.in_namespace(["buildah", "run"] + cls.buildah_storage() +
                             ["--isolation", "chroot", cls.container, "--"] +
                             cls.config["Entrypoint"] + (cls.config.get("Cmd") or [])),
            stdin=subprocess.DEVNULL, stdout=cls.log, stderr=subprocess.STDOUT, start_new_session=True)
        cls.netd = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and cls.process.poll() is None:
            cls.netd = next((p for p in descendants(cls.process.pid) if command_of(p) == "/usr/bin/netd"), None)
            if cls.netd and cls.health().returncode == 0:
                break
            time.sleep(0.5)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "process", None) is not None and cls.process.poll() is None:
            os.killpg(cls.process.pid, signal.SIGKILL)
            cls.process.wait()
        if getattr(cls, "container", None):
            buildah("rm", cls.container, check=False)
        if getattr(cls, "namespace", None):
            subprocess.run(["ip", "netns", "del", cls.namespace], check=False)
        if getattr(cls, "log", None):
            cls.log.close()

    @staticmethod
    def buildah_storage():
        return ["--root", os.path.join(WORK_DIR, "storage"), "--runroot", os.path.join(WORK_DIR, "run"),
                "--storage-driver", "vfs"]

    @classmethod
    def in_namespace(cls, argv):
        return ["ip", "netns", "exec", cls.namespace] + argv

    @classmethod
    def exec(cls, argv, input=None, timeout=30):
        """argv in the running container (its user, its network)."""
        return subprocess.run(cls.in_namespace(["buildah", "run"] + cls.buildah_storage() +
                                               ["--isolation", "chroot", cls.container, "--"] + argv),
                              input=input, capture_output=True, text=True, timeout=timeout)

    @classmethod
    def health(cls):
        """The image's HEALTHCHECK command, run in the container as Docker runs it."""
        test = cls.config["Healthcheck"]["Test"]
        argv = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
        timeout = cls.config["Healthcheck"].get("Timeout", 30 * 10**9) / 1e9
        try:
            return cls.exec(argv, timeout=timeout + 30)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(argv, 124, "", "timed out: %s" % e)

    def nc(self, *args, input=""):
        return subprocess.run(self.in_namespace(["nc"] + list(args)), input=input,
                              capture_output=True, text=True, timeout=30)

    def netd_log(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def assert_serving(self):
        self.assertIsNone(self.process.poll(), "the container exited:\n" + self.netd_log())
        self.assertIsNotNone(self.netd, "no netd process in the container:\n" + self.netd_log())

    def test_image_config(self):
        self.assertEqual(self.config["Entrypoint"], ["/usr/bin/netd"])
        self.assertEqual(self.config["User"], "netd")
        self.assertEqual(self.config.get("StopSignal"), "SIGTERM")
        self.assertIn("7007/tcp", self.config["ExposedPorts"])
        self.assertIn("/healthz", " ".join(self.config["Healthcheck"]["Test"]))
        self.assertIn("/var/log/netd", self.config.get("Volumes") or {})

    def test_runs_as_the_non_root_user_netd(self):
        self.assert_serving()
        uid = int(self.exec(["id", "-u", "netd"]).stdout)
        self.assertNotEqual(uid, 0)
        with open("/proc/%d/status" % self.netd) as f:
            ids = {line.split(":")[0]: line.split()[1:] for line in f if line.startswith(("Uid:", "Gid:"))}
        self.assertEqual(ids["Uid"], [str(uid)] * 4)
        self.assertNotIn("0", ids["Gid"])

    def test_echo_and_daytime_answer_nc(self):
        self.assert_serving()
        self.assertEqual(self.nc("-N", "127.0.0.1", "7007", input="hello container\n").stdout, "hello container\n")
        self.assertEqual(self.nc("-u", "-w1", "127.0.0.1", "7007", input="a datagram\n").stdout, "a datagram\n")
        # (text mode reads daytime's CRLF as "\n")
        self.assertRegex(self.nc("-N", "127.0.0.1", "7014").stdout, r"^\w+, \w+ \d\d, \d{4} \d\d:\d\d:\d\d.*\n$")

    def test_logger_writes_to_the_volume(self):
        self.assert_serving()
        self.nc("-N", "127.0.0.1", "7514", input="a record from the container test\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = self.exec(["cat", "/var/log/netd/messages.log"])
            if "a record from the container test" in r.stdout:
                break
            time.sleep(0.2)
        self.assertIn("a record from the container test", r.stdout)
        owner = self.exec(["stat", "-c", "%U", "/var/log/netd/messages.log"]).stdout.strip()
        self.assertEqual(owner, "netd")

    def test_healthcheck_passes(self):
        self.assert_serving()
        r = self.health()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_z_sigterm_stops_it_and_the_healthcheck_then_fails(self):
        self.assert_serving()
        os.kill(self.netd, signal.SIGTERM)
        self.assertEqual(self.process.wait(timeout=30), 0, self.netd_log())
        self.assertNotEqual(self.health().returncode, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
