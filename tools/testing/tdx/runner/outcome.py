# SPDX-License-Identifier: GPL-2.0-only
"""What the driver says about one module: its status, reason and parent-level notes."""

from tdx.lib import ktap
from tdx.runner.jobs import signal_text

TAIL_LINES = 10                       # child output repeated at the parent level when it ended badly
TAIL_LINES_NO_KTAP = 40               # ... and when that output is all there is

FAILED = (ktap.FAIL, ktap.XPASS, ktap.TIMEOUT, ktap.ERROR)


class Outcome:
    """What the driver says about one module: status, reason, parent-level notes."""

    def __init__(self, sel, job, child):
        self.name = sel.name
        self.job = job
        self.child = child
        self.notes = []
        leaves = child.leaves if child else []
        failed = [l for l in leaves if l.status in FAILED]
        rc = job.rc
        if job.not_run:
            self.status, self.reason = ktap.SKIP, "interrupted"
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
        self._explain(failed)

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
        if job.timed_out:
            end = "no exit within %g s, killed" % job.timeout
        elif job.interrupted:
            end = "interrupted by %s, killed" % job.interrupted
        elif job.rc is None:
            end = self.reason
        else:
            end = signal_text(job.rc)
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
