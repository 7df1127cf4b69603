# SPDX-License-Identifier: GPL-2.0-only
"""Concurrency in the emulated platform: KVM's locks around the TDX ioctls,
the TDX module's try-locks, and forced interleavings of racing threads.

KVM's side (arch/x86/kvm/vmx/tdx.c, virt/kvm/kvm_main.c, kvm-x86/linux
09c6f74ecb86):
- kvm->lock, kvm->slots_lock, kvm->mmu_lock (only its write side is
  modelled) and each vcpu->mutex are Mutex objects of the TdVm / TdVcpu.
- From 6.19, KVM_TDX_INIT_VM, FINALIZE_VM, INIT_VCPU and INIT_MEM_REGION run
  under tdx_acquire_vm_state_locks(): kvm->lock, -EBUSY while a
  KVM_CREATE_VCPU is in flight (created_vcpus != online_vcpus), every
  vcpu->mutex, then slots_lock (15945e9ec195 "KVM: TDX: Guard VM state
  transitions with "all" the locks").  Before, tdx_vm_ioctl() took kvm->lock
  (FINALIZE also slots_lock) and the vCPU commands took only their own
  vcpu->mutex (INIT_MEM_REGION also slots_lock).
- From 6.19, TDH.VP.INIT runs under mmu_lock held for write (9a89894f30d5
  "KVM: TDX: Take MMU lock around tdh_vp_init()").
- kvm->srcu (Srcu): a vCPU handling a private EPT violation is a reader;
  deleting or moving a memslot publishes it with KVM_MEMSLOT_INVALID and
  waits for the readers (kvm_invalidate_memslot() -> kvm_swap_active_memslots()
  -> synchronize_srcu_expedited(), virt/kvm/kvm_main.c) before it zaps and
  removes it.

The TDX module's side: SEAMCALLs take internal try-locks and return
TDX_OPERAND_BUSY when another SEAMCALL holds what they need.  The model
knows only the conflicts the two fixes above name (CONFLICTS); KVM treats a
failed TDH.VP.CREATE, TDH.VP.INIT or S-EPT removal as a KVM bug
(KVM_BUG_ON / TDX_BUG_ON: the VM is dead, -EIO).

Forced interleavings: a race between two ioctls shows only if each reaches
the contended point while the other is there.  While EmuSystem.race() is
armed (the suite's tdx.lib.races), the racers start one after the other,
each once the ones before it cannot go on (settled()), and a thread that
holds a contended resource (a SEAMCALL in flight) waits in hold() until
every other racer is blocked on a KVM lock, done, or holding something it
took later.  So a KVM that serialises the two paths lets the first finish
while the second waits on its lock, and a KVM that does not makes the
second meet the first inside the TDX module, every time, for the order the
case chose.  Each wait is bounded (HOLD_TIMEOUT): a case that announces
more threads than it starts runs slower, never hangs.
"""

import contextlib
import errno
import threading
import time

TDX_OPERAND_BUSY = 0x8000020000000000          # arch/x86/include/asm/shared/tdx_errno.h
HOLD_TIMEOUT = 2.0                              # seconds a holder waits for the other racers
# Seconds synchronize_srcu() waits for a reader that does not leave.  The
# kernel waits forever (the hung-task detector reports the writer after
# 120 s); the model gives up after this bound, logs the report and goes on,
# so that a re-created deadlock fails a case instead of hanging the suite.
# Longer than the library's KVM_RUN watchdog (10 s), whose signal ends a
# reader's local retry as signal_pending() does.
SRCU_STALL = 30.0

# Pairs of SEAMCALLs that contend on the TD's TDR resource.  TDH.VP.CREATE
# against TDH.MR.EXTEND and TDH.MR.FINALIZE: 15945e9ec195's changelog.
# TDH.VP.INIT (version 1) takes the TDR exclusively, the S-EPT removal path
# (TDH.MEM.RANGE.BLOCK, TRACK, PAGE.REMOVE) shared: 9a89894f30d5's changelog.
CONFLICTS = frozenset(frozenset(p) for p in (
    ("TDH.VP.CREATE", "TDH.MR.EXTEND"),
    ("TDH.VP.CREATE", "TDH.MR.FINALIZE"),
    ("TDH.VP.INIT", "TDH.VP.INIT"),
    ("TDH.VP.INIT", "TDH.MEM.RANGE.BLOCK"),
))


def _conflict(a, b):
    return frozenset((a, b)) in CONFLICTS


class Races:
    """The forced-interleaving state of one EmuSystem (see the module doc).

    A racing thread is running, blocked (on a KVM lock), holding (a contended
    resource, waiting in hold()) or done.  Holders go on in the order they
    began to hold: the oldest first, once no other racer is running."""

    def __init__(self):
        self.cond = threading.Condition()
        self.armed = False
        self.expected = 0
        self.arrived = set()
        self.blocked = set()
        self.done = set()
        self.holders = []

    def arm(self, threads):
        with self.cond:
            self.armed, self.expected = True, threads
            self.arrived, self.blocked, self.done, self.holders = set(), set(), set(), []

    def disarm(self):
        with self.cond:
            self.armed = False
            self.cond.notify_all()

    def _wait(self, ready):
        deadline = time.monotonic() + HOLD_TIMEOUT
        while self.armed and not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.cond.wait(left)

    @contextlib.contextmanager
    def racing(self):
        """Around one ioctl (or fallocate) of a possibly racing thread."""
        me = threading.get_ident()
        with self.cond:
            if self.armed:
                self.arrived.add(me)
                self.done.discard(me)
        try:
            yield
        finally:
            with self.cond:
                if me in self.arrived:
                    self.done.add(me)
                    self.cond.notify_all()

    def _parked(self, t):
        return t in self.blocked or t in self.done or t in self.holders

    def settled(self, threads):
        """Wait until `threads` racers have arrived and none is running (the
        suite starts the next racer then: tdx.lib.races)."""
        with self.cond:
            self._wait(lambda: len(self.arrived) >= threads and all(self._parked(t) for t in self.arrived))

    def hold(self):
        """The caller holds a contended resource: it goes on once every racer
        has arrived and every other one is blocked, done, or began holding
        after it."""
        if not self.armed:
            # Nothing is racing (every SEAMCALL of every TD build comes here):
            # no lock.  A race is armed before its threads start.
            return
        me = threading.get_ident()
        with self.cond:
            if not self.armed or me not in self.arrived:
                return
            self.holders.append(me)
            self.cond.notify_all()

            def ready():
                mine = self.holders.index(me)
                return len(self.arrived) >= self.expected and all(t in self.blocked or t in self.done or
                           (t in self.holders and self.holders.index(t) > mine)
                           for t in self.arrived - {me})
            self._wait(ready)
            self.holders.remove(me)
            self.cond.notify_all()

    def blocking(self, lock):
        """Acquire `lock`; while the caller waits for it, it is blocked."""
        if lock.acquire(blocking=False):
            return
        me = threading.get_ident()
        with self.cond:
            self.blocked.add(me)
            self.cond.notify_all()
        lock.acquire()
        with self.cond:
            self.blocked.discard(me)


class Srcu:
    """kvm->srcu: srcu_read_lock()/unlock() and synchronize_srcu()."""

    def __init__(self, races, log=None):
        self.races = races
        self.log = log                  # the model's kernel log (a list of lines), if any
        self.cond = threading.Condition()
        self.readers = set()            # one token per read-side critical section

    @contextlib.contextmanager
    def read(self):
        me = object()
        with self.cond:
            self.readers.add(me)
        try:
            yield
        finally:
            with self.cond:
                self.readers.discard(me)
                self.cond.notify_all()

    def changed(self):
        """Wake readers waiting in wait_change() (a memslot was published)."""
        with self.cond:
            self.cond.notify_all()

    def wait_change(self, timeout):
        with self.cond:
            self.cond.wait(timeout)

    def synchronize(self):
        """Wait until every reader present now has left (SRCU_STALL at most);
        a racing caller is blocked meanwhile (Races)."""
        me = threading.get_ident()
        with self.cond:
            waiting_for = set(self.readers)
        if not waiting_for:
            return
        with self.races.cond:
            self.races.blocked.add(me)
            self.races.cond.notify_all()
        try:
            deadline = time.monotonic() + SRCU_STALL
            with self.cond:
                while waiting_for & self.readers:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        if self.log is not None:
                            self.log.append("INFO: task blocked in synchronize_srcu() for more than %d seconds "
                                            "(emulated: the writer goes on)" % SRCU_STALL)
                        return
                    self.cond.wait(min(left, 0.05))
        finally:
            with self.races.cond:
                self.races.blocked.discard(me)


class Mutex:
    """A KVM mutex (kvm->lock, slots_lock, vcpu->mutex, mmu_lock for write)."""

    def __init__(self, races):
        self.lock = threading.Lock()
        self.races = races

    def __enter__(self):
        self.races.blocking(self.lock)
        return self

    def __exit__(self, *exc):
        self.lock.release()


class TdxModuleLocks:
    """The TDX module's try-locks of one TD: which SEAMCALLs are in flight."""

    def __init__(self, races):
        self.races = races
        self.lock = threading.Lock()
        self.inflight = []

    def seamcall(self, leaf):
        """A context whose value is TDX_OPERAND_BUSY if a SEAMCALL in flight
        conflicts with `leaf`, else 0 (and `leaf` is in flight until the
        block ends)."""
        return _Seamcall(self, leaf)


class _Seamcall:
    """TdxModuleLocks.seamcall()'s context: a class, not a generator, as a
    TD build makes one per page it adds (TDH.MR.EXTEND)."""

    __slots__ = ("locks", "leaf", "status")

    def __init__(self, locks, leaf):
        self.locks = locks
        self.leaf = leaf
        self.status = None

    def __enter__(self):
        locks, leaf = self.locks, self.leaf
        with locks.lock:
            if any(_conflict(leaf, other) for other in locks.inflight):
                self.status = TDX_OPERAND_BUSY
                return TDX_OPERAND_BUSY
            locks.inflight.append(leaf)
        self.status = 0
        try:
            locks.races.hold()
        except BaseException:
            self._leave()
            raise
        return 0

    def __exit__(self, *exc):
        if self.status == 0:
            self._leave()

    def _leave(self):
        self.status = None
        with self.locks.lock:
            self.locks.inflight.remove(self.leaf)


def vm_state_guard(vm):
    """tdx_acquire_vm_state_locks() / tdx_release_vm_state_locks() as a
    context.  Entering raises OSError(EBUSY) while a KVM_CREATE_VCPU is in
    flight."""
    return _VmStateGuard(vm)


class _VmStateGuard:
    """vm_state_guard()'s context: kvm->lock, every vcpu->mutex, slots_lock,
    released in the reverse order (also when taking one fails)."""

    __slots__ = ("vm", "held")

    def __init__(self, vm):
        self.vm = vm
        self.held = []

    def __enter__(self):
        vm, held = self.vm, self.held
        try:
            vm.kvm_lock.__enter__()
            held.append(vm.kvm_lock)
            if vm.created_vcpus != vm.online_vcpus:
                raise OSError(errno.EBUSY, "KVM_TDX: a KVM_CREATE_VCPU is in flight")
            for vcpu in list(vm.vcpus):
                vcpu.mutex.__enter__()
                held.append(vcpu.mutex)
            vm.slots_lock.__enter__()
            held.append(vm.slots_lock)
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc):
        self._release()

    def _release(self):
        held = self.held
        while held:
            held.pop().__exit__(None, None, None)
