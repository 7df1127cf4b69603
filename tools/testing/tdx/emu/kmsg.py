# SPDX-License-Identifier: GPL-2.0-only
"""The emulated platform's kernel log: what the modelled kernel prints.

On the emulated platform the model is the kernel under test, so its log is
the one a case reads (System.kernel_log(), tdx.lib.kmsg): the model appends
the lines the real kernel would print where it would print them (an oops,
a WARN, the hung-task report), and nothing else.  The host's own /dev/kmsg
is not mixed in: its records are about the real KVM under the model.
"""

import threading


class KernelLog:
    """Lines in the order the model printed them (printk), from any thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._lines = []

    def append(self, line):
        with self._lock:
            self._lines.append(line)

    def extend(self, lines):
        with self._lock:
            self._lines.extend(lines)

    def reader(self):
        """A reader from now on, like HostSystem.kernel_log()'s."""
        return _Reader(self)


class _Reader:
    def __init__(self, log):
        self._log = log
        with log._lock:
            self._next = len(log._lines)

    def read(self):
        """The lines printed since the reader was made or last read."""
        with self._log._lock:
            lines = self._log._lines[self._next:]
            self._next += len(lines)
        return lines

    def close(self):
        pass
