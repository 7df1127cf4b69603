# SPDX-License-Identifier: GPL-2.0-only
"""Which test modules execute which statements of the model, so that a mutant
runs only the modules that can notice it.

A mutation changes what a program does only where the mutated statement is
executed: a test module that never executes it passes with the mutant as it
does without, and a mutant on a statement no module executes survives
whatever runs.  So, once per run and before any mutant, every module of
tdx.mutate.suite runs under coverage.py (child processes included: a case
may run the model in a process of its own) under each kernel release of the
run, and the lines each module executed are kept.  A mutant then runs only
the modules that executed its statement (tdx.mutate.suite --select); one no
module executed survives without a run.

Each module is measured in a process of its own: state computed once per
process (the measurement chain in emu/measurement.py, the platform object in
lib/platform.py) would otherwise be charged to whichever module needed it
first, and a later module depending on it would never be chosen.  Alone, a
module computes all it uses.  One more measurement, of the suite as the test
command runs it (every module in one process), guards the converse: a
statement executed only when modules share a process (a cache filling up)
gets the whole suite.

The result is the same verdict as running the whole suite, except for
statements whose execution depends on timing (a retry taken only under
load): those may be charged to fewer modules than a full run could have
used.  `--coverage off` runs the whole suite for every mutant.
"""

import ast
import json
import os
import subprocess
import sys
import tempfile
import threading

RCFILE = """\
[run]
source = %s
parallel = True
patch = subprocess, fork, _exit
"""


def available():
    try:
        import coverage  # noqa: F401
    except ImportError:
        return False
    return True


class CoverageError(Exception):
    pass


def _measure(root, env, command, data_prefix, rcfile, timeout):
    """Run `command` (a list, after `python3 -m`) under coverage in `root`;
    returns the set of (path inside root, line) executed."""
    env = dict(env, COVERAGE_FILE=data_prefix, COVERAGE_RCFILE=rcfile)
    cmd = [sys.executable, "-m", "coverage", "run", "--rcfile", rcfile, "-m"] + command
    try:
        p = subprocess.run(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout,
                           start_new_session=True)
    except subprocess.TimeoutExpired:
        raise CoverageError("%s did not finish in %d s under coverage" % (" ".join(command), timeout))
    if p.returncode != 0:
        raise CoverageError("%s failed under coverage:\n%s" % (" ".join(command), p.stdout.strip()[-2000:]))
    return _read(root, data_prefix)


def _read(root, data_prefix):
    from coverage import CoverageData

    directory, base = os.path.split(data_prefix)
    executed = set()
    for name in os.listdir(directory):
        if not name.startswith(base):
            continue
        data = CoverageData(basename=os.path.join(directory, name))
        data.read()
        for path in data.measured_files():
            rel = os.path.relpath(path, root)
            for line in data.lines(path) or ():
                executed.add((rel, line))
    return executed


class CoverageMap:
    """{release: {module or case id: executed (path, line) set}} and the
    shared run's set."""

    def __init__(self, root, by_release, shared):
        self.root, self.by_release, self.shared = root, by_release, shared
        self._statements = {}
        # Workers' threads ask at once, and CPython 3.11's ast.parse is not
        # safe to call from two threads ("AST constructor recursion depth
        # mismatch"): one parse at a time.
        self._lock = threading.Lock()

    def save(self, path):
        """As JSON: {"by_release": {release: {unit: {file: [line, ...]}}}, "shared": {file: [...]}}."""
        def pack(executed):
            out = {}
            for f, n in executed:
                out.setdefault(f, []).append(n)
            return {f: sorted(v) for f, v in out.items()}
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"by_release": {r: {u: pack(e) for u, e in units.items()}
                                      for r, units in self.by_release.items()},
                       "shared": pack(self.shared)}, f)

    def statement_lines(self, path, line, col):
        """The lines of the innermost statement holding (line, col) of `path`
        (root-relative), as a range: a compound statement's header only (an
        `if`'s test, a `def`'s decorators and defaults), a simple statement
        whole.  Line events of a statement spread over its lines."""
        with self._lock:
            return self._statement_lines(path, line)

    def _statement_lines(self, path, line):
        spans = self._statements.get(path)
        if spans is None:
            with open(os.path.join(self.root, path), encoding="utf-8") as f:
                tree = ast.parse(f.read())
            spans = []
            for node in ast.walk(tree):
                if not isinstance(node, (ast.stmt, ast.excepthandler)):
                    continue
                start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
                body = getattr(node, "body", None)
                end = body[0].lineno - 1 if body and isinstance(body, list) and body[0].lineno > node.lineno \
                    else node.end_lineno
                if body and isinstance(body, list) and body[0].lineno == node.lineno:
                    end = node.lineno               # `if x: return` on one line
                spans.append((start, end))
            self._statements[path] = spans
        best = None
        for start, end in spans:
            if start <= line <= end and (best is None or end - start < best[1] - best[0]):
                best = (start, end)
        return range(best[0], best[1] + 1) if best else range(line, line + 1)

    def select(self, path, line, col):
        """None: run the whole suite; else {release: [modules]}, empty when no
        module executes the mutated statement."""
        lines = [(path, n) for n in self.statement_lines(path, line, col)]
        chosen = {}
        for release, modules in self.by_release.items():
            names = sorted(m for m, executed in modules.items() if any(k in executed for k in lines))
            if names:
                chosen[release] = names
        for k in lines:
            if k in self.shared and not any(k in executed for modules in self.by_release.values()
                                            for executed in modules.values()):
                return None
        return chosen


def load(root, path):
    """A map save() wrote, for the snapshot at `root`."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    unpack = lambda d: {(f, n) for f, lines in d.items() for n in lines}
    return CoverageMap(root, {r: {u: unpack(e) for u, e in units.items()}
                              for r, units in data["by_release"].items()}, unpack(data["shared"]))


def build(root, env, kernels, target, jobs, timeout, by="module"):
    """Measure every (release, module) of the run in `root` (a snapshot, the
    parent of its tdx/) and the shared run; `kernels` as tdx.mutate.suite
    takes it.  by="case": every case in a process of its own instead of
    every module (a survivor then runs only the cases that execute it; the
    map costs a process per case).  Raises CoverageError when a measurement
    fails."""
    from tdx.mutate import suite

    work = tempfile.mkdtemp(prefix="coverage-", dir=os.path.dirname(root))
    rcfile = os.path.join(work, "coveragerc")
    with open(rcfile, "w", encoding="utf-8") as f:
        f.write(RCFILE % os.path.join(root, "tdx", target))
    tasks = [("shared", None, ["tdx.mutate.suite", "--kernels", kernels])]
    for release, modules in suite.plan(kernels):
        for unit in (modules if by == "module" else suite.case_ids(modules)):
            sel = os.path.join(work, "select-%d.json" % len(tasks))
            with open(sel, "w", encoding="utf-8") as f:
                json.dump({release: [unit]}, f)
            tasks.append((release, unit, ["tdx.mutate.suite", "--kernels", release, "--select", sel]))
    results, errors = {}, []
    pending = list(enumerate(tasks))
    lock = threading.Lock()

    def serve():
        while not errors:
            with lock:
                if not pending:
                    return
                i, (release, module, command) = pending.pop(0)
            try:
                results[i] = _measure(root, env, command, os.path.join(work, "data-%d" % i), rcfile, timeout)
            except CoverageError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=serve, daemon=True) for _ in range(max(1, jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    by_release = {}
    for i, (release, module, _) in enumerate(tasks):
        if module is not None:
            by_release.setdefault(release, {})[module] = results[i]
    return CoverageMap(root, by_release, results[0])
