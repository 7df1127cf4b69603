# SPDX-License-Identifier: GPL-2.0-only
"""x86 APIC message formats, host side: MSI address/data and x2APIC ICR values.

The guest side (guest/include/apic.h) uses the same names.  Sources: the
Intel SDM's MSI and ICR layouts as the kernel encodes them
(arch/x86/include/asm/apicdef.h, arch/x86/include/asm/msi.h) and KVM's
decoding (arch/x86/kvm/irq.c kvm_msi_to_lapic_irq(), lapic.c
kvm_icr_to_lapic_irq()).
"""

MSI_ADDRESS_BASE = 0xFEE00000
MSI_ADDR_DEST_MODE_LOGICAL = 1 << 2
MSI_DATA_LEVEL_TRIGGER = 1 << 15

APIC_DM_FIXED = 0x000
APIC_DM_LOWEST = 0x100
APIC_DM_SMI = 0x200
APIC_DM_REMRD = 0x300                        # remote read: KVM's PV kick
APIC_DM_NMI = 0x400
APIC_DM_INIT = 0x500
APIC_DM_STARTUP = 0x600
APIC_DM_EXTINT = 0x700
APIC_DEST_LOGICAL = 0x800
APIC_INT_ASSERT = 0x4000
APIC_INT_LEVELTRIG = 0x8000
APIC_DEST_SELF = 0x40000
APIC_DEST_ALLINC = 0x80000
APIC_DEST_ALLBUT = 0xC0000

# x2APIC MSRs (0x800 + register offset / 16)
X2APIC_MSR_ID = 0x802
X2APIC_MSR_TPR = 0x808
X2APIC_MSR_EOI = 0x80B
X2APIC_MSR_SPIV = 0x80F
X2APIC_MSR_ICR = 0x830
APIC_SPIV_APIC_ENABLED = 1 << 8

NMI_VECTOR = 2


def msi(dest, vector, mode=APIC_DM_FIXED, logical=False, level_trigger=False):
    """(address_lo, address_hi, data) of an MSI to APIC ID `dest` (0-255;
    beyond needs KVM_CAP_X2APIC_API's 32-bit IDs, not composed here)."""
    if not 0 <= dest <= 0xFF:
        raise ValueError("MSI destination %#x: 8 bits without KVM_X2APIC_API_USE_32BIT_IDS" % dest)
    lo = MSI_ADDRESS_BASE | dest << 12 | (MSI_ADDR_DEST_MODE_LOGICAL if logical else 0)
    data = (vector & 0xFF) | mode | (MSI_DATA_LEVEL_TRIGGER if level_trigger else 0)
    return lo, 0, data


def icr(dest, vector, mode=APIC_DM_FIXED, shorthand=0):
    """An x2APIC ICR value: the destination in bits 63:32."""
    return (dest & 0xFFFFFFFF) << 32 | shorthand | mode | (vector & 0xFF)
