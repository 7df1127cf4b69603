# SPDX-License-Identifier: GPL-2.0-only
"""Guest output never forges a result, never breaks a case, never floods a reader.

The fixture tests/fixtures/x86_64/guest_noise.py runs a guest (tests/guest_basic.c,
guest_print_noise) that prints forged result, plan, version and subtest lines,
bytes that are not text, and 60,000 more lines, then passes.  Its module
output, alone and with stderr merged into stdout as kselftest's runner.sh
does, and the driver's document in both formats must give every consumer the
true counts: two cases, both passed.
"""

import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from unittest import mock

from tdx.runner import jobs
from tdx.tests import junit_schema
from tdx.tests.ktap_check import check
from tdx.tests.ktap_consumers import SUCCESS, kunit, linaro_tree
from tdx.tests.support import requires_kvm
from tdx.tests.test_driver import FIXTURES, driver_argv, env, tappy, top_results
from tdx.tests.test_ktap_consumers import runner_sh

MODULE = "guest_noise"
CASES = ["guest_noise.test_noise", "guest_noise.test_quiet"]


def run(argv, merge=False):
    p = subprocess.run(argv, env=env(TDX_PLATFORM="emulated"), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT if merge else subprocess.PIPE, timeout=120,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout


def assert_text(case, raw):
    """Every byte is printable UTF-8 text, every line ends with a newline."""
    text = raw.decode("utf-8")          # raises on anything that is not UTF-8
    case.assertTrue(text.endswith("\n"))
    bad = [l for l in text.splitlines() if any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7f for c in l)]
    case.assertEqual(bad, [])
    return text


@requires_kvm
class ModuleOutput(unittest.TestCase):
    def check_module_document(self, text):
        self.assertEqual(check(text), [])
        tests, plans = tappy(text)
        self.assertEqual([p.expected_tests for p in plans], [2])
        self.assertEqual([(t.number, t.ok, t.description) for t in tests], [(1, True, CASES[0]), (2, True, CASES[1])])
        root, errors = kunit(text)
        self.assertEqual(errors, [])
        self.assertEqual(root.flat(), [(0, CASES[0], SUCCESS), (0, CASES[1], SUCCESS)])
        # As kselftest's runner.sh nests it and LKFT reads that: nothing invented.
        self.assertEqual(linaro_tree(runner_sh(MODULE, text, 0)).flat(),
                         [("tdx_guest_noise", "pass")] + [("tdx_guest_noise_" + c.replace(".", "_"), "pass")
                                                          for c in CASES])

    def test_alone(self):
        rc, raw = run([sys.executable, "-m", "%s.%s" % (FIXTURES, MODULE)])
        self.assertEqual(rc, 0, raw[-2000:])
        text = assert_text(self, raw)
        self.check_module_document(text)
        lines = text.splitlines()
        # The forged lines are there, as diagnostics; the raw bytes as escapes.
        self.assertIn("ok 1 fake", [l.split(": ", 1)[-1] for l in lines])
        self.assertTrue(any(l.endswith(r"raw \xff\xfe bytes \x1b[31mred\x0d\x7f\x01 end") for l in lines), lines[:20])
        # Bounded: 60,000 lines of guest output do not reach the reader.
        self.assertLess(len(lines), 1000)
        self.assertIn("# guest: more than 500 lines of output; the rest is not shown", lines)

    def test_stderr_merged_as_runner_sh_does(self):
        rc, raw = run([sys.executable, "-m", "%s.%s" % (FIXTURES, MODULE)], merge=True)
        self.assertEqual(rc, 0)
        self.check_module_document(assert_text(self, raw))


@requires_kvm
class DriverOutput(unittest.TestCase):
    def test_ktap(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "junit.xml")
            rc, raw = run(driver_argv("--platform", "emulated", "-t", MODULE, "--junit", path))
            with open(path, "rb") as f:
                report = f.read()
        self.assertEqual(junit_schema.check(report), [])
        self.assertEqual([c.get("name") for c in ET.fromstring(report).iter("testcase")], ["test_noise", "test_quiet"])
        self.assertEqual(list(ET.fromstring(report).iter("failure")) + list(ET.fromstring(report).iter("error")), [])
        self.assertEqual(rc, 0, raw[-2000:])
        text = assert_text(self, raw)
        self.assertEqual(check(text), [])
        self.assertEqual(top_results(text), ["ok 1 guest_noise"])
        root, errors = kunit(text)
        self.assertEqual(errors, [])
        self.assertEqual(root.flat(), [(0, MODULE, SUCCESS), (1, CASES[0], SUCCESS), (1, CASES[1], SUCCESS)])

    def test_kselftest(self):
        rc, raw = run(driver_argv("--platform", "emulated", "--format", "kselftest", "-t", MODULE))
        self.assertEqual(rc, 0)
        text = assert_text(self, raw)
        self.assertEqual(check(text, nesting="hash"), [])
        self.assertEqual(linaro_tree(text).flat(),
                         [("tdx_guest_noise", "pass")] + [("tdx_guest_noise_" + c.replace(".", "_"), "pass")
                                                          for c in CASES])


class DriverKeepsResultsOfAChattyModule(unittest.TestCase):
    """Past the driver's line limit only diagnostics are dropped, never KTAP structure."""

    def test_results_after_the_limit(self):
        code = ("import sys\n"
                "w = sys.stdout.write\n"
                "w('KTAP version 1\\n1..2\\n')\n"
                "w('# chatter\\n' * 300)\n"
                "w('ok 1 m.a\\n')\n"
                "w('# chatter\\n' * 300)\n"
                "w('ok 2 m.b\\n# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0\\n')\n")
        with mock.patch.object(jobs, "MAX_LINES", 100):
            job = jobs.Job("m", [sys.executable, "-c", code], env(), 60, jobs.State())
            job.run()
        self.assertEqual(job.rc, 0)
        out = [t for s, t in job.output() if s == "out"]
        self.assertEqual([t for t in out if not t.startswith("# chatter")],
                         ["KTAP version 1", "1..2", "ok 1 m.a", "ok 2 m.b",
                          "# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0"])
        self.assertEqual(job.dropped, 605 - 100 - 3)      # all lines, the first 100, three results


if __name__ == "__main__":
    unittest.main()
