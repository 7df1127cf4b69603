# SPDX-License-Identifier: GPL-2.0-only
"""ghci_mmio: TDG.VP.VMCALL<#VE.RequestMMIO>.

Covers docs/kvm-tdx-uapi.md §4.14 (validation of size, direction and
the shared bit of GPA and GPA + size - 1; the KVM_EXIT_MMIO layout; read
completion into R11; R10 untouched), §3.2 (the shared bit, stripped from
phys_addr) and §3.3 (a shared GPA is emulated MMIO, whether or not a memslot
backs it), and §4.1 for the registers of the call, in the shapes of
docs/c-selftests.md §1 rows 11 and 12.

Each case checks the host's view of every exit (reason, phys_addr without
the shared bit, len, is_write, write data) and the guest's (R10 status, R11
data, every other GPR unchanged: ghci_mmio.c).  "No exit" is proven by
ordering: the guest reports (GUEST_SYNC) right after each call KVM must
refuse, and the host requires that report to be the very next exit.

Kernel behaviour the reference leaves implicit (arch/x86/kvm/vmx/tdx.c
tdx_emulate_mmio, kvm-x86/linux @09c6f74ecb86):
- size and direction are read into `int`: bits 63:32 of R12 and R13 do not
  count, so a size of (1 << 32) | 4 is a 4-byte access, (1 << 32) is size 0
  (refused), and a direction of (1 << 32) | 1 is a write (contrast
  Instruction.IO, which compares all 64 bits; ghci_io);
- no alignment, page-boundary or memslot check: only the shared bit of the
  first and the last byte;
- after a write KVM writes neither R10 nor R11: the guest gets back the R11
  it passed (the sub-function, 48).
The anchors' negative MMIO cases expected KVM_EXIT_SYSTEM_EVENT from a
guest-side fatal error; here the guest checks INVALID_OPERAND itself.
"""

from tdx.lib import abi, boot
from tdx.lib.ghci import TDX_MMIO_READ as READ, TDX_MMIO_WRITE as WRITE
from tdx.lib.testcase import TdxTestCase, main

MMIO_GPA = 0x200000000              # ghci_mmio.c, anchor rows 11 and 12
SIZES = (1, 2, 4, 8)
VALUES = (0x12, 0x1234, 0x12345678, 0x1234567890ABCDEF)
ZEXT_PATTERN = bytes(range(0xF1, 0xF9))         # 8 bytes, every one with bit 7 set
BAD_SIZES = (0, 3, 5, 7, 9, 10, 16, 1 << 32)    # ghci_mmio.c bad_sizes[]
RAM_OFFSET = 0x3000                 # a page of the shared test area
RAM_PATTERN = bytes(range(0x30, 0x38))
MASK64 = (1 << 64) - 1
XAPIC_ICR_GPA = 0xFEE00300          # APIC_DEFAULT_PHYS_BASE + APIC_ICR

RUN_TIMEOUT = 5                     # see ghci_io.RUN_TIMEOUT


class GhciMmio(TdxTestCase):
    guest = "ghci_mmio"

    # -- helpers --

    def expect_mmio(self, vcpu, gpa, size, write):
        """The next exit is KVM_EXIT_MMIO at `gpa` (no shared bit) with these fields."""
        mmio = vcpu.run_expect_mmio(gpa, size, write, timeout=RUN_TIMEOUT)
        run = vcpu.kvm_run
        self.assertEqual(run.exit_reason, abi.KVM_EXIT_MMIO)
        self.assertEqual(run.mmio.phys_addr, gpa)
        self.assertFalse(run.mmio.phys_addr & vcpu.guest.shared_bit, "phys_addr carries the shared bit")
        self.assertEqual(run.mmio.len, size)
        self.assertEqual(run.mmio.is_write, 1 if write else 0)
        return mmio

    def expect_write(self, vcpu, gpa, size, value):
        mmio = self.expect_mmio(vcpu, gpa, size, write=True)
        self.assertEqual(mmio.value, value, "write data: the low %d byte(s) of R15" % size)

    def expect_read(self, vcpu, gpa, size, reply):
        self.expect_mmio(vcpu, gpa, size, write=False).reply(reply)

    def sync(self, vcpu, n):
        """The guest's report n is the very next exit: nothing exited before it."""
        self.assertEqual(vcpu.run_expect_sync(n, timeout=RUN_TIMEOUT), n)

    def done(self, vcpu):
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    # -- reads and writes (§4.14) --

    def test_read_sizes(self):
        """Reads of 1, 2, 4 and 8 bytes: phys_addr without the shared bit, data to R11 (anchor row 11)."""
        gvm, vcpu = self.create_td("guest_read_sizes")
        for size, value in zip(SIZES, VALUES):
            self.expect_read(vcpu, MMIO_GPA, size, value)
        self.done(vcpu)

    def test_write_sizes(self):
        """Writes of 1, 2, 4 and 8 bytes carry the low `size` bytes of R15 (anchor row 12)."""
        gvm, vcpu = self.create_td("guest_write_sizes")
        for size, value in zip(SIZES, VALUES):
            self.expect_write(vcpu, MMIO_GPA, size, value)
        self.done(vcpu)

    def test_read_zero_extended(self):
        """Read completion zero-extends `size` bytes of mmio.data into R11, ignoring the rest."""
        gvm, vcpu = self.create_td("guest_read_zero_extended")
        for size in SIZES:
            self.expect_mmio(vcpu, MMIO_GPA, size, write=False)
            data = vcpu.kvm_run.mmio.data
            for i, b in enumerate(ZEXT_PATTERN):        # all 8 bytes, not just `size`
                data[i] = b
        self.done(vcpu)

    def test_unaligned_page_crossing(self):
        """No alignment or page-boundary check: the exit carries the exact GPA."""
        gvm, vcpu = self.create_td("guest_unaligned_page_crossing")
        self.expect_read(vcpu, MMIO_GPA + 0xFFC, 8, VALUES[3])
        self.expect_write(vcpu, MMIO_GPA + 0x1FFF, 2, VALUES[1])
        self.done(vcpu)

    def test_ram_gpa_still_exits(self):
        """A shared GPA with a memslot behind it is still a KVM_EXIT_MMIO; KVM does not touch the RAM."""
        gpa = boot.SHARED_GPA + RAM_OFFSET
        gvm, vcpu = self.create_td("guest_ram_gpa", args=gpa)
        self.assertEqual(gvm.layout.shared_gpa, boot.SHARED_GPA)
        gvm.write(gpa, RAM_PATTERN)
        self.expect_write(vcpu, gpa, 8, VALUES[3])
        self.assertEqual(gvm.read(gpa, 8), RAM_PATTERN, "KVM wrote the MMIO data to RAM")
        self.expect_read(vcpu, gpa, 8, VALUES[3] ^ MASK64)
        self.done(vcpu)
        self.assertEqual(gvm.read(gpa, 8), RAM_PATTERN)

    def test_xapic_page_exits_to_user(self):
        """The xAPIC page (0xFEE00000, here its ICR at 0x300) is no device of KVM's
        for a TD: #VE.RequestMMIO there is a KVM_EXIT_MMIO like any other shared
        GPA, the write's data and the read's reply pass through whole
        (tdx_emulate_mmio() uses only KVM_FAST_MMIO_BUS and KVM_MMIO_BUS; the
        in-kernel LAPIC is not on them)."""
        gvm, vcpu = self.create_td("guest_ram_gpa", args=XAPIC_ICR_GPA)
        self.expect_write(vcpu, XAPIC_ICR_GPA, 8, VALUES[3])
        self.expect_read(vcpu, XAPIC_ICR_GPA, 8, VALUES[3] ^ MASK64)
        self.done(vcpu)

    def test_last_shared_bytes(self):
        """GPA + size - 1 just below the carry out of the shared bit is still shared: accepted."""
        gvm, vcpu = self.create_td("guest_last_shared_bytes")
        shared_bit = gvm.shared_bit
        for size, value in zip(SIZES, VALUES):
            self.expect_read(vcpu, shared_bit - size, size, value)
        self.done(vcpu)

    def test_size_upper_bits_ignored(self):
        """KVM keeps the size in an int: (1 << 32) | 4 is 4 bytes, 0xFFFFFFFF00000008 is 8."""
        gvm, vcpu = self.create_td("guest_size_upper_bits")
        self.expect_read(vcpu, MMIO_GPA, 4, VALUES[2])
        self.expect_write(vcpu, MMIO_GPA, 8, VALUES[3])
        self.done(vcpu)

    def test_direction_upper_bits_ignored(self):
        """KVM keeps the direction in an int: (1 << 32) | 1 writes, 1 << 32 reads."""
        gvm, vcpu = self.create_td("guest_direction_upper_bits")
        self.expect_write(vcpu, MMIO_GPA, 4, VALUES[2])
        self.expect_read(vcpu, MMIO_GPA, 4, VALUES[2])
        self.done(vcpu)

    # -- operands KVM refuses: INVALID_OPERAND and no exit (§4.14) --

    def _refused(self, entry, arg, reports):
        gvm, vcpu = self.create_td(entry, args=arg)
        for n in range(1, reports + 1):
            self.sync(vcpu, n)
        self.done(vcpu)

    def test_read_bad_sizes_invalid_operand(self):
        """Sizes 0, 3, 5, 7 and 9 (the neighbours of the valid 1, 2, 4 and 8,
        tdx_emulate_mmio()), 10 (anchor row 11), 16 and (1 << 32) (0 as an int)."""
        self._refused("guest_bad_sizes", READ, len(BAD_SIZES))

    def test_write_bad_sizes_invalid_operand(self):
        self._refused("guest_bad_sizes", WRITE, len(BAD_SIZES))

    def test_direction_2_invalid_operand(self):
        self._refused("guest_bad_direction", 2, 2)

    def test_direction_minus_1_invalid_operand(self):
        """0xFFFFFFFF is -1 as KVM's int: refused."""
        self._refused("guest_bad_direction", 0xFFFFFFFF, 2)

    def test_private_gpa_read_invalid_operand(self):
        """No shared bit on the first byte: an unbacked GPA, private RAM, a GPA with only a
        higher bit set, and an access from private into shared (last byte shared)."""
        self._refused("guest_private_gpa", READ, 4)

    def test_private_gpa_write_invalid_operand(self):
        """Anchor row 12's negative part."""
        self._refused("guest_private_gpa", WRITE, 4)

    def test_crossing_shared_into_private_read_invalid_operand(self):
        """The first byte has the shared bit, the last one not (the carry out of it): sizes 2, 4, 8."""
        self._refused("guest_crossing_into_private", READ, 3)

    def test_crossing_shared_into_private_write_invalid_operand(self):
        self._refused("guest_crossing_into_private", WRITE, 3)

    # -- the RCX mask (§4.1) --

    def test_unexposed_r14_not_leaked(self):
        """The GPA register outside the mask: KVM sees GPA 0, private, and refuses it without an exit."""
        self._refused("guest_unexposed_r14", 0, 1)

    def test_unexposed_r15_not_leaked(self):
        """A write whose data register R15 is outside the mask delivers 0."""
        gvm, vcpu = self.create_td("guest_unexposed_r15")
        self.expect_write(vcpu, MMIO_GPA, 8, 0)
        self.done(vcpu)

    def test_unexposed_registers_preserved(self):
        """Poison in every GPR outside the mask (R15 too, on a read) comes back unchanged."""
        gvm, vcpu = self.create_td("guest_unexposed_registers_preserved")
        self.expect_write(vcpu, MMIO_GPA, 8, VALUES[3])
        self.expect_read(vcpu, MMIO_GPA, 8, VALUES[3])
        self.done(vcpu)


if __name__ == "__main__":
    main()
