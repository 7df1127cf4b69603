# SPDX-License-Identifier: GPL-2.0-only
"""Racing ioctls from host threads.

run(system, *calls) runs each call in its own thread and returns what each
returned or raised.  On the emulated platform the System forces an
interleaving (EmuSystem.race, emu/concurrency.py): the calls start in the
order given, each once the ones before it cannot go on (blocked on a lock,
or holding a contended resource inside the kernel), so a race the kernel
does not serialise shows every time for that order.  On a TDX host the calls
are released together by a barrier and race as the scheduler has them; a
case repeats the race (rounds()) to give a missing lock a chance to show.
Every join is bounded: a call that does not return is reported as TIMEOUT,
never waited for forever.
"""

import threading

JOIN_TIMEOUT = 30.0                 # seconds; far beyond any race's length
TIMEOUT = "timeout"


def rounds(system, real=20):
    """How often a case runs its race: once where the platform forces the
    interleaving, `real` times elsewhere."""
    return 1 if hasattr(system, "race") else real


def run(system, *calls):
    """[result or exception or TIMEOUT] of each call, in order."""
    results = [TIMEOUT] * len(calls)
    force = getattr(system, "race", None)
    barrier = threading.Barrier(1 if force else len(calls))

    def body(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except BaseException as e:      # reported to the case
            results[i] = e

    threads = [threading.Thread(target=body, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    if force:
        with force(len(calls)) as settled:
            for i, t in enumerate(threads):
                t.start()
                settled(i + 1)
            for t in threads:
                t.join(JOIN_TIMEOUT)
    else:
        for t in threads:
            t.start()
        for t in threads:
            t.join(JOIN_TIMEOUT)
    return results
