# SPDX-License-Identifier: GPL-2.0-only
"""Fake older host kernels through the System seam, for tests of the
emulated platform's own paths on hosts that have more.

Linux510Host answers as a 5.10 LTS kernel would for everything newer
(docs/host-kvm.md): capabilities it does not know read 0, the VM ioctls it
does not know fail with ENOTTY (kvm_arch_vm_ioctl's default), and an
emulation-failure exit carries no instruction bytes (before 5.14:
ndata 0).  Everything else is this host's real KVM.
"""

import errno

from tdx.lib import abi
from tdx.lib.abi import ffi
from tdx.lib.system import HostSystem

KVM_CAP_EXIT_ON_EMULATION_FAILURE = 204

# Capabilities newer than 5.10 (first release in the comment).
NEWER_CAPS = {
    abi.KVM_CAP_USER_MEMORY2: "6.8", abi.KVM_CAP_GUEST_MEMFD: "6.8", abi.KVM_CAP_VM_TYPES: "6.8",
    abi.KVM_CAP_MEMORY_ATTRIBUTES: "6.8", abi.KVM_CAP_MEMORY_FAULT_INFO: "6.8",
    abi.KVM_CAP_GUEST_MEMFD_FLAGS: "6.18", KVM_CAP_EXIT_ON_EMULATION_FAILURE: "5.14",
}
NEWER_VM_IOCTLS = (abi.KVM_CREATE_GUEST_MEMFD, abi.KVM_SET_USER_MEMORY_REGION2, abi.KVM_SET_MEMORY_ATTRIBUTES)


class Linux510Host(HostSystem):
    """This host's KVM, minus what appeared after Linux 5.10."""

    def __init__(self, missing=()):
        self.missing = set(missing)     # extra capabilities to hide (e.g. a required one)
        self.calls = []                 # newer features the model tried to use anyway
        self.run_maps = {}

    def ioctl(self, fd, request, arg=0):
        if request == abi.KVM_CHECK_EXTENSION and (arg in NEWER_CAPS or arg in self.missing):
            return 0
        if request in NEWER_VM_IOCTLS:
            self.calls.append(request)
            raise OSError(errno.ENOTTY, "not in Linux 5.10")
        ret = super().ioctl(fd, request, arg)
        if request == abi.KVM_RUN and fd in self.run_maps:
            run = self.run_maps[fd]
            if run.exit_reason == abi.KVM_EXIT_INTERNAL_ERROR:
                run.internal.ndata = 0  # no instruction bytes before 5.14
        return ret

    def mmap(self, length, prot, flags, fd=-1, offset=0):
        addr = super().mmap(length, prot, flags, fd, offset)
        if fd >= 0 and offset == 0 and length >= ffi.sizeof("struct kvm_run"):
            # Maybe a vCPU's kvm_run: remembered to strip what KVM_RUN adds.
            self.run_maps[fd] = ffi.cast("struct kvm_run *", addr)
        return addr
