# SPDX-License-Identifier: GPL-2.0-only
"""Guest images: the ELF files built from x86_64/*.c and tests/*.c.

GuestImage.load(path) reads a static x86-64 ELF (docs/host-kvm.md
§8) with pyelftools: its PT_LOAD segments and its symbols, which is how the
host calls a guest function by name.  A file that is missing, truncated,
not ELF, 32-bit or for another machine raises GuestImageError("<path>:
<reason>").  Parsed images are cached per path (and file identity), so
many VMs of the same test share one parse.
"""

import bisect
import io
import os
import struct

PT_LOAD = 1
PF_X, PF_W, PF_R = 1, 2, 4
EM_X86_64 = 62
ET_EXEC = 2
ELF_MAGIC = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELF64_EHDR_SIZE = 64

_MACHINES = {3: "i386", 40: "ARM", 62: "x86-64", 183: "AArch64", 243: "RISC-V", 8: "MIPS",
             20: "PowerPC", 21: "PowerPC64", 22: "S/390"}


class GuestImageError(Exception):
    """A guest image cannot be used; the message names the file."""

    environment_error = True    # reported in one line (tdx.lib.ktap)


class Segment:
    """One PT_LOAD: `data` holds p_filesz bytes; the rest up to memsz is zero."""

    __slots__ = ("vaddr", "data", "memsz", "flags")

    def __init__(self, vaddr, data, memsz, flags):
        self.vaddr = vaddr
        self.data = data
        self.memsz = memsz
        self.flags = flags

    @property
    def end(self):
        return self.vaddr + self.memsz

    @property
    def writable(self):
        return bool(self.flags & PF_W)

    @property
    def executable(self):
        return bool(self.flags & PF_X)

    def __repr__(self):
        flags = "".join(c if self.flags & f else "-" for c, f in (("R", PF_R), ("W", PF_W), ("X", PF_X)))
        return "Segment(0x%x, filesz=0x%x, memsz=0x%x, %s)" % (self.vaddr, len(self.data), self.memsz, flags)


class GuestImage:
    """A loaded guest ELF: .path, .entry, .segments, .symbols {name: address}."""

    _cache = {}

    def __init__(self, path, entry, segments, symbols):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.entry = entry
        self.segments = segments
        self.symbols = symbols
        self._sorted = None

    @classmethod
    def load(cls, path):
        """Parse `path` (cached while the file is unchanged)."""
        path = os.path.abspath(os.fspath(path))
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise GuestImageError("%s: no such file" % path) from None
        except OSError as e:
            raise GuestImageError("%s: %s" % (path, e.strerror)) from None
        key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        image = cls._cache.get(path)
        if image is not None and image._key == key:
            return image
        try:
            with open(path, "rb") as f:
                blob = f.read()
        except OSError as e:
            raise GuestImageError("%s: %s" % (path, e.strerror)) from None
        image = _parse(path, blob)
        image._key = key
        cls._cache[path] = image
        return image

    @classmethod
    def find(cls, name, subdir="x86_64"):
        """load(find_image(name, subdir))."""
        return cls.load(find_image(name, subdir))

    def symbol(self, name):
        """Address of the symbol `name`; GuestImageError names it and the file when missing."""
        try:
            return self.symbols[name]
        except KeyError:
            raise GuestImageError("%s: no symbol %r in the guest image" % (self.path, name)) from None

    def has_symbol(self, name):
        return name in self.symbols

    def addr2sym(self, addr):
        """'name+0xoff' for the function or object containing addr, else hex."""
        if self._sorted is None:
            self._sorted = sorted((a, n) for n, a in self.symbols.items())
        i = bisect.bisect_right(self._sorted, (addr, "\U0010ffff")) - 1
        if i < 0 or not any(s.vaddr <= addr < s.end for s in self.segments):
            return "0x%x" % addr
        base, name = self._sorted[i]
        return name if addr == base else "%s+0x%x" % (name, addr - base)

    def __repr__(self):
        return "GuestImage(%r, %d segments, %d symbols)" % (self.path, len(self.segments), len(self.symbols))


def _check_header(path, blob):
    """Reject what pyelftools would misparse or accept silently, with one-line reasons."""
    if len(blob) < 4 or blob[:4] != ELF_MAGIC:
        raise GuestImageError("%s: not an ELF file" % path)
    if len(blob) < ELF64_EHDR_SIZE:
        raise GuestImageError("%s: truncated ELF header (%d bytes)" % (path, len(blob)))
    if blob[4] != ELFCLASS64:
        raise GuestImageError("%s: %s ELF; guest images are 64-bit x86-64"
                              % (path, "32-bit" if blob[4] == 1 else "unknown class %d" % blob[4]))
    if blob[5] != ELFDATA2LSB:
        raise GuestImageError("%s: big-endian ELF; guest images are x86-64" % path)
    e_type, e_machine = struct.unpack_from("<HH", blob, 16)
    if e_machine != EM_X86_64:
        raise GuestImageError("%s: ELF for %s (machine %d), not x86-64"
                              % (path, _MACHINES.get(e_machine, "another machine"), e_machine))
    if e_type != ET_EXEC:
        raise GuestImageError("%s: not a static executable (ELF type %d); link with guest/guest.ld"
                              % (path, e_type))
    e_phoff, e_shoff = struct.unpack_from("<QQ", blob, 32)
    e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", blob, 54)
    if e_phoff + e_phnum * e_phentsize > len(blob) or e_shoff + e_shnum * e_shentsize > len(blob):
        raise GuestImageError("%s: truncated (headers extend past the end of the %d-byte file)"
                              % (path, len(blob)))


def _parse(path, blob):
    _check_header(path, blob)
    # pyelftools costs ~30 ms to import: only pay for it when an image is loaded.
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(blob))
        segments = []
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD":
                continue
            offset, filesz, memsz = seg["p_offset"], seg["p_filesz"], seg["p_memsz"]
            if offset + filesz > len(blob):
                raise GuestImageError("%s: truncated (segment at 0x%x extends past the end of the file)"
                                      % (path, seg["p_vaddr"]))
            if filesz > memsz:
                raise GuestImageError("%s: corrupt segment at 0x%x (filesz > memsz)" % (path, seg["p_vaddr"]))
            segments.append(Segment(seg["p_vaddr"], blob[offset:offset + filesz], memsz, seg["p_flags"]))
        symtab = elf.get_section_by_name(".symtab")
        if symtab is None:
            raise GuestImageError("%s: no symbol table (stripped?); guest functions are called by name" % path)
        symbols = {}
        for sym in symtab.iter_symbols():
            if sym.name and sym["st_shndx"] != "SHN_UNDEF" and sym["st_info"]["type"] in ("STT_FUNC",
                                                                                         "STT_OBJECT",
                                                                                         "STT_NOTYPE"):
                symbols.setdefault(sym.name, sym["st_value"])
        entry = elf.header["e_entry"]
    except GuestImageError:
        raise
    except (ELFError, struct.error, ValueError, IndexError, KeyError, UnicodeDecodeError) as e:
        raise GuestImageError("%s: corrupt ELF (%s)" % (path, e)) from None
    if not segments:
        raise GuestImageError("%s: no loadable segments" % path)
    segments.sort(key=lambda s: s.vaddr)
    return GuestImage(path, entry, segments, symbols)


def _package_dir():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_image(name, subdir="x86_64"):
    """Path of <name>.elf.

    Looked up in $TDX_GUEST_DIR/ (flat: an installed tree, see install.mk),
    then $TDX_OUTPUT/<subdir>/ (make O=...), then the package's own <subdir>/
    (an in-tree build) and guest-images/ (an installed package).
    """
    filename = name if name.endswith(".elf") else name + ".elf"
    candidates = []
    guest_dir = os.environ.get("TDX_GUEST_DIR")
    if guest_dir:
        candidates.append(os.path.join(os.path.abspath(guest_dir), filename))
    output = os.environ.get("TDX_OUTPUT")
    if output:
        candidates.append(os.path.join(os.path.abspath(output), subdir, filename))
    candidates.append(os.path.join(_package_dir(), subdir, filename))
    candidates.append(os.path.join(_package_dir(), "guest-images", filename))
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise GuestImageError("%s: guest image not built (looked in %s); run make"
                          % (filename, ", ".join(os.path.dirname(p) for p in candidates)))
