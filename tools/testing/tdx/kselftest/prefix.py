#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Copy stdin to stdout with `# ` before every line, as kselftest's runner
nests a test program's output: text only (bytes that are not UTF-8, and
control characters but tab, become `\\xNN`), and always a final newline, so
that nothing a program prints can glue itself to the runner's next line or
stop a parser that expects text."""

import re
import sys

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean(raw):
    text = raw.decode("utf-8", "backslashreplace").rstrip("\r\n") if raw.endswith(b"\n") else \
        raw.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()), text)


def main():
    out = sys.stdout.buffer
    for raw in iter(sys.stdin.buffer.readline, b""):
        line = clean(raw)
        out.write(("# " + line if line else "#").encode("utf-8") + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
