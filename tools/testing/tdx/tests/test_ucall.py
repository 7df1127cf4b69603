# SPDX-License-Identifier: GPL-2.0-only
"""tdx.lib.ucall: decoding guest reports, and refusing garbage cleanly."""

import random
import struct
import unittest

from tdx.lib import ucall
from tdx.lib.ucall import (GuestAssertionError, GuestExceptionError, GuestProtocolError, UCALL_ASSERT,
                           UCALL_DONE, UCALL_EXCEPTION, UCALL_PRINTF, UCALL_SYNC, decode)


def slot(cmd, args=(), line=0, vcpu=0, file=b"", expr=b""):
    raw = bytearray(ucall.UCALL_SLOT_SIZE)
    struct.pack_into("<Q", raw, ucall.UCALL_OFF_CMD, cmd)
    struct.pack_into("<6Q", raw, ucall.UCALL_OFF_ARGS, *(list(args) + [0] * (6 - len(args))))
    struct.pack_into("<II", raw, ucall.UCALL_OFF_LINE, line, vcpu)
    raw[ucall.UCALL_OFF_FILE:ucall.UCALL_OFF_FILE + len(file)] = file
    raw[ucall.UCALL_OFF_EXPR:ucall.UCALL_OFF_EXPR + len(expr)] = expr
    return bytes(raw)


class DecodeTest(unittest.TestCase):
    def test_sync(self):
        u = decode(slot(UCALL_SYNC, [7], 39, 1, b"guest_basic.c"), cmd=UCALL_SYNC, vcpu=1)
        self.assertEqual((u.cmd, u.name, u.value, u.line, u.file, u.vcpu), (UCALL_SYNC, "SYNC", 7, 39,
                                                                            "guest_basic.c", 1))
        self.assertEqual(u.where, "guest_basic.c:39")
        self.assertIs(ucall.check(u), u)

    def test_done(self):
        u = decode(slot(UCALL_DONE, [0x100b, ucall.UCALL_DONE_RETURNED]))
        self.assertTrue(u.returned)
        self.assertEqual(u.value, 0x100b)
        self.assertFalse(decode(slot(UCALL_DONE, [0, 0], 12, 0, b"x.c")).returned)

    def test_printf(self):
        u = decode(slot(UCALL_PRINTF, [5], 3, 0, b"x.c", b"hello"))
        self.assertEqual(u.value, "hello")

    def test_file_is_basename(self):
        self.assertEqual(decode(slot(UCALL_SYNC, file=b"/src/x86_64/ghci_io.c")).file, "ghci_io.c")

    def test_assert_eq_message(self):
        u = decode(slot(UCALL_ASSERT, [1, 2, ucall.UCALL_ASSERT_EQ], 42, 0, b"guest_basic.c",
                        b"GUEST_ASSERT_EQ(a, b)"))
        with self.assertRaises(GuestAssertionError) as cm:
            ucall.check(u)
        self.assertEqual(str(cm.exception), "guest_basic.c:42: GUEST_ASSERT_EQ(a, b) failed: 0x1 != 0x2")
        self.assertEqual((cm.exception.file, cm.exception.line, cm.exception.values), ("guest_basic.c", 42, (1, 2)))
        self.assertIsInstance(cm.exception, AssertionError)        # a test failure, not an error

    def test_assert_bool_and_ne(self):
        u = decode(slot(UCALL_ASSERT, [0, 0, ucall.UCALL_ASSERT_BOOL], 7, 0, b"a.c", b"GUEST_ASSERT(x)"))
        self.assertEqual(str(GuestAssertionError(u)), "a.c:7: GUEST_ASSERT(x) failed")
        u = decode(slot(UCALL_ASSERT, [5, 5, ucall.UCALL_ASSERT_NE], 8, 0, b"a.c", b"GUEST_ASSERT_NE(x, y)"))
        self.assertEqual(str(GuestAssertionError(u)), "a.c:8: GUEST_ASSERT_NE(x, y) failed: both are 0x5")

    def test_exception(self):
        u = decode(slot(UCALL_EXCEPTION, [14, 2, 0x1001cd, 0x80001000, 8]))
        with self.assertRaises(GuestExceptionError) as cm:
            ucall.check(u, symbolize=lambda a: "guest_pf_write+0xd")
        e = cm.exception
        self.assertEqual((e.vector, e.vector_name, e.rip, e.error_code, e.cr2), (14, "#PF", 0x1001cd, 2, 0x80001000))
        self.assertEqual(str(e), "guest exception #PF (vector 14) at rip 0x1001cd (guest_pf_write+0xd), "
                                 "error code 0x2, cr2 0x80001000")

    def test_exception_without_error_code(self):
        e = GuestExceptionError(decode(slot(UCALL_EXCEPTION, [6, 0, 0x1001a4, 0, 8])))
        self.assertEqual(str(e), "guest exception #UD (vector 6) at rip 0x1001a4")
        self.assertEqual(GuestExceptionError(decode(slot(UCALL_EXCEPTION, [20]))).vector_name, "#VE")
        self.assertEqual(GuestExceptionError(decode(slot(UCALL_EXCEPTION, [40]))).vector_name, "interrupt 40")


class GarbageTest(unittest.TestCase):
    def assertProtocolError(self, raw, pattern, **kw):
        with self.assertRaisesRegex(GuestProtocolError, pattern):
            decode(raw, **kw)

    def test_short(self):
        self.assertProtocolError(b"\x01" * 100, "100 bytes")

    def test_unknown_command(self):
        self.assertProtocolError(slot(0), "unknown ucall command 0x0")
        self.assertProtocolError(slot(0xdeadbeef), "unknown ucall command 0xdeadbeef")

    def test_command_and_vcpu_mismatch(self):
        self.assertProtocolError(slot(UCALL_SYNC), "mismatch", cmd=UCALL_DONE)
        self.assertProtocolError(slot(UCALL_SYNC, vcpu=3), "vCPU 3.*vCPU 1", vcpu=1)

    def test_unterminated_strings(self):
        self.assertProtocolError(slot(UCALL_SYNC, file=b"a" * ucall.UCALL_FILE_LEN), "file name.*NUL")
        self.assertProtocolError(slot(UCALL_SYNC, expr=b"b" * ucall.UCALL_EXPR_LEN), "text.*NUL")

    def test_bad_text(self):
        self.assertProtocolError(slot(UCALL_SYNC, file=b"\xff\xfe.c"), "not UTF-8")
        self.assertProtocolError(slot(UCALL_SYNC, expr=b"a\x1b[2Jb"), "control characters")

    def test_printf_text_is_escaped_not_refused(self):
        # What a guest prints is never an error; bytes that are not text arrive as escapes.
        u = decode(slot(UCALL_PRINTF, [9], expr=b"a\x1b[2Jb\xff\tc\nd\r\x7f"))
        self.assertEqual(u.expr, "a\\x1b[2Jb\\xff\tc\nd\\x0d\\x7f")
        self.assertProtocolError(slot(UCALL_SYNC, file=b"\xff.c", expr=b"ok"), "not UTF-8")

    def test_absurd_values(self):
        self.assertProtocolError(slot(UCALL_SYNC, line=0xFFFFFFFF), "line number")
        self.assertProtocolError(slot(UCALL_ASSERT, [1, 2, 99]), "unknown kind")
        self.assertProtocolError(slot(UCALL_EXCEPTION, [1 << 40]), "vector")
        self.assertProtocolError(slot(UCALL_PRINTF, [1 << 40]), "length")

    def test_random_bytes(self):
        rng = random.Random(1234)
        for _ in range(2000):
            raw = bytearray(rng.getrandbits(8) for _ in range(ucall.UCALL_SLOT_SIZE))
            # A plausible command makes the decoder look further in.
            struct.pack_into("<Q", raw, 0, rng.choice((1, 2, 3, 4, 5, rng.getrandbits(64))))
            try:
                u = decode(raw)
            except GuestProtocolError:
                continue
            try:
                ucall.check(u)
            except (GuestAssertionError, GuestExceptionError):
                pass


if __name__ == "__main__":
    unittest.main()
