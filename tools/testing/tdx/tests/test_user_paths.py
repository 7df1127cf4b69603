# SPDX-License-Identifier: GPL-2.0-only
"""Bad input from the user's side: one clear line, the right exit code, no traceback.

- no usable KVM device (TDX_KVM_DEV pointing at nothing, at /dev/null, at a
  file without permission): platform none, every case skips with a fixed
  reason, exit 4, the cause as a diagnostic;
- missing Python dependencies: a module skips as a whole (exit 4);
- values no timeout can be: nan, inf, for --timeout, TDX_TIMEOUT,
  TDX_RUN_TIMEOUT, and generations that do not exist for TDX_KVM_GENERATION and
  TDX_EMU_KERNEL: usage errors before anything runs; --junit into a
  directory that does not exist: the same;
- garbage from a guest (a ucall with a command that does not exist), end to
  end: `not ok` with a one-line reason naming what the guest sent;
- shell completion through argcomplete's own protocol (_ARGCOMPLETE,
  COMP_LINE, completions written to fd 8).
"""

import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from tdx.lib import ktap
from tdx.lib.guest import GuestImage, find_image
from tdx.lib.testcase import TdxTestCase
from tdx.tests.ktap_check import check
from tdx.tests.support import copy_sources, in_checkout
from tdx.tests.test_driver import FIXTURES, ROOT, driver_argv, env, parent_of, read_pids, top_results, wait_dead

NO_KVM = "no usable /dev/kvm"


def module(name, *args, **extra):
    return subprocess.run([sys.executable, "-m", "tdx.x86_64.%s" % name, *args], env=env(**extra),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def driver(*args, **extra):
    return subprocess.run(driver_argv(*args), env=env(**extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60, stdin=subprocess.DEVNULL)


def skip_reasons(text):
    return {l.split(" # SKIP ", 1)[1] for l in text.splitlines() if l.startswith("ok ") and " # SKIP " in l}


class NoKvmDevice(unittest.TestCase):
    """TDX_KVM_DEV stands in for /dev/kvm (tdx.lib.kvm.device_path)."""

    def assertPlatformNone(self, dev, cause, **extra):
        p = module("td_lifecycle", "-t", "test_boot_image_only", "-t", "test_finalize_twice",
                   TDX_KVM_DEV=dev, **extra)
        self.assertEqual(p.returncode, 4, p.stdout + p.stderr)
        self.assertEqual(check(p.stdout), [])
        lines = p.stdout.splitlines()
        self.assertEqual(lines[:3], ["KTAP version 1", "1..2", "# platform: none"])
        self.assertTrue(lines[3].startswith("# platform none: %s: %s: %s" % (NO_KVM, dev, cause)), lines[3])
        # The skip reason is fixed (kernel CI makes test names of it); the cause is a diagnostic.
        self.assertEqual(skip_reasons(p.stdout), {NO_KVM})
        self.assertNotIn("Traceback", p.stdout + p.stderr)

    def test_missing(self):
        self.assertPlatformNone("/nonexistent/kvm", "no such device")

    def test_not_kvm(self):
        self.assertPlatformNone("/dev/null", "not a KVM device")

    def test_no_permission(self):
        with tempfile.TemporaryDirectory() as tmp:
            dev = os.path.join(tmp, "kvm")
            with open(dev, "w"):
                pass
            os.chmod(dev, 0)
            if os.geteuid() != 0:
                self.assertPlatformNone(dev, "permission denied")
                return
            # root reads anything: drop the capabilities that let it.
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                self.skipTest("running as root without setpriv")
            p = subprocess.run([setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-all",
                                sys.executable, "-m", "tdx.x86_64.td_lifecycle", "-t", "test_boot_image_only"],
                               env=env(TDX_KVM_DEV=dev), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=60)
            if p.returncode != 4 and "Operation not permitted" in p.stderr:
                self.skipTest("setpriv not allowed here")
            self.assertEqual(p.returncode, 4, p.stdout + p.stderr)
            self.assertIn("# platform none: %s: %s: permission denied" % (NO_KVM, dev), p.stdout)
            self.assertEqual(skip_reasons(p.stdout), {NO_KVM})

    def test_driver(self):
        p = subprocess.run([sys.executable, "-m", "tdx.runner", "-t", "td_lifecycle.test_boot_image_only"],
                           env=env(TDX_KVM_DEV="/nonexistent/kvm"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertEqual(check(p.stdout), [])
        self.assertEqual(top_results(p.stdout), ["ok 1 td_lifecycle # SKIP %s" % NO_KVM])
        self.assertIn("# /dev/kvm: /nonexistent/kvm: no such device; load the kvm modules "
                      "(modprobe kvm_intel) or run on a host with KVM", p.stdout.splitlines())


class MissingDependencies(unittest.TestCase):
    def test_module_skips_as_a_whole(self):
        with tempfile.TemporaryDirectory() as tmp:
            # Python imports sitecustomize at start-up: make pyelftools unimportable.
            with open(os.path.join(tmp, "sitecustomize.py"), "w") as f:
                f.write("import sys\n"
                        "class Hide:\n"
                        "    def find_spec(self, name, path=None, target=None):\n"
                        "        if name.split('.')[0] == 'elftools':\n"
                        "            raise ModuleNotFoundError(name, name=name)\n"
                        "sys.meta_path.insert(0, Hide())\n")
            p = module("td_lifecycle", PYTHONPATH=os.pathsep.join((tmp, str(ROOT))), TDX_VENV="/nonexistent")
        self.assertEqual(p.returncode, 4)
        self.assertEqual(p.stdout, "KTAP version 1\n1..0 # SKIP missing Python package pyelftools\n")
        self.assertEqual(p.stderr, "tdx.x86_64: missing Python package pyelftools (pip install pyelftools)\n")


    def test_module_reruns_under_the_project_venv(self):
        # `python3 -m tdx.x86_64.<module>` with a python3 that lacks the packages, after
        # `make` made the virtualenv: the module runs again under the virtualenv's python3.
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "sitecustomize.py"), "w") as f:
                f.write("import os, sys\n"
                        "class Hide:\n"
                        "    def find_spec(self, name, path=None, target=None):\n"
                        "        if name.split('.')[0] == 'elftools':\n"
                        "            raise ModuleNotFoundError(name, name=name)\n"
                        "if not os.environ.get('TDX_REEXEC'):\n"
                        "    sys.meta_path.insert(0, Hide())\n")
            venv = os.path.join(tmp, "venv")            # this interpreter's environment, under another name
            os.symlink(os.path.dirname(os.path.dirname(sys.executable)), venv)
            p = module("td_lifecycle", "-t", "test_boot_image_only", PYTHONPATH=os.pathsep.join((tmp, str(ROOT))),
                       TDX_VENV=venv, TDX_PLATFORM="none")
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertEqual(p.stdout.splitlines()[:3], ["KTAP version 1", "1..1", "# platform: none"])


class BadValues(unittest.TestCase):
    def test_timeouts_that_never_come(self):
        for args, extra, what in ((["--timeout", "nan"], {}, "--timeout"), (["--timeout", "inf"], {}, "--timeout"),
                                  ([], {"TDX_TIMEOUT": "nan"}, "TDX_TIMEOUT"),
                                  ([], {"TDX_RUN_TIMEOUT": "nan"}, "TDX_RUN_TIMEOUT"),
                                  ([], {"TDX_RUN_TIMEOUT": "abc"}, "TDX_RUN_TIMEOUT")):
            with self.subTest(args=args, env=extra):
                p = driver("-t", "passing", *args, **extra)
                self.assertEqual(p.returncode, 2)
                self.assertEqual(p.stdout, "")
                self.assertIn("error: ", p.stderr.splitlines()[-1])
                self.assertIn(what, p.stderr.splitlines()[-1])
        p = module("td_lifecycle", "-t", "test_boot_image_only", TDX_RUN_TIMEOUT="inf")
        self.assertEqual((p.returncode, p.stdout), (2, ""))
        self.assertEqual(p.stderr, "td_lifecycle: TDX_RUN_TIMEOUT='inf': must be a finite number > 0 and <= 1e+06\n")

    def test_generations_that_do_not_exist(self):
        """TDX_KVM_GENERATION and TDX_EMU_KERNEL: a name outside
        tdx.lib.generations.GENERATIONS is a usage error, one line naming the
        variable and the valid names, for the driver and for a module alone."""
        for variable, value in (("TDX_KVM_GENERATION", "6.15"), ("TDX_KVM_GENERATION", "7.0.1"),
                                ("TDX_EMU_KERNEL", "6.15"), ("TDX_EMU_KERNEL", "latest")):
            with self.subTest(variable=variable, value=value):
                line = "%s=%s: expected one of 6.16, 6.17, 6.18, 6.19, 7.0, 7.1, 7.2, 7.3, newest" % (variable, value)
                p = driver("-t", "passing", **{variable: value})
                self.assertEqual((p.returncode, p.stdout), (2, ""))
                self.assertTrue(p.stderr.splitlines()[-1].endswith("error: " + line), p.stderr)
                p = module("td_lifecycle", "-t", "test_boot_image_only", **{variable: value})
                self.assertEqual((p.returncode, p.stdout), (2, ""))
                self.assertEqual(p.stderr, "td_lifecycle: %s\n" % line)
        # The first and last valid names are taken.
        for variable in ("TDX_KVM_GENERATION", "TDX_EMU_KERNEL"):
            for value in ("6.16", "newest"):
                with self.subTest(variable=variable, value=value):
                    self.assertEqual(driver("-l", "-t", "passing", **{variable: value}).returncode, 0)

    def test_junit_where_it_cannot_be_written(self):
        with tempfile.TemporaryDirectory() as tmp:
            for path, why in ((os.path.join(tmp, "no", "dir", "x.xml"), "does not exist"), (tmp, "is a directory")):
                with self.subTest(path=path):
                    p = driver("-t", "passing", "--junit", path)
                    self.assertEqual((p.returncode, p.stdout), (2, ""))
                    self.assertIn("--junit %s: " % path, p.stderr.splitlines()[-1])
                    self.assertIn(why, p.stderr.splitlines()[-1])


class EveryEnvironmentVariable(unittest.TestCase):
    """A bad value of any variable the suite reads: exit 2, one line naming it, nothing run,
    from the driver and from a module alone; the last accepted value still runs."""

    BAD = (("TDX_PLATFORM", "vmx"), ("TDX_TIMEOUT", "1e10"), ("TDX_TIMEOUT", "0"),
           ("TDX_RUN_TIMEOUT", "1e10"), ("TDX_RUN_TIMEOUT", "1000000.001"), ("TDX_RUN_TIMEOUT", "-1"),
           ("TDX_OUTPUT", "/nonexistent/build"), ("TDX_GUEST_DIR", "/nonexistent/images"),
           ("TDX_EMU_FAULTS", "bogus"), ("TDX_EMU_TDCALL_TRAP", "int3"), ("TDX_EMU_HOST", "bogus"),
           ("TDX_EMU_KERNEL", "5.0"), ("TDX_KVM_GENERATION", "5.0"))

    def test_driver(self):
        for name, value in self.BAD:
            with self.subTest(name=name, value=value):
                p = driver("-t", "passing", **{name: value})
                self.assertEqual((p.returncode, p.stdout), (2, ""))
                self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
                self.assertIn(name, p.stderr)

    def test_module(self):
        for name, value in self.BAD:
            if name == "TDX_TIMEOUT":
                continue                            # the driver's, not a module's
            with self.subTest(name=name, value=value):
                p = module("td_lifecycle", "-t", "test_boot_image_only", TDX_PLATFORM="none", **{name: value}) \
                    if name != "TDX_PLATFORM" else module("td_lifecycle", "-t", "test_boot_image_only", **{name: value})
                self.assertEqual((p.returncode, p.stdout), (2, ""))
                self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
                self.assertIn(name, p.stderr)

    def test_last_accepted(self):
        p = driver("-t", "passing", TDX_RUN_TIMEOUT="1000000", TDX_TIMEOUT="1000000")
        self.assertEqual(p.returncode, 0, p.stderr)


class ClosedPipe(unittest.TestCase):
    def test_list_into_a_reader_that_left(self):
        # `tdx-selftests -l | head -1`, with the reader gone before the first write.
        r, w = os.pipe()
        os.close(r)
        try:
            p = subprocess.run(driver_argv("-l"), env=env(), stdout=w, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=60)
        finally:
            os.close(w)
        self.assertEqual((p.returncode, p.stderr), (0, ""))


class GarbageFromTheGuest(unittest.TestCase):
    """A ucall whose command does not exist, through the whole path: guest, exit, decoder, KTAP."""

    class BadUcall(TdxTestCase):
        def image(self, name=None):
            return GuestImage.load(find_image("guest_basic", "tests"))

        def test_td(self):
            gvm, vcpu = self.create_td("guest_bad_ucall", args=0x77)
            vcpu.run_until_done()

    class BadUcallPlainVm(BadUcall):
        shape = "default"

    def run_case(self, cls):
        from tdx.lib import platform
        if not platform.current().available:
            self.skipTest(platform.current().reason)
        name = "tdx_bad_ucall_fixture"
        mod = type(sys)(name)
        mod.Case = type("Case", (cls,), {"__module__": name})
        sys.modules[name] = mod
        self.addCleanup(sys.modules.pop, name, None)
        out = io.StringIO()
        with mock.patch.object(ktap, "platform_name", return_value="test"):
            rc = ktap.run(name, [], stream=out)
        return rc, out.getvalue().splitlines()

    def test_one_line_reason(self):
        for cls in (self.BadUcall, self.BadUcallPlainVm):
            with self.subTest(shape=cls.shape):
                rc, lines = self.run_case(cls)
                self.assertEqual(rc, 1)
                at = lines.index("not ok 1 tdx_bad_ucall_fixture.test_td")
                self.assertRegex(lines[at - 1], r"^# GuestProtocolError: unknown ucall command 0x77 written to "
                                                r"the ucall port \(test_user_paths\.py:\d+\)$")
                self.assertEqual(lines[at - 2], "# platform: test")         # no traceback in between
                self.assertEqual(check("\n".join(lines)), [])


class Completion(unittest.TestCase):
    """argcomplete's protocol: the shell hook sets _ARGCOMPLETE and COMP_LINE, reads fd 8."""

    def complete(self, line):
        try:
            import argcomplete  # noqa: F401
        except ImportError:
            self.skipTest("argcomplete not installed")
        e = env(_ARGCOMPLETE="1", COMP_LINE=line, COMP_POINT=str(len(line)), _ARGCOMPLETE_IFS="\n")
        with tempfile.NamedTemporaryFile("r") as out:
            # The shell hook's redirections: completions on fd 8, debug output on fd 9.
            p = subprocess.run(["sh", "-c", 'exec "$0" -m tdx.runner 8>"$1" 9>/dev/null', sys.executable,
                                out.name], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, universal_newlines=True, timeout=30)
            words = out.read()
        self.assertEqual(p.returncode, 0, p.stderr)
        return sorted(w.strip() for w in words.split("\n") if w.strip())

    def test_module_and_case_names(self):
        prog = "tdx-selftests --module-package %s " % FIXTURES
        self.assertEqual(self.complete(prog + "-t fail"), ["failing", "failing.test_fail", "failing.test_pass"])
        self.assertEqual(self.complete(prog + "-x skipall.test_"), ["skipall.test_a", "skipall.test_b"])
        self.assertEqual(self.complete(prog + "--test passing.test_o"), ["passing.test_one"])

    def test_real_modules_and_options(self):
        self.assertIn("td_lifecycle.test_boot_image_only", self.complete("tdx-selftests -t td_lifecycle.test_b"))
        self.assertEqual(self.complete("tdx-selftests --format k"), ["kselftest", "ktap"])


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(shutil.which("make") and (ROOT.parents[1] / "Makefile").exists(),
                     "make not installed, or not run from a source tree")
class MakeRunTests(unittest.TestCase):
    """`make run_tests` at the top level: KTAP on stdout, make's verdict from the driver's."""

    def make(self, args):
        argv = ["make", "run_tests", "PYTHON=" + sys.executable, "RUN_TESTS_ARGS=" + args]
        if os.environ.get("TDX_OUTPUT"):            # `make check O=...`: the images are there
            argv.append("OUTPUT=" + os.environ["TDX_OUTPUT"])
        e = env()
        for var in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS"):    # as typed by a user, not under `make check`
            e.pop(var, None)
        return subprocess.run(argv, cwd=str(ROOT.parents[1]), env=e, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    def test_all_skipped_is_not_a_make_failure(self):
        p = self.make("--platform none -t td_lifecycle.test_boot_image_only")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("Entering directory", p.stdout)
        doc = p.stdout[p.stdout.index("KTAP version 1"):]
        self.assertEqual(check(doc), [])
        self.assertEqual(top_results(doc), ["ok 1 td_lifecycle # SKIP platform none selected (TDX_PLATFORM=none)"])

    def test_sigterm_to_make_ends_the_whole_run(self):
        with tempfile.TemporaryDirectory() as tmp:
            pidfile = os.path.join(tmp, "pids")
            argv = ["make", "run_tests", "PYTHON=" + sys.executable,
                    "RUN_TESTS_ARGS=--module-package %s --platform none --timeout 60 -t hang" % FIXTURES]
            e = env(TDX_FIXTURE_PIDFILE=pidfile)
            for var in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS"):
                e.pop(var, None)
            p = subprocess.Popen(argv, cwd=str(ROOT.parents[1]), env=e, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, universal_newlines=True)
            try:
                pids = read_pids(pidfile)
                pids.append(parent_of(pids[0]))                 # the driver
                p.send_signal(signal.SIGTERM)                    # to make alone, as `kill PID` does
                out, _ = p.communicate(timeout=20)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(wait_dead(pids), [], "left alive: %s" % pids)
        self.assertIn("not ok 1 hang # ERROR interrupted by SIGTERM", out.splitlines())

    def test_failed_bootstrap_stops_make_with_the_cause(self):
        # A python3 without the packages (no site-packages: -S) and a virtualenv that cannot
        # be created: make stops, saying why, before running anything.
        with tempfile.TemporaryDirectory() as tmp:
            real = getattr(sys, "_base_executable", None) or os.path.realpath(sys.executable)
            with open(os.path.join(tmp, "python3"), "w") as f:
                f.write('#!/bin/sh\nexec "%s" -S "$@"\n' % real)
            os.chmod(os.path.join(tmp, "python3"), 0o755)
            e = env(TDX_VENV="/proc/no-venv-here", PATH=os.pathsep.join((tmp, os.environ.get("PATH", ""))))
            for var in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "PYTHON"):
                e.pop(var, None)
            argv = ["make", "run_tests"]
            if os.environ.get("TDX_OUTPUT"):
                argv.append("OUTPUT=" + os.environ["TDX_OUTPUT"])
            p = subprocess.run(argv, cwd=str(ROOT.parents[1]), env=e, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
                               stdin=subprocess.DEVNULL)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(p.stdout, "")
        self.assertIn("tdx-selftests: cannot create /proc/no-venv-here: ", p.stderr)
        self.assertIn("No such file or directory", p.stderr)
        self.assertIn("scripts/python.sh failed", p.stderr)

    def test_usage_error_is(self):
        p = self.make("-t no_such_module")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("tdx-selftests: error: -t no_such_module: no module or test case matches", p.stderr)


@in_checkout
class MakeOutOfTree(unittest.TestCase):
    """`make O=DIR` on a copy of the sources: nothing in the source tree changes, not even
    lib/_abi_ffi.py or __pycache__; the build in DIR is what the modules use."""

    def test_source_tree_untouched(self):
        with tempfile.TemporaryDirectory() as tmp:
            src, out = os.path.join(tmp, "src"), os.path.join(tmp, "out")
            copy_sources(src)

            def snapshot():
                return sorted((os.path.relpath(os.path.join(d, n), src), os.stat(os.path.join(d, n)).st_mtime_ns)
                              for d, _, names in os.walk(src) for n in names)
            before = snapshot()
            e = env()
            for var in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "TDX_OUTPUT", "PYTHONPYCACHEPREFIX"):
                e.pop(var, None)
            p = subprocess.run(["make", "O=" + out, "PYTHON=" + sys.executable], cwd=src, env=e,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(snapshot(), before)
            self.assertTrue(os.path.isfile(os.path.join(out, "lib", "_abi_ffi.py")))
            self.assertTrue(os.path.isfile(os.path.join(out, "x86_64", "td_lifecycle.elf")))
            probe = subprocess.run([sys.executable, "-c", "from tdx.lib import abi; print(abi._FFI_GENERATED)"],
                                   cwd=os.path.join(src, "tools", "testing"), stdout=subprocess.PIPE,
                                   universal_newlines=True, timeout=60,
                                   env=dict(e, TDX_OUTPUT=out, PYTHONPATH=os.path.join(src, "tools", "testing"),
                                            PYTHONDONTWRITEBYTECODE="1"))
            self.assertEqual(probe.stdout.strip(), "True")

