# SPDX-License-Identifier: GPL-2.0-only
# PYTHON_ARGCOMPLETE_OK
"""The tdx-selftests driver: run every x86_64 module, print one KTAP document.

    run_tests.sh [-l] [-t GLOB]... [-x GLOB]... [-j N] [--platform P]
                 [--timeout S] [--format ktap|kselftest] [--junit FILE] [-v]

Each module (tdx/x86_64/*.py) runs in its own process, `python3 -m
tdx.x86_64.<module>`, in its own process group, under a timeout: --timeout,
else $TDX_TIMEOUT, else the `settings` file's `timeout=N`, else kselftest's
45 s.  Its flat KTAP becomes a nested subtest of the driver's document:

    KTAP version 1
    1..2
    # platform: emulated
    ...
      KTAP version 1
      1..1
      ok 1 ghci_io.test_out_sizes
    ok 1 ghci_io
      KTAP version 1
      1..0
    # hang: no exit within 120 s; ...
    not ok 2 hang # TIMEOUT 120 seconds

Only well-formed child lines are re-emitted as results; everything else a
child prints (stderr included) becomes a `# ` diagnostic, and the nested plan
counts the results that were actually emitted, so a module that crashes,
hangs or prints garbage cannot break the outer document.  `--format
kselftest` gives run_kselftest.sh's shape instead (`TAP version 13`, children
`# `-prefixed, parents named `selftests: tdx: <module>`), which is the one
LKFT/KernelCI parse (shared/reference/ktap-kselftest.md §3.3).

Exit codes as kselftest: 0 all passed (skips allowed), 1 any failure (or the
run was interrupted), 4 everything skipped, 2 usage error.
"""

import argparse
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from fnmatch import fnmatchcase as _glob
from pathlib import Path

from tdx.lib import ktap

TDX_DIR = Path(__file__).resolve().parents[1]
ROOT = TDX_DIR.parent                 # the directory holding the tdx package
DEFAULT_PACKAGE = "tdx.x86_64"
COLLECTION = "tdx"
KSELFTEST_DEFAULT_TIMEOUT = 45        # runner.sh's default when settings says nothing
COMPAT_TIMEOUT = 20                   # the compatibility report opens /dev/kvm, nothing more
KILL_GRACE = 2.0                      # SIGTERM -> SIGKILL: time to print the running case's result
REAP_LIMIT = 5.0                      # a process stuck in the kernel may never die; stop waiting
MAX_LINES = 50000                     # per child; a runaway printer must not eat the driver's memory
LINE_LIMIT = 8192                     # bytes; longer lines are split
TAIL_LINES = 10                       # child output repeated at the parent level when it ended badly
TAIL_LINES_NO_KTAP = 40               # ... and when that output is all there is


# -- discovery and selection ---------------------------------------------------
def module_package(override=None):
    return override or os.environ.get("TDX_MODULE_PACKAGE") or DEFAULT_PACKAGE


def module_dir(package):
    """Where a package's modules are, without importing it (start-up stays cheap)."""
    path = ROOT.joinpath(*package.split("."))
    if path.is_dir():
        return path
    import importlib.util
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("module package %s not found" % package)
    return Path(list(spec.submodule_search_locations)[0])


def discover(directory):
    """Every x86_64/*.py module, in name order; `_`-prefixed files are helpers."""
    return sorted(p.stem for p in Path(directory).glob("*.py") if not p.stem.startswith("_"))


def case_names(path):
    """The `def test_*` methods of a module's classes, read with ast (no import)."""
    import ast
    try:
        tree = ast.parse(Path(path).read_text(errors="replace"), str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if (isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and item.name.startswith("test") and item.name not in names):
                    names.append(item.name)
    return names


def _case_matches(globs, module, case):
    return any(_glob(c, g) for g in globs for c in ("%s.%s" % (module, case), case))


class Selected:
    """One module to run: its name, file, and the -t/-x globs its process gets."""

    def __init__(self, name, path, cases, child_args=()):
        self.name = name
        self.path = path
        self.cases = cases
        self.child_args = list(child_args)


def select(directory, include=(), exclude=()):
    """(selected modules, -t globs that matched nothing)."""
    selected, matched = [], set()
    for name in discover(directory):
        path = Path(directory) / (name + ".py")
        if any(_glob(name, x) for x in exclude):
            continue
        cases = case_names(path)
        args = []
        if include:
            whole = [g for g in include if _glob(name, g)]
            hits = [g for g in include if any(_case_matches([g], name, c) for c in cases)]
            matched.update(whole, hits)
            if not whole and not hits:
                continue
            if not whole:
                for g in include:
                    args += ["-t", g]
                cases = [c for c in cases if _case_matches(include, name, c)]
        if exclude:
            for x in exclude:
                args += ["-x", x]
            left = [c for c in cases if not _case_matches(exclude, name, c)]
            if cases and not left:
                continue
            cases = left
        selected.append(Selected(name, path, cases, args))
    return selected, [g for g in include if g not in matched]


def all_test_names(directory):
    names = []
    for name in discover(directory):
        names.append(name)
        names += ["%s.%s" % (name, c) for c in case_names(Path(directory) / (name + ".py"))]
    return names


# -- settings ---------------------------------------------------------------
def settings_timeout():
    """`timeout=N` from the kselftest settings file (in-tree, or the install tree's)."""
    for path in (TDX_DIR / "settings", ROOT / "settings"):
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("#") or "=" not in line:
                continue
            key, value = (s.strip() for s in line.split("=", 1))
            if key == "timeout":
                try:
                    return _positive(float)(value)
                except argparse.ArgumentTypeError:
                    return None         # not a usable timeout: the default applies
        return None
    return None


# -- one child process -------------------------------------------------------
def signal_text(rc):
    try:
        return "exit=%d (%s)" % (rc, signal.Signals(-rc).name)
    except ValueError:
        return "exit=%d" % rc


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Job:
    """A child process, its merged output, and how it ended.

    The child leads its own process group, so a timeout or Ctrl-C kills
    everything it started; the group is killed while the leader is still an
    unreaped zombie, so its id cannot have been reused.
    """

    def __init__(self, name, argv, env, timeout, state, echo=None):
        self.name = name
        self.argv = argv
        self.env = env
        self.timeout = timeout
        self.state = state                  # shared: .stop is the signal name once one arrived
        self.echo = echo
        self.lines = []                     # [(stream, text)] in arrival order
        self.dropped = 0
        self.rc = None
        self.timed_out = False
        self.interrupted = None
        self.not_run = False
        self.spawn_error = None
        self.seconds = 0.0
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._proc = None

    def _reader(self, pipe, stream):
        with pipe:
            for raw in iter(lambda: pipe.readline(LINE_LIMIT), b""):
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._lock:
                    if len(self.lines) < MAX_LINES:
                        self.lines.append((stream, text))
                    else:
                        self.dropped += 1
                if self.echo:
                    self.echo(self.name, stream, text)

    def _exited(self):
        """Has the leader exited?  (WNOWAIT: leave it unreaped, its pgid reserved.)"""
        try:
            return os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def _wait_exit(self, deadline, watch_stop=False):
        delay = 0.001
        while not self._exited():
            if watch_stop and self.state.stop:
                return False
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    def run(self):
        start = time.monotonic()
        try:
            if self.state.stop:
                self.not_run = True
                return
            try:
                self._proc = subprocess.Popen(
                    self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
            except OSError as e:
                self.spawn_error = str(e)
                self.rc = 127
                return
            readers = [threading.Thread(target=self._reader, args=(p, s), daemon=True)
                       for p, s in ((self._proc.stdout, "out"), (self._proc.stderr, "err"))]
            for r in readers:
                r.start()
            pgid = self._proc.pid
            if not self._wait_exit(start + self.timeout, watch_stop=True):
                if self.state.stop:
                    self.interrupted = self.state.stop
                else:
                    self.timed_out = True
                _killpg(pgid, signal.SIGTERM)
                self._wait_exit(time.monotonic() + KILL_GRACE)
            # Also when it exited by itself: nothing it started may outlive it.
            _killpg(pgid, signal.SIGKILL)
            if self._wait_exit(time.monotonic() + REAP_LIMIT):
                self.rc = self._proc.wait()
            for r in readers:
                r.join(REAP_LIMIT)
        finally:
            self.seconds = time.monotonic() - start
            self.done.set()

    def kill(self):
        """Last resort on the way out: no child outlives the driver."""
        if self._proc is not None and self._proc.returncode is None:
            _killpg(self._proc.pid, signal.SIGKILL)

    def output(self):
        with self._lock:
            return list(self.lines)


# -- reading a child's KTAP -------------------------------------------------------
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
    def __init__(self, name, status, reason, diags):
        self.name = name
        self.status = status
        self.reason = reason
        self.diags = diags              # the diagnostics just before it (JUnit failure text)


class ChildKtap:
    """A child's output, rebuilt as a well-formed nested document."""

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
        for stream, text in lines:
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
                    continue
            m = _RESULT.match(text) if stream == "out" else None
            if m:
                leaf = self._result(n, m, text, pending)
                if leaf:
                    pending = []
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

    def _result(self, n, m, text, pending):
        number = int(m.group(2))
        status = _status_of(m.group(1) == "ok", m.group(4) or "")
        if not self.has_doc or number != len(self.leaves) + 1 or status is None:
            why = ("before the version line" if not self.has_doc else
                   "out of sequence" if number != len(self.leaves) + 1 else
                   "with a contradicting directive")
            self.problems.append("result %s at stdout line %d" % (why, n))
            self.details.append("stdout line %d: %s" % (n, text[:200]))
            return None
        name = ktap.sanitize_name((m.group(3) or "").strip())
        leaf = Leaf(name, status[0], status[1], list(pending))
        self.leaves.append(leaf)
        self.body.append(ktap.result_line(number, name, leaf.status, leaf.reason))
        return leaf

    def nested(self):
        """The rebuilt document: version, plan, body, Totals of what it kept."""
        return [ktap.VERSION_LINE, self.plan()] + self.body + [ktap.totals_line(self.counts())]

    def plan(self):
        if not self.leaves and self.plan_skip is not None:
            return ktap.plan_line(0, self.plan_skip)
        return ktap.plan_line(len(self.leaves))

    def counts(self):
        c = dict.fromkeys(ktap.TOTALS_KEYS, 0)
        for leaf in self.leaves:
            c[ktap.bucket(leaf.status)] += 1
        return c


# -- a module's verdict -----------------------------------------------------
_FAILED = (ktap.FAIL, ktap.XPASS, ktap.TIMEOUT, ktap.ERROR)


class Outcome:
    """What the driver says about one module: status, reason, parent-level notes."""

    def __init__(self, sel, job, child):
        self.name = sel.name
        self.job = job
        self.child = child
        self.notes = []
        leaves = child.leaves if child else []
        failed = [l for l in leaves if l.status in _FAILED]
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


# -- the document ---------------------------------------------------------------
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


# -- reports: JUnit XML and the stderr table --------------------------------------
def _leaf_counts(outcome):
    c = outcome.child.counts() if outcome.child else {}
    return (c.get("pass", 0) + c.get("xfail", 0),
            c.get("fail", 0) + c.get("xpass", 0) + c.get("error", 0),
            c.get("skip", 0))


def _verdict_text(outcome, width=60):
    """`ok`, `not ok # TIMEOUT 2 seconds`...: the module's result line without number and name."""
    text = ktap.result_line(1, "-", outcome.status, outcome.reason).replace(" 1 - ", " ").replace(" 1 -", "")
    return text if len(text) <= width else text[:width - 3] + "..."


def summary(outcomes, stream):
    rows = []
    for o in outcomes:
        passed, failed, skipped = _leaf_counts(o)
        rows.append([o.name, passed, failed, skipped, "%.1f" % o.job.seconds, _verdict_text(o)])
    totals = [sum(r[i] for r in rows) for i in (1, 2, 3)]
    rows.append(["total", *totals, "%.1f" % sum(o.job.seconds for o in outcomes), ""])
    headers = ["module", "passed", "failed", "skipped", "seconds", "result"]
    try:
        from tabulate import tabulate
        text = tabulate(rows, headers=headers, disable_numparse=True)
    except ImportError:                         # a declared dependency; keep the run's end alive anyway
        table = [headers] + rows
        widths = [max(len(str(r[i])) for r in table) for i in range(len(headers))]
        text = "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in table)
    stream.write(text + "\n")
    stream.flush()


def write_junit(path, outcomes, started):
    import socket
    import xml.etree.ElementTree as ET
    root = ET.Element("testsuites", name="tdx-selftests")
    grand = dict(tests=0, failures=0, errors=0, skipped=0)
    for o in outcomes:
        suite = ET.SubElement(root, "testsuite", name=o.name, hostname=socket.gethostname(),
                              timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                              time="%.3f" % o.job.seconds)
        n = dict(tests=0, failures=0, errors=0, skipped=0)
        for leaf in (o.child.leaves if o.child else []):
            prefix = o.name + "."
            case = ET.SubElement(suite, "testcase", classname="%s.%s" % (COLLECTION, o.name),
                                 name=leaf.name[len(prefix):] if leaf.name.startswith(prefix) else leaf.name)
            n["tests"] += 1
            text = "\n".join(leaf.diags)
            if leaf.status == ktap.SKIP:
                n["skipped"] += 1
                ET.SubElement(case, "skipped", message=leaf.reason or "")
            elif leaf.status == ktap.ERROR:
                n["errors"] += 1
                ET.SubElement(case, "error", message=leaf.reason or "error").text = text
            elif leaf.status in _FAILED:
                n["failures"] += 1
                ET.SubElement(case, "failure", message=leaf.reason or leaf.status).text = text
        if o.status not in (ktap.PASS, ktap.SKIP) and o.notes:
            # The module as a whole ended badly: one test case carries that.
            case = ET.SubElement(suite, "testcase", classname="%s.%s" % (COLLECTION, o.name), name=o.name)
            n["tests"] += 1
            n["errors"] += 1
            ET.SubElement(case, "error", message=o.reason or o.status).text = "\n".join(o.notes)
        elif o.status == ktap.SKIP and not (o.child and o.child.leaves):
            case = ET.SubElement(suite, "testcase", classname="%s.%s" % (COLLECTION, o.name), name=o.name)
            n["tests"] += 1
            n["skipped"] += 1
            ET.SubElement(case, "skipped", message=o.reason or "")
        out = "\n".join(t for _, t in o.job.output())
        if out:
            ET.SubElement(suite, "system-out").text = out
        for k, v in n.items():
            suite.set(k, str(v))
            grand[k] += v
    for k, v in grand.items():
        root.set(k, str(v))
    root.set("time", "%.3f" % (time.time() - started))
    tree = ET.ElementTree(root)
    if hasattr(ET, "indent"):
        ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


# -- the run -----------------------------------------------------------------------
class _State:
    stop = None          # set by the signal handler: the signal's name


def child_env(platform=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    env["PYTHONUNBUFFERED"] = "1"         # whole lines reach us even if the child dies
    env["PYTHONFAULTHANDLER"] = "1"       # a crash leaves the Python stack in its output
    if platform:
        env["TDX_PLATFORM"] = platform
    return env


def _echo(lock):
    def echo(name, stream, text):
        with lock:
            sys.stderr.write("%s%s: %s\n" % (name, "" if stream == "out" else " (stderr)", text))
            sys.stderr.flush()
    return echo


def _start_workers(jobs, count):
    queue = list(jobs)
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop(0)
            job.run()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(count, len(jobs))))]
    for t in threads:
        t.start()
    return threads


def _wait(job):
    # A timed wait, so signal handlers run promptly in this (main) thread.
    while not job.done.wait(0.1):
        pass


def run(args, package, selected, timeout):
    state = _State()
    env = child_env(args.platform)
    echo = _echo(threading.Lock()) if args.verbose else None
    jobs = [Job(s.name, [sys.executable, "-m", "%s.%s" % (package, s.name)] + s.child_args,
                env, timeout, state, echo) for s in selected]
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
        workers = _start_workers(jobs, args.jobs)
        _wait(compat)
        doc.header(len(jobs), _header(package, timeout, args, compat))
        for sel, job in zip(selected, jobs):
            _wait(job)
            if doc.broken:
                state.stop = state.stop or "SIGPIPE"
            child = ChildKtap(job.output()) if not job.not_run else None
            outcome = Outcome(sel, job, child)
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
        for s, h in previous.items():
            signal.signal(s, h)
    junit_failed = False
    if args.junit:
        try:
            write_junit(args.junit, outcomes, started)
        except OSError as e:
            # The KTAP document is complete; the run's verdict must not pass
            # for a success with its report missing.
            sys.stderr.write("tdx-selftests: --junit %s: %s\n" % (args.junit, e.strerror or e))
            junit_failed = True
    if outcomes:
        summary(outcomes, sys.stderr)
    if doc.broken:
        _silence_stdout()
    if state.stop or junit_failed:
        return ktap.EXIT_FAIL
    return ktap.exit_code(doc.counts)


def _silence_stdout():
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


# -- command line ---------------------------------------------------------------
def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % text)
        if not value > 0 or (isinstance(value, float) and not math.isfinite(value)):
            # nan compares false with everything: a deadline that never comes.
            raise argparse.ArgumentTypeError("%r must be a finite number greater than 0" % text)
        return value
    return parse


def build_parser():
    p = argparse.ArgumentParser(
        prog="tdx-selftests",
        description="Run the tdx selftest modules, each in its own process; KTAP v1 on stdout, "
                    "a summary table on stderr.",
        epilog="Exit status: 0 all passed (skips allowed), 1 a failure, 4 everything skipped, "
               "2 usage error.  Environment: TDX_TIMEOUT (seconds), TDX_PLATFORM.")
    p.add_argument("-l", "--list", action="store_true", help="list the selected module.case names and exit")
    t = p.add_argument("-t", "--test", dest="include", action="append", default=[], metavar="GLOB",
                       help="run modules or module.case names matching GLOB (repeatable)")
    x = p.add_argument("-x", "--exclude", action="append", default=[], metavar="GLOB",
                       help="leave out modules or module.case names matching GLOB (repeatable)")
    p.add_argument("-j", "--jobs", type=_positive(int), default=1, metavar="N",
                   help="run N modules at once; the output keeps discovery order (default 1)")
    p.add_argument("--platform", choices=("tdx", "emulated", "none"),
                   help="force the platform (sets TDX_PLATFORM for the modules)")
    p.add_argument("--timeout", type=_positive(float), metavar="S",
                   help="per-module timeout in seconds (default: $TDX_TIMEOUT, else settings' timeout=)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="echo each module's raw output to stderr as it arrives")
    p.add_argument("--format", choices=("ktap", "kselftest"), default="ktap",
                   help="ktap: nested KTAP v1 (default); kselftest: run_kselftest.sh's `# `-prefixed form")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    # For the project's own tests: run another package's modules (fault fixtures).
    p.add_argument("--module-package", help=argparse.SUPPRESS)
    t.completer = x.completer = _complete
    return p


def _junit_problem(path):
    """Why FILE cannot be written, found before the run rather than after it."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return "is a directory"
    if not os.path.isdir(parent):
        return "directory %s does not exist" % parent
    if not os.access(parent, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return "permission denied"
    return None


def _complete(prefix, parsed_args=None, **kwargs):
    package = module_package(getattr(parsed_args, "module_package", None))
    try:
        names = all_test_names(module_dir(package))
    except OSError:
        return []
    return [n for n in names if n.startswith(prefix)]


def main(argv=None):
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:
        # Only a completing shell pays for importing argcomplete.
        import argcomplete
        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)

    package = module_package(args.module_package)
    try:
        directory = module_dir(package)
    except (OSError, ImportError) as e:
        parser.error(str(e))
    timeout = args.timeout
    if timeout is None and os.environ.get("TDX_TIMEOUT"):
        try:
            timeout = _positive(float)(os.environ["TDX_TIMEOUT"])
        except argparse.ArgumentTypeError as e:
            parser.error("TDX_TIMEOUT: %s" % e)
    if timeout is None:
        timeout = settings_timeout() or KSELFTEST_DEFAULT_TIMEOUT
    want = (args.platform or os.environ.get("TDX_PLATFORM", "")).strip().lower()
    if want not in ("", "auto", "tdx", "emulated", "none"):
        parser.error("TDX_PLATFORM=%s: expected one of tdx, emulated, none, auto" % want)
    # Every module would refuse it; say so once, before running any.
    value = os.environ.get("TDX_RUN_TIMEOUT")
    if value:
        try:
            _positive(float)(value)
        except argparse.ArgumentTypeError as e:
            parser.error("TDX_RUN_TIMEOUT: %s" % e)
    if args.junit:
        problem = _junit_problem(args.junit)
        if problem:
            parser.error("--junit %s: %s" % (args.junit, problem))

    selected, unmatched = select(directory, args.include, args.exclude)
    if unmatched:
        parser.error("-t %s: no module or test case matches" % ", ".join(unmatched))
    if args.list:
        try:
            for s in selected:
                names = ["%s.%s" % (s.name, c) for c in s.cases] or [s.name]
                sys.stdout.write("".join(n + "\n" for n in names))
            sys.stdout.flush()
        except BrokenPipeError:         # `-l | head`: the reader has what it wanted
            _silence_stdout()
        return 0
    return run(args, package, selected, timeout)


if __name__ == "__main__":
    sys.exit(main())
