# SPDX-License-Identifier: GPL-2.0-only
"""GHCI and TDCALL constants, under the kernel's names.

Shared by the host library (exit assertions, negative tests) and the emulated
platform's model (tdx.emu).  The guest header guest/include/tdx.h carries the
same names.  Sources: docs/kvm-tdx-uapi.md §4.2, §4.3
and §6, which cite arch/x86/include/asm/shared/tdx.h and the intel/tdx-module
source (include/tdx_api_defs.h, include/auto_gen/tdx_error_codes_defs.h).

Constants only: exit assertions and guest-report decoding live next to them
once the library needs them.
"""

# --- TDCALL leaves (RAX[15:0]; RAX[23:16] is the leaf version), docs/kvm-tdx-uapi.md §6 ---
TDG_VP_VMCALL = 0
TDG_VP_INFO = 1
TDG_MR_RTMR_EXTEND = 2
TDG_VP_VEINFO_GET = 3
TDG_MR_REPORT = 4
TDG_VP_CPUIDVE_SET = 5
TDG_MEM_PAGE_ACCEPT = 6
TDG_VM_RD = 7
TDG_VM_WR = 8
TDG_VP_RD = 9
TDG_VP_WR = 10
TDG_SYS_RD = 11
TDG_SYS_RDALL = 12
TDG_SERVTD_RD = 18
TDG_SERVTD_WR = 20
TDG_MR_VERIFYREPORT = 22
TDG_MEM_PAGE_ATTR_RD = 23
TDG_MEM_PAGE_ATTR_WR = 24
TDG_VP_ENTER = 25
TDG_VP_INVEPT = 26
TDG_VP_INVVPID = 27

# --- TDX module completion status of a TDCALL (RAX after TDCALL) ---
# tdx-module include/auto_gen/tdx_error_codes_defs.h; an operand id is ORed
# into the low bits (api_error_with_operand_id()).
TDX_SUCCESS = 0x0000000000000000
TDX_OPERAND_INVALID = 0xC000010000000000
TDX_NO_VALID_VE_INFO = 0xC000070400000000
TDX_PAGE_ALREADY_ACCEPTED = 0x00000B0A00000000
TDX_PAGE_SIZE_MISMATCH = 0xC0000B0B00000000
TDX_OPERAND_ID_RAX = 0
TDX_OPERAND_ID_RCX = 1
TDX_SEAMCALL_STATUS_MASK = 0xFFFFFFFF00000000

# TDG.VP.VMCALL register-exposure mask of the Linux guest: RDX, RBX, RSI, RDI,
# R8-R15 (arch/x86/include/asm/shared/tdx.h), docs/kvm-tdx-uapi.md §4.1.
TDVMCALL_EXPOSE_REGS_MASK = 0xFFCC

# --- TDG.VP.VMCALL: R10 selects the ABI, R11 the sub-function (docs/kvm-tdx-uapi.md §4.1, §4.3) ---
TDX_HYPERCALL_STANDARD = 0

# Sub-functions that are VMX exit reasons of the instruction the TD could not execute.
EXIT_REASON_CPUID = 10                  # Instruction.CPUID
EXIT_REASON_HLT = 12                    # Instruction.HLT
EXIT_REASON_IO_INSTRUCTION = 30         # Instruction.IO
EXIT_REASON_MSR_READ = 31               # Instruction.RDMSR
EXIT_REASON_MSR_WRITE = 32              # Instruction.WRMSR
EXIT_REASON_EPT_VIOLATION = 48          # #VE.RequestMMIO
EXIT_REASON_WBINVD = 54                 # Instruction.WBINVD (not handled by KVM)
# EXIT_REASON_TDCALL is what the TDX module reports to KVM for every TDG.VP.VMCALL
# (TDH.VP.ENTER return value; ReportFatalError data[0]), docs/kvm-tdx-uapi.md §4.3/§4.8.
EXIT_REASON_TDCALL = 77

# GHCI sub-functions (arch/x86/include/asm/shared/tdx.h)
TDVMCALL_GET_TD_VM_CALL_INFO = 0x10000
TDVMCALL_MAP_GPA = 0x10001
TDVMCALL_GET_QUOTE = 0x10002
TDVMCALL_REPORT_FATAL_ERROR = 0x10003
TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT = 0x10004
TDVMCALL_SERVICE = 0x10005              # not handled by KVM (docs/kvm-tdx-uapi.md §4.3)

# Status codes returned in R10 (docs/kvm-tdx-uapi.md §4.2)
TDVMCALL_STATUS_SUCCESS = 0x0000000000000000
TDVMCALL_STATUS_RETRY = 0x0000000000000001
TDVMCALL_STATUS_INVALID_OPERAND = 0x8000000000000000
TDVMCALL_STATUS_GPA_INUSE = 0x8000000000000001        # QEMU's name space; not used by the kernel
TDVMCALL_STATUS_ALIGN_ERROR = 0x8000000000000002
TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED = 0x8000000000000003

# GetQuote's shared buffer (the Linux guest's struct tdx_quote_buf,
# drivers/virt/coco/tdx-guest/tdx-guest.c): version, status, in_len, out_len, data.
TDX_QUOTE_VERSION = 1
TDX_QUOTE_HDR_SIZE = 24
TDX_REPORT_LEN = 1024
TDX_QUOTE_STATUS_SUCCESS = 0x0000000000000000
TDX_QUOTE_STATUS_IN_FLIGHT = 0xFFFFFFFFFFFFFFFF
TDX_QUOTE_STATUS_ERROR = 0x8000000000000000

# GetTdVmCallInfo leaf 1, R11 bit for SetupEventNotifyInterrupt (docs/kvm-tdx-uapi.md §2.2, §4.10)
TDVMCALLINFO_SETUP_EVENT_NOTIFY_INTERRUPT = 1 << 1

# Instruction.IO / #VE.RequestMMIO direction (R13)
TDX_IO_READ = 0
TDX_IO_WRITE = 1
TDX_MMIO_READ = 0
TDX_MMIO_WRITE = 1

# TD attributes (TDG.VP.INFO RDX, KVM_TDX_INIT_VM.attributes), docs/kvm-tdx-uapi.md §6
TDX_ATTR_DEBUG = 1 << 0
TDX_ATTR_HGS_PLUS_PROF = 1 << 4
TDX_ATTR_PERF_PROF = 1 << 5
TDX_ATTR_PMT_PROF = 1 << 6
TDX_ATTR_ICSSD = 1 << 16
TDX_ATTR_LASS = 1 << 27
TDX_ATTR_SEPT_VE_DISABLE = 1 << 28
TDX_ATTR_MIGRATABLE = 1 << 29
TDX_ATTR_PKS = 1 << 30
TDX_ATTR_KL = 1 << 31
TDX_ATTR_TPA = 1 << 62
TDX_ATTR_PERFMON = 1 << 63

# TDG.VP.INFO R10 bit 0: TDG.SYS.RD is available (docs/kvm-tdx-uapi.md §6)
TDG_VP_INFO_SYS_RD_AVAILABLE = 1 << 0

STATUS_NAMES = {
    TDVMCALL_STATUS_SUCCESS: "SUCCESS",
    TDVMCALL_STATUS_RETRY: "RETRY",
    TDVMCALL_STATUS_INVALID_OPERAND: "INVALID_OPERAND",
    TDVMCALL_STATUS_GPA_INUSE: "GPA_INUSE",
    TDVMCALL_STATUS_ALIGN_ERROR: "ALIGN_ERROR",
    TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED: "SUBFUNC_UNSUPPORTED",
}


def status_name(value):
    """'INVALID_OPERAND (0x8000000000000000)' for messages."""
    return "%s (0x%x)" % (STATUS_NAMES.get(value, "unknown"), value)
