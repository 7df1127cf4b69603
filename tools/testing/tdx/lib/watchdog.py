# SPDX-License-Identifier: GPL-2.0-only
"""Stop a vCPU that does not come back from KVM_RUN.

A guest that spins (or, on kvm_pvm, executes VMCALL at CPL0) keeps KVM_RUN
busy forever.  Every KVM_RUN is armed with a deadline; one daemon thread
watches all deadlines and, when one passes, sets kvm_run.immediate_exit and
sends SIGUSR1 to the thread inside KVM_RUN, which then returns EINTR
(docs/host-kvm.md §6: < 2 ms).  It keeps kicking until the run is
disarmed, because a signal that lands just before the thread enters KVM_RUN
would otherwise be lost (immediate_exit covers that window too).

A process-directed signal would not do: it is delivered to whichever thread
does not block it, usually the idle main thread, not the vCPU thread.
"""

import os
import signal
import threading
import time

DEFAULT_TIMEOUT = 10.0
KICK_INTERVAL = 0.01


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


class _Armed:
    __slots__ = ("deadline", "ident", "run", "expired")

    def __init__(self, deadline, ident, run):
        self.deadline = deadline
        self.ident = ident
        self.run = run
        self.expired = False


class Watchdog:
    def __init__(self):
        self._cond = threading.Condition(threading.Lock())   # no need for an RLock's bookkeeping
        self._armed = set()
        self._thread = None
        self._wake_at = None

    def arm(self, run, timeout):
        """Watch the calling thread's next KVM_RUN on `run` (a kvm_run cdata)."""
        entry = _Armed(time.monotonic() + timeout, threading.get_ident(), run)
        with self._cond:
            self._armed.add(entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="kvm-watchdog", daemon=True)
                self._thread.start()
            elif self._wake_at is None or entry.deadline < self._wake_at:
                self._cond.notify()
        return entry

    def disarm(self, entry):
        with self._cond:
            self._armed.discard(entry)
        return entry.expired

    def _loop(self):
        with self._cond:
            while True:
                if not self._armed:
                    self._wake_at = None
                    self._cond.wait()
                    continue
                now = time.monotonic()
                due = [e for e in self._armed if e.deadline <= now]
                for entry in due:
                    entry.expired = True
                    entry.run.immediate_exit = 1
                    try:
                        signal.pthread_kill(entry.ident, signal.SIGUSR1)
                    except (ProcessLookupError, OSError):
                        pass
                if due:
                    self._wake_at = now + KICK_INTERVAL
                else:
                    self._wake_at = min(e.deadline for e in self._armed)
                self._cond.wait(max(self._wake_at - now, 0.0))


WATCHDOG = Watchdog()
