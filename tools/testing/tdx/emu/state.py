# SPDX-License-Identifier: GPL-2.0-only
"""Model state of a TD and its vCPUs: what KVM (struct kvm_tdx, vcpu_tdx) and the
TDX module (TDCS, TDVPS) hold for them.  Pure data; behaviour lives in
ioctls.py (KVM_TDX_*), tdx_module.py (TDCALL) and vmcall.py (TDG.VP.VMCALL).
"""

import functools
import os
import threading
from collections import namedtuple

from tdx.lib import abi
from tdx.emu.apic import VirtualApic
from tdx.emu.concurrency import Mutex, Races, Srcu, TdxModuleLocks
from tdx.emu.errors import EmuMemoryFault, EmuRunError  # noqa: F401  (re-exported)
from tdx.emu.kernel import Kernel
from tdx.emu.measurement import Measurement
from tdx.emu.msrs import MsrState
from tdx.emu.regs import Regs
from tdx.emu.tdx_module import TdxSysInfo

# enum kvm_tdx_state / enum vcpu_tdx_state (arch/x86/kvm/vmx/tdx.h)
TD_STATE_UNINITIALIZED = 0
TD_STATE_INITIALIZED = 1
TD_STATE_RUNNABLE = 2
VCPU_TD_STATE_UNINITIALIZED = 0
VCPU_TD_STATE_INITIALIZED = 1

KVM_MAX_VCPUS = 4096                    # x86 KVM_MAX_VCPUS (kvm_host.h, CONFIG_KVM_MAX_NR_VCPUS default)

# The #VE information the TDX module keeps per vCPU (TDVPS VE_INFO) and returns
# with TDG.VP.VEINFO.GET.  The memory/run-loop code may also store a plain
# 5-tuple (exit_reason, exit_qualification, gla, gpa, instr_info).
VeInfo = namedtuple("VeInfo", "exit_reason exit_qualification gla gpa instr_info category")
VeInfo.__new__.__defaults__ = (0,)


@functools.lru_cache(maxsize=None)
def present_cpus():
    """num_present_cpus() as the model uses it (KVM_CAP_MAX_VCPUS, a TD's
    max_vcpus): asked once per process, as the model does not play CPU
    hotplug, and asking costs an open and read of a sysfs file per TD."""
    return os.cpu_count() or 1


class MsrFilter:
    """KVM_X86_SET_MSR_FILTER content as KVM stores it (struct kvm_x86_msr_filter).

    `allowed(index, write)` is kvm_msr_allowed() (arch/x86/kvm/msrs.c): x2APIC
    MSRs 0x800-0x8ff are never filtered; the first range that contains the index
    and has the access type decides (bitmap bit set = allowed); otherwise the
    default action (docs/kvm-tdx-uapi.md §4.13)."""

    def __init__(self, default_allow=True, ranges=()):
        self.default_allow = default_allow
        self.ranges = [(flags, base, nmsrs, bytes(bitmap)) for flags, base, nmsrs, bitmap in ranges]

    @classmethod
    def from_cdata(cls, cfilter, read_user):
        """From a cffi `struct kvm_msr_filter *`; validates like
        kvm_vm_ioctl_set_msr_filter() / kvm_add_msr_filter() (x86.c), in their
        order, and copies each bitmap with read_user(addr, size), which raises
        OSError(EFAULT) for a bad pointer."""
        import errno
        from tdx.lib.abi import ffi
        if cfilter.flags & ~abi.KVM_MSR_FILTER_DEFAULT_DENY:
            raise OSError(errno.EINVAL, "msr filter flags")
        default_allow = not cfilter.flags & abi.KVM_MSR_FILTER_DEFAULT_DENY
        empty = not any(cfilter.ranges[i].nmsrs for i in range(abi.KVM_MSR_FILTER_MAX_RANGES))
        if empty and not default_allow:
            raise OSError(errno.EINVAL, "deny-all msr filter without ranges")
        ranges = []
        for i in range(abi.KVM_MSR_FILTER_MAX_RANGES):
            r = cfilter.ranges[i]
            if not r.nmsrs:
                continue
            if r.flags & ~(abi.KVM_MSR_FILTER_READ | abi.KVM_MSR_FILTER_WRITE) or not r.flags:
                raise OSError(errno.EINVAL, "msr filter range flags")
            size = (r.nmsrs + 63) // 64 * 8                 # BITS_TO_LONGS * sizeof(long)
            if size > abi.KVM_MSR_FILTER_MAX_BITMAP_SIZE:
                raise OSError(errno.EINVAL, "msr filter bitmap size")
            bitmap = read_user(int(ffi.cast("uintptr_t", r.bitmap)), size)
            ranges.append((r.flags, r.base, r.nmsrs, bytes(bitmap)))
        return cls(default_allow, ranges)

    def allowed(self, index, write):
        if 0x800 <= index <= 0x8FF:
            return True
        kind = abi.KVM_MSR_FILTER_WRITE if write else abi.KVM_MSR_FILTER_READ
        for flags, base, nmsrs, bitmap in self.ranges:
            if base <= index < base + nmsrs and flags & kind:
                bit = index - base
                return bool(bitmap[bit >> 3] >> (bit & 7) & 1)
        return self.default_allow


class TdVm:
    """A TD: struct kvm_tdx plus the TDCS fields the model needs."""

    def __init__(self, faults=frozenset(), sysinfo=None, max_vcpus=None, memory=None, kernel=None, races=None,
                 log=None):
        self.faults = frozenset(faults)
        # KVM's locks and the TDX module's try-locks (emu/concurrency.py);
        # `races`: the platform's forced interleavings.
        self.races = races or Races()
        self.kvm_lock = Mutex(self.races)              # kvm->lock
        self.slots_lock = Mutex(self.races)            # kvm->slots_lock
        self.mmu_lock = Mutex(self.races)              # kvm->mmu_lock, write side
        self.module_locks = TdxModuleLocks(self.races)
        # kvm->srcu; `log`: the platform's kernel log (emu/kmsg.py), where the
        # model writes what the kernel would print.
        self.log = log
        self.srcu = Srcu(self.races, log)
        # kvm->created_vcpus / online_vcpus: they differ while a
        # KVM_CREATE_VCPU is in flight.
        self.created_vcpus = 0
        self.online_vcpus = 0
        # The release whose rules the model plays (emu/kernel.py, TDX_EMU_KERNEL).
        self.kernel = kernel or Kernel()
        self.sysinfo = sysinfo or TdxSysInfo()
        # tdx_vm_init(): kvm->max_vcpus = min(KVM max, num_present_cpus()) (§1)
        self.max_vcpus = max_vcpus or min(KVM_MAX_VCPUS, present_cpus())
        self.state = TD_STATE_UNINITIALIZED
        # TD_PARAMS as given to TDH.MNG.INIT (KVM_TDX_INIT_VM, §2.3)
        self.attributes = 0
        self.xfam = 0
        self.gpaw = 0
        self.shared_bit = 0                     # GPA bit (1 << 47 or 1 << 51); 0 before INIT_VM
        self.mrconfigid = self.mrowner = self.mrownerconfig = bytes(48)
        self.cpuid_config = {}                  # (function, index) -> (eax, ebx, ecx, edx)
        self.tsc_khz = 0
        # vCPUs
        self.vcpus = []                         # TdVcpu in KVM_CREATE_VCPU order
        self.num_vcpus = 0                      # TDH.VP.INIT count (TDCS num_vcpus)
        # enabled capabilities (KVM_ENABLE_CAP) and VM-wide settings
        self.split_irqchip = False
        self.irqchip_in_kernel = False          # full in-kernel irqchip: never for a TD (td_create_irqchip)
        self.nr_reserved_ioapic_pins = 0
        # KVM_CAP_X2APIC_API (kvm->arch.x2apic_format, x2apic_broadcast_quirk_disabled)
        self.x2apic_format = False
        self.x2apic_broadcast_quirk_disabled = False
        # Serialises interrupt state between vCPU threads and the test thread
        # (emu/interrupts.py); KVM's equivalents are atomics and kvm->irq_lock.
        self.irq_lock = threading.Lock()
        self.hypercall_exit_enabled = 0         # KVM_CAP_EXIT_HYPERCALL mask
        self.user_space_msr_mask = 0            # KVM_CAP_X86_USER_SPACE_MSR mask
        self.msr_filter = None                  # MsrFilter or None
        self.measurement = Measurement()
        self.memory = memory                    # provided by the platform (emu/memory.py)
        self.read_host = None                   # provided by the platform
        # kvm_vm_dead() after a KVM_BUG_ON() (e.g. FINALIZE without a vCPU):
        # every later ioctl on the VM and its vCPUs fails EIO.
        self.dead = False
        self.default_tsc_khz = None             # VM-fd KVM_SET_TSC_KHZ before any vCPU (None: the host's)

    @property
    def initialized(self):
        """HKID assigned: KVM_TDX_INIT_VM succeeded (is_hkid_assigned())."""
        return self.state != TD_STATE_UNINITIALIZED

    @property
    def finalized(self):
        return self.state == TD_STATE_RUNNABLE

    def is_private_gpa(self, gpa):
        """vt_is_tdx_private_gpa(): shared bit clear (§3.2)."""
        return not gpa & self.shared_bit

    def user_exit_on_hypercall(self, nr):
        return bool(self.hypercall_exit_enabled >> nr & 1)


def _no_kick():
    pass


class TdVcpu:
    """A TD vCPU: struct vcpu_tdx plus the TDVPS fields the model needs."""

    def __init__(self, vcpu_id, bsp=None, kernel=None, vm=None, faults=frozenset()):
        self.vcpu_id = vcpu_id
        self.vm = vm                            # the TdVm (apic->vcpu->kvm): IPIs need the other vCPUs
        self.mutex = Mutex(vm.races if vm is not None else Races())   # vcpu->mutex
        self.kernel = kernel or Kernel()        # the release played (its VM's, emu/kernel.py)
        self.faults = frozenset(faults)         # its VM's fault switches (emu/faults.py)
        self.state = VCPU_TD_STATE_UNINITIALIZED
        self.index = None                       # TDVPS VCPU_INDEX, assigned by TDH.VP.INIT
        self.init_rcx = 0                       # KVM_TDX_INIT_VCPU data
        self.cpuid = []                         # KVM_SET_CPUID2 table: (function, index, flags, eax, ebx, ecx, edx)
        self.msrs = MsrState(vcpu_id, bsp)
        # kvm_arch_vcpu_create(): BSP (or no in-kernel irqchip) starts RUNNABLE,
        # APs UNINITIALIZED; KVM_TDX_INIT_VCPU makes every TD vCPU RUNNABLE.
        self.mp_state = abi.KVM_MP_STATE_RUNNABLE if self.msrs.bsp else abi.KVM_MP_STATE_UNINITIALIZED
        self.has_run = False                    # kvm_vcpu_has_run()
        # vcpu->cpu: the CPU whose associated_tdvcpus list holds it, -1 for
        # none; freed: KVM_CREATE_VCPU gave it up (emu/percpu.py).
        self.cpu = -1
        self.freed = False
        # Interrupts (emu/apic.py, emu/interrupts.py).  exit_hlt: the last TD
        # exit was TDVMCALL<HLT> (vmx_get_exit_reason().basic == EXIT_REASON_HLT),
        # which with vp_enter_args.r12 decides tdx_interrupt_allowed().
        self.apic = VirtualApic()
        self.exit_hlt = False
        # kvm_vcpu_kick(): provided by the platform (emu/system.py).
        self.kick = _no_kick
        # An outstanding TDG.VP.VMCALL: its RCX (exposure mask) and KVM's view
        # of the registers (vcpu_tdx.vp_enter_args).
        self.vmcall_ctl = None
        self.vp_enter_args = Regs()
        self.pending = None                     # complete_userspace_io: callable(vm, vcpu, run) -> bool
        self.map_gpa_next = self.map_gpa_end = 0
        # kvm_run.hypercall.ret as userspace left it at KVM_RUN: on a TD nothing
        # else writes the kvm_run union until KVM's exit (the model's own trips
        # through the real vCPU do; FAULT "hypercall-ret-stale" needs the former).
        self.hypercall_ret_at_entry = 0
        self.ve_info = None                     # VeInfo / 5-tuple, or None when not valid

    @property
    def initialized(self):
        return self.state == VCPU_TD_STATE_INITIALIZED

    @property
    def halted(self):
        return self.mp_state == abi.KVM_MP_STATE_HALTED
