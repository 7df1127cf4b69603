# SPDX-License-Identifier: GPL-2.0-only
"""MRTD, the TD's build-time measurement, as the TDX module computes it.

One incremental SHA-384 per TD (TDCS td_sha_ctx), started at TDH.MNG.INIT,
finalised by TDH.MR.FINALIZE (docs/kvm-tdx-uapi.md §2.5, §2.6):
- TDH.MEM.PAGE.ADD extends one 128-byte block: the ASCII name "MEM.PAGE.ADD"
  zero-padded to 16 bytes, the page GPA (8 bytes, little endian), 104 zero bytes
  (tdx-module src/vmm_dispatcher/api_calls/tdh_mem_page_add.c);
- TDH.MR.EXTEND extends the same header with "MR.EXTEND" and the GPA of a
  256-byte chunk, then the chunk itself (two blocks) (tdh_mr_extend.c).
KVM_TDX_INIT_MEM_REGION with KVM_TDX_MEASURE_MEMORY_REGION does one
TDH.MR.EXTEND per 256 bytes of each added page (TDX_EXTENDMR_CHUNKSIZE).
"""

import hashlib

SHA384_BLOCK = 128
TDX_EXTENDMR_CHUNKSIZE = 256
PAGE_SIZE = 4096


_HEADER_PAD = bytes(SHA384_BLOCK - 24)
_PAGE_ADD = b"MEM.PAGE.ADD".ljust(16, b"\0")
_MR_EXTEND = b"MR.EXTEND".ljust(16, b"\0")


def _header(name, gpa):
    return name.ljust(16, b"\0") + gpa.to_bytes(8, "little") + bytes(SHA384_BLOCK - 24)


class Measurement:
    def __init__(self):
        self._ctx = hashlib.sha384()
        self.mrtd = None                        # 48 bytes once finalised

    def page_add(self, gpa):
        self._ctx.update(_header(b"MEM.PAGE.ADD", gpa))

    def mr_extend(self, gpa, chunk):
        if len(chunk) != TDX_EXTENDMR_CHUNKSIZE:
            raise ValueError("TDH.MR.EXTEND measures 256 bytes")
        self._ctx.update(_header(b"MR.EXTEND", gpa))
        self._ctx.update(chunk)

    def add_page(self, gpa, data, measure):
        """One page of KVM_TDX_INIT_MEM_REGION: TDH.MEM.PAGE.ADD, then with
        `measure` one TDH.MR.EXTEND per 256-byte chunk.  SHA-384 is a stream,
        so the 33 blocks go into one update: the same MRTD as an update per
        block, without 33 Python calls per page."""
        parts = [_PAGE_ADD, gpa.to_bytes(8, "little"), _HEADER_PAD]
        if measure:
            data = bytes(data)
            if len(data) != PAGE_SIZE:
                raise ValueError("KVM_TDX_INIT_MEM_REGION measures whole pages")
            for off in range(0, PAGE_SIZE, TDX_EXTENDMR_CHUNKSIZE):
                parts += (_MR_EXTEND, (gpa + off).to_bytes(8, "little"), _HEADER_PAD,
                          data[off:off + TDX_EXTENDMR_CHUNKSIZE])
        self._ctx.update(b"".join(parts))

    def finalize(self):
        self.mrtd = self._ctx.digest()
        return self.mrtd
