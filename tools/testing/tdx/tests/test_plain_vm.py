# SPDX-License-Identifier: GPL-2.0-only
"""Real guests on this machine's /dev/kvm, in a plain 64-bit VM (issue 2 item 6).

Each guest boots like a TD vCPU, through the reset vector and the runtime's
32-bit stub (tdx.lib.boot.initial_vcpu_state), then calls a function of
tests/guest_basic.c by name.  The VM is the "default" shape of tdx.lib.td.
"""

import contextlib
import io
import os
import time
import unittest

from tdx.lib import abi, boot, td, ucall
from tdx.lib.guest import GuestImage, GuestImageError, find_image
from tdx.lib.kvm import Kvm, KvmUnavailable, VcpuTimeout
from tdx.lib.ucall import GuestAssertionError, GuestExceptionError

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest_basic.c")
PORT_IO_OUT = 0x50
PORT_IO_IN = 0x51
PORT_IO_REPORT = 0x52
MSR_FILTERED = 0x1A0
TDCALL_DOORBELL_PORT = 0xE4             # guest/include/tdx.h
TDCALL_BYTES = bytes((0x66, 0x0F, 0x01, 0xCC))
GPRS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")


def run_to_tdcall(testcase, vcpu):
    """Run to the guest's TDCALL; returns how it arrived: "exit" or "doorbell".

    A host whose KVM emulates CPL0 code (kvm_pvm) stops with
    KVM_EXIT_INTERNAL_ERROR at the TDCALL, with its bytes when the kernel
    reports them (Linux 5.16 on): the guest runtime's #UD doorbell is then
    reached by reflecting #UD, as a VMX host's CPU raises it.  On VMX/SVM
    hosts the CPU raises #UD itself and the runtime's handler OUTs to the
    doorbell port.
    """
    run = vcpu.kvm_run
    reason = vcpu.run(timeout=2)
    if reason == abi.KVM_EXIT_IO:
        testcase.assertEqual(run.io.port, TDCALL_DOORBELL_PORT)
        return "doorbell"
    testcase.assertEqual(reason, abi.KVM_EXIT_INTERNAL_ERROR)
    if run.internal.ndata >= 3 and run.internal.data[0] & 1:
        data = b"".join(run.internal.data[i].to_bytes(8, "little") for i in range(1, 3))
        testcase.assertEqual(data[1:5], TDCALL_BYTES)      # data[1]: insn_size, then the bytes at RIP
    return "exit"


def source_line(text):
    with open(SOURCE) as f:
        for number, line in enumerate(f, 1):
            if text in line:
                return number
    raise AssertionError("%r not in %s" % (text, SOURCE))


class PlainVmTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            cls.kvm = Kvm()
        except KvmUnavailable as e:
            raise unittest.SkipTest(str(e))
        try:
            cls.image = GuestImage.load(find_image("guest_basic", "tests"))
        except GuestImageError as e:
            cls.kvm.close()
            raise unittest.SkipTest(str(e))

    @classmethod
    def tearDownClass(cls):
        cls.kvm.close()

    def guest(self, entry, arg=0, **options):
        gvm = td.create_guest(self.kvm, self.image, entry, shape="default", args=arg, **options)
        self.addCleanup(gvm.close)
        return gvm, gvm.vcpus[0]

    def insn_addr(self, function, opcode):
        """Address of the first `opcode` bytes in `function`."""
        addr = self.image.symbol(function)
        text = self.image.segments[0]
        offset = text.data.index(opcode, addr - text.vaddr)
        return text.vaddr + offset

    # -- calling guest code ------------------------------------------------

    def test_call_by_symbol(self):
        # .data and .bss are loaded per VM: the second VM starts from zero again.
        for arg in (5, 7):
            _, vcpu = self.guest("guest_return_value", arg)
            self.assertEqual(vcpu.run_until_done(), 0x1000 + 2 * arg + 1)

    def test_sync_then_done(self):
        _, vcpu = self.guest("guest_sync", 40)
        self.assertEqual(vcpu.run_expect_sync(), 40)
        self.assertEqual(vcpu.run_expect_sync(41), 41)
        self.assertEqual(vcpu.run_until_done(), 0)
        # A final report is repeated if the host resumes anyway.
        self.assertEqual(vcpu.run_until_done(), 0)

    def test_two_vcpus(self):
        gvm, _ = self.guest("guest_sync", [10, 20], nr_vcpus=2)
        a, b = gvm.vcpus
        self.assertEqual(a.run_expect_sync(), 10)
        self.assertEqual(b.run_expect_sync(), 20)
        self.assertEqual(b.run_expect_sync(), 21)
        self.assertEqual(a.run_expect_sync(), 11)
        a.run_until_done()
        b.run_until_done()

    # -- port I/O ----------------------------------------------------------

    def test_io_out(self):
        _, vcpu = self.guest("guest_io_out")
        for size, value in ((1, 0xAB), (2, 0xABCD), (4, 0xFFABCDEF)):
            self.assertEqual(vcpu.run_expect_io(PORT_IO_OUT, size, write=True).value, value)
        vcpu.run_until_done()

    def test_io_in_round_trip(self):
        _, vcpu = self.guest("guest_io_in")
        for size, value in ((1, 0x41), (2, 0xBEEF), (4, 0x12345678)):
            vcpu.run_expect_io(PORT_IO_IN, size, write=False).reply(value)
            self.assertEqual(vcpu.run_expect_io(PORT_IO_OUT, size, write=True).value, value + 1)
        vcpu.run_until_done()

    # -- MMIO at an unbacked GPA -------------------------------------------

    def test_mmio(self):
        gvm, vcpu = self.guest("guest_mmio")
        base = gvm.layout.mmio_gpa
        vcpu.run_expect_mmio(base, 8, write=False).reply(0x1122334455667788)
        vcpu.run_expect_mmio(base + 0x10, 4, write=False).reply(0xAABBCCDD)
        self.assertEqual(vcpu.run_expect_mmio(base + 8, 8, write=True).value, 0x1122334455667788 ^ (2**64 - 1))
        self.assertEqual(vcpu.run_expect_mmio(base + 0x14, 4, write=True).value, 0xAABBCCDD ^ 0xFFFFFFFF)
        vcpu.run_until_done()

    # -- MSRs through KVM_X86_SET_MSR_FILTER --------------------------------

    def filtered_msr_guest(self, add):
        # User-space MSR exits and the MSR filter: Linux 5.10 (the documented baseline).
        for cap, name in ((abi.KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR"),
                          (abi.KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER")):
            if not self.kvm.check_extension(cap):
                self.skipTest("host KVM lacks %s" % name)
        gvm, vcpu = self.guest("guest_msr", add)
        gvm.vm.enable_cap(abi.KVM_CAP_X86_USER_SPACE_MSR, abi.KVM_MSR_EXIT_REASON_FILTER)
        # A clear bitmap bit denies the access, which KVM turns into a userspace exit.
        gvm.vm.set_msr_filter([(abi.KVM_MSR_FILTER_READ | abi.KVM_MSR_FILTER_WRITE, MSR_FILTERED, b"\0")])
        return vcpu

    def test_msr_filter_exits(self):
        vcpu = self.filtered_msr_guest(5)
        run = vcpu.run_expect(abi.KVM_EXIT_X86_RDMSR)
        self.assertEqual((run.msr.index, run.msr.reason), (MSR_FILTERED, abi.KVM_MSR_EXIT_REASON_FILTER))
        run.msr.data = 0x1122334455667788
        run.msr.error = 0
        run = vcpu.run_expect(abi.KVM_EXIT_X86_WRMSR)
        self.assertEqual((run.msr.index, run.msr.data), (MSR_FILTERED, 0x1122334455667788 + 5))
        run.msr.error = 0
        self.assertEqual(vcpu.run_until_done(), 0x1122334455667788)

    def test_msr_filter_error_is_gp(self):
        vcpu = self.filtered_msr_guest(0)
        vcpu.run_expect(abi.KVM_EXIT_X86_RDMSR).msr.error = 1
        with self.assertRaises(GuestExceptionError) as cm:
            vcpu.run_until_done()
        self.assertEqual((cm.exception.vector, cm.exception.error_code), (13, 0))
        self.assertEqual(cm.exception.rip, self.insn_addr("guest_msr", b"\x0f\x32"))

    # -- CPUID -------------------------------------------------------------

    def test_cpuid_from_set_cpuid2(self):
        # Leaf 1 ECX/EDX are overwritten by kvm_pvm (docs/host-kvm.md §3): use others.
        values = {0x40000000: (0x40000001, 0x73584454, 0x74666c65, 0x73747365),   # "TDXselftests"
                  0x80000008: (0x3027, 0, 0, 0)}
        for leaf, expected in values.items():
            with self.subTest(leaf=hex(leaf)):
                _, vcpu = self.guest("guest_cpuid", leaf)
                entries = [e if e[0] not in values else e[:3] + values[e[0]]
                           for e in self.kvm.supported_cpuid()]
                vcpu.set_cpuid2(entries)
                got = tuple(vcpu.run_expect_io(PORT_IO_REPORT, 4, write=True).value for _ in range(4))
                self.assertEqual(got, expected)
                vcpu.run_until_done()

    # -- guest failures ----------------------------------------------------

    def test_exception_ud(self):
        _, vcpu = self.guest("guest_ud")
        with self.assertRaises(GuestExceptionError) as cm:
            vcpu.run_until_done()
        e = cm.exception
        self.assertEqual((e.vector, e.vector_name), (6, "#UD"))
        self.assertEqual(e.rip, self.insn_addr("guest_ud", b"\x0f\x0b"))
        self.assertIn("guest_ud+0x", str(e))

    def test_exception_pf(self):
        _, vcpu = self.guest("guest_pf_write")
        with self.assertRaises(GuestExceptionError) as cm:
            vcpu.run_until_done()
        e = cm.exception
        self.assertEqual((e.vector, e.error_code, e.cr2), (14, 0x2, 0x80001000))   # write, not present
        self.assertEqual(self.image.addr2sym(e.rip).split("+")[0], "guest_pf_write")

    def test_exception_pf_read_only_text(self):
        _, vcpu = self.guest("guest_write_text")
        with self.assertRaises(GuestExceptionError) as cm:
            vcpu.run_until_done()
        e = cm.exception
        self.assertEqual((e.vector, e.error_code, e.cr2), (14, 0x3, self.image.symbol("guest_write_text")))

    def test_installed_handler_resumes(self):
        _, vcpu = self.guest("guest_handler")
        self.assertEqual(vcpu.run_until_done(), 2)

    def test_assert_eq_names_file_line_and_values(self):
        _, vcpu = self.guest("guest_assert_eq_fail")
        with self.assertRaises(GuestAssertionError) as cm:
            vcpu.run_until_done()
        line = source_line("GUEST_ASSERT_EQ(one(), 2);")
        self.assertEqual(str(cm.exception),
                         "guest_basic.c:%d: GUEST_ASSERT_EQ(one(), 2) failed: 0x1 != 0x2" % line)

    def test_assert(self):
        _, vcpu = self.guest("guest_assert_fail")
        with self.assertRaisesRegex(GuestAssertionError,
                                    r"^guest_basic.c:%d: GUEST_ASSERT\(one\(\) == 2\) failed$"
                                    % source_line("GUEST_ASSERT(one() == 2);")):
            vcpu.run_until_done()

    def test_printf(self):
        _, vcpu = self.guest("guest_printf", 5)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            vcpu.run_until_done()
        self.assertRegex(err.getvalue(), r"guest_basic.c:\d+: v=5 hex=0x5 str c -5%")

    def test_spin_stopped_by_watchdog(self):
        _, vcpu = self.guest("guest_spin")
        start = time.monotonic()
        with self.assertRaises(VcpuTimeout):
            vcpu.run_until_done(timeout=0.3)
        self.assertLess(time.monotonic() - start, 1.0)

    # -- the #UD doorbell for TDCALL (VMX hosts) -----------------------------

    def tdcall_to_doorbell(self, vcpu):
        """Run to the TDCALL and on to the runtime's doorbell OUT (reflecting
        #UD as a VMX host's CPU would where KVM emulated the TDCALL)."""
        if run_to_tdcall(self, vcpu) == "exit":
            events = vcpu.get_vcpu_events()
            events.exception.injected = 1
            events.exception.nr = 6
            events.exception.has_error_code = 0
            vcpu.set_vcpu_events(events)
            vcpu.run(timeout=2)
        io = vcpu.kvm_run.io
        self.assertEqual((io.port, io.size, io.direction, io.count),
                         (TDCALL_DOORBELL_PORT, 1, abi.KVM_EXIT_IO_OUT, 1))
        return vcpu.get_regs()

    def test_tdcall_doorbell_io(self):
        _, vcpu = self.guest("guest_tdcall_io", 0x77)
        regs = self.tdcall_to_doorbell(vcpu)
        self.assertEqual((regs.rax, regs.rcx, regs.r10, regs.r11, regs.r12, regs.r13, regs.r14),
                         (0, 0xFC00, 0, 30, 4, 0, 0x77))
        regs.r10 = 0
        regs.r11 = 0xDEADBEEF
        vcpu.set_regs(regs)
        self.assertEqual(vcpu.run_until_done(), 0xDEADBEEF)

    def test_tdcall_passes_every_gpr(self):
        gvm, vcpu = self.guest("guest_tdcall_regs")
        regs = self.tdcall_to_doorbell(vcpu)
        for i, name in enumerate(GPRS):
            if name not in ("rax", "rcx", "rsp"):
                self.assertEqual(getattr(regs, name), 0x1111111111111111 * i, name)
        self.assertEqual((regs.rax, regs.rcx), (0, 0xFC00))
        for i, name in enumerate(GPRS):
            if name != "rsp":
                setattr(regs, name, 0xA000 + i)
        vcpu.set_regs(regs)
        self.assertEqual(vcpu.run_until_done(), 0xA000 + 10)
        out = gvm.read(gvm.layout.shared_gpa + 0x1000, 128)
        got = [int.from_bytes(out[8 * i:8 * i + 8], "little") for i in range(16)]
        for i, name in enumerate(GPRS):
            if name != "rsp":
                self.assertEqual(got[i], 0xA000 + i, name)

    # -- resources ---------------------------------------------------------

    def test_1000_lifecycles_do_not_leak(self):
        def lifecycle():
            gvm = td.create_guest(self.kvm, self.image, "guest_done", shape="default")
            try:
                gvm.vcpus[0].run_until_done()
            finally:
                gvm.close()

        def usage():
            with open("/proc/self/maps") as f:
                maps = len(f.readlines())
            return len(os.listdir("/proc/self/fd")), maps

        for _ in range(20):                 # warm caches, arenas and the watchdog thread
            lifecycle()
        fds, maps = usage()
        for _ in range(1000):
            lifecycle()
        fds_after, maps_after = usage()
        self.assertEqual(fds_after, fds, "open fds before and after 1000 VMs")
        # Each VM maps its memory and kvm_run, so a leak adds >= 1000 lines;
        # a few may come and go with Python's own allocator arenas.
        self.assertLessEqual(maps_after, maps + 4, "mappings before and after 1000 VMs")


class TdFlavourTest(unittest.TestCase):
    """The runtime's TD path (flavour 1) on a plain VM: reports go out as
    TDG.VP.VMCALL<Instruction.IO>, which this machine's KVM turns into
    KVM_EXIT_INTERNAL_ERROR; a minimal responder answers them here.  The
    shared area is aliased at GPA | bit 47, as a TD sees it."""

    SHARED_BIT = 1 << 47

    def setUp(self):
        try:
            self.kvm = Kvm()
        except KvmUnavailable as e:
            raise unittest.SkipTest(str(e))
        self.addCleanup(self.kvm.close)
        try:
            self.image = GuestImage.load(find_image("guest_basic", "tests"))
        except GuestImageError as e:
            raise unittest.SkipTest(str(e))

    def start(self, entry, arg):
        b = boot.build_image(self.image, entries=entry, args=arg, flavour=boot.FLAVOUR_TD,
                             shared_bit=self.SHARED_BIT)
        vm = self.kvm.create_vm()
        self.addCleanup(vm.close)
        low, high = vm.alloc(b.mem_size), vm.alloc(0x1000)
        vm.set_user_memory_region(0, 0, 0, b.mem_size, low.addr)
        vm.set_user_memory_region(1, 0, boot.RESETVEC_GPA, 0x1000, high.addr)
        vm.set_user_memory_region(2, 0, self.SHARED_BIT | b.shared_gpa, b.shared_size, low.addr + b.shared_gpa)
        for gpa, data in b.pages:
            if gpa >= boot.RESETVEC_GPA:
                high.write(gpa - boot.RESETVEC_GPA, data)
            else:
                low.write(gpa, data)
        vcpu = vm.create_vcpu(0)
        # Bit 47 is an address bit only with MAXPHYADDR 48 (docs/host-kvm.md §10).
        vcpu.set_cpuid2([e if e[0] != 0x80000008 else e[:3] + ((e[3] & ~0xFF) | 48,) + e[4:]
                         for e in self.kvm.supported_cpuid()])
        sregs, regs = vcpu.get_sregs(), vcpu.get_regs()
        boot.initial_vcpu_state(sregs, regs, 0)
        vcpu.set_sregs(sregs)
        vcpu.set_regs(regs)
        return b, low, vcpu

    def next_report(self, b, low, vcpu):
        # The TDCALL itself (emulating host) or the runtime's doorbell (VMX host),
        # which forwards the TD's registers and skips the TDCALL once the OUT completes.
        path = run_to_tdcall(self, vcpu)
        regs = vcpu.get_regs()
        # TDG.VP.VMCALL<Instruction.IO>: 4-byte write of the command to UCALL_PORT, R10-R15 exposed.
        self.assertEqual((regs.rax, regs.rcx, regs.r10, regs.r11, regs.r12, regs.r13, regs.r14),
                         (0, 0xFC00, 0, 30, 4, 1, ucall.UCALL_PORT))
        report = ucall.decode(low.read(b.ucall_gpa, ucall.UCALL_SLOT_SIZE), cmd=regs.r15, vcpu=0)
        if path == "exit":
            regs.rip += 4
        regs.r10 = 0
        vcpu.set_regs(regs)
        return report

    def test_reports_over_tdcall(self):
        b, low, vcpu = self.start("guest_sync", 5)
        self.assertEqual([self.next_report(b, low, vcpu).value for _ in range(2)], [5, 6])
        done = self.next_report(b, low, vcpu)
        self.assertEqual((done.cmd, done.file), (ucall.UCALL_DONE, "guest_basic.c"))

    def test_exception_over_tdcall(self):
        b, low, vcpu = self.start("guest_pf_write", 0)
        with self.assertRaisesRegex(GuestExceptionError, "#PF.*cr2 0x80001000"):
            ucall.check(self.next_report(b, low, vcpu))


if __name__ == "__main__":
    unittest.main()
