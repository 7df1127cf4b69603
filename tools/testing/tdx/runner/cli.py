# SPDX-License-Identifier: GPL-2.0-only
# PYTHON_ARGCOMPLETE_OK
"""The command line: `tdx-selftests`, run_tests.sh, `python3 -m tdx.runner`.

Exit codes as kselftest: 0 all passed (skips allowed), 1 any failure (or the
run was interrupted), 4 everything skipped, 2 usage error.
"""

import argparse
import os
import subprocess
import sys

from tdx.lib.ktap import OneLineParser
from tdx.runner import config
from tdx.runner.selection import all_test_names, module_dir, module_package, select
from tdx.runner.session import run, silence_stdout


def build_parser():
    p = OneLineParser(
        prog="tdx-selftests",
        description="Run the tdx selftest modules, each in its own process; KTAP v1 on stdout, "
                    "a summary table on stderr.",
        epilog="Exit status: 0 all passed (skips allowed), 1 a failure, 4 everything skipped, "
               "2 usage error.  Environment: TDX_TIMEOUT (seconds), TDX_PLATFORM, TDX_KVM_GENERATION "
               "(the KVM-TDX release whose answers to expect, for backported kernels).")
    p.add_argument("-l", "--list", action="store_true", help="list the selected module.case names and exit")
    t = p.add_argument("-t", "--test", dest="include", action="append", default=[], metavar="GLOB",
                       help="run modules or module.case names matching GLOB (repeatable)")
    x = p.add_argument("-x", "--exclude", action="append", default=[], metavar="GLOB",
                       help="leave out modules or module.case names matching GLOB (repeatable)")
    p.add_argument("-j", "--jobs", type=config.positive(int), default=1, metavar="N",
                   help="run N modules at once; the output keeps discovery order (default 1)")
    p.add_argument("--platform", choices=("tdx", "emulated", "none"),
                   help="force the platform (sets TDX_PLATFORM for the modules)")
    p.add_argument("--timeout", type=config.positive(float), metavar="S",
                   help="per-module timeout in seconds (default: $TDX_TIMEOUT, else settings' timeout=)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="echo each module's raw output to stderr as it arrives")
    p.add_argument("--format", choices=("ktap", "kselftest"), default="ktap",
                   help="ktap: nested KTAP v1 (default); kselftest: run_kselftest.sh's `# `-prefixed form")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    # For `make run_tests`, which execs the driver so that a signal to make
    # reaches it: exit 0 when everything skipped (kselftest: a feature the
    # host lacks must not fail the top-level run_tests).
    p.add_argument("--skip-is-success", action="store_true", help=argparse.SUPPRESS)
    # For the project's own tests: run another package's modules (fault fixtures).
    p.add_argument("--module-package", help=argparse.SUPPRESS)
    t.completer = x.completer = _complete
    return p


def listing(package, selected, platform=None):
    """Each selected module's case names in the order it runs them: asked of the
    module itself (`-l` with the same -t/-x), all at once; where that fails
    (the module cannot be imported, prints no list), the names read from its
    source, or the module's own name."""
    from tdx.runner.jobs import child_env
    env = child_env(platform)
    procs = []
    for s in selected:
        try:
            procs.append(subprocess.Popen([sys.executable, "-m", "%s.%s" % (package, s.name), "-l"] + s.child_args,
                                          env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, universal_newlines=True, errors="replace"))
        except OSError:
            procs.append(None)
    result = []
    for s, p in zip(selected, procs):
        names = []
        if p is not None:
            out, _ = p.communicate()
            names = out.split()
            if p.returncode != 0 or not all(n.startswith(s.name + ".") for n in names):
                names = []
        result.append(names or ["%s.%s" % (s.name, c) for c in s.cases] or [s.name])
    return result


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
            timeout = config.positive(float)(os.environ["TDX_TIMEOUT"])
        except argparse.ArgumentTypeError as e:
            parser.error("TDX_TIMEOUT=%s: %s" % (os.environ["TDX_TIMEOUT"], e))
    if timeout is None:
        timeout = config.settings_timeout() or config.KSELFTEST_DEFAULT_TIMEOUT
    problem = config.environment_problem()
    if problem:
        parser.error(problem)
    if args.junit and not args.list:
        # Opened now: a path that cannot be written is found before the run
        # (also as root, on a read-only file system), not after it.
        problem = _junit_problem(args.junit)
        if not problem:
            try:
                args.junit_file = open(args.junit, "wb")
            except OSError as e:
                problem = (e.strerror or str(e)).lower()
        if problem:
            parser.error("--junit %s: %s" % (args.junit, problem))

    selected, unmatched = select(directory, args.include, args.exclude)
    if unmatched:
        parser.error("-t %s: no module or test case matches" % ", ".join(unmatched))
    if args.list:
        try:
            for s, names in zip(selected, listing(package, selected, args.platform)):
                sys.stdout.write("".join(n + "\n" for n in names))
            sys.stdout.flush()
        except BrokenPipeError:         # `-l | head`: the reader has what it wanted
            silence_stdout()
        return 0
    rc = run(args, package, selected, timeout)
    return 0 if rc == 4 and args.skip_is_success else rc
