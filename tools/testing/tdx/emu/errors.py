# SPDX-License-Identifier: GPL-2.0-only
"""How the model makes KVM_RUN fail.

Raising EmuRunError(errno) from TdxModule.tdcall()/complete() means "KVM_RUN
returns -1 with this errno".  Raised from tdcall() it also means the TDCALL did
not retire: the caller must not write the registers back nor advance RIP, so
the guest re-executes the TDCALL on the next KVM_RUN (as it does on real TDX
after an EPT violation, e.g. TDG.MEM.PAGE.ACCEPT of a page KVM cannot map).
"""

import errno as _errno
import os


class EmuRunError(OSError):
    """KVM_RUN fails with `errno`; kvm_run may hold an exit (KVM_EXIT_MEMORY_FAULT)."""

    def __init__(self, err, detail=None):
        super().__init__(err, detail or os.strerror(err))


class EmuMemoryFault(EmuRunError):
    """A private/shared mismatch KVM reports as KVM_EXIT_MEMORY_FAULT + -EFAULT
    (docs/kvm-tdx-uapi.md §3.3).  Raised by the memory model; the TDX module fills
    run.memory_fault from it before it reaches the run loop."""

    def __init__(self, gpa, size=4096, private=True):
        super().__init__(_errno.EFAULT, "KVM_EXIT_MEMORY_FAULT gpa %#x" % gpa)
        self.gpa = gpa
        self.size = size
        self.private = private


class EmuKernelOops(Exception):
    """The modelled kernel oopsed inside this ioctl (its report is in the
    model's kernel log, emu/kmsg.py).  A real kernel kills the task: the
    ioctl never returns.  The model ends the call with this exception instead
    of an errno, so that the caller sees that it did not complete normally,
    without hanging (emu/README)."""
