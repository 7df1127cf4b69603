# SPDX-License-Identifier: GPL-2.0-only
"""One mutation run: enumerate (cosmic-ray), pick, execute in parallel, record.

The session is a cosmic-ray work database (`cosmic-ray init` semantics:
every position of every operator in every target file), so its results can
also be read with cosmic-ray's own tools (`cr-report SESSION`).  Mutants not
picked for a subset run are recorded as skipped.  Each worker process
(tdx.mutate.worker) owns one copy of the snapshot; jobs go to whichever is
free, and results are written by this process only.
"""

import glob
import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


class Mutant:
    """A work item of the session: where, which operator, and what happened."""

    __slots__ = ("job_id", "path", "operator", "occurrence", "line", "col", "function", "source_line",
                 "outcome", "diff", "output", "seconds")

    def __init__(self, job_id, path, operator, occurrence, line, col, function, source_line):
        self.job_id, self.path, self.operator, self.occurrence = job_id, path, operator, occurrence
        self.line, self.col, self.function, self.source_line = line, col, function, source_line
        self.outcome = self.diff = self.output = None
        self.seconds = 0.0

    @property
    def file(self):
        """'emu/ioctls.py': the path inside the package."""
        return self.path.split("/", 1)[1] if self.path.startswith("tdx/") else self.path

    def sample_key(self):
        """Stable across edits elsewhere in the file: no line number, no occurrence."""
        text = "\0".join((self.file, self.function or "", self.operator, self.source_line.strip(),
                          str(self.col)))
        return hashlib.sha1(text.encode()).hexdigest()

    def changed_lines(self):
        """('-' lines, '+' lines) of the mutation's diff, stripped."""
        before, after = [], []
        for line in (self.diff or "").splitlines():
            if line.startswith("---") or line.startswith("+++"):
                continue
            if line.startswith("-"):
                before.append(line[1:].strip())
            elif line.startswith("+"):
                after.append(line[1:].strip())
        return " ".join(before), " ".join(after)


def discover(package_root, target):
    """The Python files of `target` (a directory of the package, e.g. 'emu'),
    as paths relative to package_root's parent: ['tdx/emu/cpuid.py', ...]."""
    files = sorted(glob.glob(os.path.join(package_root, target, "*.py")))
    return ["tdx/%s/%s" % (target, os.path.basename(f)) for f in files]


def enumerate_mutants(root, files, session_path):
    """Create the cosmic-ray session for `files` (relative to `root`); returns Mutants."""
    from cosmic_ray.commands.init import init
    from cosmic_ray.work_db import WorkDB, use_db
    from tdx.mutate import operators

    operators.install()
    if os.path.exists(session_path):
        os.unlink(session_path)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with use_db(session_path, WorkDB.Mode.create) as db:
            init([Path(f) for f in files], db, {})
            items = list(db.work_items)
    finally:
        os.chdir(cwd)
    lines = {}
    mutants = []
    for item in items:
        spec = item.mutations[0]
        path = str(spec.module_path)
        if path not in lines:
            with open(os.path.join(root, path), encoding="utf-8") as f:
                lines[path] = f.read().splitlines()
        line, col = spec.start_pos
        text = lines[path][line - 1] if 0 < line <= len(lines[path]) else ""
        mutants.append(Mutant(item.job_id, path, spec.operator_name, spec.occurrence, line, col,
                              spec.definition_name, text))
    mutants.sort(key=lambda m: (m.path, m.line, m.col, m.operator, m.occurrence))
    return mutants


class ResumeError(Exception):
    pass


def fingerprint(root, files):
    """What the session measured: the target files' names and contents."""
    h = hashlib.sha256()
    for f in sorted(files):
        with open(os.path.join(root, f), "rb") as fh:
            h.update(f.encode() + b"\0" + fh.read() + b"\0")
    return h.hexdigest()


def record_run(session_path, settings):
    """<session>.run: the fingerprint and settings a later --resume must match."""
    with open(session_path + ".run", "w", encoding="utf-8") as f:
        json.dump(settings, f)


def resume(root, files, session_path):
    """(mutants of the session, its settings) to go on with: those not run
    yet have outcome None.  ResumeError when there is nothing to resume or
    the model is no longer the one the session measured."""
    try:
        with open(session_path + ".run", encoding="utf-8") as f:
            settings = json.load(f)
    except FileNotFoundError:
        raise ResumeError("--resume: no run to resume at %s (%s.run missing)" % (session_path, session_path))
    except ValueError as exc:
        raise ResumeError("--resume: %s.run: %s" % (session_path, exc))
    if not os.path.exists(session_path):
        raise ResumeError("--resume: no session %s" % session_path)
    if settings.get("fingerprint") != fingerprint(root, files):
        raise ResumeError("--resume: the model is not the one %s measured (files or their contents "
                          "changed); start a new run" % session_path)
    mutants = load_session(session_path)
    lines = {}
    for m in mutants:
        if m.path not in lines:
            with open(os.path.join(root, m.path), encoding="utf-8") as f:
                lines[m.path] = f.read().splitlines()
        m.source_line = lines[m.path][m.line - 1] if 0 < m.line <= len(lines[m.path]) else ""
    mutants.sort(key=lambda m: (m.path, m.line, m.col, m.operator, m.occurrence))
    return mutants, settings


def pick(mutants, count):
    """A deterministic sample of `count` mutants, spread over every file:
    the first by a hash of what each mutant is (not where), so that the
    same mutants stay picked while the files change around them."""
    if count is None or count >= len(mutants):
        return list(mutants)
    chosen = sorted(mutants, key=Mutant.sample_key)[:count]
    order = {id(m): i for i, m in enumerate(mutants)}
    return sorted(chosen, key=lambda m: order[id(m)])


TIMEOUT_OUTPUT = "no result after"       # worker.py's output for a timeout


def load_session(session_path):
    """The mutants of a session with the results recorded so far (a run may
    have been interrupted): [Mutant], outcome None for those not run yet,
    "skipped" for those the run did not pick."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    with use_db(session_path, WorkDB.Mode.open) as db:
        results = dict(db.results)
        mutants = []
        for item in db.work_items:
            spec = item.mutations[0]
            m = Mutant(item.job_id, str(spec.module_path), spec.operator_name, spec.occurrence,
                       spec.start_pos[0], spec.start_pos[1], spec.definition_name, "")
            r = results.get(item.job_id)
            if r is not None and r.worker_outcome in (WorkerOutcome.SKIPPED, WorkerOutcome.NO_TEST):
                m.outcome = "skipped"               # not picked for this run, or no mutation
            elif r is not None and r.worker_outcome in (WorkerOutcome.NORMAL, WorkerOutcome.EXCEPTION):
                m.diff, m.output = r.diff, r.output
                if r.worker_outcome == WorkerOutcome.EXCEPTION:
                    m.outcome = "error"
                elif r.test_outcome == TestOutcome.SURVIVED:
                    m.outcome = "survived"
                elif (r.output or "").startswith(TIMEOUT_OUTPUT):
                    m.outcome = "timeout"
                else:
                    m.outcome = "killed"
            mutants.append(m)
    mutants.sort(key=lambda m: (m.path, m.line, m.col, m.operator, m.occurrence))
    return mutants


class Recorder:
    """Writes results into the cosmic-ray session as they come, so that an
    interrupted long run keeps what it measured (`cr-report SESSION`)."""

    def __init__(self, session_path):
        from cosmic_ray.work_db import WorkDB
        self.db = WorkDB(session_path, WorkDB.Mode.open)

    def skipped(self, mutants):
        from cosmic_ray.work_item import WorkerOutcome, WorkResult
        if mutants:
            self.db.set_multiple_results([m.job_id for m in mutants],
                                         WorkResult(worker_outcome=WorkerOutcome.SKIPPED))

    def result(self, m):
        from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult
        if m.outcome == "no-mutation":
            result = WorkResult(worker_outcome=WorkerOutcome.NO_TEST)
        elif m.outcome == "error":
            result = WorkResult(worker_outcome=WorkerOutcome.EXCEPTION, test_outcome=TestOutcome.INCOMPETENT,
                                output=m.output, diff=m.diff)
        else:
            outcome = TestOutcome.SURVIVED if m.outcome == "survived" else TestOutcome.KILLED
            result = WorkResult(worker_outcome=WorkerOutcome.NORMAL, test_outcome=outcome,
                                output=m.output, diff=m.diff)
        self.db.set_result(m.job_id, result)

    def close(self):
        self.db.close()


class Worker:
    """A tdx.mutate.worker process in its own copy of the tree."""

    def __init__(self, root, env):
        self.root = root
        self.proc = subprocess.Popen([sys.executable, "-m", "tdx.mutate.worker"], cwd=root, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     universal_newlines=True, start_new_session=True)

    def ask(self, job):
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("mutation worker in %s exited (%s)" % (self.root, self.proc.poll()))
        return json.loads(line)

    def stop(self):
        try:
            self.proc.stdin.close()             # an idle worker ends at EOF
        except OSError:
            pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait()
        try:
            self.proc.stdout.close()
        except OSError:
            pass


def worker_env(root, output_dir):
    env = dict(os.environ)
    env["PYTHONPATH"] = root
    env["PYTHONDONTWRITEBYTECODE"] = "1"       # a mutant's bytecode must never be reused
    env["TDX_PLATFORM"] = "emulated"
    if output_dir:
        env["TDX_OUTPUT"] = output_dir
    for name in ("TDX_EMU_FAULTS", "TDX_EMU_KERNEL", "TDX_KVM_GENERATION"):
        env.pop(name, None)
    return env


def test_command(mutant_path, kernels, test_module="tdx.mutate.suite", select=None):
    cmd = [sys.executable, "-m", test_module, "--kernels", kernels]
    if mutant_path:
        cmd += ["--mutated", mutant_path]
    if select:
        cmd += ["--select", select]
    return cmd


NOT_EXECUTED = "not executed: no case executes this statement (coverage map)"


def job_for(m, kernels, timeout, test_module, coverage=None, select_dir=None):
    """The worker's job for mutant m: the whole suite, or with a coverage map
    only the modules that execute its statement (none: no command at all)."""
    job = {"id": m.job_id, "module_path": m.path, "operator": m.operator, "occurrence": m.occurrence,
           "timeout": timeout, "command": test_command(m.path, kernels, test_module)}
    chosen = coverage.select(m.path, m.line, m.col) if coverage is not None else None
    if chosen == {}:
        job["command"], job["reason"] = None, NOT_EXECUTED
    elif chosen is not None:
        select = os.path.join(select_dir, "%s.json" % m.job_id)
        with open(select, "w", encoding="utf-8") as f:
            json.dump(chosen, f)
        job["command"] = test_command(m.path, kernels, test_module, select)
    return job


def execute(workers, mutants, kernels, timeout, progress, test_module="tdx.mutate.suite",
            coverage=None, select_dir=None):
    """Run every mutant on the first free worker; progress(mutant, done, total).
    With a coverage map (coverage_map.CoverageMap), each runs only the modules
    that execute the mutated statement; select_dir holds their --select files."""
    jobs = queue.Queue()
    for m in mutants:
        jobs.put(m)
    done = queue.Queue()
    failure = []

    def serve(worker):
        while not failure:
            try:
                m = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                answer = worker.ask(job_for(m, kernels, timeout, test_module, coverage, select_dir))
            except Exception as exc:             # the worker died: stop the run
                failure.append(exc)
                done.put(None)
                return
            m.outcome, m.diff, m.output = answer["outcome"], answer["diff"], answer["output"]
            m.seconds = answer["seconds"]
            done.put(m)

    threads = [threading.Thread(target=serve, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    for i in range(len(mutants)):
        m = done.get()
        if m is None:
            break
        progress(m, i + 1, len(mutants))
    for t in threads:
        t.join(timeout=0 if failure else None)
    if failure:
        raise failure[0]


def baseline(worker, kernels, timeout, test_module="tdx.mutate.suite"):
    """The test command on the unmutated copy: (passed, seconds, output)."""
    start = time.monotonic()
    answer = worker.ask({"id": "baseline", "operator": None, "timeout": timeout,
                         "command": test_command(None, kernels, test_module)})
    return answer["outcome"] == "survived", time.monotonic() - start, answer["output"]
