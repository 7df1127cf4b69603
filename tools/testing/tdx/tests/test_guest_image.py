# SPDX-License-Identifier: GPL-2.0-only
"""tdx.lib.guest: loading guest ELF images, symbols, and rejecting bad files."""

import os
import shutil
import struct
import tempfile
import unittest

from tdx.lib import boot, guest
from tdx.lib.guest import GuestImage, GuestImageError, find_image


def basic_image_path():
    try:
        return find_image("guest_basic", "tests")
    except GuestImageError as e:
        raise unittest.SkipTest(str(e))


class GuestImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = basic_image_path()
        cls.image = GuestImage.load(cls.path)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tdx-guest-image-")
        self.addCleanup(shutil.rmtree, self.tmp)

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def blob(self):
        with open(self.path, "rb") as f:
            return bytearray(f.read())

    def assertRejected(self, path, reason):
        with self.assertRaises(GuestImageError) as cm:
            GuestImage.load(path)
        msg = str(cm.exception)
        self.assertTrue(msg.startswith(os.path.abspath(path) + ": "), msg)
        self.assertRegex(msg, reason)
        self.assertNotIn("\n", msg)

    # -- a good image ------------------------------------------------------

    def test_segments(self):
        segs = self.image.segments
        self.assertEqual([s.vaddr for s in segs], sorted(s.vaddr for s in segs))
        text = segs[0]
        self.assertEqual(text.vaddr, 0x100000)
        self.assertTrue(text.executable and not text.writable)
        data = [s for s in segs if s.writable]
        self.assertEqual(len(data), 1)
        self.assertGreater(data[0].memsz, len(data[0].data))      # .bss
        resetvec = segs[-1]
        self.assertEqual((resetvec.vaddr, resetvec.memsz), (0xFFFFF000, 0x1000))
        self.assertEqual(self.image.entry, 0xFFFFFFF0)
        # The reset vector is a jmp back into the stub.
        self.assertIn(resetvec.data[0xFF0], (0xEB, 0xE9))

    def test_symbols(self):
        addr = self.image.symbol("guest_return_value")
        self.assertTrue(0x100000 <= addr < 0x100000 + self.image.segments[0].memsz)
        self.assertTrue(self.image.has_symbol("idt_stubs"))
        self.assertEqual(self.image.symbol("td_boot_params"), boot.BOOT_PARAMS_GPA)
        self.assertEqual(self.image.addr2sym(addr), "guest_return_value")
        self.assertEqual(self.image.addr2sym(addr + 3), "guest_return_value+0x3")
        self.assertEqual(self.image.addr2sym(0x80000000), "0x80000000")

    def test_missing_symbol_names_symbol_and_file(self):
        with self.assertRaises(GuestImageError) as cm:
            self.image.symbol("no_such_function")
        self.assertIn("no_such_function", str(cm.exception))
        self.assertIn(self.path, str(cm.exception))

    def test_cached_until_changed(self):
        self.assertIs(GuestImage.load(self.path), self.image)
        copy = self.write("copy.elf", self.blob())
        first = GuestImage.load(copy)
        self.assertIs(GuestImage.load(copy), first)
        os.utime(copy, ns=(1, 1))
        self.assertIsNot(GuestImage.load(copy), first)

    def setenv(self, name, value):
        old = os.environ.get(name)
        os.environ[name] = value
        self.addCleanup(lambda: os.environ.pop(name) if old is None else os.environ.__setitem__(name, old))

    def test_find_image_search_order(self):
        os.makedirs(os.path.join(self.tmp, "out", "tests"))
        os.makedirs(os.path.join(self.tmp, "installed"))
        built = self.write("out/tests/guest_basic.elf", self.blob())
        installed = self.write("installed/guest_basic.elf", self.blob())
        self.setenv("TDX_OUTPUT", os.path.join(self.tmp, "out"))
        self.assertEqual(find_image("guest_basic", "tests"), built)
        self.setenv("TDX_GUEST_DIR", os.path.join(self.tmp, "installed"))
        self.assertEqual(find_image("guest_basic.elf", "tests"), installed)
        with self.assertRaisesRegex(GuestImageError, "nonexistent.elf.*run make"):
            find_image("nonexistent", "tests")

    # -- bad files ---------------------------------------------------------

    def test_missing(self):
        self.assertRejected(os.path.join(self.tmp, "absent.elf"), "no such file")

    def test_empty_and_not_elf(self):
        self.assertRejected(self.write("empty.elf", b""), "not an ELF file")
        self.assertRejected(self.write("text.elf", b"#!/bin/sh\necho hi\n"), "not an ELF file")

    def test_truncated(self):
        blob = self.blob()
        self.assertRejected(self.write("t40.elf", blob[:40]), "truncated ELF header")
        self.assertRejected(self.write("t200.elf", blob[:200]), "truncated")
        self.assertRejected(self.write("half.elf", blob[:len(blob) // 2]), "truncated")

    def test_segment_past_end(self):
        blob = self.blob()
        phoff = struct.unpack_from("<Q", blob, 32)[0]
        struct.pack_into("<Q", blob, phoff + 8, len(blob))        # p_offset of the first PT_LOAD
        self.assertRejected(self.write("seg.elf", blob), "truncated.*segment")

    def test_32bit(self):
        ident = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
        ehdr = ident + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0x8048000, 52, 0, 0, 52, 32, 0, 40, 0, 0)
        self.assertRejected(self.write("i386.elf", ehdr + bytes(64)), "32-bit")

    def test_wrong_machine(self):
        blob = self.blob()
        struct.pack_into("<H", blob, 18, 183)
        self.assertRejected(self.write("arm64.elf", blob), "AArch64.*not x86-64")
        struct.pack_into("<H", blob, 18, 0x1234)
        self.assertRejected(self.write("odd.elf", blob), "machine 4660")

    def test_big_endian(self):
        blob = self.blob()
        blob[5] = 2
        self.assertRejected(self.write("be.elf", blob), "big-endian")

    def test_not_executable(self):
        blob = self.blob()
        struct.pack_into("<H", blob, 16, 3)                       # ET_DYN
        self.assertRejected(self.write("dyn.elf", blob), "not a static executable")

    def test_no_symbols(self):
        blob = self.blob()
        struct.pack_into("<HH", blob, 60, 0, 0)                   # e_shnum, e_shstrndx
        self.assertRejected(self.write("stripped.elf", blob), "no symbol table")

    def test_garbage_after_header(self):
        blob = self.blob()
        phoff = struct.unpack_from("<Q", blob, 32)[0]
        blob[phoff:phoff + 56 * 4] = b"\xff" * (56 * 4)
        with self.assertRaises(GuestImageError):
            GuestImage.load(self.write("garbage.elf", blob))

    def test_lazy_elftools_import(self):
        # Loading tdx.lib.guest must not pay for pyelftools (~30 ms).
        self.assertFalse(hasattr(guest, "ELFFile"))


if __name__ == "__main__":
    unittest.main()
