# SPDX-License-Identifier: GPL-2.0-only
"""EmuSystem: KVM-TDX behind the library's ioctl boundary, on a plain VM.

The library talks to EmuSystem exactly as it talks to the kernel (the System
interface of tdx.lib.system).  Ordinary ioctls go to the host's /dev/kvm;
for a VM created with type KVM_X86_TDX_VM, EmuSystem creates a default VM and
keeps a model of KVM-TDX next to it:
- KVM_MEMORY_ENCRYPT_OP (KVM_TDX_*) and the TD rules of the other ioctls are
  answered by tdx.emu.ioctls (docs/kvm-tdx-uapi.md §2);
- memslots, guest_memfd and memory attributes go to tdx.emu.memory (§3);
- KVM_RUN runs the real vCPU and handles what a TD vCPU would do differently:
  TDCALL (which traps to us as KVM_EXIT_INTERNAL_ERROR with its instruction
  bytes on this host, or arrives through the guest runtime's #UD doorbell on a
  VMX host) goes to tdx.emu.tdx_module; accesses that found no mapping become
  KVM_EXIT_MEMORY_FAULT or #VE; instructions a TD cannot execute (port I/O,
  HLT) become #VE; the model's posted interrupts and NMIs are delivered at
  the guest's interrupt windows (tdx.emu.delivery).  Exits are written into
  the real kvm_run the library has mapped, so the library decodes them with
  its ordinary code.
"""

import contextlib
import errno
import os
import signal
import threading
import time

from tdx.lib import abi, boot, kvm as _kvm
from tdx.lib.abi import ffi, libc
from tdx.lib.system import HostSystem
from tdx.emu import (delivery, faults as _faults, gmem as _gmem, host as _hostfeat, insn, interrupts, ioctls,
                     kernel as _kernel)
from tdx.emu.concurrency import Races
from tdx.emu.errors import EmuKernelOops
from tdx.emu.kmsg import KernelLog
from tdx.emu.percpu import AssociatedTdVcpus
from tdx.emu.memory import TdMemory
from tdx.emu.regs import Regs
from tdx.emu.state import EmuRunError, TdVm
from tdx.emu.tdx_module import TdxModule
from tdx.emu.vcpu_regs import VcpuRegs

TDCALL_BYTES = b"\x66\x0f\x01\xcc"
TDCALL_DOORBELL_PORT = 0xE4         # guest/include/tdx.h
VE_VECTOR = 20
UD_VECTOR = 6

# VMX exit reasons a #VE reports for instructions a TD cannot execute.
EXIT_REASON_HLT = 12
EXIT_REASON_IO_INSTRUCTION = 30
EXIT_REASON_EPT_VIOLATION = 48

# How long a halted TD vCPU sleeps between looks at its state (TDG.VP.VMCALL<HLT>);
# a kick (an interrupt for it) wakes it at once.
HALT_POLL = 0.002
KICK_SIGNAL = signal.SIGUSR1            # the library's watchdog signal (tdx.lib.watchdog)


class _Host:
    """Access to the library's own memory for user pointers in ioctl structs."""

    _lock = threading.Lock()
    _fd = -1

    @classmethod
    def read(cls, addr, length):
        """copy_from_user(): the kernel itself reads the bytes (a pwrite(2) from
        `addr` into a memfd), so an address the caller has not mapped fails
        with EFAULT, as in KVM, instead of faulting the test process."""
        with cls._lock:
            fd = cls._memfd()
            done = libc.pwrite(fd, ffi.cast("void *", addr), length, 0)
            if done < 0:
                raise OSError(ffi.errno, "copy_from_user(%#x)" % addr)
            if done != length:
                raise OSError(errno.EFAULT, "copy_from_user(%#x): %d of %d bytes" % (addr, done, length))
            return os.pread(fd, length, 0)

    @classmethod
    def _memfd(cls):
        if cls._fd < 0:
            cls._fd = os.memfd_create("tdx-emu-copy-user", os.MFD_CLOEXEC)
        return cls._fd

    @classmethod
    def write(cls, addr, data):
        """copy_to_user(): the kernel itself stores the bytes (a pread(2) from a
        memfd into `addr`), so a page the caller cannot write (e.g. PROT_READ)
        fails with EFAULT, as in KVM, instead of faulting the test process."""
        data = bytes(data)
        with cls._lock:
            fd = cls._memfd()
            os.pwrite(fd, data, 0)
            done = libc.pread(fd, ffi.cast("void *", addr), len(data), 0)
            if done < 0:
                raise OSError(ffi.errno, "copy_to_user(%#x)" % addr)
            if done != len(data):
                raise OSError(errno.EFAULT, "copy_to_user(%#x): %d of %d bytes" % (addr, done, len(data)))


class _TdVmFd:
    def __init__(self, sys_, fd, vm):
        self.fd = fd
        self.vm = vm
        self.memory = TdMemory(sys_.host, fd, vm.faults, vm.kernel)
        self.memory.vm = vm
        vm.memory = self.memory
        vm.read_host = _Host.read
        self.vcpus = {}

    # kvm_vm_dead(): after "Guest access before accepting" or a KVM_BUG_ON()
    # every ioctl on the VM and its vCPUs fails with -EIO (kvm_vm_ioctl/
    # kvm_vcpu_ioctl check kvm->vm_dead first).  The state is the TdVm's, so
    # that the ioctl model can kill the TD too.
    @property
    def dead(self):
        return self.vm.dead

    @dead.setter
    def dead(self, value):
        self.vm.dead = value


class _TdVcpuFd:
    def __init__(self, sys_, vmfd, fd, vcpu):
        self.vmfd = vmfd
        self.fd = fd
        self.vcpu = vcpu
        size = sys_.host.ioctl(sys_.kvm_fd_for(vmfd), abi.KVM_GET_VCPU_MMAP_SIZE)
        self.run_size = size
        self.run_addr = sys_.host.mmap(size, 3, 1, fd, 0)   # PROT_READ|WRITE, MAP_SHARED
        self.run = ffi.cast("struct kvm_run *", self.run_addr)
        # The real vCPU's registers and KVM_RUN (emu/vcpu_regs.py); every
        # other ioctl on the real vCPU goes through regs.ioctl().
        features = sys_.features
        self.regs = VcpuRegs(sys_.host, fd, self.run, bool(features and features.borrow_sync_regs))
        self.started = False
        self.pending = False        # an exit we produced awaits completion
        self.held = None            # (real_gpa, length, write, data) of an access held across a fault
        self.cancel_mmio = False
        self.oopsed = False         # an oops killed a task inside this vCPU's ioctl (emu/percpu.py)
        self.retry_doorbell = False  # a TDCALL from the #UD doorbell did not retire (see _tdcall)
        # kvm_vcpu_kick() (EmuSystem._kick): the thread in KVM_RUN, whether it is
        # between the pre-entry event check and the end of the real KVM_RUN,
        # whether a kick is outstanding, and what wakes it while halted.
        self.thread = None
        self.in_guest = False
        self.kicked = False
        self.wake = threading.Condition(threading.Lock())
        vcpu.kick = lambda: sys_._kick(self)


class EmuSystem(HostSystem):
    """The `emulated` platform's System."""

    name = "emulated"

    # On the emulated platform the model is the kernel under test: it reports
    # the release it plays (tdx.lib.generations reads it as uname(2) elsewhere).
    kernel_release_source = "the emulated platform's TDX_EMU_KERNEL="

    def __init__(self, fault_names=None, tdcall_trap=None, host=None, host_mode=None, kernel=None):
        # `host`: the real kernel (a HostSystem); tests pass one that hides
        # host features to show that the model's own paths are taken.
        self.host = host or HostSystem()
        self.faults = _faults.parse(fault_names)
        self.kernel = _kernel.Kernel(kernel)
        # What to take from the host's KVM (emu/host.py); probed at the first
        # open of /dev/kvm.
        self.host_mode = _hostfeat.requested_mode(host_mode)
        self.features = None
        # How TDCALL reaches the model: "exit" (this host: INTERNAL_ERROR) or
        # "ud" (as on VMX hosts: #UD, forwarded by the guest through the doorbell).
        self.tdcall_trap = tdcall_trap or os.environ.get("TDX_EMU_TDCALL_TRAP", "exit")
        if self.tdcall_trap not in ("exit", "ud"):
            raise ValueError("TDX_EMU_TDCALL_TRAP=%s: expected exit or ud" % self.tdcall_trap)
        self.module = TdxModule()
        # Forced interleavings of racing threads (emu/concurrency.py, race()).
        self.races = Races()
        # The modelled kernel's log (System.kernel_log()) and the per-CPU
        # lists of associated TD vCPUs (emu/percpu.py).
        self.log = KernelLog()
        self.percpu = AssociatedTdVcpus(self.log)
        # How TDCALLs arrived, for tests of both trap paths.
        self.stats = {"tdcall-exit": 0, "tdcall-doorbell": 0, "ud-injected": 0, "insn-fetched": 0}
        self._kvm_fds = set()
        self._vms = {}
        self._vcpus = {}
        self._gmems = {}                # guest_memfd fd -> GuestMemfd (emu/gmem.py)
        self._empty_fd = -1             # an empty memfd, what MMAP guest_memfd mappings show

    def kernel_release(self):
        return self.kernel.release

    # -- System interface --

    def open(self, path, flags):
        fd = self.host.open(path, flags)
        if os.path.realpath(path) in (_kvm.KVM_DEV, os.path.realpath(_kvm.device_path())):
            self._kvm_fds.add(fd)
            if self.features is None:
                self.features = _hostfeat.HostFeatures(self.host, fd, self.host_mode)
        return fd

    def close(self, fd):
        if fd in self._vcpus:
            vfd = self._vcpus.pop(fd)
            self.host.munmap(vfd.run_addr, vfd.run_size)
            vfd.vmfd.vcpus.pop(fd, None)
        elif fd in self._vms:
            vmfd = self._vms.pop(fd)
            vmfd.memory.close()
            self.percpu.release(vmfd.vm)
        elif fd in self._gmems:
            self._gmems.pop(fd).release()
        self._kvm_fds.discard(fd)
        self.host.close(fd)

    def kernel_log(self):
        """The modelled kernel's log from now on (emu/kmsg.py): the model is
        the kernel under test."""
        return self.log.reader()

    def kvm_fd_for(self, vmfd):
        return next(iter(self._kvm_fds))

    @contextlib.contextmanager
    def race(self, threads):
        """Ioctls from the `threads` threads started inside race: a thread that holds a
        contended resource waits until the others have come as far as they
        can (emu/concurrency.py).  The suite reaches it through tdx.lib.races."""
        self.races.arm(threads)
        try:
            yield self.races.settled
        finally:
            self.races.disarm()

    def ioctl(self, fd, request, arg=0):
        if not self.races.armed:
            # No race armed (race() arms it before its threads start): the
            # racers' bookkeeping is not needed.
            return self._ioctl(fd, request, arg)
        with self.races.racing():
            return self._ioctl(fd, request, arg)

    def _ioctl(self, fd, request, arg):
        if fd in self._vcpus:
            if self._vcpus[fd].vmfd.dead:
                raise OSError(errno.EIO, "the TD is dead (kvm_vm_dead)")
            return self._vcpu_ioctl(self._vcpus[fd], request, arg)
        if fd in self._vms:
            if self._vms[fd].dead:
                raise OSError(errno.EIO, "the TD is dead (kvm_vm_dead)")
            return self._vm_ioctl(self._vms[fd], request, arg)
        if fd in self._kvm_fds:
            return self._kvm_ioctl(fd, request, arg)
        return self.host.ioctl(fd, request, arg)

    # -- /dev/kvm --

    def _kvm_ioctl(self, fd, request, arg):
        if request == abi.KVM_CREATE_VM and arg == abi.KVM_X86_TDX_VM:
            vm_fd = self.host.ioctl(fd, abi.KVM_CREATE_VM, abi.KVM_X86_DEFAULT_VM)
            try:
                self._take_native_msr_exits(vm_fd)
            except OSError:
                self.host.close(vm_fd)
                raise
            self._vms[vm_fd] = _TdVmFd(self, vm_fd, TdVm(faults=self.faults, kernel=self.kernel,
                                                         races=self.races, log=self.log))
            return vm_fd
        if request == abi.KVM_CHECK_EXTENSION:
            return self._check_extension(fd, arg, td=None)
        return self.host.ioctl(fd, request, arg)

    def _take_native_msr_exits(self, vm_fd):
        """The guest's own accesses to the x2APIC registers a TD has
        virtualized reach the model as user-space MSR exits (emu/delivery.py)."""
        cap = ffi.new("struct kvm_enable_cap *")
        cap.cap = abi.KVM_CAP_X86_USER_SPACE_MSR
        cap.args[0] = delivery.REAL_VM_MSR_EXITS
        self.host.ioctl(vm_fd, abi.KVM_ENABLE_CAP, cap)

    def _check_extension(self, fd, cap, td):
        """KVM_CHECK_EXTENSION as a KVM with TDX answers it: the capabilities
        the model provides do not depend on the host (emu/host.py MODELLED)."""
        real = self.host.ioctl(fd, abi.KVM_CHECK_EXTENSION, cap)
        modelled = ioctls.modelled_check_extension(cap, real, td)
        if modelled is not None:
            return modelled
        if td is not None:
            return ioctls.td_check_extension(cap, real, td)
        return real

    # -- TD VM fd --

    def _vm_ioctl(self, vmfd, request, arg):
        vm = vmfd.vm
        if request == abi.KVM_MEMORY_ENCRYPT_OP:
            ret = ioctls.tdx_vm_ioctl(vm, ffi.cast("struct kvm_tdx_cmd *", arg), _Host)
            vmfd.memory.shared_bit = vm.shared_bit
            vmfd.memory.dirty = True
            return ret
        if request == abi.KVM_CHECK_EXTENSION:
            return self._check_extension(vmfd.fd, arg, td=vm)
        if request == abi.KVM_ENABLE_CAP:
            cap = ffi.cast("struct kvm_enable_cap *", arg)
            if cap.cap in ioctls.TD_MODELLED_CAPS:
                return ioctls.td_enable_cap(vm, cap)
            ret = self.host.ioctl(vmfd.fd, request, arg)
            if cap.cap == abi.KVM_CAP_X2APIC_API:
                # Validated by the host's KVM; the model's MSI decoding follows it.
                ioctls.td_x2apic_api(vm, cap.args[0])
            return ret
        if request == abi.KVM_SIGNAL_MSI:
            m = ffi.cast("struct kvm_msi *", ioctls.user_struct(arg, "struct kvm_msi"))
            return interrupts.signal_msi(vm, m.address_lo, m.address_hi, m.data, m.flags)
        if request == abi.KVM_X86_SET_MSR_FILTER:
            # Validated and kept by the model, which applies it to TDVMCALLs;
            # the host's VM never sees it (its vCPUs' own RDMSR/WRMSR are not a
            # TD's, emu/README), so hosts without an MSR filter work too.
            return ioctls.td_set_msr_filter(vm, ffi.cast("struct kvm_msr_filter *", arg), _Host)
        if request == abi.KVM_CREATE_VCPU:
            # kvm_vm_ioctl_create_vcpu(): created_vcpus counts the creation
            # from here; online_vcpus once the vCPU is installed.
            with vm.kvm_lock:
                vm.created_vcpus += 1
            try:
                max_ids = self.host.ioctl(vmfd.fd, abi.KVM_CHECK_EXTENSION, abi.KVM_CAP_MAX_VCPU_ID)
                vcpu = ioctls.td_create_vcpu(vm, arg, self.percpu, max_ids)
                try:
                    fd = self.host.ioctl(vmfd.fd, request, arg)
                except OSError:
                    # Refused after kvm_arch_vcpu_create() (the vCPU fd, or the
                    # host's own limits): kvm_arch_vcpu_destroy().
                    vm.vcpus.remove(vcpu)
                    self.percpu.free(vcpu)
                    raise
            except OSError:
                with vm.kvm_lock:
                    vm.created_vcpus -= 1
                raise
            with vm.kvm_lock:
                vm.online_vcpus += 1
            vfd = _TdVcpuFd(self, vmfd, fd, vcpu)
            self._vcpus[fd] = vfd
            vmfd.vcpus[fd] = vfd
            return fd
        if request == abi.KVM_CREATE_GUEST_MEMFD:
            return self._create_guest_memfd(vmfd, ffi.cast("struct kvm_create_guest_memfd *", arg))
        if request == abi.KVM_SET_USER_MEMORY_REGION2:
            r = ffi.cast("struct kvm_userspace_memory_region2 *", arg)
            vmfd.memory.set_region(r.slot, r.flags, r.guest_phys_addr, r.memory_size, r.userspace_addr,
                                   r.guest_memfd, r.guest_memfd_offset)
            return 0
        if request == abi.KVM_SET_USER_MEMORY_REGION:
            r = ffi.cast("struct kvm_userspace_memory_region *", arg)
            if r.flags & abi.KVM_MEM_GUEST_MEMFD:
                raise OSError(errno.EINVAL, "v1 memslot ioctl with KVM_MEM_GUEST_MEMFD")
            vmfd.memory.set_region(r.slot, r.flags, r.guest_phys_addr, r.memory_size, r.userspace_addr, 0, 0)
            return 0
        if request == abi.KVM_SET_MEMORY_ATTRIBUTES:
            a = ffi.cast("struct kvm_memory_attributes *", arg)
            vmfd.memory.set_attributes(a.address, a.size, a.attributes, a.flags)
            return 0
        if request == abi.KVM_CREATE_IRQCHIP:
            return ioctls.td_create_irqchip(vm)
        if request == abi.KVM_SET_TSC_KHZ:
            # Before any vCPU the host VM takes it (KVM_GET_TSC_KHZ reads it
            # back there); after, the model answers (emu/ioctls.py).
            if ioctls.td_set_tsc_khz(vm, arg):
                return self.host.ioctl(vmfd.fd, request, arg)
            return 0
        if request in ioctls.TD_VM_REFUSED:
            raise OSError(ioctls.TD_VM_REFUSED[request], "refused for a TD")
        return self.host.ioctl(vmfd.fd, request, arg)

    def _create_guest_memfd(self, vmfd, args):
        """KVM_CREATE_GUEST_MEMFD on a TD: the host's guest_memfd when it has
        one for these flags (borrowed), else the model's (emu/gmem.py)."""
        ioctls.td_check_guest_memfd(vmfd.vm, args)
        size, flags = args.size, args.flags
        fd = None
        if self.features.borrow_gmem(flags):
            try:
                fd = self.host.ioctl(vmfd.fd, abi.KVM_CREATE_GUEST_MEMFD, args)
            except OSError:
                fd = None               # a host that reports the cap but refuses: model it
        if fd is None:
            gmem = _gmem.GuestMemfd(_gmem.standin_fd(), size, flags, host=self.host,
                                    empty_fd=self._empty_memfd())
        else:
            gmem = _gmem.GuestMemfd(fd, size, flags, borrowed=True, host=self.host)
        self._gmems[gmem.fd] = gmem
        vmfd.memory.add_gmem(gmem)
        return gmem.fd

    def _empty_memfd(self):
        if self._empty_fd < 0:
            self._empty_fd = os.memfd_create("tdx-emu-gmem", os.MFD_CLOEXEC)
        return self._empty_fd

    # -- file syscalls on a TD's guest_memfd (the others go to the host) --

    def read(self, fd, length):
        g = self._gmems.get(fd)
        return g.read(length) if g else self.host.read(fd, length)

    def pread(self, fd, length, offset):
        g = self._gmems.get(fd)
        return g.pread(length, offset) if g else self.host.pread(fd, length, offset)

    def write(self, fd, data):
        g = self._gmems.get(fd)
        return g.write(data) if g else self.host.write(fd, data)

    def pwrite(self, fd, data, offset):
        g = self._gmems.get(fd)
        return g.pwrite(data, offset) if g else self.host.pwrite(fd, data, offset)

    def fstat(self, fd):
        g = self._gmems.get(fd)
        return g.fstat() if g else self.host.fstat(fd)

    def ftruncate(self, fd, length):
        g = self._gmems.get(fd)
        return g.ftruncate(length) if g else self.host.ftruncate(fd, length)

    def fallocate(self, fd, mode, offset, length):
        if not self.races.armed:
            return self._fallocate(fd, mode, offset, length)
        with self.races.racing():
            return self._fallocate(fd, mode, offset, length)

    def _fallocate(self, fd, mode, offset, length):
        g = self._gmems.get(fd)
        return g.fallocate(mode, offset, length) if g else self.host.fallocate(fd, mode, offset, length)

    def mmap(self, length, prot, flags, fd=-1, offset=0):
        g = self._gmems.get(fd) if fd >= 0 else None
        return g.mmap(length, prot, flags, offset) if g else self.host.mmap(length, prot, flags, fd, offset)

    def munmap(self, addr, length):
        self.host.munmap(addr, length)

    def gmem_info(self, fd):
        """(borrowed, GuestMemfd) for tests of both guest_memfd paths."""
        g = self._gmems[fd]
        return g.borrowed, g

    # -- TD vCPU fd --

    def _vcpu_ioctl(self, vfd, request, arg):
        vm, vcpu = vfd.vmfd.vm, vfd.vcpu
        # kvm_vcpu_ioctl(): vcpu->mutex, then vcpu_load() on this CPU.
        if vfd.oopsed:
            raise EmuKernelOops("vCPU %d: vcpu->mutex is held by a task an oops killed; the ioctl would wait "
                                "for it forever" % vcpu.vcpu_id)
        try:
            self.percpu.load(vcpu)
        except EmuKernelOops:
            vfd.oopsed = True
            raise
        if request == abi.KVM_RUN:
            return self._run(vfd)
        if request == abi.KVM_MEMORY_ENCRYPT_OP:
            return ioctls.tdx_vcpu_ioctl(vm, vcpu, ffi.cast("struct kvm_tdx_cmd *", arg), _Host)
        if request == abi.KVM_NMI:
            return interrupts.inject_nmi(vm, vcpu)
        if request == abi.KVM_INTERRUPT:
            irq = ffi.cast("struct kvm_interrupt *", ioctls.user_struct(arg, "struct kvm_interrupt"))
            return interrupts.latch_extint(vcpu, irq.irq)
        handled = ioctls.td_vcpu_other_ioctl(vm, vcpu, request, arg)
        if handled is not None:
            return handled
        return vfd.regs.ioctl(request, arg)

    # -- KVM_RUN --

    def _run(self, vfd):
        vm, vcpu, run = vfd.vmfd.vm, vfd.vcpu, vfd.run
        vfd.thread = threading.get_ident()
        vcpu.hypercall_ret_at_entry = run.hypercall.ret
        if vcpu.mp_state == abi.KVM_MP_STATE_UNINITIALIZED:
            return self._wait_uninitialized(vfd)
        ioctls.td_check_run(vm, vcpu, bool(run.immediate_exit))
        memory = vfd.vmfd.memory
        if not vfd.started:
            self._start(vfd)
        try:
            if vfd.pending:
                vfd.pending = False
                regs = self._get_regs(vfd)
                more = self.module.complete(vm, vcpu, regs, run)
                self._set_regs(vfd, regs)
                if more:
                    vfd.pending = True
                    return 0
            if vfd.held is not None and not self._replay_held(vfd, memory):
                return self._memory_fault(vfd)
            if vfd.retry_doorbell:
                vfd.retry_doorbell = False
                if self._tdcall(vfd, advance=0):
                    return 0
            return self._run_loop(vfd, vm, vcpu, run, memory)
        except EmuRunError as e:
            raise OSError(e.errno, os.strerror(e.errno)) from None

    def _start(self, vfd):
        """Give the real vCPU the state the TDX module gives a new TD vCPU."""
        vm, vcpu = vfd.vmfd.vm, vfd.vcpu
        sregs = ffi.new("struct kvm_sregs *")
        vfd.regs.ioctl(abi.KVM_GET_SREGS, sregs)
        regs = ffi.new("struct kvm_regs *")
        boot.initial_vcpu_state(sregs, regs, vcpu.index, vcpu.init_rcx)
        self.module.initial_regs(vm, vcpu, regs)
        vfd.regs.ioctl(abi.KVM_SET_SREGS, sregs)
        entries = ioctls.virtual_cpuid(vm)
        from tdx.lib.kvm import new_cpuid2
        vfd.regs.ioctl(abi.KVM_SET_CPUID2, new_cpuid2(entries))
        # Last: with sync_regs the first KVM_RUN loads them.
        vfd.regs.set(Regs.from_kvm_regs(regs))
        vfd.started = True

    def _run_loop(self, vfd, vm, vcpu, run, memory):
        while True:
            self._wait_while_halted(vfd)
            memory.sync()
            if not self._enter(vfd):
                continue
            reason = run.exit_reason
            if reason == abi.KVM_EXIT_IRQ_WINDOW_OPEN:
                delivery.window_open(self.host, vfd)
                continue
            if reason in (abi.KVM_EXIT_X86_RDMSR, abi.KVM_EXIT_X86_WRMSR):
                delivery.native_msr(vfd)
                continue
            if reason == abi.KVM_EXIT_INTERNAL_ERROR and self._is_tdcall(vfd, memory):
                if self.tdcall_trap == "ud":
                    self.stats["ud-injected"] += 1
                    self._inject(vfd, UD_VECTOR)
                    continue
                self.stats["tdcall-exit"] += 1
                if self._tdcall(vfd, advance=4):
                    return 0
                continue
            if reason == abi.KVM_EXIT_IO:
                if run.io.port == TDCALL_DOORBELL_PORT and run.io.direction == abi.KVM_EXIT_IO_OUT:
                    # The guest's #UD handler forwards a TDCALL with the TD's
                    # registers as they were; it skips the TDCALL itself.
                    self.stats["tdcall-doorbell"] += 1
                    if self._tdcall(vfd, advance=0):
                        return 0
                    continue
                self._ve_instruction(vfd, EXIT_REASON_IO_INSTRUCTION)
                continue
            if reason == abi.KVM_EXIT_HLT:
                self._ve_instruction(vfd, EXIT_REASON_HLT)
                continue
            if reason == abi.KVM_EXIT_MMIO:
                if self._unmapped_access(vfd, memory):
                    return 0
                continue
            return 0

    def _enter(self, vfd):
        """One real KVM_RUN with the TD's events delivered; False when a kick
        (an interrupt posted meanwhile) interrupted it before an exit."""
        vfd.in_guest = True
        try:
            delivery.before_entry(self.host, vfd)
            vfd.regs.run_vcpu()
            return True
        except OSError as e:
            if e.errno == errno.EINTR and self._consume_kick(vfd):
                return False
            raise
        finally:
            vfd.in_guest = False

    def _kick(self, vfd):
        """kvm_vcpu_kick(): a vCPU inside the real KVM_RUN leaves it (signal,
        and immediate_exit for a signal that lands just before the entry);
        a halted one wakes up.  Called with the VM's irq_lock held."""
        if vfd.in_guest and vfd.thread is not None:
            vfd.kicked = True
            vfd.run.immediate_exit = 1
            try:
                signal.pthread_kill(vfd.thread, KICK_SIGNAL)
            except (ProcessLookupError, OSError):
                pass
        with vfd.wake:
            vfd.wake.notify_all()

    @staticmethod
    def _consume_kick(vfd):
        """Was KVM_RUN interrupted by our kick (not the watchdog's)?  A
        watchdog whose signal coincides with a kick kicks again 10 ms later."""
        if not vfd.kicked:
            return False
        vfd.kicked = False
        vfd.run.immediate_exit = 0
        return True

    def _is_tdcall(self, vfd, memory):
        """Did the vCPU stop at a TDCALL?  From the exit's instruction bytes
        when the host gives them and the host path borrows them, else from
        the instruction at RIP in guest memory (emu/insn.py)."""
        raw = _exit_insn_bytes(vfd.run)
        if raw is False:
            return False                # not an emulation failure
        if raw is not None and self.features.borrow_insn_bytes:
            return raw[:4] == TDCALL_BYTES
        sregs = ffi.new("struct kvm_sregs *")
        vfd.regs.ioctl(abi.KVM_GET_SREGS, sregs)
        rip = vfd.regs.get().rip
        self.stats["insn-fetched"] += 1
        return insn.fetch(memory, sregs, rip, len(TDCALL_BYTES)) == TDCALL_BYTES

    def _wait_while_halted(self, vfd):
        """TDG.VP.VMCALL<HLT> blocks in KVM, with no exit (§4.5), like
        kvm_vcpu_block(): until kvm_vcpu_has_events() (emu/interrupts.py; the
        vCPU is then RUNNABLE again), KVM_SET_MP_STATE(RUNNABLE) from another
        thread, or a signal: KVM_RUN then fails with EINTR.  The signal the
        model sees is the library watchdog's, which sets immediate_exit."""
        vm, vcpu = vfd.vmfd.vm, vfd.vcpu
        while vcpu.halted:
            if interrupts.has_events(vm, vcpu):
                vcpu.mp_state = abi.KVM_MP_STATE_RUNNABLE
                break
            if vfd.run.immediate_exit:
                if self._consume_kick(vfd):
                    continue
                vfd.run.exit_reason = abi.KVM_EXIT_INTR
                raise OSError(errno.EINTR, "KVM_RUN: halted vCPU interrupted")
            with vfd.wake:
                vfd.wake.wait(HALT_POLL)

    def _wait_uninitialized(self, vfd):
        """KVM_RUN of a vCPU still UNINITIALIZED: an AP that KVM_TDX_INIT_VCPU
        has not made RUNNABLE (kvm_arch_vcpu_create() starts APs so under the
        in-kernel LAPIC a TD always has).  kvm_arch_vcpu_ioctl_run() returns
        EINTR at once with immediate_exit set, else blocks in kvm_vcpu_block()
        until a signal (EINTR, KVM_EXIT_INTR) or a wake-up without one (EAGAIN):
        INIT/SIPI, the only way out, are blocked for a TD (x86.c).  The signal
        the model sees is the library watchdog's, which sets immediate_exit."""
        run = vfd.run
        if run.immediate_exit:
            raise OSError(errno.EINTR, "KVM_RUN: immediate_exit")
        while vfd.vcpu.mp_state == abi.KVM_MP_STATE_UNINITIALIZED:
            if run.immediate_exit:
                run.exit_reason = abi.KVM_EXIT_INTR
                raise OSError(errno.EINTR, "KVM_RUN: uninitialized vCPU interrupted")
            time.sleep(HALT_POLL)
        raise OSError(errno.EAGAIN, "KVM_RUN: uninitialized vCPU woken without a signal")

    def _tdcall(self, vfd, advance):
        vm, vcpu, run = vfd.vmfd.vm, vfd.vcpu, vfd.run
        regs = self._get_regs(vfd)
        regs.rip += advance
        try:
            exited = self.module.tdcall(vm, vcpu, regs, run)
        except EmuRunError:
            # The TDCALL did not retire (TDG.MEM.PAGE.ACCEPT of a page KVM could
            # not map: KVM_EXIT_MEMORY_FAULT); the guest executes it again at the
            # next KVM_RUN.  From the trap exit the real vCPU is still at the
            # TDCALL.  The doorbell's stub skips the TDCALL once the OUT
            # completes, so the model runs it again itself, from the registers
            # the vCPU still holds at the doorbell, before resuming the guest.
            vfd.retry_doorbell = advance == 0
            raise
        self._set_regs(vfd, regs)
        if exited:
            vfd.pending = True
        return exited

    # -- accesses that found no real mapping --

    def _unmapped_access(self, vfd, memory):
        """A real MMIO exit: what would KVM-TDX have done?  True = exit to userspace.
        Decided and completed under the memory lock: another thread may be
        changing the memslots or attributes (emu/memory.py _locked)."""
        mmio = vfd.run.mmio
        real_gpa = mmio.phys_addr
        if not (memory.shared_bit and real_gpa & memory.shared_bit):
            try:
                memory.private_fault_retry(real_gpa, lambda: bool(vfd.run.immediate_exit))
            except EmuRunError:
                # The access did not retire: the next KVM_RUN replays it.
                write = bool(mmio.is_write)
                vfd.held = (real_gpa, mmio.len, write, bytes(mmio.data[0:mmio.len]) if write else None)
                vfd.run.exit_reason = abi.KVM_EXIT_INTR
                raise
        with memory.lock:
            return self._unmapped_access_locked(vfd, memory)

    def _unmapped_access_locked(self, vfd, memory):
        run = vfd.run
        mmio = run.mmio
        real_gpa, length, write = mmio.phys_addr, mmio.len, bool(mmio.is_write)
        data = bytes(mmio.data[0:length]) if write else None
        kind, gpa, private = memory.classify(real_gpa)
        if kind == "retry":
            self._finish_mmio(vfd, memory, real_gpa, length, write, data, private)
            return False
        if kind == "fault":
            # The access is kept until the host has converted the page: the
            # guest re-executes it on TDX (emu/README, "held accesses").
            vfd.held = (real_gpa, length, write, data)
            return self._memory_fault(vfd)
        self._ept_violation_ve(vfd, memory, kind, gpa, real_gpa, write, data)
        return False

    def _ept_violation_ve(self, vfd, memory, kind, gpa, real_gpa, write, data):
        """An access the TDX module turns into #VE (EPT violation): a pending
        private page, or a shared GPA without memslot (MMIO).  A pending page
        with SEPT_VE_DISABLE kills the TD instead (§3.3)."""
        if not write:
            # The guest re-executes the load after its #VE handler.
            self._cancel_mmio_read(vfd)
        if kind == "pending" and vfd.vmfd.vm.attributes & abi.TDX_TD_ATTR_SEPT_VE_DISABLE:
            # tdx_handle_ept_violation(): "Guest access before accepting",
            # kvm_vm_dead(), KVM_RUN -EIO.
            vfd.vmfd.dead = True
            raise EmuRunError(errno.EIO)
        if write and kind == "pending":
            # The store already retired in the real vCPU; it lands when the
            # guest accepts the page (emu/memory.py hold_store()).
            memory.hold_store(gpa, data)
        vfd.vcpu.ve_info = (EXIT_REASON_EPT_VIOLATION, 0x2 if write else 0x1, 0, real_gpa, 0)
        self._inject(vfd, VE_VECTOR)

    def _memory_fault(self, vfd):
        real_gpa, length, write, data = vfd.held
        kind, gpa, private = vfd.vmfd.memory.classify(real_gpa)
        mf = vfd.run.memory_fault
        vfd.run.exit_reason = abi.KVM_EXIT_MEMORY_FAULT
        mf.flags = abi.KVM_MEMORY_EXIT_FLAG_PRIVATE if private else 0
        mf.gpa = gpa & ~0xFFF
        mf.size = 4096
        raise OSError(errno.EFAULT, "KVM_EXIT_MEMORY_FAULT")

    def _replay_held(self, vfd, memory):
        """Re-execute an access held across KVM_EXIT_MEMORY_FAULT, as the guest
        does on TDX when KVM_RUN resumes it; False if it faults again."""
        with memory.lock:
            return self._replay_held_locked(vfd, memory)

    def _replay_held_locked(self, vfd, memory):
        real_gpa, length, write, data = vfd.held
        memory.sync()
        kind, gpa, private = memory.classify(real_gpa)
        if kind == "fault":
            return False
        vfd.held = None
        if kind == "retry":
            self._finish_mmio(vfd, memory, real_gpa, length, write, data, private)
        else:
            # Converted to private but not accepted yet (or the memslot went
            # away): the re-executed access takes a #VE like a fresh one.
            self._ept_violation_ve(vfd, memory, kind, gpa, real_gpa, write, data)
        return True

    def _finish_mmio(self, vfd, memory, real_gpa, length, write, data, private):
        gpa = real_gpa & ~memory.shared_bit if memory.shared_bit else real_gpa
        view = memory.private_bytes(gpa, length) if private else memory.shared_bytes(gpa, length)
        if write:
            view[0:length] = data
        else:
            # KVM completes the pending emulated load with mmio.data on re-entry.
            ffi.memmove(vfd.run.mmio.data, bytes(view[0:length]), length)

    def _cancel_mmio_read(self, vfd):
        """Undo a pending emulated load so that the guest re-executes it later.

        KVM completes a pending MMIO read at the next KVM_RUN before it looks
        at immediate_exit; restoring the registers afterwards puts the vCPU
        back at the load with nothing pending.
        """
        regs = vfd.regs.get()
        vfd.run.immediate_exit = 1
        try:
            vfd.regs.run_vcpu()
        except OSError as e:
            if e.errno != errno.EINTR:
                raise
        finally:
            vfd.run.immediate_exit = 0
        vfd.regs.set(regs)

    def _ve_instruction(self, vfd, exit_reason):
        """A TD cannot execute this instruction natively: the module injects #VE."""
        vfd.vcpu.ve_info = (exit_reason, 0, 0, 0, 0)
        self._inject(vfd, VE_VECTOR)

    def _inject(self, vfd, vector):
        events = ffi.new("struct kvm_vcpu_events *")
        vfd.regs.ioctl(abi.KVM_GET_VCPU_EVENTS, events)
        events.exception.injected = 1
        events.exception.nr = vector
        events.exception.has_error_code = 0
        events.exception.pending = 0
        vfd.regs.ioctl(abi.KVM_SET_VCPU_EVENTS, events)

    @staticmethod
    def _get_regs(vfd):
        return vfd.regs.get()

    @staticmethod
    def _set_regs(vfd, regs):
        # Regs holds every field of struct kvm_regs (16 GPRs, RIP, RFLAGS):
        # nothing needs reading back first.
        vfd.regs.set(regs)


def _exit_insn_bytes(run):
    """The instruction bytes an emulation-failure exit carries, or None
    (prepare_emulation_failure_exit(): data[0] flags, then insn_size and the
    bytes; Linux 5.16 by default, 5.14/5.15 on request, none before)."""
    internal = run.internal
    if internal.suberror != abi.KVM_INTERNAL_ERROR_EMULATION:
        return False
    if internal.ndata < 3 or not internal.data[0] & 1:
        return None
    raw = bytes(ffi.buffer(ffi.addressof(internal, "data"), 8 * internal.ndata))
    return raw[9:9 + raw[8]]
