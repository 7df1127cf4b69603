# SPDX-License-Identifier: GPL-2.0-only
"""Platform compatibility report: what this host offers a TD.

report() returns plain text lines (the driver prints them as `# ` diagnostics
at the top of its KTAP document):

    platform: emulated
    kernel: Linux 6.18.0 x86_64
    /dev/kvm: API version 12
    KVM_CAP_VM_TYPES: 0x1 (DEFAULT)
    KVM_CAP_GUEST_MEMFD: 1
    ...
    tdx: not available on this host (KVM_CAP_VM_TYPES lacks KVM_X86_TDX_VM)
    kernel generation: 6.18 (uname 6.18.0; TDX_KVM_GENERATION overrides)

It never raises: on a broken or half-built tree each section says what it
could not find.  The driver runs it in a child process (`python3 -m
tdx.lib.compat`) under a timeout, so even a crash in the KVM layer costs only
the report.
"""

import os
import sys
from importlib import import_module

# The capabilities a TD needs (docs/kvm-tdx-uapi.md §2.8, §3),
# with the kernel's numbers for when tdx.lib.abi is not importable.
CAPS = (
    ("KVM_CAP_VM_TYPES", 235),
    ("KVM_CAP_GUEST_MEMFD", 234),
    ("KVM_CAP_MEMORY_ATTRIBUTES", 233),
    ("KVM_CAP_EXIT_HYPERCALL", 201),
    ("KVM_CAP_X86_USER_SPACE_MSR", 188),
    ("KVM_CAP_SPLIT_IRQCHIP", 121),
)

# Bit names for the capabilities whose value is a mask.
_VM_TYPES = ((0, "DEFAULT"), (1, "SW_PROTECTED"), (2, "SEV"), (3, "SEV_ES"), (4, "SNP"), (5, "TDX"))
_BITS = {
    "KVM_CAP_VM_TYPES": _VM_TYPES,
    "KVM_CAP_MEMORY_ATTRIBUTES": ((3, "PRIVATE"),),
    "KVM_CAP_EXIT_HYPERCALL": ((12, "MAP_GPA_RANGE"),),
    "KVM_CAP_X86_USER_SPACE_MSR": ((0, "INVAL"), (1, "UNKNOWN"), (2, "FILTER")),
}
KVM_X86_TDX_VM = 5


def _describe(name, value):
    bits = _BITS.get(name)
    if not bits:
        return str(value)
    names = [n for b, n in bits if value & (1 << b)]
    return "%#x%s" % (value, " (%s)" % ", ".join(names) if names else "")


def _error(e):
    return "%s: %s" % (type(e).__name__, e)


def _platform():
    """(line, Platform or None)."""
    try:
        platform = import_module("tdx.lib.platform")
    except ImportError as e:
        return "platform: unknown (%s)" % _error(e), None
    try:
        plat = platform.current()
    except Exception as e:
        return "platform: unknown (%s)" % _error(e), None
    line = "platform: %s" % plat.name
    forced = os.environ.get("TDX_PLATFORM")
    if forced:
        line += " (TDX_PLATFORM=%s)" % forced
    reason = getattr(plat, "reason", None)
    if reason:
        line += ": " + str(reason)
    detail = getattr(plat, "detail", None)
    if detail:
        line += " [%s]" % detail
    return line, plat


def _field(obj, path):
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj[part]
        else:
            obj = getattr(obj, part)
    return obj


def _tdx_caps_text(caps):
    parts = []
    for label, paths in (("supported_attrs", ("supported_attrs",)),
                         ("supported_xfam", ("supported_xfam",))):
        for p in paths:
            try:
                parts.append("%s=%#x" % (label, int(_field(caps, p))))
                break
            except (AttributeError, KeyError, TypeError, ValueError):
                continue
    for p in ("cpuid.nent", "nent", "cpuid_configs", "cpuid"):
        try:
            value = _field(caps, p)
            count = value if isinstance(value, int) else len(value)
            parts.append("cpuid configs=%d" % count)
            break
        except (AttributeError, KeyError, TypeError):
            continue
    return " ".join(parts) or repr(caps)


def _tdx_line(label, kvm):
    try:
        capabilities = import_module("tdx.lib.td").capabilities
    except (ImportError, AttributeError):
        return "%s: KVM offers KVM_X86_TDX_VM; module capabilities not queried (no tdx.lib.td.capabilities)" % label
    try:
        caps = capabilities(kvm)
    except Exception as e:
        return "%s: KVM_TDX_CAPABILITIES failed: %s" % (label, _error(e))
    if caps is None:
        return "%s: not available on this host" % label
    return "%s: %s" % (label, _tdx_caps_text(caps))


def _kvm_lines(plat):
    try:
        abi = import_module("tdx.lib.abi")
        kvm_mod = import_module("tdx.lib.kvm")
    except Exception as e:
        return ["/dev/kvm: not queried (tdx.lib.kvm unavailable: %s)" % _error(e),
                "tdx: not available on this host (KVM layer unavailable)"]
    try:
        kvm = kvm_mod.Kvm()
    except Exception as e:
        return ["/dev/kvm: %s" % e, "tdx: not available on this host (no usable /dev/kvm)"]
    lines = ["/dev/kvm: API version %s" % getattr(kvm, "api_version", "?")]
    vm_types = 0
    try:
        for name, number in CAPS:
            try:
                value = kvm.check_extension(getattr(abi, name, number))
            except Exception as e:
                lines.append("%s: %s" % (name, _error(e)))
                continue
            if name == "KVM_CAP_VM_TYPES":
                vm_types = value
            lines.append("%s: %s" % (name, _describe(name, value)))
        tdx_type = getattr(abi, "KVM_X86_TDX_VM", KVM_X86_TDX_VM)
        if vm_types & (1 << tdx_type):
            lines.append(_tdx_line("tdx", kvm))
        else:
            lines.append("tdx: not available on this host (KVM_CAP_VM_TYPES lacks KVM_X86_TDX_VM)")
    finally:
        kvm.close()
    system = getattr(plat, "system", None)
    if plat is not None and plat.name == "emulated" and system is not None:
        try:
            emu = kvm_mod.Kvm(system)
        except Exception as e:
            lines.append("tdx (emulated): %s" % _error(e))
        else:
            try:
                lines.append(_tdx_line("tdx (emulated)", emu))
                features = getattr(system, "features", None)
                if features is not None:
                    # What the model borrows from this host and what it models (emu/host.py).
                    lines += ["tdx (emulated): %s" % line for line in features.report()]
            finally:
                emu.close()
    return lines


def _generation_lines(plat):
    """Which KVM-TDX generation's answers the cases expect, and how that was
    decided (tdx.lib.generations)."""
    if plat is None or not plat.available:
        return ["kernel generation: not decided (platform %s)" % (plat.name if plat else "unknown")]
    try:
        gen = import_module("tdx.lib.generations").detect(plat)
    except Exception as e:
        return ["kernel generation: not decided (%s)" % _error(e)]
    return gen.report()


def report():
    """The compatibility report as text lines; never raises."""
    line, plat = _platform()
    u = os.uname()
    lines = [line, "kernel: %s %s %s" % (u.sysname, u.release, u.machine)]
    try:
        lines += _kvm_lines(plat)
    except Exception as e:                  # a bug below must not cost the run its header
        lines.append("/dev/kvm: report failed: %s" % _error(e))
    lines += _generation_lines(plat)
    return lines


if __name__ == "__main__":
    for l in report():
        sys.stdout.write(l + "\n")
