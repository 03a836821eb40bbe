"""SPEC 6: the systemd units as `cmake --install` puts them, checked by systemd's own
`systemd-analyze verify` (and its offline security review)."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from clients import CLIENT_TIMEOUT, NEED_SYSTEMD_ANALYZE, SYSTEMD_ANALYZE  # noqa: E402

BUILD_DIR = os.environ.get("NETD_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))


@NEED_SYSTEMD_ANALYZE
class InstalledUnits(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.prefix = tempfile.mkdtemp(prefix="netd-install-")
        r = subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", cls.prefix],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            shutil.rmtree(cls.prefix, ignore_errors=True)
            raise AssertionError("cmake --install failed:\n" + r.stdout + r.stderr)
        cls.units = os.path.join(cls.prefix, "lib", "systemd", "system")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.prefix, ignore_errors=True)

    def unit(self, name):
        with open(os.path.join(self.units, name)) as f:
            return f.read()

    def test_install_layout(self):
        for path in ("bin/netd", "etc/netd/netd.ini", "etc/netd/netd.d", "lib/systemd/system/netd.service",
                     "lib/systemd/system/netd@.service", "lib/systemd/system/netd.socket",
                     "share/doc/netd/operations.md", "share/man/man8/netd.8", "share/man/man5/netd.ini.5"):
            self.assertTrue(os.path.exists(os.path.join(self.prefix, path)), path)
        service = self.unit("netd.service")
        self.assertIn("ExecStart=%s/bin/netd --config %s/etc/netd/netd.ini" % (self.prefix, self.prefix),
                      service)

    def assert_verified(self, units):
        # verify runs `man` for each Documentation=man:... page: the installed ones are found
        # through MANPATH (its trailing colon keeps the system's pages too).
        env = dict(os.environ, MANPATH=os.path.join(self.prefix, "share", "man") + ":")
        r = subprocess.run([SYSTEMD_ANALYZE, "verify"] + units,
                           capture_output=True, text=True, timeout=CLIENT_TIMEOUT, env=env)
        # verify exits 0 on mere warnings (an unknown key, say): any output is a failure here.
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_units_pass_systemd_analyze_verify(self):
        self.assert_verified(sorted(os.path.join(self.units, unit) for unit in os.listdir(self.units)))

    def test_the_instance_template_shares_the_addresses_under_one_user(self):
        # SO_REUSEPORT binds only for the same user: every instance is the dynamic user netd.
        template = self.unit("netd@.service")
        service = self.unit("netd.service")
        self.assertIn("--server.reuseport=true --stats.tcp=127.0.0.1:%i", template)
        self.assertIn("User=netd\nGroup=netd", template)
        self.assertIn("RuntimeDirectory=netd-%i", template)
        self.assertNotIn("%i", service)
        # The hardening is the same file's: only the instance lines differ.
        differing = set(template.splitlines()) ^ set(service.splitlines())
        self.assertTrue(all("%i" in line or "netd@" in line or line.startswith(
            ("# ", "User=", "Group=", "Description=", "DynamicUser=", "RuntimeDirectory=",
             "ExecStart=")) for line in differing), differing)
        with tempfile.TemporaryDirectory() as d:
            instance = os.path.join(d, "netd@9101.service")
            shutil.copy(os.path.join(self.units, "netd@.service"), instance)
            self.assert_verified([instance])

    def test_service_is_notify_with_watchdog_and_hardening(self):
        service = self.unit("netd.service")
        for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec=",
                     "Restart=on-failure", "KillMode=mixed", "NoNewPrivileges=yes",
                     "ProtectSystem=strict", "PrivateTmp=yes", "SystemCallFilter=@system-service",
                     "AmbientCapabilities=CAP_NET_BIND_SERVICE", "LogsDirectory=netd", "TasksMax="):
            self.assertIn(line, service)
        r = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager",
                            os.path.join(self.units, "netd.service")],
                           capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
        m = re.search(r"Overall exposure level for netd\.service: ([0-9.]+)", r.stdout + r.stderr)
        if m is None:
            self.skipTest("this systemd-analyze has no offline security review")
        # systemd rates 0-10; below 3 is its "OK" band.
        self.assertLess(float(m.group(1)), 3.0, r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
