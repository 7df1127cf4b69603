# SPDX-License-Identifier: GPL-2.0-only
"""The ioctl boundary: every syscall the library makes on a KVM object.

`HostSystem` issues them to the OS through libc (cffi releases the GIL around
the call, so a vCPU thread blocked in KVM_RUN does not stall the others).
The emulated platform subclasses it (tdx.emu.EmuSystem) and models KVM-TDX
behind the very same calls, so the library's struct packing, ioctl order and
errno handling are what runs on both platforms (docs/internals.md §1).
"""

import os

from tdx.lib.abi import ffi, libc

PROT_READ = 0x1
PROT_WRITE = 0x2
PROT_EXEC = 0x4
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_ANONYMOUS = 0x20
MAP_NORESERVE = 0x4000
MAP_TYPE = 0x0f
MAP_SHARED_VALIDATE = 0x03
# fallocate(2) modes (include/uapi/linux/falloc.h)
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_FL_INSERT_RANGE = 0x20
FALLOC_FL_UNSHARE_RANGE = 0x40
FALLOC_FL_WRITE_ZEROES = 0x80
MAP_FAILED = ffi.cast("void *", -1)
_NULL = ffi.NULL
_ioctl = libc.ioctl


def _oserror(what):
    err = ffi.errno
    return OSError(err, "%s: %s" % (what, os.strerror(err)))


def as_arg(arg):
    """The third ioctl argument as libc.ioctl takes it (abi_cdef: void *)."""
    if isinstance(arg, int):
        return ffi.cast("void *", arg) if arg else ffi.NULL
    return ffi.cast("void *", arg)


class HostSystem:
    """The real kernel."""

    name = "host"
    # Where kernel_release() comes from, for reports (tdx.lib.generations).
    kernel_release_source = "uname -r "

    def kernel_release(self):
        """The release of the kernel under test (uname -r); tdx.lib.generations
        maps it to the KVM-TDX generation whose answers the suite expects."""
        return os.uname().release

    def kernel_log(self):
        """A reader of the kernel log from now on: .read() returns the records
        printed since (tdx.lib.kmsg).  OSError when /dev/kmsg cannot be read."""
        from tdx.lib.kmsg import KmsgReader
        return KmsgReader()

    def open(self, path, flags):
        fd = libc.open(path.encode(), flags | os.O_CLOEXEC)
        if fd < 0:
            raise _oserror(path)
        return fd

    def close(self, fd):
        os.close(fd)

    def ioctl(self, fd, request, arg=0):
        # KVM_RUN alone is issued tens of thousands of times per test run:
        # the usual argument 0 and a struct pointer take no cast.
        if arg.__class__ is int:
            arg = ffi.cast("void *", arg) if arg else _NULL
        try:
            ret = _ioctl(fd, request, arg)
        except TypeError:
            # Not a pointer (a cast integer, a bool): convert it.
            ret = _ioctl(fd, request, as_arg(arg))
        if ret < 0:
            raise _oserror("ioctl 0x%x" % request)
        return ret

    def mmap(self, length, prot, flags, fd=-1, offset=0):
        addr = libc.mmap(ffi.NULL, length, prot, flags, fd, offset)
        if addr == MAP_FAILED:
            raise _oserror("mmap")
        return int(ffi.cast("uintptr_t", addr))

    def munmap(self, addr, length):
        if libc.munmap(ffi.cast("void *", addr), length) < 0:
            raise _oserror("munmap")

    # The file syscalls a test makes on a guest_memfd (the emulated platform
    # may answer them from its model: tdx.emu.gmem).

    def read(self, fd, length):
        return os.read(fd, length)

    def pread(self, fd, length, offset):
        return os.pread(fd, length, offset)

    def write(self, fd, data):
        return os.write(fd, data)

    def pwrite(self, fd, data, offset):
        return os.pwrite(fd, data, offset)

    def fstat(self, fd):
        return os.fstat(fd)

    def ftruncate(self, fd, length):
        os.ftruncate(fd, length)

    def fallocate(self, fd, mode, offset, length):
        """fallocate(2) with its mode bits (os.posix_fallocate has none)."""
        if libc.fallocate(fd, mode, offset, length) < 0:
            raise _oserror("fallocate")


def buffer(addr, length):
    """A writable view of `length` bytes of this process's memory at `addr`."""
    return ffi.buffer(ffi.cast("char *", addr), length)
