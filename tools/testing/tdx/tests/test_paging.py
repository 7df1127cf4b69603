# SPDX-License-Identifier: GPL-2.0-only
"""tdx.lib.paging: build page tables, GDT, IDT and TSS, then decode them again."""

import struct
import unittest

from tdx.lib import paging
from tdx.lib.paging import PAGE_SIZE, PAGE_SIZE_2M, PageTables, WalkError, walk

SHARED_BIT = 1 << 47


class PageTableTest(unittest.TestCase):
    def setUp(self):
        self.pt = PageTables(0x2000, 0x40000)

    def test_4k_identity(self):
        self.pt.map(0x1000, 0x1000, 3 * PAGE_SIZE)
        for gva in (0x1000, 0x2abc, 0x3fff):
            t = self.pt.walk(gva)
            self.assertEqual(t.gpa, gva)
            self.assertEqual(t.page_size, PAGE_SIZE)
            self.assertTrue(t.writable)
            self.assertFalse(t.user)
            self.assertFalse(t.nx)
            self.assertFalse(t.shared)
        with self.assertRaisesRegex(WalkError, "not mapped: PTE"):
            self.pt.walk(0x0)
        with self.assertRaisesRegex(WalkError, "not mapped"):
            self.pt.walk(0x4000)

    def test_2m_pages_when_aligned(self):
        self.pt.map(0x200000, 0x400000, 2 * PAGE_SIZE_2M)
        t = self.pt.walk(0x3fffff)
        self.assertEqual(t.page_size, PAGE_SIZE_2M)
        self.assertEqual(t.gpa, 0x5fffff)
        self.assertTrue(t.pte & paging.PTE_PS)

    def test_unaligned_range_mixes_sizes(self):
        # 0x1ff000..0x601000: 4K head, two 2M pages, 4K tail.
        self.pt.map(0x1ff000, 0x1ff000, 0x402000)
        self.assertEqual(self.pt.walk(0x1ff000).page_size, PAGE_SIZE)
        self.assertEqual(self.pt.walk(0x200000).page_size, PAGE_SIZE_2M)
        self.assertEqual(self.pt.walk(0x5fffff).page_size, PAGE_SIZE_2M)
        self.assertEqual(self.pt.walk(0x600000).page_size, PAGE_SIZE)
        with self.assertRaises(WalkError):
            self.pt.walk(0x601000)

    def test_large_false_forces_4k(self):
        self.pt.map(0x200000, 0x200000, PAGE_SIZE_2M, large=False)
        self.assertEqual(self.pt.walk(0x3ff000).page_size, PAGE_SIZE)

    def test_permissions(self):
        self.pt.map(0x1000, 0x1000, PAGE_SIZE, writable=False)
        self.pt.map(0x2000, 0x2000, PAGE_SIZE, user=True)
        self.pt.map(0x3000, 0x3000, PAGE_SIZE, nx=True)
        ro, user, nx = (self.pt.walk(a) for a in (0x1000, 0x2000, 0x3000))
        self.assertFalse(ro.writable)
        self.assertFalse(ro.pte & paging.PTE_D)
        self.assertTrue(user.user and user.writable and not user.nx)
        self.assertTrue(nx.nx and nx.pte & paging.PTE_NX)
        self.assertFalse(nx.user)

    def test_shared_bit_in_leaf_only(self):
        self.pt.map(0x40000000, 0x300000, 2 * PAGE_SIZE, shared_bit=SHARED_BIT)
        t = self.pt.walk(0x40001008, shared_bit=SHARED_BIT)
        self.assertTrue(t.shared)
        self.assertEqual(t.gpa, 0x301008)
        self.assertEqual(t.pte & paging.PTE_ADDR_MASK, 0x301000 | SHARED_BIT)
        # Without knowing the shared bit the walker sees the raw GPA.
        self.assertEqual(self.pt.walk(0x40001008).gpa, SHARED_BIT | 0x301008)
        # Table pages themselves are private (no shared bit in non-leaf entries).
        pml4e = struct.unpack_from("<Q", self.pt.pages()[self.pt.cr3], 8 * 0)[0]
        self.assertFalse(pml4e & SHARED_BIT)

    def test_shared_2m(self):
        self.pt.map(0x40000000, 0x200000, PAGE_SIZE_2M, shared_bit=SHARED_BIT)
        t = self.pt.walk(0x40000000, shared_bit=SHARED_BIT)
        self.assertEqual((t.page_size, t.gpa, t.shared), (PAGE_SIZE_2M, 0x200000, True))

    def test_high_and_4g_edge(self):
        self.pt.map(0xFFFFF000, 0xFFFFF000, PAGE_SIZE, writable=False)
        self.pt.map(0xC0000000, 0xC0000000, PAGE_SIZE_2M)
        self.assertEqual(self.pt.walk(0xFFFFFFFF).gpa, 0xFFFFFFFF)
        self.assertEqual(self.pt.walk(0xC01FFFFF).page_size, PAGE_SIZE_2M)

    def test_upper_half(self):
        gva = 0xFFFFFFFF80000000
        self.pt.map(gva, 0x100000, PAGE_SIZE)
        self.assertEqual(self.pt.walk(gva + 0x10).gpa, 0x100010)
        with self.assertRaisesRegex(WalkError, "not canonical"):
            self.pt.walk(0x0000800000000000)

    def test_rejects_bad_requests(self):
        with self.assertRaises(ValueError):
            self.pt.map(0x1001, 0x1000, PAGE_SIZE)
        with self.assertRaises(ValueError):
            self.pt.map(0x1000, 0x1000, 0)
        with self.assertRaises(ValueError):
            self.pt.map(0x1000, 0x1000, PAGE_SIZE, shared_bit=3 << 40)
        with self.assertRaises(ValueError):
            self.pt.map(0x0000800000000000, 0, PAGE_SIZE)
        self.pt.map(0x1000, 0x1000, PAGE_SIZE)
        with self.assertRaisesRegex(ValueError, "already mapped"):
            self.pt.map(0x1000, 0x5000, PAGE_SIZE)
        self.pt.map(0x400000, 0x400000, PAGE_SIZE_2M)
        with self.assertRaisesRegex(ValueError, "large page"):
            self.pt.map(0x401000, 0x401000, PAGE_SIZE)

    def test_table_area_exhausted(self):
        pt = PageTables(0x2000, 0x4000)     # PML4 + one more table only
        with self.assertRaisesRegex(ValueError, "full"):
            pt.map(0x1000, 0x1000, PAGE_SIZE)

    def test_top_down_area(self):
        # The root at the top page, the others below it, down to the base
        # page (the last one taken) and no further; and a walk through them.
        pt = PageTables(0x2000, 0x6000, top_down=True)
        self.assertEqual(pt.cr3, 0x5000)
        pt.map(0x1000, 0x7000, PAGE_SIZE)
        self.assertEqual(sorted(pt.pages()), [0x2000, 0x3000, 0x4000, 0x5000])
        self.assertEqual(walk(pt.pages(), pt.cr3, 0x1234).gpa, 0x7234)
        with self.assertRaisesRegex(ValueError, "full"):
            pt.map(0x40000000, 0x1000, PAGE_SIZE)      # a new PDPT entry: a fifth table
        with self.assertRaisesRegex(ValueError, "full"):
            PageTables(0x2000, 0x4000, top_down=True).map(0x1000, 0x1000, PAGE_SIZE)

    def test_pages_are_tables_only(self):
        self.pt.map(0x1000, 0x1000, PAGE_SIZE)
        pages = self.pt.pages()
        self.assertEqual(sorted(pages), [0x2000, 0x3000, 0x4000, 0x5000])
        self.assertTrue(all(len(p) == PAGE_SIZE for p in pages.values()))
        self.assertEqual(self.pt.cr3, 0x2000)

    def test_walk_with_reader(self):
        self.pt.map(0x1000, 0x7000, PAGE_SIZE)
        pages = self.pt.pages()

        def read(gpa, size):
            page = pages.get(gpa & ~0xFFF)
            return None if page is None else page[gpa & 0xFFF:(gpa & 0xFFF) + size]
        self.assertEqual(walk(read, self.pt.cr3, 0x1234).gpa, 0x7234)
        with self.assertRaisesRegex(WalkError, "outside the given memory"):
            walk({}, self.pt.cr3, 0x1234)


class DescriptorTest(unittest.TestCase):
    def test_gdt(self):
        raw = paging.gdt(0x3E000, 0x67)
        self.assertEqual(len(raw), 7 * 8)
        q = struct.unpack("<7Q", raw)
        self.assertEqual(q[0], 0)
        code = paging.decode_segment(q[paging.GDT_CODE64 // 8])
        self.assertEqual((code["l"], code["db"], code["dpl"], code["present"], code["s"], code["type"] & 8),
                         (1, 0, 0, 1, 1, 8))
        data = paging.decode_segment(q[paging.GDT_DATA // 8])
        self.assertEqual((data["type"], data["db"], data["g"], data["limit"]), (3, 1, 1, 0xFFFFF))
        tss = paging.decode_segment(q[paging.GDT_TSS // 8])
        self.assertEqual((tss["s"], tss["type"], tss["base"], tss["limit"]), (0, 9, 0x3E000, 0x67))
        self.assertEqual(q[paging.GDT_TSS // 8 + 1], 0)        # base[63:32]
        ucode = paging.decode_segment(q[paging.GDT_USER_CODE64 // 8])
        udata = paging.decode_segment(q[paging.GDT_USER_DATA // 8])
        self.assertEqual((ucode["dpl"], ucode["l"], udata["dpl"]), (3, 1, 3))

    def test_descriptor_round_trip(self):
        d = paging.segment_descriptor(0x12345678, 0xABCDE, 0xA, dpl=2, l=1, g=1)
        self.assertEqual(paging.decode_segment(d)["base"], 0x12345678)
        self.assertEqual(paging.decode_segment(d)["limit"], 0xABCDE)
        self.assertEqual(paging.decode_segment(d)["dpl"], 2)

    def test_idt(self):
        handlers = [0x100000 + 16 * v for v in range(256)] + [0xFFFFFFFF12345678]
        raw = paging.idt(handlers)
        self.assertEqual(len(raw), 257 * 16)
        for v in (0, 6, 14, 255, 256):
            gate = paging.decode_gate(raw[16 * v:16 * v + 16])
            self.assertEqual(gate["offset"], handlers[v])
            self.assertEqual((gate["selector"], gate["type"], gate["present"], gate["dpl"], gate["ist"]),
                             (paging.GDT_CODE64, 0xE, 1, 0, 0))

    def test_tss(self):
        raw = paging.tss(rsp0=0x44000, ist=(0x48000,))
        self.assertEqual(len(raw), 104 + 0x400 // 8 + 1)
        self.assertEqual(struct.unpack_from("<Q", raw, 4)[0], 0x44000)
        self.assertEqual(struct.unpack_from("<Q", raw, 36)[0], 0x48000)
        self.assertEqual(struct.unpack_from("<H", raw, 102)[0], 104)
        self.assertEqual(raw[104:-1], bytes(0x80))             # every port allowed
        self.assertEqual(raw[-1], 0xFF)
        with self.assertRaises(ValueError):
            paging.tss(io_ports=7)


if __name__ == "__main__":
    unittest.main()
