"""`pip install` of the package into a fresh venv, then every other test of
the package run by the venv's python against the installed copy (the cluster
test included), with the source tree off the path.

The venv sees Debian's packages (--system-site-packages) for python3-protobuf
and setuptools; pip installs without the network (--no-index) and builds with
the system's setuptools (--no-build-isolation). It installs from a copy of
clients/python, since setuptools builds inside the source directory.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.dirname(HERE)


class InstallTest(unittest.TestCase):
    def setUp(self):
        base = os.environ.get("DYNKV_TEST_TMP") or None
        if base:
            os.makedirs(base, exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix="dynkv-py-venv-", dir=base)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")

    def run_checked(self, args, timeout, cwd=None):
        result = subprocess.run(args, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout)
        self.assertEqual(result.returncode, 0, f"{' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def test_pip_install_into_a_venv_then_the_package_tests_pass(self):
        venv = os.path.join(self.tmp, "venv")
        source = os.path.join(self.tmp, "python")
        shutil.copytree(PACKAGE_DIR, source, ignore=shutil.ignore_patterns("__pycache__", "tests", "build",
                                                                           "*.egg-info"))
        self.run_checked([sys.executable, "-m", "venv", "--system-site-packages", venv], timeout=120)
        python = os.path.join(venv, "bin", "python")
        self.run_checked([python, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-cache-dir",
                          source], timeout=120)

        where = self.run_checked([python, "-c", "import dynkv; print(dynkv.__file__)"], timeout=30, cwd=HERE)
        self.assertTrue(where.stdout.strip().startswith(venv), f"dynkv imported from {where.stdout.strip()}")

        modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(HERE, "test_*.py")))
        modules.remove("test_install")
        tests = self.run_checked([python, "-m", "unittest", *modules], timeout=300, cwd=HERE)
        self.assertIn("OK", tests.stderr.splitlines()[-1])


if __name__ == "__main__":
    unittest.main()
