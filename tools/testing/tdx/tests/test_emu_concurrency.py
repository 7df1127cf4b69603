# SPDX-License-Identifier: GPL-2.0-only
"""The emulated platform's concurrency pieces against the kernel code they follow.

- emu/concurrency.py Srcu: synchronize_srcu() waits for the readers present
  when it is called, not for later ones, and gives up after SRCU_STALL
  (logging it) instead of hanging;
- emu/memory.py TdMemory.private_fault_retry() with a memslot deletion
  (kvm_invalidate_memslot()): since 2bc2694fe20b the vCPU leaves kvm->srcu and
  the deletion completes; before, it retries inside it until a signal;
- emu/percpu.py: tdx_vcpu_load()/tdx_vcpu_free() on the per-CPU lists, with
  and without 1e3a825c9ec9, and the oops in the model's kernel log;
- tdx.lib.kmsg: the records /dev/kmsg gets after the reader was made, and
  which of them report a kernel bug.
"""

import errno
import os
import threading
import unittest
from unittest import mock

from tdx.lib import abi, kmsg
from tdx.lib.kvm import Mapping
from tdx.lib.system import HostSystem
from tdx.emu import concurrency, memory as mem
from tdx.emu.concurrency import Races, Srcu
from tdx.emu.errors import EmuKernelOops, EmuRunError
from tdx.emu.gmem import GuestMemfd
from tdx.emu.kernel import Kernel
from tdx.emu.kmsg import KernelLog
from tdx.emu.percpu import AssociatedTdVcpus
from tdx.emu.state import TdVcpu, TdVm
from tdx.tests.test_emu_memory import GMEM_FD, SLOT_SIZE, RecordingHost

JOIN = 10.0                 # seconds; far beyond any wait here, so a hang fails instead of blocking


def start(fn, *args):
    out = {}

    def body():
        try:
            out["result"] = fn(*args)
        except BaseException as e:
            out["error"] = e
    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, out


class SrcuWaits(unittest.TestCase):
    def setUp(self):
        self.log = []
        self.srcu = Srcu(Races(), self.log)

    def test_no_reader(self):
        self.srcu.synchronize()

    def test_waits_for_a_reader_present(self):
        with self.srcu.read():
            t, out = start(self.srcu.synchronize)
            t.join(0.2)
            self.assertTrue(t.is_alive(), "synchronize_srcu() returned with a reader inside")
        t.join(JOIN)
        self.assertFalse(t.is_alive())
        self.assertEqual(out, {"result": None})

    def test_later_reader_not_waited_for(self):
        first = self.srcu.read()
        first.__enter__()
        t, out = start(self.srcu.synchronize)
        # A reader that begins once the writer waits does not hold it back.
        later = self.srcu.read()
        later.__enter__()
        first.__exit__(None, None, None)
        t.join(JOIN)
        self.assertFalse(t.is_alive(), "synchronize_srcu() waited for a later reader")
        later.__exit__(None, None, None)

    def test_stall_bounded_and_logged(self):
        with mock.patch.object(concurrency, "SRCU_STALL", 0.1), self.srcu.read():
            t, out = start(self.srcu.synchronize)
            t.join(JOIN)
            self.assertFalse(t.is_alive(), "synchronize_srcu() waits beyond SRCU_STALL")
        self.assertEqual(out, {"result": None})
        self.assertEqual(len(self.log), 1)
        self.assertIn("blocked in synchronize_srcu() for more than", self.log[0])


class MemslotDeletionUnderFault(unittest.TestCase):
    """A vCPU inside the private fault path (kvm->srcu) when the memslot of
    its GPA is deleted from another thread."""

    GPA = 3 * mem.PAGE_SIZE

    def td(self, release=None, faults=()):
        self.host = RecordingHost()
        self.log = KernelLog()
        self.m = mem.TdMemory(self.host, -1, frozenset(faults))
        self.addCleanup(self.m.close)
        self.m.vm = TdVm(faults=faults, kernel=Kernel(release), log=self.log)
        self.uspace = Mapping(HostSystem(), SLOT_SIZE)
        self.addCleanup(self.uspace.close)
        self.m.add_gmem(GuestMemfd(GMEM_FD, SLOT_SIZE, 0))
        self.m.set_region(0, abi.KVM_MEM_GUEST_MEMFD, 0, SLOT_SIZE, self.uspace.addr, GMEM_FD, 0)
        self.signal = threading.Event()
        self.inside = threading.Event()
        self.go = threading.Event()

    def hold(self):
        """The vCPU is in kvm->srcu: the deletion starts now."""
        self.inside.set()
        self.go.wait(JOIN)

    def race(self):
        vcpu, fault = start(self.m.private_fault_retry, self.GPA, self.signal.is_set, self.hold)
        self.assertTrue(self.inside.wait(JOIN))
        deleter, deletion = start(self.m.set_region, 0, 0, 0, 0, 0, 0, 0)
        slot = self.m.slots[0]
        while not slot.invalid and deleter.is_alive():
            deleter.join(0.01)
        self.assertTrue(slot.invalid, "the deletion did not publish KVM_MEMSLOT_INVALID")
        self.go.set()
        return vcpu, fault, deleter, deletion

    def test_moved_slot_valid_again(self):
        """A plain memslot moved to another GPA: KVM publishes the old slot
        KVM_MEMSLOT_INVALID only while it waits for kvm->srcu, then installs
        the moved one (kvm_invalidate_memslot(), kvm_swap_active_memslots()).
        Once the move has returned, the fault path finds a valid slot at the
        new GPA and returns at once, on the newest and on a 6.17 kernel, even
        with a signal pending (no retry, no EINTR)."""
        for release in (None, "6.17"):
            with self.subTest(release=release):
                self.td(release)
                self.m.set_region(1, 0, SLOT_SIZE, mem.PAGE_SIZE, self.uspace.addr, 0, 0)
                self.m.set_region(1, 0, 2 * SLOT_SIZE, mem.PAGE_SIZE, self.uspace.addr, 0, 0)
                self.assertIsNone(self.m.slot_of(SLOT_SIZE))
                self.assertIsNone(self.m.private_fault_retry(2 * SLOT_SIZE, lambda: True))

    def test_fixed_kernel_leaves_srcu(self):
        """6.18 and later: the deletion completes; the fault path returns
        with no memslot left (the caller reports the memory fault)."""
        self.td()
        vcpu, fault, deleter, deletion = self.race()
        deleter.join(JOIN)
        vcpu.join(JOIN)
        self.assertEqual(deletion, {"result": None})
        self.assertEqual(fault, {"result": None})
        self.assertIsNone(self.m.slot_of(self.GPA))

    def test_old_kernel_retries_inside_srcu_until_a_signal(self):
        """6.17: the deletion waits while the vCPU retries inside kvm->srcu;
        a signal ends KVM_RUN with EINTR, and the deletion then completes."""
        for release, faults in (("6.17", ()), (None, ("memslot-delete-deadlock",))):
            with self.subTest(release=release, faults=faults):
                self.td(release, faults)
                vcpu, fault, deleter, deletion = self.race()
                deleter.join(0.2)
                self.assertTrue(deleter.is_alive(), "the deletion completed under a local retry")
                self.signal.set()
                deleter.join(JOIN)
                vcpu.join(JOIN)
                self.assertEqual(deletion, {"result": None})
                self.assertIsInstance(fault.get("error"), EmuRunError)
                self.assertEqual(fault["error"].errno, errno.EINTR)
                self.assertIsNone(self.m.slot_of(self.GPA))


class FakeVm:
    def __init__(self, release=None, faults=()):
        self.kernel = Kernel(release)
        self.faults = frozenset(faults)
        self.races = Races()


class PerCpuLists(unittest.TestCase):
    """tdx_vcpu_load() / tdx_vcpu_free() on per_cpu(associated_tdvcpus)."""

    def setUp(self):
        self.log = KernelLog()
        self.reader = self.log.reader()
        self.percpu = AssociatedTdVcpus(self.log)

    def vcpu(self, vm, vcpu_id):
        return TdVcpu(vcpu_id, vm=vm)

    def test_load_moves_between_cpus(self):
        vm = FakeVm()
        v = self.vcpu(vm, 0)
        self.percpu.load(v, 1)
        self.percpu.load(v, 1)
        self.assertEqual(self.percpu.cpus, {1: [v]})
        self.percpu.load(v, 2)
        self.assertEqual(self.percpu.cpus, {1: [], 2: [v]})
        self.assertEqual(v.cpu, 2)

    def refused_then_load(self, vm, cpu=3):
        first = self.vcpu(vm, 0)
        self.percpu.load(first, cpu)
        dup = self.vcpu(vm, 0)
        self.percpu.load(dup, cpu)
        self.percpu.free(dup)
        self.percpu.load(self.vcpu(vm, 1), cpu)

    def test_freed_vcpu_leaves_its_list(self):
        """6.19 (1e3a825c9ec9): nothing in the kernel log, whichever CPU it was
        loaded on: CPUs 0 and 1 too, next to the -1 of a vCPU on no list
        (tdx_vcpu_free() tests vcpu->cpu != -1)."""
        for release in ("6.19", None):
            for cpu in (0, 1, 3):
                with self.subTest(release=release, cpu=cpu):
                    self.setUp()
                    self.refused_then_load(FakeVm(release), cpu)
                    self.assertEqual(self.reader.read(), [])

    def test_freed_vcpu_left_on_its_list(self):
        """6.18, or FAULT vcpu-create-list-add: the next load on that CPU oopses."""
        for release, faults in (("6.18", ()), (None, ("vcpu-create-list-add",))):
            with self.subTest(release=release, faults=faults):
                self.percpu = AssociatedTdVcpus(self.log)
                with self.assertRaises(EmuKernelOops):
                    self.refused_then_load(FakeVm(release, faults))
                lines = self.reader.read()
                self.assertIn("kernel BUG at lib/list_debug.c:29!", lines)
                self.assertTrue(lines[0].startswith("list_add corruption."), lines[0])
                self.assertEqual(kmsg.problems(lines)[:2], lines[:1] + ["kernel BUG at lib/list_debug.c:29!"])

    def test_other_cpu_unaffected_and_release_clears(self):
        vm = FakeVm(faults=("vcpu-create-list-add",))
        first = self.vcpu(vm, 0)
        self.percpu.load(first, 3)
        dup = self.vcpu(vm, 0)
        self.percpu.load(dup, 3)
        self.percpu.free(dup)
        self.percpu.load(self.vcpu(vm, 1), 4)           # another CPU's list is intact
        self.percpu.release(vm)
        self.percpu.load(self.vcpu(FakeVm(), 0), 3)     # the TD's stale entry left with it
        self.assertEqual(self.reader.read(), [])


class KernelLogRecords(unittest.TestCase):
    def test_problems(self):
        bad = ["kernel BUG at lib/list_debug.c:29!", "WARNING: CPU: 1 PID: 2 at arch/x86/kvm/x86.c:1 f+0x1/0x2",
               "Oops: invalid opcode: 0000 [#1] SMP NOPTI", "list_del corruption, ffff (next=dead)",
               "general protection fault, probably for non-canonical address", "Call Trace:"]
        good = ["kvm: enabling virtualization on CPU1", "BUGS: none", "warning: low memory", "debugfs: ok"]
        self.assertEqual(kmsg.problems(bad + good), bad)

    def test_host_reader(self):
        """HostSystem.kernel_log(): the records written after it was made
        (written to /dev/kmsg here, which needs root)."""
        try:
            reader = HostSystem().kernel_log()
        except OSError as e:
            self.skipTest("/dev/kmsg: %s" % e.strerror)
        self.addCleanup(reader.close)
        if not os.access(kmsg.DEV_KMSG, os.W_OK):
            self.skipTest("/dev/kmsg not writable")
        self.assertEqual([l for l in reader.read() if "tdx-selftests" in l], [])
        text = "tdx-selftests: kmsg reader check %d" % os.getpid()
        fd = os.open(kmsg.DEV_KMSG, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, (text + "\n").encode())     # a record without a newline stays open
        finally:
            os.close(fd)
        self.assertIn(text, reader.read())
        self.assertEqual([l for l in reader.read() if text in l], [])


if __name__ == "__main__":
    unittest.main()
