# SPDX-License-Identifier: GPL-2.0-only
"""The initial memory image of a guest, and the initial vCPU state.

One boot path for both shapes (docs/internals.md §4): every vCPU starts as a
TD vCPU does, at the reset vector in 32-bit protected mode with paging off;
the runtime's stub (guest/boot.S) enters long mode with the page tables,
GDT and IDT built here and calls the per-vCPU entry named in the
boot-parameter block.

build_image() returns only the pages that hold something (boot parameters,
tables, stacks, the ELF), so a TD adds exactly those with
KVM_TDX_INIT_MEM_REGION.  Everything that does not depend on per-VM values
is cached on the GuestImage, so building the image of another VM costs
one boot-parameter page.
"""

import struct

from tdx.lib import paging
from tdx.lib.guest import GuestImage, GuestImageError
from tdx.lib.paging import PAGE_SIZE

# Guest physical layout; mirrors guest/include/boot.h (tests/test_boot.py compares).
# Everything the host adds below the reset vector is one run of pages, up to
# the end of the ELF: the page tables (taken from below the last stack
# down), the stacks (vCPU 0's highest), GDT, IDT, TSS, the boot parameters
# and the ELF.  So a TD adds them with one KVM_TDX_INIT_MEM_REGION, and the
# emulated platform backs them with one real memslot (every memslot change
# waits for an SRCU grace period: emu/memory.py sync(), docs/internals.md §4).
PAGE_TABLES_GPA = 0x1000
STACKS_TOP = 0xFC000                    # vCPU i's stack ends at STACKS_TOP - i * STACK_SIZE
GDT_GPA = 0xFC000
IDT_GPA = 0xFD000
TSS_GPA = 0xFE000
BOOT_PARAMS_GPA = 0xFF000
STACK_SIZE = 0x4000
MAX_VCPUS = 48
ELF_GPA = 0x100000
SHARED_GPA = 0x300000
SHARED_SIZE = 0x100000
SHARED_GVA = 0x40000000
MMIO_GVA = 0xC0000000
MMIO_GPA = 0xC0000000
MMIO_SIZE = 0x200000
# The same GPAs through the private alias (no shared bit): for memslots the
# host adds at MMIO_GPA that the guest uses privately (guest_memfd memslots,
# a non-guest_memfd memslot with the PRIVATE attribute).
MMIO_PRIVATE_GVA = 0xC0200000
RESETVEC_GPA = 0xFFFFF000
RESET_RIP = 0xFFFFFFF0
MEM_SIZE = 0x400000
MAX_MEM_SIZE = SHARED_GVA               # the identity map must stay below the shared GVA

FLAVOUR_VM = 0
FLAVOUR_TD = 1

IDT_NR_VECTORS = 256
IDT_STUB_SIZE = 16
UCALL_SLOT_SIZE = 512

# struct td_boot_params (guest/include/boot.h): cr0, cr3, cr4, gdtr{u16,u32}, idtr{u16,u32},
# flavour, nr_vcpus, shared_bit, ucall_gva, shared_gva, shared_gpa, shared_size, reserved
BOOT_PARAMS = struct.Struct("<IIIHIHIIIQQQQQQ")
BOOT_VCPU = struct.Struct("<QQQ")       # stack_top, entry, arg
assert BOOT_PARAMS.size == 80 and BOOT_VCPU.size == 24

X86_CR0_PE = 1 << 0
X86_CR0_MP = 1 << 1
X86_CR0_ET = 1 << 4
X86_CR0_NE = 1 << 5
X86_CR0_WP = 1 << 16
X86_CR0_PG = 1 << 31
X86_CR4_PAE = 1 << 5
X86_CR4_MCE = 1 << 6
EFER_LME = 1 << 8
EFER_LMA = 1 << 10
EFER_NX = 1 << 11

# Loaded by the stub.  A TD forces CR0.PE/NE and CR4.MCE to 1 (docs/c-selftests.md §2c).
BOOT_CR0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG
BOOT_CR4 = X86_CR4_PAE | X86_CR4_MCE
# The state a TD vCPU starts in: flat 32-bit protected mode, paging off.
RESET_CR0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE
RESET_CR4 = X86_CR4_MCE
# A TD cannot write EFER, so LME (and NXE, which the NX bits of our page
# tables need) come preset, as the TDX module presets them.
RESET_EFER = EFER_LME | EFER_NX
RESET_RFLAGS = 0x2

_ZERO_PAGE = bytes(PAGE_SIZE)


class BootImageError(ValueError):
    """The requested layout is impossible (the message says why)."""


class BootImage:
    """The initial guest memory: .pages [(gpa, 4096 bytes)] sorted by GPA, and where things are.

    .page_map is the same as a dict.
    .memory_ranges lists the (gpa, size) ranges the VM must back with
    memslots: low memory [0, mem_size) (which also holds the shared area) and
    the reset-vector page.  Shared pages are not in .pages: in a TD they
    are never measured, and the ucall slots start zeroed.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def ranges(self):
        """[(gpa, bytes)] of the contiguous runs of .pages (one INIT_MEM_REGION each)."""
        runs = []
        for gpa, data in self.pages:
            if runs and runs[-1][0] + len(runs[-1][1]) == gpa:
                runs[-1][1].extend(data)
            else:
                runs.append((gpa, bytearray(data)))
        return [(gpa, bytes(data)) for gpa, data in runs]

    def ucall_slot_gpa(self, vcpu_index):
        """GPA (without the shared bit) of vCPU vcpu_index's struct ucall."""
        if self.ucall_gpa is None:
            raise LookupError("%s: no shared area, so no ucall slots" % self.image.name)
        if not 0 <= vcpu_index < self.nr_vcpus:
            raise IndexError("vCPU index %d out of range (%d vCPUs)" % (vcpu_index, self.nr_vcpus))
        return self.ucall_gpa + vcpu_index * UCALL_SLOT_SIZE

    def initial_vcpu_state(self, sregs, regs, vcpu_index, rcx=0):
        initial_vcpu_state(sregs, regs, vcpu_index, rcx)

    def __repr__(self):
        return ("BootImage(%s, %d vCPUs, %d pages, flavour %d, shared 0x%x+0x%x bit 0x%x)"
                % (self.image.name, self.nr_vcpus, len(self.pages), self.flavour, self.shared_gpa,
                   self.shared_size, self.shared_bit))


def _as_list(value, n, what, default=None):
    if value is None:
        value = default
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise BootImageError("%d %s for %d vCPUs" % (len(value), what, n))
        return list(value)
    return [value] * n


def _segment_pages(seg):
    """{gpa: page} of one PT_LOAD, zero-filled to memsz."""
    pages = {}
    size = (seg.memsz + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    data = seg.data
    for off in range(0, size, PAGE_SIZE):
        chunk = data[off:off + PAGE_SIZE]
        pages[seg.vaddr + off] = chunk + bytes(PAGE_SIZE - len(chunk)) if len(chunk) < PAGE_SIZE else chunk
    return pages


def _image_cache(image):
    cache = getattr(image, "_boot_cache", None)
    if cache is None:
        cache = image._boot_cache = {}
    return cache


def _check_segments(image):
    low, high = [], []
    for seg in image.segments:
        if seg.vaddr % PAGE_SIZE:
            raise BootImageError("%s: segment at 0x%x is not page aligned" % (image.path, seg.vaddr))
        if ELF_GPA <= seg.vaddr and seg.end <= RESETVEC_GPA:
            low.append(seg)
        elif RESETVEC_GPA <= seg.vaddr and seg.end <= 1 << 32:
            high.append(seg)
        else:
            raise BootImageError("%s: segment 0x%x..0x%x is outside the guest layout "
                                 "(0x%x.. and 0x%x..4G); link with guest/guest.ld"
                                 % (image.path, seg.vaddr, seg.end, ELF_GPA, RESETVEC_GPA))
    if not any(s.vaddr <= RESET_RIP < s.end for s in high):
        raise BootImageError("%s: no reset vector at 0x%x; link with guest/guest.ld" % (image.path, RESET_RIP))
    return low, high


def _static_pages(image):
    """ELF pages plus GDT, IDT and TSS: depend on the image only."""
    cache = _image_cache(image)
    if "static" not in cache:
        _check_segments(image)
        pages = {}
        for seg in image.segments:
            pages.update(_segment_pages(seg))
        stubs = image.symbol("idt_stubs")
        end = image.symbols.get("idt_stubs_end")
        if end is not None and end - stubs != IDT_NR_VECTORS * IDT_STUB_SIZE:
            raise BootImageError("%s: idt_stubs has %d bytes, expected %d"
                                 % (image.path, end - stubs, IDT_NR_VECTORS * IDT_STUB_SIZE))
        tss = paging.tss()
        tables = {
            GDT_GPA: paging.gdt(TSS_GPA, len(tss) - 1),
            IDT_GPA: paging.idt(stubs + v * IDT_STUB_SIZE for v in range(IDT_NR_VECTORS)),
            TSS_GPA: tss,
        }
        for gpa, data in tables.items():
            pages[gpa] = data + bytes(PAGE_SIZE - len(data))
        cache["static"] = (pages, len(tables[GDT_GPA]) - 1, len(tables[IDT_GPA]) - 1)
    return cache["static"]


def _subtract(start, end, holes):
    """[start, end) minus sorted (lo, hi) holes -> list of (lo, hi)."""
    out = []
    for lo, hi in holes:
        if lo > start:
            out.append((start, min(lo, end)))
        start = max(start, hi)
    if start < end:
        out.append((start, end))
    return [(a, b) for a, b in out if a < b]


def _stacks_gpa(nr_vcpus):
    """The lowest stack page: the page tables end there."""
    return STACKS_TOP - nr_vcpus * STACK_SIZE


def _page_tables(image, mem_size, shared_gpa, shared_size, shared_bit, nr_vcpus):
    """{gpa: page} of the page tables and CR3, cached per layout."""
    cache = _image_cache(image)
    key = ("tables", mem_size, shared_gpa, shared_size, shared_bit, nr_vcpus)
    if key not in cache:
        low, high = _check_segments(image)
        pt = paging.PageTables(PAGE_TABLES_GPA, _stacks_gpa(nr_vcpus), top_down=True)
        holes = []
        for seg in low:
            size = (seg.memsz + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
            pt.map(seg.vaddr, seg.vaddr, size, writable=seg.writable, nx=not seg.executable, large=False)
            holes.append((seg.vaddr, seg.vaddr + size))
        # Everything else of low memory, page 0 excepted (NULL guard): data, no code.
        for lo, hi in _subtract(PAGE_SIZE, mem_size, sorted(holes)):
            pt.map(lo, lo, hi - lo, nx=True)
        if shared_size:
            pt.map(SHARED_GVA, shared_gpa, shared_size, nx=True, shared_bit=shared_bit)
        pt.map(MMIO_GVA, MMIO_GPA, MMIO_SIZE, nx=True, shared_bit=shared_bit, uncached=True)
        pt.map(MMIO_PRIVATE_GVA, MMIO_GPA, MMIO_SIZE, nx=True)
        for seg in high:
            size = (seg.memsz + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
            pt.map(seg.vaddr, seg.vaddr, size, writable=seg.writable, nx=not seg.executable, large=False)
        cache[key] = (pt.pages(), pt.cr3)
    return cache[key]


def build_image(image, nr_vcpus=1, entries=None, args=None, flavour=FLAVOUR_VM, shared_bit=0,
                shared_gpa=SHARED_GPA, shared_size=SHARED_SIZE, mem_size=MEM_SIZE):
    """The initial memory of a guest running `image`.

    image: GuestImage or path.  entries: symbol name or address, or one per
    vCPU; args: the entry function's argument (default 0), or one per vCPU.  shared_bit
    is 0 for a plain VM and 1 << (GPAW - 1) for a TD.
    """
    if not isinstance(image, GuestImage):
        image = GuestImage.load(image)
    if not 1 <= nr_vcpus <= MAX_VCPUS:
        raise BootImageError("nr_vcpus %d: must be 1..%d" % (nr_vcpus, MAX_VCPUS))
    if flavour not in (FLAVOUR_VM, FLAVOUR_TD):
        raise BootImageError("flavour %r: must be FLAVOUR_VM or FLAVOUR_TD" % (flavour,))
    if shared_bit and (shared_bit & (shared_bit - 1) or shared_bit < 1 << 32 or shared_bit >= 1 << 52):
        raise BootImageError("shared bit 0x%x: must be 0 or one GPA bit in 32..51" % shared_bit)
    if mem_size % PAGE_SIZE or not 0 < mem_size <= MAX_MEM_SIZE:
        raise BootImageError("mem_size 0x%x: must be page aligned and at most 0x%x" % (mem_size, MAX_MEM_SIZE))
    # shared_size 0: no shared area; the guest's reports are then the port writes alone.
    if shared_size and (shared_gpa % PAGE_SIZE or shared_size % PAGE_SIZE
                        or shared_size < nr_vcpus * UCALL_SLOT_SIZE or shared_size > MAX_MEM_SIZE):
        raise BootImageError("shared area 0x%x+0x%x: must be page aligned and hold %d ucall slots"
                             % (shared_gpa, shared_size, nr_vcpus))
    if shared_size and shared_gpa + shared_size > mem_size:
        raise BootImageError("shared area 0x%x..0x%x is beyond mem_size 0x%x"
                             % (shared_gpa, shared_gpa + shared_size, mem_size))
    low, _ = _check_segments(image)
    elf_end = max(s.end for s in low) if low else ELF_GPA
    if shared_size and shared_gpa < elf_end:
        raise BootImageError("%s: image ends at 0x%x, above the shared area at 0x%x"
                             % (image.path, elf_end, shared_gpa))
    if elf_end > mem_size:
        raise BootImageError("%s: image ends at 0x%x, beyond mem_size 0x%x" % (image.path, elf_end, mem_size))

    entries = _as_list(entries, nr_vcpus, "entries")
    args = _as_list(args, nr_vcpus, "args", default=0)
    text = [s for s in image.segments if s.executable]
    addrs = []
    for entry in entries:
        if entry is None:
            raise BootImageError("%s: no entry function given" % image.path)
        addr = image.symbol(entry) if isinstance(entry, str) else entry
        if not any(s.vaddr <= addr < s.end for s in text):
            raise BootImageError("%s: entry %s (0x%x) is not in the image's code" % (image.path, entry, addr))
        addrs.append(addr)
    for arg in args:
        if not 0 <= arg < 1 << 64:
            raise BootImageError("argument 0x%x does not fit in 64 bits" % arg)

    static, gdt_limit, idt_limit = _static_pages(image)
    tables, cr3 = _page_tables(image, mem_size, shared_gpa, shared_size, shared_bit, nr_vcpus)

    params = bytearray(PAGE_SIZE)
    shared_gva = SHARED_GVA if shared_size else 0
    BOOT_PARAMS.pack_into(params, 0, BOOT_CR0, cr3, BOOT_CR4, gdt_limit, GDT_GPA, idt_limit, IDT_GPA,
                          flavour, nr_vcpus, shared_bit, shared_gva, shared_gva, shared_gpa, shared_size, 0)
    for i, (addr, arg) in enumerate(zip(addrs, args)):
        BOOT_VCPU.pack_into(params, BOOT_PARAMS.size + i * BOOT_VCPU.size,
                            STACKS_TOP - i * STACK_SIZE, addr, arg)

    pages = {BOOT_PARAMS_GPA: bytes(params)}
    pages.update(tables)
    pages.update(static)
    for gpa in range(_stacks_gpa(nr_vcpus), STACKS_TOP, PAGE_SIZE):
        pages[gpa] = _ZERO_PAGE
    ordered = sorted(pages.items())
    return BootImage(
        image=image, pages=ordered, page_map=dict(ordered), nr_vcpus=nr_vcpus, flavour=flavour,
        entries=addrs, args=args, cr3=cr3, mem_size=mem_size, shared_bit=shared_bit,
        shared_gpa=shared_gpa, shared_size=shared_size, shared_gva=shared_gva,
        ucall_gva=shared_gva, ucall_gpa=shared_gpa if shared_size else None, mmio_gva=MMIO_GVA, mmio_gpa=MMIO_GPA,
        memory_ranges=[(0, mem_size), (RESETVEC_GPA, PAGE_SIZE)],
    )


def _flat_segment(seg, selector, type_):
    seg.base = 0
    seg.limit = 0xFFFFFFFF
    seg.selector = selector
    seg.type = type_
    seg.present = 1
    seg.dpl = 0
    seg.db = 1
    seg.s = 1
    seg.l = 0
    seg.g = 1
    seg.avl = 0
    seg.unusable = 0


def initial_vcpu_state(sregs, regs, vcpu_index, rcx=0):
    """Fill cffi struct kvm_sregs / kvm_regs with the TD vCPU initial state.

    32-bit flat protected mode, paging off, CR0 = PE|ET|NE, CR4 = MCE,
    EFER = LME|NXE, RIP = 0xFFFFFFF0, RSI = vCPU index, RCX = rcx (the
    KVM_TDX_INIT_VCPU data), RFLAGS = 0x2, every other GPR 0.  Fields not
    named (apic_base, interrupt_bitmap) are left as they are, so pass what
    KVM_GET_SREGS returned.
    """
    _flat_segment(sregs.cs, 0x08, paging.SEG_TYPE_CODE_XR)
    for name in ("ds", "es", "fs", "gs", "ss"):
        _flat_segment(getattr(sregs, name), 0x10, paging.SEG_TYPE_DATA_RW)
    for name, type_ in (("tr", paging.SYS_TYPE_TSS64_BUSY), ("ldt", 0x2)):
        seg = getattr(sregs, name)
        seg.base = 0
        seg.limit = 0xFFFF
        seg.selector = 0
        seg.type = type_
        seg.present = 1
        seg.dpl = seg.db = seg.s = seg.l = seg.g = seg.avl = 0
        seg.unusable = 0
    for dt in (sregs.gdt, sregs.idt):
        dt.base = 0
        dt.limit = 0xFFFF
    sregs.cr0 = RESET_CR0
    sregs.cr2 = 0
    sregs.cr3 = 0
    sregs.cr4 = RESET_CR4
    sregs.cr8 = 0
    sregs.efer = RESET_EFER

    for name in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
                 "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"):
        setattr(regs, name, 0)
    regs.rsi = vcpu_index
    regs.rcx = rcx
    regs.rip = RESET_RIP
    regs.rflags = RESET_RFLAGS


__all__ = ["BootImage", "BootImageError", "GuestImageError", "build_image", "initial_vcpu_state"]
