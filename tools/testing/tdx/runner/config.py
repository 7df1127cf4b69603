# SPDX-License-Identifier: GPL-2.0-only
"""Timeouts and environment values, checked before anything runs.

A bad value is a usage error (exit 2, one line) found once, here, rather
than the same traceback in every module.
"""

import argparse
import math

from tdx.lib.environment import MAX_SECONDS
from tdx.runner.selection import ROOT, TDX_DIR

KSELFTEST_DEFAULT_TIMEOUT = 45        # runner.sh's default when settings says nothing


def positive(kind):
    """An argparse type: a finite number greater than 0."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % text)
        if not value > 0 or (isinstance(value, float) and not math.isfinite(value)):
            # nan compares false with everything: a deadline that never comes.
            raise argparse.ArgumentTypeError("%r must be a finite number greater than 0" % text)
        if isinstance(value, float) and value > MAX_SECONDS:
            raise argparse.ArgumentTypeError("%r must be at most %g seconds" % (text, MAX_SECONDS))
        return value
    return parse


def settings_timeout():
    """`timeout=N` from the kselftest settings file (in-tree, or the install tree's)."""
    for path in (TDX_DIR / "settings", ROOT / "settings"):
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("#") or "=" not in line:
                continue
            key, value = (s.strip() for s in line.split("=", 1))
            if key == "timeout":
                try:
                    return positive(float)(value)
                except argparse.ArgumentTypeError:
                    return None         # not a usable timeout: the default applies
        return None
    return None


def environment_problem():
    """The first bad environment value as one line, or None (tdx.lib.environment):
    every module would refuse it; say so once, before running any."""
    from tdx.lib import environment
    return environment.problem()
