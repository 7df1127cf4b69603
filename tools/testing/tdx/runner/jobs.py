# SPDX-License-Identifier: GPL-2.0-only
"""One module process: start it, watch it, time it out, kill it, collect its output.

Each module runs as `python3 -m <package>.<module>` in its own process
group, so that a timeout or an interruption kills everything it started.
"""

import ctypes
import ctypes.util
import os
import re
import signal
import subprocess
import threading
import time

from tdx.runner.selection import ROOT

KILL_GRACE = 2.0                      # SIGTERM -> SIGKILL: time to print the running case's result
REAP_LIMIT = 5.0                      # a process stuck in the kernel may never die; stop waiting
MAX_LINES = 50000                     # per child; a runaway printer must not eat the driver's memory
LINE_LIMIT = 8192                     # bytes; longer lines are split

# Past MAX_LINES only diagnostics are dropped: a module that printed a lot and
# then passed must still be read as passed.
_STRUCTURE = re.compile(r"(?:ok|not ok) \d|1\.\.\d|K?TAP version |# Totals:")


PR_SET_PDEATHSIG = 1                  # include/uapi/linux/prctl.h


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()     # loaded before any fork: the child only makes the call


def die_with_parent(parent):
    """A preexec_fn: the module gets SIGTERM when the driver dies, whatever
    kills it (SIGKILL included), and answers it by killing its own process
    group (tdx.lib.ktap).  If the driver died before the call, go at once."""
    def arm():
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
    return arm


def signal_text(rc):
    try:
        return "exit=%d (%s)" % (rc, signal.Signals(-rc).name)
    except ValueError:
        return "exit=%d" % rc


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class State:
    stop = None          # set by the signal handler: the signal's name


class Job:
    """A child process, its merged output, and how it ended.

    The child leads its own process group, so a timeout or Ctrl-C kills
    everything it started; the group is killed while the leader is still an
    unreaped zombie, so its id cannot have been reused.
    """

    def __init__(self, name, argv, env, timeout, state, echo=None):
        self.name = name
        self.argv = argv
        self.env = env
        self.timeout = timeout
        self.state = state                  # shared: .stop is the signal name once one arrived
        self.echo = echo
        self.lines = []                     # [(stream, text, monotonic time)] in arrival order
        self.dropped = 0
        self.rc = None
        self.timed_out = False
        self.interrupted = None
        self.not_run = False
        self.spawn_error = None
        self.seconds = 0.0
        self.started = None                 # monotonic time the process was started
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._proc = None

    def _reader(self, pipe, stream):
        with pipe:
            for raw in iter(lambda: pipe.readline(LINE_LIMIT), b""):
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._lock:
                    if len(self.lines) < MAX_LINES or (stream == "out" and _STRUCTURE.match(text)):
                        self.lines.append((stream, text, time.monotonic()))
                    else:
                        self.dropped += 1
                if self.echo:
                    self.echo(self.name, stream, text)

    def _exited(self):
        """Has the leader exited?  (WNOWAIT: leave it unreaped, its pgid reserved.)"""
        try:
            return os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def _wait_exit(self, deadline, watch_stop=False):
        delay = 0.001
        while not self._exited():
            if watch_stop and self.state.stop:
                return False
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    def run(self):
        start = time.monotonic()
        try:
            if self.state.stop:
                self.not_run = True
                return
            self.started = time.monotonic()
            try:
                self._proc = subprocess.Popen(
                    self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, start_new_session=True, close_fds=True,
                    preexec_fn=die_with_parent(os.getpid()))
            except OSError as e:
                self.spawn_error = str(e)
                self.rc = 127
                return
            readers = [threading.Thread(target=self._reader, args=(p, s), daemon=True)
                       for p, s in ((self._proc.stdout, "out"), (self._proc.stderr, "err"))]
            for r in readers:
                r.start()
            pgid = self._proc.pid
            if not self._wait_exit(start + self.timeout, watch_stop=True):
                if self.state.stop:
                    self.interrupted = self.state.stop
                else:
                    self.timed_out = True
                _killpg(pgid, signal.SIGTERM)
                self._wait_exit(time.monotonic() + KILL_GRACE)
            # Also when it exited by itself: nothing it started may outlive it.
            _killpg(pgid, signal.SIGKILL)
            if self._wait_exit(time.monotonic() + REAP_LIMIT):
                self.rc = self._proc.wait()
            for r in readers:
                r.join(REAP_LIMIT)
        finally:
            self.seconds = time.monotonic() - start
            self.done.set()

    def kill(self):
        """Last resort on the way out: no child outlives the driver."""
        if self._proc is not None and self._proc.returncode is None:
            _killpg(self._proc.pid, signal.SIGKILL)

    def output(self):
        """[(stream, text)] in arrival order."""
        with self._lock:
            return [(s, t) for s, t, _ in self.lines]

    def timed_output(self):
        """[(stream, text, arrival time)]: the child KTAP reader times each case by it."""
        with self._lock:
            return list(self.lines)


def child_env(platform=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    env["PYTHONUNBUFFERED"] = "1"         # whole lines reach us even if the child dies
    env["PYTHONFAULTHANDLER"] = "1"       # a crash leaves the Python stack in its output
    if platform:
        env["TDX_PLATFORM"] = platform
    return env


def start_workers(jobs, count):
    """`count` threads that run the jobs in order, each taking the next one free."""
    queue = list(jobs)
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop(0)
            job.run()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(count, len(jobs))))]
    for t in threads:
        t.start()
    return threads


def wait(job):
    # A timed wait, so signal handlers run promptly in this (main) thread.
    while not job.done.wait(0.1):
        pass

