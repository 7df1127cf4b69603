# SPDX-License-Identifier: GPL-2.0-only
"""Which TD vCPUs are associated with each host CPU: per_cpu(associated_tdvcpus).

arch/x86/kvm/vmx/tdx.c (kvm-x86/linux 09c6f74ecb86): tdx_vcpu_load() puts a
TD vCPU on the list of the CPU it is loaded on (list_add(&tdx->cpu_list, ...),
vcpu->cpu = cpu) once the TD has its HKID, after tdx_flush_vp_on_cpu() has
taken it off the list of the CPU it was on before (tdx_disassociate_vp());
tdx_mmu_release_hkid() flushes every vCPU of a TD that goes away.
kvm_arch_vcpu_create() loads a new vCPU once (vcpu_load()/vcpu_put()), so a
vCPU that KVM_CREATE_VCPU frees again afterwards (the duplicate vCPU id check
of kvm_vm_ioctl_create_vcpu() comes after it) is on a list: since
1e3a825c9ec9 ("KVM: TDX: Fix list_add corruption during vcpu_load()", 6.19)
tdx_vcpu_free() flushes it when vcpu->cpu != -1.  Before, it returned early
while the HKID was assigned: the freed vCPU stayed linked, and the next
list_add() on that CPU found the list corrupted (CONFIG_DEBUG_LIST: "list_add
corruption", kernel BUG at lib/list_debug.c:29, an oops of the task in
vcpu_load()).

The model keeps the lists of the whole platform (the kernel's are global),
checks them in list_add() as CONFIG_DEBUG_LIST does, and writes the oops to
its kernel log (emu/kmsg.py).  Differences (emu/README): a vCPU is loaded at
KVM_CREATE_VCPU and at every vCPU ioctl on the CPU the calling thread is on
then (the kernel also reloads it when the scheduler moves the thread,
kvm_sched_in()); a freed vCPU always corrupts the list (the kernel notices
only if the freed memory changed); the freed vCPUs of a TD leave the lists
when the TD goes away (the kernel's stay until reboot).
"""

import os
import threading

from tdx.lib.abi import libc
from tdx.emu.errors import EmuKernelOops


def current_cpu():
    """The CPU the calling thread runs on (sched_getcpu(3))."""
    return libc.sched_getcpu()


class AssociatedTdVcpus:
    """per_cpu(associated_tdvcpus) of every CPU, and the model's kernel log."""

    def __init__(self, log):
        self.lock = threading.Lock()
        self.cpus = {}                  # cpu -> [TdVcpu], oldest first
        self.log = log

    def load(self, vcpu, cpu=None, caller="kvm_vcpu_ioctl"):
        """tdx_vcpu_load(vcpu, cpu) from vcpu_load() in `caller`.  Raises
        EmuKernelOops where list_add() finds the list corrupted."""
        cpu = current_cpu() if cpu is None else cpu
        if vcpu.cpu == cpu:
            return
        with self.lock:
            if vcpu.cpu != -1:
                self.cpus[vcpu.cpu].remove(vcpu)        # tdx_flush_vp_on_cpu()
            entries = self.cpus.setdefault(cpu, [])
            stale = next((v for v in entries if v.freed), None)
            if stale is not None:
                vcpu.cpu = -1
                self._oops(cpu, vcpu, stale, caller)        # the list_add() does not happen
            entries.append(vcpu)
            vcpu.cpu = cpu

    def free(self, vcpu):
        """tdx_vcpu_free() of a vCPU KVM_CREATE_VCPU gives up after
        kvm_arch_vcpu_create() (the TD has its HKID)."""
        with self.lock:
            vm = vcpu.vm
            # FAULT "vcpu-create-list-add": the newest kernel returns early, as before 6.19.
            flush = vm.kernel.has("vcpu-free-disassociate") and "vcpu-create-list-add" not in vm.faults
            if vcpu.cpu != -1 and flush:
                self.cpus[vcpu.cpu].remove(vcpu)
                vcpu.cpu = -1
            vcpu.freed = True

    def release(self, vm):
        """tdx_mmu_release_hkid(): the TD's vCPUs leave every list (and, in
        the model, the freed ones it left there too)."""
        with self.lock:
            for entries in self.cpus.values():
                entries[:] = [v for v in entries if v.vm is not vm]

    def _oops(self, cpu, vcpu, stale, caller):
        """__list_add_valid_or_report(): the freed entry's neighbours no longer
        point back at it."""
        head = 0xffff888100000000 + (cpu << 12)
        prev = 0xffff888140000000 + (id(stale) & 0xFFFFFF) * 64
        self.log.extend([
            "list_add corruption. next->prev should be prev (%#x), but was %#x. (next=%#x)."
            % (prev, 0x6b6b6b6b6b6b6b6b, head),
            "------------[ cut here ]------------",
            "kernel BUG at lib/list_debug.c:29!",
            "Oops: invalid opcode: 0000 [#1] SMP NOPTI",
            "CPU: %d UID: %d PID: %d Comm: %s (emulated)" % (cpu, os.getuid(), threading.get_native_id(),
                                                           threading.current_thread().name[:15]),
            "RIP: 0010:__list_add_valid_or_report",
            "Call Trace:",
            " <TASK>",
            " tdx_vcpu_load",
            " vt_vcpu_load",
            " kvm_arch_vcpu_load",
            " vcpu_load",
            " " + caller,
            " </TASK>",
            "---[ end trace 0000000000000000 ]---",
        ])
        raise EmuKernelOops("kernel BUG at lib/list_debug.c:29 in vcpu_load() of vCPU %d on CPU %d: the task "
                            "is killed, the ioctl does not return" % (vcpu.vcpu_id, cpu))
