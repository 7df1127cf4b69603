# SPDX-License-Identifier: GPL-2.0-only
"""The host kernel's log, read from a mark on: /dev/kmsg.

A reader opened with O_NONBLOCK and moved to the end (SEEK_END) returns, one
read(2) per record, what the kernel prints afterwards: "prefix,seq,usec,
flags;text" and continuation lines starting with a space
(Documentation/ABI/testing/dev-kmsg).  read() fails EPIPE where records were
overwritten before they were read (the reader then goes on with the next
one) and EAGAIN at the end.  Opening it needs CAP_SYSLOG where
kernel.dmesg_restrict is set (HostSystem.kernel_log() raises the OSError;
TdxTestCase.kernel_log() skips naming it).

problems(lines): the records that say the kernel hit a bug (an oops, a
BUG(), a WARN(), a list_debug report).
"""

import errno
import os
import re

DEV_KMSG = "/dev/kmsg"
RECORD_MAX = 8192           # larger than any record (PRINTK_MESSAGE_MAX is 2048 + prefix)

PROBLEM = re.compile(r"\bBUG\b|\bWARNING:|\bOops\b|list_(?:add|del) corruption|general protection fault|"
                     r"\bCall Trace:")


class KmsgReader:
    """The records /dev/kmsg gets from now on."""

    def __init__(self, path=DEV_KMSG):
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            os.lseek(self.fd, 0, os.SEEK_END)
        except OSError:
            os.close(self.fd)
            raise

    def read(self):
        """The text of each record written since the reader was made or last read."""
        lines = []
        while True:
            try:
                record = os.read(self.fd, RECORD_MAX)
            except BlockingIOError:
                return lines
            except OSError as e:
                if e.errno == errno.EPIPE:
                    continue                # overwritten records: go on with the next
                raise
            if not record:
                return lines
            text = record.decode("utf-8", "replace").partition(";")[2]
            lines.append(text.split("\n", 1)[0])       # continuation lines (" KEY=value") dropped

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def problems(lines):
    return [line for line in lines if PROBLEM.search(line)]
