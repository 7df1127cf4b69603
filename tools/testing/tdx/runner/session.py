# SPDX-License-Identifier: GPL-2.0-only
"""One run: the module jobs, the document as they finish, the reports, signals."""

import os
import shutil
import signal
import sys
import tempfile
import threading
import time

from tdx.lib import ktap
from tdx.runner.child import ChildKtap
from tdx.runner.document import Document
from tdx.runner.jobs import Job, State, child_env, signal_text, start_workers, wait
from tdx.runner.junit import write_junit
from tdx.runner.outcome import Outcome
from tdx.runner.summary import summary

COMPAT_TIMEOUT = 20                   # the compatibility report opens /dev/kvm, nothing more


def _echo(lock):
    def echo(name, stream, text):
        with lock:
            sys.stderr.write("%s%s: %s\n" % (name, "" if stream == "out" else " (stderr)", text))
            sys.stderr.flush()
    return echo


def run(args, package, selected, timeout):
    state = State()
    env = child_env(args.platform)
    echo = _echo(threading.Lock()) if args.verbose else None
    scratch = tempfile.mkdtemp(prefix="tdx-selftests-")
    jobs = [Job(s.name, [sys.executable, "-m", "%s.%s" % (package, s.name)] + s.child_args,
                dict(env, **{ktap.CASES_ENV: os.path.join(scratch, "%d.cases" % i)}), timeout, state, echo)
            for i, s in enumerate(selected)]
    compat = Job("compat", [sys.executable, "-m", "tdx.lib.compat"], env, COMPAT_TIMEOUT, state)

    def on_signal(signum, frame):
        # Only a flag: the workers see it, kill their process groups and
        # finish; the document is closed below as usual.
        state.stop = state.stop or signal.Signals(signum).name

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, on_signal) for s in handled}
    doc = Document(args.format, sys.stdout)
    outcomes = []
    started = time.time()
    try:
        if args.verbose:
            for j in jobs:
                sys.stderr.write("run: %s\n" % " ".join(j.argv))
        threading.Thread(target=compat.run, daemon=True).start()
        workers = start_workers(jobs, args.jobs)
        wait(compat)
        doc.header(len(jobs), _header(package, timeout, args, compat))
        for sel, job in zip(selected, jobs):
            wait(job)
            if doc.broken:
                state.stop = state.stop or "SIGPIPE"
            child = ChildKtap(job.timed_output()) if not job.not_run else None
            outcome = Outcome(sel, job, child, _case_names(job.env[ktap.CASES_ENV]), state.stop)
            outcomes.append(outcome)
            doc.module(outcome)
        for t in workers:
            t.join()
        if state.stop:
            doc.emit("# interrupted by %s: remaining modules not run" % state.stop)
        doc.totals()
    finally:
        for j in jobs + [compat]:
            j.kill()
        shutil.rmtree(scratch, ignore_errors=True)
        for s, h in previous.items():
            signal.signal(s, h)
    junit_failed = False
    if args.junit:
        try:
            with args.junit_file:
                write_junit(args.junit_file, outcomes, started)
        except OSError as e:
            # The KTAP document is complete; the run's verdict must not pass
            # for a success with its report missing.
            sys.stderr.write("tdx-selftests: --junit %s: %s\n" % (args.junit, e.strerror or e))
            junit_failed = True
    if outcomes:
        summary(outcomes, sys.stderr)
    if doc.broken:
        silence_stdout()
    if state.stop or junit_failed:
        return ktap.EXIT_FAIL
    return ktap.exit_code(doc.counts)


def _case_names(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return None


def silence_stdout():
    # stdout's reader went away (`| head`): avoid a second error at exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def _header(package, timeout, args, compat):
    diags = ["tdx-selftests: modules from %s, timeout %g s, %d job%s, format %s"
             % (package, timeout, args.jobs, "" if args.jobs == 1 else "s", args.format)]
    if args.platform:
        diags.append("TDX_PLATFORM=%s (--platform)" % args.platform)
    report = [t for _, t in compat.output() if t.strip()]
    diags += report
    if compat.timed_out or compat.rc != 0:
        why = ("no answer within %g s" % compat.timeout if compat.timed_out
               else signal_text(compat.rc) if compat.rc is not None else "interrupted")
        diags.append("compatibility report incomplete: %s" % why)
    return diags
