# SPDX-License-Identifier: GPL-2.0-only
"""Fetch guest instruction bytes from the TD's memory, as the CPU would.

The model recognises TDCALL by its bytes.  Hosts since Linux 5.16 put the
instruction bytes into an emulation-failure exit; older hosts (and the
baseline host path, emu/host.py) do not, so the model reads them itself:
it translates RIP through the guest's page tables (tdx.lib.paging.walk:
4-level long mode, 4K/2M/1G pages) in the TD's memory model.  No host
feature is needed.
"""

from tdx.lib import paging

CR0_PG = 1 << 31
CR4_LA57 = 1 << 12
EFER_LMA = 1 << 10


def translate(memory, sregs, gva):
    """GVA -> GPA as the guest accesses it (shared bit set for a shared
    mapping), or None where the walk fails."""
    if not sregs.cr0 & CR0_PG:
        return gva
    if not sregs.efer & EFER_LMA or sregs.cr4 & CR4_LA57:
        return None                     # 32-bit and 5-level paging: no TD guest here runs TDCALL there
    try:
        tr = paging.walk(memory.guest_bytes, sregs.cr3, gva, memory.shared_bit)
    except paging.WalkError:
        return None
    return tr.gpa | (memory.shared_bit if tr.shared else 0)


def fetch(memory, sregs, rip, length):
    """`length` bytes at `rip` (a page crossing is two walks); None if unmapped."""
    out = b""
    while len(out) < length:
        gva = rip + len(out)
        gpa = translate(memory, sregs, gva)
        if gpa is None:
            return None
        chunk = min(length - len(out), paging.PAGE_SIZE - (gva & (paging.PAGE_SIZE - 1)))
        data = memory.guest_bytes(gpa, chunk)
        if data is None:
            return None
        out += data
    return out
