# SPDX-License-Identifier: GPL-2.0-only
"""x86-64 paging structures, GDT, IDT and TSS images for guests.

Plain functions and one builder class that return bytes; nothing here knows
about VMs.  PageTables builds 4-level tables (4 KiB and 2 MiB pages) whose
table pages are allocated from a given GPA range; walk() decodes a
translation the way the MMU would, for tests and diagnostics.

TDX: a TD marks shared memory with the shared bit in the GPA (bit GPAW-1).
Mapping with shared_bit=S ORs S into the leaf's physical address, and
walk(..., shared_bit=S) reports it back as .shared with the bit stripped.
"""

import struct

PAGE_SIZE = 0x1000
PAGE_SIZE_2M = 0x200000
PAGE_SIZE_1G = 0x40000000

PTE_P = 1 << 0
PTE_W = 1 << 1
PTE_U = 1 << 2
PTE_PWT = 1 << 3
PTE_PCD = 1 << 4
PTE_A = 1 << 5
PTE_D = 1 << 6
PTE_PS = 1 << 7
PTE_G = 1 << 8
PTE_NX = 1 << 63
PTE_ADDR_MASK = 0x000FFFFFFFFFF000      # bits 51:12

LEVEL_NAMES = ("PTE", "PDE", "PDPTE", "PML4E")     # index = level - 1

_ENTRY = struct.Struct("<Q")


class WalkError(LookupError):
    """The GVA does not translate; the message says at which level and why."""

    def __init__(self, message, gva, level):
        super().__init__(message)
        self.gva = gva
        self.level = level


class Translation:
    """Result of walk(): where a GVA goes and with which rights (effective over all levels)."""

    __slots__ = ("gva", "gpa", "page_size", "writable", "user", "nx", "shared", "pte")

    def __init__(self, gva, gpa, page_size, writable, user, nx, shared, pte):
        self.gva = gva
        self.gpa = gpa                  # without the shared bit
        self.page_size = page_size
        self.writable = writable
        self.user = user
        self.nx = nx
        self.shared = shared
        self.pte = pte                  # the leaf entry as stored

    def __repr__(self):
        return ("Translation(gva=0x%x, gpa=0x%x, %s, %s%s%s%s)"
                % (self.gva, self.gpa, {PAGE_SIZE: "4K", PAGE_SIZE_2M: "2M", PAGE_SIZE_1G: "1G"}[self.page_size],
                   "RW" if self.writable else "RO", " U" if self.user else "", " NX" if self.nx else "",
                   " shared" if self.shared else ""))


def _index(gva, level):
    return (gva >> (12 + 9 * (level - 1))) & 0x1FF


def _canonical(gva):
    top = gva >> 47
    return 0 <= gva < 1 << 64 and top in (0, 0x1FFFF)


class PageTables:
    """A 4-level page-table tree whose table pages come from [base, limit):
    from base up, or with `top_down` from limit down (the root, CR3, is the
    first table taken), so that the tables end where something else begins."""

    def __init__(self, base, limit, top_down=False):
        if base % PAGE_SIZE or limit % PAGE_SIZE or limit <= base:
            raise ValueError("page-table area 0x%x..0x%x must be page aligned and non-empty" % (base, limit))
        self.base = base
        self.limit = limit
        self.top_down = top_down
        self._next = limit - PAGE_SIZE if top_down else base
        self._tables = {}
        self.cr3 = self._alloc()

    def _alloc(self):
        if not self.base <= self._next < self.limit:
            raise ValueError("page-table area 0x%x..0x%x is full" % (self.base, self.limit))
        gpa = self._next
        self._next += -PAGE_SIZE if self.top_down else PAGE_SIZE
        self._tables[gpa] = bytearray(PAGE_SIZE)
        return gpa

    def _get(self, table, index):
        return _ENTRY.unpack_from(self._tables[table], index * 8)[0]

    def _set(self, table, index, value):
        _ENTRY.pack_into(self._tables[table], index * 8, value)

    def _next_table(self, table, index, gva, level):
        entry = self._get(table, index)
        if entry & PTE_P:
            if entry & PTE_PS:
                raise ValueError("GVA 0x%x is already mapped by a large page at level %d" % (gva, level))
            return entry & PTE_ADDR_MASK
        new = self._alloc()
        # Rights are decided by the leaf; upper levels allow everything.
        self._set(table, index, new | PTE_P | PTE_W | PTE_U)
        return new

    def map(self, gva, gpa, size, writable=True, user=False, nx=False, shared_bit=0, large=True,
            uncached=False):
        """Map [gva, gva + size) to gpa; 2 MiB pages where both are aligned (unless large=False)."""
        if gva % PAGE_SIZE or gpa % PAGE_SIZE or size % PAGE_SIZE or size <= 0:
            raise ValueError("map(0x%x, 0x%x, 0x%x): not page aligned" % (gva, gpa, size))
        if not _canonical(gva) or not _canonical(gva + size - 1):
            raise ValueError("map(0x%x, ...): non-canonical GVA" % gva)
        if shared_bit & (shared_bit - 1) or shared_bit & ~PTE_ADDR_MASK:
            raise ValueError("shared bit 0x%x is not a single physical-address bit" % shared_bit)
        if (gpa + size - 1) >> 52:
            raise ValueError("map(..., 0x%x, 0x%x): GPA beyond 52 bits" % (gpa, size))
        flags = PTE_P | PTE_A | (PTE_W | PTE_D if writable else 0) | (PTE_U if user else 0) \
            | (PTE_NX if nx else 0) | (PTE_PCD | PTE_PWT if uncached else 0)
        end = gva + size
        while gva < end:
            big = large and gva % PAGE_SIZE_2M == 0 and gpa % PAGE_SIZE_2M == 0 and end - gva >= PAGE_SIZE_2M
            table = self.cr3
            for level in (4, 3) if big else (4, 3, 2):
                table = self._next_table(table, _index(gva, level), gva, level)
            leaf_level = 2 if big else 1
            index = _index(gva, leaf_level)
            if self._get(table, index) & PTE_P:
                raise ValueError("GVA 0x%x is already mapped" % gva)
            self._set(table, index, (gpa | shared_bit) | flags | (PTE_PS if big else 0))
            step = PAGE_SIZE_2M if big else PAGE_SIZE
            gva += step
            gpa += step

    def pages(self):
        """{gpa: 4096 bytes} of every table page."""
        return {gpa: bytes(t) for gpa, t in self._tables.items()}

    def walk(self, gva, shared_bit=0):
        return walk(self._tables, self.cr3, gva, shared_bit)


def _reader(memory):
    if callable(memory):
        return memory

    def read(gpa, size):
        page = memory.get(gpa & ~(PAGE_SIZE - 1))
        if page is None:
            return None
        offset = gpa & (PAGE_SIZE - 1)
        return bytes(page[offset:offset + size])
    return read


def walk(memory, cr3, gva, shared_bit=0):
    """Translate gva through the tables at cr3.

    memory: {page gpa: bytes} or a callable read(gpa, size) -> bytes (None if
    absent).  The shared bit, if given, is stripped from table and leaf
    addresses and reported as Translation.shared.  Raises WalkError.
    """
    read = _reader(memory)
    if not _canonical(gva):
        raise WalkError("GVA 0x%x is not canonical" % gva, gva, 4)
    table = cr3 & PTE_ADDR_MASK
    writable = user = True
    nx = False
    for level in (4, 3, 2, 1):
        entry_gpa = table + _index(gva, level) * 8
        raw = read(entry_gpa, 8)
        name = LEVEL_NAMES[level - 1]
        if raw is None or len(raw) != 8:
            raise WalkError("GVA 0x%x: %s at GPA 0x%x is outside the given memory" % (gva, name, entry_gpa),
                            gva, level)
        entry = _ENTRY.unpack(raw)[0]
        if not entry & PTE_P:
            raise WalkError("GVA 0x%x not mapped: %s at GPA 0x%x is not present" % (gva, name, entry_gpa),
                            gva, level)
        writable = writable and bool(entry & PTE_W)
        user = user and bool(entry & PTE_U)
        nx = nx or bool(entry & PTE_NX)
        addr = entry & PTE_ADDR_MASK
        shared = bool(shared_bit and addr & shared_bit)
        addr &= ~shared_bit
        if level == 1 or (level in (2, 3) and entry & PTE_PS):
            page_size = PAGE_SIZE << (9 * (level - 1))
            base = addr & ~(page_size - 1)
            return Translation(gva, base | (gva & (page_size - 1)), page_size, writable, user, nx, shared,
                               entry)
        table = addr


# Segment descriptors ---------------------------------------------------------

SEG_TYPE_DATA_RW = 0x3          # read/write, accessed
SEG_TYPE_CODE_XR = 0xB          # execute/read, accessed
SYS_TYPE_TSS64 = 0x9            # available 64-bit TSS
SYS_TYPE_TSS64_BUSY = 0xB
SYS_TYPE_INTR_GATE = 0xE

GDT_NULL = 0x00
GDT_CODE64 = 0x08
GDT_DATA = 0x10
GDT_TSS = 0x18                  # 16 bytes: 0x18 and 0x20
GDT_USER_CODE64 = 0x28 | 3
GDT_USER_DATA = 0x30 | 3
GDT_ENTRIES = 7


def segment_descriptor(base, limit, type_, s=1, dpl=0, present=1, avl=0, l=0, db=0, g=0):
    """An 8-byte code/data descriptor as an int (limit in units of g)."""
    return ((limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | (type_ & 0xF) << 40 | s << 44 | dpl << 45
            | present << 47 | ((limit >> 16) & 0xF) << 48 | avl << 52 | l << 53 | db << 54 | g << 55
            | ((base >> 24) & 0xFF) << 56)


def decode_segment(desc):
    """8-byte descriptor (int) -> dict of its fields."""
    return {
        "base": (desc >> 16) & 0xFFFFFF | ((desc >> 56) & 0xFF) << 24,
        "limit": desc & 0xFFFF | ((desc >> 48) & 0xF) << 16,
        "type": (desc >> 40) & 0xF, "s": (desc >> 44) & 1, "dpl": (desc >> 45) & 3,
        "present": (desc >> 47) & 1, "avl": (desc >> 52) & 1, "l": (desc >> 53) & 1,
        "db": (desc >> 54) & 1, "g": (desc >> 55) & 1,
    }


def system_descriptor(base, limit, type_, dpl=0):
    """A 16-byte 64-bit system descriptor (TSS/LDT) as bytes."""
    low = segment_descriptor(base & 0xFFFFFFFF, limit, type_, s=0, dpl=dpl)
    return struct.pack("<QQ", low, base >> 32)


def gdt(tss_base=0, tss_limit=0):
    """GDT bytes: null, code64 0x08, data 0x10, TSS 0x18, user code64 0x2b, user data 0x33."""
    flat = 0xFFFFF
    entries = [
        struct.pack("<Q", 0),
        struct.pack("<Q", segment_descriptor(0, flat, SEG_TYPE_CODE_XR, l=1, g=1)),
        struct.pack("<Q", segment_descriptor(0, flat, SEG_TYPE_DATA_RW, db=1, g=1)),
        system_descriptor(tss_base, tss_limit, SYS_TYPE_TSS64),
        struct.pack("<Q", segment_descriptor(0, flat, SEG_TYPE_CODE_XR, dpl=3, l=1, g=1)),
        struct.pack("<Q", segment_descriptor(0, flat, SEG_TYPE_DATA_RW, dpl=3, db=1, g=1)),
    ]
    return b"".join(entries)


def gate_descriptor(offset, selector=GDT_CODE64, type_=SYS_TYPE_INTR_GATE, dpl=0, ist=0):
    """A 16-byte 64-bit IDT gate."""
    low = (offset & 0xFFFF | selector << 16 | (ist & 7) << 32 | type_ << 40 | dpl << 45 | 1 << 47
           | ((offset >> 16) & 0xFFFF) << 48)
    return struct.pack("<QQ", low, offset >> 32)


def decode_gate(raw):
    """16-byte gate -> dict(offset, selector, ist, type, dpl, present)."""
    low, high = struct.unpack("<QQ", raw)
    return {
        "offset": low & 0xFFFF | ((low >> 48) & 0xFFFF) << 16 | (high & 0xFFFFFFFF) << 32,
        "selector": (low >> 16) & 0xFFFF, "ist": (low >> 32) & 7, "type": (low >> 40) & 0xF,
        "dpl": (low >> 45) & 3, "present": (low >> 47) & 1,
    }


def idt(handlers, selector=GDT_CODE64):
    """IDT bytes with an interrupt gate (DPL 0) for each handler address, in vector order."""
    return b"".join(gate_descriptor(h, selector) for h in handlers)


# TSS -------------------------------------------------------------------------

TSS_HEADER_SIZE = 104
TSS_IOMAP_BASE_OFFSET = 102


def tss(rsp0=0, ist=(), io_ports=0x400):
    """64-bit TSS bytes with an all-zero I/O bitmap for ports [0, io_ports).

    kvm_pvm honours the I/O bitmap (not IOPL) for CPL3 port I/O
    (docs/host-kvm.md §9); the bitmap ends with the required
    0xFF byte.  The descriptor limit is len(result) - 1.
    """
    if io_ports % 8:
        raise ValueError("io_ports must be a multiple of 8")
    header = bytearray(TSS_HEADER_SIZE)
    struct.pack_into("<Q", header, 4, rsp0)
    for i, stack in enumerate(ist[:7]):
        struct.pack_into("<Q", header, 36 + 8 * i, stack)
    struct.pack_into("<H", header, TSS_IOMAP_BASE_OFFSET, TSS_HEADER_SIZE)
    return bytes(header) + bytes(io_ports // 8) + b"\xff"
