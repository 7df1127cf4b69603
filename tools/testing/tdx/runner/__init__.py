# SPDX-License-Identifier: GPL-2.0-only
"""The tdx-selftests driver: run every x86_64 module, print one KTAP document.

    run_tests.sh [-l] [-t GLOB]... [-x GLOB]... [-j N] [--platform P]
                 [--timeout S] [--format ktap|kselftest] [--junit FILE] [-v]

One file per responsibility:

    selection.py   which modules and cases a run has (discovery, -t/-x globs)
    config.py      timeouts and environment values, checked before anything runs
    jobs.py        one module process: start, watch, time out, kill, collect output
    child.py       a module's output read as KTAP and rebuilt as a nested document
    outcome.py     a module's verdict and what counts for it
    document.py    the driver's own KTAP document, in either nesting dialect
    summary.py     the table on stderr
    junit.py       the JUnit XML report
    session.py     one run: the jobs, the document, the reports, signals
    cli.py         the command line (`tdx-selftests`, run_tests.sh, `python3 -m tdx.runner`)

The module side (a unittest result that writes flat KTAP) is tdx.lib.ktap:
it runs inside every test module, so it belongs to the test library.
"""
