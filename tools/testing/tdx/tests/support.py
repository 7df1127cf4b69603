# SPDX-License-Identifier: GPL-2.0-only
"""Helpers shared by the project's own tests that need this host's /dev/kvm."""

import os
import unittest

from tdx.lib.kvm import device_path


def kvm_usable():
    """True when the KVM device opens read-write (root, or the kvm group)."""
    try:
        os.close(os.open(device_path(), os.O_RDWR))
    except OSError:
        return False
    return True


requires_kvm = unittest.skipUnless(kvm_usable(), "no usable /dev/kvm")
