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
import itertools

SHA384_BLOCK = 128
TDX_EXTENDMR_CHUNKSIZE = 256
PAGE_SIZE = 4096


_HEADER_PAD = bytes(SHA384_BLOCK - 24)
_PAGE_ADD = b"MEM.PAGE.ADD".ljust(16, b"\0")
_MR_EXTEND = b"MR.EXTEND".ljust(16, b"\0")


def _header(name, gpa):
    return name.ljust(16, b"\0") + gpa.to_bytes(8, "little") + bytes(SHA384_BLOCK - 24)


# Every TD of a test module is built from the same few images, so the same
# page follows the same pages again and again: the SHA-384 state after each
# (earlier state, page) is kept and reused, and only pages where a TD's build
# departs from an earlier one are hashed.  SHA-384 of the pages was about as
# long as the rest of a TD's build (make bench).  The MRTD is the same: it is
# the same stream.  Keys hold the page itself (bytes compare exactly).
_CHAIN = {}                 # (state key, gpa, measured page or None) -> (state key, sha384 after)
_CHAIN_MAX = 2048           # ~8 MiB of pages; past it the cache starts again
_START = 0                  # the key of a fresh context (TDH.MNG.INIT)
_NEXT_KEY = itertools.count(1)


class Measurement:
    def __init__(self):
        self._ctx = None                        # private context, once the chain is left
        self._key = _START                      # or the cached state this TD has reached
        self._cached = hashlib.sha384()
        self.mrtd = None                        # 48 bytes once finalised

    def _own(self):
        """The context to extend in place (leaves the shared chain)."""
        if self._ctx is None:
            self._ctx = self._cached.copy()
            self._key = None
        return self._ctx

    def page_add(self, gpa):
        self._own().update(_header(b"MEM.PAGE.ADD", gpa))

    def mr_extend(self, gpa, chunk):
        if len(chunk) != TDX_EXTENDMR_CHUNKSIZE:
            raise ValueError("TDH.MR.EXTEND measures 256 bytes")
        ctx = self._own()
        ctx.update(_header(b"MR.EXTEND", gpa))
        ctx.update(chunk)

    def add_page(self, gpa, data, measure):
        """One page of KVM_TDX_INIT_MEM_REGION: TDH.MEM.PAGE.ADD, then with
        `measure` one TDH.MR.EXTEND per 256-byte chunk.  SHA-384 is a stream,
        so the 33 blocks go into one update: the same MRTD as an update per
        block, without 33 Python calls per page."""
        if measure:
            data = bytes(data)
            if len(data) != PAGE_SIZE:
                raise ValueError("KVM_TDX_INIT_MEM_REGION measures whole pages")
        page = data if measure else None
        if self._key is not None:
            link = (self._key, gpa, page)
            hit = _CHAIN.get(link)
            if hit is None:
                ctx = self._cached.copy()
                ctx.update(_blocks(gpa, page))
                if len(_CHAIN) >= _CHAIN_MAX:
                    _CHAIN.clear()
                hit = _CHAIN[link] = (next(_NEXT_KEY), ctx)
            self._key, self._cached = hit
            return
        self._ctx.update(_blocks(gpa, page))

    def finalize(self):
        self.mrtd = (self._ctx or self._cached).digest()
        return self.mrtd


def _blocks(gpa, page):
    """PAGE.ADD's block, then MR.EXTEND's two per 256 bytes of `page` (None: not measured)."""
    parts = [_PAGE_ADD, gpa.to_bytes(8, "little"), _HEADER_PAD]
    if page is not None:
        for off in range(0, PAGE_SIZE, TDX_EXTENDMR_CHUNKSIZE):
            parts += (_MR_EXTEND, (gpa + off).to_bytes(8, "little"), _HEADER_PAD,
                      page[off:off + TDX_EXTENDMR_CHUNKSIZE])
    return b"".join(parts)
