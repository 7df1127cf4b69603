# SPDX-License-Identifier: GPL-2.0-only
"""Named fault switches: re-create historical KVM-TDX bugs in the emulated platform.

TDX_EMU_FAULTS=name[,name] (or EmuSystem(fault_names=...)) turns them on.  Each
fault is one small, marked branch (`if "name" in vm.faults`) at the spot where
the bug lived, so that the project's tests can show that the suite's named
cases catch it (issue 4, "Fault switches").
"""

import os

ENV = "TDX_EMU_FAULTS"

# name -> (where it lives, what it re-creates)
FAULTS = {
    "msr-filter-ignored": (
        "emu/vmcall.py",
        "TDVMCALL<RDMSR/WRMSR> never consults KVM_X86_SET_MSR_FILTER (earliest "
        "pre-merge copies of the TDX MSR hypercall; docs/kvm-tdx-uapi.md §4.13 history)"),
    "msr-no-user-exit": (
        "emu/vmcall.py",
        "filter honoured, but any MSR failure returns INVALID_OPERAND with no "
        "KVM_EXIT_X86_RDMSR/WRMSR (Yamahata pre-merge series, §4.13 history)"),
    "io-size-unchecked": (
        "emu/vmcall.py",
        "Instruction.IO does not validate the size: 0/3/5/8 reach userspace (§4.6)"),
    "mmio-shared-bit-unchecked": (
        "emu/vmcall.py",
        "#VE.RequestMMIO does not check the shared bit of GPA and GPA+size-1 (§4.14)"),
    "mapgpa-no-align-check": (
        "emu/vmcall.py",
        "MapGPA does not return ALIGN_ERROR for an unaligned GPA or size (§4.7)"),
    "getquote-size-checks": (
        "emu/vmcall.py",
        "GetQuote refuses a size of 0 (INVALID_OPERAND) and an unaligned GPA or size "
        "(ALIGN_ERROR): the pre-merge handler of 2025-04 (Message-ID "
        "20250402001557.173586-2-binbin.wu@linux.intel.com); merged as cf207eac06f6 without them"),
    "getquote-gpa-unstripped": (
        "emu/vmcall.py",
        "GetQuote passes R12 to userspace with the shared bit still set (the same pre-merge handler)"),
    "setup-event-notify-absent": (
        "emu/vmcall.py",
        "SetupEventNotifyInterrupt is not handled: SUBFUNC_UNSUPPORTED, no exit "
        "(6.16-rc3..rc5, before 4580dbef5ce0)"),
    "hlt-ignores-rvi": (
        "emu/interrupts.py",
        "TDVMCALL<HLT> with R12 = 0 does not look at a vector already in the vIRR "
        "(TD_VCPU_STATE_DETAILS): a vCPU halts with a deliverable interrupt, e.g. one that "
        "arrived in an STI shadow (pre-merge v9 HLT handling, 2022-09)"),
    "hlt-ignores-blocked-flag": (
        "emu/interrupts.py",
        "tdx_interrupt_allowed() ignores R12: a maskable interrupt wakes a TDVMCALL<HLT> "
        "that said interrupts are blocked"),
    "mapgpa-no-interrupt-check": (
        "emu/vmcall.py",
        "MapGPA never stops between 2 MiB chunks for a pending interrupt (no RETRY)"),
    "msi-spiv-ignored": (
        "emu/interrupts.py",
        "fixed interrupts reach a vCPU whose APIC is software-disabled (SPIV bit 8 clear)"),
    "icr-no-ipi": (
        "emu/interrupts.py",
        "a TDVMCALL<WRMSR> of the x2APIC ICR stores the value and sends no IPI"),
    "eoi-lost": (
        "emu/delivery.py",
        "the guest's EOI does not retire the in-service vector: nothing of the same or a "
        "lower priority class is delivered again"),
    "private-visible": (
        "emu/memory.py",
        "the private view is backed by the host's own memory"),
    "no-zero-on-private": (
        "emu/memory.py",
        "private pages are not zeroed on conversion/AUG"),
}


class UnknownFault(ValueError):
    pass


def parse(names=None):
    """A frozenset of fault names from a list, a comma-separated string, or the
    environment (names=None).  Unknown names raise UnknownFault with a one-line
    message listing the valid ones."""
    if names is None:
        names = os.environ.get(ENV, "")
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    chosen = frozenset(n for n in names if n)
    unknown = sorted(chosen - set(FAULTS))
    if unknown:
        raise UnknownFault("%s: unknown fault%s %s; valid: %s" % (
            ENV, "s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(sorted(FAULTS))))
    return chosen
