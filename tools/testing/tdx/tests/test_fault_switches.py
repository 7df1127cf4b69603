# SPDX-License-Identifier: GPL-2.0-only
"""Every fault switch of the emulated platform is caught by the cases named for it.

A fault switch (emu/faults.py, TDX_EMU_FAULTS) re-creates a historical KVM-TDX
bug in the model.  A case that passes with and without its bug tests nothing:
here each named case must be `ok` on the faithful model and `not ok` with the
fault switched on, and every other case of the modules that hold them must
stay `ok` (the switch breaks nothing else).  CATCHES is the map a reader uses
to find the regression test for a bug; docs/bug-catalogue.md prints it with
the fixes (test_catalogue_* keep the two in step).

Speed: each switch runs only the modules of its named cases (whole modules,
so that "nothing else breaks" covers them), several at once.  With
TDX_FAULT_SWITCHES_FULL=1 every switch runs the whole suite instead (a few
minutes; not part of `make check`).

    python3 -m tdx.tests.test_fault_switches --markdown   # the catalogue table
"""

import os
import re
import subprocess
import sys
import unittest
from concurrent.futures import ThreadPoolExecutor

from tdx.emu import faults
from tdx.tests.test_driver import env
from tdx.tests.support import requires_kvm

HERE = os.path.dirname(os.path.abspath(__file__))
TDX = os.path.dirname(HERE)
X86_64 = os.path.join(TDX, "x86_64")
CATALOGUE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(TDX))), "docs", "bug-catalogue.md")
FULL_ENV = "TDX_FAULT_SWITCHES_FULL"
JOBS = 3
MODULE_TIMEOUT = 300

# fault -> the cases ("module.case") that fail with it, and only they: a new case
# that catches a switch is added here (and to docs/bug-catalogue.md).
CATCHES = {
    "cap-readonly-mem-advertised": (
        "private_mem_access.test_readonly_memslot_refused",
    ),
    "caps-cmd-copied-back": (
        "td_lifecycle.test_capabilities_cmd_read_only",
    ),
    "caps-getquote-advertised": (
        "td_lifecycle.test_capabilities_cmd_read_only",
        "td_lifecycle.test_capabilities_user_tdvmcallinfo",
    ),
    "caps-unused-fields-garbage": (
        "td_lifecycle.test_capabilities_unused_fields_zeroed",
    ),
    "eoi-lost": (
        "ghci_msr.test_signal_msi_reaches_handler",
    ),
    "fatal-error-rdx-rbx-swapped": (
        "td_lifecycle.test_report_fatal_error_every_register",
    ),
    "fatal-error-v1-layout": (
        "td_lifecycle.test_report_fatal_error",
        "td_lifecycle.test_report_fatal_error_every_register",
        "td_lifecycle.test_report_fatal_error_from_second_vcpu",
        "td_lifecycle.test_report_fatal_error_without_gpa",
    ),
    "getquote-gpa-unstripped": (
        "ghci_quote.test_event_notify_after_quote",
        "ghci_quote.test_get_quote_buffer_protocol",
        "ghci_quote.test_get_quote_completion_copies_ret_to_r10",
        "ghci_quote.test_get_quote_exit_fields",
        "ghci_quote.test_get_quote_first_shared_gpa_exits",
        "ghci_quote.test_get_quote_gpa_alignment_not_checked",
        "ghci_quote.test_get_quote_only_the_shared_bit_is_stripped",
        "ghci_quote.test_get_quote_ret_untouched_is_subfunc_unsupported",
        "ghci_quote.test_get_quote_size_not_checked",
    ),
    "getquote-size-checks": (
        "ghci_quote.test_get_quote_gpa_alignment_not_checked",
        "ghci_quote.test_get_quote_only_the_shared_bit_is_stripped",
        "ghci_quote.test_get_quote_size_not_checked",
    ),
    "hlt-ignores-blocked-flag": (
        "ghci_cpuid.test_hlt_interrupts_blocked_not_woken_by_interrupt",
    ),
    "hlt-ignores-rvi": (
        "ghci_cpuid.test_hlt_woken_by_interrupt_pending_in_virr",
    ),
    "hypercall-ret-stale": (
        "ghci_cpuid.test_kvm_hypercall_map_gpa_range_exits_with_raw_args",
        "private_mem_access.test_map_gpa_exit_clears_stale_ret",
    ),
    "icr-no-ipi": (
        "ghci_cpuid.test_hlt_woken_by_ipi_from_another_vcpu",
        "ghci_msr.test_icr_self_ipi",
    ),
    "init-mem-end-past-last-byte": (
        "private_mem_access.test_init_mem_region_ends_below_shared_bit",
    ),
    "init-mem-null-source-unchecked": (
        "private_mem_access.test_init_mem_region_null_source",
    ),
    "io-direction-nonzero-out": (
        "ghci_io.test_direction_2_invalid_operand",
        "ghci_io.test_direction_upper_bits_invalid_operand",
    ),
    "io-size-only-above-4": (
        "ghci_io.test_size_0_invalid_operand",
        "ghci_io.test_size_3_invalid_operand",
        "ghci_io.test_unexposed_r12_not_leaked",
    ),
    "io-size-unchecked": (
        "ghci_io.test_size_0_invalid_operand",
        "ghci_io.test_size_3_invalid_operand",
        "ghci_io.test_size_5_invalid_operand",
        "ghci_io.test_size_8_invalid_operand",
        "ghci_io.test_size_upper_bits_invalid_operand",
        "ghci_io.test_unexposed_r10_keeps_guest_value",
        "ghci_io.test_unexposed_r12_not_leaked",
    ),
    "mapgpa-no-align-check": (
        "private_mem_access.test_map_gpa_align_error",
    ),
    "mapgpa-no-exit": (
        "private_mem_access.test_map_gpa_2m_chunks",
        "private_mem_access.test_map_gpa_bad_completion_fails_run",
        "private_mem_access.test_map_gpa_einval_completion",
        "private_mem_access.test_map_gpa_exit_clears_stale_ret",
        "private_mem_access.test_map_gpa_last_pages",
        "private_mem_access.test_map_gpa_retry_completion",
        "private_mem_access.test_map_gpa_retry_on_pending_interrupt",
        "private_mem_access.test_private_shared_private_reads_zero",
        "private_mem_access.test_shared_memory_coherence",
        "private_mem_conversions.test_cycle_one_vcpu",
        "private_mem_conversions.test_cycle_two_memslots_one_guest_memfd",
        "private_mem_conversions.test_cycle_two_vcpus_adjacent_ranges",
        "private_mem_conversions.test_cycle_two_vcpus_at_once",
        "private_mem_conversions.test_cycle_with_punch_hole",
        "private_mem_conversions.test_explicit_round_trip_keeps_neighbours",
        "private_mem_conversions.test_explicit_to_shared_keeps_neighbours",
        "private_mem_conversions.test_holes_in_a_private_range",
        "private_mem_conversions.test_map_gpa_2m_aligned_both_directions",
        "private_mem_conversions.test_map_gpa_2m_unaligned_both_directions",
        "private_mem_conversions.test_map_gpa_to_current_state_keeps_data",
        "private_mem_conversions.test_round_trips_one_page",
        "private_mem_conversions.test_shared_to_private_write_not_seen",
        "private_mem_conversions.test_stage_2m_at_0",
        "private_mem_conversions.test_stage_2m_at_4k",
        "private_mem_conversions.test_stage_page_at_0",
        "private_mem_conversions.test_stage_page_at_2m",
        "private_mem_conversions.test_stage_page_at_4k",
    ),
    "mapgpa-no-interrupt-check": (
        "private_mem_access.test_map_gpa_retry_on_pending_interrupt",
    ),
    "mapgpa-user-errors-ignored": (
        "private_mem_access.test_map_gpa_bad_completion_fails_run",
        "private_mem_access.test_map_gpa_retry_completion",
    ),
    "memslot-delete-deadlock": (
        "private_mem_access.test_private_fault_races_memslot_delete",
    ),
    "mmio-shared-bit-kept": (
        "ghci_mmio.test_direction_upper_bits_ignored",
        "ghci_mmio.test_last_shared_bytes",
        "ghci_mmio.test_ram_gpa_still_exits",
        "ghci_mmio.test_read_sizes",
        "ghci_mmio.test_read_zero_extended",
        "ghci_mmio.test_size_upper_bits_ignored",
        "ghci_mmio.test_unaligned_page_crossing",
        "ghci_mmio.test_unexposed_r15_not_leaked",
        "ghci_mmio.test_unexposed_registers_preserved",
        "ghci_mmio.test_write_sizes",
        "ghci_mmio.test_xapic_page_exits_to_user",
    ),
    "mmio-shared-bit-unchecked": (
        "ghci_mmio.test_crossing_shared_into_private_read_invalid_operand",
        "ghci_mmio.test_crossing_shared_into_private_write_invalid_operand",
        "ghci_mmio.test_private_gpa_read_invalid_operand",
        "ghci_mmio.test_private_gpa_write_invalid_operand",
        "ghci_mmio.test_unexposed_r14_not_leaked",
    ),
    "mmio-size-only-above-8": (
        "ghci_mmio.test_read_bad_sizes_invalid_operand",
        "ghci_mmio.test_write_bad_sizes_invalid_operand",
    ),
    "mmio-xapic-page-in-kernel": (
        "ghci_mmio.test_xapic_page_exits_to_user",
    ),
    "msi-spiv-ignored": (
        "ghci_msr.test_signal_msi_destination_and_x2apic_api",
        "ghci_msr.test_signal_msi_reaches_handler",
    ),
    "msr-filter-ignored": (
        "ghci_msr.test_misc_enable_after_refused_writes",
        "ghci_msr.test_msr_filter_allow_form_userspace_emulates",
        "ghci_msr.test_msr_filter_bug_anchor_reads",
        "ghci_msr.test_msr_filter_bug_anchor_writes",
        "ghci_msr.test_msr_filter_bug_checked_before_emulation",
        "ghci_msr.test_msr_filter_bug_denied_other_reasons_enabled_no_exit",
        "ghci_msr.test_msr_filter_bug_denied_without_cap_invalid_operand",
        "ghci_msr.test_msr_filter_bug_rdmsr_denied_exits_to_user",
        "ghci_msr.test_msr_filter_bug_rdmsr_denied_user_error_invalid_operand",
        "ghci_msr.test_msr_filter_bug_read_denied_write_allowed",
        "ghci_msr.test_msr_filter_bug_write_denied_read_allowed",
        "ghci_msr.test_msr_filter_bug_wrmsr_denied_exits_to_user",
        "ghci_msr.test_msr_filter_bug_wrmsr_denied_user_error_invalid_operand",
        "ghci_msr.test_msr_filter_change_seen_by_every_vcpu",
        "ghci_msr.test_msr_filter_exit_counts",
        "ghci_msr.test_msr_filter_range_edges",
        "ghci_msr.test_msr_filter_removed_at_run_time",
        "ghci_msr.test_msr_filter_replaced_at_run_time",
        "ghci_msr.test_msr_filter_x2apic_range_edges",
        "ghci_msr.test_user_space_msr_exits_changed_at_run_time",
    ),
    "msr-no-user-exit": (
        "ghci_msr.test_arch_capabilities_without_cpuid_bit_exit_reason_inval",
        "ghci_msr.test_mcg_cap_and_mtrrcap_not_writable",
        "ghci_msr.test_msr_filter_allow_form_userspace_emulates",
        "ghci_msr.test_msr_filter_bug_checked_before_emulation",
        "ghci_msr.test_msr_filter_bug_rdmsr_denied_exits_to_user",
        "ghci_msr.test_msr_filter_bug_rdmsr_denied_user_error_invalid_operand",
        "ghci_msr.test_msr_filter_bug_read_denied_write_allowed",
        "ghci_msr.test_msr_filter_bug_write_denied_read_allowed",
        "ghci_msr.test_msr_filter_bug_wrmsr_denied_exits_to_user",
        "ghci_msr.test_msr_filter_bug_wrmsr_denied_user_error_invalid_operand",
        "ghci_msr.test_msr_filter_change_seen_by_every_vcpu",
        "ghci_msr.test_msr_filter_exit_counts",
        "ghci_msr.test_msr_filter_range_edges",
        "ghci_msr.test_msr_filter_removed_at_run_time",
        "ghci_msr.test_msr_filter_replaced_at_run_time",
        "ghci_msr.test_msr_filter_x2apic_range_edges",
        "ghci_msr.test_refused_msrs_exit_reason_inval",
        "ghci_msr.test_unknown_msr_exits_with_reason_inval",
        "ghci_msr.test_user_space_msr_exits_changed_at_run_time",
        "ghci_msr.test_wrmsr_read_only_msr_exits_inval_when_enabled",
    ),
    "no-zero-on-private": (
        "guest_memfd.test_punch_hole_private_page_seen_by_guest",
        "guest_memfd.test_punch_hole_whole_file_then_one_page",
        "private_mem_access.test_private_shared_private_reads_zero",
        "private_mem_conversions.test_explicit_round_trip_keeps_neighbours",
        "private_mem_conversions.test_round_trips_one_page",
    ),
    "private-visible": (
        "guest_memfd.test_punch_hole_leaves_shared_page",
        "private_mem_access.test_host_view_of_added_page",
        "private_mem_access.test_implicit_private_store",
        "private_mem_access.test_implicit_shared_load",
        "private_mem_access.test_implicit_shared_store",
        "private_mem_access.test_private_data_not_in_userspace_memory",
        "private_mem_access.test_private_shared_private_reads_zero",
        "private_mem_access.test_shared_memory_coherence",
        "private_mem_access.test_store_before_accept_is_ve",
        "private_mem_conversions.test_cycle_one_vcpu",
        "private_mem_conversions.test_cycle_two_memslots_one_guest_memfd",
        "private_mem_conversions.test_cycle_two_vcpus_adjacent_ranges",
        "private_mem_conversions.test_cycle_two_vcpus_at_once",
        "private_mem_conversions.test_cycle_with_punch_hole",
        "private_mem_conversions.test_explicit_round_trip_keeps_neighbours",
        "private_mem_conversions.test_explicit_to_shared_keeps_neighbours",
        "private_mem_conversions.test_holes_in_a_private_range",
        "private_mem_conversions.test_implicit_cycle_one_vcpu",
        "private_mem_conversions.test_implicit_cycle_two_vcpus_at_once",
        "private_mem_conversions.test_implicit_to_private_keeps_neighbours",
        "private_mem_conversions.test_implicit_to_shared_keeps_neighbours",
        "private_mem_conversions.test_map_gpa_2m_aligned_both_directions",
        "private_mem_conversions.test_map_gpa_2m_unaligned_both_directions",
        "private_mem_conversions.test_map_gpa_to_current_state_keeps_data",
        "private_mem_conversions.test_round_trips_one_page",
        "private_mem_conversions.test_shared_to_private_write_not_seen",
        "private_mem_conversions.test_stage_2m_at_0",
        "private_mem_conversions.test_stage_2m_at_4k",
        "private_mem_conversions.test_stage_page_at_0",
        "private_mem_conversions.test_stage_page_at_2m",
        "private_mem_conversions.test_stage_page_at_4k",
        "td_lifecycle.test_private_memory_only",
    ),
    "readonly-memslot-accepted": (
        "private_mem_access.test_readonly_memslot_refused",
    ),
    "setup-event-notify-absent": (
        "ghci_quote.test_event_notify_after_quote",
        "ghci_quote.test_setup_event_notify_ret_untouched_is_subfunc_unsupported",
        "ghci_quote.test_setup_event_notify_upper_bits_invalid_operand",
        "ghci_quote.test_setup_event_notify_vector_255_exits",
        "ghci_quote.test_setup_event_notify_vector_256_invalid_operand",
        "ghci_quote.test_setup_event_notify_vector_31_invalid_operand",
        "ghci_quote.test_setup_event_notify_vector_32_exits",
    ),
    "subfunc-invalid-operand": (
        "ghci_cpuid.test_unknown_subfunction_subfunc_unsupported",
        "ghci_io.test_unexposed_r11_not_leaked",
        "private_mem_access.test_map_gpa_without_exit_hypercall",
    ),
    "tdvmcall-errno-status": (
        "ghci_cpuid.test_unknown_subfunction_subfunc_unsupported",
        "ghci_io.test_size_5_invalid_operand",
        "ghci_io.test_size_8_invalid_operand",
        "ghci_io.test_size_upper_bits_invalid_operand",
        "ghci_io.test_unexposed_r11_not_leaked",
        "ghci_msr.test_arch_capabilities_with_cpuid_bit",
        "ghci_msr.test_arch_capabilities_without_cpuid_bit",
        "ghci_msr.test_arch_capabilities_without_cpuid_bit_exit_reason_inval",
        "ghci_msr.test_fixed_4k_mtrrs_each_its_own",
        "ghci_msr.test_fixed_64k_16k_mtrrs_each_its_own",
        "ghci_msr.test_fixed_mtrr_bad_type_in_each_byte",
        "ghci_msr.test_icr_self_ipi",
        "ghci_msr.test_mce_bank_ranges",
        "ghci_msr.test_mce_bank_writes",
        "ghci_msr.test_mcg_cap_and_mtrrcap_not_writable",
        "ghci_msr.test_mcg_ctl_without_ctl_p",
        "ghci_msr.test_mcg_ext_ctl_needs_lmce",
        "ghci_msr.test_misc_enable_after_refused_writes",
        "ghci_msr.test_misc_features_enables_reserved_bits",
        "ghci_msr.test_msr_filter_allow_form_userspace_emulates",
        "ghci_msr.test_msr_filter_bug_anchor_reads",
        "ghci_msr.test_msr_filter_bug_anchor_writes",
        "ghci_msr.test_msr_filter_bug_denied_other_reasons_enabled_no_exit",
        "ghci_msr.test_msr_filter_bug_denied_without_cap_invalid_operand",
        "ghci_msr.test_msr_filter_bug_rdmsr_denied_user_error_invalid_operand",
        "ghci_msr.test_msr_filter_bug_wrmsr_denied_user_error_invalid_operand",
        "ghci_msr.test_msr_filter_x2apic_range_edges",
        "ghci_msr.test_poll_control_only_bit_0",
        "ghci_msr.test_refused_msrs_exit_reason_inval",
        "ghci_msr.test_refused_msrs_no_exit_for_reason_unknown",
        "ghci_msr.test_unknown_msr_no_cap_invalid_operand",
        "ghci_msr.test_unknown_msr_reason_unknown_alone_no_exit",
        "ghci_msr.test_user_space_msr_exits_changed_at_run_time",
        "ghci_msr.test_variable_mtrr_edges",
        "ghci_msr.test_wrmsr_invalid_values_invalid_operand",
        "ghci_msr.test_wrmsr_read_only_msr_exits_inval_when_enabled",
        "ghci_msr.test_wrmsr_read_only_msrs_invalid_operand",
        "ghci_msr.test_x2apic_cpu_virtualized_registers_not_emulated",
        "ghci_msr.test_x2apic_isr_tmr_irr_above_0",
        "ghci_msr.test_x2apic_range_ends_refused",
        "ghci_msr.test_x2apic_write_masks_and_cmci",
    ),
    "tdvmcallinfo-leaf1-unhandled": (
        "ghci_cpuid.test_get_td_vm_call_info_leaf1_exits_to_user",
    ),
    "tsc-khz-vcpu-accepted": (
        "td_lifecycle.test_set_tsc_khz",
    ),
    "tsc-khz-vm-after-vcpu-accepted": (
        "td_lifecycle.test_set_tsc_khz",
    ),
    "vcpu-create-list-add": (
        "td_lifecycle.test_duplicate_vcpu_id_then_vcpus_on_its_cpu",
    ),
    "vm-state-unguarded": (
        "td_lifecycle.test_finalize_races_init_vcpu",
        "td_lifecycle.test_init_mem_region_races_init_vcpu",
    ),
    "vp-init-no-mmu-lock": (
        "td_lifecycle.test_punch_hole_races_init_vcpu",
    ),
    "x2apic-msr-ranges-collapsed": (
        "ghci_msr.test_x2apic_isr_tmr_irr_above_0",
    ),
}


def modules_of(cases):
    return sorted({c.split(".", 1)[0] for c in cases})


def all_modules():
    return sorted(n[:-3] for n in os.listdir(X86_64) if n.endswith(".py") and not n.startswith("_"))


def run_module(module, fault=None):
    """{case: "ok" | "not ok"} of one module run (whole module, newest release)."""
    extra = {"TDX_PLATFORM": "emulated", "TDX_EMU_KERNEL": "newest", "TDX_EMU_FAULTS": fault or ""}
    e = env(**extra)
    e.pop("TDX_KVM_GENERATION", None)
    p = subprocess.run([sys.executable, "-m", "tdx.x86_64." + module], env=e, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=MODULE_TIMEOUT,
                       stdin=subprocess.DEVNULL)
    results = {}
    for m in re.finditer(r"^(ok|not ok) \d+ (\S+)", p.stdout, re.M):
        results[m.group(2)] = m.group(1)
    return p.returncode, results, p.stdout


def defined_cases(module):
    """The test_* methods an x86_64 module defines (read from its source)."""
    with open(os.path.join(X86_64, module + ".py")) as f:
        return {"%s.%s" % (module, m) for m in re.findall(r"^    def (test_\w+)\(self", f.read(), re.M)}


def markdown():
    """The catalogue's table of re-created bugs (docs/bug-catalogue.md embeds it verbatim)."""
    rows = ["| fault switch | bug | fix | first fixed release | model (kernel function) | catching cases |",
            "|---|---|---|---|---|---|"]
    for name in sorted(faults.FAULTS):
        f = faults.FAULTS[name]
        rows.append("| `%s` | %s | %s | %s | %s (%s) | %s |" % (
            name, f.bug, f.fix, f.release, f.where, f.function,
            ", ".join("`%s`" % c for c in CATCHES.get(name, ()))))
    return "\n".join(rows) + "\n"


class Catalogue(unittest.TestCase):
    """CATCHES, emu/faults.py and docs/bug-catalogue.md agree (no KVM needed)."""

    def test_every_fault_has_catching_cases(self):
        self.assertEqual(sorted(CATCHES), sorted(faults.FAULTS))
        for fault, cases in CATCHES.items():
            self.assertTrue(cases, "%s: no case is named to catch it" % fault)
            self.assertEqual(len(set(cases)), len(cases), "%s: a case is named twice" % fault)

    def test_every_named_case_exists(self):
        known = set()
        for module in all_modules():
            known |= defined_cases(module)
        for fault, cases in CATCHES.items():
            for case in cases:
                self.assertIn(case, known, "%s: %s is no case of tdx/x86_64" % (fault, case))

    def test_every_fault_branch_is_where_it_says(self):
        """The marked branch `"name" in ...faults` is in the file FAULTS names."""
        for name, f in faults.FAULTS.items():
            with open(os.path.join(TDX, f.where)) as src:
                text = src.read()
            self.assertRegex(text, r'"%s" (not )?in [\w.]*faults' % re.escape(name), "%s: no branch in %s" % (
                name, f.where))

    def test_catalogue_table_is_current(self):
        with open(CATALOGUE) as f:
            doc = f.read()
        self.assertTrue(markdown() in doc, "docs/bug-catalogue.md: regenerate the table with "
                                           "`python3 -m tdx.tests.test_fault_switches --markdown`")


@requires_kvm
class FaultSwitches(unittest.TestCase):
    """Each switch: its named cases fail, every other case of their modules passes."""

    results = None

    @classmethod
    def setUpClass(cls):
        full = os.environ.get(FULL_ENV) == "1"
        jobs = [(m, None) for m in (all_modules() if full else
                                    sorted({m for cases in CATCHES.values() for m in modules_of(cases)}))]
        for fault, cases in sorted(CATCHES.items()):
            jobs += [(m, fault) for m in (all_modules() if full else modules_of(cases))]
        with ThreadPoolExecutor(JOBS) as pool:
            cls.results = dict(zip(jobs, pool.map(lambda job: run_module(*job), jobs)))


def _make(fault, cases):
    def test(self):
        clean = {}
        for (module, f), (rc, results, out) in self.results.items():
            if f is None:
                clean.update(results)
                self.assertNotIn("not ok", results.values(), "%s without a fault:\n%s" % (module, out[-3000:]))
        for case in cases:
            self.assertEqual(clean.get(case), "ok", "%s without the fault" % case)
        failing, outputs = set(), []
        for (module, f), (rc, results, out) in self.results.items():
            if f == fault:
                self.assertTrue(results, "%s with %s: no results\n%s" % (module, fault, out[-3000:]))
                failing |= {c for c, r in results.items() if r == "not ok"}
                outputs.append(out[-2000:])
        extra, missing = sorted(failing - set(cases)), sorted(set(cases) - failing)
        self.assertEqual((extra, missing), ([], []), "with %s: failing but not in CATCHES: %s; in CATCHES "
                         "but passing: %s (a case that catches the bug belongs in CATCHES)\n%s" % (
                             fault, extra, missing, "\n".join(outputs)))
    test.__name__ = "test_%s_caught" % fault.replace("-", "_")
    test.__doc__ = "%s is caught by %s and breaks nothing else" % (fault, ", ".join(cases))
    return test


for _fault, _cases in CATCHES.items():
    setattr(FaultSwitches, "test_%s_caught" % _fault.replace("-", "_"), _make(_fault, _cases))


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        sys.stdout.write(markdown())
    else:
        unittest.main()
