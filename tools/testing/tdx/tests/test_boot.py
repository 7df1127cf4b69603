# SPDX-License-Identifier: GPL-2.0-only
"""tdx.lib.boot: the guest's initial image, checked against the runtime's headers and by walking it."""

import os
import re
import struct
import time
import unittest

from tdx.lib import boot, paging, ucall
from tdx.lib.abi import ffi
from tdx.lib.boot import BootImageError, build_image
from tdx.lib.guest import GuestImage, GuestImageError, find_image

INCLUDE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "guest", "include")
SHARED_BIT = 1 << 47


def header_defines(name):
    """{NAME: int} of the numeric #defines in guest/include/<name>."""
    defines = {}
    with open(os.path.join(INCLUDE, name)) as f:
        for m in re.finditer(r"^#define\s+(\w+)\s+(0x[0-9A-Fa-f]+|\d+)(?:ULL|UL|U)?\b", f.read(), re.M):
            defines[m.group(1)] = int(m.group(2), 0)
    return defines


def basic_image():
    try:
        return GuestImage.load(find_image("guest_basic", "tests"))
    except GuestImageError as e:
        raise unittest.SkipTest(str(e))


class HeaderAgreementTest(unittest.TestCase):
    """The guest headers and the host modules describe the same layout."""

    def test_boot_h(self):
        d = header_defines("boot.h")
        pairs = {
            "TD_BOOT_PARAMS_GPA": boot.BOOT_PARAMS_GPA, "TD_STACKS_TOP": boot.STACKS_TOP,
            "TD_STACK_SIZE": boot.STACK_SIZE, "TD_MAX_VCPUS": boot.MAX_VCPUS, "TD_ELF_GPA": boot.ELF_GPA,
            "TD_SHARED_GVA": boot.SHARED_GVA, "TD_MMIO_GVA": boot.MMIO_GVA, "TD_MMIO_GPA": boot.MMIO_GPA,
            "TD_MMIO_SIZE": boot.MMIO_SIZE, "TD_MMIO_PRIVATE_GVA": boot.MMIO_PRIVATE_GVA,
            "TD_RESETVEC_GPA": boot.RESETVEC_GPA,
            "TD_BOOT_FLAVOUR_VM": boot.FLAVOUR_VM, "TD_BOOT_FLAVOUR_TD": boot.FLAVOUR_TD,
            "GDT_CODE64": paging.GDT_CODE64, "GDT_DATA": paging.GDT_DATA, "GDT_TSS": paging.GDT_TSS,
            "GDT_USER_CODE64": paging.GDT_USER_CODE64, "GDT_USER_DATA": paging.GDT_USER_DATA,
            "TD_BOOT_PER_VCPU": boot.BOOT_PARAMS.size, "TD_BOOT_VCPU_SIZE": boot.BOOT_VCPU.size,
        }
        for name, value in pairs.items():
            self.assertEqual(d[name], value, name)
        # Field offsets: pack a block with distinct values and read each at the header's offset.
        values = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        raw = boot.BOOT_PARAMS.pack(*values)
        for name, fmt, value in (("TD_BOOT_CR0", "I", 1), ("TD_BOOT_CR3", "I", 2), ("TD_BOOT_CR4", "I", 3),
                                 ("TD_BOOT_GDTR", "H", 4), ("TD_BOOT_IDTR", "H", 6),
                                 ("TD_BOOT_FLAVOUR", "I", 8), ("TD_BOOT_NR_VCPUS", "I", 9),
                                 ("TD_BOOT_SHARED_BIT", "Q", 10), ("TD_BOOT_UCALL_GVA", "Q", 11),
                                 ("TD_BOOT_SHARED_GVA", "Q", 12), ("TD_BOOT_SHARED_GPA", "Q", 13),
                                 ("TD_BOOT_SHARED_SIZE", "Q", 14)):
            self.assertEqual(struct.unpack_from("<" + fmt, raw, d[name])[0], value, name)
        self.assertEqual(struct.unpack_from("<I", raw, d["TD_BOOT_GDTR"] + 2)[0], 5)
        vcpu = boot.BOOT_VCPU.pack(21, 22, 23)
        for name, value in (("TD_BOOT_VCPU_STACK_TOP", 21), ("TD_BOOT_VCPU_ENTRY", 22), ("TD_BOOT_VCPU_ARG", 23)):
            self.assertEqual(struct.unpack_from("<Q", vcpu, d[name])[0], value, name)

    def test_ucall_h(self):
        d = header_defines("ucall.h")
        for name in ("UCALL_PORT", "UCALL_SYNC", "UCALL_DONE", "UCALL_ASSERT", "UCALL_EXCEPTION", "UCALL_PRINTF",
                     "UCALL_DONE_RETURNED", "UCALL_ASSERT_BOOL", "UCALL_ASSERT_EQ", "UCALL_ASSERT_NE",
                     "UCALL_MAX_ARGS", "UCALL_FILE_LEN", "UCALL_EXPR_LEN", "UCALL_SLOT_SIZE", "UCALL_OFF_CMD",
                     "UCALL_OFF_ARGS", "UCALL_OFF_LINE", "UCALL_OFF_VCPU", "UCALL_OFF_FILE", "UCALL_OFF_EXPR"):
            self.assertEqual(d[name], getattr(ucall, name), name)
        self.assertEqual(d["UCALL_SLOT_SIZE"], boot.UCALL_SLOT_SIZE)

    def test_exceptions_h(self):
        d = header_defines("exceptions.h")
        self.assertEqual(d["IDT_NR_VECTORS"], boot.IDT_NR_VECTORS)
        self.assertEqual(d["IDT_STUB_SIZE"], boot.IDT_STUB_SIZE)

    def test_tdx_h_names(self):
        d = header_defines("tdx.h")
        expected = {
            "TDG_VP_VMCALL": 0, "TDG_VP_INFO": 1, "TDG_VP_VEINFO_GET": 3, "TDG_MEM_PAGE_ACCEPT": 6,
            "TDVMCALL_GET_TD_VM_CALL_INFO": 0x10000, "TDVMCALL_MAP_GPA": 0x10001, "TDVMCALL_GET_QUOTE": 0x10002,
            "TDVMCALL_REPORT_FATAL_ERROR": 0x10003, "TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT": 0x10004,
            "EXIT_REASON_CPUID": 10, "EXIT_REASON_HLT": 12, "EXIT_REASON_IO_INSTRUCTION": 30,
            "EXIT_REASON_MSR_READ": 31, "EXIT_REASON_MSR_WRITE": 32, "EXIT_REASON_EPT_VIOLATION": 48,
            "TDVMCALL_STATUS_SUCCESS": 0, "TDVMCALL_STATUS_RETRY": 1,
            "TDVMCALL_STATUS_INVALID_OPERAND": 0x8000000000000000,
            "TDVMCALL_STATUS_GPA_INUSE": 0x8000000000000001, "TDVMCALL_STATUS_ALIGN_ERROR": 0x8000000000000002,
            "TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED": 0x8000000000000003, "TDVMCALL_EXPOSE_REGS_MASK": 0xFFCC,
            "TDVMCALL_EXPOSE_R10_R15_MASK": 0xFC00, "TDX_SUCCESS": 0, "TDX_OPERAND_INVALID": 0xC000010000000000,
        }
        for name, value in expected.items():
            self.assertEqual(d[name], value, name)
        try:
            from tdx.lib import ghci
        except ImportError:
            return
        for name, value in d.items():
            if hasattr(ghci, name):
                self.assertEqual(getattr(ghci, name), value, "tdx.h and tdx.lib.ghci disagree on " + name)


class BuildImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.image = basic_image()

    def build(self, **kw):
        kw.setdefault("entries", "guest_done")
        return build_image(self.image, **kw)

    def params(self, b):
        return boot.BOOT_PARAMS.unpack_from(b.page_map[boot.BOOT_PARAMS_GPA], 0)

    def test_only_pages_that_hold_something(self):
        b = self.build()
        self.assertEqual(b.pages, sorted(b.page_map.items()))
        self.assertTrue(all(len(p) == 4096 and g % 4096 == 0 for g, p in b.pages))
        self.assertLess(len(b.pages), 40)
        self.assertNotIn(0, b.page_map)
        self.assertFalse(any(b.shared_gpa <= g < b.shared_gpa + b.shared_size for g in b.page_map))
        for seg in self.image.segments:
            self.assertEqual(b.page_map[seg.vaddr][:len(seg.data[:4096])], seg.data[:4096])
        self.assertIn(boot.RESETVEC_GPA, b.page_map)
        self.assertEqual(b.memory_ranges, [(0, boot.MEM_SIZE), (boot.RESETVEC_GPA, 0x1000)])

    def test_ranges_are_contiguous_runs(self):
        b = self.build(nr_vcpus=2)
        runs = b.ranges()
        self.assertEqual(sum(len(d) for _, d in runs), 4096 * len(b.pages))
        for (g1, d1), (g2, _) in zip(runs, runs[1:]):
            self.assertLess(g1 + len(d1), g2)
        # Page tables, stacks, GDT, IDT, TSS, boot parameters and the ELF:
        # one run (one INIT_MEM_REGION; one real memslot on the emulated platform).
        low = [(g, d) for g, d in runs if g < boot.RESETVEC_GPA]
        self.assertEqual(len(low), 1, [hex(g) for g, _ in low])
        start, data = low[0]
        elf_end = max(s.end for s in self.image.segments if s.vaddr < boot.RESETVEC_GPA)
        self.assertEqual((start, start + len(data)), (min(b.page_map), (elf_end + 4095) & ~4095))
        stacks = boot.STACKS_TOP - 2 * boot.STACK_SIZE
        self.assertEqual(data[stacks - start:boot.STACKS_TOP - start], bytes(2 * boot.STACK_SIZE))
        self.assertLess(max(g for g in b.page_map if g < stacks), stacks)           # the page tables
        for gpa in (b.cr3, boot.BOOT_PARAMS_GPA, boot.GDT_GPA, boot.IDT_GPA, boot.TSS_GPA, boot.ELF_GPA):
            self.assertEqual(data[gpa - start:gpa - start + 4096], b.page_map[gpa])

    def test_boot_params(self):
        b = self.build(nr_vcpus=3, entries=["guest_done", "guest_sync", 0x100000], args=[1, 2, 3])
        p = self.params(b)
        cr0, cr3, cr4, gdt_limit, gdt_base, idt_limit, idt_base, flavour, nr, sbit, ucall_gva, sgva, sgpa, ssize, _ = p
        self.assertEqual((cr0, cr3, cr4), (boot.BOOT_CR0, b.cr3, boot.BOOT_CR4))
        self.assertEqual((gdt_base, gdt_limit), (boot.GDT_GPA, 7 * 8 - 1))
        self.assertEqual((idt_base, idt_limit), (boot.IDT_GPA, 256 * 16 - 1))
        self.assertEqual((flavour, nr, sbit, ucall_gva, sgva, sgpa, ssize),
                         (0, 3, 0, boot.SHARED_GVA, boot.SHARED_GVA, boot.SHARED_GPA, boot.SHARED_SIZE))
        page = b.page_map[boot.BOOT_PARAMS_GPA]
        for i, (entry, arg) in enumerate(zip([self.image.symbol("guest_done"), self.image.symbol("guest_sync"),
                                              0x100000], [1, 2, 3])):
            top, e, a = boot.BOOT_VCPU.unpack_from(page, 80 + 24 * i)
            self.assertEqual((top, e, a), (boot.STACKS_TOP - i * boot.STACK_SIZE, entry, arg))
            self.assertIn(top - 4096, b.page_map)

    def test_gdt_idt_point_at_runtime(self):
        b = self.build()
        gdt = b.page_map[boot.GDT_GPA]
        code = paging.decode_segment(struct.unpack_from("<Q", gdt, paging.GDT_CODE64)[0])
        self.assertEqual((code["l"], code["present"]), (1, 1))
        stubs = self.image.symbol("idt_stubs")
        idt = b.page_map[boot.IDT_GPA]
        for v in (0, 6, 14, 255):
            self.assertEqual(paging.decode_gate(idt[16 * v:16 * v + 16])["offset"], stubs + 16 * v)

    def walk(self, b, gva, shared_bit=0):
        return paging.walk(b.page_map, b.cr3, gva, shared_bit)

    def test_mappings(self):
        b = self.build()
        with self.assertRaises(paging.WalkError):
            self.walk(b, 0x0)                         # NULL guard
        params = self.walk(b, boot.BOOT_PARAMS_GPA)
        self.assertTrue(params.writable and params.nx)
        text = self.walk(b, self.image.symbol("guest_done"))
        self.assertTrue(not text.writable and not text.nx)
        rodata = self.walk(b, self.image.segments[1].vaddr)
        self.assertTrue(not rodata.writable and rodata.nx)
        data = self.walk(b, self.image.symbol("data_value"))
        self.assertTrue(data.writable and data.nx)
        high = self.walk(b, b.mem_size - 1)
        self.assertEqual((high.gpa, high.page_size), (b.mem_size - 1, paging.PAGE_SIZE_2M))
        with self.assertRaises(paging.WalkError):
            self.walk(b, b.mem_size)
        stub = self.walk(b, boot.RESET_RIP)
        self.assertTrue(not stub.writable and not stub.nx and stub.gpa == boot.RESET_RIP)
        shared = self.walk(b, boot.SHARED_GVA + 0x1234)
        self.assertEqual(shared.gpa, boot.SHARED_GPA + 0x1234)
        mmio = self.walk(b, boot.MMIO_GVA + 8)
        self.assertTrue(mmio.gpa == boot.MMIO_GPA + 8 and mmio.pte & paging.PTE_PCD)
        for gva in (0x80000000, boot.SHARED_GVA + boot.SHARED_SIZE):
            with self.assertRaises(paging.WalkError):
                self.walk(b, gva)

    def test_td_shared_bit(self):
        b = self.build(flavour=boot.FLAVOUR_TD, shared_bit=SHARED_BIT)
        self.assertEqual(self.params(b)[7:10], (1, 1, SHARED_BIT))
        t = self.walk(b, boot.SHARED_GVA, SHARED_BIT)
        self.assertTrue(t.shared and t.gpa == boot.SHARED_GPA)
        self.assertTrue(self.walk(b, boot.MMIO_GVA, SHARED_BIT).shared)
        private = self.walk(b, boot.MMIO_PRIVATE_GVA + 0x1008, SHARED_BIT)      # the same GPAs, private
        self.assertTrue(not private.shared and private.gpa == boot.MMIO_GPA + 0x1008)
        self.assertFalse(self.walk(b, boot.SHARED_GPA, SHARED_BIT).shared)      # private identity alias
        self.assertFalse(self.walk(b, 0x100000, SHARED_BIT).shared)

    def test_layout_options(self):
        b = self.build(nr_vcpus=16, shared_gpa=0x400000, shared_size=0x200000, mem_size=0x800000)
        self.assertEqual(self.walk(b, boot.SHARED_GVA + 0x1FFFFF).gpa, 0x5FFFFF)
        self.assertEqual(b.ucall_slot_gpa(15), 0x400000 + 15 * 512)
        with self.assertRaises(IndexError):
            b.ucall_slot_gpa(16)

    def test_no_shared_area(self):
        b = self.build(shared_size=0, mem_size=0x200000)
        self.assertEqual(self.params(b)[10:14], (0, 0, boot.SHARED_GPA, 0))     # ucall/shared GVA 0
        with self.assertRaises(paging.WalkError):
            self.walk(b, boot.SHARED_GVA)
        with self.assertRaises(LookupError):
            b.ucall_slot_gpa(0)

    def test_cached_parts_are_reused(self):
        self.build()
        start = time.perf_counter()
        for i in range(50):
            self.build(args=i)
        per_vm = (time.perf_counter() - start) / 50
        self.assertLess(per_vm, 0.002, "building a cached image took %.0f us" % (per_vm * 1e6))
        a, b = self.build(args=1), self.build(args=2)
        self.assertIs(a.page_map[b.cr3], b.page_map[b.cr3])
        self.assertNotEqual(a.page_map[boot.BOOT_PARAMS_GPA], b.page_map[boot.BOOT_PARAMS_GPA])

    def test_rejects(self):
        bad = [
            (dict(nr_vcpus=0), "nr_vcpus"),
            (dict(nr_vcpus=boot.MAX_VCPUS + 1), "nr_vcpus"),
            (dict(entries=None), "no entry"),
            (dict(entries=0x80000000), "not in the image's code"),
            (dict(entries=["guest_done"], nr_vcpus=2), "1 entries for 2 vCPUs"),
            (dict(args=-1), "64 bits"),
            (dict(flavour=7), "flavour"),
            (dict(shared_bit=3 << 47), "shared bit"),
            (dict(shared_bit=1 << 20), "shared bit"),
            (dict(mem_size=0x300000), "beyond mem_size"),
            (dict(mem_size=boot.MAX_MEM_SIZE + 0x1000), "mem_size"),
            (dict(shared_gpa=0x100000), "above the shared area"),
            (dict(shared_size=0x800), "page aligned"),
        ]
        for kw, pattern in bad:
            with self.subTest(**{k: str(v) for k, v in kw.items()}):
                with self.assertRaisesRegex(BootImageError, pattern):
                    self.build(**kw)
        with self.assertRaisesRegex(GuestImageError, "no_such_symbol"):
            self.build(entries="no_such_symbol")


class InitialStateTest(unittest.TestCase):
    def test_td_reset_state(self):
        sregs = ffi.new("struct kvm_sregs *")
        regs = ffi.new("struct kvm_regs *")
        sregs.apic_base = 0xFEE00900
        regs.rax = regs.r15 = 0x55
        boot.initial_vcpu_state(sregs, regs, 3, rcx=0xABC)
        self.assertEqual((regs.rip, regs.rsi, regs.rcx, regs.rflags, regs.rax, regs.r15),
                         (0xFFFFFFF0, 3, 0xABC, 0x2, 0, 0))
        self.assertEqual(sregs.cr0, 0x31)                       # PE | ET | NE, paging off
        self.assertEqual(sregs.cr4, 0x40)                       # MCE
        self.assertEqual(sregs.efer, 0x900)                     # LME | NXE, not yet LMA
        self.assertEqual(sregs.apic_base, 0xFEE00900)
        cs = sregs.cs
        self.assertEqual((cs.base, cs.limit, cs.db, cs.l, cs.s, cs.present, cs.g, cs.dpl),
                         (0, 0xFFFFFFFF, 1, 0, 1, 1, 1, 0))
        self.assertEqual((sregs.ss.db, sregs.ds.type, sregs.tr.type), (1, 3, 11))


if __name__ == "__main__":
    unittest.main()
