# SPDX-License-Identifier: GPL-2.0-only
"""The triage file: every surviving mutant, equivalent (and why) or needing a case.

JSON (tools/testing/tdx/mutate/triage.json):

    {"runs": {"subset": {...score of the last recorded run...}, "all": {...}},
     "survivors": [{"file": "emu/ioctls.py", "line": 123, "function": "init_vm",
                    "operator": "core/NumberReplacer", "before": "...", "after": "...",
                    "state": "needs a case" | "equivalent", "why": "..."}]}

A survivor is matched by what it is (file, function, operator, the line before
and after), not by its line number, so entries survive edits elsewhere in the
file; `line` is refreshed whenever the mutant runs again.  An "equivalent"
entry must say why (a mutant that changes no observable behaviour); such
mutants are left out of the score.  "needs a case" entries are the work list
for new test cases.
"""

import json

STATES = ("needs a case", "equivalent")


class TriageError(Exception):
    """The triage file cannot be used; the message is one line."""


def entry_key(entry):
    return (entry["file"], entry.get("function") or "", entry["operator"], entry["before"], entry["after"])


def mutant_key(mutant):
    before, after = mutant.changed_lines()
    return (mutant.file, mutant.function or "", mutant.operator, before, after)


# The file's licence, as a key: JSON has no comments.
LICENSE = ("SPDX-License-Identifier", "GPL-2.0-only")


def empty():
    return {LICENSE[0]: LICENSE[1], "runs": {}, "survivors": []}


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return empty()
    except (OSError, ValueError) as exc:
        raise TriageError("%s: %s" % (path, exc))
    if not isinstance(data, dict) or not isinstance(data.get("survivors", []), list):
        raise TriageError("%s: not a triage file (want an object with a 'survivors' list)" % path)
    data.setdefault(LICENSE[0], LICENSE[1])
    data.setdefault("runs", {})
    data.setdefault("survivors", [])
    for i, entry in enumerate(data["survivors"]):
        missing = [k for k in ("file", "operator", "before", "after", "state") if k not in entry]
        if missing:
            raise TriageError("%s: survivor %d lacks %s" % (path, i, ", ".join(missing)))
        if entry["state"] not in STATES:
            raise TriageError("%s: survivor %d (%s:%s): state %r is not one of %s"
                              % (path, i, entry["file"], entry.get("line"), entry["state"], ", ".join(STATES)))
        if entry["state"] == "equivalent" and not entry.get("why", "").strip():
            raise TriageError("%s: survivor %d (%s:%s) is marked equivalent without a 'why'"
                              % (path, i, entry["file"], entry.get("line")))
    return data


def index(data):
    return {entry_key(e): e for e in data["survivors"]}


def update(data, ran, run_name, summary):
    """Fold a run into the triage data: new survivors become "needs a case",
    entries whose mutant ran and was killed go (a case now catches it), the
    others keep their state and get the current line.  Returns the data."""
    known = index(data)
    # The same mistake on identical lines of one function is one key: its
    # entry stays while any of them survives, whatever order they ran in.
    surviving = {mutant_key(m) for m in ran if m.outcome == "survived"}
    for m in ran:
        key = mutant_key(m)
        entry = known.get(key)
        if m.outcome == "survived":
            if entry is None:
                before, after = key[3], key[4]
                entry = {"file": m.file, "line": m.line, "function": m.function or "",
                         "operator": m.operator, "before": before, "after": after,
                         "state": "needs a case", "why": ""}
                known[key] = entry
            entry["line"] = m.line
        elif m.outcome in ("killed", "timeout") and entry is not None and key not in surviving:
            del known[key]
    data["survivors"] = sorted(known.values(), key=lambda e: (e["file"], e.get("line") or 0, e["operator"]))
    data["runs"][run_name] = summary
    return data


def save(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
