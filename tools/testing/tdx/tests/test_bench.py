# SPDX-License-Identifier: GPL-2.0-only
"""tdx.bench: argument handling, the statistics, the report's shape, and that
`make bench` builds the C baseline and runs end to end.

No assertion here is about a time: a benchmark's numbers are a report, and a
timed assertion on a shared CI machine is a flaky test.
"""

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from tdx.bench import bench, history

TDX_DIR = Path(__file__).resolve().parents[1]


class Args(unittest.TestCase):
    def parse(self, argv, environ=None):
        return bench.parse_args(argv, environ={} if environ is None else environ)

    def rejected(self, argv, environ=None):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as cm:
            self.parse(argv, environ)
        self.assertEqual(cm.exception.code, 2)
        return err.getvalue()

    def test_defaults(self):
        args = self.parse([])
        self.assertEqual((args.n, args.exits, args.rows, args.json, args.baseline),
                         (bench.DEFAULT_N, bench.DEFAULT_EXITS, bench.GROUPS, False, None))

    def test_bench_n_from_environment(self):
        self.assertEqual(self.parse([], {"BENCH_N": "7"}).n, 7)
        self.assertEqual(self.parse([], {"BENCH_N": " "}).n, bench.DEFAULT_N)

    def test_option_beats_environment(self):
        self.assertEqual(self.parse(["--n", "3"], {"BENCH_N": "7"}).n, 3)

    def test_bad_counts(self):
        for argv in (["--n", "0"], ["--n", "-2"], ["--n", "x"], ["--exits", "0"], ["--n", "1.5"]):
            with self.subTest(argv=argv):
                self.rejected(argv)

    def test_bad_bench_n_names_the_variable(self):
        self.assertIn("BENCH_N", self.rejected([], {"BENCH_N": "many"}))
        self.assertIn("BENCH_N", self.rejected([], {"BENCH_N": "0"}))

    def test_rows_subset_in_report_order(self):
        self.assertEqual(self.parse(["--rows", "import,lifecycle"]).rows, ("lifecycle", "import"))
        self.assertEqual(self.parse(["--rows", " td "]).rows, ("td",))

    def test_bad_rows(self):
        self.assertIn("lifecycle,roundtrip,td,import", self.rejected(["--rows", "lifecycle,speed"]))
        self.rejected(["--rows", ","])

    def test_json_and_baseline(self):
        args = self.parse(["--json", "--baseline", "/x/baseline"])
        self.assertTrue(args.json)
        self.assertEqual(args.baseline, "/x/baseline")


class Statistics(unittest.TestCase):
    def test_percentile_interpolates(self):
        values = list(range(10, 0, -1))     # order must not matter
        self.assertEqual(bench.percentile(values, 0.5), 5.5)
        self.assertAlmostEqual(bench.percentile(values, 0.1), 1.9)
        self.assertAlmostEqual(bench.percentile(values, 0.9), 9.1)
        self.assertEqual(bench.percentile(values, 0), 1)
        self.assertEqual(bench.percentile(values, 1), 10)

    def test_odd_count_median_is_the_middle(self):
        self.assertEqual(bench.percentile([3, 100, 1], 0.5), 3)

    def test_single_sample(self):
        self.assertEqual(bench.summarize([42]), bench.Stats(1, 42, 42, 42))

    def test_summarize_scales(self):
        stats = bench.summarize([1000, 3000, 2000], bench.US)
        self.assertEqual(stats.n, 3)
        self.assertAlmostEqual(stats.median, 2.0)
        self.assertAlmostEqual(stats.p10, 1.2)
        self.assertAlmostEqual(stats.p90, 2.8)

    def test_errors(self):
        with self.assertRaises(ValueError):
            bench.percentile([], 0.5)
        with self.assertRaises(ValueError):
            bench.percentile([1], 1.5)

    def test_ratio(self):
        py, c = bench.Stats(5, 30.0, 1, 1), bench.Stats(5, 10.0, 1, 1)
        self.assertEqual(bench.Row("k", "n", py, c).ratio, 3.0)
        self.assertIsNone(bench.Row("k", "n", py).ratio)
        self.assertIsNone(bench.Row("k", "n", None, c, note="n/a (x)").ratio)


class Rounds(unittest.TestCase):
    def test_rounds_add_up(self):
        self.assertEqual(bench.rounds(12), [5, 5, 2])
        self.assertEqual(bench.rounds(10), [5, 5])
        self.assertEqual(bench.rounds(1), [1])

    def test_interleave_alternates_and_drops(self):
        calls = []

        def step(name, fail_at=None):
            def fn(k, warmup):
                calls.append((name, k, warmup))
                return False if len([c for c in calls if c[0] == name]) == fail_at else None
            return name, fn

        bench.interleave(12, [step("c"), step("py"), step("td", fail_at=2)])
        self.assertEqual(calls, [("c", 5, bench.WARMUP), ("py", 5, bench.WARMUP), ("td", 5, bench.WARMUP),
                                 ("td", 5, 0), ("py", 5, 0), ("c", 5, 0),
                                 ("c", 2, 0), ("py", 2, 0)])


class Report(unittest.TestCase):
    IMPORTTIME = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:      1453 |      41031 | site\n"
        "import time:        60 |         60 |     tdx\n"
        "import time:       172 |        356 |   tdx.lib\n"
        "import time:      4737 |       5917 |   tdx.lib.abi\n"
        "import time:      5073 |      14071 | tdx.lib.kvm\n")

    def test_parse_importtime(self):
        self.assertEqual(bench.parse_importtime(self.IMPORTTIME, ("tdx.lib", "tdx.lib.kvm")),
                         {"tdx.lib": 356, "tdx.lib.kvm": 14071})

    def rows(self):
        c = bench.Stats(3, 500.0, 450.0, 600.0)
        return [bench.Row("life", "lifecycle", bench.Stats(3, 1000.0, 900.0, 1100.0), c),
                bench.Row("life_setup", "  setup", bench.Stats(3, 7.25, 7.0, 8.0)),
                bench.Row("td", "TD lifecycle", None, c, note="n/a (emulated platform unavailable: why)")]

    def test_table(self):
        lines = bench.table(self.rows()).splitlines()
        self.assertIn("ratio", lines[0])
        self.assertRegex(lines[2], r"^lifecycle\s+1000\s+900\.\.1100\s+500\s+450\.\.600\s+2\.00x$")
        self.assertTrue(lines[3].startswith("  setup "), "sub-rows keep their indent")
        self.assertIn("n/a (emulated platform unavailable: why)", lines[4])

    def test_json_is_one_line(self):
        args = bench.parse_args([], environ={})
        text = bench.summary_json(self.rows(), args, 1.5)
        self.assertNotIn("\n", text)
        data = json.loads(text)
        self.assertEqual(data["rows"]["life"]["ratio"], 2.0)
        self.assertEqual(data["rows"]["life_setup"]["name"], "setup")
        self.assertIsNone(data["rows"]["td"]["python"])
        self.assertEqual(data["rows"]["td"]["c"]["median"], 500.0)


def record(ratios, **extra):
    """A history line: {row key: ratio or None}."""
    rows = {key: {"name": key.replace("_", " "), "ratio": ratio} for key, ratio in ratios.items()}
    return json.dumps(dict(extra, bench="tdx-selftests", rows=rows))


class History(unittest.TestCase):
    """--json history mechanics: where the file is, reading the last run,
    comparing ratios, appending.  No time is measured here."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = Path(tmp.name)
        self.path = str(self.dir / "out" / "bench" / history.FILE_NAME)

    def test_default_path_is_under_the_build_output(self):
        self.assertEqual(history.default_path({"TDX_OUTPUT": "/b"}), "/b/bench/history.jsonl")
        self.assertIsNone(history.default_path({}))

    def test_first_run_has_nothing_to_compare(self):
        self.assertEqual(history.last_record(self.path), (None, []))
        current = json.loads(record({"a": 2.0, "b": None}))
        self.assertEqual(history.compare(current, None), [("a", 2.0, None, None, "")])
        self.assertIn("new", history.table(history.compare(current, None)))
        self.assertEqual(history.describe(None), "no earlier run recorded")

    def test_append_creates_the_directory_and_adds_lines(self):
        history.append(self.path, record({"a": 1.0}, date="d1") + "\n")
        history.append(self.path, record({"a": 3.0}, date="d2"))
        lines = Path(self.path).read_text().splitlines()
        self.assertEqual([json.loads(line)["date"] for line in lines], ["d1", "d2"])
        last, warnings = history.last_record(self.path)
        self.assertEqual((last["date"], last["rows"]["a"]["ratio"], warnings), ("d2", 3.0, []))

    def test_regression_flag_at_its_edge(self):
        last = json.loads(record({"same": 1.0, "edge": 1.0, "worse": 1.0, "better": 2.0, "gone": 1.0},
                                 date="2026-12-05 21:00 UTC", commit="abc"))
        current = json.loads(record({"same": 1.0, "edge": 1.1, "worse": 1.1001, "better": 1.0,
                                     "fresh": 4.0}))
        got = {name: (before, flag) for name, now, before, change, flag in history.compare(current, last)}
        self.assertEqual(got, {"same": (1.0, ""), "edge": (1.0, ""), "worse": (1.0, "REGRESSION"),
                               "better": (2.0, ""), "fresh": (None, "")})
        text = history.table(history.compare(current, last))
        self.assertRegex(text, r"worse\s+1\.10x\s+1\.00x\s+\+10%\s+REGRESSION")
        self.assertRegex(text, r"better\s+1\.00x\s+2\.00x\s+-50%")
        self.assertEqual(history.describe(last), "last run: 2026-12-05 21:00 UTC, abc")

    def test_bad_lines_are_skipped_with_a_warning(self):
        os.makedirs(os.path.dirname(self.path))
        Path(self.path).write_text(record({"a": 1.5}, date="good") + "\n\n{truncated\n[1, 2]\n"
                                   '{"rows": 3}\n')
        last, warnings = history.last_record(self.path)
        self.assertEqual(last["date"], "good")
        self.assertEqual(warnings, ["%s:%d: not a bench record; skipped" % (self.path, n) for n in (3, 4, 5)])

    def test_unreadable_and_unwritable_are_one_line(self):
        os.makedirs(self.path)          # a directory where the file should be
        for call in (lambda: history.last_record(self.path), lambda: history.append(self.path, "{}")):
            with self.assertRaises(history.HistoryError) as cm:
                call()
            self.assertNotIn("\n", str(cm.exception))
            self.assertIn(self.path, str(cm.exception))

    def test_main_refuses_an_unreadable_history_before_running(self):
        os.makedirs(self.path)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                mock.patch.object(bench, "collect", side_effect=AssertionError("bench ran")):
            code = bench.main(["--json", "--history", self.path])
        self.assertEqual((code, out.getvalue()), (1, ""))
        self.assertRegex(err.getvalue(), r"^bench: .*history\.jsonl: cannot read: .*\n$")

    def test_record_compares_then_appends(self):
        history.append(self.path, record({"a": 1.0}, date="before"))
        last, _ = history.last_record(self.path)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            bench._record(self.path, last, record({"a": 1.2}, date="now"))
        self.assertIn("ratios against the last run: before (%s)" % self.path, out.getvalue())
        self.assertRegex(out.getvalue(), r"a\s+1\.20x\s+1\.00x\s+\+20%\s+REGRESSION")
        self.assertEqual(history.last_record(self.path)[0]["date"], "now")


class Main(unittest.TestCase):
    def run_main(self, argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = bench.main(argv)
        return code, out.getvalue(), err.getvalue()

    def test_missing_baseline(self):
        code, out, err = self.run_main(["--baseline", "/nonexistent/baseline"])
        self.assertEqual(code, 1)
        self.assertIn("run make bench", err)

    def test_skip_without_kvm(self):
        from tdx.lib import kvm
        with tempfile.TemporaryDirectory() as tmp:
            fake = Path(tmp, "baseline")
            fake.write_text("#!/bin/sh\nexit 4\n")
            fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
            with mock.patch.object(kvm, "Kvm", side_effect=kvm.KvmUnavailable("/dev/kvm: no such device")):
                code, out, err = self.run_main(["--baseline", str(fake)])
        self.assertEqual(code, bench.EXIT_SKIP)
        self.assertEqual(out, "SKIP bench: /dev/kvm: no such device\n")


@unittest.skipUnless(shutil.which("make") and shutil.which("gcc"), "make and gcc needed")
class MakeBench(unittest.TestCase):
    """`make bench` with a tiny N: builds $(OUTPUT)/bench/baseline and reports every row.

    Under `make check` TDX_OUTPUT is the build directory, whose guest images
    are already up to date; run directly, it builds into a scratch directory
    rather than into the source tree.
    """

    def test_make_bench(self):
        with tempfile.TemporaryDirectory() as tmp:
            output = os.environ.get("TDX_OUTPUT") or tmp
            proc = subprocess.run(
                ["make", "-s", "--no-print-directory", "-C", str(TDX_DIR), "OUTPUT=%s" % output, "bench",
                 "BENCH_N=1", "BENCH_ARGS=--json --exits 200 --history %s/h.jsonl" % tmp],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
            recorded = Path(tmp, "h.jsonl").read_text().splitlines() if Path(tmp, "h.jsonl").exists() else []
            baseline = Path(output, "bench", "baseline")
            self.assertTrue(baseline.is_file() and os.access(str(baseline), os.X_OK),
                            "make bench did not build %s: %s" % (baseline, proc.stderr[-2000:]))
        if "SKIP bench:" in proc.stdout:
            self.skipTest(proc.stdout.strip().splitlines()[-1])
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertEqual(summary["n"], 1)
        for key in ("plain_vm_lifecycle_raw", "plain_vm_lifecycle_full", "kvm_run_roundtrip",
                    "td_lifecycle_emulated", "startup_import_kvm", "import_lib_importtime"):
            self.assertIn(key, summary["rows"])
        self.assertIsNotNone(summary["rows"]["plain_vm_lifecycle_raw"]["ratio"])
        self.assertEqual([json.loads(line) for line in recorded], [summary], "the run is recorded as printed")
        self.assertIn("ratios against the no earlier run recorded", proc.stdout)


if __name__ == "__main__":
    unittest.main()
