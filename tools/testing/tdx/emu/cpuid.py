# SPDX-License-Identifier: GPL-2.0-only
"""KVM's CPUID table lookups (arch/x86/kvm/cpuid.c), on a vCPU's KVM_SET_CPUID2 table.

Entries are (function, index, flags, eax, ebx, ecx, edx), the tuple form
tdx.lib.kvm uses.  KVM answers TDG.VP.VMCALL<Instruction.CPUID> from this table,
not from the TD's INIT_VM CPUID (docs/kvm-tdx-uapi.md §4.4, §7); MapGPA's legal-GPA
check and INIT_VCPU's x2APIC requirement read it too (§4.7, §2.4).
"""

from collections import namedtuple

from tdx.lib.abi import KVM_CPUID_FLAG_SIGNIFCANT_INDEX

CpuidEntry = namedtuple("CpuidEntry", "function index flags eax ebx ecx edx")

# kvm_find_cpuid_entry() without an index: "index not significant" (cpuid.h).
INDEX_NOT_SIGNIFICANT = None

X86_FEATURE_X2APIC = (1, "ecx", 21)             # CPUID.1:ECX[21]


def entries(table):
    return [e if isinstance(e, CpuidEntry) else CpuidEntry(*e) for e in table]


def find_entry2(table, function, index=INDEX_NOT_SIGNIFICANT):
    """cpuid_entry2_find(): the first entry for `function` whose index matches, or
    which does not have KVM_CPUID_FLAG_SIGNIFCANT_INDEX.  With no index ("not
    significant") the first entry for the function."""
    for e in table:
        if e[0] != function:
            continue
        if not e[2] & KVM_CPUID_FLAG_SIGNIFCANT_INDEX or index is None or e[1] == index:
            return CpuidEntry(*e)
    return None


def _vendor(entry):
    return (entry.ebx.to_bytes(4, "little") + entry.edx.to_bytes(4, "little") +
            entry.ecx.to_bytes(4, "little"))


def is_guest_vendor_amd_or_hygon(basic):
    # is_guest_vendor_amd() / is_guest_vendor_hygon() (arch/x86/kvm/cpuid.h)
    return _vendor(basic) in (b"AuthenticAMD", b"AMDisbetter!", b"HygonGenuine")


def get_out_of_range_entry(table, function, index):
    """get_out_of_range_cpuid_entry(): (entry, effective function) for a miss.

    Unless the guest vendor (leaf 0) is AMD/Hygon, a function above the maximum
    of its class (basic: leaf 0, hypervisor sub-class function & 0xffffff00,
    extended: 0x80000000, Centaur: 0xc0000000), or in a class with no base
    entry, is answered from the max basic leaf (leaf 0 EAX) with the original
    index (docs/kvm-tdx-uapi.md §7)."""
    basic = find_entry2(table, 0)
    if basic is None or is_guest_vendor_amd_or_hygon(basic):
        return None, function
    if 0x40000000 <= function <= 0x4FFFFFFF:
        cls = find_entry2(table, function & 0xFFFFFF00)
    elif function >= 0xC0000000:
        cls = find_entry2(table, 0xC0000000)
    else:
        cls = find_entry2(table, function & 0x80000000)
    if cls is not None and function <= cls.eax:
        return None, function
    return find_entry2(table, basic.eax, index), basic.eax


def kvm_cpuid(table, eax, ecx):
    """kvm_cpuid(..., exact_only=false) -> (eax, ebx, ecx, edx).

    Not modelled: the dynamic bits KVM recomputes at runtime (OSXSAVE, APIC,
    MWAIT in leaf 1; XSAVE sizes in leaf 0xD) and the TSX_CTRL/INVTSC/Xen
    leaf adjustments (emu/README)."""
    function, index = eax & 0xFFFFFFFF, ecx & 0xFFFFFFFF
    entry = find_entry2(table, function, index)
    if entry is None:
        entry, function = get_out_of_range_entry(table, function, index)
    if entry is not None:
        return entry.eax, entry.ebx, entry.ecx, entry.edx
    out_ecx = out_edx = 0
    if function in (0xB, 0x1F):
        # Undefined sub-leaves of the topology leaves pass CL through and report
        # the x2APIC ID from sub-leaf 1, when that exists.
        sub1 = find_entry2(table, function, 1)
        if sub1 is not None:
            out_ecx, out_edx = index & 0xFF, sub1.edx
    return 0, 0, out_ecx, out_edx


def maxphyaddr(table):
    """cpuid_query_maxphyaddr(): CPUID.0x80000008:EAX[7:0], or 36 when leaf
    0x80000008 is absent or beyond CPUID.0x80000000:EAX."""
    ext = find_entry2(table, 0x80000000)
    if ext is None or ext.eax < 0x80000008:
        return 36
    e = find_entry2(table, 0x80000008)
    return e.eax & 0xFF if e is not None else 36


def is_legal_gpa(table, gpa):
    """kvm_vcpu_is_legal_gpa(): no bit at or above MAXPHYADDR."""
    return gpa >> maxphyaddr(table) == 0


def has_feature(table, feature):
    function, reg, bit = feature
    e = find_entry2(table, function)
    return e is not None and bool(getattr(e, reg) >> bit & 1)
