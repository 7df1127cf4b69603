# SPDX-License-Identifier: GPL-2.0-only
"""KVM's TDX ioctls and the TD rules of ordinary ioctls (docs/kvm-tdx-uapi.md §2).

Validation order and errnos follow arch/x86/kvm/vmx/tdx.c and main.c
(kvm-x86/linux @09c6f74ecb86).  Every function raises OSError(errno) exactly
where the ioctl fails.

- tdx_vm_ioctl(vm, cmd, host): KVM_MEMORY_ENCRYPT_OP on the VM fd;
  tdx_vcpu_ioctl(vm, vcpu, cmd, host): on a vCPU fd.  `cmd` is the caller's
  cffi `struct kvm_tdx_cmd *` (KVM's write-backs, e.g. hw_error, land there);
  `host` reads/writes the caller's memory for user pointers:
  host.read(addr, n) -> bytes, host.write(addr, data).
  The non-TD cases are the router's: VM fd of a non-TD VM -> ENOTTY
  (NON_TD_VM_ERRNO), vCPU fd of a non-TD vCPU -> EINVAL (NON_TD_VCPU_ERRNO).
- td_create_vcpu(), td_check_run(), td_enable_cap(), td_check_extension(),
  td_set_msr_filter(), td_check_guest_memfd(), td_create_irqchip(),
  td_vcpu_other_ioctl(): the TD rules of KVM_CREATE_VCPU, KVM_RUN,
  KVM_ENABLE_CAP, KVM_CHECK_EXTENSION, KVM_X86_SET_MSR_FILTER,
  KVM_CREATE_GUEST_MEMFD, KVM_CREATE_IRQCHIP and of vCPU ioctls (protected
  state, CPUID table, MSRs, MP state).

Locking (emu/concurrency.py): the TDX commands run under the locks of the
release played, and the SEAMCALLs that can meet each other in the TDX module
(TDH.VP.CREATE, TDH.VP.INIT, TDH.MR.EXTEND, TDH.MR.FINALIZE) answer
TDX_OPERAND_BUSY when they do.

Not modelled (emu/README): -EINTR on a pending signal in INIT_MEM_REGION,
other SEAMCALL failures (TDH.MNG.INIT never fails, so INIT_VM never writes
hw_error).
"""

import contextlib
import errno
import struct

from tdx.lib import abi, ghci
from tdx.lib.abi import ffi
from tdx.emu import cpuid as _cpuid, gmem as _gmem, msrs as _msrs
from tdx.emu.concurrency import vm_state_guard
from tdx.emu.state import (MsrFilter, TdVcpu, present_cpus, TD_STATE_INITIALIZED, TD_STATE_RUNNABLE,
                           TD_STATE_UNINITIALIZED, VCPU_TD_STATE_INITIALIZED,
                           VCPU_TD_STATE_UNINITIALIZED)
from tdx.emu.tdx_module import NO_SUBLEAF, td_cpuid

NON_TD_VM_ERRNO = errno.ENOTTY          # vt_mem_enc_ioctl() on a non-TD VM
NON_TD_VCPU_ERRNO = errno.EINVAL        # vt_vcpu_mem_enc_ioctl() on a non-TD vCPU

PAGE_SIZE = 4096
MASK64 = (1 << 64) - 1
KVM_MAX_CPUID_ENTRIES = abi.KVM_MAX_CPUID_ENTRIES
CPUID_ENTRY_SIZE = 40
CAPS_CPUID_OFFSET = 2048                # struct kvm_tdx_capabilities, §2.2
INIT_VM_CPUID_OFFSET = 256              # struct kvm_tdx_init_vm, §2.3
KVM_MAX_VCPU_IDS = 4096 * 4             # KVM_MAX_VCPUS * KVM_VCPU_ID_RATIO (x86 kvm_host.h)
MAX_NR_RESERVED_IOAPIC_PINS = 48        # arch/x86/kvm/ioapic.h
MAX_IO_MSRS = 256                       # msrs.c
KVM_EXIT_HYPERCALL_VALID_MASK = 1 << abi.KVM_HC_MAP_GPA_RANGE

# CPUID bits KVM refuses in INIT_VM and clears in CAPABILITIES (tdx_unsupported_cpuid)
X86_FEATURE_HLE = 1 << 4                # CPUID.7.0:EBX
X86_FEATURE_RTM = 1 << 11               # CPUID.7.0:EBX
X86_FEATURE_WAITPKG = 1 << 5            # CPUID.7.0:ECX
GUEST_PHYS_BITS = 0x00FF0000            # CPUID.0x80000008:EAX[23:16]


def _ioc(direction, nr, size):
    return abi._IOC(direction, abi.KVMIO, nr, size)


def _protected_state_ioctls():
    """vCPU ioctls that fail with EINVAL when the vCPU's state is protected
    (has_protected_state && guest_state_protected, or a confidential fpstate;
    x86.c, "KVM: x86: add fields to struct kvm_arch for CoCo features",
    v5 07/17 2024).  A TD vCPU is protected from KVM_CREATE_VCPU on
    (tdx_vcpu_create(): DEBUG is never supported).  Numbers missing from
    tdx.lib.abi are computed from the struct sizes in include/uapi/linux/kvm.h."""
    table = {
        "KVM_GET_REGS": abi.KVM_GET_REGS,
        "KVM_SET_REGS": abi.KVM_SET_REGS,
        "KVM_GET_SREGS": abi.KVM_GET_SREGS,
        "KVM_SET_SREGS": abi.KVM_SET_SREGS,
        "KVM_GET_FPU": _ioc(abi._IOC_READ, 0x8C, 416),             # struct kvm_fpu
        "KVM_SET_FPU": _ioc(abi._IOC_WRITE, 0x8D, 416),
        "KVM_GET_DEBUGREGS": _ioc(abi._IOC_READ, 0xA1, 128),       # struct kvm_debugregs
        "KVM_SET_DEBUGREGS": _ioc(abi._IOC_WRITE, 0xA2, 128),
        "KVM_GET_XSAVE": _ioc(abi._IOC_READ, 0xA4, 4096),          # struct kvm_xsave
        "KVM_SET_XSAVE": _ioc(abi._IOC_WRITE, 0xA5, 4096),
        "KVM_GET_XCRS": _ioc(abi._IOC_READ, 0xA6, 392),            # struct kvm_xcrs
        "KVM_SET_XCRS": _ioc(abi._IOC_WRITE, 0xA7, 392),
        "KVM_GET_SREGS2": _ioc(abi._IOC_READ, 0xCC, 320),          # struct kvm_sregs2
        "KVM_SET_SREGS2": _ioc(abi._IOC_WRITE, 0xCD, 320),
        "KVM_GET_XSAVE2": _ioc(abi._IOC_READ, 0xCF, 4096),
    }
    for name in table:
        table[name] = getattr(abi, name, table[name])
    return {number: name for name, number in table.items()}


PROTECTED_STATE_IOCTLS = _protected_state_ioctls()

# VM ioctls KVM refuses outright for a TD (beyond what the router models):
# none found in the sources; kept for the router's lookup.
TD_VM_REFUSED = {}


def _err(err, what):
    raise OSError(err, "%s: %s" % (what, errno.errorcode.get(err, err)))


# Addresses no process can map: below vm.mmap_min_addr (64 KiB by default) or
# beyond the x86-64 user half.  copy_{from,to}_user() fail with -EFAULT there;
# the model checks that instead of touching them.  Other bad pointers are the
# host object's to report (OSError/ValueError -> -EFAULT).
USER_MIN, USER_END = 0x10000, 0x7FFFFFFFF000


def _user_ok(addr, size):
    return USER_MIN <= addr and addr + size <= USER_END


def _read(host, addr, size):
    """copy_from_user(): -EFAULT for an address no process can map."""
    if not _user_ok(addr, size):
        _err(errno.EFAULT, "copy_from_user(%#x)" % addr)
    try:
        return bytes(host.read(addr, size))
    except (OSError, ValueError, TypeError):
        _err(errno.EFAULT, "copy_from_user(%#x)" % addr)


def _write(host, addr, data):
    if not _user_ok(addr, len(data)):
        _err(errno.EFAULT, "copy_to_user(%#x)" % addr)
    try:
        host.write(addr, bytes(data))
    except (OSError, ValueError, TypeError):
        _err(errno.EFAULT, "copy_to_user(%#x)" % addr)


def _entries_from_bytes(raw, nent):
    out = []
    for i in range(nent):
        f, idx, flags, a, b, c, d = struct.unpack_from("<7I", raw, i * CPUID_ENTRY_SIZE)
        out.append(_cpuid.CpuidEntry(f, idx, flags, a, b, c, d))
    return out


def _entries_to_bytes(entries):
    return b"".join(struct.pack("<7I12x", *e) for e in entries)


CMD = struct.Struct("<IIQQ")             # struct kvm_tdx_cmd: id, flags, data, hw_error (§2.1)


class _Cmd:
    """The kernel's copy of struct kvm_tdx_cmd (tdx_get_cmd()), read from and
    written back to the caller's memory with copy_{from,to}_user() rules."""

    def __init__(self, addr, raw):
        self.addr = addr
        self.id, self.flags, self.data, self.hw_error = CMD.unpack(raw)

    def copy_back(self, host):
        _write(host, self.addr, CMD.pack(self.id, self.flags, self.data, self.hw_error))


def _get_cmd(cmd, host):
    """tdx_get_cmd(): EFAULT for an unreadable command, EINVAL for hw_error != 0."""
    addr = int(ffi.cast("uintptr_t", cmd))
    kcmd = _Cmd(addr, _read(host, addr, CMD.size))
    if kcmd.hw_error:
        _err(errno.EINVAL, "kvm_tdx_cmd.hw_error must be 0")
    return kcmd


# --------------------------------------------------------------------------
# VM fd (§2.1-§2.3, §2.6; tdx_vm_ioctl)

def tdx_vm_ioctl(vm, cmd, host):
    kcmd = _get_cmd(cmd, host)
    if kcmd.id == abi.KVM_TDX_CAPABILITIES:
        # Lockless, no copy-back (tdx_vm_ioctl()) since f26061fe2c25 (6.19,
        # emu/kernel.py caps-no-copyback); before, the command was written back
        # like the others', so a command in a read-only page failed EFAULT.
        # FAULT "caps-cmd-copied-back": the copy-back in a release that dropped it.
        ret = _get_capabilities(vm, kcmd, host)
        if not vm.kernel.has("caps-no-copyback") or "caps-cmd-copied-back" in vm.faults:
            kcmd.copy_back(host)
        return ret
    if kcmd.id == abi.KVM_TDX_INIT_VM:
        fn = _td_init
    elif kcmd.id == abi.KVM_TDX_FINALIZE_VM:
        fn = _td_finalize
    else:
        _err(errno.EINVAL, "unknown KVM_TDX command %d on a VM fd" % kcmd.id)
    try:
        with _state_locks(vm, None, kcmd.id):
            ret = fn(vm, kcmd, host)
    except OSError:
        # INIT_VM/FINALIZE copy the whole cmd back, also on failure (§2.1):
        # hw_error reaches userspace; a copy-back fault wins (tdx_vm_ioctl()).
        kcmd.copy_back(host)
        raise
    kcmd.copy_back(host)
    return ret


def capabilities_bytes(vm, user=None):
    """struct kvm_tdx_capabilities as init_kvm_tdx_caps() builds it (§2.2),
    in a zeroed kernel buffer.  `user`: the caller's struct as it was (for
    FAULT "caps-unused-fields-garbage")."""
    si = vm.sysinfo
    entries = []
    for (leaf, sub), (eax, ebx, ecx, edx) in si.cpuid_config:
        index = 0 if sub == NO_SUBLEAF else sub
        if leaf == 0x80000008:
            eax = (eax & ~GUEST_PHYS_BITS) | GUEST_PHYS_BITS    # GPAW is configured through it
        if leaf == 7 and index == 0:
            ebx &= ~(X86_FEATURE_HLE | X86_FEATURE_RTM)
            ecx &= ~X86_FEATURE_WAITPKG
        entries.append((leaf, index, 0, eax, ebx, ecx, edx))
    # user_tdvmcallinfo_1_r11 = SetupEventNotifyInterrupt; the other three 0.
    # FAULT "caps-getquote-advertised": before ed302854d015 ("KVM: TDX: Don't
    # report base TDVMCALLs", 6.16-rc7) bit 0 (GetQuote, a base call) was set too.
    user_r11 = ghci.TDVMCALLINFO_SETUP_EVENT_NOTIFY_INTERRUPT
    if "caps-getquote-advertised" in vm.faults:
        user_r11 |= 1
    head = struct.pack("<6Q", si.supported_attrs, si.supported_xfam, 0, user_r11, 0, 0)
    head += bytes(CAPS_CPUID_OFFSET - len(head))
    if user is not None and "caps-unused-fields-garbage" in vm.faults:
        # FAULT "caps-unused-fields-garbage": before b8be70ec2b47 ("KVM: VMX:
        # Ensure unused kvm_tdx_capabilities fields are zeroed out", 6.16-rc7)
        # KVM built the answer over a copy of the user's struct: the fields it
        # does not set (kernel_tdvmcallinfo_1_r11/r12, user_tdvmcallinfo_1_r12,
        # reserved) came back as userspace had left them.
        mine = bytearray(head)
        for lo, hi in ((16, 24), (32, 48), (48, CAPS_CPUID_OFFSET)):
            mine[lo:hi] = user[lo:hi]
        head = bytes(mine)
    return head + struct.pack("<II", len(entries), 0) + _entries_to_bytes(entries)


def _get_capabilities(vm, kcmd, host):
    if kcmd.flags:
        _err(errno.EINVAL, "KVM_TDX_CAPABILITIES: flags")
    nent, = struct.unpack("<I", _read(host, kcmd.data + CAPS_CPUID_OFFSET, 4))
    if nent < len(vm.sysinfo.cpuid_config):
        # nent is not written back: userspace retries with a bigger guess (§2.2)
        _err(errno.E2BIG, "KVM_TDX_CAPABILITIES: cpuid.nent %d < %d" % (nent, len(vm.sysinfo.cpuid_config)))
    user = _read(host, kcmd.data, CAPS_CPUID_OFFSET) if "caps-unused-fields-garbage" in vm.faults else None
    _write(host, kcmd.data, capabilities_bytes(vm, user))
    return 0


def _find_cpuid2(entries, function, index):
    return _cpuid.find_entry2(entries, function, index)


def _td_init(vm, kcmd, host):
    """tdx_td_init() / setup_tdparams*(), checks in code order (§2.3)."""
    si = vm.sysinfo
    if vm.state != TD_STATE_UNINITIALIZED:
        _err(errno.EINVAL, "KVM_TDX_INIT_VM: TD already initialized")
    if kcmd.flags:
        _err(errno.EINVAL, "KVM_TDX_INIT_VM: flags")
    nent, = struct.unpack("<I", _read(host, kcmd.data + INIT_VM_CPUID_OFFSET, 4))
    if nent > KVM_MAX_CPUID_ENTRIES:
        _err(errno.E2BIG, "KVM_TDX_INIT_VM: cpuid.nent %d > %d" % (nent, KVM_MAX_CPUID_ENTRIES))
    raw = _read(host, kcmd.data, INIT_VM_CPUID_OFFSET + 8 + nent * CPUID_ENTRY_SIZE)
    attributes, xfam = struct.unpack_from("<QQ", raw, 0)
    if any(raw[160:256]):
        _err(errno.EINVAL, "KVM_TDX_INIT_VM: reserved")
    nent2, padding = struct.unpack_from("<II", raw, INIT_VM_CPUID_OFFSET)
    if padding or nent2 != nent:
        _err(errno.EINVAL, "KVM_TDX_INIT_VM: cpuid.padding or nent changed")
    entries = _entries_from_bytes(raw[INIT_VM_CPUID_OFFSET + 8:], nent)
    # setup_tdparams()
    if vm.vcpus:
        _err(errno.EBUSY, "KVM_TDX_INIT_VM: vCPUs already created")
    if attributes & ~si.supported_attrs:
        _err(errno.EINVAL, "KVM_TDX_INIT_VM: unsupported attributes %#x" % (attributes & ~si.supported_attrs))
    if xfam & ~si.supported_xfam:
        _err(errno.EINVAL, "KVM_TDX_INIT_VM: unsupported xfam %#x" % (xfam & ~si.supported_xfam))
    # setup_tdparams_eptp_controls(): GPAW through CPUID.0x80000008:EAX[23:16]
    entry = _find_cpuid2(entries, 0x80000008, 0)
    if entry is None:
        _err(errno.EINVAL, "KVM_TDX_INIT_VM: no CPUID 0x80000008 entry")
    guest_pa = entry.eax >> 16 & 0xFF
    if guest_pa not in (48, 52):
        _err(errno.EINVAL, "KVM_TDX_INIT_VM: guest physical address bits %d (48 or 52)" % guest_pa)
    if guest_pa == 52 and not si.ept_5level:
        _err(errno.EINVAL, "KVM_TDX_INIT_VM: GPAW 52 needs 5-level EPT")
    # setup_tdparams_cpuids()
    config, copy_cnt = {}, 0
    for (leaf, sub), _masks in si.cpuid_config:
        index = 0 if sub == NO_SUBLEAF else sub
        entry = _find_cpuid2(entries, leaf, index)
        if entry is None:
            continue
        if entry.function == 7 and entry.index == 0 and (
                entry.ebx & (X86_FEATURE_HLE | X86_FEATURE_RTM) or entry.ecx & X86_FEATURE_WAITPKG):
            _err(errno.EINVAL, "KVM_TDX_INIT_VM: HLE/RTM/WAITPKG are not supported")
        copy_cnt += 1
        eax = entry.eax & ~GUEST_PHYS_BITS if leaf == 0x80000008 else entry.eax
        config[(leaf, index)] = (eax, entry.ebx, entry.ecx, entry.edx)
    if copy_cnt != nent:
        _err(errno.EINVAL, "KVM_TDX_INIT_VM: CPUID entries that are not configurable")
    # __tdx_td_init(): the SEAMCALLs succeed in the model; *seamcall_err = 0.
    kcmd.hw_error = 0
    vm.attributes = attributes | si.attributes_fixed1
    vm.xfam = xfam | si.xfam_fixed1
    vm.gpaw = guest_pa
    vm.shared_bit = 1 << (guest_pa - 1)                 # TDX_SHARED_BIT_PWL_4/5 (§3.2)
    vm.mrconfigid, vm.mrowner, vm.mrownerconfig = raw[16:64], raw[64:112], raw[112:160]
    vm.cpuid_config = config
    vm.state = TD_STATE_INITIALIZED
    return 0


def _guarded(vm):
    """The 6.19 locking of the state-changing TDX commands
    (tdx_acquire_vm_state_locks()), or the older one."""
    # FAULT "vm-state-unguarded": the newest kernel with the locking of 6.16
    # to 6.18, before 15945e9ec195 (INIT_VCPU under its own vcpu->mutex only).
    return vm.kernel.has("vm-state-ebusy") and "vm-state-unguarded" not in vm.faults


def _state_locks(vm, vcpu, cmd_id):
    """The locks KVM holds around a state-changing TDX command."""
    if _guarded(vm):
        return vm_state_guard(vm)
    stack = contextlib.ExitStack()
    if vcpu is None:
        stack.enter_context(vm.kvm_lock)            # tdx_vm_ioctl(): guard(mutex)(&kvm->lock)
    else:
        stack.enter_context(vcpu.mutex)             # tdx_vcpu_ioctl(): kvm_vcpu_ioctl()'s vcpu->mutex
    if cmd_id in (abi.KVM_TDX_FINALIZE_VM, abi.KVM_TDX_INIT_MEM_REGION):
        stack.enter_context(vm.slots_lock)
    return stack


def _kvm_bug(vm, what, status):
    """KVM_BUG_ON() / TDX_BUG_ON() of a failed SEAMCALL: the VM is dead."""
    vm.dead = True
    _err(errno.EIO, "%s: %#x (KVM_BUG_ON, the VM is dead)" % (what, status))


# TDX module status of TDH.MR.FINALIZE for a TD without vCPUs
# (tdh_mr_finalize.c: tdcs num_vcpus == 0; arch/x86/kvm/vmx/tdx_errno.h).
TDX_NO_VCPUS = 0xC000060900000000


def _td_finalize(vm, kcmd, host):
    """tdx_td_finalize() (§2.6); data/flags are not checked by the code."""
    if not vm.initialized or vm.finalized:
        _err(errno.EINVAL, "KVM_TDX_FINALIZE_VM: TD not initialized or already finalized")
    if not vm.num_vcpus:
        # The module counts vCPUs at TDH.VP.CREATE, which KVM issues only in
        # KVM_TDX_INIT_VCPU.  Any failure but "busy" is a KVM bug to KVM:
        # TDX_BUG_ON() (KVM_BUG_ON() before 6.19) kills the VM; -EIO, with the
        # status in hw_error.  All releases.
        kcmd.hw_error = TDX_NO_VCPUS
        vm.dead = True
        _err(errno.EIO, "KVM_TDX_FINALIZE_VM: TDH.MR.FINALIZE: TDX_NO_VCPUS (the VM is dead)")
    with vm.module_locks.seamcall("TDH.MR.FINALIZE") as status:
        if status:
            # tdx_td_finalize(): a busy TDX module is -EBUSY, the VM lives.
            kcmd.hw_error = status
            _err(errno.EBUSY, "KVM_TDX_FINALIZE_VM: TDH.MR.FINALIZE: TDX_OPERAND_BUSY")
        kcmd.hw_error = 0                               # TDH.MR.FINALIZE succeeds
    vm.measurement.finalize()
    vm.state = TD_STATE_RUNNABLE
    return 0


# --------------------------------------------------------------------------
# vCPU fd (§2.4, §2.5, §2.7; tdx_vcpu_unlocked_ioctl then tdx_vcpu_ioctl)

def _check_td_state(vm):
    if not vm.initialized or vm.finalized:
        _err(errno.EINVAL, "KVM_TDX vCPU command: TD not initialized or already finalized")


def tdx_vcpu_ioctl(vm, vcpu, cmd, host):
    if not vm.kernel.has("vcpu-cmd-first"):
        # Before 6.19 one tdx_vcpu_ioctl() checked the TD state before it
        # copied the command (torvalds/linux 3829d81b).
        _check_td_state(vm)
        kcmd = _get_cmd(cmd, host)
        if kcmd.id in (abi.KVM_TDX_INIT_MEM_REGION, abi.KVM_TDX_INIT_VCPU):
            with _state_locks(vm, vcpu, kcmd.id):
                if kcmd.id == abi.KVM_TDX_INIT_MEM_REGION:
                    return _init_mem_region(vm, vcpu, kcmd, host)
                return _vcpu_init(vm, vcpu, kcmd)
        if kcmd.id == abi.KVM_TDX_GET_CPUID:
            return _vcpu_get_cpuid(vm, vcpu, kcmd, host)
        _err(errno.EINVAL, "unknown KVM_TDX command %d on a vCPU fd" % kcmd.id)
    # tdx_vcpu_unlocked_ioctl() (kvm-x86/linux @09c6f74ecb86): the command first (94428e3ba325).
    kcmd = _get_cmd(cmd, host)
    if kcmd.id in (abi.KVM_TDX_INIT_MEM_REGION, abi.KVM_TDX_INIT_VCPU):
        # The state guard is taken before the TD state is checked.
        with _state_locks(vm, vcpu, kcmd.id):
            _check_td_state(vm)
            if kcmd.id == abi.KVM_TDX_INIT_MEM_REGION:
                return _init_mem_region(vm, vcpu, kcmd, host)
            return _vcpu_init(vm, vcpu, kcmd)
    _check_td_state(vm)
    # -ENOIOCTLCMD: fall through to tdx_vcpu_ioctl(), which checks again.
    _check_td_state(vm)
    kcmd = _get_cmd(cmd, host)
    if kcmd.id == abi.KVM_TDX_GET_CPUID:
        return _vcpu_get_cpuid(vm, vcpu, kcmd, host)
    _err(errno.EINVAL, "unknown KVM_TDX command %d on a vCPU fd" % kcmd.id)


def _vcpu_init(vm, vcpu, kcmd):
    """tdx_vcpu_init()"""
    if kcmd.flags:
        _err(errno.EINVAL, "KVM_TDX_INIT_VCPU: flags")
    if vcpu.state != VCPU_TD_STATE_UNINITIALIZED:
        _err(errno.EINVAL, "KVM_TDX_INIT_VCPU: vCPU already initialized")
    # kvm_apic_set_base(host_initiated): X2APIC_ENABLE is a reserved bit unless
    # the vCPU's KVM CPUID advertises x2APIC (§2.4).
    apic_base = (_msrs.APIC_DEFAULT_PHYS_BASE | _msrs.X2APIC_ENABLE | _msrs.MSR_IA32_APICBASE_ENABLE |
                 (_msrs.MSR_IA32_APICBASE_BSP if vcpu.msrs.bsp else 0))
    if apic_base != vcpu.msrs.values[_msrs.MSR_IA32_APICBASE]:
        reserved = (MASK64 & ~((1 << _cpuid.maxphyaddr(vcpu.cpuid)) - 1)) | 0x2FF
        if not _cpuid.has_feature(vcpu.cpuid, _cpuid.X86_FEATURE_X2APIC):
            reserved |= _msrs.X2APIC_ENABLE
        if apic_base & reserved:
            _err(errno.EINVAL, "KVM_TDX_INIT_VCPU: x2APIC not in the vCPU's CPUID (KVM_SET_CPUID2)")
        vcpu.msrs.set_apic_base(apic_base)
    # tdx_td_vcpu_init(): TDH.VP.CREATE/ADDCX/INIT; the module assigns VCPU_INDEX.
    # A failed TDH.VP.CREATE or TDH.VP.INIT is a KVM bug to KVM (KVM_BUG_ON,
    # TDX_BUG_ON from 6.19): the VM is dead.
    with vm.module_locks.seamcall("TDH.VP.CREATE") as status:
        if status:
            _kvm_bug(vm, "KVM_TDX_INIT_VCPU: TDH.VP.CREATE", status)
    # From 6.19 TDH.VP.INIT runs under mmu_lock (write), which the S-EPT
    # removal paths hold too (9a89894f30d5).  FAULT "vp-init-no-mmu-lock": the
    # newest kernel without it.
    mmu = vm.kernel.has("vp-init-mmu-lock") and "vp-init-no-mmu-lock" not in vm.faults
    with vm.mmu_lock if mmu else contextlib.ExitStack():
        with vm.module_locks.seamcall("TDH.VP.INIT") as status:
            if status:
                _kvm_bug(vm, "KVM_TDX_INIT_VCPU: TDH.VP.INIT", status)
    vcpu.index = vm.num_vcpus
    vm.num_vcpus += 1
    vcpu.init_rcx = kcmd.data & MASK64
    vcpu.mp_state = abi.KVM_MP_STATE_RUNNABLE
    vcpu.state = VCPU_TD_STATE_INITIALIZED
    return 0


def _init_mem_region(vm, vcpu, kcmd, host):
    """tdx_vcpu_init_mem_region() (§2.5)"""
    if vcpu.state != VCPU_TD_STATE_INITIALIZED:
        _err(errno.EINVAL, "KVM_TDX_INIT_MEM_REGION: vCPU not initialized")
    if vm.finalized:
        _err(errno.EINVAL, "KVM_TDX_INIT_MEM_REGION: TD finalized")
    if kcmd.flags & ~abi.KVM_TDX_MEASURE_MEMORY_REGION:
        _err(errno.EINVAL, "KVM_TDX_INIT_MEM_REGION: flags")
    source, gpa, nr_pages = struct.unpack("<3Q", _read(host, kcmd.data, 24))
    end = (gpa + ((nr_pages << 12) & MASK64)) & MASK64
    # A NULL source is refused up front only by the newest code; before, the
    # first page fails (init-mem-null-source-* rules, emu/kernel.py).
    # FAULT "init-mem-null-source-unchecked": the newest code's !source_addr
    # check is missing, so a NULL source fails page by page (EOPNOTSUPP).
    null_source = (not source and vm.kernel.has("init-mem-null-source-einval") and
                   "init-mem-null-source-unchecked" not in vm.faults)
    # The last byte is gpa + size - 1.  FAULT "init-mem-end-past-last-byte":
    # the v15 series tested the byte after the region, refusing a region that
    # ends exactly below the shared bit.
    last = end if "init-mem-end-past-last-byte" in vm.faults else (end - 1) & MASK64
    if (source & (PAGE_SIZE - 1) or null_source or gpa & (PAGE_SIZE - 1) or not nr_pages or
            end <= gpa or not vm.is_private_gpa(gpa) or not vm.is_private_gpa(last)):
        _err(errno.EINVAL, "KVM_TDX_INIT_MEM_REGION: region")
    measure = bool(kcmd.flags & abi.KVM_TDX_MEASURE_MEMORY_REGION)
    ret = 0
    pages = _SourcePages(host, source, nr_pages)
    while nr_pages:
        # kvm_gmem_populate() + tdx_gmem_post_populate() (TDH.MEM.PAGE.ADD,
        # TDH.MR.EXTEND) for one page, in the order of the release played.
        err, data = vm.memory.populate(gpa, pages.reader(source), vm.kernel)
        if err:
            ret = abs(err)
            break
        if measure:
            # tdx_gmem_post_populate(): TDH.MR.EXTEND fails -EIO; from 6.19
            # through TDX_BUG_ON_2() (the VM is dead).
            with vm.module_locks.seamcall("TDH.MR.EXTEND") as status:
                if status:
                    if vm.kernel.has("vm-state-ebusy"):
                        vm.dead = True
                    ret = errno.EIO
                    break
        vm.measurement.add_page(gpa, data, measure)
        source += PAGE_SIZE
        gpa += PAGE_SIZE
        nr_pages -= 1
    # Progress is written back also on error, so userspace can resume.
    _write(host, kcmd.data, struct.pack("<3Q", source, gpa, nr_pages))
    if ret:
        _err(ret, "KVM_TDX_INIT_MEM_REGION at gpa %#x" % gpa)
    return 0


class _SourcePages:
    """The source pages of one KVM_TDX_INIT_MEM_REGION, pinned page by page
    (get_user_pages_fast()) as the kernel does.

    Copying each page out of the caller's memory is a pair of syscalls
    (_Host.read), so the pages are copied a batch at a time and handed out
    from there; a batch that cannot be copied whole (a page of it is not
    mapped) is not kept, and its pages are then copied one by one, so the
    page that fails, and the progress written back, are the kernel's.  The
    copy is ahead of the pages added: only a source that is also the
    destination's private view could tell, which a guest_memfd is not
    (FAULT "private-visible" aside)."""

    BATCH = 64                          # pages per copy (256 KiB)

    def __init__(self, host, source, nr_pages):
        self.host = host
        self.nr_pages = nr_pages
        self.first = source             # the address the batches are counted from
        self.start = self.end = 0       # the batch held: [start, end) of the caller's memory
        self.batch = b""

    def reader(self, source):
        """A callable returning the page at `source` or raising
        OSError(EFAULT); None for a NULL source, which the 7.0+
        kvm_gmem_populate() does not pin at all."""
        if not source:
            return None
        return lambda: self._page(source)

    def _page(self, source):
        if not self.start <= source < self.end:
            self._fill(source)
        if self.start <= source < self.end:
            off = source - self.start
            return self.batch[off:off + PAGE_SIZE]
        return _read(self.host, source, PAGE_SIZE)

    def _fill(self, source):
        left = self.nr_pages - (source - self.first) // PAGE_SIZE
        length = min(left, self.BATCH) * PAGE_SIZE
        self.start = self.end = 0
        if length <= PAGE_SIZE:
            return
        try:
            self.batch = _read(self.host, source, length)
        except OSError:
            return
        self.start, self.end = source, source + length


def get_cpuid_entries(vm):
    """What KVM_TDX_GET_CPUID reports: the TD's CPUID (TDH.MNG.RD CPUID_VALUES)
    with CPUID.0x80000008:EAX[23:16] patched to the GPAW (§2.7)."""
    out = []
    g_maxpa = vm.shared_bit.bit_length()                # __ffs(shared bit) + 1
    for f, i, flags, a, b, c, d in td_cpuid(vm):
        if f == 0x80000008:
            a = (a & ~GUEST_PHYS_BITS) | (g_maxpa & 0xFF) << 16
        out.append(_cpuid.CpuidEntry(f, i, flags, a, b, c, d))
    return out


def virtual_cpuid(vm):
    """CPUID as the TD sees it natively (for the real vCPU's KVM_SET_CPUID2)."""
    return td_cpuid(vm)


def _vcpu_get_cpuid(vm, vcpu, kcmd, host):
    """tdx_vcpu_get_cpuid(); flags are not checked by the code."""
    nent, padding = struct.unpack("<II", _read(host, kcmd.data, 8))
    entries = get_cpuid_entries(vm)
    _write(host, kcmd.data, struct.pack("<II", len(entries), padding))
    if nent < len(entries):
        _err(errno.E2BIG, "KVM_TDX_GET_CPUID: nent %d < %d" % (nent, len(entries)))
    _write(host, kcmd.data + 8, _entries_to_bytes(entries))
    return 0


# --------------------------------------------------------------------------
# TD rules of ordinary ioctls

def td_create_vcpu(vm, vcpu_id, percpu=None, max_vcpu_ids=KVM_MAX_VCPU_IDS):
    """KVM_CREATE_VCPU on a TD: kvm_vm_ioctl_create_vcpu() + tdx_vcpu_create() (§2.8).
    kvm_arch_vcpu_create() loads the new vCPU once (vcpu_load(): `percpu`,
    emu/percpu.py) before the duplicate-id check; a vCPU refused there is
    freed again (kvm_arch_vcpu_destroy() -> tdx_vcpu_free()).
    `max_vcpu_ids`: kvm->arch.max_vcpu_ids, KVM_MAX_VCPU_IDS of the kernel's
    configuration (CONFIG_KVM_MAX_NR_VCPUS); the platform passes the host
    VM's KVM_CAP_MAX_VCPU_ID answer, the same kernel's.  The id is checked
    before the TD's state (EIO) and the split irqchip (EINVAL)."""
    if vcpu_id >= max_vcpu_ids or len(vm.vcpus) >= vm.max_vcpus:
        _err(errno.EINVAL, "KVM_CREATE_VCPU: id %d / %d vCPUs" % (vcpu_id, len(vm.vcpus)))
    if vm.state != TD_STATE_INITIALIZED:
        _err(errno.EIO, "KVM_CREATE_VCPU: TD not initialized (KVM_TDX_INIT_VM) or finalized")
    if not vm.split_irqchip:
        _err(errno.EINVAL, "KVM_CREATE_VCPU: a TD needs KVM_CAP_SPLIT_IRQCHIP")
    vcpu = TdVcpu(vcpu_id, bsp=vcpu_id == 0, kernel=vm.kernel, vm=vm, faults=vm.faults)
    if percpu is not None:
        percpu.load(vcpu, caller="kvm_arch_vcpu_create")
    if any(v.vcpu_id == vcpu_id for v in vm.vcpus):
        if percpu is not None:
            percpu.free(vcpu)
        _err(errno.EEXIST, "KVM_CREATE_VCPU: id %d exists" % vcpu_id)
    vm.vcpus.append(vcpu)
    return vcpu


def td_check_run(vm, vcpu, immediate_exit=False):
    """kvm_arch_vcpu_ioctl_run() past the UNINITIALIZED wait (the platform's)
    and the pending completion: immediate_exit -> EINTR, then
    kvm_x86_vcpu_pre_run(): INIT_RECEIVED with INIT/SIPI blocked (always, for
    a TD) -> EINVAL, then tdx_vcpu_pre_run(): vCPU not initialised or TD not
    finalised -> EINVAL (x86.c in 6.16, torvalds/linux @3829d81b6958).  7.3 reworked the last check into
    vcpu_needs_initialization (9fd7a4433d74); its errno is not verified and
    the model keeps EINVAL (emu/README)."""
    init_received = vcpu.mp_state == abi.KVM_MP_STATE_INIT_RECEIVED
    not_ready = vcpu.state != VCPU_TD_STATE_INITIALIZED or vm.state != TD_STATE_RUNNABLE
    if (init_received or not_ready) and immediate_exit:
        _err(errno.EINTR, "KVM_RUN: immediate_exit")
    if init_received:
        _err(errno.EINVAL, "KVM_RUN: INIT_RECEIVED, and INIT/SIPI are blocked for a TD")
    if not_ready:
        _err(errno.EINVAL, "KVM_RUN: vCPU not initialized or TD not finalized")
    vcpu.has_run = True


# Capabilities a KVM with TDX (Linux >= 6.16) reports on /dev/kvm and on a TD's
# VM fd whatever the host under the model has (emu/host.py MODELLED):
# kvm_vm_ioctl_check_extension() / kvm_vm_ioctl_check_extension_generic().
_MODELLED_CAPS = {
    abi.KVM_CAP_USER_MEMORY2: 1,
    abi.KVM_CAP_MEMORY_FAULT_INFO: 1,
    abi.KVM_CAP_GUEST_MEMFD: 1,
    abi.KVM_CAP_EXIT_HYPERCALL: KVM_EXIT_HYPERCALL_VALID_MASK,
    abi.KVM_CAP_X86_USER_SPACE_MSR: 1,
    abi.KVM_CAP_X86_MSR_FILTER: 1,
    abi.KVM_CAP_SPLIT_IRQCHIP: 1,
    # kvm_supported_mem_attributes(): PRIVATE on /dev/kvm and for VMs with
    # private memory (a default VM gets 0: such a VM is the host's, not ours).
    abi.KVM_CAP_MEMORY_ATTRIBUTES: abi.KVM_MEMORY_ATTRIBUTE_PRIVATE,
}


def modelled_check_extension(cap, real, vm):
    """The answer for a capability the model provides (None: not one of
    those).  `vm` is the TdVm for a TD's VM fd, None for /dev/kvm."""
    if cap == abi.KVM_CAP_VM_TYPES:
        return real | (1 << abi.KVM_X86_DEFAULT_VM) | (1 << abi.KVM_X86_TDX_VM)
    return _MODELLED_CAPS.get(cap)


def td_check_extension(cap, real, vm=None):
    """Per-VM KVM_CHECK_EXTENSION answers that differ for a TD."""
    if cap == abi.KVM_CAP_MAX_VCPUS:
        return vm.max_vcpus if vm is not None else min(real, present_cpus())
    if cap == abi.KVM_CAP_READONLY_MEM:
        # kvm_vm_ioctl_check_extension(): kvm_arch_has_readonly_mem(kvm), false
        # for VMs with protected state (x86.c; §3.1).  FAULT
        # "cap-readonly-mem-advertised": before d30d9ee94cc0 ("KVM: x86: Only
        # advertise KVM_CAP_READONLY_MEM when supported by VM", 6.11) the VM fd
        # answered 1 like /dev/kvm.
        if vm is not None and "cap-readonly-mem-advertised" in vm.faults:
            return 1
        return 0
    if cap == abi.KVM_CAP_GUEST_MEMFD_FLAGS:
        # kvm_gmem_get_supported_flags(kvm); no such capability before 6.18.
        return td_guest_memfd_flags(vm) if vm is not None else real
    return real


# KVM_ENABLE_CAP on a TD VM fd: these the model keeps; others go to the real VM.
TD_MODELLED_CAPS = (abi.KVM_CAP_SPLIT_IRQCHIP, abi.KVM_CAP_EXIT_HYPERCALL, abi.KVM_CAP_X86_USER_SPACE_MSR,
                    abi.KVM_CAP_MAX_VCPUS)


def td_set_tsc_khz(vm, khz):
    """VM-fd KVM_SET_TSC_KHZ (kvm_arch_vm_ioctl()): True when the host VM
    should take it (no vCPU yet).  Once a vCPU exists it is refused with EINVAL
    since 6.17 (dcbe5a466c12, emu/kernel.py tsc-khz-vm-after-vcpu); before, it
    succeeds without changing the existing vCPUs."""
    if vm.vcpus:
        # FAULT "tsc-khz-vm-after-vcpu-accepted": before dcbe5a466c12 the
        # ioctl succeeded without reaching the existing vCPUs.
        if vm.kernel.has("tsc-khz-vm-after-vcpu") and "tsc-khz-vm-after-vcpu-accepted" not in vm.faults:
            _err(errno.EINVAL, "KVM_SET_TSC_KHZ on the VM fd after KVM_CREATE_VCPU")
        return False
    return True


def td_enable_cap(vm, cap):
    """KVM_ENABLE_CAP on a TD VM fd (kvm_vm_ioctl_enable_cap()) for the caps the
    model uses; others are accepted without effect (returns 0)."""
    if cap.flags:
        _err(errno.EINVAL, "KVM_ENABLE_CAP: flags")
    arg0 = cap.args[0]
    if cap.cap == abi.KVM_CAP_SPLIT_IRQCHIP:
        if arg0 > MAX_NR_RESERVED_IOAPIC_PINS:
            _err(errno.EINVAL, "KVM_CAP_SPLIT_IRQCHIP: %d IOAPIC pins" % arg0)
        if vm.split_irqchip or vm.irqchip_in_kernel or vm.vcpus:
            _err(errno.EEXIST, "KVM_CAP_SPLIT_IRQCHIP: irqchip exists or vCPUs created")
        vm.split_irqchip = True
        vm.nr_reserved_ioapic_pins = arg0
    elif cap.cap == abi.KVM_CAP_EXIT_HYPERCALL:
        if arg0 & ~KVM_EXIT_HYPERCALL_VALID_MASK:
            _err(errno.EINVAL, "KVM_CAP_EXIT_HYPERCALL: %#x" % arg0)
        vm.hypercall_exit_enabled = arg0
    elif cap.cap == abi.KVM_CAP_X86_USER_SPACE_MSR:
        if arg0 & ~abi.KVM_MSR_EXIT_REASON_VALID_MASK:
            _err(errno.EINVAL, "KVM_CAP_X86_USER_SPACE_MSR: %#x" % arg0)
        vm.user_space_msr_mask = arg0
    elif cap.cap == abi.KVM_CAP_MAX_VCPUS:
        # x86's kvm_vm_ioctl_enable_cap() has no case for it (default -EINVAL;
        # kvm-x86/linux @09c6f74ecb86 x86.c): the maximum of a TD is
        # min(KVM_MAX_VCPUS, num_present_cpus()) from tdx_vm_init(), read only.
        _err(errno.EINVAL, "KVM_ENABLE_CAP(KVM_CAP_MAX_VCPUS): not an x86 VM capability")
    return 0


def td_set_msr_filter(vm, cfilter, host):
    """KVM_X86_SET_MSR_FILTER: the filter TDVMCALL<RDMSR/WRMSR> consults (§4.13).
    Each range's bitmap is copied from the caller's memory (memdup_user():
    -EFAULT for an address no process can map)."""
    vm.msr_filter = MsrFilter.from_cdata(cfilter, lambda addr, size: _read(host, addr, size))
    return 0


# kvm_gmem_get_supported_flags() for a TD (include/linux/kvm_host.h, 6.18):
# GUEST_MEMFD_FLAG_MMAP always; GUEST_MEMFD_FLAG_INIT_SHARED only when
# kvm_arch_supports_gmem_init_shared(), i.e. !kvm_arch_has_private_mem()
# (x86.c), false for a TD.  Commit 44c6cb9fe988 "KVM: guest_memfd: Allow
# mmap() on guest_memfd for x86 VMs with private memory" (kvm-x86-fixes-6.18-rc2)
# lifted the earlier MMAP refusal before 6.18 was released.
TD_GUEST_MEMFD_FLAGS = abi.GUEST_MEMFD_FLAG_MMAP


def td_guest_memfd_flags(vm):
    """The guest_memfd flags a TD may use: none before 6.18 (emu/kernel.py gmem-mmap-flag)."""
    return TD_GUEST_MEMFD_FLAGS if vm.kernel.has("gmem-mmap-flag") else 0


def td_check_guest_memfd(vm, gmem):
    """KVM_CREATE_GUEST_MEMFD for a TD: kvm_gmem_create() refuses flags outside
    TD_GUEST_MEMFD_FLAGS, then a size that is 0, negative as a loff_t or not
    page aligned, with EINVAL.  The fd's file API is emu/gmem.py's: with MMAP,
    mmap() works and a page fault on the mapping gets SIGBUS, since
    INIT_SHARED is not set (kvm_gmem_fault_user_mapping())."""
    _gmem.check_create(gmem.size, gmem.flags, td_guest_memfd_flags(vm))


def td_create_irqchip(vm):
    """KVM_CREATE_IRQCHIP on a TD (kvm_arch_vm_ioctl(), x86.c): EEXIST when an
    irqchip (also the split one) exists; since 6.18 ENOTTY, a TD has protected
    EOIs (tdx_vm_init() sets has_protected_eoi), so no in-kernel I/O APIC
    (b3a37bff8daf, emu/kernel.py irqchip-enotty).  Before 6.18 the in-kernel
    irqchip is created (EINVAL once a vCPU exists): the split one can no
    longer be enabled and KVM_CREATE_VCPU fails (tdx_vcpu_create()).  Only the
    model's state changes; the real VM never runs a vCPU of such a TD."""
    if vm.split_irqchip or vm.irqchip_in_kernel:
        _err(errno.EEXIST, "KVM_CREATE_IRQCHIP: irqchip exists")
    if vm.kernel.has("irqchip-enotty"):
        _err(errno.ENOTTY, "KVM_CREATE_IRQCHIP: a TD has protected EOIs (no in-kernel I/O APIC)")
    if vm.vcpus:
        _err(errno.EINVAL, "KVM_CREATE_IRQCHIP: vCPUs exist")
    vm.irqchip_in_kernel = True
    return 0


def _as(ctype, arg):
    return ffi.cast(ctype, arg)


def td_vcpu_other_ioctl(vm, vcpu, request, arg):
    """vCPU ioctls whose TD behaviour the model answers; None = not handled
    (the router passes it to the real vCPU)."""
    if request in PROTECTED_STATE_IOCTLS:
        _err(errno.EINVAL, "%s: TD vCPU state is protected" % PROTECTED_STATE_IOCTLS[request])
    if request == abi.KVM_SET_CPUID2:
        return set_cpuid2(vcpu, _as("struct kvm_cpuid2 *", arg))
    if request == abi.KVM_GET_CPUID2:
        return get_cpuid2(vcpu, _as("struct kvm_cpuid2 *", arg))
    if request == abi.KVM_GET_MSRS:
        return _msr_io(vcpu, _as("struct kvm_msrs *", arg), write=False)
    if request == abi.KVM_SET_MSRS:
        return _msr_io(vcpu, _as("struct kvm_msrs *", arg), write=True)
    if request == abi.KVM_GET_MP_STATE:
        _as("struct kvm_mp_state *", arg).mp_state = vcpu.mp_state
        return 0
    if request == abi.KVM_SET_MP_STATE:
        return _set_mp_state(vm, vcpu, _as("struct kvm_mp_state *", arg).mp_state)
    if request == abi.KVM_SET_GUEST_DEBUG:
        # kvm_arch_vcpu_ioctl_set_guest_debug(): guest_state_protected (x86.c)
        _err(errno.EINVAL, "KVM_SET_GUEST_DEBUG: TD vCPU state is protected")
    if request in (abi.KVM_GET_LAPIC, abi.KVM_SET_LAPIC):
        # kvm_vcpu_ioctl_{get,set}_lapic(): apic->guest_apic_protected, set by
        # tdx_vcpu_create() (x86.c); the struct is copied in first for SET.
        if request == abi.KVM_SET_LAPIC:
            _read_struct(arg, "struct kvm_lapic_state")
        _err(errno.EINVAL, "KVM_%s_LAPIC: the TD's APIC is protected" % (
            "GET" if request == abi.KVM_GET_LAPIC else "SET"))
    if request == abi.KVM_SET_TSC_KHZ:
        # kvm_arch_vcpu_ioctl(): vcpu->arch.guest_tsc_protected, set by
        # tdx_vcpu_create(); the TDX module owns the TSC (b24bbb534c2d, 6.16).
        # FAULT "tsc-khz-vcpu-accepted": before that fix the ioctl returned 0
        # and changed nothing.
        if "tsc-khz-vcpu-accepted" in vm.faults:
            return 0
        _err(errno.EINVAL, "KVM_SET_TSC_KHZ: the TD's TSC is protected")
    return None


# kvm_arch_vcpu_ioctl_set_mpstate(): the states x86 accepts with an in-kernel
# LAPIC (a TD always has one).
_MP_STATES = (abi.KVM_MP_STATE_RUNNABLE, abi.KVM_MP_STATE_UNINITIALIZED, abi.KVM_MP_STATE_INIT_RECEIVED,
              abi.KVM_MP_STATE_HALTED, abi.KVM_MP_STATE_SIPI_RECEIVED, abi.KVM_MP_STATE_AP_RESET_HOLD)


def _set_mp_state(vm, vcpu, state):
    """KVM_SET_MP_STATE on a TD vCPU (x86.c).  INIT/SIPI are always blocked
    for a TD (vt_apic_init_signal_blocked() in main.c): before 6.17 that refuses
    INIT_RECEIVED and SIPI_RECEIVED here; since 0fe3e8d804fd (6.17, emu/kernel.py
    mp-state-init-at-run) they are taken, SIPI_RECEIVED as INIT_RECEIVED with
    a pending SIPI, and the next KVM_RUN fails (td_check_run)."""
    if state not in _MP_STATES:
        _err(errno.EINVAL, "KVM_SET_MP_STATE: %d" % state)
    if state in (abi.KVM_MP_STATE_INIT_RECEIVED, abi.KVM_MP_STATE_SIPI_RECEIVED):
        if not vm.kernel.has("mp-state-init-at-run"):
            _err(errno.EINVAL, "KVM_SET_MP_STATE: INIT/SIPI blocked for a TD")
        state = abi.KVM_MP_STATE_INIT_RECEIVED
    vcpu.mp_state = state
    return 0


def _read_struct(arg, ctype):
    """copy_from_user() of a struct the library passed (EFAULT when unmappable)."""
    addr = int(ffi.cast("uintptr_t", arg))
    if not _user_ok(addr, ffi.sizeof(ctype)):
        _err(errno.EFAULT, "copy_from_user(%#x)" % addr)


def user_struct(arg, ctype):
    """`arg` once copy_from_user() of a `ctype` would succeed (EFAULT otherwise)."""
    _read_struct(arg, ctype)
    return arg


def td_x2apic_api(vm, flags):
    """KVM_CAP_X2APIC_API accepted (kvm_vm_ioctl_enable_cap(), x86.c): 32-bit
    x2APIC IDs in MSIs, and no 0xFF-is-broadcast quirk for x2APIC targets."""
    if flags & abi.KVM_X2APIC_API_USE_32BIT_IDS:
        vm.x2apic_format = True
    if flags & abi.KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK:
        vm.x2apic_broadcast_quirk_disabled = True


def set_cpuid2(vcpu, cpuid2):
    """KVM_SET_CPUID2 (kvm_vcpu_ioctl_set_cpuid2 / kvm_set_cpuid): records the
    table KVM answers TDVMCALL<Instruction.CPUID> from (§4.4)."""
    nent = cpuid2.nent
    if nent > KVM_MAX_CPUID_ENTRIES:
        _err(errno.E2BIG, "KVM_SET_CPUID2: nent %d" % nent)
    table = [_cpuid.CpuidEntry(*(getattr(cpuid2.entries[i], f) for f in _cpuid.CpuidEntry._fields))
             for i in range(nent)]
    # kvm_check_cpuid(): linear address width must be 0, 48 or 57
    e = _cpuid.find_entry2(table, 0x80000008)
    if e is not None and (e.eax >> 8 & 0xFF) not in (0, 48, 57):
        _err(errno.EINVAL, "KVM_SET_CPUID2: virtual address bits %d" % (e.eax >> 8 & 0xFF))
    if vcpu.has_run and table != vcpu.cpuid:
        # kvm_cpuid_check_equal(): no change after the vCPU has run
        _err(errno.EINVAL, "KVM_SET_CPUID2: CPUID changed after KVM_RUN")
    vcpu.cpuid = table
    return 0


def get_cpuid2(vcpu, cpuid2):
    if cpuid2.nent < len(vcpu.cpuid):
        _err(errno.E2BIG, "KVM_GET_CPUID2: nent %d < %d" % (cpuid2.nent, len(vcpu.cpuid)))
    for i, e in enumerate(vcpu.cpuid):
        for field, value in zip(_cpuid.CpuidEntry._fields, e):
            setattr(cpuid2.entries[i], field, value)
    cpuid2.nent = len(vcpu.cpuid)
    return 0


def _msr_io(vcpu, msrs, write):
    """KVM_GET/SET_MSRS: host-initiated accesses, stop at the first failure;
    returns the number of MSRs processed."""
    if msrs.nmsrs >= MAX_IO_MSRS:
        _err(errno.E2BIG, "KVM_%s_MSRS: nmsrs %d" % ("SET" if write else "GET", msrs.nmsrs))
    for i in range(msrs.nmsrs):
        e = msrs.entries[i]
        if write:
            if _msrs.set_msr(vcpu, e.index, e.data, host_initiated=True):
                return i
        else:
            r, data = _msrs.get_msr(vcpu, e.index, host_initiated=True)
            if r:
                return i
            e.data = data
    return msrs.nmsrs
