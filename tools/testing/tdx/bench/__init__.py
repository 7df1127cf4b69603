# SPDX-License-Identifier: GPL-2.0-only
"""`make bench`: the library's speed as ratios against a C baseline (see bench/README)."""
