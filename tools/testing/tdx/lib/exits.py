# SPDX-License-Identifier: GPL-2.0-only
"""Run a guest vCPU and assert on its exits.

GuestVcpu is a Vcpu of a VM built by tdx.lib.td: it knows where its ucall
slot is, so every run turns guest reports into host results — GUEST_ASSERT
into GuestAssertionError("file.c:42: ..."), exceptions into
GuestExceptionError, SYNC/DONE into return values — and an exit that is not
the expected one into an AssertionError that describes both.  It never reads
guest registers: on TDX they are protected (docs/kvm-tdx-uapi.md §2.8).
"""

import threading

from tdx.lib import abi, ktap, ucall as _ucall
from tdx.lib.kvm import Vcpu

UCALL_PORT = 0xE0       # guest/include/ucall.h

# Guest output shown per VM.  A guest that prints in a loop must not bury the
# case's result, nor make the module's output so long that a reader gives up;
# the line after the limit says that the rest was dropped.
GUEST_PRINT_LIMIT = 500


class UnexpectedExit(AssertionError):
    pass


# kvm_run's exit union: after the 32-byte header (include/uapi/linux/kvm.h,
# struct kvm_run), 256 bytes.
_EXIT_UNION = (32, 256)


def poison_exit(vcpu):
    """Fill kvm_run's exit union, so that every field an exit check reads was
    written by KVM in the next KVM_RUN, not left from an earlier exit.

    Only before a KVM_RUN that completes nothing: a completion reads the union."""
    offset, size = _EXIT_UNION
    addr = int(abi.ffi.cast("uintptr_t", vcpu.kvm_run)) + offset
    abi.ffi.buffer(abi.ffi.cast("char *", addr), size)[:] = b"\xa5" * size


def describe(run):
    """One line naming the exit and its fields, for failure messages."""
    reason = run.exit_reason
    name = abi.EXIT_REASON_NAMES.get(reason, "exit %d" % reason)
    if reason == abi.KVM_EXIT_IO:
        io = run.io
        return "%s port 0x%x size %d %s count %d" % (
            name, io.port, io.size, "OUT" if io.direction == abi.KVM_EXIT_IO_OUT else "IN", io.count)
    if reason == abi.KVM_EXIT_MMIO:
        m = run.mmio
        return "%s gpa 0x%x len %d %s" % (name, m.phys_addr, m.len, "write" if m.is_write else "read")
    if reason in (abi.KVM_EXIT_X86_RDMSR, abi.KVM_EXIT_X86_WRMSR):
        return "%s index 0x%x reason %d data 0x%x" % (name, run.msr.index, run.msr.reason, run.msr.data)
    if reason == abi.KVM_EXIT_SYSTEM_EVENT:
        ev = run.system_event
        data = [ev.data[i] for i in range(min(ev.ndata, 16))]
        if ev.type == abi.KVM_SYSTEM_EVENT_TDX_FATAL and len(data) > 13:
            return "%s TDX_FATAL error code 0x%x gpa 0x%x" % (name, data[12], data[13])
        return "%s type %d data %s" % (name, ev.type, " ".join("0x%x" % d for d in data))
    if reason == abi.KVM_EXIT_HYPERCALL:
        hc = run.hypercall
        return "%s nr %d args 0x%x 0x%x 0x%x" % (name, hc.nr, hc.args[0], hc.args[1], hc.args[2])
    if reason == abi.KVM_EXIT_INTERNAL_ERROR:
        i = run.internal
        return "%s suberror %d data %s" % (name, i.suberror, " ".join(
            "0x%x" % i.data[k] for k in range(min(i.ndata, 16))))
    if reason == abi.KVM_EXIT_MEMORY_FAULT:
        mf = run.memory_fault
        return "%s flags 0x%x gpa 0x%x size 0x%x" % (name, mf.flags, mf.gpa, mf.size)
    if reason == abi.KVM_EXIT_TDX:
        return "%s nr 0x%x" % (name, run.tdx.nr)
    return name


class IoExit:
    def __init__(self, vcpu):
        io = vcpu.kvm_run.io
        self.vcpu = vcpu
        self.port, self.size, self.count = io.port, io.size, io.count
        self.write = io.direction == abi.KVM_EXIT_IO_OUT
        self.data = vcpu.io_data()

    @property
    def value(self):
        """The OUT value (first element), little-endian."""
        return int.from_bytes(self.data[:self.size], "little")

    def reply(self, value):
        """The value an IN reads (completed at the next run)."""
        self.vcpu.set_io_data(value.to_bytes(self.size, "little") * self.count)


class MmioExit:
    def __init__(self, vcpu):
        m = vcpu.kvm_run.mmio
        self.vcpu = vcpu
        self.gpa, self.len, self.write = m.phys_addr, m.len, bool(m.is_write)
        self.data = bytes(m.data[0:self.len]) if self.len <= 8 else b""

    @property
    def value(self):
        return int.from_bytes(self.data, "little")

    def reply(self, value):
        m = self.vcpu.kvm_run.mmio
        for i, b in enumerate(value.to_bytes(8, "little")[:self.len]):
            m.data[i] = b


class GuestVcpu(Vcpu):
    guest = None        # the GuestVm (set by tdx.lib.td)
    index = 0

    def _ucall(self):
        """The report behind an OUT to UCALL_PORT, or None for any other exit."""
        run = self.kvm_run
        if run.exit_reason != abi.KVM_EXIT_IO:
            return None
        io = run.io
        if io.port != UCALL_PORT or io.direction != abi.KVM_EXIT_IO_OUT or io.size != 4:
            return None
        cmd = int.from_bytes(self.io_data()[:4], "little")
        gvm = self.guest
        if gvm.layout.ucall_gpa is None:
            # No shared memory: the port write is the whole report.
            return _ucall.check(_ucall.Ucall(cmd, [0] * 6, 0, self.index, "", ""), gvm.image.addr2sym)
        slot = gvm.read(gvm.layout.ucall_slot_gpa(self.index), _ucall.UCALL_SLOT_SIZE)
        return _ucall.check(_ucall.decode(slot, cmd=cmd, vcpu=self.index), gvm.image.addr2sym)

    def run_exit(self, timeout=None):
        """Run to the next exit that is not a guest printf; raise for asserts/exceptions.

        Returns the Ucall of a SYNC or DONE, else None (look at kvm_run).
        """
        while True:
            self.run(timeout)
            uc = self._ucall()
            if uc is None:
                return None
            if uc.cmd == _ucall.UCALL_PRINTF:
                self._print(uc)
                continue
            return uc

    def _print(self, uc):
        """GUEST_PRINTF text as diagnostics: one `# guest file:line: ...` line per
        line of text (already escaped by the decoder), at most GUEST_PRINT_LIMIT
        lines per VM."""
        gvm = self.guest
        shown = getattr(gvm, "printed_lines", 0)
        for line in uc.expr.rstrip("\n").split("\n"):
            if shown < GUEST_PRINT_LIMIT:
                ktap.diagnostic("guest %s: %s" % (uc.where, line))
            elif shown == GUEST_PRINT_LIMIT:
                ktap.diagnostic("guest: more than %d lines of output; the rest is not shown" % GUEST_PRINT_LIMIT)
            shown += 1
        gvm.printed_lines = shown

    def _expect(self, what, ok, uc):
        if uc is not None:
            raise UnexpectedExit("expected %s, got guest %s at %s" % (what, uc.name, uc.where))
        if not ok(self.kvm_run):
            raise UnexpectedExit("expected %s, got %s" % (what, describe(self.kvm_run)))

    def run_expect(self, reason, timeout=None):
        """Run until an exit with `reason`; returns kvm_run."""
        uc = self.run_exit(timeout)
        self._expect(abi.EXIT_REASON_NAMES.get(reason, reason), lambda r: r.exit_reason == reason, uc)
        return self.kvm_run

    def run_expect_io(self, port, size, write, count=1, timeout=None):
        what = "KVM_EXIT_IO port 0x%x size %d %s" % (port, size, "OUT" if write else "IN")
        want_dir = abi.KVM_EXIT_IO_OUT if write else abi.KVM_EXIT_IO_IN
        uc = self.run_exit(timeout)
        self._expect(what, lambda r: (r.exit_reason == abi.KVM_EXIT_IO and r.io.port == port and
                                      r.io.size == size and r.io.direction == want_dir and
                                      r.io.count == count), uc)
        return IoExit(self)

    def run_expect_mmio(self, gpa, size, write, timeout=None):
        what = "KVM_EXIT_MMIO gpa 0x%x len %d %s" % (gpa, size, "write" if write else "read")
        uc = self.run_exit(timeout)
        self._expect(what, lambda r: (r.exit_reason == abi.KVM_EXIT_MMIO and r.mmio.phys_addr == gpa and
                                      r.mmio.len == size and bool(r.mmio.is_write) == write), uc)
        return MmioExit(self)

    def run_expect_sync(self, n=None, timeout=None):
        uc = self.run_exit(timeout)
        if uc is None or uc.cmd != _ucall.UCALL_SYNC or (n is not None and uc.value != n):
            got = "guest %s at %s" % (uc.name, uc.where) if uc else describe(self.kvm_run)
            raise UnexpectedExit("expected GUEST_SYNC(%s), got %s" % ("" if n is None else n, got))
        return uc.value

    def run_until_done(self, timeout=None):
        """Run to GUEST_DONE (or the entry function's return); returns its value."""
        uc = self.run_exit(timeout)
        if uc is None or uc.cmd != _ucall.UCALL_DONE:
            got = "guest %s at %s" % (uc.name, uc.where) if uc else describe(self.kvm_run)
            raise UnexpectedExit("expected GUEST_DONE, got %s" % got)
        return uc.value


class VcpuThread(threading.Thread):
    """Runs fn(vcpu) on a thread of its own, for cases where a vCPU must be
    inside KVM_RUN while the test does something else (another vCPU runs,
    an interrupt is sent).  join_result() returns fn's result or re-raises
    its exception in the test's thread."""

    def __init__(self, fn, vcpu):
        super().__init__(name="vcpu-%d" % vcpu.id, daemon=True)
        self.fn, self.vcpu = fn, vcpu
        self.result = self.error = None

    def run(self):
        try:
            self.result = self.fn(self.vcpu)
        except BaseException as e:      # handed to join_result()
            self.error = e

    def join_result(self, timeout=None):
        """Wait (at most `timeout` s beyond the vCPU's own watchdog) and
        return fn's result."""
        self.join(timeout)
        if self.is_alive():
            raise UnexpectedExit("vCPU %d: still running after %s s" % (self.vcpu.id, timeout))
        if self.error is not None:
            raise self.error
        return self.result
