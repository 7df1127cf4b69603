# SPDX-License-Identifier: GPL-2.0-only
"""Isolated copies of the package for mutants, and their cleanup.

Mutants are never applied to the tree the tool was started from: a snapshot
of the package (tools/testing/tdx as `tdx/`) is taken once, mutations are
enumerated in it, and each worker gets a copy of the snapshot to mutate.  A
run that is interrupted (Ctrl-C, SIGTERM) or fails leaves nothing behind:
Scratch.__exit__ removes every copy, and SIGTERM is turned into SystemExit so
that the cleanup runs.
"""

import os
import shutil
import signal
import tempfile

# Build products and caches stay behind: the guest images are found through
# TDX_OUTPUT (mutations never touch them), bytecode is rebuilt per mutant.
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.o", "*.d", "*.a", "*.elf", ".*")


class Scratch:
    """A temporary directory holding the snapshot and the workers' copies."""

    def __init__(self, package_dir, parent=None):
        self.package_dir = os.path.abspath(package_dir)
        self.parent = parent
        self.path = None

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="tdx-mutate-", dir=self.parent)
        self._old_term = signal.signal(signal.SIGTERM, _terminate)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self._old_term)
        shutil.rmtree(self.path, ignore_errors=True)
        return False

    def snapshot(self):
        """<scratch>/base/tdx: the package as it is now; returns <scratch>/base."""
        return self._copy(self.package_dir, "base")

    def copy(self, name):
        """<scratch>/<name>/tdx: a copy of the snapshot for one worker."""
        return self._copy(os.path.join(self.path, "base", "tdx"), name)

    def _copy(self, source, name):
        root = os.path.join(self.path, name)
        shutil.copytree(source, os.path.join(root, "tdx"), ignore=IGNORE, symlinks=True)
        return root


def _terminate(signum, frame):
    raise SystemExit(128 + signum)
