# SPDX-License-Identifier: GPL-2.0-only
"""Real runs of the driver over the fault fixtures in tests/fixtures/x86_64.

Each fixture is a module the driver runs as it runs tdx.x86_64's: passing,
failing, skipall, crash (SIGSEGV), exit3 (os._exit(3)), importerror, hang
(sleeps forever, with a grandchild), garbage (part KTAP, part noise).  The
driver is pointed at them with its hidden --module-package option.  Every
document must pass the strict in-repo checker and parse with tap.py.
"""

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import types
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

from tdx.tests.ktap_check import check

try:
    from tap.parser import Parser
except ImportError:                 # tap.py is a test dependency; without it those checks skip
    Parser = None

TDX_DIR = Path(__file__).resolve().parents[1]
ROOT = TDX_DIR.parent
FIXTURES = "tdx.tests.fixtures.x86_64"
FAST = ["-t", "crash", "-t", "exit3", "-t", "failing", "-t", "garbage", "-t", "importerror",
        "-t", "passing", "-t", "skipall"]


def env(**extra):
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), e.get("PYTHONPATH"))))
    e.pop("TDX_TIMEOUT", None)
    e.pop("TDX_PLATFORM", None)
    e.update(extra)
    return e


def driver_argv(*args):
    # --platform none: no fixture needs KVM, and the modules start faster.
    return [sys.executable, "-m", "tdx.runner", "--module-package", FIXTURES, "--platform", "none",
            *args]


def run_driver(*args, timeout=60, **extra):
    start = time.monotonic()
    p = subprocess.run(driver_argv(*args), env=env(**extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - start


def top_results(text):
    return [l for l in text.splitlines() if l.startswith(("ok ", "not ok "))]


def leaves(text):
    return [l.strip() for l in text.splitlines() if re.match(r"  (not )?ok ", l)]


def tappy(text):
    if Parser is None:
        raise unittest.SkipTest("tap.py not installed")
    # It prints a "no yaml" warning on stdout for TAP 13 input.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        lines = list(Parser().parse_text(text))
    return ([l for l in lines if l.category == "test"], [l for l in lines if l.category == "plan"])


def alive(pid):
    """Running (a zombie counts as dead: it only waits for its parent to reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_dead(pids, seconds=3.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def parent_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def read_pids(pidfile, seconds=15.0):
    deadline = time.monotonic() + seconds
    while not os.path.exists(pidfile):
        if time.monotonic() > deadline:
            raise AssertionError("the hang fixture never wrote %s" % pidfile)
        time.sleep(0.05)
    with open(pidfile) as f:
        return [int(x) for x in f.read().split()]


class FaultFixtures(unittest.TestCase):
    """One parallel run over every fixture but hang, looked at from several sides."""

    @classmethod
    def setUpClass(cls):
        cls.rc, cls.out, cls.err, cls.seconds = run_driver("-j", "2", "--timeout", "20", *FAST)

    def test_exact_result_lines(self):
        self.assertEqual(top_results(self.out), [
            "not ok 1 crash # exit=-11 (SIGSEGV)",
            "not ok 2 exit3 # exit=3",
            "not ok 3 failing # exit=1",
            "not ok 4 garbage # ERROR result out of sequence at stdout line 4",
            "not ok 5 importerror # exit=1",
            "ok 6 passing",
            "ok 7 skipall # SKIP fixture: always skipped",
        ])
        self.assertEqual(self.rc, 1)

    def test_leaves(self):
        self.assertEqual(leaves(self.out), [
            "ok 1 crash.test_1_before",
            "not ok 2 crash.test_2_segv # ERROR no result: exit=-11 (SIGSEGV)",
            "not ok 3 crash.test_3_never # ERROR no result: exit=-11 (SIGSEGV)",
            "not ok 1 exit3.test_exit # ERROR no result: exit=3",
            "not ok 1 failing.test_fail",
            "ok 2 failing.test_pass",
            "ok 1 garbage.first",
            "ok 2 garbage.second # with # hashes",
            "not ok 3 garbage.case_3 # ERROR no result: exit=0",
            "ok 1 passing.test_one",
            "ok 2 passing.test_two",
            "ok 1 skipall.test_a # SKIP fixture: always skipped",
            "ok 2 skipall.test_b # SKIP fixture: always skipped",
        ])

    def test_well_formed(self):
        self.assertEqual(check(self.out), [])
        lines = self.out.splitlines()
        self.assertEqual(lines[:2], ["KTAP version 1", "1..7"])
        self.assertEqual(lines[-1], "# Totals: pass:1 fail:4 xfail:0 xpass:0 skip:1 error:1")

    def test_tappy_sees_the_modules(self):
        results, plans = tappy(self.out)
        self.assertEqual([p.expected_tests for p in plans], [7])
        self.assertEqual([(r.number, r.ok, r.description) for r in results], [
            (1, False, "crash"), (2, False, "exit3"), (3, False, "failing"), (4, False, "garbage"),
            (5, False, "importerror"), (6, True, "passing"), (7, True, "skipall")])
        self.assertTrue(results[6].skip)

    def block(self, name):
        """The lines of one module's block: from after the previous result to its own."""
        lines = self.out.splitlines()
        end = next(i for i, l in enumerate(lines) if re.match(r"(not )?ok \d+ %s( |$)" % name, l))
        start = max([i for i, l in enumerate(lines[:end]) if re.match(r"(not )?ok \d+ ", l)] or [1]) + 1
        return lines[start:end + 1]

    def test_crash_keeps_what_ran_and_the_stack(self):
        block = self.block("crash")
        at = block.index("  KTAP version 1")
        self.assertEqual(block[at + 1], "  1..3")           # the module's plan, never rewritten to what ran
        self.assertIn("  # Fatal Python error: Segmentation fault", block)
        self.assertIn("# crash: planned 3, ran 1", block)
        self.assertTrue(any(l.startswith("# crash: exit=-11 (SIGSEGV) after") for l in block), block)

    def test_import_error_shows_the_traceback(self):
        block = self.block("importerror")
        self.assertNotIn("  KTAP version 1", block)        # no document: nothing to nest
        self.assertIn("# | ModuleNotFoundError: No module named 'tdx.lib.no_such_module'", block)

    def test_exit3_closes_the_empty_subtest(self):
        block = self.block("exit3")
        self.assertEqual(block[block.index("  KTAP version 1") + 1], "  1..1")
        self.assertIn("# exit3: planned 1, ran 0", block)

    def test_garbage_becomes_diagnostics(self):
        block = self.block("garbage")
        self.assertIn("  # ok 7 garbage.wrong_number", block)
        self.assertIn("  # ok 3 garbage.third # TIMEOUT contradicts ok", block)
        self.assertIn("  # (stray) KTAP version 1", block)         # no fake subtest in either dialect
        self.assertIn("  # partial line without newline", block)
        self.assertIn("  # ok 3 on stderr is not a result", block)
        self.assertIn("# garbage: planned 3, ran 2", block)

    def test_printed_output_and_platform_reach_the_child(self):
        block = self.block("passing")
        self.assertIn("  # TDX_PLATFORM=none", block)
        self.assertIn("  # platform: none", block)

    def test_header_is_a_compatibility_report(self):
        head = self.out.splitlines()[2:12]
        self.assertTrue(head[0].startswith("# tdx-selftests: modules from %s, timeout 20 s, 2 jobs" % FIXTURES))
        self.assertTrue(any(l.startswith("# kernel: ") for l in head), head)
        self.assertTrue(any(l.startswith("# /dev/kvm: ") for l in head), head)
        self.assertTrue(any(l.startswith("# tdx: ") or l.startswith("# compatibility report") for l in
                            self.out.splitlines()), head)

    def test_summary_table_on_stderr(self):
        lines = self.err.splitlines()
        self.assertEqual(lines[0].split(), ["module", "passed", "failed", "skipped", "seconds", "result"])
        row = next(l for l in lines if l.startswith("failing "))
        self.assertEqual(row.split()[:4], ["failing", "1", "1", "0"])
        self.assertTrue(lines[-1].startswith("total"))

    def test_one_job_gives_the_same_document(self):
        rc, out, _, _ = run_driver("-j", "1", "--timeout", "20", *FAST)
        self.assertEqual(rc, self.rc)
        self.assertEqual(top_results(out), top_results(self.out))
        self.assertEqual(leaves(out), leaves(self.out))


class Hang(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.pidfile = os.path.join(tmp.name, "pids")

    def test_timeout(self):
        rc, out, _, seconds = run_driver("--timeout", "2", "-t", "hang", "-t", "passing",
                                         TDX_FIXTURE_PIDFILE=self.pidfile)
        self.assertEqual(rc, 1)
        self.assertLess(seconds, 2 + 5)
        self.assertEqual(top_results(out), ["not ok 1 hang # TIMEOUT 2 seconds", "ok 2 passing"])
        # SIGTERM first: the module still names the case that hung, and that is the TIMEOUT.
        self.assertEqual(leaves(out)[:2], ["ok 1 hang.test_after",
                                           "not ok 2 hang.test_hang # TIMEOUT 2 seconds"])
        self.assertEqual(check(out), [])
        self.assertEqual(wait_dead(read_pids(self.pidfile, 0)), [])

    def interrupt(self, sig, name):
        p = subprocess.Popen(driver_argv("--timeout", "60", "-t", "hang", "-t", "passing", "-t", "skipall"),
                             env=env(TDX_FIXTURE_PIDFILE=self.pidfile), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True, stdin=subprocess.DEVNULL)
        try:
            pids = read_pids(self.pidfile)
            sent = time.monotonic()
            p.send_signal(sig)
            out, _ = p.communicate(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertLess(time.monotonic() - sent, 5)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(top_results(out), [
            "not ok 1 hang # ERROR interrupted by %s" % name,
            "not ok 2 passing # ERROR not run: interrupted by %s" % name,
            "not ok 3 skipall # ERROR not run: interrupted by %s" % name,
        ])
        self.assertIn("# interrupted by %s: remaining modules not run" % name, out.splitlines())
        self.assertTrue(out.splitlines()[-1].startswith("# Totals: "))
        self.assertEqual(check(out), [])
        self.assertEqual(wait_dead(pids), [], "left alive: %s" % pids)

    def test_sigkill_of_the_driver_leaves_nothing(self):
        # The modules' parent-death signal (tdx.runner.jobs): the module kills
        # its process group, the grandchild with it.
        p = subprocess.Popen(driver_argv("--timeout", "60", "-t", "hang"), env=env(TDX_FIXTURE_PIDFILE=self.pidfile),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            pids = read_pids(self.pidfile)
            self.assertEqual(parent_of(pids[0]), p.pid)
        finally:
            p.kill()
            p.wait()
        self.assertEqual(wait_dead(pids), [], "left alive: %s" % pids)

    def test_sigint(self):
        self.interrupt(signal.SIGINT, "SIGINT")

    def test_sigterm(self):
        self.interrupt(signal.SIGTERM, "SIGTERM")


class Formats(unittest.TestCase):
    def test_kselftest(self):
        rc, out, _, _ = run_driver("--format", "kselftest", "-j", "3", "-t", "crash", "-t", "passing", "-t", "skipall")
        self.assertEqual(rc, 1)
        lines = out.splitlines()
        self.assertEqual(lines[:2], ["TAP version 13", "1..3"])
        self.assertEqual(top_results(out), [
            "not ok 1 selftests: tdx: crash # exit=-11 (SIGSEGV)",
            "ok 2 selftests: tdx: passing",
            "ok 3 selftests: tdx: skipall # SKIP",
        ])
        self.assertIn("# selftests: tdx: passing", lines)
        self.assertIn("# ok 1 passing.test_one", lines)
        self.assertIn("# # crash: planned 3, ran 1", lines)
        self.assertEqual(check(out, nesting="hash"), [])
        results, plans = tappy(out)
        self.assertEqual([p.expected_tests for p in plans], [3])
        self.assertEqual([(r.ok, r.skip) for r in results], [(False, False), (True, False), (True, True)])

    def test_junit(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "junit.xml")
            rc, _, _, _ = run_driver("--junit", path, "-t", "failing", "-t", "skipall", "-t", "crash")
            root = ET.parse(path).getroot()
        self.assertEqual(rc, 1)
        suites = {s.get("name"): s for s in root.iter("testsuite")}
        self.assertEqual(sorted(suites), ["crash", "failing", "skipall"])
        failing = {c.get("name"): c for c in suites["failing"].iter("testcase")}
        self.assertEqual(sorted(failing), ["test_fail", "test_pass"])
        self.assertIn("AssertionError", failing["test_fail"].find("failure").text)
        self.assertEqual(suites["skipall"].get("skipped"), "2")
        crash = {c.get("name"): c for c in suites["crash"].iter("testcase")}
        self.assertEqual(sorted(crash), ["test_1_before", "test_2_segv", "test_3_never"])
        self.assertEqual(crash["test_3_never"].find("error").get("message"), "ERROR no result: exit=-11 (SIGSEGV)")
        self.assertEqual(root.get("tests"), str(sum(int(s.get("tests")) for s in suites.values())))


class Selection(unittest.TestCase):
    def test_list(self):
        rc, out, _, _ = run_driver("-l")
        self.assertEqual(rc, 0)
        # The order the modules run their cases in (unittest's), as a run reports them.
        self.assertEqual(out.splitlines(), [
            "crash.test_1_before", "crash.test_2_segv", "crash.test_3_never", "exit3.test_exit",
            "failing.test_fail", "failing.test_pass", "garbage", "guest_noise.test_noise", "guest_noise.test_quiet",
            "hang.test_after", "hang.test_hang",
            "importerror.test_unreachable", "passing.test_one", "passing.test_two",
            "skipall.test_a", "skipall.test_b"])
        rc, out, _, _ = run_driver("-l", "-t", "failing.test_f*", "-t", "skip*", "-x", "*.test_b")
        self.assertEqual(out.splitlines(), ["failing.test_fail", "skipall.test_a"])

    def test_list_order_is_run_order(self):
        picks = ("-t", "failing", "-t", "passing", "-t", "skipall", "-t", "crash")
        listed = run_driver("-l", *picks)[1].splitlines()
        ran = [l.split()[2] if l.startswith("ok") else l.split()[3] for l in leaves(run_driver(*picks)[1])]
        self.assertEqual(listed, ran)

    def test_case_globs_reach_the_module(self):
        rc, out, _, _ = run_driver("-t", "failing.test_pass")
        self.assertEqual(rc, 0)
        self.assertEqual(top_results(out), ["ok 1 failing"])
        self.assertEqual(leaves(out), ["ok 1 failing.test_pass"])
        rc, out, _, _ = run_driver("-t", "failing", "-x", "*test_fail")
        self.assertEqual((rc, leaves(out)), (0, ["ok 1 failing.test_pass"]))

    def test_exit_codes(self):
        self.assertEqual(run_driver("-t", "passing")[0], 0)
        self.assertEqual(run_driver("-t", "skipall")[0], 4)
        rc, out, _, _ = run_driver("-x", "*")
        self.assertEqual(rc, 4)
        self.assertEqual(out.splitlines()[:2], ["KTAP version 1", "1..0 # SKIP no test modules selected"])
        self.assertEqual(check(out), [])

    def test_bad_arguments(self):
        for args in (["--bogus"], ["-j", "0"], ["--platform", "vmx"], ["--timeout", "-1"],
                     ["--format", "xml"], ["-t", "no_such_module*"]):
            with self.subTest(args=args):
                rc, out, err, _ = run_driver(*args)
                self.assertEqual(rc, 2)
                self.assertEqual(out, "")
                self.assertEqual(len(err.splitlines()), 1, err)         # one line, no usage text
                self.assertRegex(err, r"^tdx-selftests: error: .*\n$")
        rc, _, err, _ = run_driver("-t", "passing", TDX_TIMEOUT="soon")
        self.assertEqual(rc, 2)
        self.assertIn("TDX_TIMEOUT", err)

    def test_timeout_sources(self):
        def header(*args, **extra):
            return run_driver("-t", "passing", *args, **extra)[1].splitlines()[2]
        self.assertIn("timeout 120 s", header())                        # tools/testing/tdx/settings
        self.assertIn("timeout 7 s", header(TDX_TIMEOUT="7"))
        self.assertIn("timeout 3 s", header("--timeout", "3", TDX_TIMEOUT="7"))

    def test_completion_names(self):
        from tdx.runner import cli as runner
        names = runner._complete("fail", parsed_args=type("A", (), {"module_package": FIXTURES})())
        self.assertEqual(names, ["failing", "failing.test_pass", "failing.test_fail"])


class Entrypoints(unittest.TestCase):
    def test_run_tests_sh(self):
        p = subprocess.run(["sh", str(TDX_DIR / "run_tests.sh"), "--module-package", FIXTURES,
                            "--platform", "none", "-t", "passing"],
                           env=env(PYTHON=sys.executable), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(top_results(p.stdout), ["ok 1 passing"])

    def test_symlinked_run_tests_sh(self):
        with tempfile.TemporaryDirectory() as tmp:
            link = os.path.join(tmp, "run_tests.sh")
            os.symlink(str(TDX_DIR / "run_tests.sh"), link)
            e = env(PYTHON=sys.executable)
            e.pop("PYTHONPATH", None)                   # the script must find the package itself
            p = subprocess.run(["sh", link, "--module-package", FIXTURES, "--platform", "none", "-t", "passing"],
                               env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                               timeout=60, cwd=tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(top_results(p.stdout), ["ok 1 passing"])

    def test_module_runs_alone(self):
        def module(name, *args):
            return subprocess.run([sys.executable, "-m", "%s.%s" % (FIXTURES, name), *args],
                                  env=env(TDX_PLATFORM="none"), stdout=subprocess.PIPE,
                                  universal_newlines=True, timeout=60)
        p = module("failing")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout.splitlines()[:3], ["KTAP version 1", "1..2", "# platform: none"])
        self.assertEqual(top_results(p.stdout), ["not ok 1 failing.test_fail", "ok 2 failing.test_pass"])
        self.assertEqual(check(p.stdout), [])
        self.assertEqual(module("failing", "-l").stdout.splitlines(), ["failing.test_fail", "failing.test_pass"])
        self.assertEqual(module("failing", "-t", "*pass").returncode, 0)
        self.assertEqual(module("skipall").returncode, 4)


class CompatReport(unittest.TestCase):
    """tdx.lib.compat.report(): the header's platform compatibility lines, degrading, never raising."""

    def report(self, modules):
        from unittest import mock
        from tdx.lib import compat
        with mock.patch.dict(sys.modules, modules):
            return compat.report()

    def test_real_host(self):
        # In a child: platform.current() caches its choice for the whole process.
        lines = subprocess.run([sys.executable, "-m", "tdx.lib.compat"], env=env(), stdout=subprocess.PIPE,
                               universal_newlines=True, timeout=60).stdout.splitlines()
        self.assertTrue(lines[0].startswith("platform: "))
        self.assertTrue(lines[1].startswith("kernel: Linux "))
        self.assertTrue(any(l.startswith("/dev/kvm: ") for l in lines), lines)
        # The generation the cases will expect comes last (tdx.lib.generations).
        generation = [l for l in lines if l.startswith("kernel generation")]
        self.assertEqual(lines[-len(generation):], generation)
        self.assertRegex(generation[0], r"^kernel generation: (\d+\.\d+|newest) \(")
        self.assertTrue(lines[-len(generation) - 1].startswith("tdx"), lines)

    def test_no_kvm_layer(self):
        lines = self.report({"tdx.lib.kvm": None, "tdx.lib.platform": None})
        self.assertTrue(lines[0].startswith("platform: unknown"))
        self.assertTrue(lines[2].startswith("/dev/kvm: not queried"))
        self.assertEqual(lines[3], "tdx: not available on this host (KVM layer unavailable)")

    def fake_kvm(self, vm_types=None, error=None):
        kvm = types.ModuleType("tdx.lib.kvm")

        class Kvm:
            api_version = 12

            def __init__(self, system=None):
                if error:
                    raise error

            def check_extension(self, cap):
                return {235: vm_types}.get(cap, 1)

            def close(self):
                pass

        kvm.Kvm = Kvm
        return kvm

    def test_no_dev_kvm(self):
        lines = self.report({"tdx.lib.kvm": self.fake_kvm(error=RuntimeError("/dev/kvm: No such file")),
                             "tdx.lib.platform": None})
        self.assertEqual(lines[2:], ["/dev/kvm: /dev/kvm: No such file",
                                     "tdx: not available on this host (no usable /dev/kvm)",
                                     "kernel generation: not decided (platform unknown)"])

    def test_tdx_capabilities(self):
        td = types.ModuleType("tdx.lib.td")
        td.capabilities = lambda kvm: {"supported_attrs": 1 << 28, "supported_xfam": 0x6e7,
                                       "cpuid": {"nent": 12}}
        lines = self.report({"tdx.lib.kvm": self.fake_kvm(vm_types=0x21), "tdx.lib.td": td,
                             "tdx.lib.platform": None})
        self.assertIn("KVM_CAP_VM_TYPES: 0x21 (DEFAULT, TDX)", lines)
        self.assertIn("KVM_CAP_SPLIT_IRQCHIP: 1", lines)
        self.assertEqual(lines[-2:], ["tdx: supported_attrs=0x10000000 supported_xfam=0x6e7 cpuid configs=12",
                                      "kernel generation: not decided (platform unknown)"])
        lines = self.report({"tdx.lib.kvm": self.fake_kvm(vm_types=0x21), "tdx.lib.td": None,
                             "tdx.lib.platform": None})
        self.assertTrue(lines[-2].startswith("tdx: KVM offers KVM_X86_TDX_VM; module capabilities not queried"))
