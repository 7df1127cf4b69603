# SPDX-License-Identifier: GPL-2.0-only
"""KTAP v1 output for one x86_64 module, and the unittest result that feeds it.

A test module ends with

    if __name__ == "__main__":
        ktap.main()

and `python3 -m tdx.x86_64.ghci_io` then prints a flat KTAP v1 document
(Documentation/dev-tools/ktap.rst, docs/ktap-kselftest.md §1):

    KTAP version 1
    1..3
    # platform: emulated
    ok 1 ghci_io.test_out_sizes
    # Traceback (most recent call last):
    # ...
    not ok 2 ghci_io.test_in_sizes
    ok 3 ghci_io.test_string_io # SKIP requires TDX: ...
    # Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0

and exits with the kselftest codes: 0 all passed (skips allowed), 1 any
failure, 4 everything skipped.

Choices that consumers force on us:
- Result names are `<module>.<case>` (the net selftests' convention) and never
  contain `#` or a line break: `#` starts the directive for every parser.
  Two classes defining the same case name get `<module>.<Class>.<case>`.
- Directives are upper case with spaces around `#` (`name # SKIP reason`):
  kunit_parser ignores `#SKIP` and treats `# skip` as a pass.
- unittest's expected failures are `ok N name # XFAIL reason`: KTAP lists
  XFAIL, kselftest.h emits exactly that, and parsers that do not know it
  (tap.py, kunit_parser, LKFT) still see a pass, which is what an expected
  failure is.  An unexpected success is `not ok N name # XPASS`, because
  unittest counts it as a failed run.
- Failures in setUpClass/setUpModule leave their tests unrun; each such test
  still gets `not ok N name # ERROR setUpClass failed` so the plan holds.
  A skip raised there makes each test `ok N name # SKIP reason`.  Errors with
  no test to blame (tearDownClass...) are diagnostics counted as `error`.
- Every line is flushed as it is written, so a module that crashes leaves
  whole lines for the driver.  Output a test prints to sys.stdout becomes
  `# ` diagnostics instead of breaking the stream.
"""

import argparse
import faulthandler
import fnmatch
import io
import re
import os
import signal
import sys
import threading
import time
import traceback
import unittest

VERSION_LINE = "KTAP version 1"

PASS, FAIL, SKIP, XFAIL, XPASS, TIMEOUT, ERROR = (
    "pass", "fail", "skip", "xfail", "xpass", "timeout", "error")

# (ok?, directive, Totals bucket) for each status.  FAIL carries no directive;
# its reason, if any, is free diagnostic data (`not ok 3 crash # exit=-11`).
_STATUS = {
    PASS: (True, None, "pass"),
    SKIP: (True, "SKIP", "skip"),
    XFAIL: (True, "XFAIL", "xfail"),
    FAIL: (False, None, "fail"),
    XPASS: (False, "XPASS", "xpass"),
    TIMEOUT: (False, "TIMEOUT", "fail"),
    ERROR: (False, "ERROR", "error"),
}
TOTALS_KEYS = ("pass", "fail", "xfail", "xpass", "skip", "error")

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 4
EXIT_USAGE = 2


class ConfigError(Exception):
    """The environment names something that does not exist (TDX_PLATFORM, TDX_EMU_FAULTS...)."""


def check_config():
    """Choose the platform before any case runs, so that a bad setting is one
    usage error instead of a traceback in every case."""
    try:
        from tdx.lib import platform
    except ModuleNotFoundError as e:
        if e.name in ("tdx.lib.platform", "tdx.lib", "tdx"):
            return
        raise
    from tdx.lib import environment
    try:
        environment.check()
        platform.current()
    except (platform.PlatformError, ValueError) as e:
        raise ConfigError(str(e)) from None


_LIB_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

# Third-party modules every test module imports (setup.cfg's install_requires):
# (import name, the package that provides it).  cffi itself is only needed
# where the generated ABI module (lib/_abi_ffi.py, made by `make`) is missing.
DEPENDENCIES = (("_cffi_backend", "cffi"), ("elftools", "pyelftools"))


def missing_dependencies():
    """The packages a test module needs that this Python cannot import."""
    import importlib.util
    wanted = list(DEPENDENCIES)
    output = os.environ.get("TDX_OUTPUT")
    if not os.path.exists(os.path.join(_LIB_DIR, "_abi_ffi.py")) and not (
            output and os.path.exists(os.path.join(output, "lib", "_abi_ffi.py"))):
        wanted.append(("cffi", "cffi"))
    missing = []
    for module, package in wanted:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found and package not in missing:
            missing.append(package)
    return missing


def project_venv_python():
    """The interpreter of the virtualenv `make` bootstraps (scripts/python.sh):
    $TDX_VENV, else <repository>/.venv; None when there is none."""
    venv = os.environ.get("TDX_VENV")
    if not venv:
        venv = os.path.join(os.path.dirname(_LIB_DIR.rstrip(os.sep)), os.pardir, os.pardir, os.pardir, ".venv")
    python = os.path.join(venv, "bin", "python3")
    return python if os.access(python, os.X_OK) else None


def _reexec_in_project_venv():
    """`cd tools/testing && python3 -m tdx.x86_64.<module>` after `make`: the
    packages are in the project's virtualenv, not in this python3; run the
    same command line again under that interpreter (once)."""
    python = project_venv_python()
    if python is None or os.environ.get("TDX_REEXEC"):
        return
    if os.path.abspath(os.path.dirname(os.path.dirname(python))) == os.path.abspath(sys.prefix):
        return                                  # already it
    argv = getattr(sys, "orig_argv", None)
    if not argv:
        try:
            with open("/proc/self/cmdline", "rb") as f:
                argv = [a.decode() for a in f.read().split(b"\0")[:-1]]
        except OSError:
            return
    os.environ["TDX_REEXEC"] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(python, [python] + list(argv[1:]))
    except OSError:
        pass                                    # then skip as below


def skip_if_missing_dependencies(prog):
    """Exit 4 with a one-line reason, as kselftest reports a missing dependency
    (drivers/net's lib/py does the same), instead of an import traceback."""
    missing = missing_dependencies()
    if not missing:
        return
    _reexec_in_project_venv()
    reason = "missing Python package%s %s" % ("s" if len(missing) > 1 else "", ", ".join(missing))
    sys.stdout.write("%s\n%s\n" % (VERSION_LINE, plan_line(0, reason)))
    sys.stdout.flush()
    sys.stderr.write("%s: %s (pip install %s)\n" % (prog, reason, " ".join(missing)))
    sys.exit(EXIT_SKIP)


# Keep a runaway traceback (deep recursion) from flooding the log.
MAX_TRACEBACK_LINES = 40

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _one_line(text):
    """Text that fits on one KTAP line: line breaks and other controls become spaces."""
    return " ".join(_CONTROL.sub(" ", str(text)).split())


def sanitize_name(name):
    """A result name every parser reads back unchanged: no `#`, one line."""
    name = _one_line(name).replace("#", "_")
    return name or "unnamed"


def sanitize_reason(reason):
    return _one_line(reason) if reason is not None else ""


def timeout_reason(seconds):
    return "%g seconds" % seconds


def plan_line(count, skip_reason=None):
    line = "1..%d" % count
    if skip_reason is not None and count == 0:
        line += " # SKIP " + sanitize_reason(skip_reason) if sanitize_reason(skip_reason) else " # SKIP"
    return line


def result_line(number, name, status=PASS, reason=None):
    """`ok 1 name`, `ok 2 name # SKIP why`, `not ok 3 name # exit=-11 (SIGSEGV)`..."""
    ok, directive, _ = _STATUS[status]
    line = "%s %d %s" % ("ok" if ok else "not ok", number, sanitize_name(name))
    reason = sanitize_reason(reason)
    if directive:
        line += " # " + directive + (" " + reason if reason else "")
    elif reason:
        line += " # " + reason
    return line


def diag_lines(text):
    """`# `-prefixed lines for any text; every line of multi-line text is prefixed."""
    lines = str(text).splitlines() or [""]
    return [("# " + _CONTROL.sub("?", l)).rstrip() for l in lines]


# Diagnostic text that a consumer reads as structure once the diagnostic is
# unwrapped: kselftest's runner.sh nests a program's output by `# `-prefixing
# it, and LKFT/KernelCI (Linaro parse-output.py) strip one `#` per level and
# parse again with tap.py, where any line starting with `ok` or `not ok` is a
# result; kunit_parser takes `# Subtest: x` for a subtest header
# (docs/ktap-kselftest.md §3.1-§3.3).  So a module's diagnostic
# `# ok 7 x` would be an invented test one level down.
_STRUCTURE = re.compile(r"#[#\s]*(?=ok|not ok|K?TAP version|Subtest:|Bail out!)")


def defuse(line):
    """A diagnostic line that stays one at every `# `-nesting depth:
    `# ok 7 x` -> `# (stray) ok 7 x`.  Other lines are returned as they are."""
    m = _STRUCTURE.match(line)
    return line[:m.end()] + "(stray) " + line[m.end():] if m else line


def totals_line(counts):
    return "# Totals: " + " ".join("%s:%d" % (k, counts.get(k, 0)) for k in TOTALS_KEYS)


def bucket(status):
    """The `# Totals:` field a result of this status counts in."""
    return _STATUS[status][2]


def exit_code(counts):
    """kselftest exit code for a set of Totals counts."""
    if counts.get("fail", 0) or counts.get("xpass", 0) or counts.get("error", 0):
        return EXIT_FAIL
    ran = sum(counts.get(k, 0) for k in TOTALS_KEYS)
    if ran == counts.get("skip", 0):
        return EXIT_SKIP
    return EXIT_PASS


class KtapWriter:
    """Writes one KTAP document, numbering results and counting them.

    `prefix` is put before every line (two spaces for a nested document).
    Each line is written whole and flushed at once.
    """

    def __init__(self, stream=None, prefix=""):
        self.stream = stream if stream is not None else sys.stdout
        self.prefix = prefix
        self.number = 0
        self.counts = dict.fromkeys(TOTALS_KEYS, 0)
        self._stray = ""
        # vCPU threads print guest output while the main thread reports.
        self._lock = threading.RLock()

    def line(self, text):
        with self._lock:
            self._flush_stray()
            self._write(text)

    def _write(self, text):
        with self._lock:
            self.stream.write(self.prefix + text + "\n")
            self.stream.flush()

    def version(self):
        self.line(VERSION_LINE)

    def plan(self, count, skip_reason=None):
        self.line(plan_line(count, skip_reason))

    def diag(self, text):
        with self._lock:
            for l in diag_lines(text):
                self.line(defuse(l))

    def result(self, name, status=PASS, reason=None):
        self.number += 1
        self.counts[bucket(status)] += 1
        self.line(result_line(self.number, name, status, reason))
        return self.number

    def totals(self):
        self.line(totals_line(self.counts))

    # Text a test prints on sys.stdout: kept as diagnostics, line by line, so
    # that a print without a newline cannot glue itself to a result line.
    def stray_write(self, text):
        with self._lock:
            self._stray += text
            *whole, self._stray = self._stray.split("\n")
            for l in whole:
                for d in diag_lines(l):
                    self._write(defuse(d))

    def _flush_stray(self):
        with self._lock:
            if self._stray:
                pending, self._stray = self._stray, ""
                for d in diag_lines(pending):
                    self._write(defuse(d))


# The writer of the module's KTAP document while its cases run (run() sets
# it), for output that the library produces on a case's behalf.
_active_writer = None


def diagnostic(text):
    """Library output about the running case (guest prints...): `# ` lines in
    the module's document, defused, before the case's result line; outside a
    KTAP run the same lines go to stderr."""
    writer = _active_writer
    if writer is not None:
        writer.diag(text)
        return
    sys.stderr.write("".join(defuse(l) + "\n" for l in diag_lines(text)))
    sys.stderr.flush()


class _StrayStream(io.TextIOBase):
    """sys.stdout while tests run: everything printed becomes `# ` lines."""

    def __init__(self, writer):
        self._writer = writer

    def writable(self):
        return True

    def write(self, text):
        self._writer.stray_write(text)
        return len(text)


class Interrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM while tests run.  A KeyboardInterrupt so unittest lets it through."""

    def __init__(self, signum, stack):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.stack = stack


def _fixture_of(description):
    """("setUpClass", "mod.Class") from unittest's _ErrorHolder description."""
    m = re.match(r"(\w+) \((.*)\)$", description or "")
    return (m.group(1), m.group(2)) if m else (None, description)


def _class_path(test):
    cls = type(test)
    return "%s.%s" % (cls.__module__, cls.__qualname__)


class KtapResult(unittest.TestResult):
    """unittest result that writes one KTAP result line per test case.

    `names` maps each planned test (by id()) to its result name; `planned`
    lists the tests in run order, so tests that unittest never starts
    (fixture failure, interruption) can still be reported.
    """

    def __init__(self, writer, planned, names, verbose=False):
        super().__init__()
        self.writer = writer
        self.planned = list(planned)
        self.names = names
        self.verbose = verbose
        self.reported = set()
        self.interrupted = None       # the Interrupted exception, once one arrives
        self._case = None

    # -- one test case --------------------------------------------------------
    def startTest(self, test):
        super().startTest(test)
        self._case = {"test": test, "status": None, "reason": None, "diags": [],
                      "skips": [], "failed_sub": False}
        if self.verbose:
            self.writer.diag("RUN %s" % self._name(test))

    def _name(self, test):
        return self.names.get(test.id()) or sanitize_name(test.id().rsplit(".", 1)[-1])

    def _set(self, test, status, reason=None, diag=None):
        case = self._case
        if case is None or case["test"] is not test:
            return False
        if diag:
            case["diags"].append(diag)
        # The first verdict stands, except that a failure beats anything.
        if case["status"] is None or status in (FAIL, ERROR):
            case["status"], case["reason"] = status, reason
        return True

    def _traceback(self, err, test):
        if getattr(err[1], "environment_error", False):
            # Set-up problems (no image built, no /dev/kvm) say what to do in
            # one line; a host traceback would only bury that.
            return "%s: %s" % (type(err[1]).__name__, err[1])
        if getattr(err[1], "guest_error", False):
            # Garbage from the guest: what it sent, and which line of the
            # test was running; the library's frames below say nothing more.
            here = [f for f in traceback.extract_tb(err[2]) if not f.filename.startswith(_LIB_DIR)]
            where = " (%s:%d)" % (os.path.basename(here[-1].filename), here[-1].lineno) if here else ""
            return "%s: %s%s" % (type(err[1]).__name__, err[1], where)
        lines = self._exc_info_to_string(err, test).rstrip("\n").splitlines()
        if len(lines) > MAX_TRACEBACK_LINES:
            dropped = len(lines) - MAX_TRACEBACK_LINES
            lines = ["(%d earlier traceback lines omitted)" % dropped] + lines[-MAX_TRACEBACK_LINES:]
        return "\n".join(lines)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._set(test, PASS)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set(test, FAIL, diag=self._traceback(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        if not self._set(test, FAIL, diag=self._traceback(err, test)):
            self._fixture_event(test, err=err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if self._set(test, SKIP, reason):
            return
        if self._case is not None and isinstance(test, unittest.case._SubTest):
            self._case["skips"].append(reason)
            return
        self._fixture_event(test, skip=reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._set(test, XFAIL, traceback.format_exception_only(err[0], err[1])[-1].strip())

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._set(test, XPASS, "unexpected success")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None and self._case is not None and self._case["test"] is test:
            self._case["failed_sub"] = True
            # Named as the result is (`module.case (i=3)`), not by unittest's
            # id, which reads `__main__.Class.case` for a module run as a program.
            params = subtest._subDescription() if hasattr(subtest, "_subDescription") else subtest.id()
            self._case["diags"].append("%s %s\n%s" % (self._name(test), params, self._traceback(err, test)))

    def stopTest(self, test):
        case, self._case = self._case, None
        super().stopTest(test)
        if case is None or case["test"] is not test or test.id() in self.reported:
            return
        status, reason = case["status"], case["reason"]
        if case["failed_sub"] and status not in (ERROR, XPASS):
            status, reason = FAIL, None
        elif status is None and case["skips"]:
            status, reason = SKIP, case["skips"][0]
        elif status is None:
            why = self.interrupted.args[0] if self.interrupted else "no result"
            status, reason = ERROR, ("interrupted by %s" % why) if self.interrupted else why
            if self.interrupted and self.interrupted.stack:
                case["diags"].append("%s arrived in:\n%s" % (why, self.interrupted.stack))
        for d in case["diags"]:
            self.writer.diag(d)
        self._report(test, status, reason)

    def _report(self, test, status, reason=None):
        self.reported.add(test.id())
        self.writer.result(self._name(test), status, reason)

    # -- class and module fixtures -------------------------------------------
    def _fixture_event(self, holder, err=None, skip=None):
        """setUpClass & co. failed or skipped: unittest will not start their tests."""
        kind, where = _fixture_of(getattr(holder, "description", str(holder)))
        if err is not None:
            self.writer.diag(self._traceback(err, holder))
        if kind in ("setUpClass", "setUpModule"):
            match = _class_path if kind == "setUpClass" else (lambda t: type(t).__module__)
            for t in self.planned:
                if t.id() not in self.reported and match(t) == where:
                    if skip is not None:
                        self._report(t, SKIP, skip)
                    else:
                        self._report(t, ERROR, "%s failed" % kind)
            return
        if err is not None:
            # Nothing left to mark: count it so the Totals and exit code show it.
            self.writer.counts["error"] += 1
            self.writer.diag("%s failed" % (kind or where))

    def report_unrun(self, reason):
        """Close the plan after an interruption: the tests never started.
        `not ok ... # ERROR`: a run cut short must not look like a clean one."""
        for t in self.planned:
            if t.id() not in self.reported:
                self._report(t, ERROR, reason)


# -- module entry point ---------------------------------------------------------
def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t


def short_name(module):
    """ghci_io for tdx.x86_64.ghci_io, also when it runs as __main__."""
    spec = getattr(module, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return spec.name.rsplit(".", 1)[-1]
    if module.__name__ != "__main__":
        return module.__name__.rsplit(".", 1)[-1]
    path = getattr(module, "__file__", None) or sys.argv[0]
    name = path.rsplit("/", 1)[-1]
    return name[:-3] if name.endswith(".py") else name


def result_names(short, tests):
    """{test id: result name}: `<module>.<case>`, or `<module>.<Class>.<case>` when ambiguous."""
    cases = {}
    for t in tests:
        cases.setdefault(t.id().rsplit(".", 1)[-1], set()).add(t.id())
    names = {}
    for t in tests:
        parts = t.id().split(".")
        case = parts[-1]
        if len(cases[case]) > 1 and len(parts) >= 2:
            names[t.id()] = sanitize_name("%s.%s.%s" % (short, parts[-2], case))
        else:
            names[t.id()] = sanitize_name("%s.%s" % (short, case))
    return names


def _matches(globs, short, name, test):
    parts = test.id().split(".")
    candidates = (name, parts[-1], "%s.%s" % (short, ".".join(parts[-2:])), short)
    return any(fnmatch.fnmatchcase(c, g) for g in globs for c in candidates)


def select(tests, names, short, include=(), exclude=()):
    """The tests named by -t globs (all when none) and not by -x globs."""
    return [t for t in tests
            if (not include or _matches(include, short, names[t.id()], t))
            and not (exclude and _matches(exclude, short, names[t.id()], t))]


def platform_name():
    """The platform's name for the `# platform:` line; never raises."""
    try:
        from tdx.lib import platform
    except ModuleNotFoundError as e:
        if e.name in ("tdx.lib.platform", "tdx.lib", "tdx"):
            return "unknown"
        return "unknown (%s: %s)" % (type(e).__name__, e)
    except Exception as e:                  # a broken platform module must not stop the run
        return "unknown (%s: %s)" % (type(e).__name__, e)
    try:
        return str(platform.current().name)
    except Exception as e:
        return "unknown (%s: %s)" % (type(e).__name__, e)


def platform_detail():
    """Why platform none skips everything, with the variable part (which
    device, which errno) that the fixed skip reason leaves out; or None."""
    try:
        from tdx.lib import platform
        plat = platform.current()
    except Exception:
        return None                         # platform_name() already said it
    if plat.available or not plat.detail:
        return None
    return "%s: %s" % (plat.reason, plat.detail)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (`prog: error: ...`), exit 2: argparse would add its usage text."""

    def error(self, message):
        self.exit(EXIT_USAGE, "%s: error: %s\n" % (self.prog, message))


def _parser(prog):
    p = OneLineParser(prog=prog, description="Run this module's test cases; KTAP v1 on stdout.")
    p.add_argument("-t", "--test", dest="include", action="append", default=[], metavar="GLOB",
                   help="run only cases matching GLOB (module.case or case; repeatable)")
    p.add_argument("-x", "--exclude", action="append", default=[], metavar="GLOB",
                   help="skip cases matching GLOB (repeatable)")
    p.add_argument("-l", "--list", action="store_true", help="list case names and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="a diagnostic line as each case starts")
    return p


# The driver names a file here; the module writes its planned result names
# into it before the first case runs, so that the cases a crash or a timeout
# leaves without a result can be reported by name.
CASES_ENV = "TDX_KTAP_CASES"


def _write_case_names(names):
    path = os.environ.pop(CASES_ENV, None)      # for this process only, not the ones it starts
    if not path:
        return
    try:
        with open(path, "w") as f:
            f.write("".join(n + "\n" for n in names))
    except OSError:
        pass                                    # only a nicer report is lost


def _platform_diags(writer):
    name = platform_name()
    writer.diag("platform: %s" % name)
    detail = platform_detail() if name == "none" else None
    if detail:
        writer.diag("platform none: %s" % detail)


def _parent_gone(parent, wait=0.0):
    """Has process `parent` (ours when we started) exited, or is it exiting?"""
    deadline = time.monotonic() + wait
    while True:
        if os.getppid() != parent:
            return True
        try:
            with open("/proc/%d/stat" % parent) as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X", "x"):
                    return True
        except (OSError, IndexError):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def run(module_name=None, argv=None, stream=None):
    """Run a module's tests as KTAP; return the kselftest exit code."""
    module = sys.modules[module_name or "__main__"]
    short = short_name(module)
    args = _parser("python3 -m %s" % (module.__spec__.name if module.__spec__ else short)).parse_args(argv)
    out = stream if stream is not None else sys.stdout
    if hasattr(out, "reconfigure"):
        out.reconfigure(line_buffering=True, errors="backslashreplace")

    tests = list(_flatten(unittest.defaultTestLoader.loadTestsFromModule(module)))
    names = result_names(short, tests)
    tests = select(tests, names, short, args.include, args.exclude)
    if args.list:
        for t in tests:
            out.write(names[t.id()] + "\n")
        out.flush()
        return EXIT_PASS

    try:
        check_config()
    except ConfigError as e:
        sys.stderr.write("%s: %s\n" % (short, e))
        return EXIT_USAGE

    _write_case_names([names[t.id()] for t in tests])
    writer = KtapWriter(out)
    writer.version()
    if not tests:
        writer.plan(0, "no test cases selected" if (args.include or args.exclude) else "no test cases")
        _platform_diags(writer)
        writer.totals()
        return EXIT_SKIP
    writer.plan(len(tests))
    _platform_diags(writer)

    if not faulthandler.is_enabled():
        faulthandler.enable()       # a crash then leaves a Python stack on stderr
    result = KtapResult(writer, tests, names, verbose=args.verbose)

    parent = os.getppid()

    def orphaned_cleanup(wait=0.0):
        """If the driver died (the parent-death signal it arms, tdx.runner.jobs),
        no one reads the report, and nothing this module started may stay."""
        if os.getpgrp() == os.getpid() and _parent_gone(parent, wait):
            os.killpg(os.getpid(), signal.SIGKILL)

    def on_signal(signum, frame):
        # A dying driver's first parent-death signal can come while it is
        # still our parent (one of its threads exited first): look again for
        # a moment before reporting (the report may never get written: the
        # pipe to a dead driver is broken).
        orphaned_cleanup(wait=0.5 if signum == signal.SIGTERM else 0.0)
        if result.interrupted is not None:
            # One is enough to finish the report.  The handler stays, though:
            # a dying multi-threaded driver sends the parent-death signal once
            # per exiting thread, the last one with this process orphaned.
            return
        # Record it before raising: unittest calls stopTest() on the way out,
        # and that is where the running case gets its result line.
        result.interrupted = Interrupted(signum, "".join(traceback.format_stack(frame)).rstrip())
        raise result.interrupted

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    global _active_writer
    saved_stdout = sys.stdout
    sys.stdout = _StrayStream(writer)
    _active_writer = writer
    try:
        unittest.TestSuite(tests).run(result)
    except Interrupted as e:
        result.interrupted = e
        if result._case is not None:          # unittest had no chance to stop it
            result.stopTest(result._case["test"])
        result.report_unrun("not run: interrupted by %s" % e.args[0])
    finally:
        _active_writer = None
        sys.stdout = saved_stdout
        for s, h in previous.items():
            signal.signal(s, h)
    writer.totals()
    if result.interrupted:
        orphaned_cleanup()
        return 128 + result.interrupted.signum
    return exit_code(writer.counts)


def main(module_name=None, argv=None):
    """Entry point of an x86_64 module: `if __name__ == "__main__": ktap.main()`."""
    try:
        code = run(module_name, argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say, and Python
        # must not complain while flushing at exit either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_FAIL
    sys.exit(code)
