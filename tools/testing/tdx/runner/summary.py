# SPDX-License-Identifier: GPL-2.0-only
"""The summary table on stderr: one row per module, then the totals."""

from tdx.lib import ktap


def _counts(outcome):
    """(passed, failed, skipped) by Outcome.counts, as JUnit and KTAP count."""
    c = outcome.counts()
    return (c["pass"] + c["xfail"], c["fail"] + c["xpass"] + c["error"], c["skip"])


def _verdict_text(outcome, width=60):
    """`ok`, `not ok # TIMEOUT 2 seconds`...: the module's result line without number and name."""
    text = ktap.result_line(1, "-", outcome.status, outcome.reason).replace(" 1 - ", " ").replace(" 1 -", "")
    return text if len(text) <= width else text[:width - 3] + "..."


def summary(outcomes, stream):
    rows = []
    for o in outcomes:
        passed, failed, skipped = _counts(o)
        rows.append([o.name, passed, failed, skipped, "%.1f" % o.job.seconds, _verdict_text(o)])
    totals = [sum(r[i] for r in rows) for i in (1, 2, 3)]
    rows.append(["total", *totals, "%.1f" % sum(o.job.seconds for o in outcomes), ""])
    headers = ["module", "passed", "failed", "skipped", "seconds", "result"]
    try:
        from tabulate import tabulate
        text = tabulate(rows, headers=headers, disable_numparse=True)
    except ImportError:                         # a declared dependency; keep the run's end alive anyway
        table = [headers] + rows
        widths = [max(len(str(r[i])) for r in table) for i in range(len(headers))]
        text = "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in table)
    stream.write(text + "\n")
    stream.flush()
