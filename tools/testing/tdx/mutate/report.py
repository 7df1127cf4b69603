# SPDX-License-Identifier: GPL-2.0-only
"""The score and the survivors of a run, against the triage file.

score = killed / (run - equivalent), where killed includes timeouts (a
mutant that hangs the suite is caught), `run` counts the mutants whose test
command ran to a verdict, and equivalent mutants are those the triage file
explains as such.  Worker errors are listed apart and count nowhere.
"""

import collections

from tdx.mutate import triage


def summarize(ran, data):
    known = triage.index(data)
    counts = collections.Counter(m.outcome for m in ran)
    survivors = [m for m in ran if m.outcome == "survived"]
    state = {}
    for m in survivors:
        entry = known.get(triage.mutant_key(m))
        state[id(m)] = entry["state"] if entry else "untriaged"
    equivalent = sum(1 for m in survivors if state[id(m)] == "equivalent")
    killed = counts["killed"] + counts["timeout"]
    total = killed + counts["survived"]
    scored = total - equivalent
    return {
        "mutants": total,
        "killed": killed,
        "timeouts": counts["timeout"],
        "survived": counts["survived"],
        "equivalent": equivalent,
        "needs_a_case": sum(1 for m in survivors if state[id(m)] == "needs a case"),
        "untriaged": sum(1 for m in survivors if state[id(m)] == "untriaged"),
        "errors": counts["error"],
        "score": round(100.0 * killed / scored, 1) if scored else 0.0,
    }, state


def format_report(ran, data, summary, state, label, seconds):
    lines = []
    lines.append("mutation score (%s): %d killed / %d (%d run, %d equivalent) = %.1f%%"
                 % (label, summary["killed"], summary["mutants"] - summary["equivalent"],
                    summary["mutants"], summary["equivalent"], summary["score"]))
    lines.append("  killed %d (of which timeouts %d), survived %d: equivalent %d, needs a case %d, "
                 "untriaged %d; worker errors %d; %.0f s"
                 % (summary["killed"], summary["timeouts"], summary["survived"], summary["equivalent"],
                    summary["needs_a_case"], summary["untriaged"], summary["errors"], seconds))
    survivors = [m for m in ran if m.outcome == "survived"]
    if survivors:
        by_file = collections.Counter(m.file for m in survivors)
        lines.append("survivors by file: " + ", ".join("%s %d" % kv for kv in sorted(by_file.items())))
        lines.append("survivors:")
        for m in sorted(survivors, key=lambda m: (m.file, m.line, m.operator)):
            before, after = m.changed_lines()
            lines.append("  %s:%d  %s  [%s]" % (m.file, m.line, m.operator, state[id(m)]))
            lines.append("      - %s" % before)
            lines.append("      + %s" % after)
    errors = [m for m in ran if m.outcome == "error"]
    for m in errors:
        tail = (m.output or "").strip().splitlines()[-1:] or [""]
        lines.append("worker error: %s:%d %s: %s" % (m.file, m.line, m.operator, tail[0]))
    return "\n".join(lines)
