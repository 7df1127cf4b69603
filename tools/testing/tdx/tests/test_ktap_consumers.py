# SPDX-License-Identifier: GPL-2.0-only
"""Our KTAP as kunit_parser and LKFT's parse-output.py would read it (tests/ktap_consumers.py).

- the driver over the fault fixtures, in both formats: kunit_parser's rules
  see exactly the modules and leaves we emitted, with the statuses we meant;
  the recursive `# `-nesting of --format kselftest gives exactly those tests,
  none invented from a diagnostic, and each module's document parses on its
  own once one `# ` is stripped;
- a module's flat document as kselftest's runner.sh wraps it (`# `-prefixed
  under `selftests: tdx: <module>`), with tests that print result-like,
  header-like and version-like text.
"""

import io
import subprocess
import sys
import unittest
from unittest import mock

from tdx.lib import ktap
from tdx.tests import ktap_check
from tdx.tests.ktap_consumers import SKIPPED, SUCCESS, FAILURE, kunit, linaro_tree
from tdx.tests.test_driver import FAST, Parser, driver_argv, env
from tdx.tests.test_ktap import _module

# (module, ok, [(case, passed)] in document order).  Cases a module planned
# but never reported are `not ok`, by name.
FIXTURE_TREE = [
    ("crash", False, [("crash.test_1_before", True), ("crash.test_2_segv", False), ("crash.test_3_never", False)]),
    ("exit3", False, [("exit3.test_exit", False)]),
    ("failing", False, [("failing.test_fail", False), ("failing.test_pass", True)]),
    ("garbage", False, [("garbage.first", True), ("garbage.second", True), ("garbage.case_3", False)]),
    ("importerror", False, []),
    ("passing", True, [("passing.test_one", True), ("passing.test_two", True)]),
]
SKIP_REASON = "fixture: always skipped"


def run(*args):
    p = subprocess.run(driver_argv("-j", "3", "--timeout", "20", *FAST, *args), env=env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    return p.stdout


def needs_tappy():
    if Parser is None:
        raise unittest.SkipTest("tap.py not installed")


class Fixtures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ktap = run()
        cls.kselftest = run("--format", "kselftest")

    def test_kunit_reads_the_nested_document(self):
        root, errors = kunit(self.ktap)
        self.assertEqual(errors, [])
        want = []
        for module, ok, leaves in FIXTURE_TREE:
            want.append((0, module, SUCCESS if ok else FAILURE))
            want += [(1, n, SUCCESS if passed else FAILURE) for n, passed in leaves]
        want += [(0, "skipall", SKIPPED), (1, "skipall.test_a", SKIPPED), (1, "skipall.test_b", SKIPPED)]
        self.assertEqual(root.flat(), want)
        self.assertEqual(root.status, FAILURE)

    def test_kunit_reads_the_kselftest_form_flat(self):
        root, errors = kunit(self.kselftest)
        self.assertEqual(errors, [])
        self.assertEqual(root.flat(), [(0, "selftests: tdx: %s" % m, SUCCESS if ok else FAILURE)
                                       for m, ok, _ in FIXTURE_TREE]
                         + [(0, "selftests: tdx: skipall", SKIPPED)])

    def test_lkft_nesting_invents_nothing(self):
        needs_tappy()
        want = []
        for module, ok, leaves in FIXTURE_TREE:
            want.append(("tdx_" + module, "pass" if ok else "fail"))
            want += [("tdx_%s_%s" % (module, n.replace(".", "_")), "pass" if passed else "fail")
                     for n, passed in leaves]
        slug = SKIP_REASON.replace(": ", "_").replace(" ", "_")
        want += [("tdx_skipall", "skip"),
                 ("tdx_skipall_skipall_test_a_" + slug, "skip"), ("tdx_skipall_skipall_test_b_" + slug, "skip")]
        self.assertEqual(linaro_tree(self.kselftest).flat(), want)

    def test_each_child_document_parses_on_its_own(self):
        needs_tappy()
        lines = self.kselftest.splitlines()
        children, below = [], []
        for line in lines[2:]:
            if line.startswith(("ok ", "not ok ")):
                children.append((line, below))
                below = []
            elif line.startswith("# "):
                below.append(line[2:])
            elif line == "#":
                below.append("")
        self.assertEqual(len(children), 7)
        with_doc = 0
        for result, child in children:
            with self.subTest(result=result):
                if "KTAP version 1" not in child:
                    self.assertFalse(any(l.startswith(("ok", "not ok")) for l in child), child)
                    continue
                with_doc += 1
                doc = child[child.index("KTAP version 1"):]
                self.assertEqual(ktap_check.check(doc), [])
                tests, _ = _tappy(doc)
                planned = int(doc[1].split()[0][3:])
                self.assertEqual([t.number for t in tests], list(range(1, planned + 1)))
        self.assertEqual(with_doc, 6)       # importerror printed no document


def _tappy(lines):
    import contextlib
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        parsed = list(Parser().parse_text("\n".join(lines)))
    return [l for l in parsed if l.category == "test"], [l for l in parsed if l.category == "plan"]


# -- a module's own document, as runner.sh nests it -------------------------------
MODULE = "tdx_consumers_fixture"


def _prints_structure(self):
    print("ok 5 invented.pass")
    print("not ok 6 invented.fail")
    print("  ok 7 indented")
    print("okay, and KTAP version 1")
    print("KTAP version 1")
    print("Subtest: invented")
    print("Bail out! not really")


def _fails_with_result_text(self):
    self.fail("two lines\nok 9 inside the message")


def runner_sh(name, document, rc):
    """What kselftest's runner.sh makes of one program: header, `# `-prefixed output, result."""
    lines = ["# selftests: tdx: %s" % name] + ["# " + l if l else "#" for l in document.splitlines()]
    result = {0: "ok 1 selftests: tdx: %s" % name, 4: "ok 1 selftests: tdx: %s # SKIP" % name}
    return "\n".join(["TAP version 13", "1..1"] + lines + [result.get(rc, "not ok 1 selftests: tdx: %s # exit=%d"
                                                                     % (name, rc))]) + "\n"


class ModuleUnderRunnerSh(unittest.TestCase):
    def setUp(self):
        patch = mock.patch.object(ktap, "platform_name", return_value="test")
        patch.start()
        self.addCleanup(patch.stop)
        mod = _module(MODULE, A={"test_prints": _prints_structure, "test_fails": _fails_with_result_text,
                                 "test_plain": lambda self: None})
        sys.modules[MODULE] = mod
        self.addCleanup(sys.modules.pop, MODULE, None)
        out = io.StringIO()
        self.rc = ktap.run(MODULE, [], stream=out)
        self.doc = out.getvalue()

    def test_flat_document(self):
        self.assertEqual(self.rc, 1)
        self.assertEqual(ktap_check.check(self.doc), [])
        self.assertIn("# (stray) ok 5 invented.pass", self.doc.splitlines())
        self.assertIn("# (stray) Subtest: invented", self.doc.splitlines())
        root, errors = kunit(self.doc)
        self.assertEqual(errors, [])
        self.assertEqual(root.flat(), [(0, MODULE + ".test_fails", FAILURE), (0, MODULE + ".test_plain", SUCCESS),
                                       (0, MODULE + ".test_prints", SUCCESS)])

    def test_nested_by_runner_sh(self):
        needs_tappy()
        text = runner_sh("m", self.doc, self.rc)
        self.assertEqual(ktap_check.check(text, nesting="hash"), [])
        prefix = "tdx_m_" + MODULE
        self.assertEqual(linaro_tree(text).flat(), [
            ("tdx_m", "fail"), (prefix + "_test_fails", "fail"), (prefix + "_test_plain", "pass"),
            (prefix + "_test_prints", "pass")])


class CheckersCatchWhatTheyClaim(unittest.TestCase):
    """The models must fail on the documents the real tools would misread."""

    def test_kunit_rules(self):
        good = "KTAP version 1\n1..2\nok 1 a\nok 2 b # SKIP why\n"
        root, errors = kunit(good)
        self.assertEqual((errors, root.flat()), ([], [(0, "a", SUCCESS), (0, "b", SKIPPED)]))
        bad = {
            "no name before SKIP": good.replace("ok 2 b # SKIP why", "ok 2 # SKIP why"),
            "no space before #": good.replace("ok 2 b # SKIP why", "ok 2 b #SKIP why"),
            "wrong number": good.replace("ok 2 b", "ok 3 b"),
            "a diagnostic that is a header": good.replace("ok 1 a\n", "# Subtest: x\nok 1 a\n"),
            "version": good.replace("KTAP version 1", "KTAP version 2"),
        }
        for what, text in bad.items():
            with self.subTest(what):
                self.assertNotEqual(kunit(text)[1], [])
        # Lower case is no directive for kunit_parser: a pass.
        self.assertEqual(kunit(good.replace("# SKIP", "# skip"))[0].flat()[1], (0, "b", SUCCESS))

    def test_linaro_nesting(self):
        needs_tappy()
        text = "TAP version 13\n1..1\n# KTAP version 1\n# 1..1\n# # ok 3 phantom\n# ok 1 m.a\nok 1 selftests: tdx: m\n"
        self.assertEqual(linaro_tree(text).flat(), [("tdx_m", "pass"), ("tdx_m_m_a", "pass"),
                                                    ("tdx_m_m_a_phantom", "pass")])
        self.assertEqual(linaro_tree(text.replace("# # ok 3", "# # (stray) ok 3")).flat(),
                         [("tdx_m", "pass"), ("tdx_m_m_a", "pass")])


if __name__ == "__main__":
    unittest.main()
