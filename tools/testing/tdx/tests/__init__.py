# SPDX-License-Identifier: GPL-2.0-only
"""Unit tests of the tdx package itself."""
