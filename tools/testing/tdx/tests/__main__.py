# SPDX-License-Identifier: GPL-2.0-only
"""Run the project's own tests: python3 -m tdx.tests [-v] [-k PATTERN] [-p FILEGLOB]

unittest's own summary ("OK (skipped=2)") is not a count line, so this prints
one at the end: "57 passed, 0 failed, 2 skipped".  Exit status 1 on any
failure or error, also when no test ran at all.
"""

import argparse
import os
import sys
import unittest


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m tdx.tests", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-k", dest="patterns", action="append", help="only tests whose name matches")
    parser.add_argument("-p", "--pattern", default="test*.py", help="test file glob (default test*.py)")
    parser.add_argument("-f", "--failfast", action="store_true")
    args = parser.parse_args(argv)

    here = os.path.dirname(os.path.abspath(__file__))
    top = os.path.dirname(os.path.dirname(here))
    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = ["*%s*" % p if "*" not in p else p for p in args.patterns]
    suite = loader.discover(here, pattern=args.pattern, top_level_dir=top)
    runner = unittest.TextTestRunner(verbosity=2 if args.verbose else 1, failfast=args.failfast)
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    sys.stdout.flush()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
