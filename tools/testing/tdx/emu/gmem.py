# SPDX-License-Identifier: GPL-2.0-only
"""A TD's guest_memfd on the emulated platform (virt/kvm/guest_memfd.c).

KVM_CREATE_GUEST_MEMFD on a TD returns an fd whose file API is KVM's.  The
model gives one of two fds (emu/host.py decides):

- borrowed: a real guest_memfd of the model's plain VM, created with the
  same flags, when the host has guest_memfd (Linux 6.8; GUEST_MEMFD_FLAG_MMAP
  from 6.18).  Its file syscalls are the host kernel's own.
- modelled: a stand-in fd -- an epoll instance, an anonymous inode with no
  read, write or mmap operation, so that even a caller that bypasses the
  library's System gets read/write -> EINVAL, pread/pwrite -> ESPIPE, mmap ->
  ENODEV and ftruncate -> EINVAL, as from a guest_memfd -- and EmuSystem
  answers the file syscalls made through the System from GuestMemfd below,
  rule by rule as guest_memfd.c and the VFS do.

Private contents never live in either fd: the model keeps them in its own
memory (emu/memory.py).  What the fd does to the TD is the same for both:
fallocate(PUNCH_HOLE) removes the private pages of the range from the TD
(kvm_gmem_punch_hole(): the invalidation zaps private mappings, the folios
are truncated, a later fault gets a fresh zeroed page), and closing the fd
cuts the bindings (kvm_gmem_release(): private faults then fail with
-EFAULT, i.e. KVM_EXIT_MEMORY_FAULT).
"""

import errno
import itertools
import os
import stat

from tdx.lib import abi
from tdx.lib.abi import ffi, libc
from tdx.lib.system import (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_KEEP_SIZE,
                            FALLOC_FL_PUNCH_HOLE, FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_WRITE_ZEROES,
                            FALLOC_FL_ZERO_RANGE, MAP_TYPE, MAP_SHARED, MAP_SHARED_VALIDATE, PROT_EXEC)

PAGE_SIZE = 4096
# include/linux/falloc.h: the mode bits that select an operation
FALLOC_FL_MODE_MASK = (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE |
                       FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_WRITE_ZEROES)
MAX_LFS_FILESIZE = (1 << 63) - 1        # s_maxbytes of the guest_memfd pseudo filesystem
LOFF_MAX = (1 << 63) - 1
# alloc_anon_inode() gives S_IRUSR|S_IWUSR; __kvm_gmem_create() adds S_IFREG.
GMEM_MODE = stat.S_IFREG | 0o600


# Inode numbers of modelled guest_memfds, one per file (get_next_ino() style).
_INODE_NUMBERS = itertools.count(0x6D656D00)


def _fail(err, what):
    raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def standin_fd():
    """The modelled guest_memfd's fd: epoll_create1(0), not close-on-exec like
    the fd __kvm_gmem_create() installs (get_unused_fd_flags(0))."""
    fd = libc.epoll_create1(0)
    if fd < 0:
        _fail(ffi.errno, "epoll_create1")
    return fd


def check_create(size, flags, supported):
    """kvm_gmem_create(): flags first, then the size as a loff_t."""
    if flags & ~supported:
        _fail(errno.EINVAL, "KVM_CREATE_GUEST_MEMFD: flags %#x" % flags)
    if size == 0 or size > LOFF_MAX or size & (PAGE_SIZE - 1):
        _fail(errno.EINVAL, "KVM_CREATE_GUEST_MEMFD: size %#x" % size)


class GuestMemfd:
    """One guest_memfd file: its inode (size, flags) and its bindings to the
    memslots of the VM that created it (struct gmem_file)."""

    def __init__(self, fd, size, flags, borrowed=False, host=None, empty_fd=-1):
        self.fd = fd
        self.size = size
        self.flags = flags
        self.borrowed = borrowed
        self.host = host                # HostSystem, for the fd's own syscalls
        self.empty_fd = empty_fd        # an empty memfd: what an MMAP mapping shows (SIGBUS)
        self.memory = None              # TdMemory of the VM (the file pins the VM: kvm_get_kvm)
        self.bindings = []              # memory.Slot objects bound to a range of this file
        self.closed = False
        self.ino = next(_INODE_NUMBERS)

    # -- bindings (kvm_gmem_bind / kvm_gmem_unbind) --

    def overlaps(self, offset, size):
        return any(offset < s.gmem_offset + s.size and s.gmem_offset < offset + size for s in self.bindings)

    # -- the file API --

    def read(self, length):
        if self.borrowed:
            return self.host.read(self.fd, length)
        _fail(errno.EINVAL, "read")                 # vfs_read(): no FMODE_CAN_READ

    def pread(self, length, offset):
        if self.borrowed:
            return self.host.pread(self.fd, length, offset)
        # ksys_pread64(): a negative position first, then no FMODE_PREAD.
        _fail(errno.EINVAL if offset < 0 else errno.ESPIPE, "pread")

    def write(self, data):
        if self.borrowed:
            return self.host.write(self.fd, data)
        _fail(errno.EINVAL, "write")                # vfs_write(): no FMODE_CAN_WRITE

    def pwrite(self, data, offset):
        if self.borrowed:
            return self.host.pwrite(self.fd, data, offset)
        _fail(errno.EINVAL if offset < 0 else errno.ESPIPE, "pwrite")

    def fstat(self):
        st = self.host.fstat(self.fd)
        if self.borrowed:
            return st
        fields = list(st[:10])
        # Every stand-in is an epoll fd, and all of those share one anonymous
        # inode; __kvm_gmem_create() makes an inode per guest_memfd, so each
        # file reports a number of its own.
        fields[0], fields[1], fields[6] = GMEM_MODE, self.ino, self.size
        return os.stat_result(fields, {"st_blksize": PAGE_SIZE, "st_blocks": 0})

    def ftruncate(self, length):
        if self.borrowed:
            return self.host.ftruncate(self.fd, length)
        _fail(errno.EINVAL, "ftruncate")            # kvm_gmem_setattr(); negative length too

    def mmap(self, length, prot, flags, offset):
        if self.borrowed:
            return self.host.mmap(length, prot, flags, self.fd, offset)
        if prot & PROT_EXEC:
            # do_mmap(): the guest_memfd mount is MNT_NOEXEC (kvm_gmem_init_mount)
            _fail(errno.EPERM, "mmap")
        if not self.flags & abi.GUEST_MEMFD_FLAG_MMAP:
            # The stand-in has no mmap either: the kernel's own argument checks, then ENODEV.
            return self.host.mmap(length, prot, flags, self.fd, offset)
        # kvm_gmem_mmap(): shared mappings only.  A TD's guest_memfd never has
        # INIT_SHARED, so every page fault on the mapping is SIGBUS
        # (kvm_gmem_fault_user_mapping()): an empty file shows exactly that.
        addr = self.host.mmap(length, prot, flags, self.empty_fd, offset)
        if flags & MAP_TYPE not in (MAP_SHARED, MAP_SHARED_VALIDATE):
            self.host.munmap(addr, length)
            _fail(errno.EINVAL, "mmap: guest_memfd needs MAP_SHARED")
        return addr

    def fallocate(self, mode, offset, length):
        if self.borrowed:
            self.host.fallocate(self.fd, mode, offset, length)
        else:
            _vfs_fallocate_checks(mode, offset, length)
            self._kvm_gmem_fallocate(mode, offset, length)
        if mode & FALLOC_FL_PUNCH_HOLE and self.memory is not None:
            self.memory.punch_hole(self, offset, length)

    def _kvm_gmem_fallocate(self, mode, offset, length):
        if not mode & FALLOC_FL_KEEP_SIZE:
            _fail(errno.EOPNOTSUPP, "fallocate: guest_memfd needs FALLOC_FL_KEEP_SIZE")
        if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE):
            _fail(errno.EOPNOTSUPP, "fallocate: mode %#x" % mode)
        if (offset | length) & (PAGE_SIZE - 1):
            _fail(errno.EINVAL, "fallocate: range not page aligned")
        # kvm_gmem_allocate(): "immutable by default"; a hole may go past the end.
        if not mode & FALLOC_FL_PUNCH_HOLE and offset + length > self.size:
            _fail(errno.EINVAL, "fallocate: beyond the guest_memfd's size")

    def release(self):
        """The last close (kvm_gmem_release())."""
        if not self.closed and self.memory is not None:
            self.memory.gmem_closed(self)
        self.closed = True


def _vfs_fallocate_checks(mode, offset, length):
    """vfs_fallocate() (fs/open.c, 6.15+ with FALLOC_FL_WRITE_ZEROES), up to
    the call of f_op->fallocate.  The file is O_RDWR, regular, not append-only,
    immutable or a swap file, so those checks pass."""
    if offset < 0 or length <= 0:
        _fail(errno.EINVAL, "fallocate: offset or length")
    if mode & ~(FALLOC_FL_MODE_MASK | FALLOC_FL_KEEP_SIZE):
        _fail(errno.EOPNOTSUPP, "fallocate: mode %#x" % mode)
    op = mode & FALLOC_FL_MODE_MASK
    if op == FALLOC_FL_PUNCH_HOLE:
        if not mode & FALLOC_FL_KEEP_SIZE:
            _fail(errno.EOPNOTSUPP, "fallocate: PUNCH_HOLE without KEEP_SIZE")
    elif op in (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_WRITE_ZEROES):
        if mode & FALLOC_FL_KEEP_SIZE:
            _fail(errno.EOPNOTSUPP, "fallocate: mode %#x with KEEP_SIZE" % mode)
    elif op not in (0, FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_ZERO_RANGE):
        _fail(errno.EOPNOTSUPP, "fallocate: modes are exclusive")
    if offset + length > MAX_LFS_FILESIZE:
        _fail(errno.EFBIG, "fallocate: beyond s_maxbytes")
