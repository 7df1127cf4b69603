# SPDX-License-Identifier: GPL-2.0-only
"""The library's speed as ratios against a C baseline run in the same invocation.

Absolute times on a shared CI VM whose KVM emulates CPL0 guest code
(docs/host-kvm.md §0) say little on their own; the same work done
by bench/baseline.c with raw ioctls, measured in rounds alternating with the
Python side on the same machine, turns them into ratios that can be compared
across machines and across commits.  Nothing here asserts on a time: this is a report, not a test.

Rows (each the median of N samples, with p10..p90):
- plain-VM lifecycle: create VM, one vCPU, memslot, run to the first exit,
  close; raw tdx.lib.kvm wrappers, and the library's full path
  td.create_guest(shape="default") -> run_until_done() -> close;
- KVM_RUN round trip: Vcpu.run() (watchdog arming included) on an
  `out; jmp` loop, per exit;
- TD lifecycle on the emulated platform: create_guest(shape="tdx") through
  finalize, run to GUEST_DONE, destroy; against the C plain-VM lifecycle
  (C has no TD to build on this machine, so the ratio is "what a TD costs us
  compared with the cheapest VM anyone can make");
- start-up: a fresh interpreter importing tdx.lib.kvm, against a fresh C
  process that opens /dev/kvm.
"""

import argparse
import json
import os
import platform as _py_platform
import re
import subprocess
import sys
import time
from collections import namedtuple

from tdx.bench import history

DEFAULT_N = 30          # a whole bench in ~20-30 s on the 2-CPU dev VM
DEFAULT_EXITS = 20000
WARMUP = 3              # untimed iterations before a side's first round
GROUPS = ("lifecycle", "roundtrip", "td", "import")
EXIT_SKIP = 4           # kselftest's skip code: /dev/kvm unusable

GUEST_IMAGE = "td_lifecycle"
GUEST_ENTRY = "guest_done"

# The raw guest, identical to baseline.c's: four bytes at the reset vector
# (a fresh vCPU starts in real mode at GPA 0xfffffff0), in a 2 MiB slot
# ending at 4 GiB.
SLOT_SIZE = 2 << 20
SLOT_GPA = (1 << 32) - SLOT_SIZE
RESET_OFFSET = SLOT_SIZE - 16
GUEST_PORT = 0x10
GUEST_CODE = bytes((0xE6, GUEST_PORT, 0xEB, 0xFC))     # 1: out %al, $0x10; jmp 1b

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BenchError(Exception):
    """The bench cannot run (message says why); exit status 1."""


class BenchSkip(Exception):
    """/dev/kvm is unusable here; exit status 4."""


# -- statistics ---------------------------------------------------------------

Stats = namedtuple("Stats", "n median p10 p90")


def percentile(values, q):
    """The q-quantile (0 <= q <= 1) of `values`, interpolating linearly
    between closest ranks, so that p50 of an even count is the usual median."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 1:
        raise ValueError("quantile %r outside 0..1" % (q,))
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(samples, scale=1.0):
    """Stats of `samples`, each multiplied by `scale` (e.g. ns -> us: 1e-3)."""
    values = [v * scale for v in samples]
    return Stats(len(values), percentile(values, 0.5), percentile(values, 0.1), percentile(values, 0.9))


class Row:
    """One line of the report: Python against C, or a note instead of numbers."""

    def __init__(self, key, name, py=None, c=None, note=None):
        self.key = key
        self.name = name
        self.py = py
        self.c = c
        self.note = note

    @property
    def ratio(self):
        if self.py is None or self.c is None or self.c.median <= 0:
            return None
        return self.py.median / self.c.median


# -- arguments ----------------------------------------------------------------

def _positive_int(text):
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError("%r is not a whole number" % (text,))
    if value < 1:
        raise argparse.ArgumentTypeError("%d: must be at least 1" % value)
    return value


def _groups(text):
    names = [g.strip() for g in text.split(",") if g.strip()]
    bad = [g for g in names if g not in GROUPS]
    if bad or not names:
        raise argparse.ArgumentTypeError("%r: expected a comma-separated subset of %s"
                                         % (text, ",".join(GROUPS)))
    return tuple(g for g in GROUPS if g in names)


def parse_args(argv=None, environ=None):
    """Options; --n defaults to $BENCH_N, then DEFAULT_N.  Bad values exit 2 (argparse)."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python3 -m tdx.bench",
        description="tdx-selftests benchmark: Python library vs. a C baseline, as ratios.")
    parser.add_argument("--n", type=_positive_int, default=None,
                        help="samples per row (default: $BENCH_N, else %d)" % DEFAULT_N)
    parser.add_argument("--exits", type=_positive_int, default=DEFAULT_EXITS,
                        help="KVM_RUN round trips per round-trip sample (default %d)" % DEFAULT_EXITS)
    parser.add_argument("--rows", type=_groups, default=GROUPS,
                        help="which rows: comma-separated subset of %s (default all)" % ",".join(GROUPS))
    parser.add_argument("--baseline", metavar="PATH",
                        help="the C baseline binary (default: $TDX_OUTPUT/bench/baseline, "
                             "then bench/baseline in the package)")
    parser.add_argument("--json", action="store_true",
                        help="also print a one-line JSON summary, compare the ratios with the last "
                             "recorded run and record this one (bench/README, History)")
    parser.add_argument("--history", metavar="FILE",
                        help="with --json: the history file (default: $TDX_OUTPUT/bench/%s)"
                             % history.FILE_NAME)
    args = parser.parse_args(argv)
    if args.n is None:
        env_n = environ.get("BENCH_N", "").strip()
        if env_n:
            try:
                args.n = _positive_int(env_n)
            except argparse.ArgumentTypeError as e:
                parser.error("BENCH_N=%s" % e)
        else:
            args.n = DEFAULT_N
    return args


# -- the C side ---------------------------------------------------------------

def find_baseline(path=None, environ=None):
    environ = os.environ if environ is None else environ
    if path:
        candidates = [path]
    else:
        candidates = []
        if environ.get("TDX_OUTPUT"):
            candidates.append(os.path.join(environ["TDX_OUTPUT"], "bench", "baseline"))
        candidates.append(os.path.join(PACKAGE_DIR, "bench", "baseline"))
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    raise BenchError("C baseline not built (looked for %s); run make bench" % ", ".join(candidates))


class Baseline:
    """bench/baseline.c, run as a child process; samples come back in ns."""

    def __init__(self, path):
        self.path = path

    def _run(self, *args):
        proc = subprocess.run([self.path] + [str(a) for a in args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True)
        if proc.returncode == EXIT_SKIP:
            raise BenchSkip(proc.stderr.strip() or "C baseline: /dev/kvm unusable")
        if proc.returncode != 0:
            raise BenchError("%s %s: exit %d: %s" % (self.path, args[0], proc.returncode, proc.stderr.strip()))
        fields = proc.stdout.split()
        if not fields or fields[0] != args[0]:
            raise BenchError("%s %s: unexpected output %r" % (self.path, args[0], proc.stdout[:200]))
        return [int(v) for v in fields[1:]]

    def lifecycle(self, n):
        return self._run("lifecycle", n, WARMUP)

    def roundtrip(self, n, exits):
        return self._run("roundtrip", n, exits, WARMUP)

    def startup_command(self):
        return [self.path, "startup"]


# -- the Python side ----------------------------------------------------------

def _raw_vm(kvm):
    """The raw guest in a fresh VM, with the tdx.lib.kvm wrappers only; (vm, vcpu)."""
    vm = kvm.create_vm()
    try:
        mem = vm.alloc(SLOT_SIZE)
        mem.write(RESET_OFFSET, GUEST_CODE)
        vm.set_user_memory_region(0, 0, SLOT_GPA, SLOT_SIZE, mem.addr)
        vcpu = vm.create_vcpu(0)
    except BaseException:
        vm.close()
        raise
    return vm, vcpu


def _expect_out(vcpu, reason):
    from tdx.lib import abi
    if reason != abi.KVM_EXIT_IO or vcpu.kvm_run.io.port != GUEST_PORT:
        raise BenchError("raw guest: expected KVM_EXIT_IO on port 0x%x, got exit %d" % (GUEST_PORT, reason))


def lifecycle_raw(kvm, n, warmup=WARMUP):
    """ns per create VM .. first exit .. close, raw wrappers."""
    samples = []
    clock = time.perf_counter_ns
    for i in range(warmup + n):
        start = clock()
        vm, vcpu = _raw_vm(kvm)
        try:
            # Checked before close(): kvm_run is unmapped with the vCPU.
            _expect_out(vcpu, vcpu.run())
        finally:
            vm.close()
        end = clock()
        if i >= warmup:
            samples.append(end - start)
    return samples


def lifecycle_guest(kvm, image, n, shape="default", warmup=WARMUP):
    """ns per create_guest -> run_until_done -> close: {"total", "setup", "run", "close": list}."""
    from tdx.lib import td
    out = {"total": [], "setup": [], "run": [], "close": []}
    clock = time.perf_counter_ns
    for i in range(warmup + n):
        t0 = clock()
        gvm = td.create_guest(kvm, image, GUEST_ENTRY, shape=shape)
        try:
            t1 = clock()
            gvm.vcpus[0].run_until_done()
            t2 = clock()
        finally:
            gvm.close()
        t3 = clock()
        if i >= warmup:
            out["total"].append(t3 - t0)
            out["setup"].append(t1 - t0)
            out["run"].append(t2 - t1)
            out["close"].append(t3 - t2)
    return out


def roundtrip(kvm, n, exits, warmup=WARMUP):
    """ns per sample of `exits` KVM_RUNs on the out/jmp loop: {"full": Vcpu.run(), "bare": ioctl}.

    "bare" is the same loop through HostSystem.ioctl, to tell the cost of
    the ioctl binding from that of arming the watchdog per KVM_RUN; it is
    still guarded, by one watchdog deadline around the whole sample.
    """
    from tdx.lib import abi, watchdog
    io = abi.KVM_EXIT_IO
    clock = time.perf_counter_ns
    timeout = watchdog.default_timeout()
    vm, vcpu = _raw_vm(kvm)
    try:
        run = vcpu.run
        for _ in range(warmup + 1):     # the first exit also faults in guest memory
            _expect_out(vcpu, run())
        ioctl, fd, kvm_run, request = vcpu.system.ioctl, vcpu.fd, vcpu.kvm_run, abi.KVM_RUN
        out = {"full": [], "bare": []}
        for _ in range(n):
            start = clock()
            for _ in range(exits):
                if run() != io:
                    break
            end = clock()
            _expect_out(vcpu, kvm_run.exit_reason)
            out["full"].append(end - start)
            armed = watchdog.WATCHDOG.arm(kvm_run, timeout)
            try:
                start = clock()
                for _ in range(exits):
                    ioctl(fd, request, 0)
                end = clock()
            except OSError as e:
                raise BenchError("bare KVM_RUN loop: %s%s" % (e, " (watchdog)" if armed.expired else ""))
            finally:
                watchdog.WATCHDOG.disarm(armed)
                kvm_run.immediate_exit = 0
            _expect_out(vcpu, kvm_run.exit_reason)
            out["bare"].append(end - start)
    finally:
        vm.close()
    return out


def _short(exc):
    text = str(exc).strip().splitlines()
    text = text[0] if text else ""
    text = "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def open_emulated():
    """(Kvm on the emulated platform, None), or (None, why it cannot be had)."""
    from tdx.lib import platform
    from tdx.lib.kvm import Kvm
    try:
        plat = platform.select("emulated")
        if not plat.available:
            return None, plat.reason
        return Kvm(plat.system), None
    except Exception as e:      # the model may be mid-change: any failure means "not there"
        return None, _short(e)


# -- start-up -----------------------------------------------------------------

def _child_env():
    env = dict(os.environ)
    parent = os.path.dirname(PACKAGE_DIR)
    env["PYTHONPATH"] = parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _wall_ns(cmd, env):
    start = time.perf_counter_ns()
    try:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BenchError("%s: still running after %d s" % (" ".join(cmd), CHILD_TIMEOUT))
    end = time.perf_counter_ns()
    if proc.returncode != 0:
        raise BenchError("%s: exit %d: %s" % (" ".join(cmd), proc.returncode,
                                              proc.stderr.decode(errors="replace").strip()[-300:]))
    return end - start


# A start-up child runs no guest; this only bounds a broken interpreter.
CHILD_TIMEOUT = 60
IMPORTTIME_LINE = re.compile(r"^import time:\s*(\d+)\s*\|\s*(\d+)\s*\|(\s*)(\S+)\s*$")


def parse_importtime(text, modules):
    """{module: cumulative us} from `python3 -X importtime` stderr."""
    found = {}
    for line in text.splitlines():
        m = IMPORTTIME_LINE.match(line)
        if m and m.group(4) in modules:
            found[m.group(4)] = int(m.group(2))
    return found


def startup(baseline, n):
    """Samples in ns: {"bare", "import", "net", "c", "tdx.lib", "tdx.lib.kvm"}.

    The commands are interleaved, one of each per round, so that drift on a
    busy machine hits all of them alike; "net" pairs each import with the
    bare interpreter of the same round.
    """
    env = _child_env()
    exe = sys.executable
    bare = [exe, "-c", "pass"]
    imp = [exe, "-c", "import tdx.lib.kvm"]
    itime = [exe, "-X", "importtime", "-c", "import tdx.lib.kvm"]
    c = baseline.startup_command()
    modules = ("tdx.lib", "tdx.lib.kvm")
    out = {k: [] for k in ("bare", "import", "net", "c") + modules}
    for i in range(WARMUP + n):         # the warm-up also writes __pycache__
        b, m, s = _wall_ns(bare, env), _wall_ns(imp, env), _wall_ns(c, env)
        try:
            proc = subprocess.run(itime, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BenchError("%s: still running after %d s" % (" ".join(itime), CHILD_TIMEOUT))
        times = parse_importtime(proc.stderr, modules)
        if proc.returncode != 0 or set(times) != set(modules):
            raise BenchError("%s: exit %d, no import times for %s: %s"
                             % (" ".join(itime), proc.returncode, ", ".join(modules), proc.stderr[-300:]))
        if i < WARMUP:
            continue
        out["bare"].append(b)
        out["import"].append(m)
        out["net"].append(m - b)
        out["c"].append(s)
        for mod in modules:
            out[mod].append(times[mod] * 1000)
    return out


# -- the report ---------------------------------------------------------------

US = 1e-3       # ns -> us
ROUND = 5       # samples per side per round


def rounds(n, size=ROUND):
    """How N samples are split into rounds: [size, size, ..., rest]."""
    return [size] * (n // size) + ([n % size] if n % size else [])


def interleave(n, steps):
    """Take n samples of every step in rounds, C and Python alternating.

    steps: [(name, fn(k, warmup))]; fn takes k samples (after `warmup`
    untimed ones) and may return False to drop out.  On a shared CI machine
    the load drifts over seconds; measuring both sides in short alternating
    rounds, and flipping their order every round, makes the drift hit C
    and Python alike, so the ratio survives it even when absolute times
    do not.
    """
    active = list(steps)
    for index, k in enumerate(rounds(n)):
        warmup = WARMUP if index == 0 else 0
        order = active if index % 2 == 0 else active[::-1]
        for step in list(order):
            if step[1](k, warmup) is False:
                active.remove(step)


def _extend(samples, prefix, result):
    for key, values in result.items():
        samples.setdefault(prefix + key, []).extend(values)


def collect(args, kvm, baseline, log=None):
    """Run the selected rows; a list of Row."""
    from tdx.lib.guest import GuestImage, find_image
    log = log or (lambda msg: None)
    n = args.n
    rows = []
    samples = {}

    if "lifecycle" in args.rows or "td" in args.rows:
        # The C process is fresh every round, so it warms up every round.
        steps = [("c", lambda k, w: samples.setdefault("c", []).extend(baseline.lifecycle(k)))]
        image = GuestImage.load(find_image(GUEST_IMAGE))
        if "lifecycle" in args.rows:
            steps.append(("raw", lambda k, w: samples.setdefault("raw", []).extend(lifecycle_raw(kvm, k, w))))
            steps.append(("full", lambda k, w: _extend(samples, "full.", lifecycle_guest(kvm, image, k, warmup=w))))
        td_kvm, td_why = None, None
        if "td" in args.rows:
            td_kvm, td_why = open_emulated()
            if td_why:
                td_why = "emulated platform unavailable: %s" % td_why

            def td_step(k, w):
                nonlocal td_why
                try:
                    _extend(samples, "td.", lifecycle_guest(td_kvm, image, k, shape="tdx", warmup=w))
                except Exception as e:      # the model is young: report it, keep the other rows
                    what = "TD lifecycle failed" if "td.total" in samples else "emulated platform unavailable"
                    td_why = "%s: %s" % (what, _short(e))
                    samples.pop("td.total", None)
                    return False
            if td_kvm is not None:
                steps.append(("td", td_step))
        log("lifecycles: %s, %d samples each" % (", ".join(name for name, _ in steps), n))
        try:
            interleave(n, steps)
        finally:
            if td_kvm is not None:
                td_kvm.close()
        c = summarize(samples["c"], US)
        if "lifecycle" in args.rows:
            rows.append(Row("plain_vm_lifecycle_raw", "plain-VM lifecycle: raw tdx.lib.kvm",
                            summarize(samples["raw"], US), c))
            rows.append(Row("plain_vm_lifecycle_full",
                            "plain-VM lifecycle: create_guest(default)+run_until_done+close",
                            summarize(samples["full.total"], US), c))
            rows.append(Row("plain_vm_full_setup", "  create_guest(shape=default)",
                            summarize(samples["full.setup"], US)))
            rows.append(Row("plain_vm_full_run", "  run_until_done (boot stub, CPL0 emulated)",
                            summarize(samples["full.run"], US)))
            rows.append(Row("plain_vm_full_close", "  close", summarize(samples["full.close"], US)))
        if "td" in args.rows:
            name = "TD lifecycle (emulated): create..finalize+run+destroy"
            if td_why or "td.total" not in samples:
                rows.append(Row("td_lifecycle_emulated", name, None, c, note="n/a (%s)" % td_why))
            else:
                rows.append(Row("td_lifecycle_emulated", name, summarize(samples["td.total"], US), c))
                rows.append(Row("td_setup", "  create_guest(shape=tdx) through finalize",
                                summarize(samples["td.setup"], US)))
                rows.append(Row("td_run", "  run_until_done", summarize(samples["td.run"], US)))
                rows.append(Row("td_close", "  destroy", summarize(samples["td.close"], US)))

    if "roundtrip" in args.rows:
        log("KVM_RUN round trips: C, Vcpu.run(), bare ioctl; %d x %d exits each" % (n, args.exits))
        interleave(n, [
            ("c", lambda k, w: samples.setdefault("rt.c", []).extend(baseline.roundtrip(k, args.exits))),
            ("py", lambda k, w: _extend(samples, "rt.", roundtrip(kvm, k, args.exits, w))),
        ])
        per_exit = US / args.exits
        c = summarize(samples["rt.c"], per_exit)
        rows.append(Row("kvm_run_roundtrip", "KVM_RUN round trip, per exit: Vcpu.run() (%d exits/sample)"
                        % args.exits, summarize(samples["rt.full"], per_exit), c))
        rows.append(Row("kvm_run_roundtrip_no_watchdog", "  HostSystem.ioctl(KVM_RUN), no watchdog",
                        summarize(samples["rt.bare"], per_exit), c))

    if "import" in args.rows:
        log("start-up: %d fresh processes of each kind" % n)
        s = startup(baseline, n)
        c = summarize(s["c"], US)
        rows.append(Row("startup_import_kvm", "start-up: python3 -c 'import tdx.lib.kvm' vs C exec+open",
                        summarize(s["import"], US), c))
        rows.append(Row("startup_bare_python", "  bare python3 -c pass", summarize(s["bare"], US), c))
        rows.append(Row("import_kvm_net", "  import tdx.lib.kvm (wall, minus bare python3)",
                        summarize(s["net"], US), c))
        rows.append(Row("import_kvm_importtime", "  import tdx.lib.kvm (-X importtime, cumulative)",
                        summarize(s["tdx.lib.kvm"], US)))
        rows.append(Row("import_lib_importtime", "  import tdx.lib (-X importtime, cumulative)",
                        summarize(s["tdx.lib"], US)))
    return rows


def fmt_us(value):
    if value >= 100:
        return "%.0f" % value
    if value >= 10:
        return "%.1f" % value
    return "%.2f" % value


def _spread(stats):
    return "%s..%s" % (fmt_us(stats.p10), fmt_us(stats.p90))


def table(rows):
    from tabulate import tabulate
    body = []
    for row in rows:
        py = row.note if row.py is None else fmt_us(row.py.median)
        ratio = row.ratio
        body.append([row.name, py, "" if row.py is None else _spread(row.py),
                     "" if row.c is None else fmt_us(row.c.median), "" if row.c is None else _spread(row.c),
                     "" if ratio is None else "%.2fx" % ratio])
    # "us", not the micro sign: kernel CI logs are not always UTF-8.
    headers = ["row", "python median us", "p10..p90", "C median us", "p10..p90", "ratio"]
    options = dict(headers=headers, tablefmt="simple", disable_numparse=True,
                   colalign=("left", "right", "right", "right", "right", "right"))
    # Sub-rows are indented; tabulate strips that unless told not to, by an
    # argument since 0.10 and by a module flag before.
    try:
        return tabulate(body, preserve_whitespace=True, **options)
    except TypeError:
        import tabulate as module
        saved = module.PRESERVE_WHITESPACE
        module.PRESERVE_WHITESPACE = True
        try:
            return tabulate(body, **options)
        finally:
            module.PRESERVE_WHITESPACE = saved


def _stats_json(stats):
    if stats is None:
        return None
    return {"n": stats.n, "median": round(stats.median, 3), "p10": round(stats.p10, 3), "p90": round(stats.p90, 3)}


def summary_json(rows, args, seconds, stamp=None):
    """The run as one line of JSON; `stamp` (tdx.lib.provenance) says when and on which commit."""
    ratios = {}
    out = {"bench": "tdx-selftests", "unit": "us", "n": args.n, "exits": args.exits,
           "python": _py_platform.python_version(), "kernel": _py_platform.release(),
           "seconds": round(seconds, 2)}
    out.update(stamp or {})
    out["rows"] = ratios
    for row in rows:
        ratio = row.ratio
        ratios[row.key] = {"name": row.name.strip(), "python": _stats_json(row.py), "c": _stats_json(row.c),
                           "ratio": None if ratio is None else round(ratio, 3), "note": row.note}
    return json.dumps(out, separators=(",", ":"), sort_keys=False)


def _open_history(args, log):
    """(history path or None, last run recorded or None); read before the
    bench runs, so that an unreadable file costs no bench time."""
    if not args.json:
        return None, None
    path = args.history or history.default_path()
    if path is None:
        log("no history: TDX_OUTPUT is not set (--history FILE keeps one)")
        return None, None
    last, warnings = history.last_record(path)
    for warning in warnings:
        print("bench: %s" % warning, file=sys.stderr)
    return path, last


def _record(path, last, line):
    """Show how the ratios moved since the last run, then record this run."""
    print("ratios against the %s (%s):" % (history.describe(last), path))
    print(history.table(history.compare(json.loads(line), last)))
    history.append(path, line)


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()

    def log(msg):
        sys.stderr.write("  BENCH   %s\n" % msg)
        sys.stderr.flush()

    try:
        history_path, last = _open_history(args, log)
        baseline = Baseline(find_baseline(args.baseline))
        from tdx.lib.kvm import Kvm, KvmUnavailable
        try:
            kvm = Kvm()
        except KvmUnavailable as e:
            raise BenchSkip(str(e))
        try:
            rows = collect(args, kvm, baseline, log)
        finally:
            kvm.close()
    except BenchSkip as e:
        print("SKIP bench: %s" % e)
        return EXIT_SKIP
    except (BenchError, history.HistoryError) as e:
        print("bench: %s" % e, file=sys.stderr)
        return 1
    seconds = time.monotonic() - started
    print("tdx bench: N=%d samples per row, python %s, kernel %s, %.1f s"
          % (args.n, _py_platform.python_version(), _py_platform.release(), seconds))
    print(table(rows))
    status = 0
    if args.json:
        from tdx.lib.provenance import measured_at
        line = summary_json(rows, args, seconds, measured_at(PACKAGE_DIR))
        if history_path:
            try:
                _record(history_path, last, line)
            except history.HistoryError as e:
                print("bench: %s" % e, file=sys.stderr)
                status = 1
        # Last, so that scripts find the summary on the last line.
        print(line)
    sys.stdout.flush()
    return status
