# SPDX-License-Identifier: GPL-2.0-only
"""install.mk: the kselftest install tree, emit_tests and gen_tar.

A stand-in Makefile includes install.mk the way tools/testing/tdx/Makefile
does, with an `all` that "builds" one guest image, and points it at the
driver fixtures as the module directory; the installed wrappers must then run
with no compiler reachable on PATH.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
from pathlib import Path

TDX_DIR = Path(__file__).resolve().parents[1]
FIXTURES_DIR = TDX_DIR / "tests" / "fixtures" / "x86_64"
MODULES = ["crash", "exit3", "failing", "garbage", "guest_noise", "hang", "importerror", "passing", "skipall"]

WRAPPER_MAKEFILE = """\
OUTPUT := {build}
all:
\t@mkdir -p $(OUTPUT)/x86_64 && printf '\\177ELF' > $(OUTPUT)/x86_64/passing.elf
include {install_mk}
"""


@unittest.skipUnless(shutil.which("make"), "make not installed")
class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = Path(cls.tmp.name)
        cls.makefile = tmp / "Makefile"
        cls.makefile.write_text(WRAPPER_MAKEFILE.format(build=tmp / "build", install_mk=TDX_DIR / "install.mk"))
        cls.dest = tmp / "install"
        cls.install = cls.make("install", "INSTALL_PATH=%s" % cls.dest)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def make(cls, *args):
        return subprocess.run(["make", "-s", "--no-print-directory", "-f", str(cls.makefile),
                               "TDX_MODULES_DIR=%s" % FIXTURES_DIR, *args],
                              cwd=cls.tmp.name, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=120)

    def test_install_path_is_required(self):
        p = self.make("install")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("INSTALL_PATH is not set", p.stderr)

    def test_tree(self):
        self.assertEqual(self.install.returncode, 0, self.install.stderr)
        for m in MODULES:
            self.assertTrue(os.access(self.dest / m, os.X_OK), m)
            self.assertTrue((self.dest / "tdx" / "x86_64" / (m + ".py")).is_file(), m)
        self.assertIn("timeout=120", (self.dest / "settings").read_text().splitlines())
        self.assertTrue((self.dest / "tdx" / "guest-images" / "passing.elf").is_file())
        for f in ("__init__.py", "lib/ktap.py", "runner/cli.py", "lib/compat.py"):
            self.assertTrue((self.dest / "tdx" / f).is_file(), f)

    def run_installed(self, module, **extra):
        # Only python3 and dirname reachable: no compiler, no source tree.
        bin_dir = Path(self.tmp.name) / "bin"
        bin_dir.mkdir(exist_ok=True)
        for name, target in (("python3", sys.executable), ("dirname", shutil.which("dirname"))):
            if not (bin_dir / name).exists():
                (bin_dir / name).symlink_to(target)
        env = {"PATH": str(bin_dir), "HOME": self.tmp.name, **extra}
        return subprocess.run([str(self.dest / module)], env=env, cwd="/", stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=60)

    def test_wrappers_run_on_platform_tdx_by_default(self):
        p = self.run_installed("passing")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[:2], ["KTAP version 1", "1..2"])
        self.assertIn("# TDX_PLATFORM=tdx", lines)
        self.assertEqual(self.run_installed("skipall").returncode, 4)
        p = self.run_installed("passing", TDX_PLATFORM="none")
        self.assertIn("# TDX_PLATFORM=none", p.stdout.splitlines())

    def test_emit_tests(self):
        p = self.make("emit_tests")
        self.assertEqual(p.stdout.splitlines(), ["tdx:%s" % m for m in MODULES])
        p = self.make("emit_tests", "COLLECTION=other")
        self.assertEqual(p.stdout.splitlines()[0], "other:crash")

    def test_gen_tar(self):
        dest = Path(self.tmp.name) / "tar-install"
        p = self.make("gen_tar", "INSTALL_PATH=%s" % dest)
        self.assertEqual(p.returncode, 0, p.stderr)
        with tarfile.open(dest / "kselftest-packages" / "kselftest.tar.gz") as t:
            names = t.getnames()
        self.assertIn("./passing", names)
        self.assertIn("./tdx/lib/ktap.py", names)
        self.assertIn("./settings", names)
        self.assertFalse([n for n in names if "kselftest-packages" in n])
