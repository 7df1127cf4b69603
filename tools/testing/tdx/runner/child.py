# SPDX-License-Identifier: GPL-2.0-only
"""A module's output read as KTAP and rebuilt as a well-formed nested document.

Only well-formed result lines in sequence are kept as results; everything
else the module printed (stderr included) becomes a diagnostic, so that a
module that crashes, hangs or prints garbage cannot break the driver's
document.
"""

import re

from tdx.lib import ktap

_VERSION = re.compile(r"(?:KTAP version 1|TAP version 1[34])$")
_PLAN = re.compile(r"1\.\.(\d+)(?: # (.*))?$")
_RESULT = re.compile(r"(ok|not ok) (\d+)(?: ([^#]*))?(?:#(.*))?$")
_DIRECTIVES = ("SKIP", "TODO", "XFAIL", "XPASS", "TIMEOUT", "ERROR")


def _status_of(ok, data):
    """(status, reason) of a result line, or None when ok-ness and directive disagree."""
    word, _, rest = data.strip().partition(" ")
    directive = word.upper() if word.upper() in _DIRECTIVES else None
    text = rest.strip() if directive else data.strip()
    if directive == "SKIP":
        return ktap.SKIP, text
    if directive == "TODO":
        return (ktap.PASS if ok else ktap.FAIL), ("TODO " + text if text else "TODO")
    if ok:
        if directive == "XFAIL":
            return ktap.XFAIL, text
        return (ktap.PASS, text) if directive is None else None
    if directive in ("TIMEOUT", "ERROR", "XPASS"):
        return {"TIMEOUT": ktap.TIMEOUT, "ERROR": ktap.ERROR, "XPASS": ktap.XPASS}[directive], text
    return (ktap.FAIL, text) if directive is None else None


class Leaf:
    def __init__(self, name, status, reason, diags, seconds=0.0, ran=True):
        self.name = name
        self.status = status
        self.reason = reason
        self.diags = diags              # the diagnostics just before it (JUnit failure text)
        self.seconds = seconds          # from the previous result line (or the plan) to this one
        self.ran = ran                  # False: the module never reported it (see add_unrun)


class ChildKtap:
    """A child's output, rebuilt as a well-formed nested document.

    lines: [(stream, text)] or [(stream, text, arrival time)]; with times,
    each case's time is the time between its result line and the one before
    (or the plan line).  The child's plan is kept as it is: cases it planned
    but never reported are added by add_unrun() as `not ok`, so that no
    consumer takes a crashed module's plan for complete.
    """

    def __init__(self, lines):
        self.has_doc = False            # it printed a version line
        self.planned = None
        self.plan_skip = None
        self.leaves = []
        self.body = []                  # KTAP lines after the nested plan
        self.problems = []              # short texts; the first becomes an ERROR reason
        self.details = []               # the offending lines, for the notes
        pending = []
        n = 0                           # stdout line number: stderr's interleaving is racy
        last = None                     # arrival time of the plan or the last result
        for item in lines:
            stream, text = item[0], item[1]
            when = item[2] if len(item) > 2 else None
            n += stream == "out"
            if stream == "out" and not self.has_doc and _VERSION.match(text):
                self.has_doc = True
                continue
            if stream == "out" and self.has_doc and self.planned is None and not self.leaves:
                m = _PLAN.match(text)
                if m:
                    self.planned = int(m.group(1))
                    data = (m.group(2) or "").strip()
                    if data[:4].upper() == "SKIP":
                        self.plan_skip = data[4:].strip()
                    last = when
                    continue
            m = _RESULT.match(text) if stream == "out" else None
            if m:
                seconds = when - last if when is not None and last is not None else 0.0
                leaf = self._result(n, m, text, pending, seconds)
                if leaf:
                    pending = []
                    last = when
                    continue
            if stream == "out" and text.startswith("# Totals:"):
                continue                # recounted from the results kept, see nested()
            if stream == "out" and text.startswith("# "):
                text = text[2:]
            elif stream == "out" and text.rstrip() == "#":
                text = ""
            elif not text.strip():
                continue
            if _VERSION.match(text.strip()) or text.startswith("Subtest:"):
                # Else it would open a subtest: in the `# `-prefixed dialect,
                # or for kunit_parser (`# Subtest: x` is a subtest header).
                text = "(stray) " + text
            diag = ktap.diag_lines(text)
            self.body += diag
            pending += [d[2:] for d in diag]
        if not self.has_doc:
            self.problems.append("no KTAP version line")
        elif self.planned is None:
            self.problems.append("no plan line")
        elif self.planned != len(self.leaves):
            self.problems.append("planned %d, ran %d" % (self.planned, len(self.leaves)))

    def _result(self, n, m, text, pending, seconds):
        number = int(m.group(2))
        status = _status_of(m.group(1) == "ok", m.group(4) or "")
        beyond = self.planned is not None and number > self.planned
        if not self.has_doc or number != len(self.leaves) + 1 or status is None or beyond:
            why = ("before the version line" if not self.has_doc else
                   "out of sequence" if number != len(self.leaves) + 1 else
                   "beyond the plan" if beyond else
                   "with a contradicting directive")
            self.problems.append("result %s at stdout line %d" % (why, n))
            self.details.append("stdout line %d: %s" % (n, text[:200]))
            return None
        name = ktap.sanitize_name((m.group(3) or "").strip())
        leaf = Leaf(name, status[0], status[1], list(pending), seconds)
        leaf.number, leaf.at = number, len(self.body)
        self.leaves.append(leaf)
        self.body.append(ktap.result_line(number, name, leaf.status, leaf.reason))
        return leaf

    def restate(self, leaf, status, reason):
        """Give a kept result another status: the driver knows better why it ended."""
        leaf.status, leaf.reason = status, reason
        self.body[leaf.at] = ktap.result_line(leaf.number, leaf.name, status, reason)

    def add_unrun(self, names, reason, module):
        """Close the plan: every planned case without a result becomes
        `not ok N name # ERROR reason`.  names: the module's planned case names
        (the file it wrote at start), or None; missing names are made up
        as <module>.case_<N>."""
        if self.planned is None:
            return
        for number in range(len(self.leaves) + 1, self.planned + 1):
            name = names[number - 1] if names and len(names) >= number else "%s.case_%d" % (module, number)
            leaf = Leaf(ktap.sanitize_name(name), ktap.ERROR, reason, [], ran=False)
            self.leaves.append(leaf)
            self.body.append(ktap.result_line(number, leaf.name, leaf.status, leaf.reason))

    def nested(self):
        """The rebuilt document: version, plan, body, Totals of what it kept."""
        return [ktap.VERSION_LINE, self.plan()] + self.body + [ktap.totals_line(self.counts())]

    def plan(self):
        if not self.leaves and self.plan_skip is not None:
            return ktap.plan_line(0, self.plan_skip)
        return ktap.plan_line(len(self.leaves) if self.planned is None else max(self.planned, len(self.leaves)))

    def counts(self):
        c = dict.fromkeys(ktap.TOTALS_KEYS, 0)
        for leaf in self.leaves:
            c[ktap.bucket(leaf.status)] += 1
        return c
