# SPDX-License-Identifier: GPL-2.0-only
"""Every fault switch of the emulated platform is caught by the cases named for it.

A fault switch (emu/faults.py, TDX_EMU_FAULTS) re-creates a historical KVM-TDX
bug in the model.  A case that passes with and without its bug tests nothing:
here each named case must be `ok` on the faithful model and `not ok` with the
fault switched on.  CATCHES is the map a reader uses to find the regression
test for a bug.
"""

import re
import subprocess
import sys
import unittest

from tdx.emu import faults
from tdx.tests.test_driver import env
from tdx.tests.support import requires_kvm

CATCHES = {
    # docs/kvm-tdx-uapi.md §4.13 history: the TDVMCALL MSR path ignored the MSR filter.
    "msr-filter-ignored": ("ghci_msr", [
        "test_msr_filter_bug_rdmsr_denied_exits_to_user",
        "test_msr_filter_bug_wrmsr_denied_exits_to_user",
        "test_msr_filter_bug_rdmsr_denied_user_error_invalid_operand",
        "test_msr_filter_bug_wrmsr_denied_user_error_invalid_operand",
        "test_msr_filter_bug_read_denied_write_allowed",
        "test_msr_filter_bug_write_denied_read_allowed",
        "test_msr_filter_bug_denied_without_cap_invalid_operand",
        "test_msr_filter_bug_checked_before_emulation",
        "test_msr_filter_bug_anchor_reads",
        "test_msr_filter_bug_anchor_writes",
    ]),
    # ... honoured the filter but never exited to userspace (Yamahata's pre-merge series).
    "msr-no-user-exit": ("ghci_msr", [
        "test_msr_filter_bug_rdmsr_denied_exits_to_user",
        "test_msr_filter_bug_wrmsr_denied_exits_to_user",
        "test_msr_filter_bug_rdmsr_denied_user_error_invalid_operand",
        "test_msr_filter_bug_wrmsr_denied_user_error_invalid_operand",
        "test_unknown_msr_exits_with_reason_inval",
        "test_wrmsr_read_only_msr_exits_inval_when_enabled",
    ]),
    "io-size-unchecked": ("ghci_io", [
        "test_size_0_invalid_operand",
        "test_size_3_invalid_operand",
        "test_size_5_invalid_operand",
        "test_size_8_invalid_operand",
        "test_size_upper_bits_invalid_operand",
    ]),
    "mmio-shared-bit-unchecked": ("ghci_mmio", [
        "test_private_gpa_read_invalid_operand",
        "test_private_gpa_write_invalid_operand",
        "test_crossing_shared_into_private_read_invalid_operand",
        "test_crossing_shared_into_private_write_invalid_operand",
    ]),
    # The private view backed by host-visible memory.
    "private-visible": ("private_mem_access", [
        "test_private_data_not_in_userspace_memory",
        "test_shared_memory_coherence",
        "test_private_shared_private_reads_zero",
        "test_implicit_shared_store",
        "test_implicit_private_store",
    ]),
    # A page converted back to private keeps its old content.
    "no-zero-on-private": ("private_mem_access", [
        "test_private_shared_private_reads_zero",
    ]),
    "mapgpa-no-align-check": ("private_mem_access", [
        "test_map_gpa_align_error",
    ]),
    # GetQuote as the 2025-04 pre-merge handler had it: size and alignment checks ...
    "getquote-size-checks": ("ghci_quote", [
        "test_get_quote_size_not_checked",
        "test_get_quote_gpa_alignment_not_checked",
    ]),
    # ... and the GPA passed on with its shared bit.
    "getquote-gpa-unstripped": ("ghci_quote", [
        "test_get_quote_exit_fields",
        "test_get_quote_first_shared_gpa_exits",
        "test_get_quote_buffer_protocol",
    ]),
    # 6.16-rc3..rc5: SetupEventNotifyInterrupt not handled (before 4580dbef5ce0).
    "setup-event-notify-absent": ("ghci_quote", [
        "test_setup_event_notify_vector_32_exits",
        "test_setup_event_notify_vector_255_exits",
        "test_setup_event_notify_vector_31_invalid_operand",
        "test_event_notify_after_quote",
    ]),
    # The pre-merge HLT handling that could block with a deliverable vector in the vIRR.
    "hlt-ignores-rvi": ("ghci_cpuid", [
        "test_hlt_woken_by_interrupt_pending_in_virr",
    ]),
    "hlt-ignores-blocked-flag": ("ghci_cpuid", [
        "test_hlt_interrupts_blocked_not_woken_by_interrupt",
    ]),
    "mapgpa-no-interrupt-check": ("private_mem_access", [
        "test_map_gpa_retry_on_pending_interrupt",
    ]),
    "msi-spiv-ignored": ("ghci_msr", [
        "test_signal_msi_reaches_handler",
    ]),
    # The model before interrupts were modelled: ICR stored, no IPI.
    "icr-no-ipi": ("ghci_msr", [
        "test_icr_self_ipi",
    ]),
    "eoi-lost": ("ghci_msr", [
        "test_signal_msi_reaches_handler",
    ]),
}


def run_module(module, cases, fault=None):
    argv = [sys.executable, "-m", "tdx.x86_64." + module]
    for case in cases:
        argv += ["-t", case]
    extra = {"TDX_PLATFORM": "emulated"}
    if fault:
        extra["TDX_EMU_FAULTS"] = fault
    p = subprocess.run(argv, env=env(**extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300, stdin=subprocess.DEVNULL)
    results = {}
    for m in re.finditer(r"^(ok|not ok) \d+ %s\.(\S+)" % re.escape(module), p.stdout, re.M):
        results[m.group(2)] = m.group(1)
    return p.returncode, results, p.stdout


@requires_kvm
class FaultSwitches(unittest.TestCase):
    def test_every_fault_has_catching_cases(self):
        self.assertEqual(sorted(CATCHES), sorted(faults.FAULTS))
        for fault, (module, cases) in CATCHES.items():
            self.assertTrue(cases, "%s: no case is named to catch it" % fault)


def _make(fault, module, cases):
    def test(self):
        if not cases:
            self.fail("%s: no case is named to catch it" % fault)
        rc, clean, out = run_module(module, cases)
        self.assertEqual(clean, dict.fromkeys(cases, "ok"), "without the fault:\n" + out[-3000:])
        rc, faulty, out = run_module(module, cases, fault)
        self.assertEqual(faulty, dict.fromkeys(cases, "not ok"), "with %s:\n%s" % (fault, out[-3000:]))
        self.assertEqual(rc, 1)
    test.__name__ = "test_%s_caught" % fault.replace("-", "_")
    test.__doc__ = "%s is caught by %s" % (fault, ", ".join("%s.%s" % (module, c) for c in cases))
    return test


for _fault, (_module, _cases) in CATCHES.items():
    setattr(FaultSwitches, "test_%s_caught" % _fault.replace("-", "_"), _make(_fault, _module, _cases))


if __name__ == "__main__":
    unittest.main()
