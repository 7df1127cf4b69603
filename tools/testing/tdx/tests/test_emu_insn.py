# SPDX-License-Identifier: GPL-2.0-only
"""emu/insn.py: instruction bytes fetched from a TD's memory through its page
tables, for hosts whose emulation-failure exits carry none."""

import unittest
from types import SimpleNamespace

from tdx.emu import insn
from tdx.lib import paging

PAGE = 4096
SHARED_BIT = 1 << 47
CR0_PG, EFER_LMA = insn.CR0_PG, insn.EFER_LMA


class FakeMemory:
    """guest_bytes() over {gpa page: bytearray}; the shared bit selects a second map."""

    def __init__(self):
        self.shared_bit = SHARED_BIT
        self.private, self.shared = {}, {}

    def guest_bytes(self, gpa, length):
        pages = self.shared if gpa & SHARED_BIT else self.private
        gpa &= ~SHARED_BIT
        page = pages.get(gpa & ~(PAGE - 1))
        if page is None or (gpa & (PAGE - 1)) + length > PAGE:
            return None
        return bytes(page[gpa & (PAGE - 1):(gpa & (PAGE - 1)) + length])

    def put(self, gpa, data, shared=False):
        pages = self.shared if shared else self.private
        for i, b in enumerate(data):
            page = pages.setdefault((gpa + i) & ~(PAGE - 1), bytearray(PAGE))
            page[(gpa + i) & (PAGE - 1)] = b


class Fetch(unittest.TestCase):
    def setUp(self):
        self.mem = FakeMemory()
        self.pt = paging.PageTables(0x10000, 0x20000)

    def sregs(self, paging_on=True):
        pages = self.pt.pages()
        for gpa, data in pages.items():
            self.mem.put(gpa, data)
        return SimpleNamespace(cr0=CR0_PG if paging_on else 0, cr4=0, efer=EFER_LMA if paging_on else 0,
                               cr3=self.pt.cr3)

    def test_4k_page_and_page_crossing(self):
        self.pt.map(0x400000, 0x100000, 2 * PAGE, large=False)
        self.mem.put(0x100ffe, b"\x66\x0f\x01\xcc")        # across the two 4K pages
        sregs = self.sregs()
        self.assertEqual(insn.fetch(self.mem, sregs, 0x400ffe, 4), b"\x66\x0f\x01\xcc")
        self.assertIsNone(insn.fetch(self.mem, sregs, 0x401ffe, 4), "second page of the crossing unmapped")

    def test_crossing_at_an_odd_offset_into_another_frame(self):
        """A 4-byte fetch three bytes before a page end, the next page mapped
        to a frame that is not the adjacent one: three bytes from the first
        frame, one from the other; the adjacent frame is never read."""
        self.pt.map(0x400000, 0x100000, PAGE, large=False)
        self.pt.map(0x401000, 0x180000, PAGE, large=False)
        self.mem.put(0x100ffd, b"\x66\x0f\x01")
        self.mem.put(0x180000, b"\xcc")
        self.mem.put(0x101000, b"\xee")                     # adjacent to the first frame
        self.assertEqual(insn.fetch(self.mem, self.sregs(), 0x400ffd, 4), b"\x66\x0f\x01\xcc")

    def test_mapped_page_without_memory(self):
        """The page tables map the page, but no memory backs the frame: None."""
        self.pt.map(0x400000, 0x700000, PAGE, large=False)
        self.assertIsNone(insn.fetch(self.mem, self.sregs(), 0x400000, 4))

    def test_2m_page_offset_kept(self):
        self.pt.map(0x600000, 0x200000, 0x200000)           # one 2M page
        self.mem.put(0x200000 + 0x12345, b"\xaa\xbb\xcc\xdd")
        self.assertEqual(insn.fetch(self.mem, self.sregs(), 0x600000 + 0x12345, 4), b"\xaa\xbb\xcc\xdd")

    def test_shared_mapping_reads_the_shared_view(self):
        self.pt.map(0x800000, 0x300000, PAGE, shared_bit=SHARED_BIT, large=False)
        self.mem.put(0x300010, b"\x01\x02", shared=True)
        self.mem.put(0x300010, b"\x03\x04")                 # private alias: must not be read
        self.assertEqual(insn.fetch(self.mem, self.sregs(), 0x800010, 2), b"\x01\x02")

    def test_no_paging_is_physical(self):
        self.mem.put(0x5000, b"\x90")
        self.assertEqual(insn.fetch(self.mem, self.sregs(paging_on=False), 0x5000, 1), b"\x90")

    def test_not_present(self):
        self.assertIsNone(insn.fetch(self.mem, self.sregs(), 0x400000, 4))

    # The architectural bits, spelled out: a wrong constant in emu/insn.py
    # must not pass because the test borrowed it.
    ARCH_CR0 = 0x80000011                   # PG (bit 31) | ET | PE
    ARCH_EFER_LMA = 1 << 10
    ARCH_CR4_LA57 = 1 << 12

    def test_paging_bit_is_cr0_bit_31(self):
        """CR0 as a 64-bit TD has it: the walk is taken (GVA != GPA)."""
        self.pt.map(0x400000, 0x100000, PAGE, large=False)
        self.mem.put(0x100000, b"\x0f\x01")
        self.mem.put(0x400000, b"\xee\xee")                 # the GVA read as a GPA: wrong bytes
        sregs = self.sregs()
        sregs.cr0, sregs.efer = self.ARCH_CR0, self.ARCH_EFER_LMA
        self.assertEqual(insn.fetch(self.mem, sregs, 0x400000, 2), b"\x0f\x01")

    def test_no_walk_outside_4_level_long_mode(self):
        """Paging on but EFER.LMA clear (32-bit paging), or CR4.LA57 set
        (5-level paging): no translation, even where a 4-level walk would
        find the page."""
        self.pt.map(0x400000, 0x100000, PAGE, large=False)
        self.mem.put(0x100000, b"\x0f\x01")
        sregs = self.sregs()
        sregs.cr0, sregs.efer, sregs.cr4 = self.ARCH_CR0, 0, 0
        self.assertIsNone(insn.translate(self.mem, sregs, 0x400000), "EFER.LMA clear")
        sregs.efer, sregs.cr4 = self.ARCH_EFER_LMA, self.ARCH_CR4_LA57
        self.assertIsNone(insn.translate(self.mem, sregs, 0x400000), "CR4.LA57 set")
        sregs.cr4 = 0
        self.assertEqual(insn.translate(self.mem, sregs, 0x400000), 0x100000, "4-level long mode")


if __name__ == "__main__":
    unittest.main()
