# SPDX-License-Identifier: GPL-2.0-only
"""KVM/TDX uAPI under the kernel's names: the cffi `ffi`, `libc`, ioctl numbers and constants.

Declarations only. Numbers are cited to docs/kvm-tdx-uapi.md by section;
those it does not list come from include/uapi/linux/kvm.h or arch/x86/include/uapi/asm/kvm.h
(as synced in qemu linux-headers/linux/kvm.h @050b3d363005 and kvm-x86/linux @3cfc1a8ee2b9),
cited as "kvm.h" / "asm/kvm.h". x86-64 only.
"""

import importlib
import os

from tdx.lib.abi_cdef import CDEF, cdef_hash


def generated_paths():
    """Where `make` may have put _abi_ffi.py: beside this file, or, for
    `make O=DIR` (which leaves the source tree untouched), $TDX_OUTPUT/lib/."""
    paths = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "_abi_ffi.py")]
    if os.environ.get("TDX_OUTPUT"):
        paths.append(os.path.join(os.path.abspath(os.environ["TDX_OUTPUT"]), "lib", "_abi_ffi.py"))
    return paths


def _from_output(name):
    path = generated_paths()[-1]
    if len(generated_paths()) < 2 or not os.path.isfile(path):
        return None
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, path)
    gen = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(gen)
    except Exception:
        return None
    return gen


_GENERATED = "tdx.lib._abi_ffi"


def _load_ffi(module=_GENERATED):
    """The generated out-of-line ffi if it matches CDEF, else one parsed from CDEF (slow)."""
    try:
        gen = importlib.import_module(module)
    except ImportError:
        gen = None
    if module == _GENERATED and (gen is None or getattr(gen, "CDEF_HASH", None) != cdef_hash(CDEF)):
        gen = _from_output(module)
    if gen is not None and getattr(gen, "CDEF_HASH", None) == cdef_hash(CDEF):
        return gen.ffi, True
    # Fresh tree before `make`, or CDEF edited since: parse it here (tens of ms).
    import cffi
    parsed = cffi.FFI()
    parsed.cdef(CDEF)
    return parsed, False


ffi, _FFI_GENERATED = _load_ffi()
libc = ffi.dlopen(None)

# ---------------------------------------------------------------------------
# ioctl number encoding (asm-generic/ioctl.h, used by x86): nr 8 bits, type 8 bits,
# size 14 bits, direction 2 bits. argtype is a C type name, sized with ffi.sizeof as the
# kernel macros do with sizeof().

_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = 8
_IOC_SIZESHIFT = 16
_IOC_DIRSHIFT = 30

_IOC_NONE = 0
_IOC_WRITE = 1
_IOC_READ = 2


def _IOC(dir, type, nr, size):
    return ((dir << _IOC_DIRSHIFT) | (type << _IOC_TYPESHIFT) |
            (nr << _IOC_NRSHIFT) | (size << _IOC_SIZESHIFT))


def _IO(type, nr):
    return _IOC(_IOC_NONE, type, nr, 0)


def _IOR(type, nr, argtype):
    return _IOC(_IOC_READ, type, nr, ffi.sizeof(argtype))


def _IOW(type, nr, argtype):
    return _IOC(_IOC_WRITE, type, nr, ffi.sizeof(argtype))


def _IOWR(type, nr, argtype):
    return _IOC(_IOC_READ | _IOC_WRITE, type, nr, ffi.sizeof(argtype))


KVMIO = 0xAE
KVM_API_VERSION = 12

# ---------------------------------------------------------------------------
# ioctls. /dev/kvm:
KVM_GET_API_VERSION = _IO(KVMIO, 0x00)
KVM_CREATE_VM = _IO(KVMIO, 0x01)                                # 0xAE01, docs/kvm-tdx-uapi.md §1
KVM_GET_MSR_INDEX_LIST = _IOWR(KVMIO, 0x02, "struct kvm_msr_list")
KVM_CHECK_EXTENSION = _IO(KVMIO, 0x03)                          # 0xAE03, docs/kvm-tdx-uapi.md §1
KVM_GET_VCPU_MMAP_SIZE = _IO(KVMIO, 0x04)                       # 0xAE04, docs/kvm-tdx-uapi.md §5
KVM_GET_SUPPORTED_CPUID = _IOWR(KVMIO, 0x05, "struct kvm_cpuid2")

# VM fd:
KVM_CREATE_VCPU = _IO(KVMIO, 0x41)                              # 0xAE41, docs/kvm-tdx-uapi.md §2.8
KVM_SET_USER_MEMORY_REGION = _IOW(KVMIO, 0x46, "struct kvm_userspace_memory_region")
KVM_SET_TSS_ADDR = _IO(KVMIO, 0x47)
KVM_SET_USER_MEMORY_REGION2 = _IOW(KVMIO, 0x49, "struct kvm_userspace_memory_region2")
KVM_CREATE_IRQCHIP = _IO(KVMIO, 0x60)
KVM_GET_IRQCHIP = _IOWR(KVMIO, 0x62, "struct kvm_irqchip")
KVM_SET_IRQCHIP = _IOR(KVMIO, 0x63, "struct kvm_irqchip")       # _IOR is the kernel's (historic)
KVM_SET_TSC_KHZ = _IO(KVMIO, 0xA2)                              # 0xAEA2, docs/kvm-tdx-uapi.md §2.3
KVM_GET_TSC_KHZ = _IO(KVMIO, 0xA3)
KVM_ENABLE_CAP = _IOW(KVMIO, 0xA3, "struct kvm_enable_cap")     # also on vCPU fds
# also on vCPU fds, docs/kvm-tdx-uapi.md §1
KVM_MEMORY_ENCRYPT_OP = _IOWR(KVMIO, 0xBA, "unsigned long")
KVM_X86_SET_MSR_FILTER = _IOW(KVMIO, 0xC6, "struct kvm_msr_filter")
KVM_SET_MEMORY_ATTRIBUTES = _IOW(KVMIO, 0xD2, "struct kvm_memory_attributes")
KVM_CREATE_GUEST_MEMFD = _IOWR(KVMIO, 0xD4, "struct kvm_create_guest_memfd")
KVM_SIGNAL_MSI = _IOW(KVMIO, 0xA5, "struct kvm_msi")               # kvm.h

# vCPU fd:
KVM_RUN = _IO(KVMIO, 0x80)
KVM_GET_REGS = _IOR(KVMIO, 0x81, "struct kvm_regs")
KVM_SET_REGS = _IOW(KVMIO, 0x82, "struct kvm_regs")
KVM_GET_SREGS = _IOR(KVMIO, 0x83, "struct kvm_sregs")
KVM_SET_SREGS = _IOW(KVMIO, 0x84, "struct kvm_sregs")
KVM_INTERRUPT = _IOW(KVMIO, 0x86, "struct kvm_interrupt")
KVM_NMI = _IO(KVMIO, 0x9A)                                          # kvm.h
KVM_GET_MSRS = _IOWR(KVMIO, 0x88, "struct kvm_msrs")
KVM_SET_MSRS = _IOW(KVMIO, 0x89, "struct kvm_msrs")
KVM_SET_CPUID2 = _IOW(KVMIO, 0x90, "struct kvm_cpuid2")
KVM_GET_CPUID2 = _IOWR(KVMIO, 0x91, "struct kvm_cpuid2")
KVM_GET_MP_STATE = _IOR(KVMIO, 0x98, "struct kvm_mp_state")
KVM_GET_LAPIC = _IOR(KVMIO, 0x8E, "struct kvm_lapic_state")
KVM_SET_LAPIC = _IOW(KVMIO, 0x8F, "struct kvm_lapic_state")
KVM_SET_MP_STATE = _IOW(KVMIO, 0x99, "struct kvm_mp_state")
KVM_SET_GUEST_DEBUG = _IOW(KVMIO, 0x9B, "struct kvm_guest_debug")
KVM_GET_VCPU_EVENTS = _IOR(KVMIO, 0x9F, "struct kvm_vcpu_events")
KVM_SET_VCPU_EVENTS = _IOW(KVMIO, 0xA0, "struct kvm_vcpu_events")
KVM_PRE_FAULT_MEMORY = _IOWR(KVMIO, 0xD5, "struct kvm_pre_fault_memory")

# ---------------------------------------------------------------------------
# Capabilities (KVM_CHECK_EXTENSION / KVM_ENABLE_CAP); numbers the reference lacks are kvm.h's.
KVM_CAP_IRQCHIP = 0                         # kvm.h
KVM_CAP_HLT = 1                             # kvm.h
KVM_CAP_USER_MEMORY = 3                     # kvm.h
KVM_CAP_NR_VCPUS = 9                        # kvm.h
KVM_CAP_NR_MEMSLOTS = 10                    # kvm.h
KVM_CAP_MP_STATE = 14                       # kvm.h
KVM_CAP_COALESCED_MMIO = 15                 # kvm.h
KVM_CAP_USER_NMI = 22                       # kvm.h
KVM_CAP_SET_GUEST_DEBUG = 23                # kvm.h
KVM_CAP_VCPU_EVENTS = 41                    # kvm.h
KVM_CAP_TSC_CONTROL = 60                    # kvm.h
KVM_CAP_MAX_VCPUS = 66                      # docs/kvm-tdx-uapi.md §1
KVM_CAP_SYNC_REGS = 74                      # kvm.h
KVM_CAP_SIGNAL_MSI = 77                     # kvm.h
KVM_CAP_READONLY_MEM = 81                   # kvm.h (31 is KVM_CAP_MCE)
KVM_CAP_ENABLE_CAP_VM = 98                  # kvm.h
KVM_CAP_CHECK_EXTENSION_VM = 105            # kvm.h
KVM_CAP_SPLIT_IRQCHIP = 121                 # docs/kvm-tdx-uapi.md §2.8
KVM_CAP_MAX_VCPU_ID = 128                   # kvm.h
KVM_CAP_X2APIC_API = 129                    # kvm.h
KVM_CAP_IMMEDIATE_EXIT = 136                # kvm.h
KVM_CAP_EXCEPTION_PAYLOAD = 164             # kvm.h
KVM_CAP_X86_USER_SPACE_MSR = 188            # docs/kvm-tdx-uapi.md §2.8
KVM_CAP_X86_MSR_FILTER = 189                # docs/kvm-tdx-uapi.md §4.13
KVM_CAP_EXIT_HYPERCALL = 201                # docs/kvm-tdx-uapi.md §3.4
KVM_CAP_DISABLE_QUIRKS2 = 213               # kvm.h; docs/host-kvm.md §0.3
KVM_CAP_VM_TSC_CONTROL = 214                # kvm.h
KVM_CAP_X86_TRIPLE_FAULT_EVENT = 218        # kvm.h
KVM_CAP_USER_MEMORY2 = 231                  # docs/kvm-tdx-uapi.md §3.1
KVM_CAP_MEMORY_FAULT_INFO = 232             # docs/kvm-tdx-uapi.md §3.1
KVM_CAP_MEMORY_ATTRIBUTES = 233             # docs/kvm-tdx-uapi.md §3.1
KVM_CAP_GUEST_MEMFD = 234                   # docs/kvm-tdx-uapi.md §3.1
KVM_CAP_VM_TYPES = 235                      # docs/kvm-tdx-uapi.md §3.1
KVM_CAP_PRE_FAULT_MEMORY = 236              # docs/kvm-tdx-uapi.md §3.1
KVM_CAP_X86_APIC_BUS_CYCLES_NS = 237        # kvm.h
KVM_CAP_GUEST_MEMFD_FLAGS = 244             # docs/kvm-tdx-uapi.md §3.1

# VM types (KVM_CREATE_VM argument; bit n of KVM_CAP_VM_TYPES), docs/kvm-tdx-uapi.md §1
KVM_X86_DEFAULT_VM = 0
KVM_X86_SW_PROTECTED_VM = 1
KVM_X86_SEV_VM = 2
KVM_X86_SEV_ES_VM = 3
KVM_X86_SNP_VM = 4
KVM_X86_TDX_VM = 5

# ---------------------------------------------------------------------------
# kvm_run.exit_reason, docs/kvm-tdx-uapi.md §5 (others kvm.h)
KVM_EXIT_UNKNOWN = 0
KVM_EXIT_EXCEPTION = 1
KVM_EXIT_IO = 2
KVM_EXIT_HYPERCALL = 3
KVM_EXIT_DEBUG = 4
KVM_EXIT_HLT = 5
KVM_EXIT_MMIO = 6
KVM_EXIT_IRQ_WINDOW_OPEN = 7
KVM_EXIT_SHUTDOWN = 8
KVM_EXIT_FAIL_ENTRY = 9
KVM_EXIT_INTR = 10
KVM_EXIT_SET_TPR = 11
KVM_EXIT_TPR_ACCESS = 12
KVM_EXIT_NMI = 16
KVM_EXIT_INTERNAL_ERROR = 17
KVM_EXIT_SYSTEM_EVENT = 24
KVM_EXIT_IOAPIC_EOI = 26
KVM_EXIT_HYPERV = 27
KVM_EXIT_X86_RDMSR = 29
KVM_EXIT_X86_WRMSR = 30
KVM_EXIT_DIRTY_RING_FULL = 31
KVM_EXIT_AP_RESET_HOLD = 32
KVM_EXIT_X86_BUS_LOCK = 33
KVM_EXIT_XEN = 34
KVM_EXIT_NOTIFY = 37
KVM_EXIT_MEMORY_FAULT = 39
KVM_EXIT_TDX = 40

EXIT_REASON_NAMES = {
    KVM_EXIT_UNKNOWN: "KVM_EXIT_UNKNOWN",
    KVM_EXIT_EXCEPTION: "KVM_EXIT_EXCEPTION",
    KVM_EXIT_IO: "KVM_EXIT_IO",
    KVM_EXIT_HYPERCALL: "KVM_EXIT_HYPERCALL",
    KVM_EXIT_DEBUG: "KVM_EXIT_DEBUG",
    KVM_EXIT_HLT: "KVM_EXIT_HLT",
    KVM_EXIT_MMIO: "KVM_EXIT_MMIO",
    KVM_EXIT_IRQ_WINDOW_OPEN: "KVM_EXIT_IRQ_WINDOW_OPEN",
    KVM_EXIT_SHUTDOWN: "KVM_EXIT_SHUTDOWN",
    KVM_EXIT_FAIL_ENTRY: "KVM_EXIT_FAIL_ENTRY",
    KVM_EXIT_INTR: "KVM_EXIT_INTR",
    KVM_EXIT_SET_TPR: "KVM_EXIT_SET_TPR",
    KVM_EXIT_TPR_ACCESS: "KVM_EXIT_TPR_ACCESS",
    KVM_EXIT_NMI: "KVM_EXIT_NMI",
    KVM_EXIT_INTERNAL_ERROR: "KVM_EXIT_INTERNAL_ERROR",
    KVM_EXIT_SYSTEM_EVENT: "KVM_EXIT_SYSTEM_EVENT",
    KVM_EXIT_IOAPIC_EOI: "KVM_EXIT_IOAPIC_EOI",
    KVM_EXIT_HYPERV: "KVM_EXIT_HYPERV",
    KVM_EXIT_X86_RDMSR: "KVM_EXIT_X86_RDMSR",
    KVM_EXIT_X86_WRMSR: "KVM_EXIT_X86_WRMSR",
    KVM_EXIT_DIRTY_RING_FULL: "KVM_EXIT_DIRTY_RING_FULL",
    KVM_EXIT_AP_RESET_HOLD: "KVM_EXIT_AP_RESET_HOLD",
    KVM_EXIT_X86_BUS_LOCK: "KVM_EXIT_X86_BUS_LOCK",
    KVM_EXIT_XEN: "KVM_EXIT_XEN",
    KVM_EXIT_NOTIFY: "KVM_EXIT_NOTIFY",
    KVM_EXIT_MEMORY_FAULT: "KVM_EXIT_MEMORY_FAULT",
    KVM_EXIT_TDX: "KVM_EXIT_TDX",
}

# kvm_run.io.direction
KVM_EXIT_IO_IN = 0
KVM_EXIT_IO_OUT = 1

# kvm_run.internal.suberror (kvm.h; 4 in docs/kvm-tdx-uapi.md §4.15)
KVM_INTERNAL_ERROR_EMULATION = 1
KVM_INTERNAL_ERROR_SIMUL_EX = 2
KVM_INTERNAL_ERROR_DELIVERY_EV = 3
KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4
# kvm_run.emulation_failure.flags: insn_size/insn_bytes are valid
KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES = 1 << 0

# kvm_run.system_event.type, docs/kvm-tdx-uapi.md §5
KVM_SYSTEM_EVENT_SHUTDOWN = 1
KVM_SYSTEM_EVENT_RESET = 2
KVM_SYSTEM_EVENT_CRASH = 3
KVM_SYSTEM_EVENT_WAKEUP = 4
KVM_SYSTEM_EVENT_SUSPEND = 5
KVM_SYSTEM_EVENT_SEV_TERM = 6
KVM_SYSTEM_EVENT_TDX_FATAL = 7

# kvm_run.msr.reason, and the KVM_CAP_X86_USER_SPACE_MSR enable mask, docs/kvm-tdx-uapi.md §4.13
KVM_MSR_EXIT_REASON_INVAL = 1 << 0
KVM_MSR_EXIT_REASON_UNKNOWN = 1 << 1
KVM_MSR_EXIT_REASON_FILTER = 1 << 2
KVM_MSR_EXIT_REASON_VALID_MASK = (KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN |
                                  KVM_MSR_EXIT_REASON_FILTER)

# kvm_run.memory_fault.flags, docs/kvm-tdx-uapi.md §3.3
KVM_MEMORY_EXIT_FLAG_PRIVATE = 1 << 3

# kvm_run.hypercall.flags, docs/kvm-tdx-uapi.md §3.4
KVM_EXIT_HYPERCALL_LONG_MODE = 1 << 0

# kvm_run.kvm_valid_regs / kvm_dirty_regs (asm/kvm.h)
KVM_SYNC_X86_REGS = 1 << 0
KVM_SYNC_X86_SREGS = 1 << 1
KVM_SYNC_X86_EVENTS = 1 << 2

# ---------------------------------------------------------------------------
# Memory, docs/kvm-tdx-uapi.md §3.1
KVM_MEM_LOG_DIRTY_PAGES = 1 << 0
KVM_MEM_READONLY = 1 << 1
KVM_MEM_GUEST_MEMFD = 1 << 2
KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3
GUEST_MEMFD_FLAG_MMAP = 1 << 0
GUEST_MEMFD_FLAG_INIT_SHARED = 1 << 1

# MSR filter, docs/kvm-tdx-uapi.md §4.13
KVM_MSR_FILTER_MAX_RANGES = 16
KVM_MSR_FILTER_MAX_BITMAP_SIZE = 0x600
KVM_MSR_FILTER_READ = 1 << 0
KVM_MSR_FILTER_WRITE = 1 << 1
KVM_MSR_FILTER_DEFAULT_ALLOW = 0
KVM_MSR_FILTER_DEFAULT_DENY = 1 << 0

# CPUID, docs/kvm-tdx-uapi.md §2.3
KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0    # sic: the kernel's spelling
KVM_CPUID_FLAG_STATEFUL_FUNC = 1 << 1       # asm/kvm.h
KVM_CPUID_FLAG_STATE_READ_NEXT = 1 << 2     # asm/kvm.h
KVM_MAX_CPUID_ENTRIES = 256                 # kernel-internal (kvm_host.h); bounds INIT_VM nent

# vCPU events (asm/kvm.h)
KVM_VCPUEVENT_VALID_NMI_PENDING = 0x01
KVM_VCPUEVENT_VALID_SIPI_VECTOR = 0x02
KVM_VCPUEVENT_VALID_SHADOW = 0x04
KVM_VCPUEVENT_VALID_SMM = 0x08
KVM_VCPUEVENT_VALID_PAYLOAD = 0x10
KVM_VCPUEVENT_VALID_TRIPLE_FAULT = 0x20

# kvm_mp_state.mp_state (kvm.h)
KVM_MP_STATE_RUNNABLE = 0
KVM_MP_STATE_UNINITIALIZED = 1
KVM_MP_STATE_INIT_RECEIVED = 2
KVM_MP_STATE_HALTED = 3
KVM_MP_STATE_SIPI_RECEIVED = 4
KVM_MP_STATE_STOPPED = 5
KVM_MP_STATE_CHECK_STOP = 6
KVM_MP_STATE_OPERATING = 7
KVM_MP_STATE_LOAD = 8
KVM_MP_STATE_AP_RESET_HOLD = 9
KVM_MP_STATE_SUSPENDED = 10

# kvm_guest_debug.control (kvm.h, asm/kvm.h)
KVM_GUESTDBG_ENABLE = 0x00000001
KVM_GUESTDBG_SINGLESTEP = 0x00000002
KVM_GUESTDBG_USE_SW_BP = 0x00010000
KVM_GUESTDBG_USE_HW_BP = 0x00020000
KVM_GUESTDBG_INJECT_DB = 0x00040000
KVM_GUESTDBG_INJECT_BP = 0x00080000

# kvm_irqchip.chip_id (asm/kvm.h)
KVM_IRQCHIP_PIC_MASTER = 0
KVM_IRQCHIP_PIC_SLAVE = 1
KVM_IRQCHIP_IOAPIC = 2

# KVM_CAP_X2APIC_API args[0] (asm/kvm.h)
KVM_X2APIC_API_USE_32BIT_IDS = 1 << 0
KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK = 1 << 1

# struct kvm_msi.flags (kvm.h): only the device-id flag is defined
KVM_MSI_VALID_DEVID = 1 << 0

# KVM_CAP_DISABLE_QUIRKS2 args[0] (asm/kvm.h); docs/host-kvm.md §0.3
KVM_X86_QUIRK_FIX_HYPERCALL_INSN = 1 << 5

# ---------------------------------------------------------------------------
# KVM hypercalls (include/uapi/linux/kvm_para.h), docs/kvm-tdx-uapi.md §3.4, §4.12
KVM_HC_MAP_GPA_RANGE = 12
KVM_MAP_GPA_RANGE_PAGE_SZ_4K = 0
KVM_MAP_GPA_RANGE_PAGE_SZ_2M = 1 << 0
KVM_MAP_GPA_RANGE_PAGE_SZ_1G = 1 << 1
KVM_MAP_GPA_RANGE_ENCRYPTED = 1 << 4        # KVM_MAP_GPA_RANGE_ENC_STAT(1)
KVM_MAP_GPA_RANGE_DECRYPTED = 0 << 4        # KVM_MAP_GPA_RANGE_ENC_STAT(0)

# Hypercall error codes; KVM returns the negation in RAX (or TDVMCALL R10).
KVM_ENOSYS = 1000
KVM_EFAULT = 14
KVM_EINVAL = 22
KVM_E2BIG = 7
KVM_EPERM = 1
KVM_EOPNOTSUPP = 95

# ---------------------------------------------------------------------------
# TDX: enum kvm_tdx_cmd_id (kvm_tdx_cmd.id), docs/kvm-tdx-uapi.md §2
KVM_TDX_CAPABILITIES = 0
KVM_TDX_INIT_VM = 1
KVM_TDX_INIT_VCPU = 2
KVM_TDX_INIT_MEM_REGION = 3
KVM_TDX_FINALIZE_VM = 4
KVM_TDX_GET_CPUID = 5
KVM_TDX_CMD_NR_MAX = 6

# kvm_tdx_cmd.flags for KVM_TDX_INIT_MEM_REGION, docs/kvm-tdx-uapi.md §2.5
KVM_TDX_MEASURE_MEMORY_REGION = 1 << 0

# TD ATTRIBUTES bits (kvm_tdx_init_vm.attributes), docs/kvm-tdx-uapi.md §6. KVM's tdx_arch.h spells
# them TDX_TD_ATTR_*; KVM only offers SEPT_VE_DISABLE (docs/kvm-tdx-uapi.md §2.2).
TDX_TD_ATTR_DEBUG = 1 << 0
TDX_TD_ATTR_HGS_PLUS_PROF = 1 << 4
TDX_TD_ATTR_PERF_PROF = 1 << 5
TDX_TD_ATTR_PMT_PROF = 1 << 6
TDX_TD_ATTR_ICSSD = 1 << 16
TDX_TD_ATTR_LASS = 1 << 27
TDX_TD_ATTR_SEPT_VE_DISABLE = 1 << 28
TDX_TD_ATTR_MIGRATABLE = 1 << 29
TDX_TD_ATTR_PKS = 1 << 30
TDX_TD_ATTR_KL = 1 << 31
TDX_TD_ATTR_TPA = 1 << 62
TDX_TD_ATTR_PERFMON = 1 << 63
