# SPDX-License-Identifier: GPL-2.0-only
"""The emulated platform: a model of upstream KVM-TDX and the TDX module behind the
library's ioctl boundary, running TD guests in plain VMs on any x86 host with /dev/kvm
(docs/internals.md §5)."""

from tdx.emu.system import EmuSystem  # noqa: E402,F401  (tdx.lib.platform's entry point)
