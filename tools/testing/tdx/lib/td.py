# SPDX-License-Identifier: GPL-2.0-only
"""VM shapes: a guest image in a plain VM or in a TD, through one Vm API.

A TD is a Vm of type KVM_X86_TDX_VM set up by the upstream sequence of
docs/kvm-tdx-uapi.md §2.8 (the C series was NAKed for a parallel TD API,
docs/c-selftests.md §6.2).  `TdBuilder` exposes the steps so that tests can build
a TD in small steps and stop anywhere (negative tests), `create_guest()` runs
them all.  A plain VM (shape "default") boots the same guest image through
the same reset vector with the TD's initial vCPU state set by the host.

Memory shapes (`memory=`):
- "boot":    only the pages of the boot image, private; no shared memory
             (the guest reports through port I/O only);
- "private": the image plus `mem_size` of private memory the guest must
             accept before use; no shared memory;
- "shared":  the image, private memory and a shared area (ucall page first)
             mapped with the shared bit.
"""

import errno
import threading

from tdx.lib import abi, boot, tdx_cmd
from tdx.lib.abi import ffi
from tdx.lib.exits import GuestVcpu
from tdx.lib.guest import GuestImage, find_image
from tdx.lib.kvm import KvmError, KvmUnavailable
from tdx.lib.system import buffer

PAGE_SIZE = 4096
SHAPES = ("tdx", "default")
MEMORY_SHAPES = ("boot", "private", "shared")

DEFAULT_MEM_SIZE = 4 << 20          # slot 0: GPA 0 .. 4 MiB
DEFAULT_SHARED_SIZE = 1 << 20       # at boot.SHARED_GPA (ucall page first)
IOAPIC_PINS = 24                    # KVM_CAP_SPLIT_IRQCHIP args[0], as QEMU uses
GPAW = 48                           # 4-level EPT: shared bit 47 (§2.3)

LOW_SLOT = 0
RESETVEC_SLOT = 1

CPUID_X2APIC = 1 << 21              # CPUID.1:ECX
CPUID_HLE, CPUID_RTM = 1 << 4, 1 << 11      # CPUID.7.0:EBX
CPUID_WAITPKG = 1 << 5              # CPUID.7.0:ECX
SIGNIFICANT = abi.KVM_CPUID_FLAG_SIGNIFCANT_INDEX


def tdx_supported(kvm):
    return bool(kvm.check_extension(abi.KVM_CAP_VM_TYPES) & (1 << abi.KVM_X86_TDX_VM))


def capabilities(kvm):
    """KVM_TDX_CAPABILITIES of this host, from a scratch TD (None without TDX)."""
    if not tdx_supported(kvm):
        return None
    vm = kvm.create_vm(abi.KVM_X86_TDX_VM)
    try:
        return tdx_cmd.capabilities(vm)
    finally:
        vm.close()


_FILTERED = {}          # filter_cpuid() answers: every TD of a process asks the same question


def filter_cpuid(supported, configurable, gpaw=GPAW):
    """The CPUID for KVM_TDX_INIT_VM (§2.3 rule 6 and 7).

    Only leaves the TDX module lets us configure, each masked by what it lets
    us set; 0x80000008 EAX[23:16] carries the GPAW; HLE, RTM and WAITPKG are
    refused by KVM and dropped.
    """
    try:
        key = (tuple(supported), tuple(configurable), gpaw)
        hash(key)
    except TypeError:           # entries given as lists: not kept
        return _filter_cpuid(supported, configurable, gpaw)
    if key not in _FILTERED:
        if len(_FILTERED) >= 16:
            _FILTERED.clear()
        _FILTERED[key] = tuple(_filter_cpuid(supported, configurable, gpaw))
    return list(_FILTERED[key])


def _filter_cpuid(supported, configurable, gpaw):
    have = {(f, i): (eax, ebx, ecx, edx) for f, i, _, eax, ebx, ecx, edx in supported}
    indexed = {f for f, i, *_ in configurable if i} | {f for f, _, fl, *_ in supported if fl & SIGNIFICANT}
    out = []
    for f, i, flags, meax, mebx, mecx, medx in configurable:
        eax, ebx, ecx, edx = have.get((f, i), (0, 0, 0, 0))
        # KVM_TDX_CAPABILITIES leaves flags 0 (§2.2), but KVM matches each
        # configurable (function, index) against our entries and ignores the
        # index of an entry without SIGNIFCANT_INDEX: 7.1 would get 7.0's values.
        if f in indexed:
            flags |= SIGNIFICANT
        eax, ebx, ecx, edx = eax & meax, ebx & mebx, ecx & mecx, edx & medx
        if (f, i) == (7, 0):
            ebx &= ~(CPUID_HLE | CPUID_RTM)
            ecx &= ~CPUID_WAITPKG
        if f == 0x80000008:
            eax = (eax & ~0xFF0000) | (gpaw << 16)
        out.append((f, i, flags, eax, ebx, ecx, edx))
    if not any(f == 0x80000008 for f, *_ in out):
        out.append((0x80000008, 0, 0, gpaw << 16, 0, 0, 0))
    return out


def vcpu_cpuid(td_cpuid, gpaw=GPAW):
    """KVM_SET_CPUID2 for a TD vCPU: what KVM_TDX_GET_CPUID said, plus x2APIC.

    INIT_VCPU sets the x2APIC enable bit in APIC_BASE, which KVM refuses
    unless the vCPU's CPUID advertises x2APIC (§2.4); MAXPHYADDR carries the
    GPAW so that KVM sees the shared bit as an address bit.
    """
    out = []
    for f, i, flags, eax, ebx, ecx, edx in td_cpuid:
        if f == 1:
            ecx |= CPUID_X2APIC
        if f == 0x80000008:
            eax = (eax & ~0xFF) | gpaw
        out.append((f, i, flags, eax, ebx, ecx, edx))
    return out


class _SourceBuffer:
    """Page-aligned host memory for the source pages of KVM_TDX_INIT_MEM_REGION
    (source_addr must be page aligned, §2.5), kept for the process and grown
    as needed: a mapping per range cost an mmap, a page fault per page and an
    munmap for every range of every TD built.  KVM copies the pages out
    during the ioctl, so one buffer serves every TD; `lock` while filling and
    using it."""

    def __init__(self):
        self.lock = threading.Lock()
        self._memory = None
        self.addr = 0
        self.size = 0

    def fill(self, data):
        """Copy `data` in; its host address."""
        if len(data) > self.size:
            size = _round_up(len(data), PAGE_SIZE)
            self._memory = ffi.new("char[]", size + PAGE_SIZE)
            self.addr = _round_up(int(ffi.cast("uintptr_t", self._memory)), PAGE_SIZE)
            self.size = size
        buffer(self.addr, len(data))[:] = data
        return self.addr


_SOURCE = _SourceBuffer()


class GuestVm:
    """A VM (plain or TD) with a guest image, its vCPUs and host views of shared memory."""

    def __init__(self, kvm, vm, shape, image, layout):
        self.kvm = kvm
        self.vm = vm
        self.shape = shape
        self.image = image
        self.layout = layout            # boot.BootImage
        self.vcpus = []
        self.shared = None              # Mapping: the host's view of slot 0 (shared pages only, for a TD)
        self.shared_bit = 0
        self.gmem = None                # TD: the guest_memfd fd behind slot 0 (offset = GPA) and the reset vector

    # Host access to the guest's shared memory (for a TD: the userspace memory
    # of slot 0; a private page's content is never there).

    def read(self, gpa, length):
        return self.shared.read(gpa, length)

    def write(self, gpa, data):
        self.shared.write(gpa, data)

    def ucall_slot(self, vcpu_index):
        return self.layout.ucall_slot_gpa(vcpu_index)

    def close(self):
        self.vm.close()


class TdBuilder:
    """The TD setup sequence as separate steps (docs/kvm-tdx-uapi.md §2.8)."""

    def __init__(self, kvm, image, entries, nr_vcpus=1, args=0, attributes=0, xfam=None,
                 memory="shared", mem_size=DEFAULT_MEM_SIZE, shared_size=DEFAULT_SHARED_SIZE, rcx=0,
                 exit_hypercall=True):
        if memory not in MEMORY_SHAPES:
            raise ValueError("memory shape %r: expected one of %s" % (memory, ", ".join(MEMORY_SHAPES)))
        self.kvm = kvm
        self.image = image
        self.entries = entries if isinstance(entries, (list, tuple)) else [entries] * nr_vcpus
        self.nr_vcpus = nr_vcpus
        self.args = args
        self.attributes = attributes
        self.xfam = xfam
        self.memory = memory
        self.mem_size = mem_size
        self.shared_size = shared_size if memory == "shared" else 0
        self.rcx = rcx
        # False: leave KVM_CAP_EXIT_HYPERCALL off, so MapGPA is SUBFUNC_UNSUPPORTED (§4.7).
        self.exit_hypercall = exit_hypercall
        self.vm = None
        self.gvm = None
        self.caps = None

    def create_vm(self):
        """KVM_CREATE_VM(KVM_X86_TDX_VM), split irqchip, MapGPA exits."""
        if not tdx_supported(self.kvm):
            raise KvmUnavailable("KVM_CAP_VM_TYPES: this KVM cannot create TDs (no KVM_X86_TDX_VM)")
        self.vm = self.kvm.create_vm(abi.KVM_X86_TDX_VM)
        self.gvm = GuestVm(self.kvm, self.vm, "tdx", self.image, None)
        self.gvm.shared_bit = 1 << (GPAW - 1)
        # KVM_CREATE_VCPU on a TD without a split irqchip fails (§2.8 step 3).
        self.vm.enable_cap(abi.KVM_CAP_SPLIT_IRQCHIP, IOAPIC_PINS)
        hc = self.vm.check_extension(abi.KVM_CAP_EXIT_HYPERCALL) if self.exit_hypercall else 0
        if hc & (1 << abi.KVM_HC_MAP_GPA_RANGE):
            self.vm.enable_cap(abi.KVM_CAP_EXIT_HYPERCALL, 1 << abi.KVM_HC_MAP_GPA_RANGE)
        return self.vm

    def init_vm(self):
        """KVM_TDX_CAPABILITIES, then KVM_TDX_INIT_VM with the filtered CPUID."""
        self.caps = tdx_cmd.capabilities(self.vm)
        unsupported = self.attributes & ~self.caps.supported_attrs
        if unsupported:
            raise KvmError("KVM_TDX_INIT_VM", errno.EINVAL,
                           "attributes 0x%x not in supported_attrs 0x%x" % (unsupported, self.caps.supported_attrs))
        cpuid = filter_cpuid(self.kvm.supported_cpuid(), tdx_cmd.caps_cpuid(self.caps))
        xfam = self.xfam if self.xfam is not None else self._default_xfam()
        tdx_cmd.init_vm(self.vm, tdx_cmd.new_init_vm(self.attributes, xfam, cpuid))

    def _default_xfam(self):
        # x87|SSE is the architectural minimum; add AVX state when offered (XCR0 bit 2).
        return self.caps.supported_xfam & 0x7

    def add_vcpus(self):
        """Per vCPU: KVM_CREATE_VCPU, KVM_TDX_GET_CPUID -> KVM_SET_CPUID2, KVM_TDX_INIT_VCPU."""
        for i in range(self.nr_vcpus):
            vcpu = self.vm.create_vcpu(i, cls=GuestVcpu)
            vcpu.guest = self.gvm
            vcpu.index = i
            vcpu.set_cpuid2(vcpu_cpuid(tdx_cmd.get_cpuid(vcpu)))
            tdx_cmd.init_vcpu(vcpu, self.rcx)
            self.gvm.vcpus.append(vcpu)

    def add_memory(self):
        """guest_memfd memslots, PRIVATE attributes, KVM_TDX_INIT_MEM_REGION of the image."""
        shared_bit = self.gvm.shared_bit
        layout = boot.build_image(self.image, nr_vcpus=self.nr_vcpus, entries=self.entries, args=self.args,
                                  flavour=boot.FLAVOUR_TD, shared_bit=shared_bit,
                                  shared_size=self.shared_size, mem_size=self._layout_size())
        self.gvm.layout = layout
        low_size = self._low_size(layout)
        vm = self.vm
        gmem = vm.create_guest_memfd(low_size + PAGE_SIZE)
        self.gvm.gmem = gmem
        self.gvm.shared = vm.alloc(low_size)
        vm.set_user_memory_region2(LOW_SLOT, abi.KVM_MEM_GUEST_MEMFD, 0, low_size, self.gvm.shared.addr,
                                   gmem, 0)
        resetvec = vm.alloc(PAGE_SIZE)
        vm.set_user_memory_region2(RESETVEC_SLOT, abi.KVM_MEM_GUEST_MEMFD, boot.RESETVEC_GPA, PAGE_SIZE,
                                   resetvec.addr, gmem, low_size)
        # Everything but the shared area is private; KVM only lets private
        # pages be added (§2.5).
        for gpa, size in self._private_ranges(layout, low_size):
            vm.set_memory_attributes(gpa, size, abi.KVM_MEMORY_ATTRIBUTE_PRIVATE)
        first = self.gvm.vcpus[0]
        with _SOURCE.lock:
            for gpa, data in layout.ranges():
                tdx_cmd.init_mem_region(first, gpa, _SOURCE.fill(data), len(data) // PAGE_SIZE, measure=True)

    def _layout_size(self):
        if self.memory == "shared":
            return max(self.mem_size, boot.SHARED_GPA + self.shared_size)
        return self.mem_size

    def _low_size(self, layout):
        if self.memory == "boot":
            top = max(gpa for gpa, _ in layout.pages if gpa < boot.RESETVEC_GPA) + PAGE_SIZE
            return _round_up(top, PAGE_SIZE)
        if self.memory == "shared":
            return max(self.mem_size, layout.shared_gpa + self.shared_size)
        return self.mem_size

    def _private_ranges(self, layout, low_size):
        ranges = [(boot.RESETVEC_GPA, PAGE_SIZE)]
        if self.memory == "shared":
            end = layout.shared_gpa + self.shared_size
            ranges.append((0, layout.shared_gpa))
            if end < low_size:
                ranges.append((end, low_size - end))
        else:
            ranges.append((0, low_size))
        return ranges

    def finalize(self):
        tdx_cmd.finalize_vm(self.vm)

    def build(self):
        """All steps; returns the GuestVm (closed again if a step fails)."""
        try:
            self.create_vm()
            self.init_vm()
            self.add_vcpus()
            self.add_memory()
            self.finalize()
        except BaseException:
            if self.vm is not None:
                self.vm.close()
            raise
        return self.gvm


class PlainBuilder:
    """The same guest image in a default VM: the host plays the TDX module's boot role."""

    def __init__(self, kvm, image, entries, nr_vcpus=1, args=0, mem_size=DEFAULT_MEM_SIZE,
                 shared_size=DEFAULT_SHARED_SIZE, rcx=0):
        self.kvm = kvm
        self.image = image
        self.entries = entries if isinstance(entries, (list, tuple)) else [entries] * nr_vcpus
        self.nr_vcpus = nr_vcpus
        self.args = args
        self.mem_size = mem_size
        self.shared_size = shared_size
        self.rcx = rcx

    def build(self):
        vm = self.kvm.create_vm(abi.KVM_X86_DEFAULT_VM)
        try:
            return self._build(vm)
        except BaseException:
            vm.close()
            raise

    def _build(self, vm):
        gvm = GuestVm(self.kvm, vm, "default", self.image, None)
        layout = boot.build_image(self.image, nr_vcpus=self.nr_vcpus, entries=self.entries, args=self.args,
                                  flavour=boot.FLAVOUR_VM, shared_bit=0, shared_size=self.shared_size,
                                  mem_size=max(self.mem_size, boot.SHARED_GPA + self.shared_size))
        gvm.layout = layout
        low_size = max(self.mem_size, layout.shared_gpa + self.shared_size)
        gvm.shared = vm.alloc(low_size)
        vm.set_user_memory_region(LOW_SLOT, 0, 0, low_size, gvm.shared.addr)
        resetvec = vm.alloc(PAGE_SIZE)
        vm.set_user_memory_region(RESETVEC_SLOT, 0, boot.RESETVEC_GPA, PAGE_SIZE, resetvec.addr)
        for gpa, data in layout.pages:
            if gpa >= boot.RESETVEC_GPA:
                resetvec.write(gpa - boot.RESETVEC_GPA, data)
            else:
                gvm.shared.write(gpa, data)
        cpuid = self.kvm.supported_cpuid()
        for i in range(self.nr_vcpus):
            vcpu = vm.create_vcpu(i, cls=GuestVcpu)
            vcpu.guest = gvm
            vcpu.index = i
            vcpu.set_cpuid2(cpuid)
            sregs = vcpu.get_sregs()
            regs = vcpu.get_regs()
            boot.initial_vcpu_state(sregs, regs, i, self.rcx)
            vcpu.set_sregs(sregs)
            vcpu.set_regs(regs)
            gvm.vcpus.append(vcpu)
        return gvm


def create_guest(kvm, image, entries, shape="tdx", **options):
    """A ready-to-run guest: `image` is a GuestImage or an x86_64 image name."""
    if shape not in SHAPES:
        raise ValueError("shape %r: expected one of %s" % (shape, ", ".join(SHAPES)))
    if isinstance(image, str):
        image = GuestImage.load(find_image(image))
    builder = TdBuilder if shape == "tdx" else PlainBuilder
    return builder(kvm, image, entries, **options).build()


def _round_up(value, align):
    return (value + align - 1) & ~(align - 1)
