# SPDX-License-Identifier: GPL-2.0-only
"""Which kernel release the emulated platform plays: TDX_EMU_KERNEL.

KVM-TDX's answers changed between releases (docs/generations.md).  The model
plays one release at a time, TDX_EMU_KERNEL=6.16|6.17|...|7.3|newest
(default newest), so that both sides of every release-dependent case run on
any host.  This file is the one place that decides which of the model's
generation-dependent rules are in force; the code that applies a rule asks
`vm.kernel.has(rule)`.

RULES states, for every rule, the first release whose kernel behaves so and
the upstream commit that made it so.  It is written from the kernel history
on its own; tests/test_generations.py checks that it agrees with the
library's table (tdx.lib.generations.CHANGES), which decides what the suite
expects: the two are kept apart so that a wrong release on either side
shows up as failing cases under the generations it affects.

EmuSystem.kernel_release() reports the release played: on the emulated
platform the model is the kernel under test.
"""

import os

from tdx.lib.generations import GENERATIONS, NEWEST, check_name

ENV = "TDX_EMU_KERNEL"

# rule -> (first release, commit that introduced the behaviour)
RULES = {
    # x86.c kvm_arch_vm_ioctl(KVM_SET_TSC_KHZ): EINVAL once kvm->created_vcpus.
    "tsc-khz-vm-after-vcpu": ("6.17", "dcbe5a466c12 KVM: x86: Reject KVM_SET_TSC_KHZ VM ioctl when vCPUs "
                                      "have been created"),
    # x86.c: KVM_SET_MP_STATE takes INIT_RECEIVED/SIPI_RECEIVED; kvm_x86_vcpu_pre_run() refuses to run it.
    "mp-state-init-at-run": ("6.17", "0fe3e8d804fd KVM: x86: Move INIT_RECEIVED vs. INIT/SIPI blocked check "
                                     "to KVM_RUN"),
    # x86.c kvm_arch_vm_ioctl(KVM_CREATE_IRQCHIP): ENOTTY if kvm->arch.has_protected_eoi.
    "irqchip-enotty": ("6.18", "b3a37bff8daf KVM: TDX: Reject fully in-kernel irqchip if EOIs are protected, "
                               "i.e. for TDX VMs"),
    # guest_memfd.c kvm_gmem_get_supported_flags(): MMAP for VMs with private memory.
    "gmem-mmap-flag": ("6.18", "44c6cb9fe988 KVM: guest_memfd: Allow mmap() on guest_memfd for x86 VMs with "
                               "private memory"),
    # tdx.c tdx_vm_ioctl(): KVM_TDX_CAPABILITIES returns before the command is copied back.
    "caps-no-copyback": ("6.19", "f26061fe2c25 KVM: TDX: Don't copy \"cmd\" back to userspace for "
                                 "KVM_TDX_CAPABILITIES"),
    # tdx.c tdx_vcpu_unlocked_ioctl(): tdx_get_cmd() before the TD state check.
    "vcpu-cmd-first": ("6.19", "94428e3ba325 KVM: TDX: Convert INIT_MEM_REGION and INIT_VCPU to \"unlocked\" "
                               "vCPU ioctl"),
    # tdx.c tdx_handle_ept_violation(): no local retry while the memslot is
    # KVM_MEMSLOT_INVALID (emu/memory.py private_fault_retry()).
    "memslot-invalid-no-local-retry": ("6.18", "2bc2694fe20b KVM: TDX: Do not retry locally when the retry is "
                                               "caused by invalid memslot"),
    # tdx.c tdx_acquire_vm_state_locks(): INIT_VM, FINALIZE_VM, INIT_VCPU and
    # INIT_MEM_REGION under kvm->lock, every vcpu->mutex and slots_lock;
    # EBUSY while a KVM_CREATE_VCPU is in flight (emu/concurrency.py).
    "vm-state-ebusy": ("6.19", "15945e9ec195 KVM: TDX: Guard VM state transitions with \"all\" the locks"),
    # tdx.c tdx_td_vcpu_init(): TDH.VP.INIT under mmu_lock (write).
    "vp-init-mmu-lock": ("6.19", "9a89894f30d5 KVM: TDX: Take MMU lock around tdh_vp_init()"),
    # tdx.c tdx_vcpu_free(): a vCPU freed with vcpu->cpu != -1 leaves its
    # CPU's associated_tdvcpus list (emu/percpu.py).
    "vcpu-free-disassociate": ("6.19", "1e3a825c9ec9 KVM: TDX: Fix list_add corruption during vcpu_load()"),
    # guest_memfd.c kvm_gmem_populate(): no "prepared" tracking, so no EEXIST;
    # mmu.c kvm_tdp_mmu_map_private_pfn() fails an existing mapping with EIO.
    "init-mem-no-prepared": ("7.0", "8622ef05709f KVM: guest_memfd: Remove preparation tracking"),
    # guest_memfd.c kvm_gmem_populate(): the source is pinned before the
    # attribute check; tdx_gmem_post_populate(): no source page -> EOPNOTSUPP.
    "init-mem-gup-first": ("7.0", "2a62345b3052 KVM: guest_memfd: GUP source pages prior to populating "
                                  "guest memory"),
    "init-mem-null-source-eopnotsupp": ("7.0", "2a62345b3052 KVM: guest_memfd: GUP source pages prior to "
                                               "populating guest memory"),
    # tdx.c tdx_complete_vmcall_map_gpa(): EAGAIN/EINVAL/other.
    "mapgpa-user-errors": ("7.2", "3e2dec1ede0a KVM: TDX: Allow userspace to return errors to guest for MAPGPA"),
    # tdx.c tdx_has_emulated_msr(): only the listed x2APIC registers.
    "x2apic-msrs": ("7.2", "1f3e69af5f93 KVM: TDX: Fix x2APIC MSR handling in tdx_has_emulated_msr()"),
    # guest_memfd.c kvm_gmem_bind(): EEXIST for a range another memslot binds.
    "gmem-bind-eexist": ("7.2", "7ea987a90585 KVM: guest_memfd: Return -EEXIST for overlapping bindings"),
    # tdx.c tdx_vcpu_init_mem_region(): !region.source_addr -> EINVAL up front
    # (kvm-x86/linux 09c6f74ecb86; commit id not established).
    "init-mem-null-source-einval": (NEWEST, "TDX follow-up in \"kvm: sev: Fix issues reported by Sashiko\" "
                                            "(2026-06-23)"),
}


def requested(value=None):
    """The release to play: `value`, else $TDX_EMU_KERNEL, else the newest.
    A bad name raises tdx.lib.generations.GenerationError (a ValueError:
    a usage error, one line)."""
    if value is None:
        value = os.environ.get(ENV, "").strip() or NEWEST
    return check_name(ENV, value)


class Kernel:
    """The release the model plays, and which of RULES are in force."""

    def __init__(self, release=None):
        self.release = requested(release)
        self._index = GENERATIONS.index(self.release)

    def has(self, rule):
        return self._index >= GENERATIONS.index(RULES[rule][0])

    def __repr__(self):
        return "Kernel(%s)" % self.release
