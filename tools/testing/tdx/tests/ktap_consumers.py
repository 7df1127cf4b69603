# SPDX-License-Identifier: GPL-2.0-only
"""How two KTAP consumers that CI uses would read our documents.

Neither is installable (docs/ktap-kselftest.md §3.4), so this
applies their documented rules (§3.1, §3.3) with code of our own; it is a
model of their reading, not a copy of either tool.

kunit(text) -> (root Node, errors): kunit_parser's rules.
  - The document starts at the first `KTAP version N` / `TAP version N`
    line; accepted: KTAP 1, TAP 13 and 14.
  - Line kinds, indentation ignored (`\\s*` everywhere):
      version   `\\s*KTAP version N` / `\\s*TAP version N`
      header    `\\s*# Subtest: name`
      plan      `\\s*1..N`
      result    `\\s*(ok|not ok) N (- )?name( # ...)?`, the name free of `#`,
                so `ok 2 # SKIP x` (no name) and `ok 3 t #SKIP` are NOT results
    and everything else is a diagnostic.  Only an upper-case ` # SKIP`
    directive changes the status (SKIPPED); TIMEOUT, ERROR, XFAIL... are
    plain ok/not ok.
  - A subtest is a nested version line (and/or a header) followed by a plan
    and its own results, then its parent's result line; a bare result line
    is a leaf.  A diagnostic that looks like a header or a version line
    therefore starts a subtest: that is why our diagnostics never do.
  - Errors: a wrong test number, fewer results than the plan ("missing
    expected subtest"), a subtest without its result line, a result name
    that differs from its header's, a subtest (or the whole document) with
    no tests that does not fail or skip ("0 tests run!"); and (stricter
    than kunit) result lines left over after the top-level plan is
    complete.

linaro(text) -> [Test]: LKFT/KernelCI's reading of run_kselftest.sh output
(Linaro test-definitions parse-output.py, rewritten in 2024 for nesting):
  - the text is parsed with tap.py; the diagnostics (lines starting with
    `#`) before each result, with one `#` and the surrounding blanks
    stripped from each, are parsed the same way, recursively, as that
    result's children;
  - a result is pass, fail or skip (ok + SKIP); XFAIL and TODO read as
    pass;
  - names lose a leading `selftests:`, ok+SKIP results get the skip reason
    appended, runs of characters outside [A-Za-z0-9_-] become `_`, and
    children are flattened as `parent_child`.
"""

import contextlib
import io
import re

KTAP_START = re.compile(r"\s*KTAP version ([0-9]+)$")
TAP_START = re.compile(r"\s*TAP version ([0-9]+)$")
HEADER = re.compile(r"\s*# Subtest: (.*)$")
PLAN = re.compile(r"\s*1\.\.([0-9]+)")
RESULT = re.compile(r"\s*(ok|not ok) ([0-9]+) (- )?([^#]*)( # .*)?$")
RESULT_SKIP = re.compile(r"\s*(ok|not ok) ([0-9]+) (- )?(.*) # SKIP(.*)$")
ACCEPTED = {"KTAP": (1,), "TAP": (13, 14)}

SUCCESS, FAILURE, SKIPPED, CRASHED, NO_TESTS = "SUCCESS", "FAILURE", "SKIPPED", "CRASHED", "NO_TESTS"


class Node:
    def __init__(self, name=""):
        self.name = name
        self.status = None
        self.expected = None
        self.subtests = []

    def flat(self, depth=0):
        """[(depth, name, status)] of every test below this one, depth first."""
        out = []
        for s in self.subtests:
            out.append((depth, s.name, s.status))
            out += s.flat(depth + 1)
        return out


class _Lines:
    def __init__(self, lines):
        self.items = lines
        self.i = 0

    def __bool__(self):
        return self.i < len(self.items)

    def peek(self):
        return self.items[self.i][1]

    def pop(self):
        self.i += 1
        return self.items[self.i - 1]


class _Kunit:
    def __init__(self, lines):
        self.lines = lines
        self.errors = []

    def error(self, text):
        where = self.lines.items[min(self.lines.i, len(self.lines.items) - 1)][0] if self.lines.items else 0
        self.errors.append("line %d: %s" % (where, text))

    def skip_diagnostics(self):
        while self.lines and not any(r.match(self.lines.peek()) for r in (RESULT, HEADER, KTAP_START,
                                                                          TAP_START, PLAN)):
            self.lines.pop()

    def version(self):
        for kind, regex in (("KTAP", KTAP_START), ("TAP", TAP_START)):
            m = regex.match(self.lines.peek()) if self.lines else None
            if m:
                self.lines.pop()
                if int(m.group(1)) not in ACCEPTED[kind]:
                    self.error("unsupported version %s version %s" % (kind, m.group(1)))
                return True
        return False

    def name_matches(self, node):
        m = RESULT.match(self.lines.peek()) if self.lines else None
        return bool(m) and m.group(4).strip() == node.name

    def test(self, number, top):
        node = Node("main" if top else "")
        self.skip_diagnostics()
        if top:
            if not self.version():
                self.error("no version line")
            parent = True
        else:
            parent = self.version()
            m = HEADER.match(self.lines.peek()) if self.lines else None
            if m:
                self.lines.pop()
                node.name = m.group(1)
                parent = True
        self.skip_diagnostics()
        m = PLAN.match(self.lines.peek()) if self.lines else None
        if m and parent:
            self.lines.pop()
            node.expected = int(m.group(1))
        n = 1
        while parent and (node.expected is None or n <= node.expected):
            self.skip_diagnostics()
            if not self.lines or (not top and node.name and self.name_matches(node)):
                if node.expected is not None and n <= node.expected:
                    self.error("missing expected subtest!")
                    crashed = Node()
                    crashed.status = CRASHED
                    node.subtests.append(crashed)
                    n += 1
                    continue
                break
            node.subtests.append(self.test(n, False))
            n += 1
        if top:
            self.skip_diagnostics()
            if self.lines:
                self.error("left over after the plan: %r" % self.lines.peek())
            if not node.subtests:
                self.error("0 tests run!")
            node.status = self.bubble(node) if node.subtests else NO_TESTS
            return node
        self.skip_diagnostics()
        if node.name and not self.name_matches(node):
            self.error("missing subtest result line!")
            node.status = CRASHED
        elif not self.lines:
            self.error("no more test results")
            node.status = NO_TESTS
        else:
            self.result(node, number)
        if parent and not node.subtests and node.status in (SUCCESS, CRASHED):
            # An empty subtest that claims success: kunit_parser's "0 tests run!".
            self.error("0 tests run!")
            node.status = NO_TESTS
        return node

    def result(self, node, number):
        _, line = self.lines.pop()
        m = RESULT.match(line)
        if not m:
            self.error("expected a result line, found %r" % line)
            node.status = CRASHED
            return
        if int(m.group(2)) != number:
            self.error("Expected test number %d but found %s" % (number, m.group(2)))
        skip = RESULT_SKIP.match(line)
        name = (skip.group(4) if skip else m.group(4)).strip()
        if node.name and name != node.name:
            self.error("result name %r does not match the header's %r" % (name, node.name))
        node.name = name
        node.status = SKIPPED if skip else SUCCESS if m.group(1) == "ok" else FAILURE

    @staticmethod
    def bubble(node):
        statuses = [s.status for s in node.subtests]
        for worst in (CRASHED, FAILURE):
            if worst in statuses:
                return worst
        return SKIPPED if all(s == SKIPPED for s in statuses) else SUCCESS


def kunit_counts(node):
    """{status: n} as kunit_parser adds up a tree: a test with subtests counts
    what they count; a test counts itself only when they count nothing
    (bubble_up_test_results in kunit_parser.py)."""
    counts = {}
    for sub in node.subtests:
        for k, v in kunit_counts(sub).items():
            counts[k] = counts.get(k, 0) + v
    if not counts and node.status is not None:
        counts[node.status] = 1
    return counts


def kunit(text):
    """(root Node, [error]) as kunit_parser's rules read `text`."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines)
                  if KTAP_START.search(l.strip()) or TAP_START.search(l.strip())), None)
    if start is None:
        return Node("main"), ["no KTAP/TAP version line: nothing to parse"]
    prefix = len(lines[start]) - len(lines[start].lstrip())
    items = [(n + 1, l[prefix:]) for n, l in enumerate(lines) if n >= start]
    parser = _Kunit(_Lines(items))
    root = parser.test(0, True)
    return root, parser.errors


# -- Linaro parse-output.py -------------------------------------------------------
class Test:
    def __init__(self, name, result, children):
        self.name = name
        self.result = result
        self.children = children

    def flat(self, prefix=""):
        """[(flattened name, result)], the names LKFT would record."""
        out = []
        for c in self.children:
            name = "%s_%s" % (prefix, c.name) if prefix else c.name
            out.append((name, c.result))
            out += c.flat(name)
        return out


def _uncomment(line):
    return line[1:].strip() if line.startswith("#") else line


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)


def _name(description, directive, ok, skip):
    if description.startswith("selftests:"):
        description = description[len("selftests:"):]
    extra = directive[4:] if ok and skip and directive.lower().startswith("skip") else ""
    return _slug(("%s %s" % (description, extra)).strip() or "<unknown>")


def linaro(text):
    """[Test] as parse-output.py's recursive `# `-nesting reads `text` (needs tap.py)."""
    from tap.parser import Parser
    results, below = [], []
    # tap.py prints a "no yaml" warning on stdout for TAP 13 input.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        lines = list(Parser().parse_text(text))
    for line in lines:
        if line.category == "test":
            result = ("skip" if line.skip else "pass") if line.ok else "fail"
            results.append(Test(_name(line.description, line.directive.text, line.ok, line.skip), result,
                                linaro("\n".join(below))))
            below = []
        elif line.category == "diagnostic":
            below.append(_uncomment(line.text))
    return results


def linaro_tree(text):
    """linaro(text) under one root, for .flat()."""
    return Test("", None, linaro(text))
