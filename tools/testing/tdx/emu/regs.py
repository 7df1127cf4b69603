# SPDX-License-Identifier: GPL-2.0-only
"""A vCPU's general-purpose register file in x86 encoding order.

The TDX module and KVM-TDX address GPRs by their x86 index (RAX=0, RCX=1, RDX=2,
RBX=3, RSP=4, RBP=5, RSI=6, RDI=7, R8..R15=8..15): the TDG.VP.VMCALL exposure mask
in RCX is a bitmap over that order (docs/kvm-tdx-uapi.md §4.1) and ReportFatalError
dumps the GPRs in that order (§4.8).  struct kvm_regs uses a different order
(rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, ...), so conversions go by name.
"""

GPR_NAMES = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
GPR_INDEX = {name: i for i, name in enumerate(GPR_NAMES)}

MASK64 = (1 << 64) - 1


class Regs:
    """16 GPRs, RIP and RFLAGS; values are kept as unsigned 64-bit integers."""

    __slots__ = ("gprs", "rip", "rflags")

    def __init__(self, gprs=None, rip=0, rflags=0x2):
        self.gprs = [0] * 16 if gprs is None else [v & MASK64 for v in gprs]
        if len(self.gprs) != 16:
            raise ValueError("Regs needs 16 GPRs, got %d" % len(self.gprs))
        self.rip = rip & MASK64
        self.rflags = rflags & MASK64

    def gpr(self, index):
        return self.gprs[index]

    def set_gpr(self, index, value):
        self.gprs[index] = value & MASK64

    def copy(self):
        return Regs(self.gprs, self.rip, self.rflags)

    @classmethod
    def from_kvm_regs(cls, cdata):
        """From a cffi `struct kvm_regs *` (or struct)."""
        return cls([getattr(cdata, name) for name in GPR_NAMES], cdata.rip, cdata.rflags)

    def to_kvm_regs(self, cdata):
        """Into a cffi `struct kvm_regs *`; returns cdata."""
        for name, value in zip(GPR_NAMES, self.gprs):
            setattr(cdata, name, value)
        cdata.rip = self.rip
        cdata.rflags = self.rflags
        return cdata

    def __eq__(self, other):
        return (isinstance(other, Regs) and self.gprs == other.gprs and
                self.rip == other.rip and self.rflags == other.rflags)

    def __repr__(self):
        body = " ".join("%s=%#x" % (n, v) for n, v in zip(GPR_NAMES, self.gprs))
        return "Regs(%s rip=%#x rflags=%#x)" % (body, self.rip, self.rflags)


def _gpr_property(index):
    def get(self):
        return self.gprs[index]

    def set_(self, value):
        self.gprs[index] = value & MASK64

    return property(get, set_, doc="GPR %d (x86 encoding order)" % index)


for _i, _name in enumerate(GPR_NAMES):
    setattr(Regs, _name, _gpr_property(_i))
del _i, _name
