# SPDX-License-Identifier: GPL-2.0-only
# PYTHON_ARGCOMPLETE_OK
"""`python3 -m tdx.runner`: the driver (run_tests.sh execs this)."""

import sys

from tdx.runner.cli import main

if __name__ == "__main__":
    sys.exit(main())
