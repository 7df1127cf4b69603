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

from tdx.tests.ktap_check import check
from tdx.tests.support import copy_sources, in_checkout
from tdx.tests.ktap_consumers import linaro_tree
from tdx.tests.test_driver import tappy

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



@unittest.skipUnless(shutil.which("make") and shutil.which("bash") and shutil.which("timeout"),
                     "make, bash and timeout needed")
class GenTar(unittest.TestCase):
    """`make gen_tar`: a tarball the kselftest flow runs as it is (LKFT's kselftest.sh:
    unpack, `./run_kselftest.sh -c <collection>`, parse the output with tap.py)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = Path(cls.tmp.name)
        (tmp / "Makefile").write_text(WRAPPER_MAKEFILE.format(build=tmp / "build", install_mk=TDX_DIR / "install.mk"))
        cls.dest = tmp / "install"
        cls.gen = subprocess.run(["make", "-s", "--no-print-directory", "-f", str(tmp / "Makefile"),
                                  "TDX_MODULES_DIR=%s" % FIXTURES_DIR, "gen_tar", "INSTALL_PATH=%s" % cls.dest],
                                 cwd=cls.tmp.name, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 universal_newlines=True, timeout=120)
        cls.root = tmp / "unpacked"
        cls.root.mkdir()
        with tarfile.open(cls.dest / "kselftest-packages" / "kselftest.tar.gz") as t:
            cls.names = t.getnames()
            t.extractall(cls.root)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_kselftest(self, *args):
        env = dict(os.environ, PATH=os.pathsep.join((os.path.dirname(sys.executable), os.environ.get("PATH", ""))))
        for var in ("PYTHONPATH", "TDX_PLATFORM", "TDX_OUTPUT"):
            env.pop(var, None)
        p = subprocess.run(["./run_kselftest.sh", *args], cwd=str(self.root), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout

    def test_layout(self):
        self.assertEqual(self.gen.returncode, 0, self.gen.stderr)
        for name in ("./run_kselftest.sh", "./kselftest/runner.sh", "./kselftest/prefix.py", "./kselftest-list.txt",
                     "./tdx/passing", "./tdx/settings", "./tdx/tdx/lib/ktap.py", "./tdx/tdx/runner/cli.py"):
            self.assertIn(name, self.names)
        self.assertFalse([n for n in self.names if "kselftest-packages" in n])
        self.assertEqual((self.root / "kselftest-list.txt").read_text().splitlines(), ["tdx:%s" % m for m in MODULES])

    def test_run_collection_as_lkft_does(self):
        # hang under -o 3: the TIMEOUT mapping; garbage: raw bytes, no final newline.
        rc, raw = self.run_kselftest("-c", "tdx", "-o", "3")
        self.assertEqual(rc, 1)
        text = raw.decode("utf-8")                  # only text, whatever the modules printed
        self.assertFalse([l for l in text.splitlines() if any(ord(c) < 0x20 and c != "\t" for c in l)])
        results = [l for l in text.splitlines() if l.startswith(("ok ", "not ok "))]
        self.assertEqual(results, [
            "not ok 1 selftests: tdx: crash # exit=139" if "exit=139" in text else results[0],
            "not ok 2 selftests: tdx: exit3 # exit=3",
            "not ok 3 selftests: tdx: failing # exit=1",
            "ok 4 selftests: tdx: garbage",
            "ok 5 selftests: tdx: guest_noise # SKIP",
            "not ok 6 selftests: tdx: hang # TIMEOUT 3 seconds",
            "not ok 7 selftests: tdx: importerror # exit=1",
            "ok 8 selftests: tdx: passing",
            "ok 9 selftests: tdx: skipall # SKIP",
        ])
        self.assertTrue(results[0].startswith("not ok 1 selftests: tdx: crash # exit="))
        self.assertIn("# partial line without newline", text.splitlines())      # ended by the runner
        self.assertIn("# \\x00\\xff\\xfe binary \\x1b[31mred", text.splitlines())
        tests, plans = tappy(text)
        self.assertEqual([p.expected_tests for p in plans], [9])
        self.assertEqual([t.number for t in tests], list(range(1, 10)))

    def test_well_formed(self):
        # The modules that end their KTAP normally: the whole document passes the strict checker
        # (a crash's or an import error's raw stderr are unknown lines to it, as KTAP allows).
        rc, raw = self.run_kselftest(*[a for m in ("failing", "guest_noise", "passing", "skipall")
                                       for a in ("-t", "tdx:" + m)])
        self.assertEqual(rc, 1)
        text = raw.decode("utf-8")
        self.assertEqual(check(text, nesting="hash"), [])
        flat = dict(linaro_tree(text).flat())
        self.assertEqual(flat["tdx_passing"], "pass")
        self.assertEqual(flat["tdx_passing_passing_test_one"], "pass")
        self.assertEqual(flat["tdx_failing_failing_test_fail"], "fail")

    def test_options(self):
        self.assertEqual(self.run_kselftest("-l")[1].decode().splitlines(), ["tdx:%s" % m for m in MODULES])
        self.assertEqual(self.run_kselftest("-d", "-t", "tdx:passing", "-t", "tdx:skipall", "-S", "tdx:skipall")[1],
                         b"tdx:passing\n")
        rc, raw = self.run_kselftest("-s", "-t", "tdx:passing")
        self.assertEqual((rc, raw.decode().splitlines()), (0, [
            "TAP version 13", "1..1", "ok 1 selftests: tdx: passing",
            "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0"]))
        self.assertIn("# ok 1 passing.test_one", (self.root / "output.log").read_text().splitlines())
        self.assertEqual(self.run_kselftest("-f", "-t", "tdx:failing")[0], 0)
        self.assertEqual(self.run_kselftest("--bogus")[0], 1)


@in_checkout
class PackageBuild(unittest.TestCase):
    """`pip install .` from a fresh clone: the build step makes the guest images and the ABI
    module; the package holds no tdx.tests; a module of the built package runs."""

    def test_build_py(self):
        with tempfile.TemporaryDirectory() as tmp:
            src, lib = os.path.join(tmp, "src"), os.path.join(tmp, "lib")
            copy_sources(src)
            p = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", lib], cwd=src,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300,
                               env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
            self.assertEqual(p.returncode, 0, p.stderr)
            pkg = Path(lib) / "tdx"
            modules = sorted(f.stem for f in (TDX_DIR / "x86_64").glob("*.py") if not f.stem.startswith("_"))
            self.assertEqual(sorted(f.stem for f in (pkg / "x86_64").glob("*.elf")), modules)
            self.assertTrue((pkg / "lib" / "_abi_ffi.py").is_file())
            self.assertTrue((pkg / "runner" / "cli.py").is_file())
            self.assertFalse((pkg / "tests").exists())
            env = {k: v for k, v in os.environ.items() if not k.startswith("TDX_")}
            env.update(PYTHONPATH=lib, TDX_PLATFORM="none", PYTHONDONTWRITEBYTECODE="1")
            run = subprocess.run([sys.executable, "-m", "tdx.x86_64.td_lifecycle", "-t", "test_boot_image_only"],
                                 cwd="/", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 universal_newlines=True, timeout=60)
            self.assertEqual(run.returncode, 4, run.stderr)
            # The image is found in the package (not skipped for a missing image: platform none skips first).
            from tdx.lib.guest import find_image
            import unittest.mock as mock
            with mock.patch("tdx.lib.guest._package_dir", return_value=str(pkg)), \
                    mock.patch.dict(os.environ, {"TDX_OUTPUT": "", "TDX_GUEST_DIR": ""}):
                self.assertEqual(find_image("td_lifecycle"), str(pkg / "x86_64" / "td_lifecycle.elf"))

