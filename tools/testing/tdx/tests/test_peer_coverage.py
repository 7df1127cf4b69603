# SPDX-License-Identifier: GPL-2.0-only
"""docs/peer-coverage.md names only cases that exist.

Every `module.test_name` in the document must be a test method of the
x86_64 module of that name (read from the source, so nothing runs); a name
ending in `*` must match at least one.  Every table row has an id of its
own and says where it is checked, or "none" and why.
"""

import ast
import os
import re
import unittest

TDX = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(TDX))), "docs", "peer-coverage.md")
NAME = re.compile(r"\b([a-z][a-z0-9_]*)\.(test_[A-Za-z0-9_]*\*?)")
ROW = re.compile(r"^\| ([A-Z]+-\d+) \| (.*) \| (.*) \|$")


def cases(module):
    """The test method names of x86_64/<module>.py, or None if there is no such module."""
    path = os.path.join(TDX, "x86_64", module + ".py")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    return {node.name for cls in tree.body if isinstance(cls, ast.ClassDef)
            for node in cls.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


class PeerCoverage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DOC) as f:
            cls.text = f.read()

    def test_named_cases_exist(self):
        missing = []
        for module, name in sorted(set(NAME.findall(self.text))):
            have = cases(module)
            if have is None:
                missing.append("%s.%s: no module x86_64/%s.py" % (module, name, module))
            elif name.endswith("*"):
                if not any(c.startswith(name[:-1]) for c in have):
                    missing.append("%s.%s: no case starts so" % (module, name))
            elif name not in have:
                missing.append("%s.%s: no such case" % (module, name))
        self.assertEqual(missing, [], "\n".join(missing))

    def test_rows(self):
        rows = [ROW.match(line) for line in self.text.splitlines() if re.match(r"^\| [A-Z]+-\d+ \|", line)]
        self.assertGreater(len(rows), 100)
        self.assertNotIn(None, rows, "a peer row that is not '| id | assertion | here |'")
        ids = [m.group(1) for m in rows]
        self.assertEqual(len(ids), len(set(ids)), "row ids must be unique")
        for m in rows:
            with self.subTest(row=m.group(1)):
                here = m.group(3)
                self.assertTrue(NAME.search(here) or here.startswith("none"),
                                "%s: neither a case nor 'none: why'" % m.group(1))

    def test_finds_a_missing_case(self):
        """The check above would notice a renamed case."""
        self.assertIn("test_lifecycle", cases("td_lifecycle"))
        self.assertNotIn("test_lifecycle_renamed", cases("td_lifecycle"))
        self.assertIsNone(cases("no_such_module"))


if __name__ == "__main__":
    unittest.main()
