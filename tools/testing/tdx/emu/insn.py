# SPDX-License-Identifier: GPL-2.0-only
"""Fetch guest instruction bytes from the TD's memory, as the CPU would.

The model recognises TDCALL by its bytes.  Hosts since Linux 5.16 put the
instruction bytes into an emulation-failure exit; older hosts (and the
baseline host path, emu/host.py) do not, so the model reads them itself: it
walks the guest's page tables (long mode, 4-level, 2M/1G pages; or no paging)
in the TD's memory model.  The walk needs no host feature.
"""

PAGE_SIZE = 4096
CR0_PG = 1 << 31
CR4_LA57 = 1 << 12
EFER_LMA = 1 << 10
PTE_P = 1 << 0
PTE_PS = 1 << 7
ADDR_MASK = 0x000FFFFFFFFFF000


def translate(memory, sregs, gva):
    """GVA -> GPA (the shared bit kept as in the PTE), or None."""
    if not sregs.cr0 & CR0_PG:
        return gva
    if not sregs.efer & EFER_LMA or sregs.cr4 & CR4_LA57:
        return None                     # 32-bit paging and 5-level paging: not used by TD guests here
    table = sregs.cr3 & ADDR_MASK
    for level in (3, 2, 1, 0):
        index = gva >> (12 + 9 * level) & 0x1FF
        raw = memory.guest_bytes(table + index * 8, 8)
        if raw is None:
            return None
        entry = int.from_bytes(raw, "little")
        if not entry & PTE_P:
            return None
        if level in (1, 2) and entry & PTE_PS:
            size = 1 << (12 + 9 * level)
            return (entry & ADDR_MASK & ~(size - 1)) | (gva & (size - 1))
        table = entry & ADDR_MASK
    return table | (gva & (PAGE_SIZE - 1))


def fetch(memory, sregs, rip, length):
    """`length` bytes at `rip` (a page crossing is two walks); None if unmapped."""
    out = b""
    while len(out) < length:
        gva = rip + len(out)
        gpa = translate(memory, sregs, gva)
        if gpa is None:
            return None
        chunk = min(length - len(out), PAGE_SIZE - (gva & (PAGE_SIZE - 1)))
        data = memory.guest_bytes(gpa, chunk)
        if data is None:
            return None
        out += data
    return out
