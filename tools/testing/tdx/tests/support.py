# SPDX-License-Identifier: GPL-2.0-only
"""Helpers shared by the project's own tests that need this host's /dev/kvm."""

import os
import shutil
import subprocess
import unittest
from pathlib import Path

from tdx.lib.kvm import device_path


def kvm_usable():
    """True when the KVM device opens read-write (root, or the kvm group)."""
    try:
        os.close(os.open(device_path(), os.O_RDWR))
    except OSError:
        return False
    return True


requires_kvm = unittest.skipUnless(kvm_usable(), "no usable /dev/kvm")


REPO = Path(__file__).resolve().parents[4]          # the checkout: setup.py, Makefile, tools/
in_checkout = unittest.skipUnless(shutil.which("make") and shutil.which("gcc") and shutil.which("git")
                                  and (REPO / ".git").exists(), "make, gcc and a git checkout needed")


def copy_sources(dest):
    """Copy the tracked files of the checkout to `dest`, as a fresh clone has them."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=str(REPO), stdout=subprocess.PIPE,
                           timeout=60).stdout.decode().split("\0")
    for f in filter(None, files):
        if (REPO / f).is_file():
            os.makedirs(os.path.dirname(os.path.join(dest, f)), exist_ok=True)
            shutil.copy2(str(REPO / f), os.path.join(dest, f))
