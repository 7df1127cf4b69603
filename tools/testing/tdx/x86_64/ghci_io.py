# SPDX-License-Identifier: GPL-2.0-only
"""ghci_io: TDG.VP.VMCALL<Instruction.IO> and the TDG.VP.VMCALL register ABI.

Covers docs/kvm-tdx-uapi.md §4.6 (Instruction.IO: validation, the
KVM_EXIT_IO layout, IN completion into R11, R10 untouched on success) and
§4.1 (the RCX GPR-select mask: registers outside it are neither shown to the
VMM nor changed; masks the TDX module refuses fail the TDCALL with no exit)
and, through an unexposed R11, §4.3's default (sub-function 0 is
SUBFUNC_UNSUPPORTED), in the shapes of docs/c-selftests.md §1 rows 3, 6
and 7.

Each case checks the host's view of every exit (reason, direction, size,
port, count, data_offset, OUT data) and the guest's (R10 status, R11 data,
every other GPR unchanged: ghci_io.c).  "No exit" is proven by ordering: the
guest reports (GUEST_SYNC) right after a call KVM must refuse, and the host
requires that report to be the very next exit.

Kernel behaviour the reference leaves implicit (arch/x86/kvm/vmx/tdx.c
tdx_emulate_io, kvm-x86/linux @09c6f74ecb86, and arch/x86/kvm/x86.c
emulator_pio_{in,out}_emulated):
- size and direction are read as u64: a size of (1 << 32) | 1 or a direction
  of (1 << 32) | 1 is refused (contrast #VE.RequestMMIO, which reads them as
  int; ghci_mmio);
- the port is read as unsigned int and the PIO emulator takes an unsigned
  short, so R14 bits above 15 are dropped;
- after an OUT KVM writes neither R10 nor R11: the guest gets back the R11 it
  passed (the sub-function, 30);
- KVM_EXIT_IO data lives one page after kvm_run (KVM_PIO_PAGE_OFFSET 1).
"""

from tdx.lib import abi
from tdx.lib.testcase import TdxTestCase, main

PORT_ECHO = 0x50                    # ghci_io.c
PORT_OUT = 0x51
PORT_IN = 0x52

PAGE_SIZE = 4096
KVM_PIO_PAGE_OFFSET = 1             # arch/x86/include/uapi/asm/kvm.h
PIO_DATA_OFFSET = KVM_PIO_PAGE_OFFSET * PAGE_SIZE

SIZES = (1, 2, 4)
VALUES = (0xAB, 0xABCD, 0xFFABCDEF)             # anchor rows 6 and 7
ZEXT_PATTERN = bytes(range(0xF1, 0xF9))         # 8 bytes, every one with bit 7 set
IN_REPLY = 0xCD                                 # guest_unexposed_r13
PORT_REPLY = 0xA55A                             # guest_port

IO_MASK = 0xFC00                                # TDVMCALL_EXPOSE_R10_R15_MASK

# A case runs a tiny guest: a few ms per exit.  A short limit makes a case that
# waits for an exit that never comes fail fast instead of at the default 10 s.
RUN_TIMEOUT = 5


class GhciIo(TdxTestCase):
    guest = "ghci_io"

    # -- helpers --

    def expect_io(self, vcpu, port, size, write):
        """The next exit is KVM_EXIT_IO with these fields; returns the IoExit."""
        io = vcpu.run_expect_io(port, size, write, timeout=RUN_TIMEOUT)
        run = vcpu.kvm_run
        self.assertEqual(run.exit_reason, abi.KVM_EXIT_IO)
        self.assertEqual(run.io.direction, abi.KVM_EXIT_IO_OUT if write else abi.KVM_EXIT_IO_IN)
        self.assertEqual(run.io.size, size)
        self.assertEqual(run.io.port, port)
        self.assertEqual(run.io.count, 1, "Instruction.IO is never a string or REP access")
        self.assertEqual(run.io.data_offset, PIO_DATA_OFFSET, "data_offset (KVM_PIO_PAGE_OFFSET pages)")
        return io

    def expect_out(self, vcpu, port, size, value):
        io = self.expect_io(vcpu, port, size, write=True)
        self.assertEqual(io.value, value, "OUT data: the low %d byte(s) of R15" % size)

    def expect_in(self, vcpu, port, size, reply):
        self.expect_io(vcpu, port, size, write=False).reply(reply)

    def sync(self, vcpu, n):
        """The guest's report n is the very next exit: nothing exited before it."""
        self.assertEqual(vcpu.run_expect_sync(n, timeout=RUN_TIMEOUT), n)

    def done(self, vcpu):
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    # -- OUT and IN (§4.6) --

    def test_out_sizes(self):
        """OUT of 1, 2 and 4 bytes: the exit carries the low `size` bytes of R15 (anchor row 6)."""
        gvm, vcpu = self.create_td("guest_out_sizes")
        for size, value in zip(SIZES, VALUES):
            self.expect_out(vcpu, PORT_OUT, size, value)
        self.done(vcpu)

    def test_in_sizes(self):
        """IN of 1, 2 and 4 bytes: the host's data reaches R11, R10 stays SUCCESS (anchor row 7)."""
        gvm, vcpu = self.create_td("guest_in_sizes")
        for size, value in zip(SIZES, VALUES):
            self.expect_in(vcpu, PORT_IN, size, value)
        self.done(vcpu)

    def test_in_zero_extended(self):
        """IN completion zero-extends `size` bytes into R11, whatever else is in the data page."""
        gvm, vcpu = self.create_td("guest_in_zero_extended")
        for size in SIZES:
            self.expect_io(vcpu, PORT_IN, size, write=False)
            vcpu.set_io_data(ZEXT_PATTERN)          # all 8 bytes, not just `size`
        self.done(vcpu)

    def test_out_in_round_trip(self):
        """The host answers each IN with the preceding OUT's value + 1, at every size (anchor row 3)."""
        gvm, vcpu = self.create_td("guest_out_in_round_trip")
        for size, value in zip(SIZES, VALUES):
            io = self.expect_io(vcpu, PORT_ECHO, size, write=True)
            self.assertEqual(io.value, value)
            seen = io.value
            self.expect_in(vcpu, PORT_ECHO, size, (seen + 1) & ((1 << 8 * size) - 1))
        self.done(vcpu)

    def _port(self, port):
        gvm, vcpu = self.create_td("guest_port", args=port)
        self.expect_out(vcpu, port, 1, 0x5A)
        self.expect_in(vcpu, port, 2, PORT_REPLY)
        self.done(vcpu)

    def test_port_0(self):
        self._port(0)

    def test_port_ffff(self):
        self._port(0xFFFF)

    def test_port_upper_bits_ignored(self):
        """R14 bits above 15 never reach kvm_run: the port is an unsigned short in KVM's PIO emulator."""
        gvm, vcpu = self.create_td("guest_port_upper_bits")
        self.expect_out(vcpu, PORT_OUT, 1, 0xAB)
        self.expect_in(vcpu, PORT_IN, 1, 0xAB)
        self.done(vcpu)

    # -- operands KVM refuses: INVALID_OPERAND and no exit (§4.6) --

    def _refused(self, entry, arg):
        gvm, vcpu = self.create_td(entry, args=arg)
        self.sync(vcpu, 1)          # after the refused OUT
        self.sync(vcpu, 2)          # after the refused IN
        self.done(vcpu)

    def test_size_0_invalid_operand(self):
        self._refused("guest_bad_size", 0)

    def test_size_3_invalid_operand(self):
        self._refused("guest_bad_size", 3)

    def test_size_5_invalid_operand(self):
        """Anchor rows 6 and 7's negative part."""
        self._refused("guest_bad_size", 5)

    def test_size_8_invalid_operand(self):
        """8 is a valid MMIO size but not an IO size."""
        self._refused("guest_bad_size", 8)

    def test_size_upper_bits_invalid_operand(self):
        """KVM compares the whole 64-bit R12: (1 << 32) | 1 is not size 1."""
        self._refused("guest_bad_size", (1 << 32) | 1)

    def test_direction_2_invalid_operand(self):
        self._refused("guest_bad_direction", 2)

    def test_direction_upper_bits_invalid_operand(self):
        """KVM compares the whole 64-bit R13: (1 << 32) | 1 is not OUT."""
        self._refused("guest_bad_direction", (1 << 32) | 1)

    # -- the RCX mask: what reaches the VMM and what comes back (§4.1) --

    def test_unexposed_registers_preserved(self):
        """Poison in every GPR outside the mask (R15 too, on an IN) comes back unchanged."""
        gvm, vcpu = self.create_td("guest_unexposed_registers_preserved")
        self.expect_out(vcpu, PORT_OUT, 4, 0xFFABCDEF)
        self.expect_in(vcpu, PORT_IN, 4, 0xFFABCDEF)
        self.done(vcpu)

    def test_exposed_registers_returned(self):
        """With the Linux guest's mask (RDX..R15) KVM hands every exposed GPR back unchanged."""
        gvm, vcpu = self.create_td("guest_exposed_registers_returned")
        self.expect_out(vcpu, PORT_OUT, 2, 0xABCD)
        self.expect_in(vcpu, PORT_IN, 2, 0xABCD)
        self.done(vcpu)

    def test_unexposed_r15_not_leaked(self):
        """An OUT whose data register R15 is outside the mask delivers 0: the VMM never sees R15."""
        gvm, vcpu = self.create_td("guest_unexposed_r15")
        self.expect_out(vcpu, PORT_OUT, 4, 0)
        self.done(vcpu)

    def test_unexposed_r14_not_leaked(self):
        """The port register outside the mask: KVM sees port 0."""
        gvm, vcpu = self.create_td("guest_unexposed_r14")
        self.expect_out(vcpu, 0, 2, 0xABCD)
        self.done(vcpu)

    def test_unexposed_r13_not_leaked(self):
        """The direction register (OUT) outside the mask: KVM sees 0 and performs an IN."""
        gvm, vcpu = self.create_td("guest_unexposed_r13")
        self.expect_in(vcpu, PORT_OUT, 1, IN_REPLY)
        self.done(vcpu)

    def test_unexposed_r12_not_leaked(self):
        """The size register (4) outside the mask: KVM sees size 0 and refuses it, no exit."""
        gvm, vcpu = self.create_td("guest_unexposed_r12")
        self.sync(vcpu, 1)
        self.done(vcpu)

    def test_unexposed_r11_not_leaked(self):
        """The sub-function register outside the mask: KVM sees sub-function 0, SUBFUNC_UNSUPPORTED (§4.3)."""
        gvm, vcpu = self.create_td("guest_unexposed_r11")
        self.sync(vcpu, 1)
        self.done(vcpu)

    def test_unexposed_r10_keeps_guest_value(self):
        """R10 outside the mask: KVM sees 0 (GHCI standard); its status never reaches the guest."""
        gvm, vcpu = self.create_td("guest_unexposed_r10")
        self.expect_out(vcpu, PORT_OUT, 1, 0xAB)
        self.sync(vcpu, 1)          # the size-5 call was refused without an exit
        self.done(vcpu)

    def _rcx_rejected(self, mask):
        gvm, vcpu = self.create_td("guest_rcx_mask_rejected", args=mask)
        self.sync(vcpu, 1)          # an accepted call would have exited on PORT_OUT first
        self.sync(vcpu, 2)
        self.done(vcpu)

    def test_rcx_mask_rax_bit_rejected(self):
        self._rcx_rejected(IO_MASK | 1 << 0)

    def test_rcx_mask_rcx_bit_rejected(self):
        self._rcx_rejected(IO_MASK | 1 << 1)

    def test_rcx_mask_rsp_bit_rejected(self):
        self._rcx_rejected(IO_MASK | 1 << 4)

    def test_rcx_mask_rbp_bit_rejected(self):
        """RBP: refused because KVM creates every TD with TDX_CONFIG_FLAGS_NO_RBP_MOD (§2.3)."""
        self._rcx_rejected(IO_MASK | 1 << 5)

    def test_rcx_mask_bit_32_rejected(self):
        self._rcx_rejected(IO_MASK | 1 << 32)

    def test_rcx_mask_bit_63_rejected(self):
        self._rcx_rejected(IO_MASK | 1 << 63)

    def test_rcx_mask_xmm_bits_accepted(self):
        """RCX bits 31:16 select XMM registers; the module accepts them and the call goes through."""
        gvm, vcpu = self.create_td("guest_rcx_mask_xmm_bits")
        self.expect_out(vcpu, PORT_OUT, 4, 0xFFABCDEF)
        self.done(vcpu)


if __name__ == "__main__":
    main()
