# SPDX-License-Identifier: GPL-2.0-only
"""When, and on which commit of the tree, a measurement was made: the stamp
that make mutate's runs and make bench's history records carry."""

import subprocess
import time


def measured_at(package):
    """{"date": UTC minute, "commit": short hash of `package`'s checkout if it is one}."""
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
        commit = subprocess.run(["git", "-C", package, "rev-parse", "--short=12", "HEAD"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
        if commit.returncode == 0:
            out["commit"] = commit.stdout.strip()
    except OSError:
        pass
    return out
