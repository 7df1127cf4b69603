# SPDX-License-Identifier: GPL-2.0-only
"""What the driver says about one module: its status, reason and parent-level notes."""

from tdx.lib import ktap
from tdx.runner.jobs import signal_text

TAIL_LINES = 10                       # child output repeated at the parent level when it ended badly
TAIL_LINES_NO_KTAP = 40               # ... and when that output is all there is

FAILED = (ktap.FAIL, ktap.XPASS, ktap.TIMEOUT, ktap.ERROR)


class Outcome:
    """What the driver says about one module: status, reason, parent-level notes.

    names: the module's planned case names (None when it wrote none), for the
    cases it planned but never reported; stop: the signal that ended the run
    before this module could start.
    """

    def __init__(self, sel, job, child, names=None, stop=None):
        self.name = sel.name
        self.job = job
        self.child = child
        self.notes = []
        leaves = child.leaves if child else []
        failed = [l for l in leaves if l.status in FAILED]
        rc = job.rc
        if job.not_run:
            # Never started: an interrupted run must not look like a clean one.
            self.status, self.reason = ktap.ERROR, "not run: interrupted by %s" % (stop or "a signal")
            return
        if job.interrupted:
            self.status, self.reason = ktap.ERROR, "interrupted by %s" % job.interrupted
        elif job.timed_out:
            self.status, self.reason = ktap.TIMEOUT, ktap.timeout_reason(job.timeout)
        elif job.spawn_error:
            self.status, self.reason = ktap.ERROR, "cannot start: %s" % job.spawn_error
        elif rc is None:
            self.status, self.reason = ktap.ERROR, "did not die after SIGKILL"
        elif rc < 0:
            self.status, self.reason = ktap.FAIL, signal_text(rc)
        elif rc not in (ktap.EXIT_PASS, ktap.EXIT_SKIP):
            self.status, self.reason = ktap.FAIL, "exit=%d" % rc
        else:
            problems = list(child.problems)
            if rc == ktap.EXIT_PASS and failed:
                problems.append("exit=0 but %d tests failed" % len(failed))
            if rc == ktap.EXIT_SKIP and any(l.status != ktap.SKIP for l in leaves):
                problems.append("exit=4 but not every test skipped")
            if problems:
                self.status, self.reason = ktap.ERROR, problems[0]
            elif rc == ktap.EXIT_SKIP:
                self.status, self.reason = ktap.SKIP, self._skip_reason(leaves)
            else:
                self.status, self.reason = ktap.PASS, None
        if job.timed_out:
            # The case the driver's SIGTERM interrupted is the one that hung.
            for leaf in leaves:
                if leaf.status == ktap.ERROR and leaf.reason == "interrupted by SIGTERM":
                    child.restate(leaf, ktap.TIMEOUT, self.reason)
        self._explain(failed)
        if child is not None and child.has_doc:
            child.add_unrun(names, "no result: %s" % self._end(), self.name)

    def _end(self):
        job = self.job
        if job.timed_out:
            return "TIMEOUT %s" % ktap.timeout_reason(job.timeout)
        if job.interrupted:
            return "interrupted by %s" % job.interrupted
        if job.rc is None:
            return self.reason
        return signal_text(job.rc)

    def counts(self):
        """Totals buckets of this module, the same for the summary table, JUnit
        and the KTAP document: its cases (unreported ones as errors), and the
        module itself when it has no case to count or ended badly while no
        case failed (a crash after the last result, an import error...)."""
        c = dict.fromkeys(ktap.TOTALS_KEYS, 0)
        for leaf in self.leaves:
            c[ktap.bucket(leaf.status)] += 1
        if self.counts_itself:
            c[ktap.bucket(self.status)] += 1
        return c

    @property
    def leaves(self):
        return self.child.leaves if self.child else []

    @property
    def counts_itself(self):
        leaves = self.leaves
        return not leaves or (self.status in FAILED and not any(l.status in FAILED for l in leaves))

    def _skip_reason(self, leaves):
        # Kernel CI turns skip reasons into test names: keep it free of counts.
        if self.child.plan_skip:
            return self.child.plan_skip
        reasons = {l.reason for l in leaves}
        if len(reasons) == 1 and leaves:
            return reasons.pop() or "all tests skipped"
        return "all tests skipped"

    def _explain(self, failed):
        """An abnormal end gets its story and the last output at the parent level."""
        if self.status in (ktap.PASS, ktap.SKIP):
            return
        if self.status == ktap.FAIL and failed and not self.child.problems and self.job.rc == 1:
            return          # an ordinary test failure: the subtest results say it all
        job, child = self.job, self.child
        end = self._end() + (", killed" if job.timed_out or job.interrupted else "")
        self.notes.append("%s: %s after %.1f s, %d of %s results" % (
            self.name, end, job.seconds, len(child.leaves), "?" if child.planned is None else child.planned))
        self.notes += ["%s: %s" % (self.name, p) for p in child.problems + child.details]
        lines = [t for _, t in job.output() if t.strip()]
        keep = TAIL_LINES if self.child.has_doc else TAIL_LINES_NO_KTAP
        if lines:
            self.notes.append("%s: last output lines:" % self.name)
            if len(lines) > keep:
                self.notes.append("(%d earlier lines omitted)" % (len(lines) - keep))
            # Quoted, so that no output line can pass for a KTAP line.
            self.notes += ["| " + l for l in lines[-keep:]]
        if job.dropped:
            self.notes.append("%s: %d output lines dropped" % (self.name, job.dropped))
