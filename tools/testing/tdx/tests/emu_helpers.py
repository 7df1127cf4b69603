# SPDX-License-Identifier: GPL-2.0-only
"""Fixtures for the tests of the emulated platform's model (test_emu_*.py).

No /dev/kvm: a TD and its vCPU are built directly in the model's state, exits
land in a kvm_run-sized buffer (plus the PIO data page after it), and user
pointers are addresses of cffi buffers in this process.
"""

import struct

from tdx.lib import abi, ghci
from tdx.lib.abi import ffi
from tdx.emu import state as st
from tdx.emu.regs import GPR_NAMES, Regs
from tdx.emu.tdx_module import TdxModule

SHARED_BIT = 1 << 47
VMCALL_MASK = ghci.TDVMCALL_EXPOSE_REGS_MASK      # RDX RBX RSI RDI R8-R15

# A KVM_SET_CPUID2 table like the library's: Intel, max basic 0xD, x2APIC, MAXPHYADDR 48.
INTEL = (0x756E6547, 0x6C65746E, 0x49656E69)      # "Genu", "ntel", "ineI" as EBX, ECX, EDX
SIG = abi.KVM_CPUID_FLAG_SIGNIFCANT_INDEX


def default_cpuid(maxphyaddr=48):
    return [
        (0x0, 0, 0, 0xD, INTEL[0], INTEL[1], INTEL[2]),
        (0x1, 0, 0, 0x806F8, 0x800, 1 << 21 | 1 << 31, 0x178BFBFF),
        (0x7, 0, SIG, 1, 0x11111111, 0x22222222, 0x33333333),
        (0x7, 1, SIG, 0x44444444, 0, 0, 0),
        (0xD, 0, SIG, 0x2E7, 0xA88, 0xA88, 0),
        (0x80000000, 0, 0, 0x80000008, 0, 0, 0),
        (0x80000008, 0, 0, 0x3000 | maxphyaddr, 0, 0, 0),
    ]


class FakeMemory:
    """Stands in for emu/memory.py: records calls, answers as told."""

    def __init__(self):
        self.accept_result = "ok"
        self.populate_errors = {}       # gpa -> errno
        self.populated = []             # (gpa, data, measure)
        self.accepted = []
        self.faulted = []               # GPAs of private_fault_retry()
        self.fault_error = None         # raised by private_fault_retry()
        self.signal_pending = None      # its signal_pending() of the last call

    def private_fault_retry(self, gpa, signal_pending, hold=None):
        self.faulted.append(gpa)
        self.signal_pending = signal_pending
        if self.fault_error is not None:
            raise self.fault_error

    def accept(self, gpa, level):
        self.accepted.append((gpa, level))
        if isinstance(self.accept_result, BaseException):
            raise self.accept_result
        return self.accept_result

    def populate(self, gpa, read_source, kernel):
        err = self.populate_errors.get(gpa, 0)
        if err:
            return err, None
        try:
            data = read_source() if read_source is not None else b""
        except OSError as e:
            return e.errno, None
        self.populated.append((gpa, bytes(data)))
        return 0, data


def make_td(faults=(), gpaw=48, finalized=True, exit_hypercall=True, user_space_msr=0,
            cpuid=None, num_vcpus=1, max_vcpus=8):
    """A TD after INIT_VM (and FINALIZE) with one initialized vCPU (index 0)."""
    vm = st.TdVm(faults=faults, max_vcpus=max_vcpus, memory=FakeMemory())
    vm.state = st.TD_STATE_RUNNABLE if finalized else st.TD_STATE_INITIALIZED
    vm.gpaw = gpaw
    vm.shared_bit = 1 << (gpaw - 1)
    vm.attributes = ghci.TDX_ATTR_SEPT_VE_DISABLE
    vm.xfam = 0x3
    vm.split_irqchip = True
    vm.hypercall_exit_enabled = 1 << abi.KVM_HC_MAP_GPA_RANGE if exit_hypercall else 0
    vm.user_space_msr_mask = user_space_msr
    vcpu = st.TdVcpu(0, vm=vm)
    vcpu.cpuid = list(cpuid if cpuid is not None else default_cpuid())
    vcpu.state = st.VCPU_TD_STATE_INITIALIZED
    vcpu.index = 0
    vcpu.msrs.set_apic_base(0xFEE00000 | 1 << 10 | 1 << 11 | 1 << 8)
    vm.vcpus.append(vcpu)
    vm.num_vcpus = num_vcpus
    return vm, vcpu


class Run:
    """A kvm_run followed by the PIO data page, as the vCPU mmap lays them out."""

    def __init__(self):
        self.buf = ffi.new("char[]", 3 * 4096)
        self.run = ffi.cast("struct kvm_run *", self.buf)
        self.addr = int(ffi.cast("uintptr_t", self.buf))

    def page(self, offset, length):
        return ffi.buffer(ffi.cast("char *", self.addr + offset), length)

    def raw(self):
        return bytes(ffi.buffer(self.buf, 3 * 4096))


def guest_regs(leaf=None, mask=VMCALL_MASK, r10=0, **values):
    """The guest's registers at a TDG.VP.VMCALL (RAX = 0, RCX = mask, R10, R11 = leaf)."""
    regs = Regs(rip=0x1000)
    for i, name in enumerate(GPR_NAMES):
        regs.set_gpr(i, 0x1111111111110000 + i)     # distinctive values everywhere
    regs.rax = 0
    regs.rcx = mask
    regs.r10 = r10
    if leaf is not None:
        regs.r11 = leaf
    for name, value in values.items():
        setattr(regs, name, value)
    return regs


def tdvmcall(vm, vcpu, run, leaf=None, mask=VMCALL_MASK, module=None, **values):
    """Guest TDCALL(TDG.VP.VMCALL); returns (exited, guest regs after tdcall())."""
    regs = guest_regs(leaf, mask, **values)
    exited = (module or TdxModule()).tdcall(vm, vcpu, regs, run.run)
    return exited, regs


def resume(vm, vcpu, run, regs, module=None):
    """The next KVM_RUN: completion + copy-back; returns whether another exit is ready."""
    return (module or TdxModule()).complete(vm, vcpu, regs, run.run)


class SpyRegs(Regs):
    """A register file that records which GPRs were written."""

    def __init__(self, *args, **kwargs):
        object.__setattr__(self, "written", set())
        super().__init__(*args, **kwargs)
        self.written.clear()

    def __setattr__(self, name, value):
        if name in GPR_NAMES:
            self.written.add(name)
        super().__setattr__(name, value)

    def set_gpr(self, index, value):
        self.written.add(GPR_NAMES[index])
        super().set_gpr(index, value)


class Host:
    """User pointers: addresses of cffi buffers kept alive here."""

    def __init__(self):
        self.keep = []

    def alloc(self, data_or_size):
        size = data_or_size if isinstance(data_or_size, int) else len(data_or_size)
        buf = ffi.new("char[]", max(size, 1))
        if not isinstance(data_or_size, int):
            ffi.buffer(buf, size)[:] = bytes(data_or_size)
        self.keep.append(buf)
        return int(ffi.cast("uintptr_t", buf))

    @staticmethod
    def read(addr, length):
        return bytes(ffi.buffer(ffi.cast("char *", addr), length))

    @staticmethod
    def write(addr, data):
        ffi.buffer(ffi.cast("char *", addr), len(data))[:] = data


def cpuid_bytes(entries):
    return b"".join(struct.pack("<7I12x", *e) for e in entries)


def cmd(cmd_id, data=0, flags=0, hw_error=0):
    return ffi.new("struct kvm_tdx_cmd *", {"id": cmd_id, "flags": flags, "data": data, "hw_error": hw_error})
