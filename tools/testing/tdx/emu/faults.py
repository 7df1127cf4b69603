# SPDX-License-Identifier: GPL-2.0-only
"""Named fault switches: re-create historical KVM-TDX bugs in the emulated platform.

TDX_EMU_FAULTS=name[,name] (or EmuSystem(fault_names=...)) turns them on.  Each
fault is one small, marked branch (`"name" in vm.faults`) at the spot of the
model that plays the kernel function where the bug lived, so that the
project's tests can show that the suite's named cases catch it
(tests/test_fault_switches.py; the catalogue with every bug, its fix and its
cases: docs/bug-catalogue.md).
"""

import os
from collections import namedtuple

ENV = "TDX_EMU_FAULTS"


class Fault(namedtuple("Fault", "where function bug fix release")):
    """One re-created bug.

    where: the model file holding the branch; function: the kernel function
    (or patch) where the bug lived; bug: what userspace or the TD saw;
    fix: the fixing commit (id and title) or, for a bug that never reached
    a release, the posted series that had it and the version that dropped
    it; release: the first release without it ("pre-merge" if none had it)."""


PRE_MERGE = "pre-merge"

FAULTS = {
    # -- TDG.VP.VMCALL handling (emu/vmcall.py) --
    "msr-filter-ignored": Fault(
        "emu/vmcall.py", "tdx_emulate_rdmsr/wrmsr (posted series)",
        "TDVMCALL<RDMSR/WRMSR> never consults KVM_X86_SET_MSR_FILTER: a denied MSR is read or written",
        "\"KVM: TDX: Handle TDX PV rdmsr/wrmsr hypercall\" RFC v6 called kvm_get/set_msr(), which no longer "
        "filter; later versions check kvm_msr_allowed() (docs/kvm-tdx-uapi.md §4.13 history)", PRE_MERGE),
    "msr-no-user-exit": Fault(
        "emu/vmcall.py", "tdx_emulate_rdmsr/wrmsr (posted series)",
        "the filter is honoured, but every MSR failure is INVALID_OPERAND in the kernel: no "
        "KVM_EXIT_X86_RDMSR/WRMSR even when userspace enabled them",
        "same patch, v8 .. \"the rest\" (2024-12); merged (6.16) through kvm_emulate_rdmsr/wrmsr() and "
        "their user-space exits", PRE_MERGE),
    "tdvmcall-errno-status": Fault(
        "emu/vmcall.py", "handle_tdvmcall, tdx_emulate_io, tdx_complete_emulated_msr",
        "failures write a negative Linux errno into R10 (-E2BIG for an IO size above 4, -EFAULT for a "
        "failed MSR access, -EOPNOTSUPP for an unknown leaf) instead of a GHCI status",
        "\"KVM: TDX: Add 'basic' support for building and running Trust Domains\" (RFC v1 64/67, "
        "2020-11); GHCI status codes from the following versions on", PRE_MERGE),
    "io-size-unchecked": Fault(
        "emu/vmcall.py", "tdx_emulate_io",
        "Instruction.IO does not validate the size: 0, 3, 5 and 8 reach userspace",
        "size in {1, 2, 4} or INVALID_OPERAND, as merged (docs/kvm-tdx-uapi.md §4.6)", PRE_MERGE),
    "io-size-only-above-4": Fault(
        "emu/vmcall.py", "tdx_emulate_io",
        "only a size above 4 is refused: sizes 0 and 3 reach the PIO emulator and userspace",
        "\"KVM: TDX: Handle TDX PV port I/O hypercall\" RFC v1 .. v19; the merged tdx_emulate_io() "
        "takes 1, 2 and 4 only", PRE_MERGE),
    "io-direction-nonzero-out": Fault(
        "emu/vmcall.py", "tdx_emulate_io",
        "any R13 != 0 is taken for OUT: direction 2 (or a set upper bit) writes to the port",
        "\"KVM: TDX: Handle TDX PV port I/O hypercall\" RFC v1 .. v19; the merged tdx_emulate_io() "
        "refuses R13 > 1", PRE_MERGE),
    "mmio-shared-bit-unchecked": Fault(
        "emu/vmcall.py", "tdx_emulate_mmio",
        "#VE.RequestMMIO does not check the shared bit of GPA and GPA+size-1: MMIO on private memory "
        "reaches userspace",
        "RFC v1 64/67 had no shared-bit check; the merged tdx_emulate_mmio() refuses a private GPA "
        "(docs/kvm-tdx-uapi.md §4.14)", PRE_MERGE),
    "mmio-shared-bit-kept": Fault(
        "emu/vmcall.py", "tdx_emulate_mmio",
        "the MMIO exit's phys_addr keeps the guest's shared bit",
        "RFC v1 64/67 passed the GPA through; the merged tdx_emulate_mmio() strips the shared bit",
        PRE_MERGE),
    "mmio-size-only-above-8": Fault(
        "emu/vmcall.py", "tdx_emulate_mmio",
        "only a size above 8 is refused: sizes 0, 3, 5, 6 and 7 reach userspace",
        "RFC v1 64/67 checked size > 8; the merged tdx_emulate_mmio() takes 1, 2, 4 and 8 only",
        PRE_MERGE),
    "mmio-xapic-page-in-kernel": Fault(
        "emu/vmcall.py", "tdx_emulate_mmio",
        "#VE.RequestMMIO to the xAPIC page is handled by the in-kernel LAPIC: no KVM_EXIT_MMIO, writes "
        "dropped, reads all-ones",
        "\"KVM: TDX: Handle TDX PV MMIO hypercall\" v19 110/130 (2024-06 review); the merged "
        "tdx_emulate_mmio() tries only KVM_FAST_MMIO_BUS and KVM_MMIO_BUS", PRE_MERGE),
    "mapgpa-no-align-check": Fault(
        "emu/vmcall.py", "tdx_map_gpa",
        "MapGPA does not return ALIGN_ERROR for an unaligned GPA or size",
        "ALIGN_ERROR as merged with MapGPA (2c304880835d, docs/kvm-tdx-uapi.md §4.7)", PRE_MERGE),
    "mapgpa-no-exit": Fault(
        "emu/vmcall.py", "tdx_map_gpa",
        "MapGPA only checks the range and returns SUCCESS: no KVM_EXIT_HYPERCALL, the VMM never "
        "learns of the conversion",
        "RFC v2 66/69 (2021-07) left conversions to the EPT violation handler; merged MapGPA "
        "(2c304880835d \"KVM: TDX: Handle TDG.VP.VMCALL<MapGPA>\") exits per 2 MiB chunk", PRE_MERGE),
    "mapgpa-user-errors-ignored": Fault(
        "emu/vmcall.py", "tdx_complete_vmcall_map_gpa",
        "any non-zero hypercall.ret of a MapGPA chunk is INVALID_OPERAND: userspace cannot ask the "
        "guest to retry (EAGAIN), and values other than EAGAIN/EINVAL do not fail KVM_RUN",
        "3e2dec1ede0a KVM: TDX: Allow userspace to return errors to guest for MAPGPA", "7.2"),
    "hypercall-ret-stale": Fault(
        "emu/vmcall.py", "__tdx_map_gpa, ____kvm_emulate_hypercall",
        "KVM_EXIT_HYPERCALL leaves kvm_run.hypercall.ret as the union last held it: a VMM that never "
        "writes it (QEMU <= 9.2) fails the guest's MapGPA",
        "9a1dfeff4414 KVM: x86: clear vcpu->run->hypercall.ret before exiting for KVM_EXIT_HYPERCALL",
        "6.13"),
    "subfunc-invalid-operand": Fault(
        "emu/vmcall.py", "handle_tdvmcall, tdx_map_gpa",
        "a sub-function KVM does not handle, and MapGPA without KVM_CAP_EXIT_HYPERCALL, answer "
        "INVALID_OPERAND, which a guest cannot tell from a bad operand",
        "b5aafcb4efd2 KVM: TDX: Add new TDVMCALL status code for unsupported subfuncs", "6.16"),
    "tdvmcallinfo-leaf1-unhandled": Fault(
        "emu/vmcall.py", "tdx_get_td_vm_call_info",
        "GetTdVmCallInfo leaf 1 answers INVALID_OPERAND: userspace is never asked",
        "25e8b1dd4883 KVM: TDX: Exit to userspace for GetTdVmCallInfo", "6.16"),
    "fatal-error-v1-layout": Fault(
        "emu/vmcall.py", "tdx_report_fatal_error",
        "ReportFatalError's exit has ndata 10: data[0] = R12, data[1] = R13, then R14, R15, RBX, RDI, "
        "RSI, R8, R9, RDX",
        "\"KVM: TDX: Handle TDG.VP.VMCALL<ReportFatalError>\" v1 (2024-12); v3, merged as 79462faa2b2a, "
        "dumps the 16 GPRs in x86 order", PRE_MERGE),
    "fatal-error-rdx-rbx-swapped": Fault(
        "emu/vmcall.py", "tdx_report_fatal_error",
        "RDX and RBX trade places in the register dump (data[2] = RBX, data[3] = RDX)",
        "RFC v3 \"KVM: TDX: exit to user space on GET_QUOTE, SETUP_EVENT_NOTIFY_INTERRUPT\" (2021-11) "
        "defined REG_MASK_RBX as bit 2 and REG_MASK_RDX as bit 3 for its register dump; the merged "
        "dump (79462faa2b2a) uses the x86 order", PRE_MERGE),
    "getquote-size-checks": Fault(
        "emu/vmcall.py", "tdx_get_quote",
        "GetQuote refuses a size of 0 (INVALID_OPERAND) and an unaligned GPA or size (ALIGN_ERROR)",
        "\"KVM: TDX: Handle TDG.VP.VMCALL<GetQuote>\" v1 (2025-04, Message-ID "
        "20250402001557.173586-2-binbin.wu@linux.intel.com); merged as cf207eac06f6 with the shared-bit "
        "check only", PRE_MERGE),
    "getquote-gpa-unstripped": Fault(
        "emu/vmcall.py", "tdx_get_quote",
        "GetQuote's exit carries R12 with the guest's shared bit still set",
        "the same 2025-04 v1; cf207eac06f6 strips the shared bit (gpa_to_gfn of the unshared GPA)",
        PRE_MERGE),
    "setup-event-notify-absent": Fault(
        "emu/vmcall.py", "handle_tdvmcall",
        "SetupEventNotifyInterrupt is not handled: SUBFUNC_UNSUPPORTED, no exit to userspace",
        "4580dbef5ce0 KVM: TDX: Exit to userspace for SetupEventNotifyInterrupt (6.16-rc6; "
        "6.16-rc3..rc5 had the bug)", "6.16"),
    "mapgpa-no-interrupt-check": Fault(
        "emu/vmcall.py", "tdx_complete_vmcall_map_gpa",
        "MapGPA never stops between 2 MiB chunks for a pending interrupt (no RETRY): a long "
        "conversion holds off the guest's interrupts",
        "model-level check of the merged MapGPA (2c304880835d), which returns RETRY when "
        "kvm_vcpu_has_events() between chunks", PRE_MERGE),
    # -- interrupts (emu/interrupts.py, emu/delivery.py) --
    "hlt-ignores-rvi": Fault(
        "emu/interrupts.py", "tdx_protected_apic_has_interrupt",
        "TDVMCALL<HLT> with R12 = 0 does not look at a vector already in the vIRR "
        "(TD_VCPU_STATE_DETAILS): a vCPU halts with a deliverable interrupt, e.g. one that arrived in "
        "an STI shadow",
        "\"KVM: TDX: Handle TDX PV HLT hypercall\" v9 092/105 (2022-09, \"buggy_hlt_workaround\"); "
        "the merged tdx_protected_apic_has_interrupt() reads TD_VCPU_STATE_DETAILS_NON_ARCH",
        PRE_MERGE),
    "hlt-ignores-blocked-flag": Fault(
        "emu/interrupts.py", "tdx_interrupt_allowed",
        "R12 of TDVMCALL<HLT> (interrupts blocked) is ignored: a maskable interrupt wakes a vCPU that "
        "said it halts with interrupts blocked",
        "model-level check of the merged tdx_interrupt_allowed() (6.16), which answers false after an "
        "HLT exit with R12 != 0", PRE_MERGE),
    "msi-spiv-ignored": Fault(
        "emu/interrupts.py", "kvm_apic_set_irq (APIC software enable)",
        "fixed interrupts reach a vCPU whose APIC is software-disabled (SPIV bit 8 clear)",
        "model-level check of the local APIC's software enable (arch/x86/kvm/lapic.c, "
        "kvm_apic_sw_enabled())", PRE_MERGE),
    "icr-no-ipi": Fault(
        "emu/interrupts.py", "kvm_x2apic_icr_write",
        "a TDVMCALL<WRMSR> of the x2APIC ICR stores the value and sends no IPI",
        "model-level check of the x2APIC ICR write path (arch/x86/kvm/lapic.c, kvm_x2apic_icr_write())",
        PRE_MERGE),
    "eoi-lost": Fault(
        "emu/delivery.py", "the TDX module's virtual EOI",
        "the guest's EOI does not retire the in-service vector: nothing of the same or a lower "
        "priority class is delivered again",
        "model-level check of virtual-interrupt delivery (EOIs are virtualised by the TDX module for a "
        "TD)", PRE_MERGE),
    # -- concurrency: KVM's locks around the TDX commands (emu/ioctls.py) --
    "memslot-delete-deadlock": Fault(
        "emu/memory.py", "tdx_handle_ept_violation (local retry)",
        "a private EPT violation retries locally inside kvm->srcu while its memslot is being deleted "
        "(KVM_MEMSLOT_INVALID): the deletion's synchronize_srcu() waits until a signal stops the vCPU, "
        "KVM_SET_USER_MEMORY_REGION2 blocks and KVM_RUN ends EINTR instead of the memory fault",
        "2bc2694fe20b KVM: TDX: Do not retry locally when the retry is caused by invalid memslot", "6.18"),
    "vcpu-create-list-add": Fault(
        "emu/percpu.py", "tdx_vcpu_free",
        "a vCPU that KVM_CREATE_VCPU frees after kvm_arch_vcpu_create() loaded it (duplicate vCPU id, "
        "EEXIST) stays on its CPU's associated_tdvcpus list: the next vcpu_load() on that CPU oopses in "
        "list_add() (kernel BUG at lib/list_debug.c:29 in the kernel log; the ioctl never completes)",
        "1e3a825c9ec9 KVM: TDX: Fix list_add corruption during vcpu_load()", "6.19"),
    "vm-state-unguarded": Fault(
        "emu/ioctls.py", "tdx_vcpu_unlocked_ioctl, tdx_td_finalize (tdx_acquire_vm_state_locks)",
        "KVM_TDX_INIT_VCPU takes only its own vcpu->mutex: racing INIT_MEM_REGION(MEASURE) or "
        "FINALIZE_VM on another thread, its TDH.VP.CREATE meets TDH.MR.EXTEND or TDH.MR.FINALIZE in the "
        "TDX module (TDX_OPERAND_BUSY): KVM_BUG_ON, the VM is dead (EIO), or FINALIZE fails EBUSY",
        "15945e9ec195 KVM: TDX: Guard VM state transitions with \"all\" the locks", "6.19"),
    "vp-init-no-mmu-lock": Fault(
        "emu/ioctls.py", "tdx_td_vcpu_init",
        "TDH.VP.INIT runs without mmu_lock: racing fallocate(PUNCH_HOLE) of a guest_memfd whose pages "
        "are in the TD, it meets the S-EPT removal (TDH.MEM.RANGE.BLOCK) on the TDR resource: "
        "KVM_BUG_ON, the VM is dead (EIO)",
        "9a89894f30d5 KVM: TDX: Take MMU lock around tdh_vp_init()", "6.19"),
    # -- MSRs (emu/msrs.py) --
    "x2apic-msr-ranges-collapsed": Fault(
        "emu/msrs.py", "tdx_has_emulated_msr",
        "X2APIC_MSR(APIC_ISR + APIC_ISR_NR) collapses each 8-register range to one MSR: ISR1-7, "
        "TMR1-7, IRR1-7 and SELF_IPI count as emulated by KVM",
        "1f3e69af5f93 KVM: TDX: Fix x2APIC MSR handling in tdx_has_emulated_msr()", "7.2"),
    # -- KVM_TDX_* and ordinary ioctls (emu/ioctls.py) --
    "caps-unused-fields-garbage": Fault(
        "emu/ioctls.py", "tdx_get_capabilities",
        "KVM_TDX_CAPABILITIES returns the caller's own bytes in kernel_tdvmcallinfo_1_r11/r12, "
        "user_tdvmcallinfo_1_r12 and reserved[]",
        "b8be70ec2b47 KVM: VMX: Ensure unused kvm_tdx_capabilities fields are zeroed out", "6.16"),
    "caps-getquote-advertised": Fault(
        "emu/ioctls.py", "init_kvm_tdx_caps",
        "user_tdvmcallinfo_1_r11 advertises GetQuote (bit 0), a base TDVMCALL, besides "
        "SetupEventNotifyInterrupt",
        "ed302854d015 KVM: TDX: Don't report base TDVMCALLs", "6.16"),
    "caps-cmd-copied-back": Fault(
        "emu/ioctls.py", "tdx_vm_ioctl",
        "KVM_TDX_CAPABILITIES writes struct kvm_tdx_cmd back: a command in a read-only page fails "
        "EFAULT",
        "f26061fe2c25 KVM: TDX: Don't copy \"cmd\" back to userspace for KVM_TDX_CAPABILITIES", "6.19"),
    "init-mem-end-past-last-byte": Fault(
        "emu/ioctls.py", "tdx_vcpu_init_mem_region",
        "the privateness of a region's end is tested on the byte after it: a region ending exactly "
        "below the shared bit is refused EINVAL",
        "\"KVM: TDX: Create initial guest memory\" v15 (2023-07); the merged code tests "
        "gpa + size - 1", PRE_MERGE),
    "init-mem-null-source-unchecked": Fault(
        "emu/ioctls.py", "tdx_vcpu_init_mem_region",
        "source_addr 0 passes the up-front checks; each page then fails EOPNOTSUPP",
        "TDX follow-up in \"kvm: sev: Fix issues reported by Sashiko\" (2026-06-23; commit id not "
        "established)", "newest"),
    "tsc-khz-vcpu-accepted": Fault(
        "emu/ioctls.py", "kvm_arch_vcpu_ioctl(KVM_SET_TSC_KHZ)",
        "KVM_SET_TSC_KHZ on a TD vCPU returns 0 although the TDX module owns the TSC",
        "b24bbb534c2d KVM: x86: Reject KVM_SET_TSC_KHZ vCPU ioctl for TSC protected guest", "6.16"),
    "tsc-khz-vm-after-vcpu-accepted": Fault(
        "emu/ioctls.py", "kvm_arch_vm_ioctl(KVM_SET_TSC_KHZ)",
        "VM-fd KVM_SET_TSC_KHZ after KVM_CREATE_VCPU returns 0 without reaching the existing vCPUs",
        "dcbe5a466c12 KVM: x86: Reject KVM_SET_TSC_KHZ VM ioctl when vCPUs have been created", "6.17"),
    "cap-readonly-mem-advertised": Fault(
        "emu/ioctls.py", "kvm_vm_ioctl_check_extension(KVM_CAP_READONLY_MEM)",
        "a TD's VM fd reports KVM_CAP_READONLY_MEM = 1 although it refuses read-only memslots",
        "d30d9ee94cc0 KVM: x86: Only advertise KVM_CAP_READONLY_MEM when supported by VM", "6.11"),
    # -- memory (emu/memory.py) --
    "readonly-memslot-accepted": Fault(
        "emu/memory.py", "check_memory_region_flags (kvm_arch_has_readonly_mem)",
        "KVM_MEM_READONLY memslots are taken for a TD, whose writes there KVM cannot emulate",
        "66155de93bcf KVM: x86: Disallow read-only memslots for SEV-ES and SEV-SNP (and TDX)", "6.11"),
    "private-visible": Fault(
        "emu/memory.py", "the private view (guest_memfd)",
        "the private view is backed by the host's own memory: private data is visible to userspace",
        "model-level check of the private/shared split (docs/kvm-tdx-uapi.md §3.2)", PRE_MERGE),
    "no-zero-on-private": Fault(
        "emu/memory.py", "TDH.MEM.PAGE.REMOVE / TDG.MEM.PAGE.ACCEPT",
        "a page converted back to private keeps its old content instead of reading zero",
        "model-level check of conversions (docs/kvm-tdx-uapi.md §3.3)", PRE_MERGE),
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
