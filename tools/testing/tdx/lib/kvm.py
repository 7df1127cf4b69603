# SPDX-License-Identifier: GPL-2.0-only
"""Thin typed wrappers around the KVM ioctls: Kvm, Vm, Vcpu.

One wrapper per ioctl, named after it; each raises KvmError(ioctl, errno) on
failure.  Negative tests use try_call() to get the errno instead.  Every call
goes through a System object (tdx.lib.system), the seam the emulated platform
plugs into.  A TD is a Vm of type KVM_X86_TDX_VM, not a parallel API
(docs/c-selftests.md §6.2); its setup sequence lives in tdx.lib.td.
"""

import errno as _errno
import os
import struct
from _thread import get_ident as _get_ident
from time import monotonic as _monotonic

from tdx.lib import abi, system as _system, watchdog
from tdx.lib.abi import ffi

watchdog.install_signal_handler()

_KVM_RUN = abi.KVM_RUN


class KvmError(OSError):
    """An ioctl failed.  `.ioctl` names it, `.errno` says why."""

    def __init__(self, ioctl, err, detail=None):
        name = _errno.errorcode.get(err, str(err))
        text = "%s: %s (%s)" % (ioctl, os.strerror(err), name)
        if detail:
            text += ": " + detail
        super().__init__(err, text)
        self.ioctl = ioctl

    def __str__(self):
        return self.strerror


class KvmUnavailable(Exception):
    """/dev/kvm cannot be used at all; the message says why and what to do."""

    environment_error = True    # reported in one line (tdx.lib.ktap)


class VcpuTimeout(Exception):
    """KVM_RUN did not return before the watchdog deadline."""


def try_call(fn, *args, **kwargs):
    """Run fn; 0 if it succeeded, else the errno of the KvmError it raised."""
    try:
        fn(*args, **kwargs)
    except KvmError as e:
        return e.errno
    return 0


def ioctl(sys_, fd, name, request, arg=0):
    try:
        return sys_.ioctl(fd, request, arg)
    except OSError as e:
        raise KvmError(name, e.errno) from None


class KvmBadReturn(Exception):
    """An ioctl whose uAPI returns 0 on success returned something else."""


def ioctl_zero(sys_, fd, name, request, arg=0):
    """ioctl() of a command that returns 0 on success (Documentation/virt/kvm/api.rst)."""
    ret = ioctl(sys_, fd, name, request, arg)
    if ret != 0:
        raise KvmBadReturn("%s returned %r, not 0" % (name, ret))
    return ret


class Mapping:
    """Anonymous (or fd-backed) host memory, unmapped by close()."""

    def __init__(self, sys_, size, fd=-1, offset=0, shared=False):
        self.system = sys_
        self.size = size
        flags = _system.MAP_SHARED if (shared or fd >= 0) else _system.MAP_PRIVATE
        if fd < 0:
            flags |= _system.MAP_ANONYMOUS | _system.MAP_NORESERVE
        self.addr = sys_.mmap(size, _system.PROT_READ | _system.PROT_WRITE, flags, fd, offset)
        self.buf = _system.buffer(self.addr, size)

    def read(self, offset, length):
        return bytes(self.buf[offset:offset + length])

    def write(self, offset, data):
        self.buf[offset:offset + len(data)] = data

    def close(self):
        if self.addr is not None:
            self.buf = None
            self.system.munmap(self.addr, self.size)
            self.addr = None


KVM_DEV = "/dev/kvm"


def device_path():
    """The KVM device: $TDX_KVM_DEV if set, else /dev/kvm.

    The override exists for testing the suite itself: pointing it at a missing
    file, /dev/null or an unreadable file shows what a host without a usable
    /dev/kvm gets (platform none, one-line reasons) without changing the host.
    """
    return os.environ.get("TDX_KVM_DEV") or KVM_DEV


class Kvm:
    """The /dev/kvm system fd."""

    def __init__(self, sys_=None, path=None):
        self.system = sys_ or _system.HostSystem()
        self._supported_cpuid = None
        path = path or device_path()
        self.path = path
        try:
            self.fd = self.system.open(path, os.O_RDWR)
        except OSError as e:
            raise KvmUnavailable(_open_hint(path, e.errno)) from None
        try:
            try:
                self.api_version = ioctl(self.system, self.fd, "KVM_GET_API_VERSION", abi.KVM_GET_API_VERSION)
            except KvmError as e:
                # ENOTTY & co.: whatever answered is not KVM.
                raise KvmUnavailable("%s: not a KVM device (%s)" % (path, e)) from None
            if self.api_version != abi.KVM_API_VERSION:
                raise KvmUnavailable("%s: KVM API version %d, expected %d; this kernel's KVM is not supported"
                                     % (path, self.api_version, abi.KVM_API_VERSION))
            self.vcpu_mmap_size = ioctl(self.system, self.fd, "KVM_GET_VCPU_MMAP_SIZE",
                                        abi.KVM_GET_VCPU_MMAP_SIZE)
        except BaseException:
            self.system.close(self.fd)
            raise

    def check_extension(self, cap):
        return ioctl(self.system, self.fd, "KVM_CHECK_EXTENSION", abi.KVM_CHECK_EXTENSION, cap)

    def require_extension(self, cap, name):
        if not self.check_extension(cap):
            raise KvmUnavailable("%s: %s is not supported by this kernel" % (self.path, name))

    def supported_cpuid(self):
        """KVM_GET_SUPPORTED_CPUID as a list of entry tuples (see cpuid_entries).

        Asked once per Kvm: the answer is fixed while KVM is loaded (its CPU
        caps are set up at module init, kvm_set_cpu_caps()), and producing it
        costs the kernel a walk of every leaf, twice when the first buffer is
        too small -- more than the rest of a VM's creation.
        """
        if self._supported_cpuid is None:
            self._supported_cpuid = self._get_supported_cpuid()
        return list(self._supported_cpuid)

    def _get_supported_cpuid(self):
        nent = 64
        while True:
            cpuid = ffi.new("struct kvm_cpuid2 *", {"nent": nent, "entries": nent})
            try:
                ioctl(self.system, self.fd, "KVM_GET_SUPPORTED_CPUID", abi.KVM_GET_SUPPORTED_CPUID, cpuid)
            except KvmError as e:
                if e.errno == _errno.E2BIG and nent < 4096:
                    nent *= 2
                    continue
                raise
            return cpuid_entries(cpuid)

    def create_vm(self, vm_type=abi.KVM_X86_DEFAULT_VM):
        fd = ioctl(self.system, self.fd, "KVM_CREATE_VM", abi.KVM_CREATE_VM, vm_type)
        return Vm(self, fd, vm_type)

    def close(self):
        if self.fd is not None:
            self.system.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _open_hint(path, err):
    if err == _errno.ENOENT:
        return "%s: no such device; load the kvm modules (modprobe kvm_intel) or run on a host with KVM" % path
    if err in (_errno.EACCES, _errno.EPERM):
        return "%s: permission denied; run as root or add this user to the group owning %s" % (path, path)
    if err == _errno.ENODEV:
        return "%s: KVM is not available (no hardware virtualization, or disabled in firmware)" % path
    return "%s: cannot open: %s" % (path, os.strerror(err))


CPUID_FIELDS = ("function", "index", "flags", "eax", "ebx", "ecx", "edx")
# struct kvm_cpuid_entry2: the seven fields, then padding[3].  Packed and
# unpacked whole: field by field through cffi, a full CPUID table is
# ~1500 attribute accesses per KVM_SET_CPUID2 or KVM_TDX_GET_CPUID.
_CPUID_ENTRY = struct.Struct("<7I12x")


def cpuid_entries(cpuid):
    """struct kvm_cpuid2 -> list of (function, index, flags, eax, ebx, ecx, edx)."""
    raw = ffi.buffer(ffi.addressof(cpuid, "entries"), cpuid.nent * _CPUID_ENTRY.size)
    return list(_CPUID_ENTRY.iter_unpack(raw))


def new_cpuid2(entries):
    """list of entry tuples -> struct kvm_cpuid2 (cffi, owns its memory)."""
    cpuid = ffi.new("struct kvm_cpuid2 *", {"nent": len(entries), "entries": len(entries)})
    cpuid.nent = len(entries)
    try:
        raw = b"".join(_CPUID_ENTRY.pack(*entry) for entry in entries)
    except struct.error:
        # A value that does not fit (a negative test): cffi names the field.
        for i, entry in enumerate(entries):
            for field, value in zip(CPUID_FIELDS, entry):
                setattr(cpuid.entries[i], field, value)
        return cpuid
    ffi.buffer(ffi.addressof(cpuid, "entries"), len(raw))[:] = raw
    return cpuid


class Vm:
    """A VM fd and everything created from it; close() releases all of it."""

    def __init__(self, kvm, fd, vm_type):
        self.kvm = kvm
        self.system = kvm.system
        self.fd = fd
        self.vm_type = vm_type
        self.vcpus = []
        self._owned = []        # mappings and guest_memfd fds, released on close

    def _ioctl(self, name, request, arg=0):
        return ioctl(self.system, self.fd, name, request, arg)

    def check_extension(self, cap):
        return self._ioctl("KVM_CHECK_EXTENSION", abi.KVM_CHECK_EXTENSION, cap)

    def enable_cap(self, cap, *args, flags=0):
        ec = ffi.new("struct kvm_enable_cap *", {"cap": cap, "flags": flags, "args": list(args)})
        self._ioctl("KVM_ENABLE_CAP", abi.KVM_ENABLE_CAP, ec)

    def create_vcpu(self, vcpu_id, cls=None):
        """KVM_CREATE_VCPU; `cls` may be a Vcpu subclass (tdx.lib.exits.GuestVcpu)."""
        fd = self._ioctl("KVM_CREATE_VCPU", abi.KVM_CREATE_VCPU, vcpu_id)
        try:
            vcpu = (cls or Vcpu)(self, fd, vcpu_id)
        except BaseException:
            self.system.close(fd)
            raise
        self.vcpus.append(vcpu)
        return vcpu

    def alloc(self, size):
        """Host memory for guest RAM, released with the VM."""
        mapping = Mapping(self.system, size)
        self._owned.append(mapping)
        return mapping

    def set_user_memory_region(self, slot, flags, gpa, size, addr):
        region = ffi.new("struct kvm_userspace_memory_region *", {
            "slot": slot, "flags": flags, "guest_phys_addr": gpa,
            "memory_size": size, "userspace_addr": addr})
        ioctl_zero(self.system, self.fd, "KVM_SET_USER_MEMORY_REGION", abi.KVM_SET_USER_MEMORY_REGION, region)

    def set_user_memory_region2(self, slot, flags, gpa, size, addr, guest_memfd=0, guest_memfd_offset=0):
        region = ffi.new("struct kvm_userspace_memory_region2 *", {
            "slot": slot, "flags": flags, "guest_phys_addr": gpa, "memory_size": size,
            "userspace_addr": addr, "guest_memfd_offset": guest_memfd_offset,
            "guest_memfd": guest_memfd})
        ioctl_zero(self.system, self.fd, "KVM_SET_USER_MEMORY_REGION2", abi.KVM_SET_USER_MEMORY_REGION2, region)

    def create_guest_memfd(self, size, flags=0, owned=True):
        """KVM_CREATE_GUEST_MEMFD; the fd is closed with the VM unless `owned`
        is false (a guest_memfd outlives its VM fd: the caller closes it)."""
        gmem = ffi.new("struct kvm_create_guest_memfd *", {"size": size, "flags": flags})
        fd = self._ioctl("KVM_CREATE_GUEST_MEMFD", abi.KVM_CREATE_GUEST_MEMFD, gmem)
        if owned:
            self._owned.append(_Fd(self.system, fd))
        return fd

    def set_memory_attributes(self, gpa, size, attributes, flags=0):
        attrs = ffi.new("struct kvm_memory_attributes *", {
            "address": gpa, "size": size, "attributes": attributes, "flags": flags})
        ioctl_zero(self.system, self.fd, "KVM_SET_MEMORY_ATTRIBUTES", abi.KVM_SET_MEMORY_ATTRIBUTES, attrs)

    def set_msr_filter(self, ranges, default_deny=False, flags=None):
        """ranges: [(flags, base, bitmap bytes[, nmsrs])]; a set bit allows the
        access; nmsrs defaults to the bitmap's bits.  `flags` (raw
        kvm_msr_filter.flags) overrides default_deny, for negative tests."""
        mf = ffi.new("struct kvm_msr_filter *")
        if flags is None:
            flags = abi.KVM_MSR_FILTER_DEFAULT_DENY if default_deny else abi.KVM_MSR_FILTER_DEFAULT_ALLOW
        mf.flags = flags
        keep = []
        for i, (range_flags, base, bitmap, *nmsrs) in enumerate(ranges):
            buf = ffi.new("__u8[]", bytes(bitmap) or b"\0")
            keep.append(buf)
            mf.ranges[i].flags = range_flags
            mf.ranges[i].base = base
            mf.ranges[i].nmsrs = nmsrs[0] if nmsrs else len(bitmap) * 8
            mf.ranges[i].bitmap = buf
        self._ioctl("KVM_X86_SET_MSR_FILTER", abi.KVM_X86_SET_MSR_FILTER, mf)

    def signal_msi(self, address_lo, address_hi, data, flags=0, devid=0):
        """KVM_SIGNAL_MSI: an MSI message into the VM's irqchip; returns how
        many vCPUs accepted it (tdx.lib.apic composes address and data)."""
        msi = ffi.new("struct kvm_msi *", {"address_lo": address_lo, "address_hi": address_hi,
                                            "data": data, "flags": flags, "devid": devid})
        return self._ioctl("KVM_SIGNAL_MSI", abi.KVM_SIGNAL_MSI, msi)

    def create_irqchip(self):
        self._ioctl("KVM_CREATE_IRQCHIP", abi.KVM_CREATE_IRQCHIP)

    def get_tsc_khz(self):
        """The VM's default TSC frequency for new vCPUs (KVM_CAP_VM_TSC_CONTROL)."""
        return self._ioctl("KVM_GET_TSC_KHZ", abi.KVM_GET_TSC_KHZ)

    def set_tsc_khz(self, khz):
        ioctl_zero(self.system, self.fd, "KVM_SET_TSC_KHZ", abi.KVM_SET_TSC_KHZ, khz)

    def memory_encrypt_op(self, cmd):
        """KVM_MEMORY_ENCRYPT_OP with a struct kvm_tdx_cmd (written back by KVM)."""
        return self._ioctl("KVM_MEMORY_ENCRYPT_OP", abi.KVM_MEMORY_ENCRYPT_OP, cmd)

    def close(self):
        for vcpu in reversed(self.vcpus):
            vcpu.close()
        self.vcpus = []
        if self.fd is not None:
            self.system.close(self.fd)
            self.fd = None
        for owned in reversed(self._owned):
            owned.close()
        self._owned = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Fd:
    def __init__(self, sys_, fd):
        self.system = sys_
        self.fd = fd

    def close(self):
        if self.fd is not None:
            self.system.close(self.fd)
            self.fd = None


class Vcpu:
    def __init__(self, vm, fd, vcpu_id):
        self.vm = vm
        self.system = vm.system
        self.fd = fd
        self.id = vcpu_id
        size = vm.kvm.vcpu_mmap_size
        self._run_map = Mapping(self.system, size, fd=fd)
        self.kvm_run = ffi.cast("struct kvm_run *", self._run_map.addr)
        self._watch = watchdog.WATCHDOG.watch(self.kvm_run)

    def _ioctl(self, name, request, arg=0):
        return ioctl(self.system, self.fd, name, request, arg)

    def run(self, timeout=None):
        """KVM_RUN under the watchdog; returns kvm_run.exit_reason.

        Raises VcpuTimeout when the guest does not exit within `timeout`
        seconds (default: watchdog.default_timeout()), KvmError when KVM_RUN
        fails (EFAULT with KVM_EXIT_MEMORY_FAULT is such a failure).
        """
        watch = self._watch
        # Arming is two attribute writes (lib/watchdog.py): this is the
        # library's hottest path, a few microseconds of KVM per call.
        watch.ident = _get_ident()
        deadline = watch.deadline = _monotonic() + (timeout or watchdog.default_timeout())
        try:
            while True:
                try:
                    ret = self.system.ioctl(self.fd, _KVM_RUN, 0)
                    if ret:
                        raise KvmBadReturn("KVM_RUN returned %r, not 0" % ret)
                    break
                except OSError as e:
                    if e.errno != _errno.EINTR:
                        raise KvmError("KVM_RUN", e.errno) from None
                    # Set by the watchdog's kick (for this run, or a late one
                    # for the previous run); KVM leaves it to userspace.
                    self.kvm_run.immediate_exit = 0
                    if watch.expired == deadline:
                        raise VcpuTimeout("vCPU %d: KVM_RUN did not return within %.1f s"
                                          % (self.id, timeout or watchdog.default_timeout())) from None
                    # Some other signal: the guest did not exit, run it again.
        finally:
            watch.deadline = None
        return self.kvm_run.exit_reason

    def get_regs(self):
        regs = ffi.new("struct kvm_regs *")
        self._ioctl("KVM_GET_REGS", abi.KVM_GET_REGS, regs)
        return regs

    def set_regs(self, regs):
        self._ioctl("KVM_SET_REGS", abi.KVM_SET_REGS, regs)

    def get_sregs(self):
        sregs = ffi.new("struct kvm_sregs *")
        self._ioctl("KVM_GET_SREGS", abi.KVM_GET_SREGS, sregs)
        return sregs

    def set_sregs(self, sregs):
        self._ioctl("KVM_SET_SREGS", abi.KVM_SET_SREGS, sregs)

    def set_cpuid2(self, entries):
        self._ioctl("KVM_SET_CPUID2", abi.KVM_SET_CPUID2, new_cpuid2(entries))

    def get_cpuid2(self, nent=256):
        cpuid = ffi.new("struct kvm_cpuid2 *", {"nent": nent, "entries": nent})
        self._ioctl("KVM_GET_CPUID2", abi.KVM_GET_CPUID2, cpuid)
        return cpuid_entries(cpuid)

    def get_msrs(self, indices):
        """{index: value} for the MSRs KVM_GET_MSRS could read (it stops at the first failure)."""
        msrs = ffi.new("struct kvm_msrs *", {"nmsrs": len(indices), "entries": len(indices)})
        msrs.nmsrs = len(indices)
        for i, index in enumerate(indices):
            msrs.entries[i].index = index
        done = self._ioctl("KVM_GET_MSRS", abi.KVM_GET_MSRS, msrs)
        return {msrs.entries[i].index: msrs.entries[i].data for i in range(done)}

    def set_msrs(self, values):
        """values: {index: data}; returns how many KVM_SET_MSRS wrote."""
        items = list(values.items())
        msrs = ffi.new("struct kvm_msrs *", {"nmsrs": len(items), "entries": len(items)})
        msrs.nmsrs = len(items)
        for i, (index, data) in enumerate(items):
            msrs.entries[i].index = index
            msrs.entries[i].data = data
        return self._ioctl("KVM_SET_MSRS", abi.KVM_SET_MSRS, msrs)

    def get_vcpu_events(self):
        events = ffi.new("struct kvm_vcpu_events *")
        self._ioctl("KVM_GET_VCPU_EVENTS", abi.KVM_GET_VCPU_EVENTS, events)
        return events

    def set_vcpu_events(self, events):
        self._ioctl("KVM_SET_VCPU_EVENTS", abi.KVM_SET_VCPU_EVENTS, events)

    def nmi(self):
        """KVM_NMI: queue an NMI for this vCPU."""
        self._ioctl("KVM_NMI", abi.KVM_NMI)

    def interrupt(self, irq):
        """KVM_INTERRUPT: an external interrupt from a userspace PIC (ExtINT)."""
        arg = ffi.new("struct kvm_interrupt *", {"irq": irq})
        self._ioctl("KVM_INTERRUPT", abi.KVM_INTERRUPT, arg)

    def get_mp_state(self):
        mp = ffi.new("struct kvm_mp_state *")
        self._ioctl("KVM_GET_MP_STATE", abi.KVM_GET_MP_STATE, mp)
        return mp.mp_state

    def set_mp_state(self, state):
        mp = ffi.new("struct kvm_mp_state *", {"mp_state": state})
        self._ioctl("KVM_SET_MP_STATE", abi.KVM_SET_MP_STATE, mp)

    def memory_encrypt_op(self, cmd):
        return self._ioctl("KVM_MEMORY_ENCRYPT_OP", abi.KVM_MEMORY_ENCRYPT_OP, cmd)

    def set_tsc_khz(self, khz):
        ioctl_zero(self.system, self.fd, "KVM_SET_TSC_KHZ", abi.KVM_SET_TSC_KHZ, khz)

    def set_guest_debug(self, control, debugreg=()):
        dbg = ffi.new("struct kvm_guest_debug *", {"control": control})
        for i, value in enumerate(debugreg):
            dbg.arch.debugreg[i] = value
        self._ioctl("KVM_SET_GUEST_DEBUG", abi.KVM_SET_GUEST_DEBUG, dbg)

    def get_lapic(self):
        """KVM_GET_LAPIC: the in-kernel local APIC's register page (1 KiB)."""
        state = ffi.new("struct kvm_lapic_state *")
        self._ioctl("KVM_GET_LAPIC", abi.KVM_GET_LAPIC, state)
        return bytes(ffi.buffer(state.regs))

    def set_lapic(self, regs):
        state = ffi.new("struct kvm_lapic_state *")
        ffi.buffer(state.regs)[:len(regs)] = regs
        self._ioctl("KVM_SET_LAPIC", abi.KVM_SET_LAPIC, state)

    # Exit payload helpers: the data of an IO exit lives outside the union.

    def io_data(self):
        io = self.kvm_run.io
        size = io.size * io.count
        return bytes(_system.buffer(self._run_map.addr + io.data_offset, size))

    def set_io_data(self, data):
        io = self.kvm_run.io
        _system.buffer(self._run_map.addr + io.data_offset, len(data))[:] = data

    def close(self):
        if self.fd is not None:
            watchdog.WATCHDOG.unwatch(self._watch)
            self._run_map.close()
            self.system.close(self.fd)
            self.fd = None
