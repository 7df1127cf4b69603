# SPDX-License-Identifier: GPL-2.0-only
"""tdx-selftests: KVM TDX selftests in Python."""
