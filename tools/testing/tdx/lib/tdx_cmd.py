# SPDX-License-Identifier: GPL-2.0-only
"""KVM_MEMORY_ENCRYPT_OP sub-commands of KVM-TDX, one wrapper each.

docs/kvm-tdx-uapi.md §2.  Failures raise KvmError named after the
sub-command (KVM_TDX_INIT_VM, ...), with hw_error in the message when KVM
reported one, so a failing setup step says which step failed.
"""

import errno

from tdx.lib import abi
from tdx.lib.abi import ffi
from tdx.lib.kvm import KvmError, cpuid_entries, new_cpuid2

CMD_NAMES = {
    abi.KVM_TDX_CAPABILITIES: "KVM_TDX_CAPABILITIES",
    abi.KVM_TDX_INIT_VM: "KVM_TDX_INIT_VM",
    abi.KVM_TDX_INIT_VCPU: "KVM_TDX_INIT_VCPU",
    abi.KVM_TDX_INIT_MEM_REGION: "KVM_TDX_INIT_MEM_REGION",
    abi.KVM_TDX_FINALIZE_VM: "KVM_TDX_FINALIZE_VM",
    abi.KVM_TDX_GET_CPUID: "KVM_TDX_GET_CPUID",
}


def new_cmd(cmd_id, data=0, flags=0, hw_error=0):
    return ffi.new("struct kvm_tdx_cmd *", {"id": cmd_id, "flags": flags, "data": data, "hw_error": hw_error})


def tdx_ioctl(target, cmd):
    """Issue `cmd` (struct kvm_tdx_cmd *) on a Vm or Vcpu; KVM writes it back."""
    name = CMD_NAMES.get(cmd.id, "KVM_TDX_CMD(%d)" % cmd.id)
    try:
        return target.memory_encrypt_op(cmd)
    except KvmError as e:
        detail = "hw_error 0x%x" % cmd.hw_error if cmd.hw_error else None
        raise KvmError(name, e.errno, detail) from None


def _data(ptr):
    return int(ffi.cast("uintptr_t", ptr))


def capabilities(vm, nent=8, flags=0):
    """KVM_TDX_CAPABILITIES; grows the CPUID array while KVM says E2BIG (nent is not written back)."""
    while True:
        caps = ffi.new("struct kvm_tdx_capabilities *", {"cpuid": {"nent": nent, "entries": nent}})
        caps.cpuid.nent = nent
        try:
            tdx_ioctl(vm, new_cmd(abi.KVM_TDX_CAPABILITIES, _data(caps), flags))
        except KvmError as e:
            if e.errno == errno.E2BIG and nent < abi.KVM_MAX_CPUID_ENTRIES:
                nent *= 2
                continue
            raise
        return caps


def caps_cpuid(caps):
    return cpuid_entries(caps.cpuid)


def new_init_vm(attributes, xfam, entries):
    init = ffi.new("struct kvm_tdx_init_vm *", {"cpuid": {"nent": len(entries), "entries": len(entries)}})
    init.attributes = attributes
    init.xfam = xfam
    init.cpuid.nent = len(entries)
    src = new_cpuid2(entries)
    ffi.memmove(init.cpuid.entries, src.entries, ffi.sizeof("struct kvm_cpuid_entry2") * len(entries))
    return init


def init_vm(vm, init, flags=0):
    """KVM_TDX_INIT_VM with a struct kvm_tdx_init_vm (see new_init_vm)."""
    return tdx_ioctl(vm, new_cmd(abi.KVM_TDX_INIT_VM, _data(init), flags))


def init_vcpu(vcpu, rcx=0, flags=0):
    """KVM_TDX_INIT_VCPU; `rcx` is the vCPU's initial RCX."""
    return tdx_ioctl(vcpu, new_cmd(abi.KVM_TDX_INIT_VCPU, rcx, flags))


def get_cpuid(vcpu, nent=64):
    """KVM_TDX_GET_CPUID; on E2BIG KVM writes back the nent it needs."""
    while True:
        cpuid = ffi.new("struct kvm_cpuid2 *", {"nent": nent, "entries": nent})
        cpuid.nent = nent
        try:
            tdx_ioctl(vcpu, new_cmd(abi.KVM_TDX_GET_CPUID, _data(cpuid)))
        except KvmError as e:
            if e.errno == errno.E2BIG and cpuid.nent > nent:
                nent = cpuid.nent
                continue
            raise
        return cpuid_entries(cpuid)


def init_mem_region(vcpu, gpa, source_addr, nr_pages, measure=True):
    """KVM_TDX_INIT_MEM_REGION; returns the written-back struct (progress)."""
    region = ffi.new("struct kvm_tdx_init_mem_region *", {
        "source_addr": source_addr, "gpa": gpa, "nr_pages": nr_pages})
    flags = abi.KVM_TDX_MEASURE_MEMORY_REGION if measure else 0
    tdx_ioctl(vcpu, new_cmd(abi.KVM_TDX_INIT_MEM_REGION, _data(region), flags))
    return region


def finalize_vm(vm, flags=0, data=0):
    return tdx_ioctl(vm, new_cmd(abi.KVM_TDX_FINALIZE_VM, data, flags))
