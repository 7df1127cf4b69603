# SPDX-License-Identifier: GPL-2.0-only
"""The whole suite, as `make run_tests` runs it, on the emulated platform.

Every x86_64 module must pass here (0 not ok), the document must satisfy the
strict in-repo KTAP checker and parse with tap.py, and -j2 must give the same
leaves as -j1.  The kselftest form is checked the same way.  The whole suite
also runs on the baseline host path and against every kernel release the
model plays (TDX_EMU_KERNEL, docs/generations.md).
"""

import os
import re
import subprocess
import sys
import unittest

from tdx.lib import generations
from tdx.lib.testcase import EXPECTED_SKIPS
from tdx.tests import ktap_check
from tdx.tests.ktap_consumers import SUCCESS, kunit, linaro_tree
from tdx.tests.test_driver import env, tappy
from tdx.tests.support import requires_kvm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def unexpected(out):
    """Result lines that must not appear: any not ok, and skips other than the
    ones a case declares for a platform or kernel that lacks what it checks
    (tdx.lib.testcase.EXPECTED_SKIPS)."""
    bad = []
    for line in out.splitlines():
        if "not ok" in line:
            bad.append(line)
        elif "# SKIP" in line:
            reason = line.split("# SKIP", 1)[1].strip()
            if not reason.startswith(EXPECTED_SKIPS):
                bad.append(line)
    return bad


def run_suite(*args, **extra_env):
    p = subprocess.run([sys.executable, "-m", "tdx.runner", "--platform", "emulated", *args],
                       env=env(**extra_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=600, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


@requires_kvm
class WholeSuite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rc, cls.out, cls.err = run_suite("-j2")

    def leaves(self, text):
        return [re.sub(r"^\s+", "", l) for l in text.splitlines() if re.match(r"\s+(not )?ok \d", l)]

    def test_all_pass(self):
        not_ok = unexpected(self.out)
        self.assertEqual(not_ok, [], self.err[-3000:])
        self.assertEqual(self.rc, 0, self.err[-3000:])
        self.assertIn("# platform: emulated", self.out)

    def test_every_module_ran(self):
        modules = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "tdx", "x86_64"))
                         if f.endswith(".py") and not f.startswith("__"))
        top = re.findall(r"^ok \d+ (\S+)", self.out, re.M)
        self.assertEqual(sorted(top), modules)

    def test_ktap_well_formed(self):
        self.assertEqual(ktap_check.check(self.out), [])
        tests, plans = tappy(self.out)
        self.assertTrue(tests)
        self.assertTrue(all(t.ok for t in tests))
        # kunit_parser's rules: the same modules and leaves, all passed.
        root, errors = kunit(self.out)
        self.assertEqual(errors, [])
        want, leaves = [], []
        for line in self.out.splitlines():
            m = re.match(r"( *)ok \d+ (\S+)", line)
            if m and m.group(1):
                leaves.append((1, m.group(2)))
            elif m:
                want += [(0, m.group(2))] + leaves
                leaves = []
        self.assertEqual([(d, n) for d, n, _ in root.flat()], want)
        # Skips: only the declared ones (test_all_pass), which kunit_parser reads as SKIPPED.
        self.assertEqual({s for _, _, s in root.flat()} - {"SKIPPED"}, {SUCCESS})

    def test_jobs_do_not_change_leaves(self):
        rc, out, err = run_suite("-j1")
        self.assertEqual(rc, 0, err[-3000:])
        self.assertEqual(self.leaves(out), self.leaves(self.out))

    def test_kselftest_format(self):
        rc, out, err = run_suite("-j2", "--format", "kselftest")
        self.assertEqual(rc, 0, err[-3000:])
        tests, _ = tappy(out)
        self.assertTrue(tests and all(t.ok for t in tests))
        # run_kselftest.sh's form: children prefixed "# ", result lines named "selftests: tdx: <module>"
        self.assertTrue(re.search(r"^ok 1 selftests: tdx: \w+", out, re.M), out[:2000])
        self.assertTrue(re.search(r"^# ok 1 \w+\.test_", out, re.M))
        # LKFT's `# `-nesting: every leaf under its module, nothing invented, all pass.
        flat = linaro_tree(out).flat()
        self.assertEqual(len(flat), len(re.findall(r"^(# )?ok \d+ ", out, re.M)))
        self.assertEqual({r for _, r in flat} - {"skip"}, {"pass"})


@requires_kvm
class WholeSuiteBaselineHost(unittest.TestCase):
    """The whole suite on the baseline host path (TDX_EMU_HOST=baseline): the
    model's guest_memfd and instruction fetch whatever this host has, with
    TDCALL arriving both ways (INTERNAL_ERROR trap, #UD doorbell)."""

    def check(self, **extra_env):
        rc, out, err = run_suite("-j2", TDX_EMU_HOST="baseline", **extra_env)
        not_ok = unexpected(out)
        self.assertEqual(not_ok, [], err[-3000:])
        self.assertEqual(rc, 0, err[-3000:])
        self.assertIn("# tdx (emulated): host path: baseline (TDX_EMU_HOST=baseline)", out)
        self.assertIn("# tdx (emulated): host guest_memfd: not used (baseline), modelled", out)
        self.assertGreater(len(re.findall(r"^\s+ok \d+ ", out, re.M)), 100)

    def test_trap_exit(self):
        self.check()

    def test_ud_doorbell(self):
        self.check(TDX_EMU_TDCALL_TRAP="ud")


@requires_kvm
class WholeSuiteEveryGeneration(unittest.TestCase):
    """The whole suite against every release the model plays (TDX_EMU_KERNEL;
    newest is WholeSuite's): 0 not ok under each, the header names the
    generation, and every case whose answer depends on the release says it
    applied the answer the table gives for that generation."""

    @classmethod
    def setUpClass(cls):
        from concurrent.futures import ThreadPoolExecutor
        releases = [g for g in generations.GENERATIONS if g != generations.NEWEST]
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = pool.map(lambda g: run_suite("-j1", TDX_EMU_KERNEL=g), releases)
            cls.runs = dict(zip(releases, runs))

    def test_all_pass(self):
        for release, (rc, out, err) in self.runs.items():
            with self.subTest(release=release):
                not_ok = unexpected(out)
                self.assertEqual(not_ok, [], err[-3000:])
                self.assertEqual(rc, 0, err[-3000:])
                self.assertGreater(len(re.findall(r"^\s+ok \d+ ", out, re.M)), 100)

    def test_header_names_the_generation(self):
        for release, (rc, out, err) in self.runs.items():
            with self.subTest(release=release):
                self.assertIn("# kernel generation: %s (from the emulated platform's TDX_EMU_KERNEL=%s;"
                              % (release, release), out)
                self.assertNotIn("disagrees", out)

    def test_cases_apply_the_generations_answer(self):
        for release, (rc, out, err) in self.runs.items():
            answers = dict(re.findall(r"# kernel answer for ([\w-]+): (newer|older) ", out))
            with self.subTest(release=release):
                self.assertEqual(set(answers), {c.key for c in generations.CHANGES if c.cases})
                for key, said in answers.items():
                    newer = generations.Generation(release, "test").newer(key)
                    self.assertEqual(said, "newer" if newer else "older", key)


if __name__ == "__main__":
    unittest.main()
