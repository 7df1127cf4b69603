# SPDX-License-Identifier: GPL-2.0-only
"""The driver's KTAP document, in either nesting dialect.

ktap (default): each module's document nested by two spaces of indentation
(Documentation/dev-tools/ktap.rst).  kselftest: run_kselftest.sh's shape,
`TAP version 13`, each module's output `# `-prefixed under a
`# selftests: tdx: <module>` header and a result named
`selftests: tdx: <module>` (tools/testing/selftests/kselftest/runner.sh),
which is the form LKFT and KernelCI parse.
"""

from tdx.lib import ktap

COLLECTION = "tdx"


class Document:
    """The driver's KTAP document, in either nesting dialect."""

    def __init__(self, fmt, out):
        self.fmt = fmt
        self.out = out
        self.number = 0
        self.counts = dict.fromkeys(ktap.TOTALS_KEYS, 0)
        self.broken = False

    def emit(self, line):
        if self.broken:
            return
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except BrokenPipeError:
            self.broken = True

    def header(self, count, diags):
        self.emit("TAP version 13" if self.fmt == "kselftest" else ktap.VERSION_LINE)
        self.emit(ktap.plan_line(count, "no test modules selected" if count == 0 else None))
        for d in diags:
            for l in ktap.diag_lines(d):
                self.emit(l)

    def module(self, outcome):
        self.number += 1
        self.counts[ktap.bucket(outcome.status)] += 1
        child = outcome.child
        nested = []
        if child is not None and child.has_doc:
            nested = child.nested()
        notes = [l for n in outcome.notes for l in ktap.diag_lines(n)]
        if self.fmt == "kselftest":
            # run_kselftest.sh's shape: header line, child `# `-prefixed, notes
            # inside the child's document when there is one (as its diagnostics).
            self.emit("# selftests: %s: %s" % (COLLECTION, outcome.name))
            for l in nested + notes:
                # A child's `# ok 7 x` would be a result one level down.
                self.emit("# " + ktap.defuse(l))
            name = "selftests: %s: %s" % (COLLECTION, outcome.name)
            reason = None if outcome.status == ktap.SKIP else outcome.reason
        else:
            for l in nested:
                self.emit("  " + l)
            for l in notes:
                self.emit(l)
            name, reason = outcome.name, outcome.reason
        self.emit(ktap.result_line(self.number, name, outcome.status, reason))

    def totals(self):
        self.emit(ktap.totals_line(self.counts))
