# SPDX-License-Identifier: GPL-2.0-only
"""emu/vcpu_regs.py on a real vCPU of this host: registers through kvm_run's
sync_regs, and the rules that keep kvm_run's copy coherent.

The guest is four bytes at the reset vector, `out %al, $0x10; jmp .-2`, in
a plain VM: each KVM_RUN ends at the OUT with AL in the exit's data, so a
run shows which registers the vCPU entered with.
"""

import errno
import os
import unittest

from tdx.emu.regs import Regs
from tdx.emu.vcpu_regs import VcpuRegs
from tdx.lib import abi
from tdx.lib.abi import ffi
from tdx.lib.system import HostSystem
from tdx.tests.support import requires_kvm

SLOT_SIZE = 2 << 20
SLOT_GPA = (1 << 32) - SLOT_SIZE
GUEST = bytes((0xE6, 0x10, 0xEB, 0xFC))         # out %al, $0x10; jmp .-2
PORT = 0x10


class CountingHost(HostSystem):
    def __init__(self):
        self.requests = []

    def ioctl(self, fd, request, arg=0):
        self.requests.append(request)
        return super().ioctl(fd, request, arg)

    def count(self, request):
        return self.requests.count(request)


@requires_kvm
class SyncRegsTest(unittest.TestCase):
    sync = True

    def setUp(self):
        host = self.host = CountingHost()
        kvm = host.open("/dev/kvm", os.O_RDWR)
        self.addCleanup(host.close, kvm)
        if self.sync and not host.ioctl(kvm, abi.KVM_CHECK_EXTENSION, abi.KVM_CAP_SYNC_REGS) & abi.KVM_SYNC_X86_REGS:
            self.skipTest("this host's KVM has no KVM_CAP_SYNC_REGS")
        vm = host.ioctl(kvm, abi.KVM_CREATE_VM, 0)
        self.addCleanup(host.close, vm)
        mem = host.mmap(SLOT_SIZE, 3, 0x22)                 # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
        self.addCleanup(host.munmap, mem, SLOT_SIZE)
        ffi.memmove(ffi.cast("char *", mem + SLOT_SIZE - 16), GUEST, len(GUEST))
        region = ffi.new("struct kvm_userspace_memory_region *", {
            "slot": 0, "guest_phys_addr": SLOT_GPA, "memory_size": SLOT_SIZE, "userspace_addr": mem})
        host.ioctl(vm, abi.KVM_SET_USER_MEMORY_REGION, region)
        self.fd = host.ioctl(vm, abi.KVM_CREATE_VCPU, 0)
        self.addCleanup(host.close, self.fd)
        size = host.ioctl(kvm, abi.KVM_GET_VCPU_MMAP_SIZE)
        addr = host.mmap(size, 3, 1, self.fd, 0)
        self.addCleanup(host.munmap, addr, size)
        self.run_ = ffi.cast("struct kvm_run *", addr)
        self.regs = VcpuRegs(host, self.fd, self.run_, self.sync)

    def real_regs(self):
        regs = ffi.new("struct kvm_regs *")
        HostSystem.ioctl(self.host, self.fd, abi.KVM_GET_REGS, regs)
        return Regs.from_kvm_regs(regs)

    def out_al(self):
        """One KVM_RUN to the OUT; AL as the guest wrote it."""
        self.regs.run_vcpu()
        self.assertEqual((self.run_.exit_reason, self.run_.io.port), (abi.KVM_EXIT_IO, PORT))
        return ffi.cast("unsigned char *", self.run_)[self.run_.io.data_offset]

    def test_entry_loads_the_change_exit_brings_the_state(self):
        self.out_al()
        regs = self.regs.get()
        self.assertEqual(regs, self.real_regs())
        regs.rax = 0x5A
        before = self.host.count(abi.KVM_SET_REGS)
        self.regs.set(regs)
        self.assertEqual(self.out_al(), 0x5A)
        self.assertEqual(self.regs.get().rax, 0x5A)
        self.assertEqual(self.host.count(abi.KVM_SET_REGS) - before, 0 if self.sync else 1)
        self.assertEqual(self.host.count(abi.KVM_GET_REGS), 0 if self.sync else 2)

    def test_other_ioctl_loads_the_change_first(self):
        self.out_al()
        regs = self.regs.get()
        regs.rbx, regs.rax = 0x1122334455667788, 0x33
        self.regs.set(regs)
        events = ffi.new("struct kvm_vcpu_events *")
        self.regs.ioctl(abi.KVM_GET_VCPU_EVENTS, events)
        self.assertEqual(self.real_regs(), regs)
        self.assertEqual(self.out_al(), 0x33)

    def test_run_failing_before_sync_regs_keeps_the_change(self):
        """KVM_RUN refused (a kvm_valid_regs bit KVM does not know: EINVAL,
        before sync_regs(), and store_regs() still runs): the change is
        loaded after all, and kvm_run's copy is not trusted."""
        self.out_al()
        regs = self.regs.get()
        regs.rax, regs.rdx = 0x77, 0xD00D
        self.regs.set(regs)
        self.run_.kvm_valid_regs |= 1 << 20
        with self.assertRaises(OSError) as cm:
            self.regs.run_vcpu()
        self.run_.kvm_valid_regs &= ~(1 << 20)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertEqual(self.real_regs(), regs)
        self.assertFalse(self.regs.current)
        self.assertEqual(self.regs.get(), regs)
        self.assertEqual(self.out_al(), 0x77)


class IoctlRegsTest(SyncRegsTest):
    """The fallback: KVM_GET_REGS / KVM_SET_REGS, same answers."""
    sync = False

    def test_run_failing_before_sync_regs_keeps_the_change(self):
        self.out_al()
        regs = self.regs.get()
        regs.rax = 0x77
        self.regs.set(regs)
        self.assertEqual(self.real_regs(), regs)
        self.assertEqual(self.out_al(), 0x77)


if __name__ == "__main__":
    unittest.main()
