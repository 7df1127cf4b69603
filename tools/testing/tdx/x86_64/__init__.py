# SPDX-License-Identifier: GPL-2.0-only
"""Test modules, one per area: host side here, guest side in the .c beside it."""
