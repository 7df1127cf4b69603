# SPDX-License-Identifier: GPL-2.0-only
"""Every reader counts the same: the summary table, JUnit, the KTAP Totals, kunit_parser.

One driver run over the fault fixtures (crash, exit code, import error,
garbage, failing, passing, skipall) with --junit.  For each module the table's
passed/failed/skipped, the JUnit testsuite's counts, the nested document's
`# Totals:` and kunit_parser's counting of that module's subtree must agree:
a case that never ran is a failure everywhere, and a module that failed with
no case to carry it counts once, as itself.
"""

import os
import re
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET

from tdx.tests.ktap_consumers import FAILURE, SKIPPED, SUCCESS, CRASHED, kunit, kunit_counts
from tdx.tests.test_driver import FAST, driver_argv, env

MODULES = ["crash", "exit3", "failing", "garbage", "importerror", "passing", "skipall"]
# (passed, failed, skipped), as a person reading the fixtures would count them.
EXPECTED = {
    "crash": (1, 2, 0),             # one case ran, the crash left two without a result
    "exit3": (0, 1, 0),
    "failing": (1, 1, 0),
    "garbage": (2, 1, 0),           # its third result contradicts itself: no result
    "importerror": (0, 1, 0),       # no case at all: the module counts as itself
    "passing": (2, 0, 0),
    "skipall": (0, 0, 2),
}


class SameCountsEverywhere(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "junit.xml")
            p = subprocess.run(driver_argv("-j", "2", "--timeout", "20", "--junit", path, *FAST), env=env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                               timeout=120, stdin=subprocess.DEVNULL)
            cls.junit = ET.parse(path).getroot()
        cls.rc, cls.out, cls.err = p.returncode, p.stdout, p.stderr

    def test_summary_table(self):
        rows = {l.split()[0]: tuple(int(x) for x in l.split()[1:4]) for l in self.err.splitlines()
                if l.split() and l.split()[0] in MODULES}
        self.assertEqual(rows, EXPECTED)
        total = next(l for l in self.err.splitlines() if l.startswith("total")).split()[1:4]
        self.assertEqual(tuple(int(x) for x in total), tuple(sum(v[i] for v in EXPECTED.values()) for i in range(3)))

    def test_junit(self):
        got = {}
        for suite in self.junit.iter("testsuite"):
            tests, failures, errors, skipped = (int(suite.get(k)) for k in ("tests", "failures", "errors", "skipped"))
            self.assertEqual(tests, len(suite.findall("testcase")))
            got[suite.get("name")] = (tests - failures - errors - skipped, failures + errors, skipped)
        self.assertEqual(got, EXPECTED)
        self.assertEqual(int(self.junit.get("tests")), sum(sum(v) for v in EXPECTED.values()))

    def test_nested_totals(self):
        got, lines = {}, self.out.splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"(?:not )?ok \d+ (\w+)", line)
            if not m:
                continue
            totals = [l for l in lines[max(0, i - 60):i] if l.startswith("  # Totals:")]
            block = lines[:i]
            start = max([k for k, l in enumerate(block) if re.match(r"(not )?ok \d+ ", l)] or [0])
            totals = [l for l in block[start:] if l.startswith("  # Totals:")]
            if not totals:
                continue                    # no nested document (import error)
            c = dict(kv.split(":") for kv in totals[-1].split(": ", 1)[1].split())
            c = {k: int(v) for k, v in c.items()}
            got[m.group(1)] = (c["pass"] + c["xfail"], c["fail"] + c["xpass"] + c["error"], c["skip"])
        self.assertEqual(got, {k: v for k, v in EXPECTED.items() if k != "importerror"})

    def test_kunit_parser(self):
        root, errors = kunit(self.out)
        self.assertEqual(errors, [])
        got = {}
        for module in root.subtests:
            c = kunit_counts(module)
            got[module.name] = (c.get(SUCCESS, 0), c.get(FAILURE, 0) + c.get(CRASHED, 0), c.get(SKIPPED, 0))
        self.assertEqual(got, EXPECTED)


if __name__ == "__main__":
    unittest.main()
