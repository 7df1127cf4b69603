# SPDX-License-Identifier: GPL-2.0-only
"""The test command a mutant must fail: python3 -m tdx.mutate.suite [--mutated FILE] [--kernels ...]

Exit 0 when every test passed (the mutant survived), 1 at the first failure,
2 for a usage error (bad --kernels or --select: no verdict at all).
The tests are the x86_64 suite on the emulated platform and the model's unit
tests (tests/test_emu_*.py), run in one process with unittest's failfast so
that a killed mutant costs only the tests up to the first failure.  Order, for
speed: first the unit-test files that name the mutated file (`emu.<stem>` or
`test_emu_<stem>`), then the x86_64 modules, then the other unit-test files,
then the x86_64 modules again under each other kernel release the model plays
(TDX_EMU_KERNEL, each in its own process: a release is read when a VM is
created, and a case's expected answers follow the release; docs/generations.md).

With --select FILE (JSON: {release: [module or case id, ...]}), only those
modules and cases run under each release, in the same order; a release
without any is left out.  tdx.mutate picks them from the coverage map (mutate/coverage_map.py).

The package under test is the one this module was imported from, so running
it from a copy of the tree tests that copy.
"""

import argparse
import fnmatch
import glob
import json
import os
import re
import subprocess
import sys
import unittest

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))     # .../tdx
UNIT_TESTS = "test_emu_*.py"
USAGE = 2                   # a usage error (argparse's status too): the worker reports it, never a kill
# Slow cases that rarely decide a mutant (1000 TD lifecycles for a leak) run
# last, after the other releases, so that a killed mutant seldom waits for them.
LAST = ("*.test_td_lifecycles_do_not_leak",)


def x86_64_modules():
    """The suite's modules, as the driver discovers them (x86_64/*.py but _*)."""
    return sorted("tdx.x86_64." + os.path.basename(f)[:-3]
                  for f in glob.glob(os.path.join(PACKAGE, "x86_64", "*.py"))
                  if not os.path.basename(f).startswith("_"))


def unit_test_modules(mutated=None):
    """tests/test_emu_*.py, those that exercise `mutated` (emu/<stem>.py) first."""
    files = sorted(glob.glob(os.path.join(PACKAGE, "tests", UNIT_TESTS)))
    stem = os.path.basename(mutated)[:-3] if mutated else None

    def names_it(path):
        if stem is None:
            return False
        if os.path.basename(path) == "test_emu_%s.py" % stem:
            return True
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return re.search(r"\bemu\.%s\b|\bfrom tdx\.emu import [^\n]*\b%s\b" % (stem, stem), text) is not None

    first = [f for f in files if names_it(f)]
    rest = [f for f in files if f not in first]
    to_name = lambda f: "tdx.tests." + os.path.basename(f)[:-3]
    return [to_name(f) for f in first], [to_name(f) for f in rest]


def _flat(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _flat(test)
        else:
            yield test


def load(module_names, last=False, keep=None):
    """The cases of these modules, without (last=False) or only (True) those
    matching LAST; with `keep`, only the cases whose id it accepts."""
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for name in module_names:
        for test in _flat(loader.loadTestsFromName(name)):
            if any(fnmatch.fnmatch(test.id(), p) for p in LAST) == last and (keep is None or keep(test.id())):
                suite.addTest(test)
    return suite


def run_in_process(module_names, verbose=False, last=False, keep=None):
    """Run these test modules (the cases `keep` accepts) with failfast; True when all passed."""
    suite = load(module_names, last, keep)
    stream = sys.stderr if verbose else open(os.devnull, "w")
    result = unittest.TextTestRunner(stream=stream, verbosity=2 if verbose else 0, failfast=True).run(suite)
    if not result.wasSuccessful():
        bad = (result.failures + result.errors)[:1]
        for test, trace in bad:
            print("killed by %s\n%s" % (test.id(), trace.strip().splitlines()[-1]), flush=True)
        if result.unexpectedSuccesses:
            print("killed by an unexpected success: %s" % result.unexpectedSuccesses[0].id(), flush=True)
    return result.wasSuccessful()


def run_under_kernel(release, module_names, verbose=False, select=None):
    """The x86_64 modules under one release, in a process of their own."""
    env = dict(os.environ, TDX_EMU_KERNEL=release)
    cmd = [sys.executable, "-m", "tdx.mutate.suite", "--only-x86-64", "--kernels", release]
    if select:
        cmd += ["--select", select]
    p = subprocess.run(cmd, env=env, cwd=os.path.dirname(PACKAGE), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if p.returncode != 0:
        print("under TDX_EMU_KERNEL=%s: %s" % (release, p.stdout.strip()[-2000:]), flush=True)
    return p.returncode == 0


def releases(spec):
    """'newest', 'all' or a comma-separated list -> release names, newest first."""
    from tdx.lib.generations import GENERATIONS, NEWEST
    if spec == "all":
        names = [NEWEST] + [g for g in reversed(list(GENERATIONS)) if g != NEWEST]
    else:
        names = [s.strip() for s in spec.split(",") if s.strip()]
    for name in names:
        if name not in GENERATIONS and name != NEWEST:
            raise SystemExit("tdx.mutate.suite: unknown kernel release %r" % name)
    return names


def plan(spec):
    """[(release, [module, ...])] the test command runs for a --kernels spec:
    every module under the first release, the x86_64 modules under the others."""
    kernels = releases(spec)
    first, rest = unit_test_modules(None)
    return [(kernels[0], first + rest + x86_64_modules())] + [(k, x86_64_modules()) for k in kernels[1:]]


def case_ids(module_names):
    """Every case of these modules, LAST ones included, in run order."""
    return [t.id() for t in _flat(load(module_names))] + [t.id() for t in _flat(load(module_names, True))]


def module_of(case_id):
    """'tdx.x86_64.ghci_io.GhciIo.test_x' -> 'tdx.x86_64.ghci_io'."""
    return case_id.rsplit(".", 2)[0]


def read_selection(path):
    """--select FILE -> {release: set of modules and case ids}; a bad file is a usage error."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise ValueError("want {release: [module, ...]}")
    except (OSError, ValueError) as exc:
        raise SystemExit("tdx.mutate.suite: --select %s: %s" % (path, exc))
    return {k: set(v) for k, v in data.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m tdx.mutate.suite", description=__doc__.splitlines()[0])
    parser.add_argument("--mutated", help="the mutated file (emu/<name>.py): its unit tests run first")
    parser.add_argument("--kernels", default="newest",
                        help="releases to run the x86_64 modules under: newest (default), all, or a list")
    parser.add_argument("--only-x86-64", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--select", metavar="FILE", help="only these modules per release (JSON)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)

    os.environ.setdefault("TDX_PLATFORM", "emulated")
    try:
        kernels = releases(args.kernels)
        selection = read_selection(args.select) if args.select else None
    except SystemExit as exc:
        # Not a verdict on the mutant: exit 1 would count it as killed.
        print(exc.code, file=sys.stderr)
        return USAGE

    def under(release, names):
        """The modules among `names` with something selected under `release`."""
        if selection is None:
            return names
        wanted = selection.get(release, set())
        return [n for n in names if n in wanted or any(module_of(e) == n for e in wanted)]

    def keep(release):
        if selection is None:
            return None
        wanted = selection.get(release, set())
        return lambda case_id: case_id in wanted or module_of(case_id) in wanted

    modules = x86_64_modules()
    if args.only_x86_64:
        return 0 if run_in_process(under(kernels[0], modules), args.verbose, keep=keep(kernels[0])) else 1

    first, rest = unit_test_modules(args.mutated)
    everything = under(kernels[0], first + modules + rest)
    os.environ["TDX_EMU_KERNEL"] = kernels[0]
    if everything and not run_in_process(everything, args.verbose, keep=keep(kernels[0])):
        return 1
    for release in kernels[1:]:
        if under(release, modules) and not run_under_kernel(release, modules, args.verbose, args.select):
            return 1
    os.environ["TDX_EMU_KERNEL"] = kernels[0]
    return 0 if not everything or run_in_process(everything, args.verbose, last=True, keep=keep(kernels[0])) else 1


if __name__ == "__main__":
    sys.exit(main())
