# SPDX-License-Identifier: GPL-2.0-only
"""ghci_cpuid: CPUID for a TD, and the TDG.VP.VMCALL leaves KVM answers itself.

Covers docs/kvm-tdx-uapi.md:
- §4.4 Instruction.CPUID: KVM answers from the vCPU's KVM_SET_CPUID2 table
  (R12 = leaf, R13 = subleaf; R12..R15 = EAX..EDX; R10 untouched; no exit),
  subleaves with and without KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
- §7 CPUID for TDs: KVM's out-of-range rules (a leaf above its class maximum,
  or in an absent class, answers as the max basic leaf - with the requested
  index - unless the vendor is AMD/Hygon; an in-range miss answers zeros; no
  leaf 0 at all answers zeros), and native CPUID, which the TDX module answers
  from the TD's configuration, against KVM_TDX_GET_CPUID (§2.7);
- §4.10 GetTdVmCallInfo: leaf 0 in the kernel, leaf 1 through KVM_EXIT_TDX,
  other leaves INVALID_OPERAND;
- §4.5 Instruction.HLT: no KVM_EXIT_HLT, the vCPU blocks (KVM_MP_STATE_HALTED)
  until it is made runnable;
- §4.3 dispatch: sub-functions KVM does not handle give SUBFUNC_UNSUPPORTED
  with no exit; R10 != 0 is a KVM hypercall (§4.12: -KVM_ENOSYS for an unknown
  number, KVM_HC_MAP_GPA_RANGE exits with the raw arguments).
docs/c-selftests.md §1 rows 4, 5, 10 and 13 are the floor.

Native CPUID fields that are not compared with KVM_TDX_GET_CPUID, and why:
- 0x80000008 EAX[23:16]: KVM_TDX_GET_CPUID patches the GPAW in there for old
  TDX modules (tdx_read_cpuid()); the TDX module was configured with 0
  (setup_tdparams_cpuids()), so the TD itself may see 0;
- leaf 1 EBX[31:24]: the initial APIC ID is per vCPU (checked to be 0 for
  vCPU 0 instead);
- leaf 1 ECX and EDX: on the development host kvm_pvm overwrites them in the
  vCPU that runs the emulated TD (docs/host-kvm.md §3);
- leaf 7.0 EBX/ECX/EDX: kvm_pvm overwrites these too (observed while writing
  this module: the emulated TD saw the host's own feature bits, not those
  KVM_SET_CPUID2 gave the real vCPU);
- leaf 0xD: sizes that depend on XCR0 at the time of the CPUID.
"""

import errno
import struct
import time

from tdx.lib import abi, apic, ghci, td, tdx_cmd
from tdx.lib.exits import VcpuThread, describe, poison_exit
from tdx.lib.kvm import VcpuTimeout
from tdx.lib.testcase import TdxTestCase, main

# guest: ghci_cpuid.c
OPS_OFFSET = 0x1000
OPS_STRIDE = 0x1000                              # one page of ops per vCPU
OP = struct.Struct("<12Q")                       # R10..R15 in, R10..R15 out
UNTOUCHED = 0x5A5A5A5A5A5A5A5A
INFO1 = ((1 << 1), 0x1212121212121212, 0x1313131313131313, 0x1414141414141414)  # R11..R14

RUN_TIMEOUT = 2.0
HLT_WAIT = 0.3                                   # a halted vCPU stays in KVM_RUN this long
HLT_VECTOR = 0x72                                # ghci_cpuid.c
READY_OFFSET = 0x3000

MASK64 = (1 << 64) - 1
SUCCESS = ghci.TDVMCALL_STATUS_SUCCESS
INVALID_OPERAND = ghci.TDVMCALL_STATUS_INVALID_OPERAND
SUBFUNC_UNSUPPORTED = ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED
SIGNIFCANT_INDEX = abi.KVM_CPUID_FLAG_SIGNIFCANT_INDEX


def _ascii(text):
    """Register values of a CPUID string, EBX EDX ECX order as in leaf 0."""
    raw = text.encode("ascii")
    return tuple(int.from_bytes(raw[i:i + 4], "little") for i in (0, 4, 8))


def vendor(text):
    ebx, edx, ecx = _ascii(text)
    return ebx, ecx, edx


# Hypervisor leaves a TD forwards to the VMM (§7), with values found nowhere else.
HV_MAX = 0x40000003
HV_SIGNATURE = _ascii("TDXselftests")                            # EBX, EDX, ECX
HV_LEAF1 = (0x11111111, 0x22222222, 0x33333333, 0x44444444)
HV_SUB0 = (0xA0A0A0A0, 0xA1A1A1A1, 0xA2A2A2A2, 0xA3A3A3A3)      # 0x40000002.0, index significant
HV_SUB1 = (0xB0B0B0B0, 0xB1B1B1B1, 0xB2B2B2B2, 0xB3B3B3B3)      # 0x40000002.1, index significant
HV_ANY = (0xC0C0C0C0, 0xC1C1C1C1, 0xC2C2C2C2, 0xC3C3C3C3)       # 0x40000003, index ignored
MAX_SUB0 = (0xD0D0D0D0, 0xD1D1D1D1, 0xD2D2D2D2, 0xD3D3D3D3)     # max basic leaf, index 0
MAX_SUB1 = (0xE0E0E0E0, 0xE1E1E1E1, 0xE2E2E2E2, 0xE3E3E3E3)     # max basic leaf, index 1
ZEROS = (0, 0, 0, 0)
CPUID_LM = 1 << 29                               # CPUID.0x80000001:EDX
XFAM_X87_SSE = 0x3                               # XFAM_FIXED1: always set
XFAM_X87_SSE_AVX = 0x7
# Supervisor state components (IA32_XSS; SDM vol. 1 13.2): PT 8, PASID 10, CET_U 11, CET_S 12,
# HDC 13, UINTR 14, LBR 15, HWP 16.
XSS_COMPONENTS = (1 << 8) | (0x7F << 10)
IN_RANGE_MISSING = (0x8, 0x80000007)             # removed from the table


# Why native leaf 1 is checked on TDX only (docs/host-kvm.md §3).
NATIVE_LEAF1 = ("the emulated platform's host answers native CPUID leaf 1, and kvm_pvm "
                "rewrites its ECX and EDX")


def vmcall(r10=ghci.TDX_HYPERCALL_STANDARD, r11=0, r12=0, r13=0, r14=UNTOUCHED, r15=UNTOUCHED):
    return (r10, r11, r12, r13, r14, r15)


def cpuid_vmcall(leaf, subleaf=0):
    """Instruction.CPUID; R14/R15 carry junk that KVM must overwrite."""
    return vmcall(r11=ghci.EXIT_REASON_CPUID, r12=leaf, r13=subleaf)


def find(table, function, index=0):
    for e in table:
        if e[0] == function and (not e[2] & SIGNIFCANT_INDEX or e[1] == index):
            return e
    return None


def distinctive(table):
    """The vCPU's table with the leaves these cases query replaced by known values.

    Keeps everything a TD vCPU needs (x2APIC in leaf 1, MAXPHYADDR in
    0x80000008); drops any hypervisor/0xC0000000 leaves, leaf 8 and 0x80000007
    (so that they are in-range misses), and gives the max basic leaf two
    subleaves with the index significant."""
    max_basic = find(table, 0)[3]
    assert max_basic > 8, "max basic leaf 0x%x: leaf 8 must be in range" % max_basic
    out = [e for e in table if e[0] not in (max_basic,) + IN_RANGE_MISSING and
           not 0x40000000 <= e[0] <= 0x4FFFFFFF and not e[0] >= 0xC0000000]
    ebx, edx, ecx = HV_SIGNATURE
    out += [
        (0x40000000, 0, 0, HV_MAX, ebx, ecx, edx),
        (0x40000001, 0, 0) + HV_LEAF1,
        (0x40000002, 0, SIGNIFCANT_INDEX) + HV_SUB0,
        (0x40000002, 1, SIGNIFCANT_INDEX) + HV_SUB1,
        (0x40000003, 0, 0) + HV_ANY,
        (max_basic, 0, SIGNIFCANT_INDEX) + MAX_SUB0,
        (max_basic, 1, SIGNIFCANT_INDEX) + MAX_SUB1,
    ]
    return out


def with_vendor(text):
    def edit(table):
        table = distinctive(table)
        return [(f, i, fl, a) + vendor(text) if f == 0 else (f, i, fl, a, b, c, d)
                for f, i, fl, a, b, c, d in table]
    return edit


def without_leaf0(table):
    return [e for e in distinctive(table) if e[0] != 0]


class GhciCpuid(TdxTestCase):
    guest = "ghci_cpuid"

    # -- helpers --

    def set_ops(self, gvm, ops, vcpu=0):
        self.nr_ops = len(ops)
        gvm.write(gvm.layout.shared_gpa + OPS_OFFSET + vcpu * OPS_STRIDE, struct.pack("<Q", len(ops)) +
                  b"".join(OP.pack(*(tuple(op) + (UNTOUCHED,) * 6)) for op in ops))

    def results(self, gvm, vcpu=0):
        """[(R10, R11, R12, R13, R14, R15)] after each op (EAX..EDX first for native CPUID)."""
        raw = gvm.read(gvm.layout.shared_gpa + OPS_OFFSET + vcpu * OPS_STRIDE + 8, OP.size * self.nr_ops)
        return [OP.unpack_from(raw, i * OP.size)[6:] for i in range(self.nr_ops)]

    def cpuid_td(self, edit, entry="guest_vmcall_ops"):
        """A TD whose vCPU got KVM_SET_CPUID2(edit(KVM_TDX_GET_CPUID + x2APIC)) before
        memory and finalization, as a VMM would set its own leaves; (gvm, vcpu, table)."""
        b = self.td_builder(entry)
        b.create_vm()
        b.init_vm()
        b.add_vcpus()
        vcpu = b.gvm.vcpus[0]
        table = edit(vcpu.get_cpuid2())
        vcpu.set_cpuid2(table)
        b.add_memory()
        b.finalize()
        return b.gvm, vcpu, table

    def check_cpuid(self, gvm, queries):
        """queries: [((leaf, subleaf), (eax, ebx, ecx, edx))], already run: each got
        SUCCESS (R10 as passed) and the values in R12..R15, upper halves clear."""
        for (leaf, subleaf), (r10, r11, r12, r13, r14, r15), expected in zip(
                (q for q, _ in queries), self.results(gvm), (e for _, e in queries)):
            with self.subTest(leaf=hex(leaf), subleaf=hex(subleaf)):
                self.assertEqual(r10, SUCCESS, ghci.status_name(r10))
                self.assertEqual(r11, ghci.EXIT_REASON_CPUID, "R11 is not an output of CPUID")
                self.assertEqual(tuple("%08x" % v for v in (r12, r13, r14, r15)),
                                 tuple("%08x" % v for v in expected))

    def run_cpuid_queries(self, edit, queries):
        gvm, vcpu, table = self.cpuid_td(edit)
        self.set_ops(gvm, [cpuid_vmcall(leaf, sub) for (leaf, sub), _ in queries])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)    # no exit on the way
        self.check_cpuid(gvm, queries)
        return table

    # -- Instruction.CPUID (§4.4) --

    def test_cpuid_vmcall_answers_from_kvm_cpuid2(self):
        """Hypervisor leaves set with KVM_SET_CPUID2 come back in R12..R15, with no exit (anchor row 13)."""
        gvm, vcpu, table = self.cpuid_td(distinctive)
        leaf0, ext = find(table, 0), find(table, 0x80000008)
        ebx, edx, ecx = HV_SIGNATURE
        queries = [((0x40000000, 0), (HV_MAX, ebx, ecx, edx)),
                   ((0x40000001, 0), HV_LEAF1),
                   ((0, 0), leaf0[3:]),
                   ((0x80000008, 0), ext[3:]),
                   # KVM takes EAX/ECX: R12/R13 bits 63:32 do not matter.
                   ((0xFFFFFFFF << 32 | 0x40000001, 0), HV_LEAF1),
                   ((0x40000002, 1 << 32 | 1), HV_SUB1)]
        self.set_ops(gvm, [cpuid_vmcall(leaf, sub) for (leaf, sub), _ in queries])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.check_cpuid(gvm, queries)

    def test_cpuid_vmcall_significant_index_selects_subleaf(self):
        """With KVM_CPUID_FLAG_SIGNIFCANT_INDEX the subleaf (R13) picks the entry."""
        self.run_cpuid_queries(distinctive, [((0x40000002, 0), HV_SUB0), ((0x40000002, 1), HV_SUB1),
                                             ((0x40000002, 0), HV_SUB0)])

    def test_cpuid_vmcall_index_ignored_without_flag(self):
        """Without the flag every subleaf gets the one entry."""
        self.run_cpuid_queries(distinctive, [((0x40000003, 0), HV_ANY), ((0x40000003, 7), HV_ANY),
                                             ((0x40000003, 0xFFFFFFFF), HV_ANY)])

    def test_cpuid_vmcall_out_of_range_gives_max_basic_leaf(self):
        """Intel vendor: above its class maximum, or in an absent class, answers as the max basic
        leaf with the requested index (§7)."""
        gvm, vcpu, table = self.cpuid_td(distinctive)
        max_basic, max_ext = find(table, 0)[3], find(table, 0x80000000)[3]
        queries = [((max_basic + 1, 0), MAX_SUB0),
                   ((max_basic + 1, 1), MAX_SUB1),         # the index is observed
                   ((max_basic + 1, 2), ZEROS),            # ... and (max, 2) does not exist
                   ((0x3FFFFFFF, 0), MAX_SUB0),            # still the basic class
                   ((max_ext + 1, 1), MAX_SUB1),
                   ((HV_MAX + 1, 0), MAX_SUB0),            # 0x400000xx: above its own maximum
                   ((0x40000100, 1), MAX_SUB1),            # 0x400001xx: no class leaf
                   ((0xC0000001, 0), MAX_SUB0)]            # no 0xC0000000 leaf
        self.set_ops(gvm, [cpuid_vmcall(leaf, sub) for (leaf, sub), _ in queries])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.check_cpuid(gvm, queries)

    def test_cpuid_vmcall_class_edges(self):
        """get_out_of_range_cpuid_entry() at the edges of its classes, with class
        leaves of the VMM's own at 0x3FFFFF00 (max 0x3FFFFFFF), 0x4FFFFF00 (max
        0x4FFFFFFF) and 0xC0000000 (max 0xC0000002): 0x3FFFFFFF is still the basic
        class, above its maximum (the max basic leaf); 0x4FFFFFFF is the last of
        the 0x4xxxxxxx classes, in range of 0x4FFFFF00 (a miss: zeros), and
        0x50000000 the basic class again; 0xBFFFFFFF belongs to 0x80000000's class
        (above 0x80000008: the max basic leaf), 0xC0000001 to 0xC0000000's (in
        range: zeros) and 0xC0000003 is above it.  A miss of leaf 0x1F, whose
        sub-leaf 1 exists, gives ECX = the index and EDX from sub-leaf 1 (kvm_cpuid())."""
        def edit(table):
            out = distinctive(table)
            max_basic = find(out, 0)[3]
            assert max_basic >= 0x1F, "max basic leaf 0x%x: leaf 0x1F must be in range" % max_basic
            out = [e for e in out if e[0] != 0x1F]
            out += [(0x3FFFFF00, 0, 0, 0x3FFFFFFF, 1, 2, 3), (0x4FFFFF00, 0, 0, 0x4FFFFFFF, 4, 5, 6),
                    (0xC0000000, 0, 0, 0xC0000002, 7, 8, 9),
                    (0x1F, 0, SIGNIFCANT_INDEX, 0x11, 0x12, 0x13, 0x14),
                    (0x1F, 1, SIGNIFCANT_INDEX, 0x21, 0x22, 0x23, 0x55AA)]
            return out
        self.run_cpuid_queries(edit, [((0x3FFFFFFF, 0), MAX_SUB0), ((0x4FFFFFFF, 0), ZEROS),
                                      ((0x50000000, 1), MAX_SUB1), ((0xBFFFFFFF, 0), MAX_SUB0),
                                      ((0xC0000001, 0), ZEROS), ((0xC0000003, 1), MAX_SUB1),
                                      ((0x1F, 5), (0, 0, 5, 0x55AA))])

    def test_cpuid_vmcall_in_range_miss_gives_zeros(self):
        """A leaf within its class maximum but not in the table, or a significant index with
        no entry: all zeros, not the max basic leaf (§7)."""
        self.run_cpuid_queries(distinctive, [((0x8, 0), ZEROS), ((0x80000007, 0), ZEROS),
                                             ((0x40000002, 5), ZEROS)])

    def test_cpuid_vmcall_out_of_range_amd_vendor_gives_zeros(self):
        """AMD and Hygon vendors: no max-basic-leaf fallback, out-of-range leaves are zeros (§7)."""
        for name in ("AuthenticAMD", "HygonGenuine"):
            with self.subTest(vendor=name):
                gvm, vcpu, table = self.cpuid_td(with_vendor(name))
                max_basic, max_ext = find(table, 0)[3], find(table, 0x80000000)[3]
                queries = [((0, 0), (max_basic,) + vendor(name)),
                           ((0x40000001, 0), HV_LEAF1),
                           ((max_basic + 1, 0), ZEROS),
                           ((max_ext + 1, 0), ZEROS),
                           ((0x40000100, 0), ZEROS)]
                self.set_ops(gvm, [cpuid_vmcall(leaf, sub) for (leaf, sub), _ in queries])
                vcpu.run_until_done(timeout=RUN_TIMEOUT)
                self.check_cpuid(gvm, queries)

    def test_cpuid_vmcall_no_leaf0_gives_zeros(self):
        """Without a leaf-0 entry nothing is out of range of anything: misses are zeros (§7)."""
        gvm, vcpu, table = self.cpuid_td(without_leaf0)
        max_basic = max(e[0] for e in table if e[0] < 0x40000000)
        queries = [((0, 0), ZEROS), ((max_basic + 1, 0), ZEROS), ((0x40000100, 0), ZEROS),
                   ((0x40000001, 0), HV_LEAF1)]
        self.set_ops(gvm, [cpuid_vmcall(leaf, sub) for (leaf, sub), _ in queries])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.check_cpuid(gvm, queries)

    def test_cpuid_vmcall_leaf1_matches_kvm_get_cpuid2(self):
        """Leaf 1 through TDG.VP.VMCALL<Instruction.CPUID> (R12 = 1, R13 = 0): SUCCESS
        and EAX..EDX in R12..R15 as KVM_GET_CPUID2 of the vCPU reports them, read
        after the run (KVM's runtime updates land in the table it answers from).
        The C series masks EBX[31:24] because it compares with
        KVM_GET_SUPPORTED_CPUID; against the vCPU's own table every bit counts."""
        gvm, vcpu, _ = self.cpuid_td(lambda table: table)
        self.set_ops(gvm, [cpuid_vmcall(1, 0)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.check_cpuid(gvm, [((1, 0), find(vcpu.get_cpuid2(), 1)[3:])])

    def test_cpuid_vmcall_leaf1_each_vcpu_its_own_table(self):
        """Two vCPUs whose leaf 1 differ (initial APIC ID EBX[31:24] = 0x51 and
        0x52, the vCPU index): each gets its own vCPU's KVM_GET_CPUID2 entry, so an
        answer from the wrong vCPU's table shows."""
        b = self.td_builder("guest_vmcall_ops", nr_vcpus=2)
        b.create_vm()
        b.init_vm()
        b.add_vcpus()
        for i, vcpu in enumerate(b.gvm.vcpus):
            vcpu.set_cpuid2([(f, x, fl, a, (bx & 0x00FFFFFF) | (0x51 + i) << 24, c, d) if f == 1
                             else (f, x, fl, a, bx, c, d) for f, x, fl, a, bx, c, d in vcpu.get_cpuid2()])
        b.add_memory()
        b.finalize()
        gvm = b.gvm
        for i, vcpu in enumerate(gvm.vcpus):
            self.set_ops(gvm, [cpuid_vmcall(1, 0)], vcpu=i)
        for vcpu in gvm.vcpus:
            vcpu.run_until_done(timeout=RUN_TIMEOUT)
        answers = []
        for i, vcpu in enumerate(gvm.vcpus):
            want = find(vcpu.get_cpuid2(), 1)[3:]
            got = self.results(gvm, vcpu=i)[0]
            with self.subTest(vcpu=i):
                self.assertEqual(got[0], SUCCESS, ghci.status_name(got[0]))
                self.assertEqual(tuple("%08x" % v for v in got[2:]), tuple("%08x" % v for v in want))
                self.assertEqual(got[3] >> 24, 0x51 + i, "EBX[31:24] of this vCPU's table")
            answers.append(got)
        self.assertNotEqual(answers[0], answers[1])

    def test_set_cpuid2_after_run_must_match(self):
        """Once the vCPU has run, KVM_SET_CPUID2 takes only the table it has
        (kvm_set_cpuid(): kvm_cpuid_check_equal()): the same table is accepted, one
        with a hypervisor leaf changed is EINVAL, one entry fewer too, and
        KVM_GET_CPUID2 still reports the first table, which the guest's
        Instruction.CPUID answered from."""
        gvm, vcpu, table = self.cpuid_td(distinctive)
        self.set_ops(gvm, [cpuid_vmcall(0x40000001)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.check_cpuid(gvm, [((0x40000001, 0), HV_LEAF1)])
        vcpu.set_cpuid2(table)
        changed = [(f, i, fl, a ^ 1, b, c, d) if f == 0x40000001 else (f, i, fl, a, b, c, d)
                   for f, i, fl, a, b, c, d in table]
        self.assertErrno(errno.EINVAL, vcpu.set_cpuid2, changed)
        self.assertErrno(errno.EINVAL, vcpu.set_cpuid2, [e for e in table if e[0] != 0x40000001])
        self.assertEqual(vcpu.get_cpuid2(), table, "KVM_GET_CPUID2 after the refused changes")

    # -- native CPUID (§7, anchor row 4) --

    def native_leaf1(self):
        """(EAX, EBX, ECX, EDX) of the CPUID instruction for leaf 1 in a TD, and
        the TD's KVM_TDX_GET_CPUID table."""
        b = self.td_builder("guest_cpuid_native_ops")
        b.create_vm()
        b.init_vm()
        b.add_vcpus()
        vcpu = b.gvm.vcpus[0]
        table = tdx_cmd.get_cpuid(vcpu)
        b.add_memory()
        b.finalize()
        self.set_ops(b.gvm, [(1, 0, 0, 0, 0, 0)])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        return self.results(b.gvm)[0][:4], table

    def test_cpuid_native_leaf1_sse3(self):
        """CPUID.1:ECX[0] (SSE3) in a TD is 1: the TDX module fixes it (anchor row 4)."""
        self.require_platform_tdx(NATIVE_LEAF1)
        (eax, ebx, ecx, edx), _ = self.native_leaf1()
        self.assertEqual(ecx & 1, 1, "CPUID.1:ECX[0] SSE3")

    def test_cpuid_native_leaf1_clflush_line_size(self):
        """CPUID.1:EBX[15:8] (CLFLUSH line size, in 8-byte units) is 8 in a TD: the
        fixed value, not only what KVM_TDX_GET_CPUID says (anchor row 4)."""
        self.require_platform_tdx(NATIVE_LEAF1)
        (eax, ebx, ecx, edx), _ = self.native_leaf1()
        self.assertEqual(ebx >> 8 & 0xFF, 8, "CPUID.1:EBX[15:8] CLFLUSH line size")

    def test_cpuid_native_leaf1_fma_as_configured(self):
        """CPUID.1:ECX[12] (FMA) in a TD is what KVM_TDX_GET_CPUID reports (the v5/v8
        form; 1 only where the host has FMA and the TD's XFAM enables AVX)."""
        self.require_platform_tdx(NATIVE_LEAF1)
        (eax, ebx, ecx, edx), table = self.native_leaf1()
        entry = find(table, 1)
        self.assertIsNotNone(entry, "KVM_TDX_GET_CPUID has no leaf 1")
        self.assertEqual(ecx >> 12 & 1, entry[5] >> 12 & 1, "CPUID.1:ECX[12] FMA vs KVM_TDX_GET_CPUID")


    def test_init_vm_clears_a_configurable_leaf1_bit(self):
        """Leaf 1 has no sub-leaves; its directly configurable bits
        (KVM_TDX_CAPABILITIES) are the TD's as KVM_TDX_INIT_VM gives them
        (TD_PARAMS.CPUID_CONFIG, setup_tdparams_cpuids()).  The lowest
        configurable bit of CPUID.1:ECX that the default configuration sets,
        cleared in KVM_TDX_INIT_VM: KVM_TDX_GET_CPUID reports it clear, where
        a TD with the default configuration reports it set."""
        tables = {}
        for clear in (False, True):
            b = self.td_builder("guest_cpuid_native_ops")
            vm = b.create_vm()
            b.caps = tdx_cmd.capabilities(vm)
            config = td.filter_cpuid(self.kvm.supported_cpuid(), tdx_cmd.caps_cpuid(b.caps))
            mask = find(tdx_cmd.caps_cpuid(b.caps), 1)
            leaf1 = find(config, 1)
            self.assertIsNotNone(mask, "KVM_TDX_CAPABILITIES lists leaf 1 as configurable")
            bits = leaf1[5] & mask[5]
            if not bits:
                self.skipTest("no configurable CPUID.1:ECX bit is set by default here")
            bit = bits & -bits
            if clear:
                config = [e[:5] + (e[5] & ~bit,) + e[6:] if e is leaf1 else e for e in config]
            tdx_cmd.init_vm(vm, tdx_cmd.new_init_vm(0, b._default_xfam(), config))
            b.add_vcpus()
            tables[clear] = find(tdx_cmd.get_cpuid(b.gvm.vcpus[0]), 1)
        self.assertEqual(tables[False][5] & bit, bit, "default configuration: CPUID.1:ECX bit %#x" % bit)
        self.assertEqual(tables[True][5] & bit, 0, "cleared in KVM_TDX_INIT_VM: CPUID.1:ECX bit %#x" % bit)
        self.assertEqual(tables[True][5] | bit, tables[False][5], "the other CPUID.1:ECX bits")

    def test_tdx_get_cpuid_subleaves_from_0_in_order(self):
        """KVM_TDX_GET_CPUID walks each indexed leaf from sub-leaf 0 up until the
        TDX module has no more (tdx_vcpu_get_cpuid_leaf()): the sub-leaves of a
        leaf come in ascending order without gaps (leaf 7: 0 then 1), every one
        flagged SIGNIFCANT_INDEX; XSAVE's leaf 0xD has sub-leaf 1 (the XSAVE
        feature flags and the supervisor components) after sub-leaf 0."""
        b = self.td_builder("guest_cpuid_native_ops")
        b.create_vm()
        b.init_vm()
        b.add_vcpus()
        table = tdx_cmd.get_cpuid(b.gvm.vcpus[0])   # only between INIT_VM and FINALIZE (§2.7)
        subleaves = {}
        for f, i, flags, *_ in table:
            if flags & abi.KVM_CPUID_FLAG_SIGNIFCANT_INDEX:
                subleaves.setdefault(f, []).append(i)
        self.assertIn(0xD, subleaves, "leaf 0xD is listed by sub-leaf")
        for leaf, indices in subleaves.items():
            with self.subTest(leaf=hex(leaf)):
                self.assertEqual(indices, list(range(len(indices))), "sub-leaves in the order listed")
        self.assertGreaterEqual(len(subleaves[0xD]), 2, "leaf 0xD sub-leaf 1")
        # CPUID.7.0:EAX is leaf 7's highest sub-leaf: the walk lists 7.0 up to it.
        leaf7 = find(table, 7, 0)
        self.assertIsNotNone(leaf7, "leaf 7.0")
        self.assertEqual(len(subleaves.get(7, [])), leaf7[3] + 1, "sub-leaves of leaf 7 vs CPUID.7.0:EAX")

    def test_tdx_get_cpuid_xsave_leaf_from_xfam(self):
        """CPUID leaf 0xD as KVM_TDX_GET_CPUID reports it follows the XFAM given to
        KVM_TDX_INIT_VM (the TDX module virtualises it from XFAM): sub-leaf 0
        EDX:EAX = XFAM's user (XCR0) components, sub-leaf 1 EDX:ECX = its
        supervisor (IA32_XSS) components - for the smallest XFAM (x87|SSE), with
        AVX, and for all of supported_xfam, each in its own TD; and the TD's
        vCPU reads the same table twice."""
        b = self.td_builder("guest_cpuid_native_ops")
        b.create_vm()
        b.init_vm()
        supported = b.caps.supported_xfam
        for xfam in sorted({XFAM_X87_SSE, supported & XFAM_X87_SSE_AVX, supported}):
            with self.subTest(xfam=hex(xfam)):
                t = self.td_builder("guest_cpuid_native_ops", xfam=xfam)
                t.create_vm()
                t.init_vm()
                vcpu = t.vm.create_vcpu(0)
                table = tdx_cmd.get_cpuid(vcpu)
                self.assertEqual(tdx_cmd.get_cpuid(vcpu), table, "read twice")
                d0, d1 = find(table, 0xD, 0), find(table, 0xD, 1)
                self.assertIsNotNone(d0, "leaf 0xD.0")
                self.assertIsNotNone(d1, "leaf 0xD.1")
                self.assertEqual(hex(d0[3] | d0[6] << 32), hex(xfam & ~XSS_COMPONENTS), "0xD.0 EDX:EAX")
                self.assertEqual(hex(d1[5] | d1[6] << 32), hex(xfam & XSS_COMPONENTS), "0xD.1 EDX:ECX")

    def test_cpuid_native_matches_tdx_get_cpuid(self):
        """The CPUID instruction in the TD agrees with KVM_TDX_GET_CPUID (fields not compared:
        module docstring); leaf 0x21 says "IntelTDX    "; 0x80000001 has long mode."""
        b = self.td_builder("guest_cpuid_native_ops")
        b.create_vm()
        b.init_vm()
        b.add_vcpus()
        vcpu = b.gvm.vcpus[0]
        td = tdx_cmd.get_cpuid(vcpu)                # only between INIT_VM and FINALIZE (§2.7)
        b.add_memory()
        b.finalize()
        gvm = b.gvm
        # leaf, subleaf, registers compared (mask per register: EAX EBX ECX EDX)
        compared = [(0x0, 0, (MASK64,) * 4),
                    (0x1, 0, (MASK64, 0x00FFFF00, 0, 0)),     # EBX: CLFLUSH size, max IDs (anchor row 4)
                    (0x21, 0, (0, MASK64, MASK64, MASK64)),
                    (0x80000000, 0, (MASK64, 0, 0, 0)),
                    (0x80000001, 0, (0, 0, 0, CPUID_LM)),
                    (0x80000008, 0, (0xFFFF, 0, 0, 0))]
        self.set_ops(gvm, [(leaf, sub, 0, 0, 0, 0) for leaf, sub, _ in compared])
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        native = {(leaf, sub): r[:4] for (leaf, sub, _), r in zip(compared, self.results(gvm))}
        checked = 0
        for leaf, sub, masks in compared:
            entry = find(td, leaf, sub)
            if entry is None:
                continue                            # the platform does not provide it
            checked += 1
            with self.subTest(leaf=hex(leaf), subleaf=sub):
                self.assertEqual([v & m for v, m in zip(native[(leaf, sub)], masks)],
                                 [v & m for v, m in zip(entry[3:], masks)])
        self.assertGreaterEqual(checked, 3, "KVM_TDX_GET_CPUID lacks leaves 0, 1, 0x80000000/8")
        self.assertEqual(native[(0x1, 0)][1] >> 24, 0, "CPUID.1:EBX initial APIC ID of vCPU 0")
        # The guest runs in 64-bit mode, so the CPU it sees has long mode.
        self.assertTrue(native[(0x80000001, 0)][3] & CPUID_LM, "CPUID.0x80000001:EDX[29] (LM) in a TD")
        # TDX_IDENT in EBX, EDX, ECX order, as the Linux guest reads it (arch/x86/coco/tdx/tdx.c).
        self.assertEqual(native[(0x21, 0)][1:4], vendor("IntelTDX    "), "CPUID.0x21 EBX/ECX/EDX in a TD")

    # -- GetTdVmCallInfo (§4.10, anchor row 5) --

    def test_get_td_vm_call_info_leaf0_in_kernel(self):
        """Leaf 0: SUCCESS, R11..R14 zero, no exit (the guest checks its registers)."""
        gvm, vcpu = self.create_td("guest_get_td_vm_call_info_leaf0")
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_get_td_vm_call_info_leaf1_exits_to_user(self):
        """Leaf 1: KVM_EXIT_TDX with ret preset SUCCESS and r11..r14 preset 0; userspace's ret and
        r11..r14 reach R10..R14."""
        gvm, vcpu = self.create_td("guest_get_td_vm_call_info_leaf1")
        poison_exit(vcpu)
        for answer in ((SUCCESS,) + INFO1, (INVALID_OPERAND, 0, 0, 0, 0)):
            run = vcpu.run_expect(abi.KVM_EXIT_TDX, timeout=RUN_TIMEOUT)
            info = run.tdx.get_tdvmcall_info
            self.assertEqual(run.tdx.flags, 0, "tdx.flags")
            self.assertEqual(run.tdx.nr, ghci.TDVMCALL_GET_TD_VM_CALL_INFO, "tdx.nr")
            self.assertEqual(info.leaf, 1, "get_tdvmcall_info.leaf")
            self.assertEqual(info.ret, SUCCESS, "get_tdvmcall_info.ret preset")
            self.assertEqual((info.r11, info.r12, info.r13, info.r14), (0, 0, 0, 0), "r11..r14 preset")
            info.ret, info.r11, info.r12, info.r13, info.r14 = answer
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_get_td_vm_call_info_other_leaves_invalid_operand(self):
        """R12 other than 0 and 1 (all 64 bits): INVALID_OPERAND, no exit."""
        gvm, vcpu = self.create_td("guest_get_td_vm_call_info_other_leaves")
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    # -- Instruction.HLT (§4.5, anchor row 10) --

    def test_hlt_blocks_until_runnable(self):
        """No KVM_EXIT_HLT: KVM_RUN blocks with mp_state HALTED; RUNNABLE resumes with R10 SUCCESS."""
        for blocked in (0, 1):
            with self.subTest(interrupt_blocked_flag=blocked):
                gvm, vcpu = self.create_td("guest_hlt", args=blocked)
                self.assertEqual(vcpu.get_mp_state(), abi.KVM_MP_STATE_RUNNABLE)
                self.expect_halted(vcpu)
                vcpu.set_mp_state(abi.KVM_MP_STATE_RUNNABLE)
                vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def expect_halted(self, vcpu):
        """KVM_RUN stays in the kernel (HLT_WAIT, then the watchdog), mp_state HALTED."""
        try:
            uc = vcpu.run_exit(timeout=HLT_WAIT)
        except VcpuTimeout:
            pass
        else:
            self.fail("TDG.VP.VMCALL<HLT> came back to userspace: %s" %
                      ("guest %s at %s" % (uc.name, uc.where) if uc else describe(vcpu.kvm_run)))
        # vcpu_run(): a signal ends the block with EINTR and KVM_EXIT_INTR
        self.assertEqual(vcpu.kvm_run.exit_reason, abi.KVM_EXIT_INTR, "exit_reason after the watchdog's signal")
        self.assertEqual(vcpu.get_mp_state(), abi.KVM_MP_STATE_HALTED)

    def wait_ready(self, gvm, index):
        """The guest's flag in shared memory: about to halt (KVM_GET_MP_STATE
        would wait for a vCPU inside KVM_RUN on TDX)."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while gvm.read(gvm.layout.shared_gpa + READY_OFFSET + 8 * index, 8) == bytes(8):
            if time.monotonic() > deadline:
                self.fail("vCPU %d never got to its HLT" % index)
            time.sleep(0.001)

    # -- Instruction.HLT and interrupts (tdx_interrupt_allowed(), tdx_protected_apic_has_interrupt()) --

    def test_hlt_woken_by_ipi_from_another_vcpu(self):
        """vCPU 1 halts (IF = 0, R12 = 0); vCPU 0 sends it a fixed IPI with
        TDG.VP.VMCALL<WRMSR>(x2APIC ICR); the posted interrupt wakes it and
        is taken after STI."""
        gvm, _ = self.create_td(["guest_hlt_ipi_sender", "guest_hlt_ipi_target"], nr_vcpus=2, args=[1, 0])
        sender, target = gvm.vcpus
        halted = VcpuThread(lambda v: v.run_until_done(timeout=3 * RUN_TIMEOUT), target)
        halted.start()
        self.wait_ready(gvm, 1)
        time.sleep(HLT_WAIT)                # into its HLT: woken by the IPI, not skipped
        sender.run_until_done(timeout=RUN_TIMEOUT)
        halted.join_result(3 * RUN_TIMEOUT)

    def test_hlt_interrupts_blocked_not_woken_by_interrupt(self):
        """R12 = 1: a fixed interrupt sent while halted (KVM_SIGNAL_MSI,
        accepted) does not wake the vCPU; an NMI does, is handled at once,
        and the interrupt follows after STI."""
        gvm, vcpu = self.create_td("guest_hlt_blocked")
        self.assertEqual(vcpu.run_expect_sync(timeout=RUN_TIMEOUT), 1)
        self.expect_halted(vcpu)
        self.assertEqual(gvm.vm.signal_msi(*apic.msi(vcpu.id, HLT_VECTOR)), 1)
        self.expect_halted(vcpu)
        vcpu.nmi()
        self.assertEqual(vcpu.run_expect_sync(timeout=RUN_TIMEOUT), 1 << 8, "NMIs << 8 | interrupts at wake-up")
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    def test_hlt_woken_by_interrupt_pending_in_virr(self):
        """An interrupt that reached the vIRR while IF was 0 (the way one
        that arrives in an STI shadow does) makes HLT with R12 = 0 return at
        once: KVM reads TD_VCPU_STATE_DETAILS after such a HLT."""
        gvm, vcpu = self.create_td("guest_hlt_pending_virr")
        self.assertEqual(vcpu.run_expect_sync(timeout=RUN_TIMEOUT), 1)
        self.assertEqual(gvm.vm.signal_msi(*apic.msi(vcpu.id, HLT_VECTOR)), 1)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)

    # -- dispatch (§4.3) --

    def test_unknown_subfunction_subfunc_unsupported(self):
        """Sub-functions KVM does not handle: SUBFUNC_UNSUPPORTED, no exit, R11..R15 untouched."""
        leaves = (ghci.EXIT_REASON_WBINVD, 49, ghci.TDVMCALL_SERVICE, 0x10006, 0, 11,
                  1 << 32 | ghci.EXIT_REASON_CPUID, MASK64)
        gvm, vcpu = self.create_td("guest_vmcall_ops")
        ops = [vmcall(r11=leaf, r12=0x1212, r13=0x1313) for leaf in leaves]
        self.set_ops(gvm, ops)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        for leaf, op, out in zip(leaves, ops, self.results(gvm)):
            with self.subTest(leaf=hex(leaf)):
                self.assertEqual(ghci.status_name(out[0]), ghci.status_name(SUBFUNC_UNSUPPORTED))
                self.assertEqual(out[1:], op[1:])

    # -- R10 != 0: KVM hypercalls over TDG.VP.VMCALL (§4.12) --

    def test_kvm_hypercall_unknown_nr_enosys(self):
        """An unknown hypercall number in R10 (all 64 bits count): R10 = -KVM_ENOSYS, no exit."""
        nrs = (0x7FFF, 0x10000, 1 << 32 | abi.KVM_HC_MAP_GPA_RANGE, ghci.TDVMCALL_STATUS_INVALID_OPERAND)
        gvm, vcpu = self.create_td("guest_vmcall_ops")
        ops = [vmcall(r10=nr, r11=0x1111, r12=0x1212, r13=0x1313) for nr in nrs]
        self.set_ops(gvm, ops)
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        for nr, op, out in zip(nrs, ops, self.results(gvm)):
            with self.subTest(nr=hex(nr)):
                self.assertEqual(out[0], -abi.KVM_ENOSYS & MASK64)
                self.assertEqual(out[1:], op[1:])

    def test_kvm_hypercall_map_gpa_range_exits_with_raw_args(self):
        """KVM_HC_MAP_GPA_RANGE in R10: KVM_EXIT_HYPERCALL with R11..R13 as they are (the shared
        bit is not stripped); userspace's hypercall.ret lands in R10."""
        gvm, vcpu = self.create_td("guest_vmcall_ops")
        hc_mask = 1 << abi.KVM_HC_MAP_GPA_RANGE
        self.require(gvm.vm.check_extension(abi.KVM_CAP_EXIT_HYPERCALL) & hc_mask,
                     "KVM_CAP_EXIT_HYPERCALL lacks KVM_HC_MAP_GPA_RANGE")
        gvm.vm.enable_cap(abi.KVM_CAP_EXIT_HYPERCALL, hc_mask)
        shared = gvm.layout.shared_gpa + 0x10000 | gvm.shared_bit
        private = gvm.layout.shared_gpa + 0x10000
        calls = [(shared, 2, abi.KVM_MAP_GPA_RANGE_DECRYPTED | abi.KVM_MAP_GPA_RANGE_PAGE_SZ_4K, 0),
                 (private, 1, abi.KVM_MAP_GPA_RANGE_ENCRYPTED, -abi.KVM_EINVAL & MASK64)]
        ops = [vmcall(r10=abi.KVM_HC_MAP_GPA_RANGE, r11=gpa, r12=npages, r13=attrs, r14=0x1414)
               for gpa, npages, attrs, _ in calls]
        self.set_ops(gvm, ops)
        poison_exit(vcpu)
        for gpa, npages, attrs, ret in calls:
            run = vcpu.run_expect(abi.KVM_EXIT_HYPERCALL, timeout=RUN_TIMEOUT)
            hc = run.hypercall
            self.assertEqual(hc.nr, abi.KVM_HC_MAP_GPA_RANGE, "hypercall.nr")
            self.assertEqual((hc.args[0], hc.args[1], hc.args[2]), (gpa, npages, attrs), "hypercall.args")
            self.assertEqual(hc.flags, abi.KVM_EXIT_HYPERCALL_LONG_MODE, "hypercall.flags")
            self.assertEqual(hc.ret, 0, "hypercall.ret preset")
            hc.ret = ret
        vcpu.run_until_done(timeout=RUN_TIMEOUT)
        self.assertEqual([out[0] for out in self.results(gvm)], [ret for *_, ret in calls])

    def test_kvm_hypercall_map_gpa_range_refused_in_kernel(self):
        """KVM_HC_MAP_GPA_RANGE with the exit disabled: -KVM_ENOSYS; with a misaligned GPA or no
        pages: -KVM_EINVAL; no exit either way."""
        hc_mask = 1 << abi.KVM_HC_MAP_GPA_RANGE
        for enabled, calls in ((0, [(0x200000, 1, -abi.KVM_ENOSYS)]),
                               (hc_mask, [(0x200800, 1, -abi.KVM_EINVAL), (0x200000, 0, -abi.KVM_EINVAL)])):
            with self.subTest(exit_hypercall=enabled):
                gvm, vcpu = self.create_td("guest_vmcall_ops")
                if enabled:
                    self.require(gvm.vm.check_extension(abi.KVM_CAP_EXIT_HYPERCALL) & hc_mask,
                                 "KVM_CAP_EXIT_HYPERCALL lacks KVM_HC_MAP_GPA_RANGE")
                gvm.vm.enable_cap(abi.KVM_CAP_EXIT_HYPERCALL, enabled)
                self.set_ops(gvm, [vmcall(r10=abi.KVM_HC_MAP_GPA_RANGE, r11=gpa, r12=npages)
                                   for gpa, npages, _ in calls])
                vcpu.run_until_done(timeout=RUN_TIMEOUT)
                self.assertEqual([out[0] for out in self.results(gvm)],
                                 [ret & MASK64 for *_, ret in calls])


if __name__ == "__main__":
    main()
