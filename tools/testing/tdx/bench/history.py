# SPDX-License-Identifier: GPL-2.0-only
"""`make bench --json` history: every run's summary appended to a JSON-lines
file under the build output, and each ratio compared with the last run's.

A ratio measured on a shared machine moves by several per cent from run to
run, so only a ratio that grew by more than REGRESSION over the last recorded
run is flagged; the numbers are shown either way.  The file lives with the
build ($(OUTPUT)/bench/history.jsonl), not in the source tree: it describes
one machine.
"""

import json
import os

FILE_NAME = "history.jsonl"
REGRESSION = 1.10       # flag a ratio more than 10 % above the last run's


class HistoryError(Exception):
    """The history file cannot be read or written (one-line message)."""


def default_path(environ=None):
    """$TDX_OUTPUT/bench/history.jsonl, or None without a build directory."""
    environ = os.environ if environ is None else environ
    output = environ.get("TDX_OUTPUT")
    return os.path.join(output, "bench", FILE_NAME) if output else None


def last_record(path):
    """(the last run recorded in `path` or None, [one-line warnings]).

    A line that is not a run record (a truncated write, an edit) is skipped
    with a warning: the run before it is still worth comparing with.
    """
    warnings = []
    last = None
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None, warnings
    except (OSError, UnicodeDecodeError) as e:
        raise HistoryError("%s: cannot read: %s" % (path, getattr(e, "strerror", None) or e)) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("rows"), dict):
            warnings.append("%s:%d: not a bench record; skipped" % (path, number))
            continue
        last = record
    return last, warnings


def append(path, line):
    """Add one run (a one-line JSON summary) to the history."""
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(line.rstrip("\n") + "\n")
    except OSError as e:
        raise HistoryError("%s: cannot write: %s" % (path, e.strerror or e)) from None


def _ratio(record, key):
    row = record.get("rows", {}).get(key)
    value = row.get("ratio") if isinstance(row, dict) else None
    return value if isinstance(value, (int, float)) and value > 0 else None


def compare(current, last):
    """Per row of `current` with a ratio: (name, now, before or None, change or None, flag)."""
    out = []
    for key, row in current.get("rows", {}).items():
        now = _ratio(current, key)
        if now is None:
            continue
        before = _ratio(last, key) if last else None
        change = now / before - 1 if before else None
        flag = "REGRESSION" if before and now > before * REGRESSION else ""
        out.append((row.get("name", key), now, before, change, flag))
    return out


def describe(last):
    """One line naming the run compared with."""
    if not last:
        return "no earlier run recorded"
    parts = [str(last[k]) for k in ("date", "commit") if last.get(k)]
    return "last run" + (": " + ", ".join(parts) if parts else "")


def table(comparison):
    from tabulate import tabulate
    body = [[name, "%.2fx" % now, "" if before is None else "%.2fx" % before,
             "new" if change is None else "%+.0f%%" % (100 * change), flag]
            for name, now, before, change, flag in comparison]
    return tabulate(body, headers=["row", "ratio", "last run", "change", ""], tablefmt="simple",
                    disable_numparse=True, colalign=("left", "right", "right", "right", "left"))
