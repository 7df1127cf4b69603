# SPDX-License-Identifier: GPL-2.0-only
"""Mutation testing of the emulated platform: python3 -m tdx.mutate [--all] [options]

Applies kernel-style one-line mistakes (tdx/mutate/operators.py) to the
model, tools/testing/tdx/emu/, one at a time in copies of the tree, runs the
suite on each (tdx/mutate/suite.py) and reports the score and every
survivor against the triage file.  Default: a fixed sample of the mutants
(minutes); --all: every mutant (hours).  `make mutate [MUTATE=all]`.

Exit status: 0 done and every survivor triaged; 1 a survivor the triage file
does not list, or the suite fails without any mutation; 2 usage error;
128+N stopped by signal N (the copies are removed either way).
"""

import argparse
import fnmatch
import os
import sys
import time

from tdx.lib.provenance import measured_at

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)
DEFAULT_SAMPLE = 100
DEFAULT_TRIAGE = os.path.join(HERE, "triage.json")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python3 -m tdx.mutate", description=__doc__.splitlines()[0])
    p.add_argument("--all", action="store_true", help="every mutant, not a sample (a long run)")
    p.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, metavar="N",
                   help="mutants in the default run (default %d)" % DEFAULT_SAMPLE)
    p.add_argument("--files", action="append", metavar="GLOB",
                   help="only files whose name matches (repeatable), e.g. 'vmcall.py'")
    p.add_argument("-j", "--jobs", type=int, default=min(2, os.cpu_count() or 1), metavar="N",
                   help="mutants tested at once, each in its own copy of the tree (default 2)")
    p.add_argument("--kernels", default="ends", metavar="SPEC",
                   help="releases the x86_64 modules run under: ends (newest and the first release: "
                        "both sides of every release-dependent rule; default), newest, all, or a list")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="per mutant (default: 10x the unmutated run, at least 60 s)")
    p.add_argument("--triage", default=DEFAULT_TRIAGE, metavar="FILE", help="triage file (JSON)")
    p.add_argument("--update-triage", action="store_true",
                   help="record this run's score and survivors in the triage file")
    p.add_argument("--session", metavar="FILE",
                   help="cosmic-ray session database to write (default $TDX_OUTPUT/mutate-results/<run>.sqlite)")
    p.add_argument("--coverage", choices=("module", "case", "off"),
                   help="run each mutant's test command only on the modules (or cases) that execute the "
                        "mutated statement, measured first (default: case with --all, else module); "
                        "off: the whole suite for every mutant")
    p.add_argument("--resume", action="store_true",
                   help="go on with the session's run (--session, or the default one) where it stopped: "
                        "same model, same settings, the mutants without a result")
    p.add_argument("--list", action="store_true", help="list the mutants that would run, run nothing")
    p.add_argument("--from-session", metavar="FILE",
                   help="run nothing: report (and --update-triage) from a session's results so far, "
                        "e.g. an interrupted --all run")
    # For the tool's own tests: another package tree, target directory and test command.
    p.add_argument("--package", default=PACKAGE, help=argparse.SUPPRESS)
    p.add_argument("--target", default="emu", help=argparse.SUPPRESS)
    p.add_argument("--test-module", default="tdx.mutate.suite", help=argparse.SUPPRESS)
    p.add_argument("--label", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.sample < 1 or args.jobs < 1 or (args.timeout is not None and args.timeout <= 0):
        p.error("--sample, --jobs and --timeout must be positive")
    return args


def kernels_spec(spec):
    from tdx.lib.generations import FIRST, GENERATIONS, NEWEST
    if spec == "ends":
        return "%s,%s" % (NEWEST, FIRST)
    if spec in ("newest", "all"):
        return spec
    bad = [k for k in spec.split(",") if k.strip() not in GENERATIONS]
    if bad or not spec.strip():
        raise SystemExit("tdx.mutate: --kernels %r: want ends, newest, all or releases among %s"
                         % (spec, ", ".join(GENERATIONS)))
    return spec


def run(args, scratch, workers, kernels, session):
    """Enumerate, pick and test the mutants in `scratch`; returns an exit status
    or (files, mutants, picked mutants with their outcomes)."""
    from tdx.mutate import engine

    base = scratch.snapshot()
    files = engine.discover(os.path.join(base, "tdx"), args.target)
    if args.files:
        files = [f for f in files if any(fnmatch.fnmatch(os.path.basename(f), g) for g in args.files)]
    if not files:
        print("tdx.mutate: no file to mutate in %s/%s" % (args.package, args.target), file=sys.stderr)
        return 2
    if args.resume:
        try:
            mutants, settings = engine.resume(base, files, session)
        except engine.ResumeError as exc:
            print("tdx.mutate: %s" % exc, file=sys.stderr)
            return 2
        kernels, args.coverage = settings["kernels"], settings["coverage"]
        picked = [m for m in mutants if m.outcome is None]
        skipped = []
        print("tdx.mutate: resuming %s: %d mutants with a result, %d to run; kernels %s; %d jobs"
              % (session, sum(1 for m in mutants if m.outcome not in (None, "skipped")), len(picked),
                 kernels, args.jobs), file=sys.stderr, flush=True)
    else:
        mutants = engine.enumerate_mutants(base, files, session)
        picked = mutants if args.all else engine.pick(mutants, args.sample)
        chosen = set(id(m) for m in picked)
        skipped = [m for m in mutants if id(m) not in chosen]
        args.coverage = args.coverage or ("case" if args.all else "module")
        engine.record_run(session, {"fingerprint": engine.fingerprint(base, files), "kernels": kernels,
                                    "coverage": args.coverage})
        print("tdx.mutate: %d mutants in %d files (%s), running %d%s; kernels %s; %d jobs"
              % (len(mutants), len(files), ", ".join(os.path.basename(f) for f in files), len(picked),
                 "" if args.all else " (sample)", kernels, args.jobs), file=sys.stderr, flush=True)
    if args.list:
        for m in picked:
            print("%s:%d  %s  %s" % (m.file, m.line, m.operator, m.source_line.strip()))
        return 0

    env = engine.worker_env(None, os.environ.get("TDX_OUTPUT") or args.package)
    for i in range(args.jobs):
        root = scratch.copy("w%d" % i)
        workers.append(engine.Worker(root, dict(env, PYTHONPATH=root)))
    ok, seconds, out = engine.baseline(workers[0], kernels, 600, args.test_module)
    if not ok:
        print("tdx.mutate: the suite fails without any mutation; fix that first:\n%s"
              % out.strip()[-3000:], file=sys.stderr)
        return 1
    timeout = args.timeout or max(60.0, 10 * seconds)
    print("tdx.mutate: unmutated run %.1f s; timeout per mutant %.0f s" % (seconds, timeout),
          file=sys.stderr, flush=True)
    coverage = measure_coverage(args, scratch, base, env, kernels, seconds, session + ".coverage.json")

    recorder = engine.Recorder(session)

    def progress(m, done, total):
        recorder.result(m)
        print("[%*d/%d] %-8s %s:%d %s (%.1f s)" % (len(str(total)), done, total, m.outcome,
                                               m.file, m.line, m.operator, m.seconds),
              file=sys.stderr, flush=True)

    try:
        recorder.skipped(skipped)
        # In sample order: the first N mutants of a run are the sample of size N,
        # so an --all run stopped early is still an unbiased sample (--from-session).
        engine.execute(workers, sorted(picked, key=engine.Mutant.sample_key), kernels, timeout, progress,
                       args.test_module, coverage, scratch.path)
    finally:
        recorder.close()
    return files, mutants, [m for m in mutants if m.outcome not in (None, "skipped")]


def measure_coverage(args, scratch, base, env, kernels, seconds, saved):
    """The coverage map of the snapshot (mutate/coverage_map.py), or None: the
    whole suite then runs for every mutant.  Kept in `saved` for --resume."""
    from tdx.mutate import coverage_map

    by = args.coverage
    if by == "off" or args.test_module != "tdx.mutate.suite":
        return None
    if args.resume and os.path.exists(saved):
        print("tdx.mutate: coverage map from %s" % saved, file=sys.stderr, flush=True)
        return coverage_map.load(base, saved)
    if not coverage_map.available():
        print("tdx.mutate: coverage.py is not installed (make mutate installs it): "
              "every mutant runs the whole suite", file=sys.stderr, flush=True)
        return None
    start = time.monotonic()
    try:
        cmap = coverage_map.build(base, dict(env, PYTHONPATH=base), kernels, args.target, args.jobs,
                                  max(600.0, 20 * seconds), by)
    except coverage_map.CoverageError as exc:
        print("tdx.mutate: no coverage map (every mutant runs the whole suite): %s" % exc,
              file=sys.stderr, flush=True)
        return None
    print("tdx.mutate: coverage map of %d %ss in %.0f s: each mutant runs the %ss that execute it"
          % (sum(len(m) for m in cmap.by_release.values()), by, time.monotonic() - start, by),
          file=sys.stderr, flush=True)
    cmap.save(saved)
    return cmap


def main(argv=None):
    args = parse_args(argv)
    try:
        import cosmic_ray  # noqa: F401
    except ImportError:
        print("tdx.mutate: cosmic-ray is not installed for %s; `make mutate` installs it "
              "(or: pip install cosmic-ray)" % sys.executable, file=sys.stderr)
        return 2
    from tdx.mutate import sandbox, triage

    try:
        kernels = kernels_spec(args.kernels)
        data = triage.load(args.triage)
    except triage.TriageError as exc:
        print("tdx.mutate: %s" % exc, file=sys.stderr)
        return 2
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    label = args.label or ("all" if args.all else "subset")
    if args.from_session:
        return from_session(args, data, args.label or os.path.splitext(os.path.basename(args.from_session))[0])
    output = os.environ.get("TDX_OUTPUT") or args.package
    session = args.session or os.path.join(output, "mutate-results", label + ".sqlite")
    os.makedirs(os.path.dirname(os.path.abspath(session)), exist_ok=True)

    start = time.monotonic()
    workers = []
    try:
        with sandbox.Scratch(args.package) as scratch:
            try:
                result = run(args, scratch, workers, kernels, session)
            finally:
                # Workers first: their copies go when the scratch directory does.
                for w in workers:
                    w.stop()
    except KeyboardInterrupt:
        print("tdx.mutate: interrupted; copies removed, the tree was never mutated", file=sys.stderr)
        return 130
    except SystemExit as exc:
        if isinstance(exc.code, int) and exc.code > 128:
            print("tdx.mutate: stopped by signal %d; copies removed" % (exc.code - 128), file=sys.stderr)
        raise
    if isinstance(result, int):
        return result
    files, mutants, picked = result

    extra = {"seconds": round(time.monotonic() - start), "jobs": args.jobs, "kernels": kernels,
             "files": len(files), "population": len(mutants), "complete": True}
    print("tdx.mutate: session %s (cr-report reads it)" % session, file=sys.stderr)
    return conclude(args, data, picked, label, extra, os.path.splitext(session)[0] + ".txt")


def conclude(args, data, ran, label, extra, text_path):
    """Print the report (also into text_path); record it with --update-triage."""
    from tdx.mutate import report, triage

    new = report.summarize(ran, data)[0]["untriaged"]
    if args.update_triage:
        data = triage.update(data, ran, label, {})
    summary, state = report.summarize(ran, data)
    summary["new_survivors"] = new             # not in the triage file before this run
    summary.update(measured_at(args.package))
    summary.update(extra)
    text = report.format_report(ran, data, summary, state, label, extra.get("seconds", 0))
    print(text)
    with open(text_path, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    if args.update_triage:
        data["runs"][label] = summary
        triage.save(args.triage, data)
        print("tdx.mutate: recorded in %s" % args.triage, file=sys.stderr)
        return 0
    return 1 if summary["untriaged"] else 0


def from_session(args, data, label):
    from tdx.mutate import engine
    try:
        mutants = engine.load_session(args.from_session)
    except FileNotFoundError:
        print("tdx.mutate: no session %s" % args.from_session, file=sys.stderr)
        return 2
    ran = [m for m in mutants if m.outcome not in (None, "skipped")]
    pending = sum(1 for m in mutants if m.outcome is None)
    print("tdx.mutate: session %s: %d mutants with a result, %d not run yet, %d not picked"
          % (args.from_session, len(ran), pending, len(mutants) - len(ran) - pending), file=sys.stderr)
    extra = {"population": len(mutants), "complete": pending == 0}
    # A re-report keeps when, where and how the run was measured.
    old = data["runs"].get(label, {})
    extra.update({k: old[k] for k in ("seconds", "jobs", "kernels", "date", "commit", "files") if k in old})
    return conclude(args, data, ran, label, extra, os.path.splitext(args.from_session)[0] + ".txt")


if __name__ == "__main__":
    sys.exit(main())
