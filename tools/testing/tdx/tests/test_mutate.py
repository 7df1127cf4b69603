# SPDX-License-Identifier: GPL-2.0-only
"""tdx.mutate, the mutation-testing tool, on a fixture instead of the model.

tests/fixtures/mutate/model/bounds.py is mutated with weak_check.py (one
comfortable value per rule) as the test command: the tool must report the
bound and errno mutants as survivors (file:line, before, after), kill the
missing-check mutant, stop the mutant that loops forever by its timeout,
never touch the tree it was started from and leave no copy or process behind,
also when stopped by SIGTERM.  The triage file and the score are tested
without running anything.  The cases that run cosmic-ray skip where it is not
installed (`make mutate` installs it; `make check` does not need it).
"""

import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from tdx.mutate import report, suite, triage
from tdx.mutate.engine import Mutant, pick

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(PACKAGE, "tests", "fixtures", "mutate", "model", "bounds.py")
FIXTURE_ARGS = ["--target", "tests/fixtures/mutate/model", "--test-module", "tdx.tests.fixtures.mutate.weak_check"]

try:
    import cosmic_ray  # noqa: F401
    HAVE_COSMIC_RAY = True
except ImportError:
    HAVE_COSMIC_RAY = False
requires_cosmic_ray = unittest.skipUnless(HAVE_COSMIC_RAY, "cosmic-ray not installed (make mutate installs it)")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tool(args, tmp, **popen):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(PACKAGE), TMPDIR=tmp)
    return [sys.executable, "-m", "tdx.mutate"] + args, env


def processes_in(path):
    """Processes whose working directory is under `path`."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            continue
        if cwd.startswith(path + os.sep):
            out.append(int(pid))
    return out


def fake(path, line, operator, before, after, outcome, function="f"):
    m = Mutant("id-%d-%s" % (line, operator), "tdx/" + path, operator, 0, line, 4, function, before)
    m.diff = "--- a\n+++ b\n@@ -%d +%d @@\n-%s\n+%s" % (line, line, before, after)
    m.outcome = outcome
    return m


@requires_cosmic_ray
class FixtureRun(unittest.TestCase):
    """One run of the tool over the fixture, every mutant (--all)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="test-mutate-")
        cls.scratch = os.path.join(cls.tmp, "scratch")
        os.mkdir(cls.scratch)
        cls.before = digest(FIXTURE)
        cmd, env = tool(FIXTURE_ARGS + ["--all", "--timeout", "2", "-j", "2",
                                        "--triage", os.path.join(cls.tmp, "triage.json"),
                                        "--session", os.path.join(cls.tmp, "s.sqlite")], cls.scratch)
        p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
        cls.rc, cls.out, cls.err = p.returncode, p.stdout, p.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_score_and_exit(self):
        # 16 mutants, 8 survive; untriaged survivors make the exit status 1.
        self.assertIn("mutation score (all): 8 killed / 16 (16 run, 0 equivalent) = 50.0%", self.out, self.err)
        self.assertEqual(self.rc, 1, self.err)

    def test_survivors_listed_with_line_and_mutation(self):
        self.assertIn("bounds.py:15  core/ReplaceComparisonOperator_Gt_GtE  [untriaged]\n"
                      "      - if size < 1 or size > 64:\n"
                      "      + if size < 1 or size >= 64:", self.out)
        self.assertIn("bounds.py:16  tdx/ErrnoSwap  [untriaged]\n"
                      "      - return -errno.EINVAL\n"
                      "      + return -errno.EFAULT", self.out)
        self.assertIn("survivors by file: tests/fixtures/mutate/model/bounds.py 8", self.out)

    def test_missing_check_killed(self):
        self.assertRegex(self.err, r"killed +tests/fixtures/mutate/model/bounds.py:15 tdx/RemoveCheck")
        self.assertNotIn("RemoveCheck", self.out)

    def test_hang_stopped_by_timeout(self):
        self.assertRegex(self.err, r"timeout +tests/fixtures/mutate/model/bounds.py:22 "
                                   r"core/ReplaceBinaryOperator_Sub_Add")
        self.assertIn("(of which timeouts 1)", self.out)

    def test_tree_untouched_and_nothing_left(self):
        self.assertEqual(digest(FIXTURE), self.before)
        self.assertEqual(os.listdir(self.scratch), [])
        self.assertEqual(processes_in(self.scratch), [])

    def test_report_from_session(self):
        cmd, env = tool(["--from-session", os.path.join(self.tmp, "s.sqlite"),
                         "--triage", os.path.join(self.tmp, "triage.json")], self.scratch)
        p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        self.assertIn("mutation score (s): 8 killed / 16 (16 run, 0 equivalent) = 50.0%", p.stdout, p.stderr)
        self.assertIn("(of which timeouts 1)", p.stdout)
        self.assertEqual(p.returncode, 1)

    def test_session_readable_by_cosmic_ray(self):
        from cosmic_ray.work_db import WorkDB, use_db
        with use_db(os.path.join(self.tmp, "s.sqlite"), WorkDB.Mode.open) as db:
            self.assertEqual(db.num_work_items, 16)
            self.assertEqual(db.num_results, 16)


@requires_cosmic_ray
class Interrupted(unittest.TestCase):
    def test_sigterm_cleans_up(self):
        tmp = tempfile.mkdtemp(prefix="test-mutate-")
        self.addCleanup(shutil.rmtree, tmp, True)
        # The looping mutant has 600 s: the run is still going when SIGTERM comes.
        cmd, env = tool(FIXTURE_ARGS + ["--all", "--timeout", "600", "-j", "2",
                                        "--triage", os.path.join(tmp, "triage.json"),
                                        "--session", os.path.join(tmp, "s.sqlite")], tmp)
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
        self.addCleanup(p.kill)
        deadline = time.monotonic() + 120
        seen = ""
        while "[15/16]" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([p.stderr], [], [], 1)
            if ready:
                line = p.stderr.readline()
                if not line:
                    break
                seen += line
        self.assertIn("[15/16]", seen)
        self.assertNotEqual(processes_in(tmp), [])      # the looping mutant's test is running
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=60)
        self.assertEqual(p.returncode, 128 + signal.SIGTERM)
        self.assertEqual([f for f in os.listdir(tmp) if f.startswith("tdx-mutate-")], [])
        self.assertEqual(processes_in(tmp), [])

        # --resume runs only the mutant left without a result (the looping
        # one, stopped this time by a short timeout) and reports all 16.
        resume = FIXTURE_ARGS + ["--all", "--resume", "--timeout", "2", "--triage", os.path.join(tmp, "triage.json"),
                                 "--session", os.path.join(tmp, "s.sqlite")]
        cmd, env = tool(resume, tmp)
        p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        self.assertIn("15 mutants with a result, 1 to run", p.stderr)
        self.assertEqual(len(re.findall(r"^\[ *\d+/\d+\]", p.stderr, re.M)), 1, p.stderr)
        self.assertRegex(p.stderr, r"\[1/1\] timeout +tests/fixtures/mutate/model/bounds.py:22")
        self.assertIn("mutation score (all): 8 killed / 16 (16 run, 0 equivalent) = 50.0%", p.stdout, p.stderr)

        # Not for a model other than the one the session measured.
        with open(os.path.join(tmp, "s.sqlite.run")) as f:
            run = json.load(f)
        run["fingerprint"] = "0" * 64
        with open(os.path.join(tmp, "s.sqlite.run"), "w") as f:
            json.dump(run, f)
        p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--resume: the model is not the one", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)


@requires_cosmic_ray
class Operators(unittest.TestCase):
    def test_examples(self):
        from cosmic_ray.mutating import mutate_code
        from tdx.mutate import operators
        for name, cls in operators.TDX_OPERATORS.items():
            for ex in cls.examples():
                with self.subTest(operator=name, code=ex.pre_mutation_code, occurrence=ex.occurrence):
                    self.assertEqual(mutate_code(ex.pre_mutation_code, cls(), ex.occurrence),
                                     ex.post_mutation_code)

    def test_only_kernel_style_set(self):
        import cosmic_ray.plugins
        from tdx.mutate import operators
        operators.install()
        self.assertEqual(sorted(cosmic_ray.plugins.operator_names()), sorted(operators.names()))
        self.assertNotIn("core/ReplaceBinaryOperator_BitOr_Pow", cosmic_ray.plugins.operator_names())

    def test_no_mutation_where_nothing_changes(self):
        from cosmic_ray.mutating import mutate_code
        from tdx.mutate import operators
        # Parentheses that change nothing, commuting or string arguments.
        self.assertIsNone(mutate_code("x = (a + b) + c\n", operators.DropParens(), 0))
        self.assertIsNone(mutate_code("x = max(a, b)\n", operators.SwapArguments(), 0))
        self.assertIsNone(mutate_code("x = f('%s', b)\n", operators.SwapArguments(), 0))
        self.assertIsNone(mutate_code("x = f(a, a)\n", operators.SwapArguments(), 0))
        # A constant family needs a sibling in the module.
        self.assertIsNone(mutate_code("x = abi.KVM_EXIT_IO\n", operators.ConstantSwap(), 0))


class Triage(unittest.TestCase):
    def write(self, data):
        fd, path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            f.write(data if isinstance(data, str) else json.dumps(data))
        self.addCleanup(os.unlink, path)
        return path

    def entry(self, **kw):
        e = {"file": "emu/a.py", "line": 3, "function": "f", "operator": "tdx/OffByOne",
             "before": "x = 1", "after": "x = 2", "state": "needs a case", "why": ""}
        e.update(kw)
        return e

    def test_missing_file_is_empty(self):
        self.assertEqual(triage.load("/nonexistent/triage.json"), triage.empty())

    def test_bad_files_one_line_errors(self):
        cases = [("{", "Expecting"), ("[]", "not a triage file"),
                 ({"survivors": [{"file": "emu/a.py"}]}, "lacks operator, before, after, state"),
                 ({"survivors": [self.entry(state="fixed")]}, "state 'fixed' is not one of"),
                 ({"survivors": [self.entry(state="equivalent", why=" ")]}, "equivalent without a 'why'")]
        for data, message in cases:
            with self.subTest(message=message):
                with self.assertRaises(triage.TriageError) as cm:
                    triage.load(self.write(data))
                self.assertIn(message, str(cm.exception))
                self.assertNotIn("\n", str(cm.exception))

    def test_update(self):
        data = {"runs": {}, "survivors": [
            self.entry(),                                                   # killed now: goes
            self.entry(before="y = 1", after="y = 2", state="equivalent", why="y unused"),  # moved line
            self.entry(before="z = 1", after="z = 2"),                      # not run: stays
        ]}
        ran = [fake("emu/a.py", 3, "tdx/OffByOne", "x = 1", "x = 2", "killed"),
               fake("emu/a.py", 9, "tdx/OffByOne", "y = 1", "y = 2", "survived"),
               fake("emu/b.py", 5, "tdx/ErrnoSwap", "e = errno.EIO", "e = errno.EINVAL", "survived")]
        out = triage.update(data, ran, "subset", {"score": 1})
        self.assertEqual(out["runs"], {"subset": {"score": 1}})
        got = [(e["file"], e["line"], e["before"], e["state"]) for e in out["survivors"]]
        self.assertEqual(got, [("emu/a.py", 3, "z = 1", "needs a case"),
                               ("emu/a.py", 9, "y = 1", "equivalent"),
                               ("emu/b.py", 5, "e = errno.EIO", "needs a case")])

    def test_update_keeps_a_key_one_of_its_mutants_survives(self):
        """The same mistake on two identical lines of one function shares an
        entry: one killed, one surviving keeps it, in either order."""
        for order in (("killed", "survived"), ("survived", "killed")):
            with self.subTest(order=order):
                data = {"runs": {}, "survivors": [self.entry(before="return 1", after="return 2",
                                                             state="equivalent", why="why")]}
                ran = [fake("emu/a.py", 10 + i, "tdx/OffByOne", "return 1", "return 2", outcome)
                       for i, outcome in enumerate(order)]
                for m in ran:
                    m.job_id += "-%d" % m.line
                out = triage.update(data, ran, "subset", {})
                self.assertEqual([(e["before"], e["state"], e["why"]) for e in out["survivors"]],
                                 [("return 1", "equivalent", "why")])

    def test_score_excludes_equivalent(self):
        data = {"runs": {}, "survivors": [
            self.entry(before="y = 1", after="y = 2", state="equivalent", why="unused"),
            self.entry(before="z = 1", after="z = 2")]}
        ran = [fake("emu/a.py", 1, "tdx/OffByOne", "a = 1", "a = 2", "killed"),
               fake("emu/a.py", 2, "tdx/OffByOne", "b = 1", "b = 2", "timeout"),
               fake("emu/a.py", 3, "tdx/OffByOne", "y = 1", "y = 2", "survived"),
               fake("emu/a.py", 4, "tdx/OffByOne", "z = 1", "z = 2", "survived"),
               fake("emu/a.py", 5, "tdx/OffByOne", "w = 1", "w = 2", "survived"),
               fake("emu/a.py", 6, "tdx/OffByOne", "v = 1", "v = 2", "error")]
        summary, state = report.summarize(ran, data)
        self.assertEqual((summary["mutants"], summary["killed"], summary["timeouts"], summary["equivalent"],
                          summary["needs_a_case"], summary["untriaged"], summary["errors"]),
                         (5, 2, 1, 1, 1, 1, 1))
        self.assertEqual(summary["score"], 50.0)                 # 2 / (5 - 1)
        text = report.format_report(ran, data, summary, state, "subset", 1)
        self.assertIn("mutation score (subset): 2 killed / 4 (5 run, 1 equivalent) = 50.0%", text)
        self.assertIn("emu/a.py:5  tdx/OffByOne  [untriaged]", text)
        self.assertIn("worker error: emu/a.py:6 tdx/OffByOne", text)


class Selection(unittest.TestCase):
    def test_pick_is_stable_and_spread(self):
        ms = [fake("emu/f%d.py" % (i % 5), i, "tdx/OffByOne", "x%d = 1" % i, "x = 2", None) for i in range(200)]
        for m in ms:
            m.source_line = m.changed_lines()[0]
        a = pick(ms, 40)
        self.assertEqual(len(a), 40)
        self.assertEqual({m.job_id for m in pick(list(reversed(ms)), 40)}, {m.job_id for m in a})
        # The same mutant stays picked when another line moves it down.
        for m in ms:
            m.line += 7
        self.assertEqual([m.job_id for m in pick(ms, 40)], [m.job_id for m in a])
        self.assertEqual(len({m.file for m in a}), 5)
        self.assertEqual(pick(ms, 500), ms)

    def test_unit_tests_of_the_mutated_file_first(self):
        first, rest = suite.unit_test_modules("tdx/emu/vmcall.py")
        self.assertIn("tdx.tests.test_emu_vmcall", first)
        self.assertNotIn("tdx.tests.test_emu_vmcall", rest)
        self.assertTrue(rest)
        self.assertEqual(sorted(first + rest), sorted(suite.unit_test_modules(None)[1]))

    def test_suite_modules_discovered(self):
        self.assertIn("tdx.x86_64.td_lifecycle", suite.x86_64_modules())
        self.assertFalse(any(m.split(".")[-1].startswith("_") for m in suite.x86_64_modules()))


STATEMENTS = """\
import functools


@functools.lru_cache(maxsize=
                     8)
def f(a, b=3):
    if (a > 1 and
            b < 2):
        return 1
    if a: return 2
    x = g(a,
          b)
    return x
"""


class CoverageMapRules(unittest.TestCase):
    """coverage_map.CoverageMap on a given map: which lines a mutant's
    statement spans, and which modules it runs (none: no run; None: all)."""

    def setUp(self):
        from tdx.mutate import coverage_map
        self.root = tempfile.mkdtemp(prefix="test-covmap-")
        self.addCleanup(shutil.rmtree, self.root)
        os.makedirs(os.path.join(self.root, "tdx", "emu"))
        with open(os.path.join(self.root, "tdx", "emu", "m.py"), "w") as f:
            f.write(STATEMENTS)
        self.coverage_map = coverage_map

    def make(self, by_release, shared=()):
        return self.coverage_map.CoverageMap(self.root, by_release, set(shared))

    def test_statement_lines(self):
        cmap = self.make({})
        span = lambda line: list(cmap.statement_lines("tdx/emu/m.py", line, 8))
        self.assertEqual(span(4), [4, 5, 6])        # decorator arguments: decorators through `def`
        self.assertEqual(span(6), [4, 5, 6])        # a default: the header, not the body
        self.assertEqual(span(8), [7, 8])           # the second line of an `if` test
        self.assertEqual(span(9), [9])              # inside the body: its own statement
        self.assertEqual(span(10), [10])            # `if a: return 2` on one line
        self.assertEqual(span(12), [11, 12])        # a call's arguments on the next line
        self.assertEqual(span(13), [13])

    def test_select(self):
        e = lambda *lines: {("tdx/emu/m.py", n) for n in lines}
        cmap = self.make({"7.3": {"tdx.x86_64.a": e(7, 9), "tdx.x86_64.b": e(12)},
                          "6.16": {"tdx.x86_64.a": e(11), "tdx.x86_64.c": e(13)}},
                         shared=e(7, 9, 11, 12, 13, 10))
        self.assertEqual(cmap.select("tdx/emu/m.py", 8, 8), {"7.3": ["tdx.x86_64.a"]})
        self.assertEqual(cmap.select("tdx/emu/m.py", 12, 8), {"7.3": ["tdx.x86_64.b"],
                                                              "6.16": ["tdx.x86_64.a"]})
        self.assertEqual(cmap.select("tdx/emu/m.py", 13, 4), {"6.16": ["tdx.x86_64.c"]})
        # Executed by no module alone but by the suite in one process: all of it.
        self.assertIsNone(cmap.select("tdx/emu/m.py", 10, 4))
        # Executed by nothing: no module to run.
        self.assertEqual(cmap.select("tdx/emu/m.py", 1, 0), {})

    def test_suite_selection_file(self):
        path = os.path.join(self.root, "sel.json")
        with open(path, "w") as f:
            json.dump({"7.3": ["tdx.x86_64.a"], "6.16": []}, f)
        self.assertEqual(suite.read_selection(path), {"7.3": {"tdx.x86_64.a"}, "6.16": set()})
        for text in ("[1]", "{\"7.3\": \"tdx.x86_64.a\"}", "{"):
            with open(path, "w") as f:
                f.write(text)
            with self.assertRaises(SystemExit) as cm:
                suite.read_selection(path)
            self.assertIn("--select", str(cm.exception))

    @requires_cosmic_ray
    def test_usage_error_is_no_verdict(self):
        """A test command that refuses its arguments (exit 2) is a worker
        error, never a killed mutant; exit 1 is a kill, 0 a survivor."""
        from tdx.mutate import worker
        for status, outcome in ((0, "survived"), (1, "killed"), (2, "error"), (3, "killed")):
            with self.subTest(status=status):
                got, _ = worker.run_command([sys.executable, "-c", "raise SystemExit(%d)" % status], 60)
                self.assertEqual(got, outcome)

    def test_suite_bad_selection_exits_2(self):
        """tdx.mutate.suite refuses a bad --select in one line with exit 2 (no verdict)."""
        path = os.path.join(self.root, "bad.json")
        with open(path, "w") as f:
            f.write("[1]")
        p = subprocess.run([sys.executable, "-m", "tdx.mutate.suite", "--select", path],
                           env=dict(os.environ, PYTHONPATH=os.path.dirname(PACKAGE)), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("--select %s" % path, p.stderr)

    def test_plan_runs_every_module_first_then_x86_64_per_release(self):
        from tdx.lib.generations import FIRST, NEWEST
        plan = suite.plan("%s,%s" % (NEWEST, FIRST))
        self.assertEqual([r for r, _ in plan], [NEWEST, FIRST])
        self.assertEqual(sorted(plan[0][1]), sorted(suite.x86_64_modules() + suite.unit_test_modules(None)[1]))
        self.assertEqual(plan[1][1], suite.x86_64_modules())


class Usage(unittest.TestCase):
    def run_tool(self, *args, prelude=""):
        code = prelude + "import sys; from tdx.mutate.__main__ import main; sys.exit(main(sys.argv[1:]))"
        p = subprocess.run([sys.executable, "-c", code] + list(args),
                           env=dict(os.environ, PYTHONPATH=os.path.dirname(PACKAGE)),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def test_bad_options(self):
        for args in (["--sample", "0"], ["--jobs", "-1"], ["--kernels", "5.10"], ["--bogus"]):
            with self.subTest(args=args):
                rc, out, err = self.run_tool(*args, prelude="import sys; sys.modules['cosmic_ray'] = "
                                                            "type(sys)('cosmic_ray'); ")
                self.assertEqual(rc, 2, err)
                self.assertNotIn("Traceback", err)

    def test_without_cosmic_ray(self):
        rc, out, err = self.run_tool(prelude="import sys; sys.modules['cosmic_ray'] = None; ")
        self.assertEqual(rc, 2)
        self.assertIn("cosmic-ray is not installed", err)
        self.assertEqual(len(err.strip().splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
