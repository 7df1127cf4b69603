# SPDX-License-Identifier: GPL-2.0-only
"""Host-side library: KVM uAPI, ioctl wrappers, guest loading and boot."""
