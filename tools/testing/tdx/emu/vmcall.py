# SPDX-License-Identifier: GPL-2.0-only
"""KVM's handling of TDG.VP.VMCALL (arch/x86/kvm/vmx/tdx.c, newest upstream:
kvm-x86/linux @09c6f74ecb86).

Everything here works on KVM's view of the registers, `vcpu.vp_enter_args`
(what the TDX module handed to the VMM: selected GPRs, zeros elsewhere,
RCX = TD exit qualification; docs/kvm-tdx-uapi.md §4.1), and on the real
`struct kvm_run *`.  KVM writes its status to R10 (tdvmcall_set_return_code)
and its primary output to R11 (tdvmcall_set_return_val); several success
paths never write R10, so the guest sees the R10 it passed (§4.1).  Whether
an output reaches the guest is the TDX module's business (only GPRs the
guest exposed are copied back; tdx_module.py).

handle_tdvmcall() returns True when `run` holds an exit for userspace; then
vcpu.pending is the completion KVM would run at the next KVM_RUN
(vcpu->arch.complete_userspace_io), a callable (vm, vcpu, run) -> bool that
returns True when it prepared yet another exit (MapGPA's next chunk) and may
raise EmuRunError (KVM_RUN fails).

In-kernel devices: a TD must use a split irqchip (§2.8), so there is no
in-kernel PIC/PIT on the PIO bus and no IOAPIC on the MMIO bus; the LAPIC is
not reached through tdx_emulate_mmio() (it calls kvm_io_bus_* directly).
User-registered ioeventfds / coalesced MMIO are not modelled, so every IO and
MMIO request reaches userspace (emu/README).
"""

import errno

from tdx.lib import abi, ghci
from tdx.lib.abi import ffi
from tdx.emu import cpuid as _cpuid, interrupts as _interrupts, msrs as _msrs
from tdx.emu.errors import EmuRunError
from tdx.emu.regs import MASK64

PAGE_SIZE = 4096
# arch/x86/include/uapi/asm/kvm.h: the PIO data page is the second page of the
# vCPU mmap, so KVM_EXIT_IO reports data_offset = 1 * PAGE_SIZE.
KVM_PIO_PAGE_OFFSET = 1
PIO_DATA_OFFSET = KVM_PIO_PAGE_OFFSET * PAGE_SIZE

TDX_MAP_GPA_MAX_LEN = 2 * 1024 * 1024   # §4.7

# include/uapi/linux/kvm_para.h hypercall numbers handled in the kernel (§4.12)
KVM_HC_VAPIC_POLL_IRQ = 1
KVM_HC_KICK_CPU = 5
KVM_HC_SCHED_YIELD = 11


def _ret(code):
    """-KVM_Exxx as the unsigned value KVM stores in a register."""
    return (-code) & MASK64


def _s32(value):
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def _run_addr(run):
    return int(ffi.cast("uintptr_t", run))


def set_return_code(vcpu, status):
    vcpu.vp_enter_args.r10 = status


def set_return_val(vcpu, value):
    vcpu.vp_enter_args.r11 = value


def _failure_status(vm, status, rfc_errno):
    """The GHCI status KVM writes for a failed call.  FAULT "tdvmcall-errno-status":
    the first posted series (RFC v1, 2020) wrote a negative Linux errno into
    R10 instead (-E2BIG for an IO size above 4, -EFAULT for a failed MSR
    access, -EOPNOTSUPP for a leaf it did not know)."""
    if "tdvmcall-errno-status" in vm.faults:
        return _ret(rfc_errno)
    return status


# --------------------------------------------------------------------------
# dispatch (§4.3)

def handle_tdvmcall(vm, vcpu, run):
    a = vcpu.vp_enter_args
    vcpu.pending = None
    if a.r10 != ghci.TDX_HYPERCALL_STANDARD:
        return emulate_vmcall(vm, vcpu, run)            # EXIT_REASON_VMCALL
    leaf = a.r11
    handler = _INSTRUCTION_LEAVES.get(leaf) or _TDCALL_LEAVES.get(leaf)
    # FAULT "tdvmcallinfo-leaf1-unhandled": before 25e8b1dd4883 ("KVM: TDX:
    # Exit to userspace for GetTdVmCallInfo", 6.16-rc3) only leaf 0 was
    # handled: R12 = 1 got INVALID_OPERAND like any other leaf.
    if (leaf == ghci.TDVMCALL_GET_TD_VM_CALL_INFO and a.r12 == 1 and
            "tdvmcallinfo-leaf1-unhandled" in vm.faults):
        set_return_code(vcpu, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
        return False
    if handler is None:
        # handle_tdvmcall() default; INVALID_OPERAND before b5aafcb4efd2 (§4.3)
        set_return_code(vcpu, _failure_status(vm, _unsupported_status(vm), errno.EOPNOTSUPP))
        return False
    return handler(vm, vcpu, run)


def _unsupported_status(vm):
    """SUBFUNC_UNSUPPORTED (b5aafcb4efd2 "KVM: TDX: Add new TDVMCALL status code
    for unsupported subfuncs", 6.16-rc3).  FAULT "subfunc-invalid-operand":
    before it, KVM answered INVALID_OPERAND, which a guest cannot tell apart
    from a bad operand."""
    if "subfunc-invalid-operand" in vm.faults:
        return ghci.TDVMCALL_STATUS_INVALID_OPERAND
    return ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED


# --------------------------------------------------------------------------
# R10 != 0: a KVM hypercall carried by TDVMCALL (§4.12, tdx_emulate_vmcall)

def emulate_vmcall(vm, vcpu, run):
    a = vcpu.vp_enter_args
    # R10->RAX (nr), R11->RBX, R12->RCX, R13->RDX, R14->RSI; a TD is always a
    # 64-bit, CPL0 caller (is_64_bit_hypercall() is true for protected state).
    nr, a0, a1, a2 = a.r10, a.r11, a.r12, a.r13
    ret = _ret(abi.KVM_ENOSYS)
    if nr in (KVM_HC_VAPIC_POLL_IRQ, KVM_HC_KICK_CPU, KVM_HC_SCHED_YIELD):
        # guest_pv_has() is true while PV CPUID enforcement is off (the default);
        # kick/yield have no visible effect in the model.
        ret = 0
    elif nr == abi.KVM_HC_MAP_GPA_RANGE and vm.user_exit_on_hypercall(abi.KVM_HC_MAP_GPA_RANGE):
        gpa, npages, attrs = a0, a1, a2
        if gpa & (PAGE_SIZE - 1) or not npages or (gpa >> 12) + npages > MASK64:
            ret = _ret(abi.KVM_EINVAL)
        else:
            # Raw arguments: no shared-bit stripping on this path (§4.12).
            hc = run.hypercall
            run.exit_reason = abi.KVM_EXIT_HYPERCALL
            hc.nr = abi.KVM_HC_MAP_GPA_RANGE
            # FAULT "hypercall-ret-stale": before 9a1dfeff4414 ("KVM: x86: clear
            # vcpu->run->hypercall.ret before exiting for KVM_EXIT_HYPERCALL")
            # the field kept whatever the kvm_run union last held.
            hc.ret = vcpu.hypercall_ret_at_entry if "hypercall-ret-stale" in vm.faults else 0
            hc.args[0], hc.args[1], hc.args[2] = gpa, npages, attrs
            hc.flags = abi.KVM_EXIT_HYPERCALL_LONG_MODE
            vcpu.pending = _complete_hypercall_exit
            return True
    # ____kvm_emulate_hypercall() stores the result in run->hypercall.ret even
    # without an exit; complete_hypercall_exit() copies it to R10.
    run.hypercall.ret = ret
    return _complete_hypercall_exit(vm, vcpu, run)


def _complete_hypercall_exit(vm, vcpu, run):
    set_return_code(vcpu, run.hypercall.ret)
    return False


# --------------------------------------------------------------------------
# Instruction.CPUID (§4.4)

def emulate_cpuid(vm, vcpu, run):
    a = vcpu.vp_enter_args
    eax, ebx, ecx, edx = _cpuid.kvm_cpuid(vcpu.cpuid, a.r12 & 0xFFFFFFFF, a.r13 & 0xFFFFFFFF)
    a.r12, a.r13, a.r14, a.r15 = eax, ebx, ecx, edx
    return False                                        # R10 untouched


# --------------------------------------------------------------------------
# Instruction.HLT (§4.5)

def emulate_halt(vm, vcpu, run):
    """kvm_emulate_halt_noskip() (tdx_handle_exit(), EXIT_REASON_HLT): no
    exit to userspace, the LAPIC being in the kernel; the vCPU becomes
    HALTED unless kvm_vcpu_has_events() already holds (__kvm_emulate_halt()).
    R12 is the guest's "interrupts blocked" flag: with it set, only an NMI
    wakes the vCPU (emu/interrupts.py interrupt_allowed()).  The run loop
    does not re-enter the guest while vcpu.halted; it blocks like
    kvm_vcpu_block() until has_events() holds (or KVM_SET_MP_STATE makes the
    vCPU runnable, or a signal fails KVM_RUN with EINTR).  R10 is not
    written: the guest sees the SUCCESS it passed."""
    vcpu.exit_hlt = True
    if not _interrupts.has_events(vm, vcpu):
        vcpu.mp_state = abi.KVM_MP_STATE_HALTED
    return False


# --------------------------------------------------------------------------
# Instruction.IO (§4.6, tdx_emulate_io)

def emulate_io(vm, vcpu, run):
    a = vcpu.vp_enter_args
    size, write, port = a.r12, a.r13, a.r14
    # FAULT "io-direction-nonzero-out": the posted series up to v19 took any
    # R13 != 0 for OUT (RFC v1 "KVM: TDX: Add "basic" support ..."; fixed in
    # the merged tdx_emulate_io(), which refuses R13 > 1).
    if "io-direction-nonzero-out" in vm.faults:
        write = int(write != 0)
    if write not in (0, 1):
        set_return_code(vcpu, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
        return False
    if size not in (1, 2, 4):
        # FAULT "io-size-unchecked": the size check is missing, any size reaches
        # the PIO emulator and userspace.
        # FAULT "io-size-only-above-4": the posted series refused only size > 4,
        # so sizes 0 and 3 reached the PIO emulator (RFC v1 .. v19).
        # FAULT "tdvmcall-errno-status": size > 4 -> -E2BIG in R10 (RFC v1).
        if "io-size-unchecked" not in vm.faults and not (
                "io-size-only-above-4" in vm.faults and size <= 4):
            status = ghci.TDVMCALL_STATUS_INVALID_OPERAND
            set_return_code(vcpu, _failure_status(vm, status, errno.E2BIG) if size > 4 else status)
            return False
    # No in-kernel PIO device for a TD (module docstring): exit to userspace.
    # The port is passed to the PIO emulator as an unsigned short.
    io = run.io
    run.exit_reason = abi.KVM_EXIT_IO
    io.direction = abi.KVM_EXIT_IO_OUT if write else abi.KVM_EXIT_IO_IN
    io.size = size & 0xFF
    io.port = port & 0xFFFF
    io.count = 1
    io.data_offset = PIO_DATA_OFFSET
    nbytes = min(size, 8)
    if write:
        data = (a.r15 & MASK64).to_bytes(8, "little")[:nbytes]
        ffi.buffer(ffi.cast("char *", _run_addr(run) + PIO_DATA_OFFSET), nbytes)[:] = data
        vcpu.pending = _complete_pio_out
    else:
        vcpu.pending = _complete_pio_in(nbytes)
    return True


def _complete_pio_out(vm, vcpu, run):
    return False


def _complete_pio_in(nbytes):
    def complete(vm, vcpu, run):
        raw = bytes(ffi.buffer(ffi.cast("char *", _run_addr(run) + PIO_DATA_OFFSET), nbytes))
        set_return_val(vcpu, int.from_bytes(raw, "little"))     # zero-extended
        return False
    return complete


# --------------------------------------------------------------------------
# Instruction.RDMSR / WRMSR (§4.13)

def _msr_read(vm, vcpu, index):
    """kvm_emulate_msr_read(): the MSR filter first, then tdx_get_msr()."""
    # FAULT "msr-filter-ignored": the TDVMCALL MSR path never consults the filter.
    if "msr-filter-ignored" not in vm.faults:
        if vm.msr_filter is not None and not vm.msr_filter.allowed(index, write=False):
            return _msrs.MSR_RET_FILTERED, 0
    return _msrs.get_msr(vcpu, index)


def _msr_write(vm, vcpu, index, data):
    if "msr-filter-ignored" not in vm.faults:
        if vm.msr_filter is not None and not vm.msr_filter.allowed(index, write=True):
            return _msrs.MSR_RET_FILTERED
    return _msrs.set_msr(vcpu, index, data)


def _msr_reason(r):
    """kvm_msr_reason()"""
    if r == _msrs.MSR_RET_UNSUPPORTED:
        return abi.KVM_MSR_EXIT_REASON_UNKNOWN
    if r == _msrs.MSR_RET_FILTERED:
        return abi.KVM_MSR_EXIT_REASON_FILTER
    return abi.KVM_MSR_EXIT_REASON_INVAL


def _msr_user_space(vm, vcpu, run, index, exit_reason, data, completion, r):
    """kvm_msr_user_space(): exit only for a reason userspace enabled."""
    # FAULT "msr-no-user-exit": pre-merge series, every failure becomes
    # INVALID_OPERAND in the kernel and userspace never sees the access.
    if "msr-no-user-exit" in vm.faults:
        return False
    reason = _msr_reason(r)
    if not vm.user_space_msr_mask & reason:
        return False
    m = run.msr
    run.exit_reason = exit_reason
    m.error = 0
    for i in range(7):
        m.pad[i] = 0
    m.reason = reason
    m.index = index
    m.data = data
    vcpu.pending = completion
    return True


def _complete_emulated_msr(vm, vcpu, err, read, data=0):
    """tdx_complete_emulated_msr(): never a #GP for a TD."""
    if err:
        set_return_code(vcpu, _failure_status(vm, ghci.TDVMCALL_STATUS_INVALID_OPERAND, errno.EFAULT))
    elif read:
        set_return_val(vcpu, data)
    return False


def emulate_rdmsr(vm, vcpu, run):
    index = vcpu.vp_enter_args.r12 & 0xFFFFFFFF         # kvm_ecx_write()
    r, data = _msr_read(vm, vcpu, index)
    if r and _msr_user_space(vm, vcpu, run, index, abi.KVM_EXIT_X86_RDMSR, 0, _complete_rdmsr, r):
        return True
    return _complete_emulated_msr(vm, vcpu, r, True, data)  # success: R11 = EDX:EAX, R10 untouched


def _complete_rdmsr(vm, vcpu, run):
    # complete_fast_rdmsr(): EDX:EAX = msr.data only when msr.error == 0
    err = run.msr.error
    return _complete_emulated_msr(vm, vcpu, err, True, 0 if err else run.msr.data)


def emulate_wrmsr(vm, vcpu, run):
    a = vcpu.vp_enter_args
    index = a.r12 & 0xFFFFFFFF
    data = a.r13 & MASK64                               # EAX = R13[31:0], EDX = R13[63:32]
    r = _msr_write(vm, vcpu, index, data)
    if r and _msr_user_space(vm, vcpu, run, index, abi.KVM_EXIT_X86_WRMSR, data, _complete_wrmsr, r):
        return True
    return _complete_emulated_msr(vm, vcpu, r, False)


def _complete_wrmsr(vm, vcpu, run):
    return _complete_emulated_msr(vm, vcpu, run.msr.error, False)


# --------------------------------------------------------------------------
# #VE.RequestMMIO (§4.14, tdx_emulate_mmio)

def emulate_mmio(vm, vcpu, run):
    a = vcpu.vp_enter_args
    # `int size, write` in tdx_emulate_mmio(): only the low 32 bits count.
    size, write, gpa = _s32(a.r12), _s32(a.r13), a.r14
    val = a.r15 if write else 0
    # FAULT "mmio-size-only-above-8": RFC v1 refused only size > 8 (and a page
    # crossing): sizes 0, 3, 5, 6 and 7 reached userspace.
    sizes_ok = (0 <= size <= 8) if "mmio-size-only-above-8" in vm.faults else size in (1, 2, 4, 8)
    if not sizes_ok or write not in (0, 1):
        set_return_code(vcpu, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
        return False
    # FAULT "mmio-shared-bit-unchecked": MMIO on a private GPA is not refused.
    if "mmio-shared-bit-unchecked" not in vm.faults:
        if vm.is_private_gpa(gpa) or vm.is_private_gpa((gpa + size - 1) & MASK64):
            set_return_code(vcpu, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
            return False
    # FAULT "mmio-shared-bit-kept": RFC v1 passed the GPA to the MMIO exit
    # with the shared bit still set.
    if "mmio-shared-bit-kept" not in vm.faults:
        gpa &= ~vm.shared_bit & MASK64
    # FAULT "mmio-xapic-page-in-kernel": v19 of "KVM: TDX: Handle TDX PV MMIO
    # hypercall" tried the in-kernel LAPIC's MMIO device first, so requests to
    # the xAPIC page never reached userspace: in x2APIC mode (a TD's) writes
    # are dropped and reads return all-ones (apic_mmio_read(), the LAPIC MMIO
    # hole quirk).  Merged tdx_emulate_mmio() uses only the MMIO buses.
    if "mmio-xapic-page-in-kernel" in vm.faults and \
            _msrs.APIC_DEFAULT_PHYS_BASE <= gpa < _msrs.APIC_DEFAULT_PHYS_BASE + PAGE_SIZE:
        if not write:
            set_return_val(vcpu, (1 << (8 * size)) - 1)
        return False
    # No in-kernel MMIO device (module docstring): __kvm_prepare_emulated_mmio_exit()
    m = run.mmio
    run.exit_reason = abi.KVM_EXIT_MMIO
    m.phys_addr = gpa
    m.len = size
    m.is_write = write
    if write:
        raw = val.to_bytes(8, "little")
        for i in range(size):
            m.data[i] = raw[i]
        vcpu.pending = None                             # no completion for writes
    else:
        vcpu.pending = _complete_mmio_read(size)
    return True


def _complete_mmio_read(size):
    def complete(vm, vcpu, run):
        raw = bytes(run.mmio.data[0:size])
        set_return_val(vcpu, int.from_bytes(raw, "little"))     # zero-extended
        return False                                            # R10 untouched
    return complete


# --------------------------------------------------------------------------
# GHCI TDVMCALLs (EXIT_REASON_TDCALL)

def get_td_vm_call_info(vm, vcpu, run):
    """§4.10"""
    a = vcpu.vp_enter_args
    if a.r12 == 0:
        a.r11 = a.r12 = a.r13 = a.r14 = 0
        set_return_code(vcpu, ghci.TDVMCALL_STATUS_SUCCESS)
        return False
    if a.r12 == 1:
        info = run.tdx.get_tdvmcall_info
        info.leaf = a.r12
        run.exit_reason = abi.KVM_EXIT_TDX
        run.tdx.flags = 0
        run.tdx.nr = ghci.TDVMCALL_GET_TD_VM_CALL_INFO
        info.ret = ghci.TDVMCALL_STATUS_SUCCESS
        info.r11 = info.r12 = info.r13 = info.r14 = 0
        vcpu.pending = _complete_get_td_vm_call_info
        return True
    set_return_code(vcpu, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
    return False


def _complete_get_td_vm_call_info(vm, vcpu, run):
    info = run.tdx.get_tdvmcall_info
    a = vcpu.vp_enter_args
    set_return_code(vcpu, info.ret)
    a.r11, a.r12, a.r13, a.r14 = info.r11, info.r12, info.r13, info.r14
    return False


def map_gpa(vm, vcpu, run):
    """§4.7 (tdx_map_gpa); checks in code order, errors leave R11 = R12."""
    a = vcpu.vp_enter_args
    gpa, size = a.r12, a.r13
    if not vm.user_exit_on_hypercall(abi.KVM_HC_MAP_GPA_RANGE):
        return _map_gpa_error(vcpu, _unsupported_status(vm), gpa)
    end = gpa + size
    if (end > MASK64 or end <= gpa or not _cpuid.is_legal_gpa(vcpu.cpuid, gpa) or
            not _cpuid.is_legal_gpa(vcpu.cpuid, end - 1) or
            vm.is_private_gpa(gpa) != vm.is_private_gpa(end - 1)):
        return _map_gpa_error(vcpu, ghci.TDVMCALL_STATUS_INVALID_OPERAND, gpa)
    # FAULT "mapgpa-no-align-check": ALIGN_ERROR is never returned.
    if "mapgpa-no-align-check" not in vm.faults:
        if gpa & (PAGE_SIZE - 1) or size & (PAGE_SIZE - 1):
            return _map_gpa_error(vcpu, ghci.TDVMCALL_STATUS_ALIGN_ERROR, gpa)
    # FAULT "mapgpa-no-exit": RFC v2's tdx_map_gpa() only range-checked and
    # returned SUCCESS; the VMM never learned of the conversion (it was left
    # to the EPT violation handler).
    if "mapgpa-no-exit" in vm.faults:
        set_return_code(vcpu, ghci.TDVMCALL_STATUS_SUCCESS)
        return False
    vcpu.map_gpa_end = end
    vcpu.map_gpa_next = gpa
    _map_gpa_exit(vm, vcpu, run)
    return True


def _map_gpa_error(vcpu, status, r11):
    set_return_code(vcpu, status)
    vcpu.vp_enter_args.r11 = r11
    return False


def _map_gpa_exit(vm, vcpu, run):
    """__tdx_map_gpa(): one chunk of at most 2 MiB from the current GPA."""
    gpa = vcpu.map_gpa_next
    size = min(vcpu.map_gpa_end - gpa, TDX_MAP_GPA_MAX_LEN)
    hc = run.hypercall
    run.exit_reason = abi.KVM_EXIT_HYPERCALL
    hc.nr = abi.KVM_HC_MAP_GPA_RANGE
    # Pre-zeroed for QEMU <= 9.2 (9a1dfeff4414).  FAULT "hypercall-ret-stale": not.
    hc.ret = vcpu.hypercall_ret_at_entry if "hypercall-ret-stale" in vm.faults else 0
    hc.args[0] = gpa & ~vm.shared_bit & MASK64
    hc.args[1] = size // PAGE_SIZE
    hc.args[2] = (abi.KVM_MAP_GPA_RANGE_ENCRYPTED if vm.is_private_gpa(gpa)
                  else abi.KVM_MAP_GPA_RANGE_DECRYPTED)
    hc.flags = abi.KVM_EXIT_HYPERCALL_LONG_MODE
    vcpu.pending = _complete_map_gpa


def _complete_map_gpa(vm, vcpu, run):
    """tdx_complete_vmcall_map_gpa().  Since 7.2 (3e2dec1ede0a, emu/kernel.py
    mapgpa-user-errors) (kvm-x86/linux @09c6f74ecb86): EAGAIN -> RETRY, EINVAL -> INVALID_OPERAND,
    any other non-zero hypercall.ret fails KVM_RUN with EINVAL.  Before, any
    non-zero value -> INVALID_OPERAND (6.16, torvalds/linux @3829d81b6958).
    R11 = the chunk's GPA either way."""
    ret = run.hypercall.ret
    # FAULT "mapgpa-user-errors-ignored": the 7.2 change undone.
    if ret and (not vm.kernel.has("mapgpa-user-errors") or "mapgpa-user-errors-ignored" in vm.faults):
        return _map_gpa_error(vcpu, ghci.TDVMCALL_STATUS_INVALID_OPERAND, vcpu.map_gpa_next)
    if ret == errno.EAGAIN:
        return _map_gpa_error(vcpu, ghci.TDVMCALL_STATUS_RETRY, vcpu.map_gpa_next)
    if ret == errno.EINVAL:
        return _map_gpa_error(vcpu, ghci.TDVMCALL_STATUS_INVALID_OPERAND, vcpu.map_gpa_next)
    if ret != 0:
        raise EmuRunError(errno.EINVAL, "MapGPA completion: hypercall.ret %#x" % ret)
    vcpu.map_gpa_next += TDX_MAP_GPA_MAX_LEN
    if vcpu.map_gpa_next >= vcpu.map_gpa_end:
        return False                            # done: R10 untouched (SUCCESS)
    # Stop at a pending event that could be delivered: kvm_vcpu_has_events(),
    # which after a TDCALL exit looks at PID.ON and NMIs, not at the vIRR.
    # FAULT "mapgpa-no-interrupt-check": every chunk exits, whatever is pending.
    if "mapgpa-no-interrupt-check" not in vm.faults and _interrupts.has_events(vm, vcpu):
        return _map_gpa_error(vcpu, ghci.TDVMCALL_STATUS_RETRY, vcpu.map_gpa_next)
    _map_gpa_exit(vm, vcpu, run)
    return True


def report_fatal_error(vm, vcpu, run):
    """§4.8: no validation, no completion; GPRs in x86 index order."""
    a = vcpu.vp_enter_args
    ev = run.system_event
    run.exit_reason = abi.KVM_EXIT_SYSTEM_EVENT
    ev.type = abi.KVM_SYSTEM_EVENT_TDX_FATAL
    ev.ndata = 16
    values = [ghci.EXIT_REASON_TDCALL, a.rcx, a.rdx, a.rbx, 0, 0, a.rsi, a.rdi] + a.gprs[8:16]
    # FAULT "fatal-error-v1-layout": the v1 patch (2024-12, "KVM: TDX: Handle
    # TDG.VP.VMCALL<ReportFatalError>") reported ndata 10: data[0] = R12,
    # data[1] = R13, then R14, R15, RBX, RDI, RSI, R8, R9, RDX.  The merged v3
    # (79462faa2b2a) dumps all 16 GPRs in x86 order.
    if "fatal-error-v1-layout" in vm.faults:
        ev.ndata = 10
        values = [a.r12, a.r13, a.r14, a.r15, a.rbx, a.rdi, a.rsi, a.r8, a.r9, a.rdx] + [0] * 6
    # FAULT "fatal-error-rdx-rbx-swapped": RFC v3's register-mask dump
    # defined REG_MASK_RBX as bit 2 and REG_MASK_RDX as bit 3, crossing the
    # two registers against the x86 encoding (RDX = 2, RBX = 3).
    if "fatal-error-rdx-rbx-swapped" in vm.faults:
        values[2], values[3] = values[3], values[2]
    for i, v in enumerate(values):
        ev.data[i] = v
    return True


def get_quote(vm, vcpu, run):
    """§4.9, tdx_get_quote(): the only check is the shared bit of R12; the
    size (R13) and the alignment are not checked, the buffer is not read.
    `ret` is preset to SUBFUNC_UNSUPPORTED, so a VMM that does not handle the
    exit fails the call (Documentation/virt/kvm/api.rst, KVM_EXIT_TDX)."""
    a = vcpu.vp_enter_args
    gpa, size = a.r12, a.r13
    if vm.is_private_gpa(gpa):
        set_return_code(vcpu, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
        return False
    # FAULT "getquote-size-checks": the 2025-04 pre-merge version refused a
    # size of 0 (INVALID_OPERAND) and an unaligned GPA or size (ALIGN_ERROR).
    if "getquote-size-checks" in vm.faults:
        if size == 0:
            set_return_code(vcpu, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
            return False
        if gpa & (PAGE_SIZE - 1) or size & (PAGE_SIZE - 1):
            set_return_code(vcpu, ghci.TDVMCALL_STATUS_ALIGN_ERROR)
            return False
    q = run.tdx.get_quote
    run.exit_reason = abi.KVM_EXIT_TDX
    run.tdx.flags = 0
    run.tdx.nr = ghci.TDVMCALL_GET_QUOTE
    q.ret = ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED
    # FAULT "getquote-gpa-unstripped": the same version passed R12 on with
    # the shared bit.
    q.gpa = gpa if "getquote-gpa-unstripped" in vm.faults else gpa & ~vm.shared_bit & MASK64
    q.size = size
    vcpu.pending = _complete_simple
    return True


def setup_event_notify_interrupt(vm, vcpu, run):
    """§4.11, tdx_setup_event_notify_interrupt() (4580dbef5ce0, 6.16): the
    whole 64-bit R12 must be a vector 32..255; KVM keeps nothing, userspace
    decides which vCPU gets the notification and raises it (e.g. with
    KVM_SIGNAL_MSI) when a GetQuote request completes (GHCI 3.5)."""
    vector = vcpu.vp_enter_args.r12
    # FAULT "setup-event-notify-absent": 6.16-rc3..rc5 did not handle the
    # sub-function (default: SUBFUNC_UNSUPPORTED, no exit).
    if "setup-event-notify-absent" in vm.faults:
        set_return_code(vcpu, ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED)
        return False
    if vector < 32 or vector > 255:
        set_return_code(vcpu, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
        return False
    s = run.tdx.setup_event_notify
    run.exit_reason = abi.KVM_EXIT_TDX
    run.tdx.flags = 0
    run.tdx.nr = ghci.TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT
    s.ret = ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED
    s.vector = vector
    vcpu.pending = _complete_simple
    return True


def _complete_simple(vm, vcpu, run):
    set_return_code(vcpu, run.tdx.unknown.ret)
    return False


_INSTRUCTION_LEAVES = {
    ghci.EXIT_REASON_CPUID: emulate_cpuid,
    ghci.EXIT_REASON_HLT: emulate_halt,
    ghci.EXIT_REASON_IO_INSTRUCTION: emulate_io,
    ghci.EXIT_REASON_MSR_READ: emulate_rdmsr,
    ghci.EXIT_REASON_MSR_WRITE: emulate_wrmsr,
    ghci.EXIT_REASON_EPT_VIOLATION: emulate_mmio,       # mapped to EPT_MISCONFIG
}

_TDCALL_LEAVES = {
    ghci.TDVMCALL_MAP_GPA: map_gpa,
    ghci.TDVMCALL_REPORT_FATAL_ERROR: report_fatal_error,
    ghci.TDVMCALL_GET_TD_VM_CALL_INFO: get_td_vm_call_info,
    ghci.TDVMCALL_GET_QUOTE: get_quote,
    ghci.TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT: setup_event_notify_interrupt,
}
