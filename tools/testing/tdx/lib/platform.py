# SPDX-License-Identifier: GPL-2.0-only
"""Which platform runs the tests: tdx, emulated, or none.

- tdx:      the host's KVM offers the TDX VM type (KVM_CAP_VM_TYPES bit 5,
            docs/kvm-tdx-uapi.md §1); ioctls go to the kernel.
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


def _probe(host):
    """(tdx_available, reason_if_no_kvm, detail, emulated_missing)."""
    from tdx.lib import abi
    from tdx.lib.kvm import Kvm, KvmUnavailable, KvmError
    from tdx.emu import host as emu_host
    try:
        kvm = Kvm(host)
    except KvmUnavailable as e:
        return False, "no usable /dev/kvm", str(e), None
    try:
        types = kvm.check_extension(abi.KVM_CAP_VM_TYPES)
    except KvmError:
        types = 0
    try:
        missing = emu_host.missing_requirements(host, kvm.fd)
    finally:
        kvm.close()
    return bool(types & (1 << abi.KVM_X86_TDX_VM)), None, None, missing


def select(want=None, host=None):
    """The platform for `want` (default: TDX_PLATFORM); `host` is the real
    kernel's System (tests pass one that hides features)."""
    want = want or requested()
    if want == "none":
        return Platform("none", reason="platform none selected (TDX_PLATFORM=none)")
    from tdx.lib.system import HostSystem
    host = host or HostSystem()
    has_tdx, no_kvm, detail, missing = _probe(host)
    if no_kvm:
        return Platform("none", reason=no_kvm, detail=detail)
    if want == "tdx" or (want == "auto" and has_tdx):
        if not has_tdx:
            return Platform("none", reason=NO_TDX)
        return Platform("tdx", host)
    from tdx.emu import EmuSystem, host as emu_host
    system = EmuSystem(host=host)       # validates TDX_EMU_* first: a bad value is a usage error
    if missing:
        # The model cannot run here at all: one reason for every case.
        return Platform("none", reason=emu_host.missing_reason(missing))
    return Platform("emulated", system)


_current = None


def current():
    """The platform of this process, chosen once."""
    global _current
    if _current is None:
        _current = select()
    return _current
