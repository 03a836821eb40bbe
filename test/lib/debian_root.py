"""A fresh Debian bookworm root made from Debian's packages, for the tests that install netd's
package into one (test/package) and build its container image on one (test/container).

mmdebstrap makes the root (variant minbase: what Debian calls required, apt included) as a
tarball once; it is kept in BUILD_DIR/debian-root/ and made again when it is a week old, so a
second run costs an unpack, not a download. A DebianRoot is one unpacked copy; commands run in
it through chroot inside their own mount and pid namespaces (and, if asked, network namespace),
so nothing they mount or start outlives them."""

import os
import shutil
import subprocess
import time

SUITE = "bookworm"
MAX_AGE = 7 * 24 * 3600
ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}


def bookworm_tarball(build_dir):
    """The path of a bookworm minbase tarball, made by mmdebstrap unless a recent one is kept."""
    directory = os.path.join(os.path.abspath(build_dir), "debian-root")
    path = os.path.join(directory, SUITE + "-minbase.tar")
    if os.path.exists(path) and time.time() - os.path.getmtime(path) < MAX_AGE:
        return path
    os.makedirs(directory, exist_ok=True)
    partial = path + ".partial"
    started = time.monotonic()
    r = subprocess.run(["mmdebstrap", "--variant=minbase", "--format=tar", "--quiet", SUITE, partial],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        raise AssertionError("mmdebstrap failed:\n" + r.stdout + r.stderr)
    os.replace(partial, path)
    print("debian_root: made %s in %.0f s" % (path, time.monotonic() - started), flush=True)
    return path


class DebianRoot:
    """An unpacked copy of the tarball at path (replacing what was there)."""

    def __init__(self, tarball, path):
        self.path = os.path.abspath(path)
        self.remove()
        os.makedirs(self.path)
        subprocess.run(["tar", "-xf", tarball, "-C", self.path], check=True, timeout=300)
        resolv = os.path.join(self.path, "etc", "resolv.conf")
        if os.path.lexists(resolv):
            os.remove(resolv)
        shutil.copyfile("/etc/resolv.conf", resolv)

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)

    def file(self, path):
        """The host's path of path in the root."""
        return os.path.join(self.path, path.lstrip("/"))

    def run(self, command, input=None, timeout=600, network=True, check=True):
        """Runs command (a list) as root in the root; with network=False in a network namespace
        of its own with only loopback, up. Returns the CompletedProcess (text)."""
        inner = 'exec chroot "$0" "$@"'
        if not network:
            inner = "ip link set lo up && " + inner
        argv = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                "--mount-proc=" + self.file("/proc")]
        if not network:
            argv.append("--net")
        argv += ["--", "sh", "-c", inner, self.path] + list(command)
        r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                           env=ENV)
        if check and r.returncode != 0:
            raise AssertionError("in the root, %s exited %d:\n%s%s"
                                 % (" ".join(command), r.returncode, r.stdout, r.stderr))
        return r

    def sh(self, script, **kwargs):
        return self.run(["sh", "-c", script], **kwargs)

    def snapshot(self, skip=("/proc", "/dev", "/sys", "/tmp")):
        """{path: kind} of everything in the root but skip: 'd' for a directory, 'l -> TARGET'
        for a symbolic link, 'f' for anything else."""
        entries = {}
        for directory, dirs, files in os.walk(self.path):
            relative = os.path.relpath(directory, self.path)
            relative = "/" if relative == "." else "/" + relative
            dirs[:] = [d for d in dirs
                       if os.path.join(relative, d) not in skip]
            for name in dirs + files:
                path = os.path.join(relative, name)
                host = os.path.join(directory, name)
                if os.path.islink(host):
                    entries[path] = "l -> " + os.readlink(host)
                elif os.path.isdir(host):
                    entries[path] = "d"
                else:
                    entries[path] = "f"
        return entries
