# SPDX-License-Identifier: GPL-2.0-only
"""Interrupts and NMIs of the emulated platform end to end, on this host's /dev/kvm.

emu/interrupts.py decides who gets what (test_emu_interrupts.py); here the
vectors must actually reach the guest's handlers through the real vCPU
(emu/delivery.py: interrupt window + KVM_INTERRUPT, KVM_NMI, the guest's own
EOI/TPR/SELF_IPI as user-space MSR exits), kicks must get a spinning vCPU
out of KVM_RUN, and TDVMCALL<HLT> must wake exactly as KVM's rules say.
Every test runs on both TDCALL paths and both host paths.
"""

import time
import unittest

from tdx.emu import EmuSystem
from tdx.lib import abi, apic, td
from tdx.lib.exits import VcpuThread
from tdx.lib.guest import GuestImage, find_image
from tdx.lib.kvm import Kvm, KvmUnavailable, VcpuTimeout

V_LOW, V_MID, V_HIGH = 0x41, 0x65, 0x81         # tests/guest_irq.c
READY_OFFSET = 0x1000
RUN_TIMEOUT = 5
HLT_WAIT = 0.3                                  # a halted vCPU stays in KVM_RUN this long


class DeliveryTest(unittest.TestCase):
    trap = "exit"
    host_mode = "auto"

    def setUp(self):
        self.system = EmuSystem(tdcall_trap=self.trap, host_mode=self.host_mode)
        try:
            self.kvm = Kvm(self.system)
        except KvmUnavailable as e:
            raise unittest.SkipTest("no usable /dev/kvm") from e
        self.addCleanup(self.kvm.close)
        self.image = GuestImage.load(find_image("guest_irq", subdir="tests"))

    def td(self, entry, **options):
        gvm = td.create_guest(self.kvm, self.image, entry, **options)
        self.addCleanup(gvm.close)
        return gvm

    def msi(self, gvm, dest, vector, mode=apic.APIC_DM_FIXED):
        return gvm.vm.signal_msi(*apic.msi(dest, vector, mode))

    def sync(self, vcpu, n=None):
        return vcpu.run_expect_sync(n, timeout=RUN_TIMEOUT)

    def wait_ready(self, gvm, index):
        """The guest's flag in shared memory (it cannot exit to say so)."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            if gvm.read(gvm.layout.shared_gpa + READY_OFFSET + 8 * index, 8) != bytes(8):
                return
            time.sleep(0.001)
        self.fail("vCPU %d never got ready" % index)

    # -- delivery at the interrupt window, EOI, priorities --

    def test_msi_reaches_the_handler(self):
        gvm = self.td("guest_take", args=1)
        vcpu = gvm.vcpus[0]
        self.sync(vcpu, 1)
        self.assertEqual(self.msi(gvm, 0, V_MID), 1)
        self.assertEqual(self.sync(vcpu), V_MID)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_priority_order(self):
        """Three vectors posted while IF = 0 arrive highest class first, one
        after the other's EOI: the order shows a swap."""
        gvm = self.td("guest_take", args=3)
        vcpu = gvm.vcpus[0]
        self.sync(vcpu, 1)
        for v in (V_LOW, V_HIGH, V_MID):
            self.assertEqual(self.msi(gvm, 0, v), 1)
        self.assertEqual(self.sync(vcpu), V_HIGH | V_MID << 8 | V_LOW << 16)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_same_vector_again_after_eoi(self):
        gvm = self.td("guest_twice")
        vcpu = gvm.vcpus[0]
        self.sync(vcpu, 1)
        self.msi(gvm, 0, V_MID)
        self.sync(vcpu, 2)
        self.msi(gvm, 0, V_MID)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_native_tpr_ppr_irr(self):
        gvm = self.td("guest_tpr")
        vcpu = gvm.vcpus[0]
        self.sync(vcpu, 1)
        self.msi(gvm, 0, V_LOW)
        self.msi(gvm, 0, V_MID)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_native_self_ipi(self):
        self.td("guest_self_ipi").vcpus[0].run_until_done(timeout=RUN_TIMEOUT)

    def test_kick_reaches_a_spinning_vcpu(self):
        """The guest spins with IF = 1 and never exits: only a kick gets the
        interrupt in (KVM: posted while in guest mode)."""
        gvm = self.td("guest_spin_for_one")
        t = VcpuThread(lambda v: v.run_until_done(timeout=RUN_TIMEOUT), gvm.vcpus[0])
        t.start()
        self.wait_ready(gvm, 0)
        time.sleep(0.05)                    # well inside the spin loop
        self.assertEqual(self.msi(gvm, 0, V_HIGH), 1)
        t.join_result(RUN_TIMEOUT * 2)

    # -- TDVMCALL<HLT> --

    def test_hlt_woken_by_msi_from_another_thread(self):
        gvm = self.td("guest_halt", args=0)
        vcpu = gvm.vcpus[0]
        self.sync(vcpu, 1)

        def rest(v):
            got = [self.sync(v), self.sync(v)]
            v.run_until_done(timeout=RUN_TIMEOUT)
            return got
        t = VcpuThread(rest, vcpu)
        t.start()
        self.wait_ready(gvm, 0)
        deadline = time.monotonic() + RUN_TIMEOUT
        while vcpu.get_mp_state() != abi.KVM_MP_STATE_HALTED and time.monotonic() < deadline:
            time.sleep(0.001)
        self.assertEqual(vcpu.get_mp_state(), abi.KVM_MP_STATE_HALTED)
        self.assertEqual(self.msi(gvm, 0, V_MID), 1)
        # Nothing before STI (IF was 0), V_MID once interrupts are on.
        self.assertEqual(t.join_result(RUN_TIMEOUT * 2), [0, 1])

    def test_hlt_woken_by_a_vector_already_in_virr(self):
        """An interrupt that reached the vIRR while IF was 0: TDVMCALL<HLT>
        with R12 = 0 must not block (tdx_protected_apic_has_interrupt() reads
        TD_VCPU_STATE_DETAILS)."""
        gvm = self.td("guest_halt", args=0)
        vcpu = gvm.vcpus[0]
        self.sync(vcpu, 1)
        self.msi(gvm, 0, V_MID)             # synced into the vIRR at the next entry
        self.assertEqual(self.sync(vcpu), 0)
        self.assertEqual(self.sync(vcpu), 1)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_hlt_blocked_woken_only_by_nmi(self):
        """R12 = 1: a maskable interrupt posted while halted does not wake
        the vCPU (tdx_interrupt_allowed()); an NMI does, and is taken at once;
        the interrupt comes after STI."""
        gvm = self.td("guest_halt", args=1)
        vcpu = gvm.vcpus[0]
        self.sync(vcpu, 1)
        with self.assertRaises(VcpuTimeout):
            vcpu.run_exit(timeout=HLT_WAIT)
        self.assertEqual(self.msi(gvm, 0, V_MID), 1)
        with self.assertRaises(VcpuTimeout):
            vcpu.run_exit(timeout=HLT_WAIT)
        self.assertEqual(vcpu.get_mp_state(), abi.KVM_MP_STATE_HALTED)
        vcpu.nmi()
        self.assertEqual(self.sync(vcpu), 1 | 1 << 8)
        self.assertEqual(self.sync(vcpu), 2)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_spiv_gates_fixed_interrupts(self):
        gvm = self.td("guest_spiv")
        vcpu = gvm.vcpus[0]
        self.sync(vcpu, 1)
        self.assertEqual(self.msi(gvm, 0, V_LOW), 0)
        self.sync(vcpu, 2)
        self.assertEqual(self.msi(gvm, 0, V_MID), 1)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_nmi_mode_msi_wakes_blocked_hlt(self):
        """An MSI with delivery mode NMI is an NMI (kvm_inject_nmi()): it wakes
        a TDVMCALL<HLT> with interrupts blocked, as KVM_NMI does."""
        gvm = self.td("guest_halt", args=1)
        vcpu = gvm.vcpus[0]
        self.sync(vcpu, 1)
        with self.assertRaises(VcpuTimeout):
            vcpu.run_exit(timeout=HLT_WAIT)
        self.assertEqual(self.msi(gvm, 0, 0, mode=apic.APIC_DM_NMI), 1)
        self.assertEqual(self.sync(vcpu), 1 | 1 << 8)
        self.msi(gvm, 0, V_LOW)
        self.assertEqual(self.sync(vcpu), 2)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_kvm_interrupt_never_reaches_the_td(self):
        gvm = self.td("guest_take", args=1)
        vcpu = gvm.vcpus[0]
        self.sync(vcpu, 1)
        vcpu.interrupt(V_HIGH)
        self.msi(gvm, 0, V_LOW)
        self.assertEqual(self.sync(vcpu), V_LOW)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)


class DeliveryUdDoorbellTest(DeliveryTest):
    trap = "ud"


class DeliveryBaselineTest(DeliveryTest):
    host_mode = "baseline"


class DeliveryBaselineUdDoorbellTest(DeliveryTest):
    trap = "ud"
    host_mode = "baseline"


if __name__ == "__main__":
    unittest.main()
