# SPDX-License-Identifier: GPL-2.0-only
"""What the emulated platform takes from the host's KVM, and what it models.

The model runs each TD vCPU in an ordinary VM of the host, so it needs a
small set of host KVM features that every kernel since Linux 5.10, the
documented baseline, has (REQUIRED; see emu/README "Host baseline").  Everything a TD adds on top -- VM types, guest_memfd,
KVM_SET_USER_MEMORY_REGION2, memory attributes, KVM_EXIT_MEMORY_FAULT,
KVM_EXIT_HYPERCALL, user-space MSR exits and the MSR filter, the split
irqchip -- the model answers itself (MODELLED), whatever the host has.

Three host features are used when present (BORROWED), and modelled or
done without when absent or when TDX_EMU_HOST=baseline forces the
baseline path:
- guest_memfd (KVM_CAP_GUEST_MEMFD, Linux 6.8; GUEST_MEMFD_FLAG_MMAP with
  KVM_CAP_GUEST_MEMFD_FLAGS, 6.18): a TD's guest_memfd is a real one of the
  model's plain VM, so its file API is the kernel's own (emu/gmem.py);
- the instruction bytes of an emulation-failure exit (x86.c
  prepare_emulation_failure_exit(), by default since Linux 5.16): TDCALL is
  recognised from them instead of being fetched from guest memory
  (emu/insn.py);
- kvm_run's sync_regs (KVM_CAP_SYNC_REGS, Linux 4.17: in the baseline
  kernel, but left to the default path so that every make check also runs
  the fallback): the model reads and writes a TD vCPU's registers in
  kvm_run instead of with KVM_GET_REGS/KVM_SET_REGS (emu/vcpu_regs.py).
Either way the TD's view through the System seam is the same.
"""

import os

from tdx.lib import abi

ENV = "TDX_EMU_HOST"
MODES = ("auto", "baseline")

# (capability, number, first release, why the model needs it)
REQUIRED = (
    ("KVM_CAP_USER_MEMORY", abi.KVM_CAP_USER_MEMORY, "2.6.x", "memslots of the plain VM"),
    ("KVM_CAP_EXT_CPUID", 7, "2.6.25", "KVM_GET_SUPPORTED_CPUID and KVM_SET_CPUID2"),
    ("KVM_CAP_USER_NMI", abi.KVM_CAP_USER_NMI, "2.6.31", "delivering a TD's NMIs (KVM_NMI)"),
    ("KVM_CAP_VCPU_EVENTS", abi.KVM_CAP_VCPU_EVENTS, "2.6.33", "injecting #VE and #UD"),
    ("KVM_CAP_IMMEDIATE_EXIT", abi.KVM_CAP_IMMEDIATE_EXIT, "4.11",
     "stopping a vCPU (watchdog, cancelled emulated loads, kicks)"),
    ("KVM_CAP_X86_USER_SPACE_MSR", abi.KVM_CAP_X86_USER_SPACE_MSR, "5.10",
     "the guest's own EOI, TPR and SELF_IPI (x2APIC registers a TD has virtualized)"),
)

# Host features the model never uses: it answers them for a TD itself.
# (name, capability, the answer is a bit mask)
MODELLED = (
    ("KVM_CAP_VM_TYPES", abi.KVM_CAP_VM_TYPES, True),
    ("KVM_SET_USER_MEMORY_REGION2", abi.KVM_CAP_USER_MEMORY2, False),
    ("KVM_CAP_MEMORY_ATTRIBUTES", abi.KVM_CAP_MEMORY_ATTRIBUTES, True),
    ("KVM_CAP_MEMORY_FAULT_INFO", abi.KVM_CAP_MEMORY_FAULT_INFO, False),
    ("KVM_CAP_EXIT_HYPERCALL", abi.KVM_CAP_EXIT_HYPERCALL, True),
    ("KVM_CAP_X86_USER_SPACE_MSR", abi.KVM_CAP_X86_USER_SPACE_MSR, False),
    ("KVM_CAP_X86_MSR_FILTER", abi.KVM_CAP_X86_MSR_FILTER, False),
    ("KVM_CAP_SPLIT_IRQCHIP", abi.KVM_CAP_SPLIT_IRQCHIP, False),
)

KVM_CAP_EXIT_ON_EMULATION_FAILURE = 204       # kvm.h, Linux 5.14


class HostModeError(ValueError):
    """TDX_EMU_HOST names no mode."""


def requested_mode(value=None):
    """The host path: "auto" (borrow what the host has) or "baseline"."""
    if value is None:
        value = os.environ.get(ENV, "")
    value = value.strip().lower() or "auto"
    if value not in MODES:
        raise HostModeError("%s=%s: expected auto or baseline" % (ENV, value))
    return value


def _check(host, fd, cap):
    try:
        return host.ioctl(fd, abi.KVM_CHECK_EXTENSION, cap)
    except OSError:
        return 0


def missing_requirements(host, kvm_fd):
    """[(name, release, why)] of REQUIRED capabilities the host's KVM lacks."""
    return [(name, release, why) for name, cap, release, why in REQUIRED if _check(host, kvm_fd, cap) <= 0]


def missing_reason(missing):
    """The fixed skip reason for a host that lacks what the model needs."""
    names = ", ".join("%s (Linux %s)" % (name, release) for name, release, _ in missing)
    return "emulated platform: this host's KVM lacks %s" % names


class HostFeatures:
    """The host's answers, probed once on a /dev/kvm fd, and the choices made."""

    def __init__(self, host, kvm_fd, mode="auto"):
        self.mode = mode
        self.baseline = mode == "baseline"
        self.gmem = _check(host, kvm_fd, abi.KVM_CAP_GUEST_MEMFD) > 0
        # KVM_CAP_GUEST_MEMFD_FLAGS is 0 before 6.18: only flags 0 then.
        self.gmem_flags = _check(host, kvm_fd, abi.KVM_CAP_GUEST_MEMFD_FLAGS) if self.gmem else 0
        self.emulation_failure_cap = _check(host, kvm_fd, KVM_CAP_EXIT_ON_EMULATION_FAILURE)
        # The kvm_run fields KVM keeps in sync (KVM_SYNC_X86_VALID_FIELDS; 0 without).
        self.sync_regs = max(_check(host, kvm_fd, abi.KVM_CAP_SYNC_REGS), 0)
        self.modelled = [(name, _check(host, kvm_fd, cap), mask) for name, cap, mask in MODELLED]

    def borrow_gmem(self, flags):
        """Use a host guest_memfd for a TD guest_memfd created with `flags`?"""
        return not self.baseline and self.gmem and not flags & ~self.gmem_flags

    @property
    def borrow_insn_bytes(self):
        return not self.baseline

    @property
    def borrow_sync_regs(self):
        """Read and write the real vCPUs' registers in kvm_run (emu/vcpu_regs.py)?"""
        return not self.baseline and bool(self.sync_regs & abi.KVM_SYNC_X86_REGS)

    def report(self):
        """Lines for the platform report (tdx.lib.compat)."""
        lines = ["host path: %s%s" % (self.mode, " (TDX_EMU_HOST=baseline)" if self.baseline else "")]
        if self.baseline:
            gmem = "not used (baseline), modelled"
        elif self.gmem:
            gmem = "yes, flags %#x (borrowed; other flags modelled)" % self.gmem_flags
        else:
            gmem = "no (modelled)"
        lines.append("host guest_memfd: %s" % gmem)
        if self.baseline:
            insn = "not used (baseline): TDCALL fetched from guest memory"
        else:
            insn = "used when an exit carries them (KVM_CAP_EXIT_ON_EMULATION_FAILURE=%d)" % (
                self.emulation_failure_cap)
        lines.append("host emulation-failure instruction bytes: %s" % insn)
        if self.baseline:
            sync = "not used (baseline): KVM_GET_REGS/KVM_SET_REGS"
        elif self.borrow_sync_regs:
            sync = "yes, fields %#x (registers read and written in kvm_run)" % self.sync_regs
        else:
            sync = "no (KVM_GET_REGS/KVM_SET_REGS)"
        lines.append("host sync_regs: %s" % sync)
        lines.append("modelled whatever the host has: %s" % ", ".join(
            "%s (host %s)" % (name, hex(value) if mask else ("yes" if value else "no"))
            for name, value, mask in self.modelled))
        lines.append("host baseline: %s present" % ", ".join(name for name, _, _, _ in REQUIRED))
        return lines
