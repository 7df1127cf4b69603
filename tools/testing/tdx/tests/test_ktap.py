# SPDX-License-Identifier: GPL-2.0-only
"""The KTAP writer, the unittest result feeding it, and the strict checker."""

import contextlib
import io
import os
import signal
import sys
import tempfile
import time
import types
import unittest
from unittest import mock

from tdx.lib import ktap
from tdx.tests.ktap_check import check

try:
    from tap.parser import Parser
except ImportError:                 # tap.py is a test dependency; without it those checks skip
    Parser = None


def tappy_results(text):
    if Parser is None:
        raise unittest.SkipTest("tap.py not installed")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return [l for l in Parser().parse_text(text) if l.category == "test"]


class Writer(unittest.TestCase):
    def lines(self, fn):
        out = io.StringIO()
        w = ktap.KtapWriter(out)
        fn(w)
        return out.getvalue().splitlines()

    def test_document(self):
        def doc(w):
            w.version()
            w.plan(6)
            w.diag("platform: emulated")
            w.result("m.test_a")
            w.result("m.test_b", ktap.FAIL)
            w.result("m.test_c", ktap.SKIP, "requires TDX")
            w.result("m.test_d", ktap.XFAIL, "known bug")
            w.result("m.test_e", ktap.TIMEOUT, ktap.timeout_reason(30))
            w.result("m.test_f", ktap.ERROR, "setUpClass failed")
            w.totals()
        self.assertEqual(self.lines(doc), [
            "KTAP version 1",
            "1..6",
            "# platform: emulated",
            "ok 1 m.test_a",
            "not ok 2 m.test_b",
            "ok 3 m.test_c # SKIP requires TDX",
            "ok 4 m.test_d # XFAIL known bug",
            "not ok 5 m.test_e # TIMEOUT 30 seconds",
            "not ok 6 m.test_f # ERROR setUpClass failed",
            "# Totals: pass:1 fail:2 xfail:1 xpass:0 skip:1 error:1",
        ])

    def test_names_never_carry_hash_or_newline(self):
        line = ktap.result_line(1, "bad#name\nsecond line\r", ktap.SKIP, "why\nnot")
        self.assertEqual(line, "ok 1 bad_name second line # SKIP why not")
        self.assertEqual(ktap.result_line(2, "", ktap.PASS), "ok 2 unnamed")
        self.assertEqual(ktap.result_line(3, "x", ktap.FAIL, "exit=-11 (SIGSEGV)"),
                         "not ok 3 x # exit=-11 (SIGSEGV)")

    def test_multiline_diagnostics_prefix_every_line(self):
        self.assertEqual(ktap.diag_lines("a\nb\r\n\nc  "), ["# a", "# b", "#", "# c"])
        self.assertEqual(ktap.diag_lines(""), ["#"])
        self.assertEqual(ktap.diag_lines("nul\x00esc\x1b"), ["# nul?esc?"])

    def test_skip_plan(self):
        self.assertEqual(ktap.plan_line(0, "no tests"), "1..0 # SKIP no tests")
        self.assertEqual(ktap.plan_line(3, "ignored when N > 0"), "1..3")

    def test_exit_codes(self):
        self.assertEqual(ktap.exit_code({"pass": 2, "skip": 1}), 0)
        self.assertEqual(ktap.exit_code({"pass": 2, "fail": 1}), 1)
        self.assertEqual(ktap.exit_code({"xpass": 1}), 1)
        self.assertEqual(ktap.exit_code({"pass": 1, "error": 1}), 1)
        self.assertEqual(ktap.exit_code({"skip": 3}), 4)
        self.assertEqual(ktap.exit_code({}), 4)
        self.assertEqual(ktap.exit_code({"xfail": 1, "skip": 1}), 0)

    def test_each_line_is_flushed(self):
        class Stream(io.StringIO):
            flushes = 0

            def flush(self):
                Stream.flushes += 1

        s = Stream()
        w = ktap.KtapWriter(s)
        w.version()
        w.plan(1)
        w.result("x")
        self.assertEqual(Stream.flushes, 3)

    def test_nested_prefix(self):
        out = io.StringIO()
        w = ktap.KtapWriter(out, prefix="  ")
        w.version()
        w.diag("two\nlines")
        self.assertEqual(out.getvalue(), "  KTAP version 1\n  # two\n  # lines\n")


# -- the unittest result, through ktap.run() on a module built here ------------------------
def _module(name, **classes):
    mod = types.ModuleType(name)
    for cls_name, body in classes.items():
        cls = type(cls_name, (unittest.TestCase,), dict(body))
        cls.__module__ = name
        setattr(mod, cls_name, cls)
    return mod


def _fail(self):
    self.assertEqual(1, 2)


def _error(self):
    raise RuntimeError("boom\nsecond line")


def _print_no_newline(self):
    sys.stdout.write("partial")


def _subtests(self):
    for i in range(3):
        with self.subTest(i=i):
            self.assertLess(i, 2)


def _raise(exc):
    def fn(cls):
        raise exc
    return classmethod(fn)


MODULE = "tdx_ktap_fixture"


class Result(unittest.TestCase):
    def setUp(self):
        patch = mock.patch.object(ktap, "platform_name", return_value="test")
        patch.start()
        self.addCleanup(patch.stop)

    def run_module(self, mod, *argv):
        sys.modules[mod.__name__] = mod
        self.addCleanup(sys.modules.pop, mod.__name__, None)
        out = io.StringIO()
        rc = ktap.run(mod.__name__, list(argv), stream=out)
        return rc, out.getvalue()

    def results(self, text):
        return [l for l in text.splitlines() if l.startswith(("ok ", "not ok "))]

    def test_interrupted_cases_are_not_ok(self):
        # SIGTERM in the middle: the running case and every case after it are
        # `not ok`: a run cut short never reads as a pass, nor as a skip.
        def stop(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        mod = _module("tdx_interrupt_fixture", A={"test_a": lambda self: None, "test_b": stop,
                                                  "test_c": lambda self: None})
        with tempfile.TemporaryDirectory() as tmp:
            names = os.path.join(tmp, "cases")
            with mock.patch.dict(os.environ, {ktap.CASES_ENV: names}):
                rc, text = self.run_module(mod)
                self.assertNotIn(ktap.CASES_ENV, os.environ)       # not handed on to what the module starts
            with open(names) as f:
                self.assertEqual(f.read().splitlines(), ["tdx_interrupt_fixture.test_a", "tdx_interrupt_fixture.test_b",
                                                         "tdx_interrupt_fixture.test_c"])
        self.assertEqual(rc, 128 + signal.SIGTERM)
        self.assertEqual(self.results(text), [
            "ok 1 tdx_interrupt_fixture.test_a",
            "not ok 2 tdx_interrupt_fixture.test_b # ERROR interrupted by SIGTERM",
            "not ok 3 tdx_interrupt_fixture.test_c # ERROR not run: interrupted by SIGTERM"])
        self.assertEqual(check(text), [])

    def test_all_outcomes(self):
        mod = _module(
            MODULE,
            A={"test_pass": lambda self: None,
               "test_fail": _fail,
               "test_error": _error,
               "test_skip": unittest.skip("requires X")(lambda self: None),
               "test_xfail": unittest.expectedFailure(lambda self: _fail(self)),
               "test_xpass": unittest.expectedFailure(lambda self: None),
               "test_sub": _subtests,
               "test_print": _print_no_newline})
        rc, text = self.run_module(mod)
        self.assertEqual(rc, 1)
        self.assertEqual(text.splitlines()[:3], ["KTAP version 1", "1..8", "# platform: test"])
        self.assertEqual(self.results(text), [
            "not ok 1 %s.test_error" % MODULE,
            "not ok 2 %s.test_fail" % MODULE,
            "ok 3 %s.test_pass" % MODULE,
            "ok 4 %s.test_print" % MODULE,
            "ok 5 %s.test_skip # SKIP requires X" % MODULE,
            "not ok 6 %s.test_sub" % MODULE,
            "ok 7 %s.test_xfail # XFAIL AssertionError: 1 != 2" % MODULE,
            "not ok 8 %s.test_xpass # XPASS unexpected success" % MODULE,
        ])
        lines = text.splitlines()
        # The traceback's last lines come right before the failing result,
        # every line of the multi-line message prefixed.
        at = lines.index("not ok 1 %s.test_error" % MODULE)
        self.assertEqual(lines[at - 2:at], ["# RuntimeError: boom", "# second line"])
        at = lines.index("not ok 2 %s.test_fail" % MODULE)
        self.assertEqual(lines[at - 1], "# AssertionError: 1 != 2")
        self.assertIn("# partial", lines)                       # stray output, not glued to "ok 4"
        self.assertIn("# %s.test_sub (i=2)" % MODULE, lines)       # the result name, not unittest's id
        self.assertEqual(lines[-1], "# Totals: pass:2 fail:3 xfail:1 xpass:1 skip:1 error:0")
        self.assertEqual(check(text), [])
        parsed = tappy_results(text)
        self.assertEqual([r.ok for r in parsed], [False, False, True, True, True, False, True, False])
        self.assertTrue(parsed[4].skip)

    def test_class_fixtures(self):
        mod = _module(
            MODULE,
            Skipped={"setUpClass": _raise(unittest.SkipTest("requires TDX")),
                     "test_a": lambda self: None, "test_b": lambda self: None},
            Broken={"setUpClass": _raise(OSError("no device")),
                    "test_c": lambda self: None},
            Dirty={"tearDownClass": _raise(ValueError("leak")),
                   "test_d": lambda self: None})
        rc, text = self.run_module(mod)
        self.assertEqual(rc, 1)
        self.assertEqual(self.results(text), [
            "not ok 1 %s.test_c # ERROR setUpClass failed" % MODULE,
            "ok 2 %s.test_d" % MODULE,
            "ok 3 %s.test_a # SKIP requires TDX" % MODULE,
            "ok 4 %s.test_b # SKIP requires TDX" % MODULE,
        ])
        self.assertIn("# OSError: no device", text.splitlines())
        self.assertIn("# ValueError: leak", text.splitlines())
        self.assertEqual(text.splitlines()[-1], "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:2 error:2")
        self.assertEqual(check(text), [])

    def test_all_skipped_exits_4(self):
        mod = _module(MODULE, S={"test_a": unittest.skip("why")(lambda self: None)})
        rc, text = self.run_module(mod)
        self.assertEqual(rc, 4)
        self.assertEqual(self.results(text), ["ok 1 %s.test_a # SKIP why" % MODULE])

    def test_no_tests_is_a_skip_plan(self):
        rc, text = self.run_module(_module(MODULE))
        self.assertEqual(rc, 4)
        self.assertEqual(text.splitlines()[:2], ["KTAP version 1", "1..0 # SKIP no test cases"])
        self.assertEqual(check(text), [])

    def test_duplicate_case_names_get_the_class(self):
        mod = _module(MODULE, A={"test_x": lambda self: None}, B={"test_x": lambda self: None})
        rc, text = self.run_module(mod)
        self.assertEqual(rc, 0)
        self.assertEqual(self.results(text), ["ok 1 %s.A.test_x" % MODULE, "ok 2 %s.B.test_x" % MODULE])

    def test_selection_and_listing(self):
        def mod():
            return _module(MODULE, A={"test_in": lambda self: None, "test_out": _fail,
                                      "test_other": lambda self: None})
        rc, text = self.run_module(mod(), "-l")
        self.assertEqual(rc, 0)
        self.assertEqual(text.splitlines(), ["%s.%s" % (MODULE, c) for c in ("test_in", "test_other", "test_out")])
        rc, text = self.run_module(mod(), "-t", "%s.test_in" % MODULE, "-t", "test_oth*")
        self.assertEqual(rc, 0)
        self.assertEqual(self.results(text), ["ok 1 %s.test_in" % MODULE, "ok 2 %s.test_other" % MODULE])
        rc, text = self.run_module(mod(), "-x", "*out")
        self.assertEqual(rc, 0)
        self.assertEqual(len(self.results(text)), 2)
        rc, text = self.run_module(mod(), "-t", "nothing")
        self.assertEqual(rc, 4)
        self.assertIn("1..0 # SKIP no test cases selected", text.splitlines())

    def test_bad_argument_is_usage_error(self):
        with self.assertRaises(SystemExit) as e, contextlib.redirect_stderr(io.StringIO()):
            self.run_module(_module(MODULE), "--bogus")
        self.assertEqual(e.exception.code, 2)


# -- the checker itself must catch what it claims to --------------------------------------
GOOD = """KTAP version 1
1..2
  KTAP version 1
  1..1
  ok 1 m.case
  # Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0
# m: a note about the subtest
ok 1 m
ok 2 n # SKIP reason
# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0
"""


class Checker(unittest.TestCase):
    def problems(self, text, nesting="indent"):
        return check(text, nesting)

    def test_good_document(self):
        self.assertEqual(self.problems(GOOD), [])

    def test_each_rule(self):
        bad = {
            "no version": GOOD.replace("KTAP version 1\n1..2", "1..2", 1),
            "plan count": GOOD.replace("1..2", "1..3", 1),
            "numbering": GOOD.replace("ok 2 n", "ok 3 n"),
            "hash in name": GOOD.replace("ok 1 m\n", "ok 1 m#x\n"),
            "no space before directive": GOOD.replace("n # SKIP", "n #SKIP"),
            "lower-case directive": GOOD.replace("# SKIP", "# skip"),
            "no name": GOOD.replace("ok 2 n # SKIP", "ok 2 # SKIP"),
            "TIMEOUT on ok": GOOD.replace("ok 1 m\n", "ok 1 m # TIMEOUT 3 seconds\n"),
            "unknown line": GOOD.replace("ok 1 m\n", "garbage\nok 1 m\n"),
            "blank line": GOOD.replace("ok 1 m\n", "\nok 1 m\n"),
            "bad diagnostic": GOOD.replace("# m: a note", "#m: a note"),
            "odd indentation": GOOD.replace("  ok 1 m.case", "   ok 1 m.case"),
            "no parent result": GOOD.replace("ok 1 m\n", ""),
            "nested version": GOOD.replace("  KTAP version 1", "  TAP version 13"),
            "totals": GOOD.replace("pass:1 fail:0 xfail:0 xpass:0 skip:1", "pass:2 fail:0 xfail:0 xpass:0 skip:1"),
            "skip plan with tests": GOOD.replace("1..2", "1..2 # SKIP no"),
        }
        for what, text in bad.items():
            with self.subTest(what):
                self.assertNotEqual(self.problems(text), [], text)

    def test_hash_nesting(self):
        text = "\n".join([
            "TAP version 13", "1..2",
            "# selftests: tdx: m", "# KTAP version 1", "# 1..1", "# ok 1 m.case", "# # note",
            "ok 1 selftests: tdx: m",
            "# selftests: tdx: n", "ok 2 selftests: tdx: n # SKIP"])
        self.assertEqual(self.problems(text, "hash"), [])
        self.assertNotEqual(self.problems(text.replace("# 1..1", "# 1..2"), "hash"), [])
        self.assertNotEqual(self.problems(text.replace("# ok 1 m.case", "# ok 1 m#case"), "hash"), [])
