# SPDX-License-Identifier: GPL-2.0-only
"""python3 -m tdx.bench [--n N] [--json] ...: see bench/README."""

import sys

from tdx.bench.bench import main

if __name__ == "__main__":
    sys.exit(main())
