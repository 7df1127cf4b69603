# SPDX-License-Identifier: GPL-2.0-only
"""ghci_quote: TDG.VP.VMCALL<GetQuote> and <SetupEventNotifyInterrupt>.

Covers docs/kvm-tdx-uapi.md §4.9 and §4.11 as arch/x86/kvm/vmx/tdx.c has them
(tdx_get_quote(), tdx_setup_event_notify_interrupt(), tdx_complete_simple();
the same in 6.16 and kvm-x86/linux @09c6f74ecb86; GetQuote's exit since
cf207eac06f6, SetupEventNotifyInterrupt's since 4580dbef5ce0, both 6.16):

- GetQuote: the only check is the shared bit of R12 (a private GPA is
  INVALID_OPERAND with no exit); the exit is KVM_EXIT_TDX, nr 0x10002,
  flags 0, get_quote.ret preset to SUBFUNC_UNSUPPORTED, get_quote.gpa = R12
  with only the shared bit cleared, get_quote.size = R13 as passed (no size,
  zero or alignment check); the completion copies ret to R10 and writes no
  other register.  KVM neither reads nor writes the buffer: the quote
  protocol (version 1, in_len, status IN_FLIGHT then SUCCESS) is between
  the guest and the VMM (Linux drivers/virt/coco/tdx-guest/tdx-guest.c,
  QEMU target/i386/kvm/tdx.c tdx_handle_get_quote()).
- SetupEventNotifyInterrupt: R12, compared as 64 bits, must be a vector
  32..255, else INVALID_OPERAND with no exit; otherwise KVM_EXIT_TDX, nr
  0x10004, setup_event_notify.vector, ret preset to SUBFUNC_UNSUPPORTED and
  copied to R10.  KVM keeps nothing: the VMM raises the vector when a quote
  completes (GHCI 3.5; QEMU sends an MSI, as test_event_notify_after_quote
  does with KVM_SIGNAL_MSI).

The peers: the Intel tree's tdx_get_quote_test.c and
tdx_setup_event_notify_test.c (docs/c-selftests.md) test the older exit
layouts; these cases assert the upstream one.  The guest checks every GPR
after each call (ghci_quote.c); "no exit" is proven by the guest's report
being the very next exit.
"""

import struct
import time

from tdx.lib import abi, apic, ghci
from tdx.lib.exits import VcpuThread
from tdx.lib.testcase import TdxTestCase, main

OPS_OFFSET = 0x1000                 # ghci_quote.c
QUOTE_OFFSET = 0x2000
QUOTE_SIZE = 0x2000
READY_OFFSET = 0x1800

SUBFUNC_UNSUPPORTED = ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED
INVALID_OPERAND = ghci.TDVMCALL_STATUS_INVALID_OPERAND
SUCCESS = ghci.TDVMCALL_STATUS_SUCCESS

NOTIFY_VECTOR = 0xEC
MASK64 = (1 << 64) - 1
RUN_TIMEOUT = 5


def report_byte(i):
    return (i * 13 + 7) & 0xFF          # ghci_quote.c report_byte()


def quote_bytes(n):
    return bytes((i * 29 + 0x51) & 0xFF for i in range(n))


def quote_sum(data):
    return sum(b << (i % 8 * 8) for i, b in enumerate(data)) & ((1 << 64) - 1)


class GhciQuote(TdxTestCase):
    guest = "ghci_quote"

    # -- helpers --

    def td_with_ops(self, entry, make_ops, per_op=1):
        """A TD running `entry` with the operands make_ops(gvm) in the shared area."""
        gvm, vcpu = self.create_td(entry)
        ops = make_ops(gvm)
        gvm.write(gvm.layout.shared_gpa + OPS_OFFSET, struct.pack("<Q%dQ" % len(ops), len(ops) // per_op, *ops))
        return gvm, vcpu

    @staticmethod
    def quote_gpa(gvm, shared=True):
        gpa = gvm.layout.shared_gpa + QUOTE_OFFSET
        return gpa | gvm.shared_bit if shared else gpa

    def report(self, vcpu):
        """The guest's next report (R10 of the call it just made)."""
        return vcpu.run_expect_sync(timeout=RUN_TIMEOUT)

    def assertStatus(self, got, want):
        self.assertEqual(got, want, "R10 %s, expected %s" % (ghci.status_name(got), ghci.status_name(want)))

    def expect_tdx(self, vcpu, nr):
        run = vcpu.run_expect(abi.KVM_EXIT_TDX, timeout=RUN_TIMEOUT)
        self.assertEqual(run.tdx.nr, nr, "KVM_EXIT_TDX nr")
        self.assertEqual(run.tdx.flags, 0, "KVM_EXIT_TDX flags")
        return run

    def expect_quote(self, vcpu, gpa, size):
        q = self.expect_tdx(vcpu, ghci.TDVMCALL_GET_QUOTE).tdx.get_quote
        self.assertEqual((hex(q.gpa), hex(q.size)), (hex(gpa), hex(size)), "get_quote.gpa/size")
        self.assertEqual(q.ret, SUBFUNC_UNSUPPORTED, "get_quote.ret is preset to SUBFUNC_UNSUPPORTED")
        return q

    def expect_notify(self, vcpu, vector):
        s = self.expect_tdx(vcpu, ghci.TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT).tdx.setup_event_notify
        self.assertEqual(s.vector, vector, "setup_event_notify.vector")
        self.assertEqual(s.ret, SUBFUNC_UNSUPPORTED, "setup_event_notify.ret is preset to SUBFUNC_UNSUPPORTED")
        return s

    def refused_quotes(self, make_gpas):
        """GetQuote with each R12 of make_gpas(gvm), size 0x1000: INVALID_OPERAND, no exit."""
        gvm, vcpu = self.td_with_ops("guest_get_quote",
                                     lambda g: [v for gpa in make_gpas(g) for v in (gpa, 0x1000)], per_op=2)
        for _ in make_gpas(gvm):
            self.assertStatus(self.report(vcpu), INVALID_OPERAND)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def accepted_quotes(self, make_calls, rets=(SUCCESS,)):
        """make_calls(gvm) = [(R12, R13, expected gpa)]: each exits with those
        fields; userspace answers rets[i] (None: ret untouched), R10 follows."""
        gvm, vcpu = self.td_with_ops("guest_get_quote",
                                     lambda g: [v for r12, r13, _ in make_calls(g) for v in (r12, r13)],
                                     per_op=2)
        calls = make_calls(gvm)
        for i, (r12, r13, gpa) in enumerate(calls):
            q = self.expect_quote(vcpu, gpa, r13)
            ret = rets[i % len(rets)]
            if ret is not None:
                q.ret = ret
            self.assertStatus(self.report(vcpu), SUBFUNC_UNSUPPORTED if ret is None else ret)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    # -- GetQuote: the shared-bit rule at its edges --

    def test_get_quote_private_gpa_invalid_operand(self):
        """The quote buffer's GPA without the shared bit: refused, no exit."""
        self.refused_quotes(lambda g: [self.quote_gpa(g, shared=False)])

    def test_get_quote_last_private_gpa_invalid_operand(self):
        """The shared bit - 1 (the highest GPA without it) and 0: refused."""
        self.refused_quotes(lambda g: [g.shared_bit - 1, 0])

    def test_get_quote_upper_bits_without_shared_bit_invalid_operand(self):
        """Bits above the shared bit do not make a GPA shared."""
        self.refused_quotes(lambda g: [g.shared_bit << 1 | self.quote_gpa(g, shared=False),
                                       MASK64 & ~g.shared_bit])

    def test_get_quote_first_shared_gpa_exits(self):
        """R12 = the shared bit alone: accepted, get_quote.gpa = 0."""
        self.accepted_quotes(lambda g: [(g.shared_bit, 0x1000, 0)])

    def test_get_quote_only_the_shared_bit_is_stripped(self):
        """Bits above the shared bit reach userspace as they are."""
        def calls(g):
            gpa = self.quote_gpa(g, shared=False)
            return [(g.shared_bit << 1 | g.shared_bit | gpa, 0x2000, g.shared_bit << 1 | gpa),
                    (MASK64, 0x3000, MASK64 & ~g.shared_bit)]
        self.accepted_quotes(calls)

    # -- GetQuote: the exit and the completion --

    def test_get_quote_exit_fields(self):
        """KVM_EXIT_TDX nr 0x10002, flags 0, ret preset, gpa without the
        shared bit, size as passed (GPA and size differ, so a swap shows)."""
        self.accepted_quotes(lambda g: [(self.quote_gpa(g), QUOTE_SIZE, self.quote_gpa(g, shared=False))])

    def test_get_quote_size_not_checked(self):
        """Sizes 0, 1, 0x1001 and 2^63 + 0x1000 all exit with R13 as passed:
        no size or alignment rule (the 2025-04 pre-merge handler had both)."""
        self.accepted_quotes(lambda g: [(self.quote_gpa(g), size, self.quote_gpa(g, shared=False))
                                        for size in (0, 1, 0x1001, 1 << 63 | 0x1000)])

    def test_get_quote_gpa_alignment_not_checked(self):
        """An unaligned shared GPA exits with its offset."""
        self.accepted_quotes(lambda g: [(self.quote_gpa(g) + 0x123, 0x1000,
                                         self.quote_gpa(g, shared=False) + 0x123)])

    def test_get_quote_completion_copies_ret_to_r10(self):
        """Whatever userspace leaves in get_quote.ret is the guest's R10; R11
        keeps the leaf and every other GPR is preserved (ghci_quote.c)."""
        rets = (SUCCESS, ghci.TDVMCALL_STATUS_RETRY, INVALID_OPERAND, 0x0123456789ABCDEF)
        self.accepted_quotes(lambda g: [(self.quote_gpa(g), QUOTE_SIZE, self.quote_gpa(g, shared=False))] * 4,
                             rets)

    def test_get_quote_ret_untouched_is_subfunc_unsupported(self):
        """A VMM that does not handle the exit fails the call: the preset ret."""
        self.accepted_quotes(lambda g: [(self.quote_gpa(g), QUOTE_SIZE, self.quote_gpa(g, shared=False))],
                             (None,))

    def test_get_quote_buffer_protocol(self):
        """The guest's request (version 1, status 0, in_len 1024, the report)
        is what the host reads; IN_FLIGHT, then the quote with out_len and
        SUCCESS, written by the host, are what the guest reads; KVM moved no
        byte of the buffer."""
        gvm, vcpu = self.create_td("guest_quote_protocol")
        base = gvm.layout.shared_gpa + QUOTE_OFFSET
        self.expect_quote(vcpu, base, QUOTE_SIZE)
        version, status, in_len, out_len = struct.unpack("<QQII", gvm.read(base, ghci.TDX_QUOTE_HDR_SIZE))
        self.assertEqual((version, status, in_len, out_len), (ghci.TDX_QUOTE_VERSION, 0, ghci.TDX_REPORT_LEN, 0))
        report = gvm.read(base + ghci.TDX_QUOTE_HDR_SIZE, ghci.TDX_REPORT_LEN)
        self.assertEqual(report, bytes(report_byte(i) for i in range(ghci.TDX_REPORT_LEN)))
        gvm.write(base + 8, struct.pack("<Q", ghci.TDX_QUOTE_STATUS_IN_FLIGHT))
        vcpu.kvm_run.tdx.get_quote.ret = SUCCESS
        self.assertEqual(self.report(vcpu), 1)
        quote = quote_bytes(0x5A3)
        gvm.write(base + ghci.TDX_QUOTE_HDR_SIZE, quote)
        gvm.write(base + 20, struct.pack("<I", len(quote)))
        gvm.write(base + 8, struct.pack("<Q", ghci.TDX_QUOTE_STATUS_SUCCESS))
        self.assertEqual(self.report(vcpu), len(quote))
        self.assertEqual(self.report(vcpu), quote_sum(quote))
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    # -- SetupEventNotifyInterrupt --

    def notify(self, vectors):
        return self.td_with_ops("guest_setup_event_notify", lambda g: list(vectors))

    def refused_vectors(self, vectors):
        gvm, vcpu = self.notify(vectors)
        for _ in vectors:
            self.assertStatus(self.report(vcpu), INVALID_OPERAND)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_setup_event_notify_vector_31_invalid_operand(self):
        """The last refused value below the range, and 0."""
        self.refused_vectors([31, 0])

    def test_setup_event_notify_vector_256_invalid_operand(self):
        """The first refused value above the range."""
        self.refused_vectors([256])

    def test_setup_event_notify_upper_bits_invalid_operand(self):
        """R12 is compared as 64 bits: 2^32 + 32 and 2^63 + 255 are not vectors."""
        self.refused_vectors([1 << 32 | 32, 1 << 63 | 255])

    def _accepted_vector(self, vector, ret):
        gvm, vcpu = self.notify([vector])
        s = self.expect_notify(vcpu, vector)
        s.ret = ret
        self.assertStatus(self.report(vcpu), ret)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_setup_event_notify_vector_32_exits(self):
        """The first accepted vector; the completion copies ret (RETRY here) to R10."""
        self._accepted_vector(32, ghci.TDVMCALL_STATUS_RETRY)

    def test_setup_event_notify_vector_255_exits(self):
        """The last accepted vector; ret SUCCESS."""
        self._accepted_vector(255, SUCCESS)

    def test_setup_event_notify_ret_untouched_is_subfunc_unsupported(self):
        gvm, vcpu = self.notify([0x80])
        self.expect_notify(vcpu, 0x80)
        self.assertStatus(self.report(vcpu), SUBFUNC_UNSUPPORTED)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_event_notify_after_quote(self):
        """The whole flow: the guest sets up the notification vector, asks
        for a quote and waits with interrupts on; the host completes the
        quote and raises the vector with KVM_SIGNAL_MSI to the vCPU that set
        it up (as QEMU does); the guest's handler sees that vector and the
        buffer says SUCCESS."""
        gvm, vcpu = self.create_td("guest_quote_notify", args=NOTIFY_VECTOR)
        s = self.expect_notify(vcpu, NOTIFY_VECTOR)
        s.ret = SUCCESS
        base = gvm.layout.shared_gpa + QUOTE_OFFSET
        self.expect_quote(vcpu, base, QUOTE_SIZE).ret = SUCCESS
        gvm.write(base + 8, struct.pack("<Q", ghci.TDX_QUOTE_STATUS_IN_FLIGHT))
        waiting = VcpuThread(lambda v: v.run_expect_sync(timeout=RUN_TIMEOUT), vcpu)
        waiting.start()
        self.wait_ready(gvm)
        quote = quote_bytes(0x200)
        gvm.write(base + ghci.TDX_QUOTE_HDR_SIZE, quote)
        gvm.write(base + 20, struct.pack("<I", len(quote)))
        gvm.write(base + 8, struct.pack("<Q", ghci.TDX_QUOTE_STATUS_SUCCESS))
        self.assertEqual(gvm.vm.signal_msi(*apic.msi(vcpu.index, NOTIFY_VECTOR)), 1)
        self.assertEqual(waiting.join_result(), quote_sum(quote))
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def wait_ready(self, gvm):
        """The guest says it is about to wait (it cannot exit to say so)."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while gvm.read(gvm.layout.shared_gpa + READY_OFFSET, 8) == bytes(8):
            if time.monotonic() > deadline:
                self.fail("the guest never got to wait for the notification")
            time.sleep(0.001)


if __name__ == "__main__":
    main()
