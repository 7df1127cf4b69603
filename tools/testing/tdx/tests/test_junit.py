# SPDX-License-Identifier: GPL-2.0-only
"""--junit: valid XML for any bytes, valid by the Jenkins xunit schema's rules, and useful.

One driver run over the fault fixtures and the hang fixture (timed out after
3 s); garbage prints NUL, 0xff and ESC bytes.  The report must parse with
ElementTree and junitparser, pass tests/junit_schema.py (Jenkins xunit schema
and GitLab's needs), name cases `<module>.<case>`, give each case a time, say
TIMEOUT for the timeout, and use the assertion's first line as the failure
message.  The schema checker itself must refuse what the schema refuses.
"""

import os
import subprocess
import tempfile
import unittest

from tdx.runner import junit
from tdx.tests import junit_schema
from tdx.tests.test_driver import FAST, driver_argv, env

try:
    import junitparser
except ImportError:                 # a test dependency (scripts/python.sh); without it that check skips
    junitparser = None


class Report(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as tmp:
            cls.path = os.path.join(tmp, "junit.xml")
            p = subprocess.run(driver_argv("-j", "3", "--timeout", "3", "--junit", cls.path, *FAST, "-t", "hang"),
                               env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                               stdin=subprocess.DEVNULL)
            with open(cls.path, "rb") as f:
                cls.data = f.read()
        cls.rc = p.returncode
        import xml.etree.ElementTree as ET
        cls.root = ET.fromstring(cls.data)

    def cases(self, module):
        suite = next(s for s in self.root.iter("testsuite") if s.get("name") == module)
        return {c.get("name"): c for c in suite.iter("testcase")}

    def test_valid_by_the_schema(self):
        self.assertEqual(self.rc, 1)
        self.assertEqual(junit_schema.check(self.data), [])
        self.assertNotIn("skipped", self.root.attrib)

    def test_junitparser_reads_it(self):
        if junitparser is None:
            self.skipTest("junitparser not installed")
        xml = junitparser.JUnitXml.fromstring(self.data)
        results = {}
        for suite in xml:
            for case in suite:
                kinds = [type(r).__name__ for r in case.result]
                results["%s.%s" % (case.classname, case.name)] = kinds[0] if kinds else "pass"
        self.assertEqual(results["failing.test_fail"], "Failure")
        self.assertEqual(results["failing.test_pass"], "pass")
        self.assertEqual(results["skipall.test_a"], "Skipped")
        self.assertEqual(results["hang.test_hang"], "Error")
        self.assertEqual(results["importerror.importerror"], "Error")

    def test_labels_are_module_dot_case(self):
        for case in self.root.iter("testcase"):
            self.assertNotIn("__main__", case.get("classname") + case.get("name"))
        self.assertEqual(sorted(self.cases("passing")), ["test_one", "test_two"])
        self.assertEqual({c.get("classname") for c in self.cases("passing").values()}, {"passing"})

    def test_every_case_has_a_time(self):
        for case in self.root.iter("testcase"):
            self.assertGreaterEqual(float(case.get("time")), 0.0)
        # The hung case's time is the wait for it, not zero.
        self.assertGreater(float(self.cases("hang")["test_hang"].get("time")), 1.0)

    def test_timeout_says_timeout(self):
        error = self.cases("hang")["test_hang"].find("error")
        self.assertEqual(error.get("message"), "TIMEOUT 3 seconds")
        self.assertEqual(error.get("type"), "timeout")

    def test_failure_message_is_the_assertion(self):
        failure = self.cases("failing")["test_fail"].find("failure")
        self.assertEqual(failure.get("message"), "AssertionError: 1 != 2 : fixture failure")
        self.assertIn("Traceback", failure.text)

    def test_bytes_a_module_printed(self):
        out = next(s for s in self.root.iter("testsuite") if s.get("name") == "garbage").find("system-out").text
        self.assertIn("\\x00", out)
        self.assertIn("\\x1b[31mred", out)

    def test_not_run_and_crash(self):
        crash = self.cases("crash")
        self.assertIsNone(crash["test_1_before"].find("error"))
        self.assertEqual(crash["test_3_never"].find("error").get("message"), "ERROR no result: exit=-11 (SIGSEGV)")


class Helpers(unittest.TestCase):
    def test_xml_text(self):
        self.assertEqual(junit.xml_text("a\x00b\x1bc\td\ne\ufffe\U0001f600"), "a\\x00b\\x1bc\td\ne\\ufffe\U0001f600")

    def test_first_error_line(self):
        tb = ["Traceback (most recent call last):", '  File "x.py", line 3, in test', "    self.fail()",
              "AssertionError: one", "two"]
        self.assertEqual(junit.first_error_line(["print", *tb]), "AssertionError: one")
        self.assertEqual(junit.first_error_line(["GuestProtocolError: bad (x.py:3)"]),
                         "GuestProtocolError: bad (x.py:3)")
        self.assertIsNone(junit.first_error_line([]))


class SchemaCheckerRefuses(unittest.TestCase):
    GOOD = ('<testsuites name="t" tests="1" failures="0" errors="0" time="1.5">'
            '<testsuite name="m" tests="1" failures="0" errors="0" skipped="0" time="1,234.5">'
            '<testcase classname="m" name="c" time="0.1"/></testsuite></testsuites>')

    def test_good(self):
        self.assertEqual(junit_schema.check(self.GOOD), [])

    def test_bad(self):
        bad = {
            "skipped on testsuites": self.GOOD.replace('<testsuites name="t"', '<testsuites skipped="0" name="t"'),
            "time pattern": self.GOOD.replace('time="1.5"', 'time="1.5s"'),
            "no errors on testsuite": self.GOOD.replace(' errors="0" skipped', ' skipped'),
            "unknown testcase attribute": self.GOOD.replace('time="0.1"', 'time="0.1" file="x"'),
            "no time": self.GOOD.replace(' time="0.1"', ''),
            "control byte": self.GOOD.replace('name="c"', 'name="&#27;"'),
            "two outcomes": self.GOOD.replace('time="0.1"/>', 'time="0.1"><failure message="a"/><error message="b"/>'
                                                             '</testcase>'),
            "counts": self.GOOD.replace('time="0.1"/>', 'time="0.1"><failure message="a"/></testcase>'),
        }
        for what, text in bad.items():
            with self.subTest(what):
                self.assertNotEqual(junit_schema.check(text), [])


if __name__ == "__main__":
    unittest.main()
