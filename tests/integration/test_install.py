"""`meson install` of this build into a staging directory (DESTDIR): the
binaries, the example config and the systemd units land where
docs/OPERATIONS.md says, the installed dynkvd accepts the installed config,
and systemd-analyze accepts the installed units."""
import json
import os
import shutil
import subprocess
import unittest

from harness import BUILD_ROOT, NodeTestCase

MESON = os.environ.get("MESON") or shutil.which("meson")
# Every executable an operator gets; not storage-bench (a micro-benchmark)
# nor dynkv-sim-planted (a test's deliberately broken simulator).
INSTALLED_PROGRAMS = {"dynkvd", "dynkv", "dynkv-bench", "dynkv-sim", "dynkv-ring-balance"}


def build_dirs():
    """The build's prefix, bindir and sysconfdir, as absolute paths."""
    out = subprocess.run([MESON, "introspect", "--buildoptions", BUILD_ROOT],
                         capture_output=True, check=True, text=True).stdout
    options = {option["name"]: option["value"] for option in json.loads(out)}
    prefix = options["prefix"]
    return prefix, os.path.join(prefix, options["bindir"]), os.path.join(prefix, options["sysconfdir"])


def systemd_dirs(prefix):
    """Where dist/meson.build puts the units and the sysusers.d file."""
    if prefix == "/usr":
        variable = lambda name: subprocess.run(["pkg-config", f"--variable={name}", "systemd"],
                                               capture_output=True, text=True).stdout.strip()
        if variable("systemdsystemunitdir"):
            return variable("systemdsystemunitdir"), variable("sysusersdir")
    return os.path.join(prefix, "lib/systemd/system"), os.path.join(prefix, "lib/sysusers.d")


class InstallTest(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.destdir = os.path.join(self.root, "dest")
        self.prefix, self.bindir, self.sysconfdir = build_dirs()
        self.unit_dir, self.sysusers_dir = systemd_dirs(self.prefix)
        self.config = os.path.join(self.sysconfdir, "dynkv", "dynkvd.yaml")
        self.install()

    def install(self):
        result = subprocess.run([MESON, "install", "-C", BUILD_ROOT, "--no-rebuild", "--destdir", self.destdir],
                                capture_output=True, text=True, timeout=240)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result.stdout

    def staged(self, path):
        return os.path.join(self.destdir, path.lstrip("/"))

    def read(self, path):
        with open(self.staged(path)) as f:
            return f.read()

    def test_files_land_where_the_docs_say(self):
        self.assertEqual(set(os.listdir(self.staged(self.bindir))), INSTALLED_PROGRAMS)
        for program in INSTALLED_PROGRAMS:
            self.assertTrue(os.access(self.staged(os.path.join(self.bindir, program)), os.X_OK), program)
        self.assertEqual(sorted(os.listdir(self.staged(os.path.dirname(self.config)))),
                         ["dynkvd.yaml", "dynkvd.yaml.example"])
        self.assertEqual(sorted(os.listdir(self.staged(self.unit_dir))), ["dynkvd.service", "dynkvd@.service"])
        self.assertEqual(os.listdir(self.staged(self.sysusers_dir)), ["dynkv.conf"])
        self.assertRegex(self.read(os.path.join(self.sysusers_dir, "dynkv.conf")),
                         r"(?m)^u dynkv - \".*\" /var/lib/dynkv$")

    def test_the_unit_runs_the_installed_dynkvd_on_the_installed_config(self):
        unit = self.read(os.path.join(self.unit_dir, "dynkvd.service")).splitlines()
        dynkvd = os.path.join(self.bindir, "dynkvd")
        for line in [f"ExecStartPre={dynkvd} --check-config {self.config}",
                     f"ExecStart={dynkvd} --config {self.config}",
                     "User=dynkv", "Group=dynkv", "StateDirectory=dynkv", "Restart=on-failure",
                     "KillSignal=SIGTERM", "ProtectSystem=strict", "ReadWritePaths=/var/lib/dynkv",
                     "ExecReload=/bin/kill -HUP $MAINPID"]:
            self.assertIn(line, unit)
        template = self.read(os.path.join(self.unit_dir, "dynkvd@.service")).splitlines()
        instance_config = os.path.join(self.sysconfdir, "dynkv", "%i.yaml")
        for line in [f"ExecStart={dynkvd} --config {instance_config}", "StateDirectory=dynkv/%i"]:
            self.assertIn(line, template)

    def test_the_installed_dynkvd_accepts_the_installed_config(self):
        config = self.staged(self.config)
        self.assertIn("data_dir: /var/lib/dynkv\n", self.read(self.config))
        result = subprocess.run([self.staged(os.path.join(self.bindir, "dynkvd")), "--check-config", config],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout,
                         f"{config}: ok (node node1, client 127.0.0.1:7101, peer 127.0.0.1:7201, "
                         "http 127.0.0.1:7301, data_dir /var/lib/dynkv, no seeds (a cluster of one), n=3 r=2 w=2)\n")

    def test_installing_again_keeps_an_edited_config(self):
        edited = self.read(self.config).replace("node_id: node1", "node_id: db7")
        with open(self.staged(self.config), "w") as f:
            f.write(edited)
        os.remove(self.staged(self.config + ".example"))
        self.install()
        self.assertEqual(self.read(self.config), edited)
        self.assertIn("node_id: node1\n", self.read(self.config + ".example"))

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is absent: tools/setup.sh installs systemd")
    def test_systemd_analyze_accepts_the_units(self):
        # systemd-analyze verify checks that the programs a unit runs exist.
        # They are installed under DESTDIR, not at the paths the units name
        # (those are checked above), so it verifies copies whose Exec lines
        # point into DESTDIR; the rest of each copy is the installed unit.
        # (--root=DESTDIR would leave it without systemd's own units.)
        verify_dir = os.path.join(self.root, "verify")
        os.makedirs(verify_dir)
        for name in ["dynkvd.service", "dynkvd@.service"]:
            lines = self.read(os.path.join(self.unit_dir, name)).splitlines(keepends=True)
            with open(os.path.join(verify_dir, name), "w") as f:
                for line in lines:
                    if line.startswith("Exec"):
                        line = line.replace(f"{self.bindir}/", f"{self.staged(self.bindir)}/")
                        line = line.replace(f"{self.sysconfdir}/", f"{self.staged(self.sysconfdir)}/")
                    f.write(line)
        for unit in ["dynkvd.service", "dynkvd@node2.service"]:
            result = subprocess.run(["systemd-analyze", "verify", os.path.join(verify_dir, unit)],
                                    capture_output=True, text=True, timeout=60)
            self.assertEqual(result.returncode, 0, result.stderr)
            # Unknown keys and bad values are only warnings, with status 0.
            self.assertEqual(result.stderr, "", unit)

    @unittest.skipUnless(shutil.which("systemd-sysusers"), "systemd-sysusers is absent: tools/setup.sh installs systemd")
    def test_systemd_sysusers_creates_the_dynkv_user(self):
        root = os.path.join(self.root, "sysroot")
        os.makedirs(os.path.join(root, "etc"))
        result = subprocess.run(["systemd-sysusers", f"--root={root}",
                                 self.staged(os.path.join(self.sysusers_dir, "dynkv.conf"))],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(root, "etc", "passwd")) as f:
            users = {line.split(":")[0]: line.rstrip("\n").split(":") for line in f}
        self.assertIn("dynkv", users)
        self.assertEqual(users["dynkv"][5], "/var/lib/dynkv")
        with open(os.path.join(root, "etc", "group")) as f:
            self.assertIn("dynkv", {line.split(":")[0] for line in f})

if __name__ == "__main__":
    unittest.main()
