# SPDX-License-Identifier: GPL-2.0-only
"""Decode guest reports ("ucalls") from the shared ucall page.

The guest runtime (guest/ucall.c) fills its vCPU's 512-byte slot and writes
the command to UCALL_PORT; the host reads the slot from shared memory (never
guest registers: a TD's are protected) and decodes it here.  ASSERT and
EXCEPTION reports become GuestAssertionError / GuestExceptionError.  A slot
that does not make sense (unknown command, unterminated string, absurd
values) raises GuestProtocolError: the guest's memory is not trusted.
"""

import os
import re
import struct

# guest/include/ucall.h
UCALL_PORT = 0xE0
UCALL_NONE = 0
UCALL_SYNC = 1
UCALL_DONE = 2
UCALL_ASSERT = 3
UCALL_EXCEPTION = 4
UCALL_PRINTF = 5

UCALL_DONE_RETURNED = 1
UCALL_ASSERT_BOOL = 0
UCALL_ASSERT_EQ = 1
UCALL_ASSERT_NE = 2

UCALL_MAX_ARGS = 6
UCALL_FILE_LEN = 64
UCALL_EXPR_LEN = 384
UCALL_SLOT_SIZE = 512
UCALL_OFF_CMD = 0
UCALL_OFF_ARGS = 8
UCALL_OFF_LINE = 56
UCALL_OFF_VCPU = 60
UCALL_OFF_FILE = 64
UCALL_OFF_EXPR = 128

CMD_NAMES = {UCALL_SYNC: "SYNC", UCALL_DONE: "DONE", UCALL_ASSERT: "ASSERT",
             UCALL_EXCEPTION: "EXCEPTION", UCALL_PRINTF: "PRINTF"}

_HEADER = struct.Struct("<Q6QII")

VECTOR_NAMES = {
    0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM", 8: "#DF",
    9: "coprocessor segment overrun", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF",
    16: "#MF", 17: "#AC", 18: "#MC", 19: "#XM", 20: "#VE", 21: "#CP", 28: "#HV", 29: "#VC", 30: "#SX",
}
HAS_ERROR_CODE = frozenset((8, 10, 11, 12, 13, 14, 17, 21, 29, 30))


class GuestProtocolError(Exception):
    """The guest's report cannot be decoded."""

    guest_error = True      # reported in one line, with the test's line (tdx.lib.ktap)


class GuestAssertionError(AssertionError):
    """GUEST_ASSERT*() failed in the guest: "file.c:42: GUEST_ASSERT_EQ(a, b) failed: 0x1 != 0x2"."""

    def __init__(self, ucall):
        self.ucall = ucall
        self.file = ucall.file
        self.line = ucall.line
        self.expr = ucall.expr
        self.values = tuple(ucall.args[:2])
        kind = ucall.args[2]
        text = "%s:%d: %s failed" % (ucall.file or "?", ucall.line, ucall.expr or "GUEST_ASSERT")
        if kind == UCALL_ASSERT_EQ:
            text += ": 0x%x != 0x%x" % self.values
        elif kind == UCALL_ASSERT_NE:
            text += ": both are 0x%x" % self.values[0]
        super().__init__(text)


def vector_name(vector):
    if vector in VECTOR_NAMES:
        return VECTOR_NAMES[vector]
    return "vector %d" % vector if vector < 32 else "interrupt %d" % vector


class GuestExceptionError(Exception):
    """An exception in the guest with no handler: .vector, .vector_name, .rip, .error_code, .cr2."""

    def __init__(self, ucall, symbolize=None):
        self.ucall = ucall
        self.vector, self.error_code, self.rip, self.cr2, self.cs = ucall.args[:5]
        self.vector_name = vector_name(self.vector)
        where = "0x%x" % self.rip
        if symbolize is not None:
            sym = symbolize(self.rip)
            if sym and not sym.startswith("0x"):
                where += " (%s)" % sym
        text = "guest exception %s (vector %d) at rip %s" % (self.vector_name, self.vector, where)
        if self.vector in HAS_ERROR_CODE:
            text += ", error code 0x%x" % self.error_code
        if self.vector == 14:
            text += ", cr2 0x%x" % self.cr2
        super().__init__(text)


class Ucall:
    """One decoded report."""

    __slots__ = ("cmd", "args", "line", "vcpu", "file", "expr")

    def __init__(self, cmd, args, line, vcpu, file, expr):
        self.cmd = cmd
        self.args = args
        self.line = line
        self.vcpu = vcpu
        self.file = file
        self.expr = expr

    @property
    def name(self):
        return CMD_NAMES.get(self.cmd, str(self.cmd))

    @property
    def value(self):
        """SYNC: n; DONE: the value; PRINTF: the text."""
        return self.expr if self.cmd == UCALL_PRINTF else self.args[0]

    @property
    def returned(self):
        """DONE because the entry function returned (rather than GUEST_DONE())."""
        return self.cmd == UCALL_DONE and bool(self.args[1] & UCALL_DONE_RETURNED)

    @property
    def where(self):
        return "%s:%d" % (self.file, self.line) if self.file else ""

    def __repr__(self):
        return "Ucall(%s, args=%s, %s%s)" % (self.name, [hex(a) for a in self.args], self.where,
                                            ", %r" % self.expr if self.expr else "")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def printable(data):
    """Text for any bytes: invalid UTF-8 and control characters (all but tab and
    line feed) become visible `\\xNN` escapes.  A guest may print anything; what
    it printed must never fail a case, nor reach a stream unescaped."""
    text = data.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()), text)


def _string(raw, what, lenient=False):
    end = raw.find(b"\0")
    if end < 0:
        raise GuestProtocolError("ucall %s is not NUL-terminated within %d bytes" % (what, len(raw)))
    if lenient:
        return printable(raw[:end])
    try:
        text = raw[:end].decode("utf-8")
    except UnicodeDecodeError as e:
        raise GuestProtocolError("ucall %s is not UTF-8 text (byte 0x%02x at %d)"
                                 % (what, raw[e.start], e.start)) from None
    if any(ord(c) < 0x20 and c not in "\t\n" for c in text):
        raise GuestProtocolError("ucall %s contains control characters: %r" % (what, text[:64]))
    return text


def decode(slot, cmd=None, vcpu=None):
    """Decode one struct ucall (bytes of at least UCALL_SLOT_SIZE).

    cmd: the value the guest wrote to UCALL_PORT, which must match the
    slot's.  vcpu: the index of the vCPU that exited, checked likewise.
    """
    slot = bytes(slot)
    if len(slot) < UCALL_SLOT_SIZE:
        raise GuestProtocolError("ucall slot is %d bytes, expected %d" % (len(slot), UCALL_SLOT_SIZE))
    fields = _HEADER.unpack_from(slot, 0)
    slot_cmd, args, line, slot_vcpu = fields[0], list(fields[1:7]), fields[7], fields[8]
    if cmd is not None and cmd not in CMD_NAMES:
        # The port write is what the guest said; an empty slot is its consequence.
        raise GuestProtocolError("unknown ucall command 0x%x written to the ucall port" % cmd)
    if slot_cmd not in CMD_NAMES:
        raise GuestProtocolError("unknown ucall command 0x%x" % slot_cmd)
    if cmd is not None and cmd != slot_cmd:
        raise GuestProtocolError("ucall command mismatch: port write 0x%x, slot 0x%x" % (cmd, slot_cmd))
    if vcpu is not None and vcpu != slot_vcpu:
        raise GuestProtocolError("ucall from vCPU %d found in the slot of vCPU %d" % (slot_vcpu, vcpu))
    if line > 1000000:
        raise GuestProtocolError("ucall line number %d is absurd" % line)
    file = os.path.basename(_string(slot[UCALL_OFF_FILE:UCALL_OFF_FILE + UCALL_FILE_LEN], "file name"))
    # GUEST_PRINTF text is whatever the guest formatted: escaped, never refused.
    expr = _string(slot[UCALL_OFF_EXPR:UCALL_OFF_EXPR + UCALL_EXPR_LEN], "text", lenient=slot_cmd == UCALL_PRINTF)
    if slot_cmd == UCALL_ASSERT and args[2] not in (UCALL_ASSERT_BOOL, UCALL_ASSERT_EQ, UCALL_ASSERT_NE):
        raise GuestProtocolError("ucall ASSERT with unknown kind %d" % args[2])
    if slot_cmd == UCALL_EXCEPTION and args[0] > 255:
        raise GuestProtocolError("ucall EXCEPTION with vector %d" % args[0])
    if slot_cmd == UCALL_PRINTF and args[0] > 1 << 20:
        raise GuestProtocolError("ucall PRINTF with length %d" % args[0])
    return Ucall(slot_cmd, args, line, slot_vcpu, file, expr)


def check(ucall, symbolize=None):
    """Raise the host exception for an ASSERT or EXCEPTION report; return the ucall otherwise.

    symbolize: optional callable(address) -> "symbol+0xoff" (GuestImage.addr2sym).
    """
    if ucall.cmd == UCALL_ASSERT:
        raise GuestAssertionError(ucall)
    if ucall.cmd == UCALL_EXCEPTION:
        raise GuestExceptionError(ucall, symbolize)
    return ucall


def slot_offset(vcpu_index):
    """Offset of a vCPU's slot from the start of the ucall page(s)."""
    return vcpu_index * UCALL_SLOT_SIZE
