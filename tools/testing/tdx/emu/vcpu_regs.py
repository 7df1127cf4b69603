# SPDX-License-Identifier: GPL-2.0-only
"""The real vCPU's general-purpose registers as the model reads and writes
them, and the real KVM_RUN that goes with them.

With KVM_CAP_SYNC_REGS (Linux 4.17) and KVM_SYNC_X86_REGS in
kvm_run->kvm_valid_regs, KVM copies struct kvm_regs into
kvm_run->s.regs.regs whenever KVM_RUN returns through store_regs(), and
with the bit in kvm_run->kvm_dirty_regs it loads them from there at the
next KVM_RUN: sync_regs() runs __set_regs(), the function KVM_SET_REGS
runs, before a pending PIO/MMIO completion and before the entry (the
"out:" path and sync_regs() of kvm_arch_vcpu_ioctl_run(),
arch/x86/kvm/x86.c, 5.10 to the newest).  So a TDCALL costs no register
ioctl: the model reads the registers from kvm_run and leaves its result
there.  Without the capability, or on the baseline host path
(TDX_EMU_HOST=baseline, emu/host.py), KVM_GET_REGS and KVM_SET_REGS do the
same, one ioctl each.

What keeps kvm_run's copy coherent:
- it is the vCPU's state after a KVM_RUN that returned 0 or EINTR (both
  leave through store_regs()); after any other error the registers are
  asked for with KVM_GET_REGS;
- a change waits in kvm_run until the next KVM_RUN of the vCPU; any other
  ioctl on the real vCPU (ioctl()) first loads it with KVM_SET_REGS, so no
  ioctl sees registers not yet loaded, and __set_regs() (which also drops
  a pending exception) never runs after one that queued something.  The
  KVM_NMI and KVM_INTERRUPT issued right before an entry (emu/delivery.py)
  only queue an event for that entry and read no register;
- a KVM_RUN that returns without having loaded the change (its bit still
  set in kvm_dirty_regs: it failed before sync_regs()) gets it loaded with
  KVM_SET_REGS, from the model's own copy (store_regs() may have
  overwritten kvm_run's).
"""

import errno
import threading

from tdx.lib import abi
from tdx.lib.abi import ffi
from tdx.emu.regs import Regs

_REGS = abi.KVM_SYNC_X86_REGS


class VcpuRegs:
    """One real vCPU's registers and KVM_RUN (see the module doc)."""

    def __init__(self, host, fd, run, sync):
        self.host = host
        self.fd = fd
        self.run = run
        self.sync = sync
        self.current = False        # run.s.regs.regs holds the vCPU's registers
        self.dirty = False          # ... changed by the model, not loaded yet
        # A host thread's ioctl on the vCPU (ioctl()) against the vCPU's own
        # thread handing a change to its next KVM_RUN (run_vcpu()).
        self.lock = threading.Lock()
        if sync:
            run.kvm_valid_regs |= _REGS

    def get(self):
        if self.current:
            return Regs.from_kvm_regs(self.run.s.regs.regs)
        regs = ffi.new("struct kvm_regs *")
        self.ioctl(abi.KVM_GET_REGS, regs)
        return Regs.from_kvm_regs(regs)

    def set(self, regs):
        """Give the vCPU `regs` (every field of struct kvm_regs)."""
        if not self.sync:
            self.host.ioctl(self.fd, abi.KVM_SET_REGS, regs.to_kvm_regs(ffi.new("struct kvm_regs *")))
            return
        with self.lock:
            regs.to_kvm_regs(self.run.s.regs.regs)
            self.dirty = True
            self.current = True

    def ioctl(self, request, arg=0):
        """An ioctl on the real vCPU other than KVM_RUN."""
        if self.dirty:
            with self.lock:
                self._load()
        return self.host.ioctl(self.fd, request, arg)

    def _load(self):
        if self.dirty:
            self.host.ioctl(self.fd, abi.KVM_SET_REGS, ffi.addressof(self.run.s.regs, "regs"))
            self.dirty = False

    def run_vcpu(self):
        """The real KVM_RUN (OSError as the host raises it)."""
        pending = None
        if self.sync:
            with self.lock:
                if self.dirty:
                    pending = bytes(ffi.buffer(ffi.addressof(self.run.s.regs, "regs")))
                    self.run.kvm_dirty_regs |= _REGS
                    self.dirty = False
        try:
            ret = self.host.ioctl(self.fd, abi.KVM_RUN, 0)
        except OSError as e:
            self.current = self.sync and e.errno == errno.EINTR
            raise
        else:
            self.current = self.sync
            return ret
        finally:
            if pending is not None and self.run.kvm_dirty_regs & _REGS:
                self.run.kvm_dirty_regs &= ~_REGS
                regs = ffi.new("struct kvm_regs *")
                ffi.memmove(regs, pending, len(pending))
                self.host.ioctl(self.fd, abi.KVM_SET_REGS, regs)
                self.current = False
