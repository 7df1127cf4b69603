# SPDX-License-Identifier: GPL-2.0-only
"""guest_memfd: the file behind a TD's private memory, through the library's System.

Covers docs/kvm-tdx-uapi.md §3.1 (KVM_CREATE_GUEST_MEMFD, its flags and
size, memslot binding) on a TD VM, with what the upstream
guest_memfd_test.c checks on every VM type (flags at every bit, sizes, two
files, read/write, mmap without and with GUEST_MEMFD_FLAG_MMAP, SIGBUS,
the fallocate and PUNCH_HOLE tables), and what only a TD can show: a hole
punched in private memory the guest is using (private_mem_conversions_test's
punch-hole case, TD form: the page must be accepted again), a shared page
untouched by a hole in the guest_memfd, and the guest_memfd used after its
VM fd is closed.  In-place conversion (a guest_memfd that holds the shared
pages too, the Intel tree's tdx_gmem_private_and_shared_test.c) runs only
where the kernel offers it for a TD.

Every file syscall goes through self.kvm.system, so the same cases run on
TDX hosts and on the emulated platform (whose guest_memfd is the host's or
the model's, emu/gmem.py).  The kernel's rules: virt/kvm/guest_memfd.c
(kvm_gmem_create, __kvm_gmem_create, kvm_gmem_fallocate, kvm_gmem_allocate,
kvm_gmem_punch_hole, kvm_gmem_mmap, kvm_gmem_fault_user_mapping,
kvm_gmem_bind) and the VFS (vfs_read/vfs_write, ksys_pread64, vfs_fallocate,
do_mmap).
"""

import errno
import faulthandler
import os
import signal
import stat
import warnings

from tdx.lib import abi, boot
from tdx.lib.kvm import KvmError
from tdx.lib.system import (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_KEEP_SIZE,
                            FALLOC_FL_PUNCH_HOLE, FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_WRITE_ZEROES,
                            FALLOC_FL_ZERO_RANGE, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_READ,
                            PROT_WRITE, buffer)
from tdx.lib.testcase import TdxTestCase, main

PAGE = 4096
PRIVATE = abi.KVM_MEMORY_ATTRIBUTE_PRIVATE
KEEP, PUNCH = FALLOC_FL_KEEP_SIZE, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
MMAP = abi.GUEST_MEMFD_FLAG_MMAP
INIT_SHARED = abi.GUEST_MEMFD_FLAG_INIT_SHARED
WINDOW_SLOT = 12                        # the extra memslot at boot.MMIO_GPA
FILE_PAGES = 4                          # the size guest_memfd_test.c uses

# Patterns; guest_memfd.c has the same values.
HOST_VALUE = 0xABCDABCDABCDABCD

IN_PLACE = ("in-place guest_memfd conversion for a TD (KVM_CAP_GUEST_MEMFD_FLAGS of a TD VM "
            "without GUEST_MEMFD_FLAG_INIT_SHARED)")


def qwords(value, n=PAGE // 8):
    return value.to_bytes(8, "little") * n


def termination_signal(fn):
    """Run fn() in a child process; the signal that ended it (0: it returned)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)     # fork with the watchdog thread running
        pid = os.fork()
    if pid == 0:
        try:
            faulthandler.disable()          # the signal is the expected outcome, not a crash to report
            fn()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0


class GuestMemfd(TdxTestCase):
    guest = "guest_memfd"

    # -- helpers --

    def td_vm(self):
        """A fresh TD VM (created, not initialised): what guest_memfd_test.c's
        barebones VM of type KVM_X86_TDX_VM is."""
        return self.td_builder("guest_done").create_vm()

    def supported_flags(self, vm):
        flags = vm.check_extension(abi.KVM_CAP_GUEST_MEMFD_FLAGS)
        self.assertEqual(flags, MMAP if self.kernel_has("gmem-mmap-flag") else 0,
                         "KVM_CAP_GUEST_MEMFD_FLAGS of a TD")
        return flags

    def assertFails(self, err, fn, *args):
        with self.assertRaises(OSError) as ctx:
            fn(*args)
        self.assertEqual(ctx.exception.errno, err, "%s: %s" % (getattr(fn, "__name__", fn), ctx.exception))

    def td_with_window(self, entry, pages=1, private=True, owned=True):
        """A TD running `entry` with a guest_memfd memslot of `pages` pages at
        MMIO_GPA (private at MMIO_PRIVATE_GVA, shared at MMIO_GVA); returns
        (builder, guest_memfd fd, the memslot's userspace memory).  With
        `owned` false the guest_memfd outlives the VM: the caller closes it."""
        b = self.td_builder(entry)
        b.create_vm()
        b.init_vm()
        b.add_vcpus()
        b.add_memory()
        gmem = b.vm.create_guest_memfd(pages * PAGE, owned=owned)
        mem = b.vm.alloc(pages * PAGE)
        b.vm.set_user_memory_region2(WINDOW_SLOT, abi.KVM_MEM_GUEST_MEMFD, boot.MMIO_GPA, pages * PAGE,
                                     mem.addr, gmem, 0)
        if private:
            b.vm.set_memory_attributes(boot.MMIO_GPA, pages * PAGE, PRIVATE)
        b.finalize()
        return b, gmem, mem

    # -- creation: flags and size (guest_memfd_test.c) --

    def test_flags_every_bit(self):
        """KVM_CREATE_GUEST_MEMFD with each flag bit 0..63 alone on a TD VM:
        accepted iff the bit is in the TD's KVM_CAP_GUEST_MEMFD_FLAGS, else EINVAL
        (kvm_gmem_create(): flags before the size)."""
        vm = self.td_vm()
        supported = self.supported_flags(vm)
        for i in range(64):
            with self.subTest(bit=i):
                if 1 << i & supported:
                    self.kvm.system.close(vm.create_guest_memfd(PAGE, 1 << i, owned=False))
                else:
                    self.assertErrno(errno.EINVAL, vm.create_guest_memfd, PAGE, 1 << i, owned=False)

    def test_size_must_be_whole_pages(self):
        """Sizes 1..4095, 0 and 4097..8191 step 4095: EINVAL with every flag set the
        TD takes; 4096 and 8192, the edges either side, are accepted."""
        vm = self.td_vm()
        supported = self.supported_flags(vm)
        for flags in sorted({0, supported}):
            with self.subTest(flags=flags):
                for size in list(range(0, PAGE)) + [PAGE + 1, 2 * PAGE - 1]:
                    self.assertErrno(errno.EINVAL, vm.create_guest_memfd, size, flags, owned=False)
                for size in (PAGE, 2 * PAGE):
                    self.kvm.system.close(vm.create_guest_memfd(size, flags, owned=False))

    def test_size_upper_edge(self):
        """The size is a loff_t (kvm_gmem_create(): size <= 0 refused): the
        largest whole-page size, 2^63 - 4096, is accepted and fstat() reports
        it; 2^63, negative as a loff_t, is EINVAL, as is 2^64 - 4096.  No
        memory is allocated for the size alone."""
        vm = self.td_vm()
        largest = (1 << 63) - PAGE
        fd = vm.create_guest_memfd(largest, owned=False)
        try:
            self.assertEqual(self.kvm.system.fstat(fd).st_size, largest)
        finally:
            self.kvm.system.close(fd)
        for size in (1 << 63, (1 << 64) - PAGE):
            with self.subTest(size=hex(size)):
                self.assertErrno(errno.EINVAL, vm.create_guest_memfd, size, owned=False)

    def test_two_files_fstat(self):
        """Two guest_memfds of 1 and 2 pages: fstat gives st_size 4096 and 8192,
        the first unchanged after the second exists, different inode numbers,
        regular files with st_blksize 4096, mode 0600, no blocks allocated."""
        vm = self.td_vm()
        system = self.kvm.system
        first = vm.create_guest_memfd(PAGE)
        st1 = system.fstat(first)
        self.assertEqual((st1.st_size, st1.st_blksize), (PAGE, PAGE))
        second = vm.create_guest_memfd(2 * PAGE)
        st2 = system.fstat(second)
        self.assertEqual((st2.st_size, st2.st_blksize), (2 * PAGE, PAGE))
        again = system.fstat(first)
        self.assertEqual(again.st_size, PAGE, "the first file's size after the second was created")
        self.assertNotEqual(again.st_ino, st2.st_ino, "one inode per guest_memfd")
        self.assertTrue(stat.S_ISREG(st1.st_mode) and stat.S_ISREG(st2.st_mode), "regular files")
        # alloc_anon_inode(): S_IRUSR | S_IWUSR; nothing allocated yet: no blocks
        self.assertEqual((stat.S_IMODE(st1.st_mode), st1.st_blocks), (0o600, 0), "permissions, st_blocks")

    # -- the file API --

    def test_read_write_refused(self):
        """A guest_memfd has no read or write operation: read() and write() fail
        EINVAL (vfs_read/vfs_write: not FMODE_CAN_READ/WRITE), pread() and
        pwrite() ESPIPE (not FMODE_PREAD/PWRITE); the size stays."""
        vm = self.td_vm()
        system = self.kvm.system
        gmem = vm.create_guest_memfd(FILE_PAGES * PAGE)
        self.assertFails(errno.EINVAL, system.read, gmem, 64)
        self.assertFails(errno.EINVAL, system.write, gmem, bytes(64))
        self.assertFails(errno.ESPIPE, system.pread, gmem, 64, 0)
        self.assertFails(errno.ESPIPE, system.pwrite, gmem, bytes(64), 0)
        self.assertEqual(system.fstat(gmem).st_size, FILE_PAGES * PAGE)

    def test_mmap_refused_without_mmap_flag(self):
        """Without GUEST_MEMFD_FLAG_MMAP, mmap() of one page and of the whole
        file fail ENODEV, read-only or read-write (kvm_gmem_mmap(); no mmap
        operation at all before 6.18)."""
        vm = self.td_vm()
        system = self.kvm.system
        gmem = vm.create_guest_memfd(FILE_PAGES * PAGE)
        for length in (PAGE, FILE_PAGES * PAGE):
            for prot in (PROT_READ, PROT_READ | PROT_WRITE):
                with self.subTest(length=length, prot=prot):
                    self.assertFails(errno.ENODEV, system.mmap, length, prot, MAP_SHARED, gmem, 0)

    def mmap_gmem(self):
        """A TD's MMAP guest_memfd of FILE_PAGES pages mapped shared, read-write;
        None where the kernel gives a TD no MMAP flag (then the flag is EINVAL)."""
        vm = self.td_vm()
        if not self.supported_flags(vm) & MMAP:
            self.assertErrno(errno.EINVAL, vm.create_guest_memfd, PAGE, MMAP)
            return None
        gmem = vm.create_guest_memfd(FILE_PAGES * PAGE, MMAP)
        system = self.kvm.system
        addr = system.mmap(FILE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, gmem, 0)
        self.addCleanup(system.munmap, addr, FILE_PAGES * PAGE)
        return addr

    def test_mmap_flag_store_sigbus(self):
        """A TD's MMAP guest_memfd maps (6.18+, generation row gmem-mmap-flag), but
        its pages are private (no INIT_SHARED): a store through the mapping, to
        the first and the last page, gets SIGBUS (kvm_gmem_fault_user_mapping())."""
        addr = self.mmap_gmem()
        if addr is None:
            return
        for offset in (0, FILE_PAGES * PAGE - 8):
            with self.subTest(offset=offset):
                got = termination_signal(lambda: buffer(addr + offset, 8).__setitem__(slice(0, 8), b"\xa5" * 8))
                self.assertEqual(got, signal.SIGBUS, "store killed the child with signal %d" % got)

    def test_mmap_flag_load_sigbus(self):
        """A load of byte 0 through a TD's MMAP guest_memfd mapping: SIGBUS."""
        addr = self.mmap_gmem()
        if addr is None:
            return
        got = termination_signal(lambda: bytes(buffer(addr, 1)))
        self.assertEqual(got, signal.SIGBUS, "load killed the child with signal %d" % got)

    def test_mmap_flag_refusals(self):
        """With GUEST_MEMFD_FLAG_MMAP: MAP_PRIVATE fails EINVAL (no copy-on-write of
        guest memory, kvm_gmem_mmap()) and PROT_EXEC EPERM (the guest_memfd mount
        is noexec); MAP_SHARED read-write of the whole file is accepted."""
        vm = self.td_vm()
        if not self.supported_flags(vm) & MMAP:
            self.assertErrno(errno.EINVAL, vm.create_guest_memfd, PAGE, MMAP)
            return
        system = self.kvm.system
        gmem = vm.create_guest_memfd(FILE_PAGES * PAGE, MMAP)
        size = FILE_PAGES * PAGE
        self.assertFails(errno.EINVAL, system.mmap, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, gmem, 0)
        self.assertFails(errno.EPERM, system.mmap, size, PROT_READ | PROT_EXEC, MAP_SHARED, gmem, 0)
        system.munmap(system.mmap(size, PROT_READ | PROT_WRITE, MAP_SHARED, gmem, 0), size)

    # -- fallocate (guest_memfd_test.c test_fallocate, test_invalid_punch_hole) --

    def test_fallocate_rules(self):
        """fallocate on a 4-page guest_memfd, each rule at its edge: allocating
        needs KEEP_SIZE and stays inside the file (the last page is accepted,
        at or past the end EINVAL), punching may go past the end; offset and
        length must be page aligned (EINVAL); a punched range can be allocated
        again."""
        vm = self.td_vm()
        system = self.kvm.system
        size = FILE_PAGES * PAGE
        gmem = vm.create_guest_memfd(size)
        table = [
            (KEEP, 0, size, 0),
            (KEEP, size - PAGE, PAGE, 0),
            (KEEP, size - PAGE, 2 * PAGE, errno.EINVAL),
            (KEEP, size, PAGE, errno.EINVAL),
            (KEEP, size + PAGE, PAGE, errno.EINVAL),
            (PUNCH, PAGE - 1, PAGE, errno.EINVAL),
            (PUNCH, size, PAGE, 0),
            (PUNCH, size + PAGE, PAGE, 0),
            (PUNCH, PAGE, PAGE - 1, errno.EINVAL),
            (PUNCH, PAGE, PAGE, 0),
            (KEEP, PAGE, PAGE, 0),
        ]
        for mode, offset, length, err in table:
            with self.subTest(mode=mode, offset=offset, length=length):
                if err:
                    self.assertFails(err, system.fallocate, gmem, mode, offset, length)
                else:
                    system.fallocate(gmem, mode, offset, length)
        self.assertEqual(system.fstat(gmem).st_size, size, "KEEP_SIZE: the size never changes")

    def test_fallocate_modes(self):
        """Only KEEP_SIZE and KEEP_SIZE | PUNCH_HOLE: plain allocation (no
        KEEP_SIZE), ZERO_RANGE and COLLAPSE_RANGE fail EOPNOTSUPP, PUNCH_HOLE
        without KEEP_SIZE too (vfs_fallocate); a length of 0 or a negative offset
        is EINVAL before the mode is looked at by guest_memfd."""
        vm = self.td_vm()
        system = self.kvm.system
        gmem = vm.create_guest_memfd(FILE_PAGES * PAGE)
        for mode in (0, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE | KEEP, FALLOC_FL_COLLAPSE_RANGE):
            with self.subTest(mode=mode):
                self.assertFails(errno.EOPNOTSUPP, system.fallocate, gmem, mode, 0, PAGE)
        self.assertFails(errno.EINVAL, system.fallocate, gmem, KEEP, 0, 0)
        self.assertFails(errno.EINVAL, system.fallocate, gmem, KEEP, -PAGE, PAGE)
        system.fallocate(gmem, KEEP, 0, PAGE)

    def test_fallocate_vfs_checks_first(self):
        """vfs_fallocate() checks before guest_memfd does, each at its edge:
        every operation the VFS knows (ZERO_RANGE and UNSHARE_RANGE with
        KEEP_SIZE, COLLAPSE_RANGE, INSERT_RANGE and WRITE_ZEROES without) over a
        range past s_maxbytes (MAX_LFS_FILESIZE, 2^63 - 1) is EFBIG, the same
        modes over one page EOPNOTSUPP (kvm_gmem_fallocate()); PUNCH_HOLE ending
        exactly at s_maxbytes passes the VFS and is EINVAL for not being page
        aligned; without KEEP_SIZE an offset of -1 is EINVAL (the VFS's first
        check) and a length of 1 EOPNOTSUPP (guest_memfd's: the VFS took it)."""
        vm = self.td_vm()
        system = self.kvm.system
        gmem = vm.create_guest_memfd(FILE_PAGES * PAGE)
        for mode in (FALLOC_FL_ZERO_RANGE | KEEP, FALLOC_FL_UNSHARE_RANGE | KEEP, FALLOC_FL_COLLAPSE_RANGE,
                     FALLOC_FL_INSERT_RANGE, FALLOC_FL_WRITE_ZEROES):
            with self.subTest(mode=hex(mode)):
                self.assertFails(errno.EFBIG, system.fallocate, gmem, mode, 1 << 62, 1 << 62)
                self.assertFails(errno.EOPNOTSUPP, system.fallocate, gmem, mode, 0, PAGE)
        self.assertFails(errno.EINVAL, system.fallocate, gmem, PUNCH, PAGE, (1 << 63) - 1 - PAGE)
        self.assertFails(errno.EINVAL, system.fallocate, gmem, 0, -1, PAGE)
        self.assertFails(errno.EOPNOTSUPP, system.fallocate, gmem, 0, 0, 1)

    def test_punch_hole_unaligned(self):
        """PUNCH_HOLE with an offset or a length that is not a whole number of
        pages (the ten pairs of guest_memfd_test.c): EINVAL each."""
        vm = self.td_vm()
        system = self.kvm.system
        gmem = vm.create_guest_memfd(FILE_PAGES * PAGE)
        pairs = [(0, 1), (0, PAGE - 1), (0, PAGE + 1), (1, 1), (1, PAGE - 1), (1, PAGE), (1, PAGE + 1),
                 (PAGE, 1), (PAGE, PAGE - 1), (PAGE, PAGE + 1)]
        for offset, length in pairs:
            with self.subTest(offset=offset, length=length):
                self.assertFails(errno.EINVAL, system.fallocate, gmem, PUNCH, offset, length)

    # -- what a TD sees of its guest_memfd --

    def test_punch_hole_private_page_seen_by_guest(self):
        """The guest accepts and writes two private pages; the host punches a
        hole over the first in the guest_memfd: the private page leaves the TD
        (kvm_gmem_punch_hole(): invalidation, S-EPT removal), so the guest's
        next load finds a new pending page (#VE, accept, 0) and its data is
        gone; the second page keeps its data."""
        b, gmem, _ = self.td_with_window("guest_punched_page", pages=2)
        vcpu = b.gvm.vcpus[0]
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.kvm.system.fallocate(gmem, PUNCH, 0, PAGE)
        vcpu.run_until_done()

    def test_allocate_over_private_pages_in_use(self):
        """fallocate(KEEP_SIZE) without PUNCH_HOLE over two private pages the
        guest accepted and wrote: nothing leaves the TD (kvm_gmem_fallocate()
        only allocates; no invalidation), the guest reads both values back
        without a #VE."""
        b, gmem, _ = self.td_with_window("guest_allocated_pages_kept", pages=2)
        vcpu = b.gvm.vcpus[0]
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.kvm.system.fallocate(gmem, KEEP, 0, 2 * PAGE)
        vcpu.run_until_done()

    def test_punch_hole_whole_file_then_one_page(self):
        """private_mem_conversions_test's punch-hole form on a TD: with four
        private pages in use, a hole over the whole file makes every page pending
        again (four #VEs, each 0); a hole over page 2 alone afterwards, that page
        only."""
        b, gmem, _ = self.td_with_window("guest_punched_file", pages=4)
        vcpu = b.gvm.vcpus[0]
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.kvm.system.fallocate(gmem, PUNCH, 0, 4 * PAGE)
        self.assertEqual(vcpu.run_expect_sync(), 2)
        self.kvm.system.fallocate(gmem, PUNCH, 2 * PAGE, PAGE)
        vcpu.run_until_done()

    def test_private_access_after_guest_memfd_closed(self):
        """The guest_memfd behind a memslot is closed while the TD runs (the
        memslot holds no reference to it): its private mappings are zapped and
        KVM can no longer fault a page in (kvm_gmem_get_pfn(): no file): the
        guest's next load fails KVM_RUN with EFAULT, KVM_EXIT_MEMORY_FAULT,
        flags PRIVATE, the page, 4096 -- again at the next KVM_RUN."""
        b, gmem, _ = self.td_with_window("guest_punched_page", pages=2, owned=False)
        vcpu = b.gvm.vcpus[0]
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.kvm.system.close(gmem)
        for _ in range(2):
            with self.assertRaises(KvmError) as ctx:
                vcpu.run_exit()
            self.assertEqual(ctx.exception.errno, errno.EFAULT)
            run = vcpu.kvm_run
            self.assertEqual(run.exit_reason, abi.KVM_EXIT_MEMORY_FAULT)
            mf = run.memory_fault
            self.assertEqual((mf.flags, mf.gpa, mf.size), (abi.KVM_MEMORY_EXIT_FLAG_PRIVATE, boot.MMIO_GPA, PAGE))

    def test_ftruncate_refused(self):
        """A guest_memfd's size is fixed: ftruncate() to a larger, a smaller and the
        same size fails EINVAL (kvm_gmem_setattr()), the size stays."""
        vm = self.td_vm()
        system = self.kvm.system
        gmem = vm.create_guest_memfd(FILE_PAGES * PAGE)
        for length in (FILE_PAGES * PAGE + PAGE, PAGE, FILE_PAGES * PAGE):
            with self.subTest(length=length):
                self.assertFails(errno.EINVAL, system.ftruncate, gmem, length)
        self.assertEqual(system.fstat(gmem).st_size, FILE_PAGES * PAGE)

    def test_punch_hole_leaves_shared_page(self):
        """A shared page of a guest_memfd memslot lives in the memslot's
        userspace memory: a hole punched over its guest_memfd range leaves what
        the guest reads through the shared alias (the host's data) as it was."""
        b, gmem, mem = self.td_with_window("guest_shared_window_read", private=False)
        mem.write(0, qwords(HOST_VALUE))
        vcpu = b.gvm.vcpus[0]
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.kvm.system.fallocate(gmem, PUNCH, 0, PAGE)
        vcpu.run_until_done()
        self.assertEqual(mem.read(0, PAGE), qwords(HOST_VALUE))

    def test_guest_memfd_outlives_vm_fd(self):
        """A guest_memfd the TD used stays usable after the VM fd is closed (it
        holds a reference to the VM): fallocate(PUNCH_HOLE | KEEP_SIZE) and
        fallocate(KEEP_SIZE) over the whole file succeed, the size stays."""
        size = 2 * PAGE
        b, gmem, _ = self.td_with_window("guest_use_window", pages=2, owned=False)
        self.addCleanup(self.kvm.system.close, gmem)
        b.gvm.vcpus[0].run_until_done()
        b.gvm.close()
        system = self.kvm.system
        system.fallocate(gmem, PUNCH, 0, size)
        system.fallocate(gmem, KEEP, 0, size)
        self.assertEqual(system.fstat(gmem).st_size, size)

    def test_binding_edges(self):
        """Binding a guest_memfd to a memslot (kvm_gmem_bind()): a range that ends
        at the file's end is accepted, one page further EINVAL; an offset that is
        not page aligned EINVAL; a guest_memfd of another TD EINVAL; a file that
        is not a guest_memfd EINVAL; a closed fd EBADF."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        b.init_vm()
        size = FILE_PAGES * PAGE
        gmem = vm.create_guest_memfd(size)
        other = self.td_builder("guest_done").create_vm().create_guest_memfd(size)
        mem = vm.alloc(2 * PAGE)
        region = vm.set_user_memory_region2
        flags, gpa = abi.KVM_MEM_GUEST_MEMFD, boot.MMIO_GPA
        self.assertErrno(errno.EINVAL, region, WINDOW_SLOT, flags, gpa, 2 * PAGE, mem.addr, gmem, size - PAGE)
        self.assertErrno(errno.EINVAL, region, WINDOW_SLOT, flags, gpa, 2 * PAGE, mem.addr, gmem, PAGE + 8)
        self.assertErrno(errno.EINVAL, region, WINDOW_SLOT, flags, gpa, 2 * PAGE, mem.addr, other, 0)
        not_gmem = os.memfd_create("not-guest-memfd", os.MFD_CLOEXEC)
        self.addCleanup(os.close, not_gmem)
        self.assertErrno(errno.EINVAL, region, WINDOW_SLOT, flags, gpa, 2 * PAGE, mem.addr, not_gmem, 0)
        closed = os.dup(not_gmem)
        os.close(closed)
        self.assertErrno(errno.EBADF, region, WINDOW_SLOT, flags, gpa, 2 * PAGE, mem.addr, closed, 0)
        region(WINDOW_SLOT, flags, gpa, 2 * PAGE, mem.addr, gmem, size - 2 * PAGE)

    # -- in-place conversion, where a kernel offers it for a TD --

    def in_place_td(self, entry):
        """A TD whose window memslot is backed by one MMAP | INIT_SHARED
        guest_memfd for both views, its userspace memory the guest_memfd's own
        mapping; (builder, the mapping's address)."""
        vm = self.td_vm()
        self.require_kernel_offers(vm.check_extension(abi.KVM_CAP_GUEST_MEMFD_FLAGS) & INIT_SHARED, IN_PLACE)
        vm.close()
        b = self.td_builder(entry)
        b.create_vm()
        b.init_vm()
        b.add_vcpus()
        b.add_memory()
        gmem = b.vm.create_guest_memfd(PAGE, MMAP | INIT_SHARED)
        system = self.kvm.system
        addr = system.mmap(PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, gmem, 0)
        self.addCleanup(system.munmap, addr, PAGE)
        b.vm.set_user_memory_region2(WINDOW_SLOT, abi.KVM_MEM_GUEST_MEMFD, boot.MMIO_GPA, PAGE, addr, gmem, 0)
        return b, addr

    def test_in_place_private_page_host_store_sigbus(self):
        """In place: once the page is private, a host store through the
        guest_memfd mapping gets SIGBUS."""
        b, addr = self.in_place_td("guest_use_window")
        b.vm.set_memory_attributes(boot.MMIO_GPA, PAGE, PRIVATE)
        b.finalize()
        b.gvm.vcpus[0].run_until_done()
        got = termination_signal(lambda: buffer(addr, 8).__setitem__(slice(0, 8), b"\xa5" * 8))
        self.assertEqual(got, signal.SIGBUS, "store killed the child with signal %d" % got)

    def test_in_place_shared_page_host_data_seen(self):
        """In place: a fresh shared page reads 0 through the host's mapping; what
        the host writes there is what the guest reads through its shared alias,
        and the guest's store shows in the mapping."""
        b, addr = self.in_place_td("guest_in_place_read_shared")
        b.finalize()
        view = buffer(addr, PAGE)
        self.assertEqual(bytes(view), bytes(PAGE), "a fresh shared page")
        view[8:16] = HOST_VALUE.to_bytes(8, "little")
        b.gvm.vcpus[0].run_until_done()
        self.assertEqual(bytes(view[16:24]), (0xB2B2B2B2B2B2B2B2).to_bytes(8, "little"))

    def test_in_place_private_to_shared_reads_zero(self):
        """In place: a private page with guest data made shared by MapGPA reads 0
        through the host's mapping and through the guest's shared alias."""
        b, addr = self.in_place_td("guest_in_place_private_to_shared")
        b.vm.set_memory_attributes(boot.MMIO_GPA, PAGE, PRIVATE)
        b.finalize()
        vcpu = b.gvm.vcpus[0]
        run = vcpu.run_expect(abi.KVM_EXIT_HYPERCALL)
        self.assertEqual((run.hypercall.args[0], run.hypercall.args[1]), (boot.MMIO_GPA, 1))
        b.vm.set_memory_attributes(boot.MMIO_GPA, PAGE, 0)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.assertEqual(bytes(buffer(addr, PAGE)), bytes(PAGE), "host view after the conversion")
        vcpu.run_until_done()


if __name__ == "__main__":
    main()
