# SPDX-License-Identifier: GPL-2.0-only
"""Mutation testing of the emulated platform with cosmic-ray (docs/mutation.md).

`make mutate` (a sample, minutes) or `make mutate MUTATE=all` (every mutant):
__main__ (the command), operators (the kernel-style mistakes), suite (the
test command a mutant must fail), engine (enumerate, pick, run, record),
worker (one copy of the tree, one mutant at a time), sandbox (the copies),
report (score, survivors), triage (triage.json: why each survivor lives).
"""
