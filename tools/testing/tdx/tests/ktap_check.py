# SPDX-License-Identifier: GPL-2.0-only
"""A strict KTAP v1 checker for the project's own tests.

check(text) returns a list of problems ("line 7: ...") and an empty list for
a document that every consumer we know reads the same way
(docs/ktap-kselftest.md §1.1, §3):

- a version line first (`KTAP version 1`; `TAP version 13/14` accepted at the
  top level only), the plan `1..N` right after it, then exactly N results
  numbered 1..N;
- result names present, free of `#`; ` # ` before a directive; directives in
  upper case; TIMEOUT, ERROR, XPASS only on `not ok`, XFAIL only on `ok`;
  `1..0 # SKIP reason` only for an empty plan;
- diagnostics are `#` or `# text`; no unknown lines, blank lines or trailing
  blanks (KTAP tolerates unknown lines; our producers never emit them);
- nesting: nesting="indent" (KTAP): a subtest is a whole document indented by
  two spaces, followed by its parent's result line (diagnostics may come
  between them); nesting="hash"
  (run_kselftest.sh): a subtest is a document inside `# `-prefixed lines,
  from its version line up to the parent's result line;
- a `# Totals:` line, where present, matches the results at its level (the
  `error` field may be larger: errors outside any test case count there too).

Run as `python3 -m tdx.tests.ktap_check [--nesting hash] < file` to check a file.
"""

import re
import sys

VERSIONS_TOP = ("KTAP version 1", "TAP version 13", "TAP version 14")
VERSION_NESTED = "KTAP version 1"
DIRECTIVES = ("SKIP", "TODO", "XFAIL", "XPASS", "TIMEOUT", "ERROR")
NOT_OK_ONLY = ("TIMEOUT", "ERROR", "XPASS")
OK_ONLY = ("XFAIL",)
TOTALS_KEYS = ("pass", "fail", "xfail", "xpass", "skip", "error")

_PLAN = re.compile(r"1\.\.(\d+)(?: # (.*))?$")
_RESULT = re.compile(r"(ok|not ok) (\d+)(?: (.*))?$")
_TOTALS = re.compile(r"# Totals: " + " ".join(r"%s:(\d+)" % k for k in TOTALS_KEYS) + r"$")


def _bucket(ok, directive):
    if directive == "SKIP":
        return "skip"
    if ok:
        return "xfail" if directive == "XFAIL" else "pass"
    return {"XPASS": "xpass", "ERROR": "error"}.get(directive, "fail")


class _Checker:
    def __init__(self, nesting):
        if nesting not in ("indent", "hash"):
            raise ValueError("nesting must be 'indent' or 'hash'")
        self.nesting = nesting
        self.problems = []

    def problem(self, lineno, text):
        self.problems.append("line %d: %s" % (lineno, text))

    # -- one document: [(lineno, text)] with its own prefix removed ------------------
    def document(self, items, top, end_lineno):
        if not items:
            self.problem(end_lineno, "empty document")
            return
        lineno, first = items[0]
        if first not in (VERSIONS_TOP if top else (VERSION_NESTED,)):
            self.problem(lineno, "expected a version line, found %r" % first)
        planned = None
        if len(items) < 2:
            self.problem(lineno, "no plan line after the version line")
        else:
            planned = self.plan(*items[1])
        counts = dict.fromkeys(TOTALS_KEYS, 0)
        totals = []
        number = 0
        i = 2
        while i < len(items):
            lineno, text = items[i]
            if self.nesting == "indent" and text.startswith("  "):
                i = self.indented(items, i)
                continue
            if self.nesting == "hash" and text.startswith("#"):
                i = self.hashed(items, i, totals)
                continue
            if text.startswith("#"):
                self.diagnostic(lineno, text, totals)
            elif _RESULT.match(text):
                number += 1
                self.result(lineno, text, number, counts)
            else:
                self.problem(lineno, "unknown line %r" % text)
            i += 1
        if planned is not None and planned != number:
            self.problem(items[-1][0], "plan says %d tests, found %d results" % (planned, number))
        for lineno, values in totals:
            claimed = dict(zip(TOTALS_KEYS, values))
            wrong = [k for k in TOTALS_KEYS
                     if (claimed[k] < counts[k] if k == "error" else claimed[k] != counts[k])]
            if wrong:
                self.problem(lineno, "Totals disagree with the results: %s (results: %s)" % (
                    ", ".join("%s:%d" % (k, claimed[k]) for k in wrong),
                    ", ".join("%s:%d" % (k, counts[k]) for k in wrong)))

    def plan(self, lineno, text):
        m = _PLAN.match(text)
        if not m:
            self.problem(lineno, "expected the plan line 1..N, found %r" % text)
            return None
        planned = int(m.group(1))
        data = m.group(2)
        if data is not None and not (planned == 0 and (data == "SKIP" or data.startswith("SKIP "))):
            self.problem(lineno, "a plan may only carry `# SKIP reason`, and only as 1..0: %r" % text)
        return planned

    def diagnostic(self, lineno, text, totals):
        if text != "#" and not text.startswith("# "):
            self.problem(lineno, "diagnostic without a space after '#': %r" % text)
        if text != text.rstrip():
            self.problem(lineno, "trailing whitespace")
        if text.startswith("# Totals:"):
            m = _TOTALS.match(text)
            if not m:
                self.problem(lineno, "malformed Totals line %r" % text)
            else:
                totals.append((lineno, [int(v) for v in m.groups()]))

    def result(self, lineno, text, number, counts):
        m = _RESULT.match(text)
        ok = m.group(1) == "ok"
        if int(m.group(2)) != number:
            self.problem(lineno, "result number %s, expected %d" % (m.group(2), number))
        if text != text.rstrip():
            self.problem(lineno, "trailing whitespace")
        rest = m.group(3) or ""
        name, sep, data = rest.partition(" # ")
        if rest.startswith("#"):
            name, data = "", rest
        if not name.strip():
            self.problem(lineno, "result without a name")
        elif "#" in name:
            self.problem(lineno, "'#' in the result name %r" % name)
        directive = None
        if sep and not data.strip():
            self.problem(lineno, "' # ' with nothing after it")
        word = data.split(" ", 1)[0] if data else ""
        if word.upper() in DIRECTIVES:
            if word != word.upper():
                self.problem(lineno, "directive %r must be upper case" % word)
            directive = word.upper()
            if directive in NOT_OK_ONLY and ok:
                self.problem(lineno, "%s on an ok result" % directive)
            if directive in OK_ONLY and not ok:
                self.problem(lineno, "%s on a not ok result" % directive)
        counts[_bucket(ok, directive)] += 1

    # -- nesting ---------------------------------------------------------------
    def indented(self, items, i):
        start = i
        while i < len(items) and items[i][1].startswith("  "):
            i += 1
        block = [(n, t[2:]) for n, t in items[start:i]]
        if block[0][1] != VERSION_NESTED:
            for n, t in block:
                self.problem(n, "indented line outside a subtest %r" % ("  " + t))
            return i
        self.document(block, False, block[-1][0])
        self.parent_result(items, i, block[0][0])
        return i

    def hashed(self, items, i, totals):
        start = i
        while i < len(items) and items[i][1].startswith("#"):
            i += 1
        run = items[start:i]
        docs = [k for k, (_, t) in enumerate(run) if t in ("# " + VERSION_NESTED, "# TAP version 13")]
        head = run[:docs[0]] if docs else run
        for n, t in head:
            self.diagnostic(n, t, totals)
        if docs:
            block = [(n, t[2:] if t.startswith("# ") else t[1:]) for n, t in run[docs[0]:]]
            self.document(block, False, block[-1][0])
            self.parent_result(items, i, block[0][0])
        return i

    def parent_result(self, items, i, lineno):
        # Diagnostics about the subtest may sit between it and its result line.
        while i < len(items) and items[i][1].startswith("#") and self.nesting == "indent":
            i += 1
        if i >= len(items) or not _RESULT.match(items[i][1]):
            self.problem(lineno, "subtest is not followed by its parent's result line")


def check(text, nesting="indent"):
    """Problems found in a KTAP document (a string or a list of lines)."""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    checker = _Checker(nesting)
    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            checker.problem(n, "blank line")
        elif "\t" in line[:len(line) - len(line.lstrip())]:
            checker.problem(n, "tab in indentation")
        else:
            items.append((n, line))
    checker.document(items, True, len(lines))
    return checker.problems


if __name__ == "__main__":
    nesting = "hash" if "--nesting" in sys.argv and "hash" in sys.argv else "indent"
    found = check(sys.stdin.read(), nesting)
    for p in found:
        print(p)
    sys.exit(1 if found else 0)
