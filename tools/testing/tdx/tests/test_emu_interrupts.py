# SPDX-License-Identifier: GPL-2.0-only
"""emu/apic.py and emu/interrupts.py: KVM's interrupt paths for a TD, rule by rule.

No /dev/kvm: TDs are built in the model's state (tests/emu_helpers.py).
Each rule is tested at its edges: KVM_SIGNAL_MSI's refusals with everything
else valid, the SPIV gate on and off, each delivery mode's result, ICR
reserved bits one by one, the wake-up conditions of TDVMCALL<HLT> for every
combination of R12, PID.ON and a deliverable vIRR vector.
"""

import errno
import unittest

from tdx.lib import abi, ghci
from tdx.lib.apic import msi
from tdx.emu import interrupts as irq, msrs
from tdx.emu.apic import VirtualApic
from tdx.emu.state import TdVcpu
from tdx.tests.emu_helpers import Run, make_td, tdvmcall

SPIV = msrs.X2APIC_MSR(msrs.APIC_SPIV)
ICR = msrs.X2APIC_MSR(msrs.APIC_ICR)
X2APIC_BASE = 0xFEE00000 | 1 << 10 | 1 << 11


class Td(unittest.TestCase):
    """A TD with `n` vCPUs (ids 0..n-1), each in x2APIC mode, APIC software-enabled."""

    n = 2

    def setUp(self):
        self.vm, first = make_td()
        self.kicks = []
        for i in range(1, self.n):
            v = TdVcpu(i, vm=self.vm)
            v.msrs.set_apic_base(X2APIC_BASE)
            v.mp_state = abi.KVM_MP_STATE_RUNNABLE      # as KVM_TDX_INIT_VCPU leaves it
            self.vm.vcpus.append(v)
        for v in self.vm.vcpus:
            v.kick = (lambda v=v: self.kicks.append(v.vcpu_id))
            self.enable(v)

    def enable(self, vcpu, on=True):
        self.assertEqual(msrs.set_msr(vcpu, SPIV, (irq.APIC_SPIV_APIC_ENABLED if on else 0) | 0xFF), 0)

    def vcpu(self, i):
        return self.vm.vcpus[i]

    def signal(self, lo, hi, data, flags=0):
        return irq.signal_msi(self.vm, lo, hi, data, flags)


class VirtualApicState(unittest.TestCase):
    def test_post_kicks_only_when_pir_and_on_were_clear(self):
        a = VirtualApic()
        self.assertTrue(a.post(0x40))
        self.assertFalse(a.post(0x40))          # PIR bit already set
        self.assertFalse(a.post(0x41))          # ON already set
        self.assertTrue(a.on)
        a.enter()
        self.assertFalse(a.on)
        self.assertEqual(a.irr, {0x40, 0x41})
        self.assertTrue(a.post(0x42))           # notified before: a new notification

    def test_pending_needs_a_higher_priority_class_than_ppr(self):
        a = VirtualApic()
        a.irr = {0x45}
        self.assertEqual(a.pending(), 0x45)
        a.tpr = 0x3F                            # class 3 < 4: still deliverable
        self.assertEqual(a.pending(), 0x45)
        a.tpr = 0x40                            # class 4 == 4: blocked
        self.assertIsNone(a.pending())
        a.tpr = 0
        a.isr = {0x4F}                          # in service, same class: blocked
        self.assertIsNone(a.pending())
        a.irr.add(0x50)                         # a higher class passes
        self.assertEqual(a.pending(), 0x50)

    def test_ppr_is_tpr_or_isr_class(self):
        a = VirtualApic()
        a.tpr, a.isr = 0x2A, {0x61, 0x33}
        self.assertEqual(a.ppr(), 0x60)
        a.tpr = 0x7C
        self.assertEqual(a.ppr(), 0x7C)

    def test_ack_and_eoi_retire_the_highest_in_service(self):
        a = VirtualApic()
        a.irr = {0x40, 0x80}
        a.ack(a.pending())
        self.assertEqual((a.irr, a.isr), ({0x40}, {0x80}))
        self.assertIsNone(a.pending())          # 0x40 below the in-service 0x80
        a.eoi()
        self.assertEqual(a.pending(), 0x40)
        a.ack(0x40)
        a.eoi()
        self.assertEqual((a.irr, a.isr), (set(), set()))
        a.eoi()                                 # nothing in service: no effect
        self.assertEqual(a.isr, set())

    def test_nmi_becomes_pend_nmi_and_waits_for_the_ve(self):
        a = VirtualApic()
        a.nmi_pending = True
        a.enter()
        self.assertEqual((a.nmi_pending, a.pend_nmi), (False, True))
        self.assertFalse(a.take_nmi(ve_pending=True))
        self.assertTrue(a.take_nmi(ve_pending=False))
        self.assertFalse(a.take_nmi(ve_pending=False))


class SignalMsi(Td):
    """KVM_SIGNAL_MSI: kvm_send_userspace_msi() / kvm_set_msi()."""

    def test_fixed_msi_posts_the_vector_to_its_destination(self):
        self.assertEqual(self.signal(*msi(1, 0x5A)), 1)
        self.assertEqual(self.vcpu(1).apic.pir, {0x5A})
        self.assertEqual(self.vcpu(0).apic.pir, set())
        self.assertEqual(self.kicks, [1])

    def test_software_disabled_apic_drops_fixed(self):
        self.enable(self.vcpu(1), on=False)
        self.assertEqual(self.signal(*msi(1, 0x5A)), 0)
        self.assertEqual(self.vcpu(1).apic.pir, set())
        self.enable(self.vcpu(1))
        self.assertEqual(self.signal(*msi(1, 0x5A)), 1)

    def test_unknown_destination_is_zero(self):
        self.assertEqual(self.signal(*msi(7, 0x5A)), 0)

    def test_broadcast_reaches_every_vcpu(self):
        self.assertEqual(self.signal(*msi(0xFF, 0x61)), 2)
        self.assertEqual([v.apic.pir for v in self.vm.vcpus], [{0x61}, {0x61}])

    def test_broadcast_quirk_disabled_0xff_is_a_unicast_to_no_one(self):
        self.vm.x2apic_broadcast_quirk_disabled = True
        self.assertEqual(self.signal(*msi(0xFF, 0x61)), 0)

    def test_broadcast_nobody_enabled_is_zero_not_eperm(self):
        for v in self.vm.vcpus:
            self.enable(v, on=False)
        self.assertEqual(self.signal(*msi(0xFF, 0x61)), 0)

    def test_logical_destination_x2apic_cluster(self):
        # vCPU 1: cluster 0, bit 1.
        self.assertEqual(self.signal(*msi(0x02, 0x70, logical=True)), 1)
        self.assertEqual(self.vcpu(1).apic.pir, {0x70})
        self.assertEqual(self.signal(*msi(0x04, 0x71, logical=True)), 0)

    def test_level_triggered_deassert_is_dropped_assert_is_delivered(self):
        # An MSI always asserts: level-triggered MSIs are delivered.
        self.assertEqual(self.signal(*msi(0, 0x44, level_trigger=True)), 1)

    def test_nmi_mode_queues_an_nmi(self):
        self.assertEqual(self.signal(*msi(1, 0, mode=irq.APIC_DM_NMI)), 1)
        self.assertTrue(self.vcpu(1).apic.nmi_pending)
        self.assertEqual(self.vcpu(1).apic.pir, set())

    def test_nmi_mode_ignores_the_spiv_gate(self):
        self.enable(self.vcpu(1), on=False)
        self.assertEqual(self.signal(*msi(1, 0, mode=irq.APIC_DM_NMI)), 1)

    def test_smi_and_extint_are_not_delivered(self):
        for mode in (irq.APIC_DM_SMI, irq.APIC_DM_EXTINT):
            with self.subTest(mode=hex(mode)):
                self.assertEqual(self.signal(*msi(1, 0x30, mode=mode)), 0)
                self.assertEqual(self.vcpu(1).apic.pir, set())

    def test_init_and_sipi_count_but_change_nothing(self):
        for mode in (irq.APIC_DM_INIT, irq.APIC_DM_STARTUP):
            with self.subTest(mode=hex(mode)):
                self.assertEqual(self.signal(*msi(1, 0x30, mode=mode)), 1)
                self.assertEqual(self.vcpu(1).apic.pir, set())
                self.assertEqual(self.vcpu(1).mp_state, abi.KVM_MP_STATE_RUNNABLE)

    def test_lowest_priority_picks_one(self):
        self.assertEqual(self.signal(*msi(0xFF, 0x66, mode=irq.APIC_DM_LOWEST)), 1)
        self.assertEqual(sum(bool(v.apic.pir) for v in self.vm.vcpus), 1)

    def test_flags_other_than_devid_einval(self):
        self.assertEqual(self.signal(*msi(1, 0x5A), flags=abi.KVM_MSI_VALID_DEVID), 1)
        with self.assertRaises(OSError) as cm:
            self.signal(*msi(1, 0x5B), flags=2)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertEqual(self.vcpu(1).apic.pir, {0x5A})

    def test_without_split_irqchip_einval(self):
        self.vm.split_irqchip = False
        with self.assertRaises(OSError) as cm:
            self.signal(*msi(1, 0x5A))
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_x2apic_format_address_hi_low_byte_einval(self):
        lo, _, data = msi(1, 0x5A)
        self.assertEqual(self.signal(lo, 0xFF, data), 1)       # ignored without 32-bit IDs: dest 1
        self.vm.x2apic_format = True
        with self.assertRaises(OSError) as cm:
            self.signal(lo, 0x01, data)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertEqual(self.signal(lo, 0x100, data), 0)      # dest 0x101: no such vCPU
        self.assertEqual(self.signal(lo, 0, data), 1)

    def test_ignored_quirk_makes_0xff_broadcast_only_for_msis(self):
        icr = irq.Irq(0x70, dest_id=0xFF)
        self.assertEqual(irq.deliver(self.vm, self.vcpu(0), icr), 0)   # an IPI to x2APIC ID 0xFF


class Ipi(Td):
    """x2APIC ICR writes (TDVMCALL<WRMSR> and host KVM_SET_MSRS)."""

    def test_fixed_ipi_to_another_vcpu(self):
        self.assertEqual(msrs.set_msr(self.vcpu(0), ICR, 1 << 32 | 0x77), 0)
        self.assertEqual(self.vcpu(1).apic.pir, {0x77})
        self.assertEqual(self.vcpu(0).apic.pir, set())
        self.assertEqual(msrs.get_msr(self.vcpu(0), ICR), (0, 1 << 32 | 0x77))

    def test_reserved_bits_refused_without_ipi(self):
        for bit in (13, 16, 17, 20, 31):
            with self.subTest(bit=bit):
                self.assertEqual(msrs.set_msr(self.vcpu(0), ICR, 1 << 32 | 1 << bit | 0x77), 1)
                self.assertEqual(self.vcpu(1).apic.pir, set())
        # Bit 12 (delivery status) is accepted and cleared; bits 19:18 are the shorthand.
        self.assertEqual(msrs.set_msr(self.vcpu(0), ICR, 1 << 32 | 1 << 12 | 0x77), 0)
        self.assertEqual(msrs.get_msr(self.vcpu(0), ICR)[1], 1 << 32 | 0x77)

    def test_shorthands(self):
        cases = ((irq.APIC_DEST_SELF, [{0x60}, set()]), (irq.APIC_DEST_ALLINC, [{0x60}, {0x60}]),
                 (irq.APIC_DEST_ALLBUT, [set(), {0x60}]))
        for short, want in cases:
            with self.subTest(shorthand=hex(short)):
                for v in self.vm.vcpus:
                    v.apic = VirtualApic()
                self.assertEqual(msrs.set_msr(self.vcpu(0), ICR, 5 << 32 | short | 0x60), 0)
                self.assertEqual([v.apic.pir for v in self.vm.vcpus], want)

    def test_x2apic_broadcast_destination(self):
        self.assertEqual(msrs.set_msr(self.vcpu(1), ICR, 0xFFFFFFFF << 32 | 0x62), 0)
        self.assertEqual([v.apic.pir for v in self.vm.vcpus], [{0x62}, {0x62}])

    def test_nmi_ipi(self):
        self.assertEqual(msrs.set_msr(self.vcpu(0), ICR, 1 << 32 | irq.APIC_DM_NMI), 0)
        self.assertTrue(self.vcpu(1).apic.nmi_pending)

    def test_level_triggered_deassert_dropped(self):
        self.assertEqual(msrs.set_msr(self.vcpu(0), ICR, 1 << 32 | irq.APIC_INT_LEVELTRIG | 0x63), 0)
        self.assertEqual(self.vcpu(1).apic.pir, set())
        self.assertEqual(msrs.set_msr(self.vcpu(0), ICR, 1 << 32 | irq.APIC_INT_LEVELTRIG |
                                      irq.APIC_INT_ASSERT | 0x63), 0)
        self.assertEqual(self.vcpu(1).apic.pir, {0x63})

    def test_host_initiated_icr_write_sends_too(self):
        self.assertEqual(msrs.set_msr(self.vcpu(0), ICR, 1 << 32 | 0x64, host_initiated=True), 0)
        self.assertEqual(self.vcpu(1).apic.pir, {0x64})

    def test_tdvmcall_wrmsr_icr(self):
        exited, regs = tdvmcall(self.vm, self.vcpu(0), Run(), ghci.EXIT_REASON_MSR_WRITE, r12=ICR,
                                r13=1 << 32 | 0x65)
        self.assertFalse(exited)
        self.assertEqual(regs.r10, ghci.TDVMCALL_STATUS_SUCCESS)
        self.assertEqual(self.vcpu(1).apic.pir, {0x65})

    def test_self_ipi_msr_before_7_2(self):
        from tdx.emu.kernel import Kernel
        for v in self.vm.vcpus:
            v.kernel = Kernel("7.1")
        self.assertEqual(msrs.set_msr(self.vcpu(1), msrs.X2APIC_MSR(msrs.APIC_SELF_IPI), 0x6A), 0)
        self.assertEqual(self.vcpu(1).apic.pir, {0x6A})


class ExtintAndNmi(Td):
    def test_kvm_interrupt_latches_never_delivers(self):
        v = self.vcpu(0)
        self.assertEqual(irq.latch_extint(v, 255), 0)
        for bad, err in ((0x22, errno.EEXIST), (256, errno.EINVAL)):
            with self.assertRaises(OSError) as cm:
                irq.latch_extint(v, bad)
            self.assertEqual(cm.exception.errno, err)
        self.assertEqual((v.apic.pir, v.apic.irr), (set(), set()))
        self.assertFalse(irq.has_events(self.vm, v))

    def test_kvm_nmi_is_an_event(self):
        v = self.vcpu(0)
        self.assertFalse(irq.has_events(self.vm, v))
        irq.inject_nmi(self.vm, v)
        self.assertTrue(irq.has_events(self.vm, v))
        self.assertEqual(self.kicks, [0])


class WakeUp(Td):
    """kvm_vcpu_has_events() for a TD: tdx_interrupt_allowed() and
    tdx_protected_apic_has_interrupt() after each kind of exit."""

    n = 1

    def halt(self, r12):
        v = self.vcpu(0)
        exited, regs = tdvmcall(self.vm, v, Run(), ghci.EXIT_REASON_HLT, r12=r12)
        self.assertFalse(exited)
        return v

    def test_hlt_without_events_halts(self):
        for r12 in (0, 1):
            with self.subTest(r12=r12):
                self.assertTrue(self.halt(r12).halted)

    def test_table(self):
        # (R12, posted (ON), deliverable vIRR, NMI) -> wakes
        table = [
            (0, False, False, False, False),
            (0, True, False, False, True),
            (0, False, True, False, True),      # the STI-shadow case: RVI counts only here
            (1, True, False, False, False),     # interrupts blocked: no maskable wake-up
            (1, False, True, False, False),
            (1, True, True, False, False),
            (1, False, False, True, True),      # an NMI always
            (0, False, False, True, True),
            (2, True, False, False, False),     # any non-zero R12 blocks
            (1 << 63, True, False, False, False),
        ]
        for r12, on, virr, nmi, wakes in table:
            with self.subTest(r12=r12, on=on, virr=virr, nmi=nmi):
                v = self.vcpu(0)
                v.apic = VirtualApic()
                v.mp_state = abi.KVM_MP_STATE_RUNNABLE
                self.halt(r12)
                if virr:
                    v.apic.irr.add(0x50)
                if on:
                    v.apic.post(0x51)
                v.apic.nmi_pending = nmi
                self.assertEqual(irq.has_events(self.vm, v), wakes)

    def test_virr_vector_below_ppr_does_not_wake(self):
        v = self.halt(0)
        v.apic.irr.add(0x50)
        v.apic.tpr = 0x50
        self.assertFalse(irq.has_events(self.vm, v))
        v.apic.tpr = 0x4F
        self.assertTrue(irq.has_events(self.vm, v))

    def test_hlt_with_a_posted_interrupt_does_not_halt(self):
        """__kvm_emulate_halt(): with an event already there the vCPU stays RUNNABLE."""
        v = self.vcpu(0)
        v.apic.post(0x52)
        self.assertFalse(self.halt(0).halted)
        self.assertTrue(self.halt(1).halted)

    def test_virr_after_another_tdvmcall_is_not_an_event(self):
        """For exits other than HLT, KVM deliberately ignores the vIRR."""
        v = self.vcpu(0)
        v.apic.irr.add(0x50)
        tdvmcall(self.vm, v, Run(), ghci.EXIT_REASON_CPUID, r12=0)
        self.assertFalse(v.exit_hlt)
        self.assertFalse(irq.has_events(self.vm, v))

    def test_unexposed_r12_reads_as_zero(self):
        """R12 outside the RCX mask reaches KVM as 0: interrupts allowed."""
        v = self.vcpu(0)
        exited, regs = tdvmcall(self.vm, v, Run(), ghci.EXIT_REASON_HLT, mask=0x0C00, r12=1)
        self.assertTrue(v.halted)
        v.apic.post(0x53)
        self.assertTrue(irq.has_events(self.vm, v))



class FaultSwitches(Td):
    """Each interrupt fault switch changes exactly the rule it names."""

    n = 1

    def test_hlt_ignores_rvi(self):
        v = self.vcpu(0)
        tdvmcall(self.vm, v, Run(), ghci.EXIT_REASON_HLT, r12=0)
        v.apic.irr.add(0x50)
        self.assertTrue(irq.has_events(self.vm, v))
        self.vm.faults = frozenset({"hlt-ignores-rvi"})
        self.assertFalse(irq.has_events(self.vm, v))
        v.apic.post(0x51)                   # PID.ON still counts
        self.assertTrue(irq.has_events(self.vm, v))

    def test_hlt_ignores_blocked_flag(self):
        v = self.vcpu(0)
        tdvmcall(self.vm, v, Run(), ghci.EXIT_REASON_HLT, r12=1)
        v.apic.post(0x51)
        self.assertFalse(irq.has_events(self.vm, v))
        self.vm.faults = frozenset({"hlt-ignores-blocked-flag"})
        self.assertTrue(irq.has_events(self.vm, v))

    def test_msi_spiv_ignored(self):
        self.enable(self.vcpu(0), on=False)
        self.assertEqual(irq.signal_msi(self.vm, *msi(0, 0x5A), 0), 0)
        self.vm.faults = frozenset({"msi-spiv-ignored"})
        self.assertEqual(irq.signal_msi(self.vm, *msi(0, 0x5A), 0), 1)

    def test_icr_no_ipi(self):
        self.vm.faults = frozenset({"icr-no-ipi"})
        self.assertEqual(msrs.set_msr(self.vcpu(0), ICR, irq.APIC_DEST_SELF | 0x60), 0)
        self.assertEqual(self.vcpu(0).apic.pir, set())
        self.assertEqual(msrs.get_msr(self.vcpu(0), ICR), (0, irq.APIC_DEST_SELF | 0x60))
        self.assertEqual(msrs.set_msr(self.vcpu(0), ICR, 1 << 13), 1)      # still refused

if __name__ == "__main__":
    unittest.main()
