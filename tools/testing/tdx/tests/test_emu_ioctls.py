# SPDX-License-Identifier: GPL-2.0-only
"""emu/ioctls.py against docs/kvm-tdx-uapi.md §2: every errno rule of the KVM_TDX_*
commands and the TD rules of ordinary ioctls, in KVM's order."""

import errno
import struct
import unittest

from tdx.lib import abi, ghci
from tdx.lib.abi import ffi
from tdx.emu import ioctls, msrs
from tdx.emu.kernel import Kernel
from tdx.emu.concurrency import TDX_OPERAND_BUSY
from tdx.emu import state as st
from tdx.emu.state import MsrFilter
from tdx.tests.emu_helpers import SIG, FakeMemory, Host, cmd, cpuid_bytes, default_cpuid

_HOST = Host()


def _read_user(addr, size):
    return ioctls._read(_HOST, addr, size)

PAGE = 4096


def init_vm_bytes(attributes=ghci.TDX_ATTR_SEPT_VE_DISABLE, xfam=0x3, entries=None, nent=None,
                  padding=0, reserved=b"", mrconfigid=b""):
    if entries is None:
        entries = [(0x80000008, 0, 0, 48 << 16 | 0x3034, 0, 0, 0)]
    head = struct.pack("<QQ", attributes, xfam)
    head += mrconfigid.ljust(48, b"\0") + bytes(96)
    head += reserved.ljust(96, b"\0")
    head += struct.pack("<II", len(entries) if nent is None else nent, padding)
    return head + cpuid_bytes(entries)


class Base(unittest.TestCase):

    def setUp(self):
        self.host = Host()
        self.vm = st.TdVm(max_vcpus=4, memory=FakeMemory())
        self.vm.split_irqchip = True

    def assertErrno(self, err, fn, *args, **kw):
        with self.assertRaises(OSError) as ctx:
            fn(*args, **kw)
        self.assertEqual(ctx.exception.errno, err, "%s, expected %s" % (
            errno.errorcode.get(ctx.exception.errno), errno.errorcode[err]))

    # -- operations --

    def vm_cmd(self, cmd_id, data=0, flags=0, hw_error=0):
        c = cmd(cmd_id, data, flags, hw_error)
        return ioctls.tdx_vm_ioctl(self.vm, c, self.host), c

    def vcpu_cmd(self, vcpu, cmd_id, data=0, flags=0, hw_error=0):
        c = cmd(cmd_id, data, flags, hw_error)
        return ioctls.tdx_vcpu_ioctl(self.vm, vcpu, c, self.host), c

    def init_vm(self, **kw):
        return self.vm_cmd(abi.KVM_TDX_INIT_VM, self.host.alloc(init_vm_bytes(**kw)))

    def create_vcpu(self, vcpu_id=0, cpuid=None):
        vcpu = ioctls.td_create_vcpu(self.vm, vcpu_id)
        c2 = ffi.new("struct kvm_cpuid2 *", {"nent": 0, "entries": 16})
        table = default_cpuid() if cpuid is None else cpuid
        c2.nent = len(table)
        for i, e in enumerate(table):
            for f, v in zip(("function", "index", "flags", "eax", "ebx", "ecx", "edx"), e):
                setattr(c2.entries[i], f, v)
        ioctls.td_vcpu_other_ioctl(self.vm, vcpu, abi.KVM_SET_CPUID2, c2)
        return vcpu

    def init_vcpu(self, vcpu, data=0, flags=0):
        return self.vcpu_cmd(vcpu, abi.KVM_TDX_INIT_VCPU, data, flags)

    def ready(self, nvcpus=1):
        self.init_vm()
        vcpus = [self.create_vcpu(i) for i in range(nvcpus)]
        for v in vcpus:
            self.init_vcpu(v)
        return vcpus


class Cmd(Base):
    """§2.1"""

    def test_hw_error_must_be_zero_on_vm_fd(self):
        self.assertErrno(errno.EINVAL, self.vm_cmd, abi.KVM_TDX_CAPABILITIES, self.host.alloc(4096), 0, 1)

    def test_hw_error_must_be_zero_on_vcpu_fd(self):
        vcpu, = self.ready()
        self.assertErrno(errno.EINVAL, self.vcpu_cmd, vcpu, abi.KVM_TDX_GET_CPUID, self.host.alloc(8), 0, 1)

    def test_unknown_id_on_vm_fd(self):
        for cmd_id in (abi.KVM_TDX_INIT_VCPU, abi.KVM_TDX_GET_CPUID, 6, 0xFFFF):
            with self.subTest(cmd_id=cmd_id):
                self.assertErrno(errno.EINVAL, self.vm_cmd, cmd_id)

    def test_unknown_id_on_vcpu_fd(self):
        vcpu, = self.ready()
        for cmd_id in (abi.KVM_TDX_CAPABILITIES, abi.KVM_TDX_INIT_VM, abi.KVM_TDX_FINALIZE_VM, 6):
            with self.subTest(cmd_id=cmd_id):
                self.assertErrno(errno.EINVAL, self.vcpu_cmd, vcpu, cmd_id)

    def test_non_td_errnos(self):
        self.assertEqual((ioctls.NON_TD_VM_ERRNO, ioctls.NON_TD_VCPU_ERRNO), (errno.ENOTTY, errno.EINVAL))


class Capabilities(Base):
    """§2.2"""

    def caps(self, nent, flags=0):
        addr = self.host.alloc(2056 + 40 * 8)
        Host.write(addr + 2048, struct.pack("<I", nent))
        ret, c = self.vm_cmd(abi.KVM_TDX_CAPABILITIES, addr, flags)
        return Host.read(addr, 2056 + 40 * 8)

    def test_flags(self):
        self.assertErrno(errno.EINVAL, self.caps, 8, 1)

    def test_e2big_does_not_write_nent(self):
        addr = self.host.alloc(2056 + 40 * 8)
        Host.write(addr + 2048, struct.pack("<I", 3))
        self.assertErrno(errno.E2BIG, self.vm_cmd, abi.KVM_TDX_CAPABILITIES, addr)
        self.assertEqual(struct.unpack("<I", Host.read(addr + 2048, 4))[0], 3)
        self.assertEqual(Host.read(addr, 48), bytes(48))

    def test_null_pointer(self):
        self.assertErrno(errno.EFAULT, self.vm_cmd, abi.KVM_TDX_CAPABILITIES, 0)

    def test_content(self):
        raw = self.caps(8)
        attrs, xfam, k11, u11, k12, u12 = struct.unpack_from("<6Q", raw)
        self.assertEqual((attrs, k11, u11, k12, u12),
                         (ghci.TDX_ATTR_SEPT_VE_DISABLE, 0, ghci.TDVMCALLINFO_SETUP_EVENT_NOTIFY_INTERRUPT, 0, 0))
        self.assertEqual(xfam, 0x602E7)
        self.assertEqual(raw[48:2048], bytes(2000))
        nent, pad = struct.unpack_from("<II", raw, 2048)
        self.assertEqual((nent, pad), (4, 0))
        entries = [struct.unpack_from("<7I", raw, 2056 + 40 * i) for i in range(nent)]
        by_leaf = {(e[0], e[1]): e for e in entries}
        self.assertEqual(set(by_leaf), {(1, 0), (7, 0), (7, 1), (0x80000008, 0)})
        self.assertTrue(all(e[2] == 0 for e in entries))           # flags left 0
        self.assertEqual(by_leaf[(0x80000008, 0)][3] & 0xFF0000, 0xFF0000)
        leaf7 = by_leaf[(7, 0)]
        self.assertEqual(leaf7[4] & (1 << 4 | 1 << 11), 0)         # HLE, RTM cleared
        self.assertEqual(leaf7[5] & 1 << 5, 0)                      # WAITPKG cleared

    def test_works_before_and_after_init_vm(self):
        self.caps(4)
        self.init_vm()
        self.caps(4)


class InitVm(Base):
    """§2.3, in code order"""

    def test_success(self):
        ret, c = self.init_vm(mrconfigid=b"cfg")
        self.assertEqual((ret, c.hw_error), (0, 0))
        self.assertEqual(self.vm.state, st.TD_STATE_INITIALIZED)
        self.assertEqual((self.vm.gpaw, self.vm.shared_bit), (48, 1 << 47))
        self.assertEqual(self.vm.attributes, ghci.TDX_ATTR_SEPT_VE_DISABLE)
        self.assertEqual(self.vm.xfam, 0x3)
        self.assertEqual(self.vm.mrconfigid, b"cfg".ljust(48, b"\0"))

    def test_xfam_fixed1_is_added(self):
        self.init_vm(xfam=0)
        self.assertEqual(self.vm.xfam, 0x3)

    def test_gpaw_52(self):
        self.init_vm(entries=[(0x80000008, 0, 0, 52 << 16, 0, 0, 0)])
        self.assertEqual((self.vm.gpaw, self.vm.shared_bit), (52, 1 << 51))

    def test_twice(self):
        self.init_vm()
        self.assertErrno(errno.EINVAL, self.init_vm)

    def test_flags(self):
        self.assertErrno(errno.EINVAL, self.vm_cmd, abi.KVM_TDX_INIT_VM, self.host.alloc(init_vm_bytes()), 1)

    def test_nent_above_max(self):
        self.assertErrno(errno.E2BIG, self.init_vm, nent=257)

    def test_null_pointer(self):
        self.assertErrno(errno.EFAULT, self.vm_cmd, abi.KVM_TDX_INIT_VM, 0)

    def test_reserved(self):
        self.assertErrno(errno.EINVAL, self.init_vm, reserved=b"\0" * 95 + b"\1")

    def test_padding(self):
        self.assertErrno(errno.EINVAL, self.init_vm, padding=1)

    def test_vcpu_already_created(self):
        self.vm.vcpus.append(st.TdVcpu(0))          # unreachable through KVM_CREATE_VCPU (EIO)
        self.assertErrno(errno.EBUSY, self.init_vm)

    def test_unsupported_attributes(self):
        for attr in (ghci.TDX_ATTR_DEBUG, ghci.TDX_ATTR_PERFMON, ghci.TDX_ATTR_SEPT_VE_DISABLE | 1 << 30):
            with self.subTest(attr=hex(attr)):
                self.assertErrno(errno.EINVAL, self.init_vm, attributes=attr)

    def test_unsupported_xfam(self):
        self.assertErrno(errno.EINVAL, self.init_vm, xfam=1 << 11)

    def test_missing_0x80000008(self):
        self.assertErrno(errno.EINVAL, self.init_vm, entries=[(7, 0, SIG, 0, 0, 0, 0)])

    def test_gpaw_not_48_or_52(self):
        for bits in (0, 36, 47, 51, 57):
            with self.subTest(bits=bits):
                self.assertErrno(errno.EINVAL, self.init_vm, entries=[(0x80000008, 0, 0, bits << 16, 0, 0, 0)])

    def test_gpaw_52_without_5level_ept(self):
        self.vm.sysinfo.ept_5level = False
        self.assertErrno(errno.EINVAL, self.init_vm, entries=[(0x80000008, 0, 0, 52 << 16, 0, 0, 0)])

    def test_entry_not_configurable(self):
        entries = [(0x80000008, 0, 0, 48 << 16, 0, 0, 0), (2, 0, 0, 1, 2, 3, 4)]
        self.assertErrno(errno.EINVAL, self.init_vm, entries=entries)

    def test_configurable_entries_accepted(self):
        entries = [(1, 0, 0, 0, 0, 1 << 22, 0), (7, 0, SIG, 0, 1 << 3, 0, 0), (7, 1, SIG, 1 << 4, 0, 0, 0),
                   (0x80000008, 0, 0, 48 << 16, 0, 0, 0)]
        self.init_vm(entries=entries)
        self.assertEqual(self.vm.cpuid_config[(0x80000008, 0)][0], 0)    # EAX[23:16] not given to the module
        self.assertEqual(self.vm.cpuid_config[(7, 1)][0], 1 << 4)

    def test_leaf7_without_significant_index_matches_both_subleaves(self):
        # cpuid_entry2_find(): one unflagged leaf-7 entry is found for 7.0 and 7.1 -> copy_cnt != nent
        entries = [(7, 0, 0, 0, 0, 0, 0), (0x80000008, 0, 0, 48 << 16, 0, 0, 0)]
        self.assertErrno(errno.EINVAL, self.init_vm, entries=entries)

    def test_hle_rtm_waitpkg(self):
        for what, entry in (("HLE", (7, 0, SIG, 0, 1 << 4, 0, 0)), ("RTM", (7, 0, SIG, 0, 1 << 11, 0, 0)),
                            ("WAITPKG", (7, 0, SIG, 0, 0, 1 << 5, 0))):
            with self.subTest(what):
                self.assertErrno(errno.EINVAL, self.init_vm,
                                 entries=[entry, (0x80000008, 0, 0, 48 << 16, 0, 0, 0)])
                self.assertEqual(self.vm.state, st.TD_STATE_UNINITIALIZED)

    def test_cmd_copied_back_on_failure(self):
        c = cmd(abi.KVM_TDX_INIT_VM, self.host.alloc(init_vm_bytes(attributes=1)))
        self.assertErrno(errno.EINVAL, ioctls.tdx_vm_ioctl, self.vm, c, self.host)
        self.assertEqual((c.id, c.hw_error), (abi.KVM_TDX_INIT_VM, 0))


class CreateVcpuAndRun(Base):
    """§2.8"""

    def test_before_init_vm_is_eio(self):
        self.assertErrno(errno.EIO, ioctls.td_create_vcpu, self.vm, 0)

    def test_without_split_irqchip_is_einval(self):
        self.init_vm()
        self.vm.split_irqchip = False
        self.assertErrno(errno.EINVAL, ioctls.td_create_vcpu, self.vm, 0)

    def test_after_finalize_is_eio(self):
        self.ready()
        self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        self.assertErrno(errno.EIO, ioctls.td_create_vcpu, self.vm, 1)

    def test_duplicate_id(self):
        self.init_vm()
        ioctls.td_create_vcpu(self.vm, 0)
        self.assertErrno(errno.EEXIST, ioctls.td_create_vcpu, self.vm, 0)

    def test_max_vcpus(self):
        self.init_vm()
        for i in range(4):
            ioctls.td_create_vcpu(self.vm, i)
        self.assertErrno(errno.EINVAL, ioctls.td_create_vcpu, self.vm, 4)

    def test_max_vcpus_capability(self):
        self.assertEqual(ioctls.td_check_extension(abi.KVM_CAP_MAX_VCPUS, 1024, self.vm), 4)

    def test_run_before_init_vcpu(self):
        """The BSP not initialised, the TD finalised (another vCPU was): EINVAL;
        with immediate_exit set, EINTR first (x86.c: before the pre-run check)."""
        self.init_vm()
        vcpu, other = self.create_vcpu(0), self.create_vcpu(1)
        self.init_vcpu(other)
        self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        self.assertErrno(errno.EINVAL, ioctls.td_check_run, self.vm, vcpu)
        self.assertErrno(errno.EINTR, ioctls.td_check_run, self.vm, vcpu, True)
        self.assertFalse(vcpu.has_run)

    def test_run_before_finalize(self):
        vcpu, = self.ready()
        self.assertErrno(errno.EINVAL, ioctls.td_check_run, self.vm, vcpu)
        self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        ioctls.td_check_run(self.vm, vcpu)
        self.assertTrue(vcpu.has_run)


class InitVcpu(Base):
    """§2.4"""

    def test_success(self):
        self.init_vm()
        v0, v1 = self.create_vcpu(0), self.create_vcpu(5)
        self.init_vcpu(v1, data=0x1234)
        self.init_vcpu(v0, data=0x5678)
        self.assertEqual((v1.index, v0.index, self.vm.num_vcpus), (0, 1, 2))     # TDH.VP.INIT order
        self.assertEqual((v1.init_rcx, v0.init_rcx), (0x1234, 0x5678))
        self.assertEqual(v0.msrs.values[msrs.MSR_IA32_APICBASE], 0xFEE00000 | 1 << 11 | 1 << 10 | 1 << 8)
        self.assertEqual(v1.msrs.values[msrs.MSR_IA32_APICBASE], 0xFEE00000 | 1 << 11 | 1 << 10)
        self.assertEqual(v1.mp_state, abi.KVM_MP_STATE_RUNNABLE)
        self.assertTrue(v0.initialized and v1.initialized)

    def test_before_init_vm(self):
        vcpu = st.TdVcpu(0)
        self.assertErrno(errno.EINVAL, self.init_vcpu, vcpu)

    def test_after_finalize(self):
        vcpu, = self.ready()
        self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        self.assertErrno(errno.EINVAL, self.init_vcpu, vcpu)

    def test_uninitialized_vcpu_after_finalize(self):
        """The TD state check of tdx_vcpu_unlocked_ioctl() comes first: a vCPU
        never initialized cannot be after KVM_TDX_FINALIZE_VM."""
        self.ready()
        late = self.create_vcpu(1)
        self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        self.assertErrno(errno.EINVAL, self.init_vcpu, late)
        self.assertFalse(late.initialized)

    def test_flags(self):
        self.init_vm()
        self.assertErrno(errno.EINVAL, self.init_vcpu, self.create_vcpu(), 0, 1)

    def test_twice(self):
        vcpu, = self.ready()
        self.assertErrno(errno.EINVAL, self.init_vcpu, vcpu)

    def test_without_x2apic_cpuid(self):
        self.init_vm()
        table = [e if e[0] != 1 else e[:5] + (e[5] & ~(1 << 21),) + e[6:] for e in default_cpuid()]
        vcpu = self.create_vcpu(0, cpuid=table)
        self.assertErrno(errno.EINVAL, self.init_vcpu, vcpu)
        self.assertFalse(vcpu.initialized)

    def test_without_any_cpuid(self):
        self.init_vm()
        vcpu = ioctls.td_create_vcpu(self.vm, 0)
        self.assertErrno(errno.EINVAL, self.init_vcpu, vcpu)


class RegionOps:
    """KVM_TDX_INIT_MEM_REGION from a test (with Base): the region written
    back is in self.last."""

    def region(self, source, gpa, nr_pages):
        return self.host.alloc(struct.pack("<3Q", source, gpa, nr_pages))

    def add(self, vcpu, source, gpa, nr_pages, flags=abi.KVM_TDX_MEASURE_MEMORY_REGION):
        addr = self.region(source, gpa, nr_pages)
        try:
            self.vcpu_cmd(vcpu, abi.KVM_TDX_INIT_MEM_REGION, addr, flags)
        finally:
            self.last = struct.unpack("<3Q", Host.read(addr, 24))

    def source(self, pages):
        data = b"".join(bytes([i + 1]) * PAGE for i in range(pages))
        addr = self.host.alloc(len(data) + PAGE)
        return (addr + PAGE - 1) & ~(PAGE - 1), data


class InitMemRegion(RegionOps, Base):
    """§2.5"""

    def test_success_measured(self):
        vcpu, = self.ready()
        src, data = self.source(2)
        Host.write(src, data)
        self.add(vcpu, src, 0x100000, 2)
        self.assertEqual(self.last, (src + 2 * PAGE, 0x102000, 0))
        self.assertEqual(self.vm.memory.populated, [(0x100000, data[:PAGE]), (0x101000, data[PAGE:])])
        from tdx.emu.measurement import Measurement
        m = Measurement()
        m.add_page(0x100000, data[:PAGE], True)
        m.add_page(0x101000, data[PAGE:], True)
        self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        self.assertEqual(self.vm.measurement.mrtd, m.finalize())

    def test_unmeasured(self):
        vcpu, = self.ready()
        src, data = self.source(1)
        Host.write(src, data)
        self.add(vcpu, src, 0x100000, 1, flags=0)
        self.assertEqual(self.vm.memory.populated, [(0x100000, data)])
        from tdx.emu.measurement import Measurement
        m = Measurement()
        m.add_page(0x100000, data, False)
        self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        self.assertEqual(self.vm.measurement.mrtd, m.finalize())

    def test_vcpu_not_initialized(self):
        self.init_vm()
        vcpu = self.create_vcpu()
        src, _ = self.source(1)
        self.assertErrno(errno.EINVAL, self.add, vcpu, src, 0x100000, 1)

    def test_after_finalize(self):
        vcpu, = self.ready()
        self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        src, _ = self.source(1)
        self.assertErrno(errno.EINVAL, self.add, vcpu, src, 0x100000, 1)

    def test_flags(self):
        vcpu, = self.ready()
        src, _ = self.source(1)
        self.assertErrno(errno.EINVAL, self.add, vcpu, src, 0x100000, 1, 2)

    def test_null_region_pointer(self):
        vcpu, = self.ready()
        self.assertErrno(errno.EFAULT, self.vcpu_cmd, vcpu, abi.KVM_TDX_INIT_MEM_REGION, 0)

    def test_region_rules(self):
        vcpu, = self.ready()
        src, _ = self.source(1)
        cases = {
            "source unaligned": (src + 8, 0x100000, 1),
            "source unaligned by its lowest bit": (src + 1, 0x100000, 1),
            "source NULL (newest: up front)": (0, 0x100000, 1),
            "gpa unaligned": (src, 0x100800, 1),
            "gpa unaligned by its lowest bit": (src, 0x100001, 1),
            "nr_pages 0": (src, 0x100000, 0),
            "wrap": (src, 0xFFFFFFFFFFFFF000, 2),
            "first page shared": (src, 1 << 47 | 0x100000, 1),
            "last page shared": (src, (1 << 47) - PAGE, 2),
        }
        for what, args in cases.items():
            with self.subTest(what):
                self.assertErrno(errno.EINVAL, self.add, vcpu, *args)
        self.assertEqual(self.vm.memory.populated, [])

    def test_region_rules_each_on_its_own(self):
        """Ranges that break only one rule: a wrap all the way round to the first
        GPA (both ends private), and a first page shared with a private last
        page.  Nothing may be added (a sentinel error stops a runaway loop)."""
        vcpu, = self.ready()
        src, _ = self.source(2)
        self.vm.memory.populate_errors[0x101000] = errno.EIO
        cases = {
            "wrap to the start": (src, 0x100000, 1 << 52),
            "first page shared, last private": (src, (1 << 48) - PAGE, 2),
        }
        for what, args in cases.items():
            with self.subTest(what):
                self.assertErrno(errno.EINVAL, self.add, vcpu, *args)
                self.assertEqual(self.last, args, "nothing done")
        self.assertEqual(self.vm.memory.populated, [])

    def test_null_source_before_newest(self):
        """Before the newest code a NULL source passes the up-front checks and
        the page fails in memory.populate() (no source reader)."""
        self.vm.kernel = Kernel("7.3")
        vcpu, = self.ready()
        self.vm.memory.populate_errors[0x100000] = errno.EOPNOTSUPP
        self.assertErrno(errno.EOPNOTSUPP, self.add, vcpu, 0, 0x100000, 1)
        self.assertEqual(self.last, (0, 0x100000, 1))

    def test_populate_error_writes_back_progress(self):
        vcpu, = self.ready()
        src, data = self.source(3)
        self.vm.memory.populate_errors[0x101000] = errno.EEXIST
        self.assertErrno(errno.EEXIST, self.add, vcpu, src, 0x100000, 3)
        self.assertEqual(self.last, (src + PAGE, 0x101000, 2))
        self.assertEqual(len(self.vm.memory.populated), 1)

    def unreadable_source_page(self, pages, bad):
        """INIT_MEM_REGION of `pages` source pages whose page `bad` cannot be
        pinned: EFAULT there, the pages before it added with their own data,
        the progress written back pointing at it."""
        vcpu, = self.ready()
        src, data = self.source(pages)
        self.host = _HoleyHost(self.host, src + bad * PAGE, PAGE)
        Host.write(src, data)
        self.assertErrno(errno.EFAULT, self.add, vcpu, src, 0x100000, pages)
        self.assertEqual(self.last, (src + bad * PAGE, 0x100000 + bad * PAGE, pages - bad))
        self.assertEqual(self.vm.memory.populated,
                         [(0x100000 + i * PAGE, data[i * PAGE:(i + 1) * PAGE]) for i in range(bad)])

    def test_unreadable_source_page_first(self):
        self.unreadable_source_page(3, 0)

    def test_unreadable_source_page_middle(self):
        self.unreadable_source_page(3, 1)

    def test_unreadable_source_page_last(self):
        self.unreadable_source_page(3, 2)

    def test_unreadable_page_after_the_source_not_touched(self):
        """Only the region's own pages are pinned: an unmapped page right after
        the last one (the copy batch would reach it) does not matter."""
        for pages in (1, 3, ioctls._SourcePages.BATCH):
            with self.subTest(pages=pages):
                self.setUp()
                vcpu, = self.ready()
                src, data = self.source(pages + 1)
                self.host = _HoleyHost(self.host, src + pages * PAGE, PAGE)
                Host.write(src, data)
                self.add(vcpu, src, 0x100000, pages)
                self.assertEqual(self.last, (src + pages * PAGE, 0x100000 + pages * PAGE, 0))
                self.assertEqual(len(self.vm.memory.populated), pages)

    def test_unreadable_source_page_at_the_copy_batch_edges(self):
        """The source is copied in batches (ioctls._SourcePages): a page that
        cannot be pinned on either side of a batch boundary still fails at
        itself, with every page before it added."""
        batch = ioctls._SourcePages.BATCH
        for bad in (batch - 1, batch, batch + 1):
            with self.subTest(bad=bad):
                self.setUp()
                self.unreadable_source_page(batch + 2, bad)


class _HoleyHost:
    """The test's Host with `length` bytes at `start` unmapped: a copy that
    touches them fails with EFAULT, as _Host's (the emulated platform's)
    does for memory the caller has not mapped."""

    def __init__(self, host, start, length):
        self.host = host
        self.start, self.end = start, start + length

    def alloc(self, data_or_size):
        return self.host.alloc(data_or_size)

    def read(self, addr, length):
        if addr < self.end and self.start < addr + length:
            raise OSError(errno.EFAULT, "copy_from_user(%#x)" % addr)
        return self.host.read(addr, length)

    def write(self, addr, data):
        return self.host.write(addr, data)


class Finalize(Base):
    """§2.6"""

    def test_before_init_vm(self):
        self.assertErrno(errno.EINVAL, self.vm_cmd, abi.KVM_TDX_FINALIZE_VM)

    def test_twice(self):
        self.ready()
        self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        self.assertErrno(errno.EINVAL, self.vm_cmd, abi.KVM_TDX_FINALIZE_VM)

    def test_success(self):
        self.ready()
        ret, c = self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        self.assertEqual((ret, c.hw_error, self.vm.state), (0, 0, st.TD_STATE_RUNNABLE))
        self.assertEqual(len(self.vm.measurement.mrtd), 48)

    def test_without_initialized_vcpu(self):
        """TDH.MR.FINALIZE with no vCPU past KVM_TDX_INIT_VCPU: TDX_NO_VCPUS in
        hw_error, EIO, and the VM is dead (TDX_BUG_ON); a created vCPU is not enough."""
        self.init_vm()
        self.create_vcpu()
        with self.assertRaises(OSError) as ctx:
            self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        self.assertEqual(ctx.exception.errno, errno.EIO)
        self.assertTrue(self.vm.dead)
        self.assertNotEqual(self.vm.state, st.TD_STATE_RUNNABLE)

    def test_without_initialized_vcpu_hw_error(self):
        self.init_vm()
        c = cmd(abi.KVM_TDX_FINALIZE_VM)
        self.assertErrno(errno.EIO, ioctls.tdx_vm_ioctl, self.vm, c, self.host)
        self.assertEqual(c.hw_error, ioctls.TDX_NO_VCPUS)


class VcpuCmdOrder(Base):
    """tdx_vcpu_unlocked_ioctl() copies the command before it checks the TD
    state (6.19, 94428e3ba325); 6.16's tdx_vcpu_ioctl() did it the other way."""

    def test_unreadable_cmd_after_finalize(self):
        for release, err in (("6.18", errno.EINVAL), ("6.19", errno.EFAULT), ("newest", errno.EFAULT)):
            with self.subTest(release=release):
                self.vm = st.TdVm(max_vcpus=4, memory=FakeMemory(), kernel=Kernel(release))
                self.vm.split_irqchip = True
                vcpu, = self.ready()
                self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
                self.assertErrno(err, ioctls.tdx_vcpu_ioctl, self.vm, vcpu, ffi.cast("void *", 0x1000), self.host)
                # hw_error set: EINVAL in both orders
                self.assertErrno(errno.EINVAL, self.vcpu_cmd, vcpu, abi.KVM_TDX_GET_CPUID, 0, 0, 1)

    def test_unreadable_cmd_before_finalize(self):
        for release in ("6.18", "newest"):
            with self.subTest(release=release):
                self.vm = st.TdVm(max_vcpus=4, memory=FakeMemory(), kernel=Kernel(release))
                self.vm.split_irqchip = True
                vcpu, = self.ready()
                self.assertErrno(errno.EFAULT, ioctls.tdx_vcpu_ioctl, self.vm, vcpu, ffi.cast("void *", 0x1000),
                                 self.host)


class BusyTdxModule(RegionOps, Base):
    """A SEAMCALL that meets another one in flight in the TDX module
    (TDX_OPERAND_BUSY), as two host threads can make it on a release before
    6.19, where KVM_TDX_INIT_VCPU holds only its own vcpu->mutex (15945e9ec195
    added tdx_acquire_vm_state_locks()).  The case holds the other SEAMCALL
    in flight itself (emu/concurrency.py TdxModuleLocks, the pairs of its
    CONFLICTS)."""

    OLD = ("6.16", "6.18")

    def old_td(self, release, nvcpus=1):
        self.vm = st.TdVm(max_vcpus=4, memory=FakeMemory(), kernel=Kernel(release))
        self.vm.split_irqchip = True
        return self.ready(nvcpus)

    def test_finalize_busy_is_ebusy(self):
        """tdx_td_finalize(): TDH.MR.FINALIZE busy is -EBUSY with the status in
        hw_error, not a KVM bug: the TD lives and FINALIZE succeeds once the
        other SEAMCALL is done."""
        for release in self.OLD:
            with self.subTest(release=release):
                self.old_td(release)
                c = cmd(abi.KVM_TDX_FINALIZE_VM)
                with self.vm.module_locks.seamcall("TDH.VP.CREATE"):
                    self.assertErrno(errno.EBUSY, ioctls.tdx_vm_ioctl, self.vm, c, self.host)
                # Bits 31:0 of a TDX status are operand details: KVM compares the class
                # (TDX_SEAMCALL_STATUS_MASK, tdx_operand_busy()).
                self.assertEqual(c.hw_error >> 32, TDX_OPERAND_BUSY >> 32)
                self.assertFalse(self.vm.dead)
                self.assertNotEqual(self.vm.state, st.TD_STATE_RUNNABLE)
                self.assertEqual(self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)[0], 0)
                self.assertEqual(self.vm.state, st.TD_STATE_RUNNABLE)

    def test_init_vcpu_busy_kills_td(self):
        """tdx_td_vcpu_init(): TDH.VP.CREATE busy is a KVM bug (KVM_BUG_ON):
        EIO, and the VM is dead."""
        for release in self.OLD:
            with self.subTest(release=release):
                self.old_td(release)
                vcpu = self.create_vcpu(1)
                with self.vm.module_locks.seamcall("TDH.MR.EXTEND"):
                    self.assertErrno(errno.EIO, self.init_vcpu, vcpu)
                self.assertTrue(self.vm.dead)

    def test_init_mem_region_extend_busy_is_eio(self):
        """tdx_gmem_post_populate() before 6.19: TDH.MR.EXTEND busy is -EIO
        without KVM_BUG_ON (TDX_BUG_ON_2() came with 6.19); the region written
        back still names the page that failed, and the TD lives."""
        for release in self.OLD:
            with self.subTest(release=release):
                vcpu, = self.old_td(release)
                src, data = self.source(1)
                Host.write(src, data)
                with self.vm.module_locks.seamcall("TDH.VP.CREATE"):
                    self.assertErrno(errno.EIO, self.add, vcpu, src, 0x100000, 1)
                self.assertEqual(self.last, (src, 0x100000, 1))
                self.assertFalse(self.vm.dead)


class GetCpuid(Base):
    """§2.7"""

    def get(self, vcpu, nent):
        addr = self.host.alloc(8 + 40 * max(nent, 1))
        Host.write(addr, struct.pack("<I", nent))
        try:
            self.vcpu_cmd(vcpu, abi.KVM_TDX_GET_CPUID, addr)
        finally:
            self.nent = struct.unpack("<I", Host.read(addr, 4))[0]
        return [struct.unpack_from("<7I", Host.read(addr + 8, 40 * self.nent), 40 * i) for i in range(self.nent)]

    def test_success(self):
        self.init_vm(entries=[(7, 0, SIG, 0, 1 << 3, 0, 0), (7, 1, SIG, 0, 0, 0, 0),
                              (0x80000008, 0, 0, 48 << 16, 0, 0, 0)])
        vcpu = self.create_vcpu()
        entries = self.get(vcpu, 64)
        by = {(e[0], e[1]): e for e in entries}
        self.assertEqual([e[0] for e in entries][:2], [0, 1])
        self.assertEqual(by[(0x80000008, 0)][3] >> 16 & 0xFF, 48)
        self.assertEqual(by[(7, 0)][2], SIG)
        self.assertEqual(by[(1, 0)][2], 0)
        self.assertTrue(by[(1, 0)][5] >> 21 & 1)                    # x2APIC
        self.assertTrue(by[(7, 0)][4] >> 3 & 1)                     # configured bit
        self.assertFalse(by[(7, 0)][4] >> 8 & 1)                    # configurable, not configured

    def test_leaf_0xd_follows_xfam(self):
        """CPUID.0xD.0:EAX (XCR0 components) comes from the TD's XFAM."""
        self.init_vm(xfam=0x7)
        by = {(e[0], e[1]): e for e in self.get(self.create_vcpu(), 64)}
        self.assertEqual(by[(0xD, 0)][3], 0x7)

    def test_e2big_updates_nent(self):
        self.init_vm()
        vcpu = self.create_vcpu()
        self.assertErrno(errno.E2BIG, self.get, vcpu, 2)
        self.assertGreater(self.nent, 2)
        needed = self.nent
        self.assertErrno(errno.E2BIG, self.get, vcpu, needed - 1)
        self.assertEqual(len(self.get(vcpu, needed)), needed, "exactly the reported nent is enough")

    def test_before_init_vm(self):
        self.assertErrno(errno.EINVAL, self.get, st.TdVcpu(0), 64)

    def test_after_finalize(self):
        vcpu, = self.ready()
        self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        self.assertErrno(errno.EINVAL, self.get, vcpu, 64)

    def test_gpaw_52(self):
        self.init_vm(entries=[(0x80000008, 0, 0, 52 << 16, 0, 0, 0)])
        by = {(e[0], e[1]): e for e in self.get(self.create_vcpu(), 64)}
        self.assertEqual(by[(0x80000008, 0)][3] >> 16 & 0xFF, 52)

    def test_virtual_cpuid_has_no_gpaw_patch(self):
        self.init_vm()
        by = {(e[0], e[1]): e for e in ioctls.virtual_cpuid(self.vm)}
        self.assertEqual(by[(0x80000008, 0)][3] >> 16 & 0xFF, 0)
        self.assertEqual(by[(0x21, 0)][4:7], tuple(int.from_bytes(s, "little") for s in (b"Inte", b"    ", b"lTDX")))


class ProtectedState(Base):
    """§2.8: vCPU state is protected from KVM_CREATE_VCPU on."""

    def test_protected_ioctls(self):
        self.init_vm()
        vcpu = ioctls.td_create_vcpu(self.vm, 0)
        for number, name in ioctls.PROTECTED_STATE_IOCTLS.items():
            with self.subTest(name):
                self.assertErrno(errno.EINVAL, ioctls.td_vcpu_other_ioctl, self.vm, vcpu, number, 0)

    def test_ioctl_numbers(self):
        names = {v: k for k, v in ioctls.PROTECTED_STATE_IOCTLS.items()}
        self.assertEqual(names["KVM_GET_REGS"], 0x8090AE81)
        self.assertEqual(names["KVM_SET_SREGS"], 0x4138AE84)
        self.assertEqual(names["KVM_GET_DEBUGREGS"], 0x8080AEA1)
        self.assertEqual(names["KVM_GET_XSAVE2"], 0x9000AECF)
        self.assertEqual(names["KVM_GET_FPU"], 0x81A0AE8C)
        self.assertEqual(len(names), 15)

    def test_unmodelled_ioctl_is_passed_on(self):
        vcpu = st.TdVcpu(0)
        self.assertIsNone(ioctls.td_vcpu_other_ioctl(self.vm, vcpu, abi.KVM_GET_VCPU_EVENTS, 0))


class VcpuOther(Base):

    def test_set_cpuid2_e2big(self):
        vcpu = st.TdVcpu(0)
        c2 = ffi.new("struct kvm_cpuid2 *", {"nent": 0, "entries": 1})
        c2.nent = 257
        self.assertErrno(errno.E2BIG, ioctls.set_cpuid2, vcpu, c2)

    def test_set_cpuid2_virtual_address_bits(self):
        vcpu = st.TdVcpu(0)
        c2 = ffi.new("struct kvm_cpuid2 *", {"nent": 1, "entries": 1})
        c2.nent = 1
        c2.entries[0].function, c2.entries[0].eax = 0x80000008, 0x2830
        self.assertErrno(errno.EINVAL, ioctls.set_cpuid2, vcpu, c2)

    def test_set_cpuid2_after_run_must_not_change(self):
        vcpu = st.TdVcpu(0)
        c2 = ffi.new("struct kvm_cpuid2 *", {"nent": 1, "entries": 1})
        c2.nent = 1
        c2.entries[0].function = 0x40000000
        ioctls.set_cpuid2(vcpu, c2)
        vcpu.has_run = True
        ioctls.set_cpuid2(vcpu, c2)
        c2.entries[0].eax = 1
        self.assertErrno(errno.EINVAL, ioctls.set_cpuid2, vcpu, c2)

    def test_get_cpuid2(self):
        vcpu = st.TdVcpu(0)
        vcpu.cpuid = default_cpuid()
        small = ffi.new("struct kvm_cpuid2 *", {"nent": 0, "entries": 2})
        small.nent = 2
        self.assertErrno(errno.E2BIG, ioctls.get_cpuid2, vcpu, small)
        big = ffi.new("struct kvm_cpuid2 *", {"nent": 0, "entries": 16})
        big.nent = 16
        ioctls.get_cpuid2(vcpu, big)
        self.assertEqual(big.nent, len(vcpu.cpuid))
        self.assertEqual(big.entries[2].ebx, 0x11111111)

    def test_msrs_host_initiated(self):
        vcpu, = self.ready()
        m = ffi.new("struct kvm_msrs *", {"nmsrs": 0, "entries": 3})
        m.nmsrs = 3
        for i, (index, data) in enumerate(((msrs.MSR_IA32_UCODE_REV, 0x42), (msrs.MSR_PLATFORM_INFO, 0),
                                           (msrs.MSR_IA32_APICBASE, 0))):
            m.entries[i].index, m.entries[i].data = index, data
        self.assertEqual(ioctls.td_vcpu_other_ioctl(self.vm, vcpu, abi.KVM_SET_MSRS, m), 2)   # APICBASE refused
        self.assertEqual(vcpu.msrs.values[msrs.MSR_IA32_UCODE_REV], 0x42)
        m.nmsrs = 2
        m.entries[1].index = 0x12345678
        self.assertEqual(ioctls.td_vcpu_other_ioctl(self.vm, vcpu, abi.KVM_GET_MSRS, m), 1)
        self.assertEqual(m.entries[0].data, 0x42)
        m.nmsrs = 256
        self.assertErrno(errno.E2BIG, ioctls.td_vcpu_other_ioctl, self.vm, vcpu, abi.KVM_GET_MSRS, m)

    def mp(self, vcpu, state=None):
        mp = ffi.new("struct kvm_mp_state *")
        if state is None:
            ioctls.td_vcpu_other_ioctl(self.vm, vcpu, abi.KVM_GET_MP_STATE, mp)
            return mp.mp_state
        mp.mp_state = state
        return ioctls.td_vcpu_other_ioctl(self.vm, vcpu, abi.KVM_SET_MP_STATE, mp)

    def test_mp_state_init_sipi_before_6_17(self):
        self.vm.kernel = Kernel("6.16")
        vcpu, = self.ready()
        self.assertEqual(self.mp(vcpu), abi.KVM_MP_STATE_RUNNABLE)
        for state in (abi.KVM_MP_STATE_INIT_RECEIVED, abi.KVM_MP_STATE_SIPI_RECEIVED):
            self.assertErrno(errno.EINVAL, self.mp, vcpu, state)
        self.assertEqual(self.mp(vcpu), abi.KVM_MP_STATE_RUNNABLE)

    def test_mp_state_init_sipi_from_6_17(self):
        """Taken (SIPI_RECEIVED as INIT_RECEIVED); KVM_RUN then fails EINVAL
        (0fe3e8d804fd); RUNNABLE makes the vCPU runnable again."""
        vcpu, = self.ready()
        self.vm_cmd(abi.KVM_TDX_FINALIZE_VM)
        for state in (abi.KVM_MP_STATE_INIT_RECEIVED, abi.KVM_MP_STATE_SIPI_RECEIVED):
            with self.subTest(state=state):
                self.assertEqual(self.mp(vcpu, state), 0)
                self.assertEqual(self.mp(vcpu), abi.KVM_MP_STATE_INIT_RECEIVED)
                self.assertErrno(errno.EINVAL, ioctls.td_check_run, self.vm, vcpu)
                self.assertEqual(self.mp(vcpu, abi.KVM_MP_STATE_RUNNABLE), 0)
                ioctls.td_check_run(self.vm, vcpu)

    def test_mp_state_values(self):
        """States x86 does not know (s390's STOPPED, SUSPENDED, garbage): EINVAL."""
        vcpu, = self.ready()
        for state in (5, 6, 7, 8, 10, 0xFFFFFFFF):
            with self.subTest(state=state):
                self.assertErrno(errno.EINVAL, self.mp, vcpu, state)
        for state in (abi.KVM_MP_STATE_HALTED, abi.KVM_MP_STATE_AP_RESET_HOLD, abi.KVM_MP_STATE_UNINITIALIZED,
                      abi.KVM_MP_STATE_RUNNABLE):
            with self.subTest(state=state):
                self.assertEqual(self.mp(vcpu, state), 0)
                self.assertEqual(self.mp(vcpu), state)

    def test_protected_debug_lapic_tsc(self):
        """KVM_SET_GUEST_DEBUG (guest_state_protected), KVM_GET/SET_LAPIC
        (guest_apic_protected), vCPU KVM_SET_TSC_KHZ (guest_tsc_protected): EINVAL;
        KVM_SET_LAPIC copies the struct in first (EFAULT)."""
        vcpu, = self.ready()
        dbg = ffi.new("struct kvm_guest_debug *", {"control": 1})
        lapic = ffi.new("struct kvm_lapic_state *")
        for request, arg in ((abi.KVM_SET_GUEST_DEBUG, dbg), (abi.KVM_GET_LAPIC, lapic),
                             (abi.KVM_SET_LAPIC, lapic), (abi.KVM_SET_TSC_KHZ, 1000000)):
            with self.subTest(request=hex(request)):
                self.assertErrno(errno.EINVAL, ioctls.td_vcpu_other_ioctl, self.vm, vcpu, request, arg)
        self.assertErrno(errno.EFAULT, ioctls.td_vcpu_other_ioctl, self.vm, vcpu, abi.KVM_SET_LAPIC,
                         ffi.cast("void *", 0x1000))

    def test_x2apic_isr_tmr_irr_before_7_2(self):
        """Before 1f3e69af5f93 ISR1-7, TMR1-7, IRR1-7 read 0 from the in-kernel
        LAPIC and SELF_IPI is writable; register 0 of each, TPR, PPR and EOI are
        never emulated; ISR/TMR/IRR are not writable, SELF_IPI not readable."""
        for release, readable in (("7.1", True), ("7.2", False)):
            with self.subTest(release=release):
                self.vm = st.TdVm(max_vcpus=4, memory=FakeMemory(), kernel=Kernel(release))
                self.vm.split_irqchip = True
                vcpu, = self.ready()
                for index in (0x811, 0x817, 0x819, 0x81F, 0x821, 0x827):
                    self.assertEqual(msrs.get_msr(vcpu, index, True), (0, 0) if readable else (1, 0), hex(index))
                    self.assertEqual(msrs.set_msr(vcpu, index, 0, True), 1, hex(index))
                for index in (0x808, 0x80A, 0x80B, 0x810, 0x818, 0x820, 0x83F, 0x840):
                    self.assertEqual(msrs.get_msr(vcpu, index, True)[0], 1, hex(index))
                self.assertEqual(msrs.set_msr(vcpu, 0x83F, 0x30, True), 0 if readable else 1, "SELF_IPI")
                self.assertEqual(msrs.set_msr(vcpu, 0x83F, 1 << 32 | 0x30, True), 1, "SELF_IPI bits 63:32")

    def test_ap_starts_uninitialized(self):
        self.init_vm()
        self.assertEqual(ioctls.td_create_vcpu(self.vm, 1).mp_state, abi.KVM_MP_STATE_UNINITIALIZED)


class TscKhz(Base):

    def test_vm_fd_after_a_vcpu(self):
        """VM-fd KVM_SET_TSC_KHZ: for the host VM while no vCPU exists; once one
        does, EINVAL since 6.17 (dcbe5a466c12), a no-op before."""
        for release, after in (("6.16", False), ("6.17", errno.EINVAL), ("newest", errno.EINVAL)):
            with self.subTest(release=release):
                self.vm = st.TdVm(max_vcpus=4, memory=FakeMemory(), kernel=Kernel(release))
                self.vm.split_irqchip = True
                self.assertTrue(ioctls.td_set_tsc_khz(self.vm, 2000000))
                self.ready()
                if after:
                    self.assertErrno(after, ioctls.td_set_tsc_khz, self.vm, 2000000)
                else:
                    self.assertFalse(ioctls.td_set_tsc_khz(self.vm, 2000000))


class EnableCap(Base):

    def cap(self, cap, arg0, flags=0):
        c = ffi.new("struct kvm_enable_cap *", {"cap": cap, "flags": flags})
        c.args[0] = arg0
        return ioctls.td_enable_cap(self.vm, c)

    def test_flags(self):
        self.assertErrno(errno.EINVAL, self.cap, abi.KVM_CAP_SPLIT_IRQCHIP, 24, 1)

    def test_split_irqchip(self):
        self.vm.split_irqchip = False
        self.assertErrno(errno.EINVAL, self.cap, abi.KVM_CAP_SPLIT_IRQCHIP, 49)
        self.cap(abi.KVM_CAP_SPLIT_IRQCHIP, 24)
        self.assertTrue(self.vm.split_irqchip)
        self.assertErrno(errno.EEXIST, self.cap, abi.KVM_CAP_SPLIT_IRQCHIP, 24)

    def test_exit_hypercall(self):
        self.assertErrno(errno.EINVAL, self.cap, abi.KVM_CAP_EXIT_HYPERCALL, 1 << 11)
        self.cap(abi.KVM_CAP_EXIT_HYPERCALL, 1 << 12)
        self.assertTrue(self.vm.user_exit_on_hypercall(abi.KVM_HC_MAP_GPA_RANGE))

    def test_create_irqchip_is_enotty(self):
        """KVM_CREATE_IRQCHIP on a TD: ENOTTY (protected EOIs, x86.c 6.18); EEXIST
        once an irqchip, also the split one, exists (checked first)."""
        self.vm.split_irqchip = False
        self.assertErrno(errno.ENOTTY, ioctls.td_create_irqchip, self.vm)
        self.assertFalse(self.vm.irqchip_in_kernel)
        self.cap(abi.KVM_CAP_SPLIT_IRQCHIP, 24)
        self.assertErrno(errno.EEXIST, ioctls.td_create_irqchip, self.vm)

    def test_create_irqchip_before_6_18(self):
        """Before 6.18 the in-kernel irqchip is created: EEXIST for a second
        one and for the split one, EINVAL for KVM_CREATE_VCPU; with a vCPU
        already there, EINVAL."""
        self.vm.kernel = Kernel("6.17")
        self.vm.split_irqchip = False
        self.assertEqual(ioctls.td_create_irqchip(self.vm), 0)
        self.assertTrue(self.vm.irqchip_in_kernel)
        self.assertErrno(errno.EEXIST, ioctls.td_create_irqchip, self.vm)
        self.assertErrno(errno.EEXIST, self.cap, abi.KVM_CAP_SPLIT_IRQCHIP, 24)
        self.init_vm()
        self.assertErrno(errno.EINVAL, ioctls.td_create_vcpu, self.vm, 0)
        late = st.TdVm(max_vcpus=4, memory=FakeMemory(), kernel=Kernel("6.17"))
        late.vcpus.append(st.TdVcpu(0))
        self.assertErrno(errno.EINVAL, ioctls.td_create_irqchip, late)

    def test_user_space_msr(self):
        self.assertErrno(errno.EINVAL, self.cap, abi.KVM_CAP_X86_USER_SPACE_MSR, 1 << 3)
        self.cap(abi.KVM_CAP_X86_USER_SPACE_MSR, abi.KVM_MSR_EXIT_REASON_FILTER)
        self.assertEqual(self.vm.user_space_msr_mask, abi.KVM_MSR_EXIT_REASON_FILTER)


class GuestMemfdAndFilter(Base):

    def test_guest_memfd_flags(self):
        """6.18 kvm_gmem_get_supported_flags(): MMAP for every VM, INIT_SHARED only
        without private memory (commit 44c6cb9fe988); unknown flags refused."""
        g = ffi.new("struct kvm_create_guest_memfd *", {"size": 1 << 20, "flags": 0})
        for flags in (0, abi.GUEST_MEMFD_FLAG_MMAP):
            g.flags = flags
            ioctls.td_check_guest_memfd(self.vm, g)
        for flags in (abi.GUEST_MEMFD_FLAG_INIT_SHARED, abi.GUEST_MEMFD_FLAG_MMAP | abi.GUEST_MEMFD_FLAG_INIT_SHARED,
                      1 << 2, 1 << 63):
            with self.subTest(flags=flags):
                g.flags = flags
                self.assertErrno(errno.EINVAL, ioctls.td_check_guest_memfd, self.vm, g)

    def test_guest_memfd_flags_capability(self):
        """KVM_CAP_GUEST_MEMFD_FLAGS on a TD VM: what KVM_CREATE_GUEST_MEMFD accepts,
        not the host's default-VM answer (MMAP | INIT_SHARED)."""
        host = abi.GUEST_MEMFD_FLAG_MMAP | abi.GUEST_MEMFD_FLAG_INIT_SHARED
        self.assertEqual(ioctls.td_check_extension(abi.KVM_CAP_GUEST_MEMFD_FLAGS, host, self.vm),
                         abi.GUEST_MEMFD_FLAG_MMAP)

    def test_guest_memfd_flags_before_6_18(self):
        """6.16/6.17: no KVM_CAP_GUEST_MEMFD_FLAGS (0) and no flag accepted."""
        self.vm.kernel = Kernel("6.17")
        self.assertEqual(ioctls.td_check_extension(abi.KVM_CAP_GUEST_MEMFD_FLAGS, 0, self.vm), 0)
        g = ffi.new("struct kvm_create_guest_memfd *", {"size": 1 << 20, "flags": 0})
        ioctls.td_check_guest_memfd(self.vm, g)
        g.flags = abi.GUEST_MEMFD_FLAG_MMAP
        self.assertErrno(errno.EINVAL, ioctls.td_check_guest_memfd, self.vm, g)

    def test_readonly_mem_capability(self):
        """A TD has no read-only memslots: per-VM KVM_CAP_READONLY_MEM is 0
        (kvm_arch_has_readonly_mem() is false with protected state)."""
        self.assertEqual(ioctls.td_check_extension(abi.KVM_CAP_READONLY_MEM, 1, self.vm), 0)
        self.assertEqual(ioctls.td_check_extension(abi.KVM_CAP_USER_MEMORY2, 1, self.vm), 1)

    def test_msr_filter_from_cdata(self):
        bitmap = ffi.new("__u8[]", b"\x05")
        f = ffi.new("struct kvm_msr_filter *", {"flags": 0})
        f.ranges[0].flags, f.ranges[0].nmsrs, f.ranges[0].base = abi.KVM_MSR_FILTER_READ, 3, 0x10
        f.ranges[0].bitmap = bitmap
        ioctls.td_set_msr_filter(self.vm, f, _HOST)
        allowed = [self.vm.msr_filter.allowed(i, write=False) for i in (0x10, 0x11, 0x12, 0x13)]
        self.assertEqual(allowed, [True, False, True, True])
        self.assertTrue(self.vm.msr_filter.allowed(0x11, write=True))

    def test_msr_filter_validation(self):
        f = ffi.new("struct kvm_msr_filter *", {"flags": abi.KVM_MSR_FILTER_DEFAULT_DENY})
        self.assertErrno(errno.EINVAL, MsrFilter.from_cdata, f, _read_user)         # deny-all without ranges
        f.flags = 2
        self.assertErrno(errno.EINVAL, MsrFilter.from_cdata, f, _read_user)
        f.flags = 0
        f.ranges[0].nmsrs, f.ranges[0].flags = 1, 0
        self.assertErrno(errno.EINVAL, MsrFilter.from_cdata, f, _read_user)


if __name__ == "__main__":
    unittest.main()
