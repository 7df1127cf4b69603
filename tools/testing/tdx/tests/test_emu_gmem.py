# SPDX-License-Identifier: GPL-2.0-only
"""A TD's guest_memfd on the emulated platform: the file API of
virt/kvm/guest_memfd.c and fs/open.c, on both of the model's paths.

ModelledGmem runs everywhere (the model's own guest_memfd, emu/gmem.py);
BorrowedGmem runs the same expectations against the host's guest_memfd
where the host has one, so the model is checked against the kernel it
stands in for.
"""

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
import unittest

from tdx.emu import EmuSystem
from tdx.lib import abi
from tdx.lib.kvm import Kvm, KvmUnavailable
from tdx.lib.system import (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_KEEP_SIZE,
                            FALLOC_FL_PUNCH_HOLE, FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_WRITE_ZEROES,
                            FALLOC_FL_ZERO_RANGE, HostSystem, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE)

PAGE = 4096
SIZE = 4 * PAGE
PROT_EXEC = 0x4
KEEP, PUNCH = FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE

# (mode, offset, length, errno or 0): vfs_fallocate() then kvm_gmem_fallocate().
FALLOCATE = (
    (KEEP, 0, PAGE, 0),
    (KEEP, SIZE - PAGE, PAGE, 0),                       # last page: last accepted
    (KEEP, SIZE, PAGE, errno.EINVAL),                   # first refused: past the end
    (KEEP, 0, SIZE + PAGE, errno.EINVAL),
    (KEEP | PUNCH, 0, PAGE, 0),
    (KEEP | PUNCH, SIZE, PAGE, 0),                      # a hole may lie past the end
    (KEEP | PUNCH, 0, SIZE, 0),
    (0, 0, PAGE, errno.EOPNOTSUPP),                     # allocate without KEEP_SIZE
    (PUNCH, 0, PAGE, errno.EOPNOTSUPP),                 # vfs: PUNCH_HOLE needs KEEP_SIZE
    (KEEP, 0x800, PAGE, errno.EINVAL),                  # offset not page aligned
    (KEEP, 0, 0x800, errno.EINVAL),                     # length not page aligned
    (KEEP | PUNCH, PAGE + 1, PAGE, errno.EINVAL),
    (KEEP, 0, 0, errno.EINVAL),                         # vfs: length <= 0
    (KEEP, -PAGE, PAGE, errno.EINVAL),                  # vfs: offset < 0
    (KEEP | FALLOC_FL_ZERO_RANGE, 0, PAGE, errno.EOPNOTSUPP),
    (KEEP | FALLOC_FL_UNSHARE_RANGE, 0, PAGE, errno.EOPNOTSUPP),
    (FALLOC_FL_ZERO_RANGE, 0, PAGE, errno.EOPNOTSUPP),
    (FALLOC_FL_COLLAPSE_RANGE, 0, PAGE, errno.EOPNOTSUPP),
    (KEEP | FALLOC_FL_COLLAPSE_RANGE, 0, PAGE, errno.EOPNOTSUPP),
    (FALLOC_FL_INSERT_RANGE, 0, PAGE, errno.EOPNOTSUPP),
    (FALLOC_FL_WRITE_ZEROES, 0, PAGE, errno.EOPNOTSUPP),
    (KEEP | PUNCH | FALLOC_FL_ZERO_RANGE, 0, PAGE, errno.EOPNOTSUPP),   # modes are exclusive
    (KEEP | 0x100, 0, PAGE, errno.EOPNOTSUPP),          # unknown mode bit
    (KEEP, (1 << 62), (1 << 62), errno.EFBIG),          # past s_maxbytes
)

SIGBUS_CHILD = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, %r)
    from tdx.emu import EmuSystem
    from tdx.lib import abi
    from tdx.lib.kvm import Kvm
    from tdx.lib.system import buffer
    system = EmuSystem(host_mode=%r)
    vm = Kvm(system).create_vm(abi.KVM_X86_TDX_VM)
    fd = vm.create_guest_memfd(%d, abi.GUEST_MEMFD_FLAG_MMAP)
    addr = system.mmap(%d, 3, 1, fd, 0)
    print("mapped", flush=True)
    buffer(addr, 1)[0]
    print("read", flush=True)
""")


class ModelledGmem(unittest.TestCase):
    mode = "baseline"               # the model's guest_memfd whatever the host has

    def setUp(self):
        self.system = EmuSystem(host_mode=self.mode)
        try:
            self.kvm = Kvm(self.system)
        except KvmUnavailable as e:
            self.skipTest("no usable /dev/kvm")
        self.addCleanup(self.kvm.close)
        self.vm = self.kvm.create_vm(abi.KVM_X86_TDX_VM)
        self.addCleanup(self.vm.close)

    def gmem(self, flags=0):
        fd = self.vm.create_guest_memfd(SIZE, flags)
        self.assertEqual(self.system.gmem_info(fd)[0], self.mode == "auto")
        return fd

    def assertErrno(self, err, fn, *args):
        with self.assertRaises(OSError) as ctx:
            fn(*args)
        self.assertEqual(ctx.exception.errno, err, "%s%r" % (fn.__name__, args))

    def test_read_write(self):
        fd = self.gmem()
        s = self.system
        self.assertErrno(errno.EINVAL, s.read, fd, PAGE)
        self.assertErrno(errno.ESPIPE, s.pread, fd, PAGE, 0)
        self.assertErrno(errno.ESPIPE, s.pread, fd, PAGE, SIZE)
        self.assertErrno(errno.EINVAL, s.pread, fd, PAGE, -1)       # negative position first
        self.assertErrno(errno.EINVAL, s.write, fd, b"x" * 8)
        self.assertErrno(errno.ESPIPE, s.pwrite, fd, b"x" * 8, 0)
        self.assertErrno(errno.EINVAL, s.pwrite, fd, b"x" * 8, -1)

    def test_fstat_and_ftruncate(self):
        fd = self.gmem()
        st = self.system.fstat(fd)
        self.assertEqual(st.st_size, SIZE)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        for length in (0, SIZE, 2 * SIZE, PAGE + 1):
            with self.subTest(length=length):
                self.assertErrno(errno.EINVAL, self.system.ftruncate, fd, length)
        self.assertEqual(self.system.fstat(fd).st_size, SIZE)

    def test_mmap(self):
        s = self.system
        plain, mappable = self.gmem(), self.gmem(abi.GUEST_MEMFD_FLAG_MMAP)
        self.assertErrno(errno.ENODEV, s.mmap, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, plain, 0)
        self.assertErrno(errno.ENODEV, s.mmap, PAGE, PROT_READ, MAP_PRIVATE, plain, 0)
        self.assertErrno(errno.EINVAL, s.mmap, 0, PROT_READ, MAP_SHARED, plain, 0)   # mm checks first
        addr = s.mmap(SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mappable, 0)
        s.munmap(addr, SIZE)
        self.assertErrno(errno.EINVAL, s.mmap, PAGE, PROT_READ, MAP_PRIVATE, mappable, 0)
        self.assertErrno(errno.EINVAL, s.mmap, PAGE, PROT_READ, MAP_SHARED, mappable, 0x800)
        self.assertErrno(errno.EPERM, s.mmap, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, mappable, 0)

    def test_mmap_fault_is_sigbus(self):
        """A TD's guest_memfd is never INIT_SHARED: touching a mapping is SIGBUS."""
        top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        child = subprocess.run([sys.executable, "-c", SIGBUS_CHILD % (top, self.mode, SIZE, PAGE)],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(child.stdout, "mapped\n", child.stderr)
        self.assertEqual(child.returncode, -signal.SIGBUS, child.stderr)

    def test_fallocate_rules(self):
        fd = self.gmem()
        for mode, offset, length, err in FALLOCATE:
            with self.subTest(mode=hex(mode), offset=offset, length=length):
                if err:
                    self.assertErrno(err, self.system.fallocate, fd, mode, offset, length)
                else:
                    self.system.fallocate(fd, mode, offset, length)

    def test_outlives_the_vm(self):
        """The file pins the VM (kvm_get_kvm): usable after the VM fd is closed."""
        fd = self.gmem()
        self.vm.fd, vm_fd = None, self.vm.fd        # close only the VM fd, keep the gmem open
        self.system.close(vm_fd)
        self.assertEqual(self.system.fstat(fd).st_size, SIZE)
        self.system.fallocate(fd, KEEP | PUNCH, 0, SIZE)
        self.system.fallocate(fd, KEEP, 0, PAGE)
        self.assertErrno(errno.ESPIPE, self.system.pread, fd, PAGE, 0)


class BorrowedGmem(ModelledGmem):
    """The same expectations against the host's own guest_memfd."""
    mode = "auto"

    def setUp(self):
        super().setUp()
        flags = self.system.features.gmem_flags
        if not self.system.features.gmem:
            self.skipTest("host KVM has no guest_memfd (KVM_CAP_GUEST_MEMFD)")
        if not flags & abi.GUEST_MEMFD_FLAG_MMAP:
            self.skipTest("host KVM has no GUEST_MEMFD_FLAG_MMAP (KVM_CAP_GUEST_MEMFD_FLAGS)")


class BorrowedPassThrough(unittest.TestCase):
    """A borrowed guest_memfd (the host's own, emu/host.py borrow_gmem) hands
    each file syscall to the host unchanged: the same fd, the arguments in
    the syscall's order, the host's answer back.  Checked with a host that
    records the calls, so it runs where the host has no guest_memfd."""

    FD = 77

    class Recorder:
        def __init__(self):
            self.calls = []

        def __getattr__(self, name):
            def call(*args):
                self.calls.append((name,) + args)
                return ("answer", name)
            return call

    def setUp(self):
        from tdx.emu.gmem import GuestMemfd
        self.host = self.Recorder()
        self.gmem = GuestMemfd(self.FD, SIZE, 0, borrowed=True, host=self.host)

    def test_each_syscall_passed_through(self):
        g, fd = self.gmem, self.FD
        cases = (
            (lambda: g.read(3 * PAGE), ("read", fd, 3 * PAGE)),
            (lambda: g.pread(5, 2 * PAGE), ("pread", fd, 5, 2 * PAGE)),
            (lambda: g.write(b"abc"), ("write", fd, b"abc")),
            (lambda: g.pwrite(b"xyz", 7), ("pwrite", fd, b"xyz", 7)),
            (lambda: g.ftruncate(2 * PAGE), ("ftruncate", fd, 2 * PAGE)),
            (lambda: g.mmap(PAGE, PROT_READ, MAP_SHARED, 3 * PAGE),
             ("mmap", PAGE, PROT_READ, MAP_SHARED, fd, 3 * PAGE)),
        )
        for op, want in cases:
            with self.subTest(syscall=want[0]):
                self.host.calls.clear()
                self.assertEqual(op(), ("answer", want[0]))
                self.assertEqual(self.host.calls, [want])

    def test_mmap_passed_through_whatever_the_flags(self):
        """With GUEST_MEMFD_FLAG_MMAP, or PROT_EXEC, the modelled file would
        answer itself (an empty file's mapping, EPERM); a borrowed one leaves
        both to the host's kernel."""
        from tdx.emu.gmem import GuestMemfd
        g = GuestMemfd(self.FD, SIZE, abi.GUEST_MEMFD_FLAG_MMAP, borrowed=True, host=self.host, empty_fd=88)
        for prot in (PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC):
            with self.subTest(prot=prot):
                self.host.calls.clear()
                self.assertEqual(g.mmap(2 * PAGE, prot, MAP_SHARED, PAGE), ("answer", "mmap"))
                self.assertEqual(self.host.calls, [("mmap", 2 * PAGE, prot, MAP_SHARED, self.FD, PAGE)])

    def test_fallocate_passed_through_unchecked(self):
        """The host's kernel decides, so the model's own checks are not made:
        a mode guest_memfd refuses (no KEEP_SIZE) still reaches the host."""
        for mode, offset, length in ((KEEP, PAGE, 2 * PAGE), (0, 3 * PAGE, PAGE)):
            with self.subTest(mode=mode):
                self.host.calls.clear()
                self.gmem.fallocate(mode, offset, length)
                self.assertEqual(self.host.calls, [("fallocate", self.FD, mode, offset, length)])


class StandinNatively(unittest.TestCase):
    """The modelled guest_memfd's fd answers like a guest_memfd even to a
    caller that bypasses the System (emu/gmem.py standin_fd)."""

    def test_native_syscalls(self):
        from tdx.emu.gmem import standin_fd
        fd = standin_fd()
        self.addCleanup(os.close, fd)
        host = HostSystem()
        for call, args, err in ((os.read, (fd, PAGE), errno.EINVAL), (os.pread, (fd, PAGE, 0), errno.ESPIPE),
                                (os.write, (fd, b"x"), errno.EINVAL), (os.pwrite, (fd, b"x", 0), errno.ESPIPE),
                                (os.ftruncate, (fd, PAGE), errno.EINVAL),
                                (host.mmap, (PAGE, PROT_READ, MAP_SHARED, fd, 0), errno.ENODEV)):
            with self.subTest(call=call.__name__), self.assertRaises(OSError) as ctx:
                call(*args)
            self.assertEqual(ctx.exception.errno, err)
        import fcntl
        self.assertFalse(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC,
                         "guest_memfd fds are not close-on-exec (get_unused_fd_flags(0))")


if __name__ == "__main__":
    unittest.main()
