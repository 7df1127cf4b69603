# SPDX-License-Identifier: GPL-2.0-only
"""Which platform runs the tests: tdx, emulated, or none.

- tdx:      the host's KVM offers the TDX VM type (KVM_CAP_VM_TYPES bit 5,
            reference/kvm-tdx-uapi.md §1); ioctls go to the kernel.
- emulated: /dev/kvm works but has no TDX; ioctls go to tdx.emu, a model of
            KVM-TDX on top of an ordinary VM.
- none:     no usable /dev/kvm; every case skips with `reason`.

TDX_PLATFORM=tdx|emulated|none|auto (or the driver's --platform) forces one.
Forcing tdx where there is none gives platform none, so every case skips with
that reason instead of silently testing the model.  Skip reasons are fixed
strings: kernel CI turns them into test names.
"""

import os

PLATFORMS = ("tdx", "emulated", "none")
NO_TDX = "TDX not available: KVM_CAP_VM_TYPES lacks KVM_X86_TDX_VM (needs a TDX host, kvm_intel.tdx=1, Linux >= 6.16)"


class PlatformError(Exception):
    """TDX_PLATFORM has a value that names no platform."""


class Platform:
    def __init__(self, name, system=None, reason=None, detail=None):
        self.name = name
        self.system = system
        self.reason = reason        # why everything skips (platform none)
        self.detail = detail        # the variable part (errno text...), for diagnostics only

    @property
    def available(self):
        return self.name != "none"

    def __repr__(self):
        return "Platform(%s)" % self.name


def requested():
    value = os.environ.get("TDX_PLATFORM", "").strip().lower() or "auto"
    if value not in PLATFORMS + ("auto",):
        raise PlatformError("TDX_PLATFORM=%s: expected one of tdx, emulated, none, auto" % value)
    return value


def _probe():
    """(tdx_available, reason_if_no_kvm, detail)."""
    from tdx.lib import abi
    from tdx.lib.kvm import Kvm, KvmUnavailable, KvmError
    try:
        kvm = Kvm()
    except KvmUnavailable as e:
        return False, "no usable /dev/kvm", str(e)
    try:
        types = kvm.check_extension(abi.KVM_CAP_VM_TYPES)
    except KvmError:
        types = 0
    finally:
        kvm.close()
    return bool(types & (1 << abi.KVM_X86_TDX_VM)), None, None


def select(want=None):
    want = want or requested()
    if want == "none":
        return Platform("none", reason="platform none selected (TDX_PLATFORM=none)")
    has_tdx, no_kvm, detail = _probe()
    if no_kvm:
        return Platform("none", reason=no_kvm, detail=detail)
    if want == "tdx" or (want == "auto" and has_tdx):
        if not has_tdx:
            return Platform("none", reason=NO_TDX)
        from tdx.lib.system import HostSystem
        return Platform("tdx", HostSystem())
    from tdx.emu import EmuSystem
    return Platform("emulated", EmuSystem())


_current = None


def current():
    """The platform of this process, chosen once."""
    global _current
    if _current is None:
        _current = select()
    return _current
