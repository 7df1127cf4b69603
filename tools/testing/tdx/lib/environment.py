# SPDX-License-Identifier: GPL-2.0-only
"""Every environment variable the suite reads, checked in one place.

problem() returns the first bad value as one line (or None); the driver
calls it before running anything and each module before its first case, so
that a bad value is one usage error (exit 2), never a traceback per case nor
a run that silently ignores it.  TDX_KVM_DEV is not checked: a device that
does not work is platform none, with the cause as a diagnostic.
"""

import math
import os

# A timeout longer than this is a typo, and past ~9.2e9 s (threading.TIMEOUT_MAX)
# a wait on it raises OverflowError in the watchdog thread.
MAX_SECONDS = 1e6

TDCALL_TRAPS = ("exit", "ud")       # tdx.emu.system: how TDCALL reaches the model


def seconds(name, value):
    """A finite number of seconds in (0, MAX_SECONDS]; ValueError with one line otherwise."""
    try:
        number = float(value)
    except ValueError:
        raise ValueError("%s=%r: not a number of seconds" % (name, value)) from None
    if not math.isfinite(number) or not 0 < number <= MAX_SECONDS:
        # nan and inf included: a deadline that never comes.
        raise ValueError("%s=%r: must be a finite number > 0 and <= %g" % (name, value, MAX_SECONDS))
    return number


def _directory(name):
    value = os.environ.get(name)
    if value and not os.path.isdir(value):
        raise ValueError("%s=%s: no such directory" % (name, value))


def check():
    """Raise ValueError (one line) for the first bad environment value."""
    from tdx.lib import generations, platform, watchdog
    try:
        platform.requested()
    except platform.PlatformError as e:
        raise ValueError(str(e)) from None
    for name in ("TDX_TIMEOUT", "TDX_RUN_TIMEOUT"):
        if os.environ.get(name):
            seconds(name, os.environ[name])
    watchdog.default_timeout()
    generations.requested()
    _directory("TDX_OUTPUT")
    _directory("TDX_GUEST_DIR")
    trap = os.environ.get("TDX_EMU_TDCALL_TRAP")
    if trap and trap not in TDCALL_TRAPS:
        raise ValueError("TDX_EMU_TDCALL_TRAP=%s: expected exit or ud" % trap)
    # The emulated platform's switches are checked on every platform: a value
    # that names nothing is a mistake wherever it is made.
    try:
        from tdx.emu import faults, host, kernel
    except ImportError:
        return                  # no emulated platform here (missing packages are reported by the modules)
    faults.parse()
    host.requested_mode()
    kernel.requested()


def problem():
    """The first bad environment value as one line, or None."""
    try:
        check()
    except ValueError as e:
        return str(e)
    return None
