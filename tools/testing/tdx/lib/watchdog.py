# SPDX-License-Identifier: GPL-2.0-only
"""Stop a vCPU that does not come back from KVM_RUN.

A guest that spins (or, on kvm_pvm, executes VMCALL at CPL0) keeps KVM_RUN
busy forever.  Every vCPU has a `Watch`, registered once when the vCPU is
created; a KVM_RUN arms it by writing its deadline (and the thread that runs
it) and disarms it by clearing the deadline: two attribute writes, no lock and
no object per run, because KVM_RUN is issued tens of thousands of times per
test run and costs only a few microseconds itself (make bench).  One daemon
thread looks at the watches: it sleeps until the earliest deadline it has
seen, or at most POLL seconds (a run armed meanwhile is seen by then); when a
deadline has passed, it sets kvm_run.immediate_exit and sends SIGUSR1 to the
thread inside KVM_RUN, which then returns EINTR (docs/host-kvm.md §6:
< 2 ms).  It keeps kicking every KICK_INTERVAL until the run is disarmed,
because a signal that lands just before the thread enters KVM_RUN would
otherwise be lost (immediate_exit covers that window too).  So a hung run is
stopped at its deadline, or at most POLL after it when its timeout is shorter
than POLL.

A process-directed signal would not do: it is delivered to whichever thread
does not block it, usually the idle main thread, not the vCPU thread.
"""

import os
import signal
import threading
import time

DEFAULT_TIMEOUT = 10.0
KICK_INTERVAL = 0.01
POLL = 0.05
PARK_AFTER = 1.0


_timeout = None


def default_timeout():
    """Seconds a single KVM_RUN may take: $TDX_RUN_TIMEOUT or 10.

    Read once per process: every KVM_RUN asks, and an environment lookup
    costs as much as a third of the ioctl itself.
    """
    global _timeout
    if _timeout is None:
        _timeout = _parse(os.environ.get("TDX_RUN_TIMEOUT"))
    return _timeout


def _parse(value):
    if not value:
        return DEFAULT_TIMEOUT
    from tdx.lib.environment import seconds
    return seconds("TDX_RUN_TIMEOUT", value)


def _ignore(signum, frame):
    pass


def install_signal_handler():
    """SIGUSR1 must have a handler (not SIG_IGN) to interrupt KVM_RUN.

    Python only lets the main thread install handlers, so this runs at import
    time of tdx.lib.kvm (normally on the main thread) and again from there.
    """
    if threading.current_thread() is not threading.main_thread():
        return signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN, None)
    if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, signal.SIG_IGN, None):
        signal.signal(signal.SIGUSR1, _ignore)
    return True


class Watch:
    """One vCPU's watch, reused by all of its KVM_RUNs.

    The running thread writes `ident` and `deadline` (time.monotonic()) to
    arm it and sets `deadline` to None to disarm it.  The watchdog writes
    `expired`: the deadline of the run it stopped, so that a run can tell its
    own timeout from a late kick aimed at an earlier run.
    """

    __slots__ = ("run", "ident", "deadline", "expired", "live")

    def __init__(self, run):
        self.run = run          # the vCPU's kvm_run (cdata), for immediate_exit
        self.ident = None
        self.deadline = None
        self.expired = None
        self.live = True        # False once unwatched: its kvm_run may be unmapped


class Watchdog:
    def __init__(self):
        # Guards the set of watches and every write the watchdog makes into a
        # kvm_run: unwatch() takes it, so that once a vCPU is closed nothing
        # writes into its unmapped kvm_run.  Never taken per KVM_RUN.
        self._cond = threading.Condition(threading.Lock())
        self._watches = set()
        self._thread = None
        self._parked = False

    def watch(self, run):
        """A Watch for a new vCPU whose kvm_run is `run`."""
        entry = Watch(run)
        with self._cond:
            self._watches.add(entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="kvm-watchdog", daemon=True)
                self._thread.start()
            elif self._parked:
                # Only a parked thread needs waking: a polling one sees the
                # watch within POLL, and waking it costs a thread switch
                # per vCPU, which a TD lifecycle in a loop feels.
                self._cond.notify()
        return entry

    def unwatch(self, entry):
        """The vCPU is going away: forget its watch before its kvm_run is unmapped."""
        with self._cond:
            entry.live = False
            self._watches.discard(entry)

    def arm(self, run, timeout):
        """A temporary watch on `run` armed for one guarded stretch of the
        calling thread (make bench's bare KVM_RUN loop); disarm() releases it."""
        entry = self.watch(run)
        entry.ident = threading.get_ident()
        entry.deadline = time.monotonic() + timeout
        return entry

    def disarm(self, entry):
        """End what arm() started; True if the watchdog stopped it."""
        deadline, entry.deadline = entry.deadline, None
        self.unwatch(entry)
        return entry.expired is not None and entry.expired == deadline

    def _loop(self):
        with self._cond:
            idle_since = None
            while True:
                now = time.monotonic()
                if not self._watches:
                    # Park (no wake-ups at all) once no vCPU has existed for
                    # PARK_AFTER; until then keep polling, so that the next
                    # vCPU of a test creating VMs in a loop need not wake us.
                    idle_since = idle_since or now
                    if now - idle_since < PARK_AFTER:
                        self._cond.wait(POLL)
                        continue
                    self._parked = True
                    self._cond.wait()
                    self._parked = False
                    continue
                idle_since = None
                wake = now + POLL
                for entry in self._watches:
                    deadline = entry.deadline
                    if deadline is None:
                        continue
                    if deadline > now:
                        wake = min(wake, deadline)
                        continue
                    # No lock against the vCPU thread: if its run ends just
                    # now, the kick lands after it and its next KVM_RUN sees
                    # a spurious EINTR, which Vcpu.run() retries.
                    entry.expired = deadline
                    entry.run.immediate_exit = 1
                    try:
                        signal.pthread_kill(entry.ident, signal.SIGUSR1)
                    except (ProcessLookupError, OSError):
                        pass
                    wake = min(wake, now + KICK_INTERVAL)
                self._cond.wait(wake - now)


WATCHDOG = Watchdog()
