# SPDX-License-Identifier: GPL-2.0-only
"""tdx.lib.abi against the literal layouts and numbers of docs/kvm-tdx-uapi.md.

Expected values are written out as literals (never recomputed with the _IOC helpers or
ffi), so a wrong size in the cdef shows up as a wrong ioctl number. Values the reference
does not list are the kernel's (checked against gcc on the x86-64 uapi headers).
"""

import importlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import types
import unittest

from tdx.lib import abi
from tdx.lib.abi import ffi, libc
from tdx.lib.abi_cdef import CDEF, cdef_hash

LIB_DIR = os.path.dirname(os.path.abspath(abi.__file__))
PKG_PARENT = os.path.dirname(os.path.dirname(LIB_DIR))      # the dir holding package `tdx`


def field(ctype, *path):
    """(absolute offset, size) of a possibly nested field; size None for a flexible array."""
    t = ffi.typeof(ctype)
    off = 0
    for name in path:
        f = dict(t.fields)[name]
        off += f.offset
        t = f.type
    size = None if (t.kind == "array" and t.length is None) else ffi.sizeof(t)
    return off, size


class LayoutCase(unittest.TestCase):
    def check_fields(self, ctype, rows):
        for row in rows:
            path, want_off, want_size = row[:-2], row[-2], row[-1]
            with self.subTest(ctype=ctype, field=".".join(path)):
                self.assertEqual(field(ctype, *path), (want_off, want_size))


class TestKvmRun(LayoutCase):
    """docs/kvm-tdx-uapi.md §5 (header, arms) and §4.x (per-exit layouts)."""

    def test_size(self):
        self.assertEqual(ffi.sizeof("struct kvm_run"), 2352)

    def test_header(self):
        self.check_fields("struct kvm_run", [
            ("request_interrupt_window", 0, 1),
            ("immediate_exit", 1, 1),
            ("padding1", 2, 6),
            ("exit_reason", 8, 4),
            ("ready_for_interrupt_injection", 12, 1),
            ("if_flag", 13, 1),
            ("flags", 14, 2),
            ("cr8", 16, 8),
            ("apic_base", 24, 8),
            ("padding", 32, 256),           # the exit union: 256 bytes at 32
            ("kvm_valid_regs", 288, 8),
            ("kvm_dirty_regs", 296, 8),
            ("s", 304, 2048),
        ])

    def test_exit_arms(self):
        self.check_fields("struct kvm_run", [
            ("io", "direction", 32, 1),
            ("io", "size", 33, 1),
            ("io", "port", 34, 2),
            ("io", "count", 36, 4),
            ("io", "data_offset", 40, 8),
            ("mmio", "phys_addr", 32, 8),
            ("mmio", "data", 40, 8),
            ("mmio", "len", 48, 4),
            ("mmio", "is_write", 52, 1),
            ("hypercall", "nr", 32, 8),
            ("hypercall", "args", 40, 48),
            ("hypercall", "ret", 88, 8),
            ("hypercall", "flags", 96, 8),
            ("hypercall", "longmode", 96, 4),
            ("internal", "suberror", 32, 4),
            ("internal", "ndata", 36, 4),
            ("internal", "data", 40, 128),
            ("emulation_failure", "flags", 40, 8),
            ("emulation_failure", "insn_size", 48, 1),
            ("emulation_failure", "insn_bytes", 49, 15),
            ("system_event", "type", 32, 4),
            ("system_event", "ndata", 36, 4),
            ("system_event", "data", 40, 128),
            ("system_event", "flags", 40, 8),
            ("msr", "error", 32, 1),
            ("msr", "pad", 33, 7),
            ("msr", "reason", 40, 4),
            ("msr", "index", 44, 4),
            ("msr", "data", 48, 8),
            ("memory_fault", "flags", 32, 8),
            ("memory_fault", "gpa", 40, 8),
            ("memory_fault", "size", 48, 8),
            ("fail_entry", "hardware_entry_failure_reason", 32, 8),
            ("fail_entry", "cpu", 40, 4),
            ("ex", "exception", 32, 4),
            ("ex", "error_code", 36, 4),
            ("debug", "arch", "dr6", 48, 8),
        ])

    def test_tdx_arm(self):
        self.check_fields("struct kvm_run", [
            ("tdx", "flags", 32, 8),
            ("tdx", "nr", 40, 8),
            ("tdx", "unknown", "ret", 48, 8),
            ("tdx", "unknown", "data", 56, 40),
            ("tdx", "get_quote", "ret", 48, 8),
            ("tdx", "get_quote", "gpa", 56, 8),
            ("tdx", "get_quote", "size", 64, 8),
            ("tdx", "get_tdvmcall_info", "ret", 48, 8),
            ("tdx", "get_tdvmcall_info", "leaf", 56, 8),
            ("tdx", "get_tdvmcall_info", "r11", 64, 8),
            ("tdx", "get_tdvmcall_info", "r12", 72, 8),
            ("tdx", "get_tdvmcall_info", "r13", 80, 8),
            ("tdx", "get_tdvmcall_info", "r14", 88, 8),
            ("tdx", "setup_event_notify", "ret", 48, 8),
            ("tdx", "setup_event_notify", "vector", 56, 8),
        ])

    def test_sync_regs_fit(self):
        # asm/kvm.h: regs 144 + sregs 312 + events 64.
        self.assertEqual(ffi.sizeof("struct kvm_sync_regs"), 520)
        self.check_fields("struct kvm_run", [
            ("s", "regs", "regs", "rip", 304 + 128, 8),
            ("s", "regs", "sregs", 304 + 144, 312),
            ("s", "regs", "events", 304 + 456, 64),
        ])


class TestTdxStructs(LayoutCase):
    """docs/kvm-tdx-uapi.md §2.1, §2.2, §2.3, §2.5."""

    def test_kvm_tdx_cmd(self):
        self.assertEqual(ffi.sizeof("struct kvm_tdx_cmd"), 24)
        self.check_fields("struct kvm_tdx_cmd", [
            ("id", 0, 4), ("flags", 4, 4), ("data", 8, 8), ("hw_error", 16, 8),
        ])

    def test_kvm_tdx_capabilities(self):
        self.assertEqual(ffi.sizeof("struct kvm_tdx_capabilities"), 2056)
        self.check_fields("struct kvm_tdx_capabilities", [
            ("supported_attrs", 0, 8),
            ("supported_xfam", 8, 8),
            ("kernel_tdvmcallinfo_1_r11", 16, 8),
            ("user_tdvmcallinfo_1_r11", 24, 8),
            ("kernel_tdvmcallinfo_1_r12", 32, 8),
            ("user_tdvmcallinfo_1_r12", 40, 8),
            ("reserved", 48, 2000),
            ("cpuid", 2048, 8),
            ("cpuid", "nent", 2048, 4),
            ("cpuid", "padding", 2052, 4),
            ("cpuid", "entries", 2056, None),
        ])

    def test_kvm_tdx_capabilities_with_entries(self):
        caps = ffi.new("struct kvm_tdx_capabilities *", {"cpuid": {"nent": 3, "entries": 3}})
        self.assertEqual(ffi.sizeof(caps[0]), 2056 + 3 * 40)

    def test_kvm_tdx_init_vm(self):
        self.assertEqual(ffi.sizeof("struct kvm_tdx_init_vm"), 264)
        self.check_fields("struct kvm_tdx_init_vm", [
            ("attributes", 0, 8),
            ("xfam", 8, 8),
            ("mrconfigid", 16, 48),
            ("mrowner", 64, 48),
            ("mrownerconfig", 112, 48),
            ("reserved", 160, 96),
            ("cpuid", "nent", 256, 4),
            ("cpuid", "padding", 260, 4),
            ("cpuid", "entries", 264, None),
        ])

    def test_kvm_tdx_init_mem_region(self):
        self.assertEqual(ffi.sizeof("struct kvm_tdx_init_mem_region"), 24)
        self.check_fields("struct kvm_tdx_init_mem_region", [
            ("source_addr", 0, 8), ("gpa", 8, 8), ("nr_pages", 16, 8),
        ])

    def test_kvm_cpuid_entry2(self):
        self.assertEqual(ffi.sizeof("struct kvm_cpuid_entry2"), 40)
        self.assertEqual(ffi.sizeof("struct kvm_cpuid2"), 8)
        self.check_fields("struct kvm_cpuid_entry2", [
            ("function", 0, 4), ("index", 4, 4), ("flags", 8, 4), ("eax", 12, 4),
            ("ebx", 16, 4), ("ecx", 20, 4), ("edx", 24, 4), ("padding", 28, 12),
        ])


class TestMemoryAndVmStructs(LayoutCase):
    """docs/kvm-tdx-uapi.md §3.1, §3.4, §4.13."""

    def test_kvm_userspace_memory_region2(self):
        self.assertEqual(ffi.sizeof("struct kvm_userspace_memory_region2"), 160)
        self.check_fields("struct kvm_userspace_memory_region2", [
            ("slot", 0, 4), ("flags", 4, 4), ("guest_phys_addr", 8, 8), ("memory_size", 16, 8),
            ("userspace_addr", 24, 8), ("guest_memfd_offset", 32, 8), ("guest_memfd", 40, 4),
            ("pad1", 44, 4), ("pad2", 48, 112),
        ])

    def test_kvm_userspace_memory_region(self):
        self.assertEqual(ffi.sizeof("struct kvm_userspace_memory_region"), 32)

    def test_kvm_create_guest_memfd(self):
        self.assertEqual(ffi.sizeof("struct kvm_create_guest_memfd"), 64)
        self.check_fields("struct kvm_create_guest_memfd", [
            ("size", 0, 8), ("flags", 8, 8), ("reserved", 16, 48),
        ])

    def test_kvm_memory_attributes(self):
        self.assertEqual(ffi.sizeof("struct kvm_memory_attributes"), 32)
        self.check_fields("struct kvm_memory_attributes", [
            ("address", 0, 8), ("size", 8, 8), ("attributes", 16, 8), ("flags", 24, 8),
        ])

    def test_kvm_pre_fault_memory(self):
        self.assertEqual(ffi.sizeof("struct kvm_pre_fault_memory"), 64)

    def test_kvm_enable_cap(self):
        self.assertEqual(ffi.sizeof("struct kvm_enable_cap"), 104)
        self.check_fields("struct kvm_enable_cap", [
            ("cap", 0, 4), ("flags", 4, 4), ("args", 8, 32), ("pad", 40, 64),
        ])

    def test_kvm_msr_filter(self):
        self.assertEqual(ffi.sizeof("struct kvm_msr_filter"), 392)
        self.assertEqual(ffi.sizeof("struct kvm_msr_filter_range"), 24)
        self.check_fields("struct kvm_msr_filter", [("flags", 0, 4), ("ranges", 8, 384)])
        self.check_fields("struct kvm_msr_filter_range", [
            ("flags", 0, 4), ("nmsrs", 4, 4), ("base", 8, 4), ("bitmap", 16, 8),
        ])


class TestVcpuStructs(LayoutCase):
    """Not in the reference: x86-64 sizes from asm/kvm.h."""

    def test_sizes(self):
        for ctype, size in [
            ("struct kvm_regs", 144),
            ("struct kvm_segment", 24),
            ("struct kvm_dtable", 16),
            ("struct kvm_sregs", 312),
            ("struct kvm_vcpu_events", 64),
            ("struct kvm_mp_state", 4),
            ("struct kvm_msr_entry", 16),
            ("struct kvm_msrs", 8),
            ("struct kvm_msr_list", 4),
            ("struct kvm_guest_debug", 72),
            ("struct kvm_irqchip", 520),
        ]:
            with self.subTest(ctype=ctype):
                self.assertEqual(ffi.sizeof(ctype), size)

    def test_kvm_vcpu_events(self):
        self.check_fields("struct kvm_vcpu_events", [
            ("exception", "nr", 1, 1),
            ("exception", "error_code", 4, 4),
            ("interrupt", 8, 4),
            ("nmi", 12, 4),
            ("sipi_vector", 16, 4),
            ("flags", 20, 4),
            ("smi", 24, 4),
            ("triple_fault", "pending", 28, 1),
            ("exception_has_payload", 55, 1),
            ("exception_payload", 56, 8),
        ])

    def test_kvm_sregs(self):
        self.check_fields("struct kvm_sregs", [
            ("cs", 0, 24), ("ldt", 168, 24), ("gdt", 192, 16), ("idt", 208, 16),
            ("cr0", 224, 8), ("efer", 264, 8), ("apic_base", 272, 8), ("interrupt_bitmap", 280, 32),
        ])


class TestIoctlNumbers(unittest.TestCase):
    # Literal values; "ref" rows are quoted in docs/kvm-tdx-uapi.md, the rest are the kernel's.
    EXPECTED = {
        "KVM_GET_API_VERSION": 0xAE00,
        "KVM_CREATE_VM": 0xAE01,                        # ref §1
        "KVM_GET_MSR_INDEX_LIST": 0xC004AE02,
        "KVM_CHECK_EXTENSION": 0xAE03,                  # ref §1
        "KVM_GET_VCPU_MMAP_SIZE": 0xAE04,               # ref §5
        "KVM_GET_SUPPORTED_CPUID": 0xC008AE05,
        "KVM_CREATE_VCPU": 0xAE41,                      # ref §2.8
        "KVM_SET_USER_MEMORY_REGION": 0x4020AE46,       # ref §3.1
        "KVM_SET_TSS_ADDR": 0xAE47,
        "KVM_SET_USER_MEMORY_REGION2": 0x40A0AE49,      # ref §3.1
        "KVM_CREATE_IRQCHIP": 0xAE60,
        "KVM_GET_IRQCHIP": 0xC208AE62,
        "KVM_SET_IRQCHIP": 0x8208AE63,
        "KVM_RUN": 0xAE80,                              # ref §2.8
        "KVM_GET_REGS": 0x8090AE81,
        "KVM_SET_REGS": 0x4090AE82,
        "KVM_GET_SREGS": 0x8138AE83,
        "KVM_SET_SREGS": 0x4138AE84,
        "KVM_INTERRUPT": 0x4004AE86,
        "KVM_GET_MSRS": 0xC008AE88,
        "KVM_SET_MSRS": 0x4008AE89,
        "KVM_SET_CPUID2": 0x4008AE90,                   # ref §2.8
        "KVM_GET_CPUID2": 0xC008AE91,
        "KVM_GET_LAPIC": 0x8400AE8E,
        "KVM_SET_LAPIC": 0x4400AE8F,
        "KVM_GET_MP_STATE": 0x8004AE98,
        "KVM_SET_MP_STATE": 0x4004AE99,
        "KVM_SET_GUEST_DEBUG": 0x4048AE9B,
        "KVM_GET_VCPU_EVENTS": 0x8040AE9F,
        "KVM_SET_VCPU_EVENTS": 0x4040AEA0,
        "KVM_SET_TSC_KHZ": 0xAEA2,                      # ref §2.3
        "KVM_GET_TSC_KHZ": 0xAEA3,
        "KVM_ENABLE_CAP": 0x4068AEA3,                   # ref §3.4
        "KVM_MEMORY_ENCRYPT_OP": 0xC008AEBA,            # ref §1
        "KVM_X86_SET_MSR_FILTER": 0x4188AEC6,           # ref §4.13
        "KVM_SET_MEMORY_ATTRIBUTES": 0x4020AED2,        # ref §3.1
        "KVM_CREATE_GUEST_MEMFD": 0xC040AED4,           # ref §3.1
        "KVM_PRE_FAULT_MEMORY": 0xC040AED5,             # ref §3.1
    }

    def test_numbers(self):
        for name, value in self.EXPECTED.items():
            with self.subTest(name=name):
                self.assertEqual(getattr(abi, name), value, "%s = %#x" % (name, getattr(abi, name)))

    def test_ioc_encoding(self):
        # dir in bits 31:30, size 29:16, type 15:8, nr 7:0
        self.assertEqual(abi._IOC(3, 0x12, 0x34, 0x3FFF), 0xFFFF1234)
        self.assertEqual(abi._IO(0xAE, 0x7F), 0xAE7F)


class TestConstants(unittest.TestCase):
    EXPECTED = {
        "KVM_API_VERSION": 12,
        # exit reasons, docs/kvm-tdx-uapi.md §5
        "KVM_EXIT_UNKNOWN": 0, "KVM_EXIT_EXCEPTION": 1, "KVM_EXIT_IO": 2, "KVM_EXIT_HYPERCALL": 3,
        "KVM_EXIT_DEBUG": 4, "KVM_EXIT_HLT": 5, "KVM_EXIT_MMIO": 6, "KVM_EXIT_SHUTDOWN": 8,
        "KVM_EXIT_FAIL_ENTRY": 9, "KVM_EXIT_INTR": 10, "KVM_EXIT_INTERNAL_ERROR": 17,
        "KVM_EXIT_SYSTEM_EVENT": 24, "KVM_EXIT_X86_RDMSR": 29, "KVM_EXIT_X86_WRMSR": 30,
        "KVM_EXIT_MEMORY_FAULT": 39, "KVM_EXIT_TDX": 40,
        "KVM_EXIT_IO_IN": 0, "KVM_EXIT_IO_OUT": 1,
        "KVM_INTERNAL_ERROR_EMULATION": 1, "KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON": 4,
        "KVM_SYSTEM_EVENT_SHUTDOWN": 1, "KVM_SYSTEM_EVENT_TDX_FATAL": 7,
        # caps
        "KVM_CAP_IRQCHIP": 0, "KVM_CAP_USER_MEMORY": 3, "KVM_CAP_NR_VCPUS": 9,
        "KVM_CAP_MAX_VCPUS": 66, "KVM_CAP_SYNC_REGS": 74, "KVM_CAP_READONLY_MEM": 81,
        "KVM_CAP_SPLIT_IRQCHIP": 121, "KVM_CAP_X2APIC_API": 129, "KVM_CAP_IMMEDIATE_EXIT": 136,
        "KVM_CAP_X86_USER_SPACE_MSR": 188, "KVM_CAP_X86_MSR_FILTER": 189,
        "KVM_CAP_EXIT_HYPERCALL": 201, "KVM_CAP_DISABLE_QUIRKS2": 213, "KVM_CAP_USER_MEMORY2": 231,
        "KVM_CAP_MEMORY_FAULT_INFO": 232, "KVM_CAP_MEMORY_ATTRIBUTES": 233,
        "KVM_CAP_GUEST_MEMFD": 234, "KVM_CAP_VM_TYPES": 235, "KVM_CAP_PRE_FAULT_MEMORY": 236,
        "KVM_CAP_GUEST_MEMFD_FLAGS": 244,
        # VM types, docs/kvm-tdx-uapi.md §1
        "KVM_X86_DEFAULT_VM": 0, "KVM_X86_SW_PROTECTED_VM": 1, "KVM_X86_SEV_VM": 2,
        "KVM_X86_SEV_ES_VM": 3, "KVM_X86_SNP_VM": 4, "KVM_X86_TDX_VM": 5,
        # memory, docs/kvm-tdx-uapi.md §3
        "KVM_MEM_LOG_DIRTY_PAGES": 1, "KVM_MEM_READONLY": 2, "KVM_MEM_GUEST_MEMFD": 4,
        "KVM_MEMORY_ATTRIBUTE_PRIVATE": 8, "GUEST_MEMFD_FLAG_MMAP": 1,
        "GUEST_MEMFD_FLAG_INIT_SHARED": 2, "KVM_MEMORY_EXIT_FLAG_PRIVATE": 8,
        # MSRs, docs/kvm-tdx-uapi.md §4.13
        "KVM_MSR_EXIT_REASON_INVAL": 1, "KVM_MSR_EXIT_REASON_UNKNOWN": 2,
        "KVM_MSR_EXIT_REASON_FILTER": 4,
        "KVM_MSR_FILTER_READ": 1, "KVM_MSR_FILTER_WRITE": 2, "KVM_MSR_FILTER_DEFAULT_ALLOW": 0,
        "KVM_MSR_FILTER_DEFAULT_DENY": 1, "KVM_MSR_FILTER_MAX_RANGES": 16,
        "KVM_MSR_FILTER_MAX_BITMAP_SIZE": 0x600,
        # hypercalls, docs/kvm-tdx-uapi.md §3.4, §4.12
        "KVM_HC_MAP_GPA_RANGE": 12, "KVM_MAP_GPA_RANGE_ENCRYPTED": 0x10,
        "KVM_MAP_GPA_RANGE_DECRYPTED": 0,
        "KVM_MAP_GPA_RANGE_PAGE_SZ_4K": 0, "KVM_MAP_GPA_RANGE_PAGE_SZ_2M": 1,
        "KVM_MAP_GPA_RANGE_PAGE_SZ_1G": 2, "KVM_EXIT_HYPERCALL_LONG_MODE": 1,
        "KVM_ENOSYS": 1000, "KVM_EFAULT": 14, "KVM_EINVAL": 22, "KVM_E2BIG": 7, "KVM_EPERM": 1,
        "KVM_EOPNOTSUPP": 95,
        # TDX, docs/kvm-tdx-uapi.md §2, §6
        "KVM_TDX_CAPABILITIES": 0, "KVM_TDX_INIT_VM": 1, "KVM_TDX_INIT_VCPU": 2,
        "KVM_TDX_INIT_MEM_REGION": 3, "KVM_TDX_FINALIZE_VM": 4, "KVM_TDX_GET_CPUID": 5,
        "KVM_TDX_CMD_NR_MAX": 6, "KVM_TDX_MEASURE_MEMORY_REGION": 1,
        "KVM_CPUID_FLAG_SIGNIFCANT_INDEX": 1, "KVM_MAX_CPUID_ENTRIES": 256,
        "TDX_TD_ATTR_DEBUG": 1 << 0, "TDX_TD_ATTR_SEPT_VE_DISABLE": 1 << 28,
        "TDX_TD_ATTR_PKS": 1 << 30, "TDX_TD_ATTR_KL": 1 << 31, "TDX_TD_ATTR_PERFMON": 1 << 63,
        # mp_state
        "KVM_MP_STATE_RUNNABLE": 0, "KVM_MP_STATE_UNINITIALIZED": 1, "KVM_MP_STATE_HALTED": 3,
    }

    def test_values(self):
        for name, value in self.EXPECTED.items():
            with self.subTest(name=name):
                self.assertEqual(getattr(abi, name), value)

    def test_exit_reason_names(self):
        exits = {name: value for name, value in vars(abi).items()
                 if name.startswith("KVM_EXIT_") and name not in
                 ("KVM_EXIT_IO_IN", "KVM_EXIT_IO_OUT", "KVM_EXIT_HYPERCALL_LONG_MODE")}
        self.assertEqual(abi.EXIT_REASON_NAMES, {value: name for name, value in exits.items()})
        self.assertEqual(abi.EXIT_REASON_NAMES[40], "KVM_EXIT_TDX")


class TestGeneratedModule(unittest.TestCase):
    def test_in_tree_module_in_sync(self):
        path = os.path.join(LIB_DIR, "_abi_ffi.py")
        if not os.path.exists(path):
            self.skipTest("tdx/lib/_abi_ffi.py not generated (run make)")
        gen = importlib.import_module("tdx.lib._abi_ffi")
        self.assertEqual(gen.CDEF_HASH, cdef_hash(CDEF),
                         "_abi_ffi.py is stale: rerun make (python3 -m tdx.lib.abi_build)")
        self.assertTrue(abi._FFI_GENERATED)
        self.assertIs(abi.ffi, gen.ffi)

    def test_build_matches_cdef(self):
        from tdx.lib import abi_build
        with tempfile.TemporaryDirectory() as tmp:
            path = abi_build.build(tmp)
            self.assertEqual(os.listdir(tmp), ["_abi_ffi.py"])
            spec = importlib.util.spec_from_file_location("tdx.lib._abi_ffi", path)
            gen = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(gen)
        self.assertEqual(gen.CDEF_HASH, cdef_hash(CDEF))
        parsed, generated = abi._load_ffi("tdx.lib._no_such_module")
        self.assertFalse(generated)
        self.assertEqual(gen.ffi.list_types(), parsed.list_types())
        for name in parsed.list_types()[1]:
            ctype = "struct " + name
            with self.subTest(ctype=ctype):
                self.assertEqual(gen.ffi.sizeof(ctype), parsed.sizeof(ctype))
                self.assertEqual(gen.ffi.alignof(ctype), parsed.alignof(ctype))
                want = [(n, f.offset) for n, f in parsed.typeof(ctype).fields]
                got = [(n, f.offset) for n, f in gen.ffi.typeof(ctype).fields]
                self.assertEqual(got, want)

    def test_build_command_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, PYTHONPATH=PKG_PARENT)
            out = subprocess.run([sys.executable, "-m", "tdx.lib.abi_build", tmp], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
            path = os.path.join(tmp, "_abi_ffi.py")
            self.assertEqual(out.stdout.decode().strip(), path)
            with open(path) as f:
                self.assertTrue(f.readline().startswith("# SPDX-License-Identifier: GPL-2.0-only"))

    def test_fallback_when_stale(self):
        name = "tdx.lib._abi_ffi_stale_for_test"
        sys.modules[name] = types.SimpleNamespace(CDEF_HASH="stale", ffi=None)
        try:
            parsed, generated = abi._load_ffi(name)
        finally:
            del sys.modules[name]
        self.assertFalse(generated)
        self.assertEqual(parsed.sizeof("struct kvm_run"), 2352)


class TestLibc(unittest.TestCase):
    def test_declared(self):
        for fn in ("open", "close", "ioctl", "mmap", "munmap", "pread", "eventfd"):
            with self.subTest(fn=fn):
                self.assertTrue(callable(getattr(libc, fn)))

    def test_calls(self):
        fd = libc.eventfd(0, 0)
        self.assertGreaterEqual(fd, 0)
        # eventfd is not seekable: pread fails with ESPIPE, as it would on an odd fd.
        buf = ffi.new("char[8]")
        self.assertEqual(libc.pread(fd, buf, 8, 0), -1)
        self.assertEqual(ffi.errno, 29)
        self.assertEqual(libc.close(fd), 0)
        prot_rw, map_private_anon = 0x3, 0x22
        addr = libc.mmap(ffi.NULL, 4096, prot_rw, map_private_anon, -1, 0)
        self.assertNotEqual(int(ffi.cast("intptr_t", addr)), -1)
        ffi.buffer(ffi.cast("char *", addr), 4)[:] = b"tdx!"
        self.assertEqual(ffi.buffer(ffi.cast("char *", addr), 4)[:], b"tdx!")
        self.assertEqual(libc.munmap(addr, 4096), 0)
        fd = libc.open(b"/dev/null", ffi.cast("int", os.O_RDONLY))
        self.assertGreaterEqual(fd, 0)
        self.assertEqual(libc.close(fd), 0)


if __name__ == "__main__":
    unittest.main()
