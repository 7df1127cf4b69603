# SPDX-License-Identifier: GPL-2.0-only
"""The emulated platform's memory model (emu/memory.py) against its spec.

docs/kvm-tdx-uapi.md §3 (memslots, attributes, the two views, access
faults), §2.5 (KVM_TDX_INIT_MEM_REGION per page) and §6 / the TDX module's
tdg_mem_page_accept.c (TDG.MEM.PAGE.ACCEPT).  No /dev/kvm: the real VM is a
recorder of KVM_SET_USER_MEMORY_REGION calls; private memory is this
process's anonymous memory, as in the model.
"""

import errno
import os
import re
import subprocess
import sys
import unittest

from tdx.lib import abi
from tdx.lib.abi import ffi
from tdx.lib.kvm import Mapping
from tdx.lib.system import HostSystem
from tdx.emu import memory as mem
from tdx.emu.gmem import GuestMemfd
from tdx.emu.kernel import Kernel
from tdx.tests.test_driver import env
from tdx.tests.support import requires_kvm

PAGE = mem.PAGE_SIZE
SHARED_BIT = 1 << 47
GMEM_FD = 100
SLOT_SIZE = 16 * PAGE


class RecordingHost(HostSystem):
    """mmap/munmap for real; KVM_SET_USER_MEMORY_REGION on the real VM recorded."""

    def __init__(self):
        self.regions = {}               # real slot id -> (gpa, size, userspace_addr)
        self.calls = 0

    def ioctl(self, fd, request, arg=0):
        assert request == abi.KVM_SET_USER_MEMORY_REGION, hex(request)
        r = ffi.cast("struct kvm_userspace_memory_region *", arg)
        self.calls += 1
        if r.memory_size:
            self.regions[r.slot] = (r.guest_phys_addr, r.memory_size, r.userspace_addr)
        else:
            self.regions.pop(r.slot, None)
        return 0

    def mapped(self):
        return sorted(self.regions.values())


class Base(unittest.TestCase):
    faults = ()

    def setUp(self):
        self.host = RecordingHost()
        self.m = mem.TdMemory(self.host, -1, frozenset(self.faults))
        self.m.shared_bit = SHARED_BIT
        self.addCleanup(self.m.close)
        self.uspace = Mapping(HostSystem(), SLOT_SIZE)      # the library's memory for slot 0
        self.addCleanup(self.uspace.close)
        self.gmem = GuestMemfd(GMEM_FD, SLOT_SIZE, 0)
        self.m.add_gmem(self.gmem)

    def gmem_slot(self, slot=0, gpa=0, size=SLOT_SIZE, flags=abi.KVM_MEM_GUEST_MEMFD, offset=0):
        self.m.set_region(slot, flags, gpa, size, self.uspace.addr, GMEM_FD, offset)

    def assertErrno(self, err, fn, *args):
        with self.assertRaises(OSError) as ctx:
            fn(*args)
        self.assertEqual(ctx.exception.errno, err)

    def populate(self, gpa, data, release=None):
        """memory.populate() with a source page holding `data` (None: a NULL
        source; an OSError: a source that cannot be pinned); the errno."""
        def read():
            if isinstance(data, OSError):
                raise data
            return data
        return self.m.populate(gpa, None if data is None else read, Kernel(release))[0]

    def private(self, gpa, size=PAGE):
        self.m.set_attributes(gpa, size, abi.KVM_MEMORY_ATTRIBUTE_PRIVATE, 0)

    def shared(self, gpa, size=PAGE):
        self.m.set_attributes(gpa, size, 0, 0)

    def private_content(self, gpa, n=8):
        return bytes(self.m.private_bytes(gpa, n))


class Regions(Base):
    def test_guest_memfd_slot_accepted(self):
        self.gmem_slot()
        self.assertIs(self.m.slot_of(5 * PAGE).id, 0)

    def test_readonly_refused(self):
        """TDX VMs have no read-only memory (kvm_arch_has_readonly_mem())."""
        self.assertErrno(errno.EINVAL, self.m.set_region, 0, abi.KVM_MEM_READONLY, 0, PAGE, self.uspace.addr, 0, 0)

    def test_guest_memfd_with_dirty_logging_refused(self):
        self.assertErrno(errno.EINVAL, self.gmem_slot, 0, 0, PAGE,
                         abi.KVM_MEM_GUEST_MEMFD | abi.KVM_MEM_LOG_DIRTY_PAGES)

    def test_plain_slot_with_dirty_logging_accepted(self):
        """docs/c-selftests.md §1 row 16: a non-guest_memfd slot may log dirty pages."""
        self.m.set_region(10, abi.KVM_MEM_LOG_DIRTY_PAGES, 0xC0000000, PAGE, self.uspace.addr, 0, 0)
        slot = self.m.slot_of(0xC0000000)
        self.assertIsNone(slot.private)
        self.assertIsNone(slot.gmem)

    def test_unaligned_refused(self):
        for gpa, size, addr in ((0x800, PAGE, self.uspace.addr), (0, 0x800, self.uspace.addr),
                                (0, PAGE, self.uspace.addr + 8)):
            with self.subTest(gpa=gpa, size=size, addr=addr):
                self.assertErrno(errno.EINVAL, self.m.set_region, 0, 0, gpa, size, addr, 0, 0)

    def test_slot_id_limits(self):
        """Slot ids from KVM_USER_MEM_SLOTS up, and any address space but 0 (a TD
        has one: no SMM), are EINVAL."""
        for slot in (mem.KVM_USER_MEM_SLOTS, 1 << 16):
            with self.subTest(slot=slot):
                self.assertErrno(errno.EINVAL, self.m.set_region, slot, 0, 0, PAGE, self.uspace.addr, 0, 0)
        self.m.set_region(mem.KVM_USER_MEM_SLOTS - 1, 0, 0, PAGE, self.uspace.addr, 0, 0)

    def test_overlap_is_eexist(self):
        self.gmem_slot()
        self.assertErrno(errno.EEXIST, self.m.set_region, 1, 0, SLOT_SIZE - PAGE, 2 * PAGE, self.uspace.addr, 0, 0)

    def test_guest_memfd_binding_checked(self):
        """kvm_gmem_bind(): an fd that is open but no guest_memfd of this VM,
        an unaligned offset, a range past the file's end -> EINVAL."""
        other = os.open("/dev/null", os.O_RDONLY)
        self.addCleanup(os.close, other)
        for fd, offset, size in ((other, 0, PAGE), (GMEM_FD, 0x800, PAGE), (GMEM_FD, PAGE, SLOT_SIZE)):
            with self.subTest(fd=fd, offset=offset, size=size):
                self.assertErrno(errno.EINVAL, self.m.set_region, 0, abi.KVM_MEM_GUEST_MEMFD, 0, size,
                                 self.uspace.addr, fd, offset)
        # the last page of the file is the last range accepted
        self.m.set_region(0, abi.KVM_MEM_GUEST_MEMFD, 0, PAGE, self.uspace.addr, GMEM_FD, SLOT_SIZE - PAGE)

    def test_guest_memfd_not_open_is_ebadf(self):
        """fget() fails before anything else is looked at: EBADF (kvm_gmem_bind())."""
        fd = os.open("/dev/null", os.O_RDONLY)
        os.close(fd)
        self.assertErrno(errno.EBADF, self.m.set_region, 0, abi.KVM_MEM_GUEST_MEMFD, 0, PAGE,
                         self.uspace.addr, fd, 0)

    def test_guest_memfd_range_bound_once(self):
        """A range another memslot binds: EEXIST since 7.2 (7ea987a90585), EINVAL
        before; the first page after the bound range is free."""
        self.gmem_slot(size=2 * PAGE)
        for release, err in (("7.1", errno.EINVAL), ("7.2", errno.EEXIST), ("newest", errno.EEXIST)):
            with self.subTest(release=release):
                self.m.kernel = Kernel(release)
                self.assertErrno(err, self.gmem_slot, 1, 0x100000, 2 * PAGE, abi.KVM_MEM_GUEST_MEMFD, PAGE)
        self.gmem_slot(1, 0x100000, 2 * PAGE, abi.KVM_MEM_GUEST_MEMFD, 2 * PAGE)

    def test_release_given_at_creation_is_played(self):
        """The release passed to TdMemory (EmuSystem(kernel=...)) decides its
        rules, whatever the environment says: 7.1 binds an already bound range
        with EINVAL, the newest with EEXIST (7ea987a90585)."""
        for release, err in (("7.1", errno.EINVAL), ("newest", errno.EEXIST)):
            with self.subTest(release=release):
                m = mem.TdMemory(self.host, -1, frozenset(self.faults), kernel=Kernel(release))
                self.addCleanup(m.close)
                m.add_gmem(self.gmem)
                m.set_region(0, abi.KVM_MEM_GUEST_MEMFD, 0, 2 * PAGE, self.uspace.addr, GMEM_FD, 0)
                self.assertErrno(err, m.set_region, 1, abi.KVM_MEM_GUEST_MEMFD, 0x100000, 2 * PAGE,
                                 self.uspace.addr, GMEM_FD, PAGE)
                m.set_region(0, 0, 0, 0, 0, 0, 0)

    def test_delete(self):
        self.gmem_slot()
        self.m.set_region(0, 0, 0, 0, 0, 0, 0)
        self.assertIsNone(self.m.slot_of(0))

    def test_delete_missing_slot_is_einval(self):
        """kvm_set_memory_region(): memory_size 0 for a slot that does not exist."""
        self.assertErrno(errno.EINVAL, self.m.set_region, 3, 0, 0, 0, 0, 0, 0)
        self.gmem_slot()
        self.m.set_region(0, 0, 0, 0, 0, 0, 0)
        self.assertErrno(errno.EINVAL, self.m.set_region, 0, 0, 0, 0, 0, 0, 0)

    def test_delete_removes_private_pages(self):
        """Deleting a memslot zaps its private pages: a new slot over the same
        guest_memfd range must have them faulted in and accepted again."""
        self.gmem_slot()
        self.m.set_attributes(PAGE, PAGE, abi.KVM_MEMORY_ATTRIBUTE_PRIVATE, 0)
        self.assertEqual(self.populate(PAGE, b"\x5e" * PAGE), 0)
        self.m.set_region(0, 0, 0, 0, 0, 0, 0)
        self.gmem_slot()
        self.assertEqual(self.m.classify(PAGE)[0], "pending")
        self.assertEqual(self.m.accept(PAGE, 0), mem.ACCEPT_OK)

    def test_range_limits(self):
        """gpa + size must not wrap (also not to exactly 2^64); at most
        KVM_MEM_MAX_NR_PAGES pages: exactly that many are taken (a plain
        memslot whose GPA and userspace range lie inside 48 bits)."""
        for gpa, size in (((1 << 64) - PAGE, PAGE), ((1 << 64) - PAGE, 2 * PAGE),
                          (0, (mem.KVM_MEM_MAX_NR_PAGES + 1) * PAGE)):
            with self.subTest(gpa=gpa, size=size):
                self.assertErrno(errno.EINVAL, self.m.set_region, 1, 0, gpa, size, self.uspace.addr, 0, 0)
        self.m.set_region(1, 0, 1 << 44, mem.KVM_MEM_MAX_NR_PAGES * PAGE, 1 << 44, 0, 0)
        self.assertEqual(self.m.slot_of(1 << 44).size, mem.KVM_MEM_MAX_NR_PAGES * PAGE)

    def test_guest_memfd_slot_is_immutable(self):
        """Private memslots can only be deleted; registering one again is EINVAL."""
        self.gmem_slot()
        self.assertErrno(errno.EINVAL, self.gmem_slot)
        self.assertErrno(errno.EINVAL, self.m.set_region, 0, 0, 0, SLOT_SIZE, self.uspace.addr, 0, 0)
        self.assertIsNotNone(self.m.slot_of(0).private)

    def test_modify_plain_slot(self):
        """A slot without guest_memfd: the same again is a no-op, a flags change
        (dirty logging) and a move are allowed; userspace_addr and size are fixed;
        a move onto another slot is EEXIST."""
        self.gmem_slot()
        plain = (0x100000, 2 * PAGE, self.uspace.addr)
        self.m.set_region(1, 0, *plain, 0, 0)
        calls = self.host.calls
        self.m.set_region(1, 0, *plain, 0, 0)
        self.assertEqual(self.host.calls, calls, "no change")
        self.m.set_region(1, abi.KVM_MEM_LOG_DIRTY_PAGES, *plain, 0, 0)
        self.assertEqual(self.m.slots[1].flags, abi.KVM_MEM_LOG_DIRTY_PAGES)
        for gpa, size, addr in ((0x100000, PAGE, self.uspace.addr), (0x100000, 2 * PAGE, self.uspace.addr + PAGE)):
            with self.subTest(size=size, addr=addr):
                self.assertErrno(errno.EINVAL, self.m.set_region, 1, 0, gpa, size, addr, 0, 0)
        self.assertErrno(errno.EEXIST, self.m.set_region, 1, 0, SLOT_SIZE - PAGE, 2 * PAGE, self.uspace.addr, 0, 0)
        self.m.sync()
        self.assertIn((0x100000 | SHARED_BIT, 2 * PAGE, self.uspace.addr), self.host.mapped())
        self.m.set_region(1, 0, 0x200000, 2 * PAGE, self.uspace.addr, 0, 0)
        self.assertIsNone(self.m.slot_of(0x100000))
        self.assertIs(self.m.slot_of(0x201000).id, 1)
        self.m.sync()
        self.assertIn((0x200000 | SHARED_BIT, 2 * PAGE, self.uspace.addr), self.host.mapped())
        self.assertNotIn((0x100000 | SHARED_BIT, 2 * PAGE, self.uspace.addr), self.host.mapped())


class Attributes(Base):
    def setUp(self):
        super().setUp()
        self.gmem_slot()

    def test_flags_and_unknown_attributes_refused(self):
        self.assertErrno(errno.EINVAL, self.m.set_attributes, 0, PAGE, abi.KVM_MEMORY_ATTRIBUTE_PRIVATE, 1)
        self.assertErrno(errno.EINVAL, self.m.set_attributes, 0, PAGE, 1 << 0, 0)

    def test_range_aligned_and_not_empty(self):
        for gpa, size in ((0x800, PAGE), (0, 0x800), (0, 0), ((1 << 64) - PAGE, 2 * PAGE), ((1 << 64) - PAGE, PAGE)):
            with self.subTest(gpa=gpa, size=size):
                self.assertErrno(errno.EINVAL, self.m.set_attributes, gpa, size, 0, 0)

    def test_range_without_memslot_accepted(self):
        """Attributes are per GFN, not per memslot (MapGPA of an unbacked range)."""
        self.private(0x10000000, 4 * PAGE)
        self.assertIn(0x10000, self.m.private_gfns)

    def test_to_private_leaves_page_pending(self):
        self.private(PAGE)
        self.assertEqual(self.m.classify(PAGE)[0], "pending")

    def test_to_shared_removes_private_page_and_its_content(self):
        self.private(PAGE)
        self.assertEqual(self.populate(PAGE, b"\x5e" * PAGE), 0)
        self.shared(PAGE)
        self.assertNotIn(1, self.m.state)
        self.assertEqual(self.private_content(PAGE), bytes(8))
        self.private(PAGE)
        self.assertEqual(self.m.classify(PAGE)[0], "pending", "back to private: must be accepted again")

    def test_private_to_private_keeps_the_page(self):
        self.private(PAGE)
        self.m.accept(PAGE, 0)
        self.private(PAGE)                          # already private: the page stays
        self.assertEqual(self.m.state[1], mem.MAPPED)


class NoZeroFault(Base):
    faults = ("no-zero-on-private",)

    def test_content_survives_private_shared_private(self):
        self.gmem_slot()
        self.private(PAGE)
        self.populate(PAGE, b"\x5e" * PAGE)
        self.shared(PAGE)
        self.private(PAGE)
        self.assertEqual(self.m.accept(PAGE, 0), mem.ACCEPT_OK)
        self.assertEqual(self.private_content(PAGE), b"\x5e" * 8)


class Populate(Base):
    """One page of KVM_TDX_INIT_MEM_REGION (kvm_gmem_populate, §2.5)."""

    def test_no_memslot(self):
        self.private(0x100000)
        self.assertEqual(self.populate(0x100000, bytes(PAGE)), errno.EINVAL)

    def test_memslot_without_guest_memfd(self):
        self.m.set_region(0, 0, 0, PAGE, self.uspace.addr, 0, 0)
        self.private(0)
        self.assertEqual(self.populate(0, bytes(PAGE)), errno.EINVAL)

    def test_not_private(self):
        self.gmem_slot()
        self.assertEqual(self.populate(0, bytes(PAGE)), errno.EINVAL)

    def test_twice(self):
        """EEXIST before 7.0 (preparation tracking); EIO from 7.0 (the S-EPT
        mapping exists: kvm_tdp_mmu_map_private_pfn())."""
        self.gmem_slot()
        self.private(0)
        self.assertEqual(self.populate(0, bytes(PAGE)), 0)
        for release, err in (("6.16", errno.EEXIST), ("6.19", errno.EEXIST), ("7.0", errno.EIO),
                             ("newest", errno.EIO)):
            with self.subTest(release=release):
                self.assertEqual(self.populate(0, b"\x77" * PAGE, release), err)
        self.assertEqual(self.private_content(0), bytes(8), "the page as first added")

    def test_bad_source(self):
        """A source that cannot be pinned: EFAULT, but before 7.0 the
        attribute is checked first (EINVAL for a page that is not PRIVATE)."""
        self.gmem_slot()
        self.private(PAGE)
        bad = OSError(errno.EFAULT, "unmapped source")
        for release, not_private in (("6.19", errno.EINVAL), ("7.0", errno.EFAULT), ("newest", errno.EFAULT)):
            with self.subTest(release=release):
                self.assertEqual(self.populate(0, bad, release), not_private)
                self.assertEqual(self.populate(PAGE, bad, release), errno.EFAULT)
        self.assertNotIn(1, self.m.state)

    def test_null_source(self):
        """A NULL source (the newest code refuses it before populating):
        EFAULT from pinning address 0 before 7.0, EOPNOTSUPP from 7.0; after
        the attribute check either way."""
        self.gmem_slot()
        self.private(PAGE)
        for release, err in (("6.16", errno.EFAULT), ("6.19", errno.EFAULT), ("7.0", errno.EOPNOTSUPP),
                             ("7.3", errno.EOPNOTSUPP)):
            with self.subTest(release=release):
                self.assertEqual(self.populate(0, None, release), errno.EINVAL, "not PRIVATE")
                self.assertEqual(self.populate(PAGE, None, release), err)
        self.assertNotIn(1, self.m.state)

    def test_content_in_the_private_view_only(self):
        self.gmem_slot()
        self.private(PAGE)
        self.assertEqual(self.populate(PAGE, b"\x5e" * PAGE), 0)
        self.assertEqual(self.private_content(PAGE), b"\x5e" * 8)
        self.assertEqual(self.uspace.read(PAGE, PAGE), bytes(PAGE), "the library's memory")
        self.assertEqual(self.m.state[1], mem.MAPPED)


class GmemFileEffects(Base):
    """What guest_memfd file operations do to the TD (emu/gmem.py -> TdMemory)."""

    def setUp(self):
        super().setUp()
        self.gmem_slot(size=4 * PAGE)
        self.private(0, 4 * PAGE)
        for gpa in (PAGE, 2 * PAGE, 3 * PAGE):
            self.m.accept(gpa, 0)
            self.m.private_bytes(gpa, 8)[:] = b"page%04x" % gpa

    def test_punch_hole_removes_private_pages(self):
        """kvm_gmem_punch_hole(): exactly the pages of the range leave the TD,
        zeroed; the next access finds them pending (a fresh page to accept)."""
        self.m.punch_hole(self.gmem, 2 * PAGE, PAGE)
        self.assertEqual(self.m.classify(2 * PAGE)[0], "pending")
        self.assertEqual(self.private_content(2 * PAGE), bytes(8))
        for gpa in (PAGE, 3 * PAGE):                # the neighbours are untouched
            self.assertEqual(self.m.classify(gpa)[0], "retry")
            self.assertEqual(self.private_content(gpa), b"page%04x" % gpa)
        self.assertEqual(self.m.accept(2 * PAGE, 0), mem.ACCEPT_OK)

    def test_punch_hole_follows_the_binding_offset(self):
        """A slot bound at gmem offset 2 pages: file offset 3 pages is GPA 0x100000 + 1 page."""
        other = GuestMemfd(GMEM_FD + 1, 8 * PAGE, 0)
        self.m.add_gmem(other)
        self.m.set_region(1, abi.KVM_MEM_GUEST_MEMFD, 0x100000, 2 * PAGE, self.uspace.addr, other.fd, 2 * PAGE)
        self.private(0x100000, 2 * PAGE)
        self.m.accept(0x100000, 0)
        self.m.accept(0x101000, 0)
        self.m.punch_hole(other, 3 * PAGE, PAGE)
        self.assertEqual(self.m.classify(0x101000)[0], "pending")
        self.assertEqual(self.m.classify(0x100000)[0], "retry")
        self.assertEqual(self.m.classify(PAGE)[0], "retry", "another file's binding is not touched")

    def test_close_cuts_the_bindings(self):
        """kvm_gmem_release(): private faults on its slots fail from now on."""
        self.gmem.release()
        for gpa in (0, PAGE):
            self.assertEqual(self.m.classify(gpa), ("fault", gpa, True))
        self.assertEqual(self.m.accept(0, 0), mem.ACCEPT_INVALID)
        self.assertEqual(self.populate(0, bytes(PAGE)), errno.EFAULT)


class Accept(Base):
    """TDG.MEM.PAGE.ACCEPT (tdg_mem_page_accept.c)."""

    def setUp(self):
        super().setUp()
        self.gmem_slot()

    def test_pending_page_is_zeroed_and_mapped(self):
        self.private(PAGE)
        self.m.private_bytes(PAGE, 8)[:] = b"stale!!!"
        self.assertEqual(self.m.accept(PAGE, 0), mem.ACCEPT_OK)
        self.assertEqual(self.private_content(PAGE), bytes(8))
        self.assertEqual(self.m.classify(PAGE)[0], "retry")

    def test_already_accepted(self):
        self.private(PAGE)
        self.m.accept(PAGE, 0)
        self.m.private_bytes(PAGE, 8)[:] = b"guestdat"
        self.assertEqual(self.m.accept(PAGE, 0), mem.ACCEPT_ALREADY)
        self.assertEqual(self.private_content(PAGE), b"guestdat", "not zeroed again")

    def test_added_page_is_already_accepted(self):
        self.private(PAGE)
        self.populate(PAGE, bytes(PAGE))
        self.assertEqual(self.m.accept(PAGE, 0), mem.ACCEPT_ALREADY)

    def test_shared_page_cannot_be_accepted(self):
        """KVM cannot map a private page there: the caller reports a memory fault."""
        self.assertEqual(self.m.accept(PAGE, 0), mem.ACCEPT_INVALID)

    def test_no_memslot_cannot_be_accepted(self):
        self.private(0x100000)
        self.assertEqual(self.m.accept(0x100000, 0), mem.ACCEPT_INVALID)

    def test_memslot_end_edges(self):
        """The memslot's last page is its own; the page right after its end is
        in no memslot (kvm_gmem_get_pfn() has no slot there): INVALID."""
        last, after = SLOT_SIZE - PAGE, SLOT_SIZE
        self.private(last, 2 * PAGE)
        self.assertEqual(self.m.accept(last, 0), mem.ACCEPT_OK)
        self.assertEqual(self.m.accept(after, 0), mem.ACCEPT_INVALID)

    def test_2m_is_size_mismatch(self):
        """KVM maps private memory 4K only; only the first page of the range is faulted in."""
        self.private(0, PAGE)                       # pages 1..511 need not be private
        self.assertEqual(self.m.accept(0, 1), mem.ACCEPT_SIZE)

    def test_2m_accept_of_a_gpa_not_2m_aligned(self):
        """TDG.MEM.PAGE.ACCEPT at 2M of a GPA that is 4K- but not 2M-aligned
        is an invalid operand, checked before the S-EPT walk (which would
        answer SIZE_MISMATCH for a private page in a memslot)."""
        for gpa in (PAGE, 2 * PAGE, 3 * PAGE, SLOT_SIZE - PAGE):
            with self.subTest(gpa=hex(gpa)):
                self.private(gpa)
                self.assertEqual(self.m.accept(gpa, 1), mem.ACCEPT_INVALID)

    def test_2m_first_page_shared(self):
        self.private(PAGE, PAGE)
        self.assertEqual(self.m.accept(0, 1), mem.ACCEPT_INVALID)

    def test_held_store_lands_after_the_zeroing(self):
        self.private(PAGE)
        self.m.private_bytes(PAGE, PAGE)[:] = b"\xff" * PAGE
        self.m.hold_store(PAGE + 8, b"\xca\xfe")
        self.assertEqual(self.private_content(PAGE, 16), b"\xff" * 16, "held until accepted")
        self.assertEqual(self.m.accept(PAGE, 0), mem.ACCEPT_OK)
        self.assertEqual(self.private_content(PAGE, 16), bytes(8) + b"\xca\xfe" + bytes(6))
        self.assertEqual(self.m.held_stores, {})

    def test_held_store_dropped_when_converted_to_shared(self):
        self.private(PAGE)
        self.m.hold_store(PAGE + 8, b"\xca\xfe")
        self.shared(PAGE)
        self.private(PAGE)
        self.m.accept(PAGE, 0)
        self.assertEqual(self.private_content(PAGE, 16), bytes(16))


class Classify(Base):
    """What KVM-TDX does with an access the real VM found no mapping for (§3.3)."""

    def setUp(self):
        super().setUp()
        self.gmem_slot()

    def test_shared_gpa_without_memslot_is_ve(self):
        self.assertEqual(self.m.classify(0x10000000 | SHARED_BIT), ("ve", 0x10000000, False))

    def test_shared_access_to_private_gpa_without_memslot_is_shared_fault(self):
        """The attribute is compared before KVM looks for a memslot
        (kvm_mmu_faultin_pfn()): a PRIVATE GPA is a fault, not emulated MMIO."""
        self.private(0x10000000)
        self.assertEqual(self.m.classify((0x10000000 + 8) | SHARED_BIT), ("fault", 0x10000008, False))
        self.assertEqual(self.m.classify(0x10001000 | SHARED_BIT), ("ve", 0x10001000, False), "the next page")

    def test_shared_access_to_private_page_is_shared_fault(self):
        self.private(PAGE)
        self.assertEqual(self.m.classify((PAGE + 8) | SHARED_BIT), ("fault", PAGE + 8, False))

    def test_shared_access_to_shared_page_retries(self):
        self.assertEqual(self.m.classify(PAGE | SHARED_BIT), ("retry", PAGE, False))

    def test_private_access_without_memslot_is_private_fault(self):
        self.private(0x10000000)
        self.assertEqual(self.m.classify(0x10000000), ("fault", 0x10000000, True))

    def test_private_access_to_shared_page_is_private_fault(self):
        self.assertEqual(self.m.classify(PAGE), ("fault", PAGE, True))

    def test_private_access_to_non_gmem_slot_is_private_fault(self):
        self.m.set_region(1, 0, 0x100000, PAGE, self.uspace.addr, 0, 0)
        self.private(0x100000)
        self.assertEqual(self.m.classify(0x100000), ("fault", 0x100000, True))

    def test_private_access_to_pending_page(self):
        self.private(PAGE)
        self.assertEqual(self.m.classify(PAGE), ("pending", PAGE, True))

    def test_private_access_to_mapped_page_retries(self):
        self.private(PAGE)
        self.m.accept(PAGE, 0)
        self.assertEqual(self.m.classify(PAGE), ("retry", PAGE, True))


class Views(Base):
    """The real memslots: private view at GPA, shared view at GPA | shared bit (module docstring)."""

    def setUp(self):
        super().setUp()
        self.gmem_slot()
        self.private(0, 4 * PAGE)       # pages 0-3 private; 1 added, 2 accepted, 0 and 3 pending
        self.populate(PAGE, bytes(PAGE))
        self.m.accept(2 * PAGE, 0)
        self.m.sync()

    def test_private_view_maps_present_private_pages_to_model_memory(self):
        base = self.m.slot_of(0).private.addr
        self.assertIn((PAGE, 2 * PAGE, base + PAGE), self.host.mapped())

    def test_shared_view_maps_shared_pages_to_the_library_memory(self):
        self.assertIn((4 * PAGE | SHARED_BIT, SLOT_SIZE - 4 * PAGE, self.uspace.addr + 4 * PAGE),
                      self.host.mapped())

    def test_pending_and_mismatched_pages_are_not_mapped(self):
        self.assertEqual(len(self.host.mapped()), 2)
        for gpa, size, _ in self.host.mapped():
            gpa &= ~SHARED_BIT
            self.assertFalse(gpa <= 0 < gpa + size or gpa <= 3 * PAGE < gpa + size)

    def test_sync_only_when_changed(self):
        calls = self.host.calls
        self.m.sync()
        self.assertEqual(self.host.calls, calls)
        self.shared(PAGE)
        self.m.sync()
        self.assertGreater(self.host.calls, calls)
        self.assertNotIn((PAGE, 2 * PAGE, self.m.slot_of(0).private.addr + PAGE), self.host.mapped())


class PrivateVisibleFault(Base):
    faults = ("private-visible",)

    def test_private_view_is_the_library_memory(self):
        self.gmem_slot()
        self.private(PAGE)
        self.populate(PAGE, b"\x5e" * PAGE)
        self.m.sync()
        self.assertIn((PAGE, PAGE, self.uspace.addr + PAGE), self.host.mapped())
        self.assertEqual(self.uspace.read(PAGE, 8), b"\x5e" * 8)


class GfnSets(unittest.TestCase):
    """memory._members(): the members of a set (or dict) of GFNs within
    [first, end), sorted, by either of its two ways (a set smaller than the
    range, or not), each edge with a member just outside it."""

    def test_members_at_the_range_edges(self):
        gfns = {3, 9, 10, 11, 17, 20, 21, 40}
        for first, end, want in ((10, 21, [10, 11, 17, 20]), (9, 22, [9, 10, 11, 17, 20, 21]),
                                 (12, 17, []), (0, 100, sorted(gfns)), (40, 41, [40]), (41, 41, [])):
            for container in (gfns, dict.fromkeys(gfns, "mapped")):
                with self.subTest(first=first, end=end, kind=type(container).__name__):
                    self.assertEqual(mem._members(container, first, end), want)

    def test_both_ways_agree(self):
        """A set larger than the range and one smaller give the same answer."""
        big = set(range(0, 5000, 3)) | {4999}
        for first, end in ((0, 10), (2997, 3004), (4990, 5000), (4999, 5001)):
            with self.subTest(first=first, end=end):
                self.assertEqual(mem._members(big, first, end), [g for g in range(first, end) if g in big])
        small = {7, 1 << 40, (1 << 40) + 1}
        self.assertEqual(mem._members(small, 8, (1 << 40) + 1), [1 << 40])


class VeInformation(unittest.TestCase):
    """What the TDX module records for TDG.VP.VEINFO.GET when the run loop turns
    an access or an instruction into #VE (emu/system.py), with the injection
    stubbed out: EPT violation (48) with the GPA as the guest used it - a
    shared GPA keeps the shared bit (the Linux guest hands it to
    TDG.VP.VMCALL<#VE.RequestMMIO> as is) - and bit 0/1 of the qualification
    for a read/write; port I/O and HLT report their VMX exit reasons."""

    def setUp(self):
        from types import SimpleNamespace
        from tdx.emu import EmuSystem
        from tdx.emu.state import TdVcpu, TdVm
        self.system = EmuSystem()
        self.injected = []
        self.system._inject = lambda vfd, vector: self.injected.append(vector)
        self.system._cancel_mmio_read = lambda vfd: None
        self.vfd = SimpleNamespace(vmfd=SimpleNamespace(vm=TdVm(), dead=False), vcpu=TdVcpu(0))

    def test_shared_gpa_without_memslot(self):
        for write, qual in ((False, 1), (True, 2)):
            with self.subTest(write=write):
                self.system._ept_violation_ve(self.vfd, None, "ve", 0x10001008, SHARED_BIT | 0x10001008,
                                              write, b"\0" * 8 if write else None)
                self.assertEqual(tuple(self.vfd.vcpu.ve_info), (48, qual, 0, SHARED_BIT | 0x10001008, 0))
        self.assertEqual(self.injected, [20, 20])

    def test_instructions(self):
        for reason in (30, 12):
            with self.subTest(reason=reason):
                self.system._ve_instruction(self.vfd, reason)
                self.assertEqual(tuple(self.vfd.vcpu.ve_info)[0], reason)
        self.assertEqual(self.injected, [20, 20])


@requires_kvm
class BothTdcallPaths(unittest.TestCase):
    """The memory cases through either way TDCALL reaches the model: a TDCALL
    that does not retire (ACCEPT -> KVM_EXIT_MEMORY_FAULT) runs again on the
    #UD doorbell path too (emu/system.py _tdcall)."""

    def run_module(self, trap):
        p = subprocess.run([sys.executable, "-m", "tdx.x86_64.private_mem_access"],
                           env=env(TDX_PLATFORM="emulated", TDX_EMU_TDCALL_TRAP=trap),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                           timeout=300, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:])
        self.assertTrue(re.search(r"^ok \d+ private_mem_access.test_accept_shared_page$", p.stdout, re.M))

    def test_trap_exit(self):
        self.run_module("exit")

    def test_ud_doorbell(self):
        self.run_module("ud")


if __name__ == "__main__":
    unittest.main()
