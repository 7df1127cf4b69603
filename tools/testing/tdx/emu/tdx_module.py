# SPDX-License-Identifier: GPL-2.0-only
"""The TDX module as the emulated platform needs it: the TDCALL leaves the suite
uses, the TD vCPU's initial registers, and the fake platform's configuration
(TDH.SYS.RD metadata that KVM turns into KVM_TDX_CAPABILITIES).

Sources: intel/tdx-module (tdx-module/...) src/td_dispatcher/tdx_td_dispatcher.c
(td_call), src/td_dispatcher/vm_exits/tdg_vp_vmcall.c, tdg_vp_info.c,
tdg_vp_veinfo_get.c, tdg_mem_page_accept.c, src/td_transitions/tdh_vp_enter.c,
src/vmm_dispatcher/api_calls/tdh_vp_init.c, include/tdx_api_defs.h,
include/auto_gen/tdx_error_codes_defs.h (@1666adc494db); docs/kvm-tdx-uapi.md §4.1, §6.

Contract with the run loop (emu/system.py):
- tdcall(vm, vcpu, regs, run) -> bool.  `regs` is the guest's Regs at the TDCALL;
  it is mutated in place; the caller writes it back and advances RIP past the
  4-byte TDCALL.  True: `run` holds an exit for userspace (the guest's registers
  are left as they were; they get KVM's outputs in complete()).  False: resume
  the guest, unless vcpu.halted (TDG.VP.VMCALL<HLT>: see vmcall.emulate_halt).
  Raising EmuRunError: KVM_RUN fails; the TDCALL did not retire (no write-back,
  no RIP advance); an EmuMemoryFault has already filled run.memory_fault.
- complete(vm, vcpu, regs, run) -> bool, at the next KVM_RUN after an exit from
  tdcall()/complete(): applies KVM's completion (complete_userspace_io), then
  the TDX module's TD entry (copy-back of exposed GPRs).  True: yet another
  exit is in `run` (MapGPA's next chunk).  May raise EmuRunError (KVM_RUN
  fails; the guest stays in its TDG.VP.VMCALL and the next complete() resumes
  it).  A no-op returning False when nothing is outstanding, so it is safe to
  call at every KVM_RUN.

Initial state of a TD vCPU (TDH.VP.INIT, init_vcpu_gprs_and_registers()):
RBX = GPAW (52 with TDX_CONFIG_FLAGS_MAX_GPAW, else 48), RCX = R8 = the
KVM_TDX_INIT_VCPU data, RDX = CPUID(1).EAX (family/model/stepping), RSI = the
vCPU index (VCPU_INDEX, assigned in TDH.VP.INIT order from 0), every other GPR
0.  RIP = 0xFFFFFFF0, 32-bit protected mode without paging, EFER.LME and the
rest of the non-GPR state are set by the TD VMCS initialisation; the run loop
(lib/boot) sets those.
"""

from tdx.lib import abi, ghci
from tdx.emu import vmcall as _vmcall
from tdx.emu.errors import EmuMemoryFault, EmuRunError
from tdx.emu.regs import Regs

# TDG.VP.VMCALL: RCX bits that must be 0 (tdg_vp_vmcall.c): GPR_SELECT bits 0
# (RAX), 1 (RCX), 4 (RSP); bit 5 (RBP) too because KVM always configures the TD
# with TDX_CONFIG_FLAGS_NO_RBP_MOD (§2.3); and the reserved bits 63:32.
TDVMCALL_GPR_CHECK_MASK = (1 << 0) | (1 << 1) | (1 << 4) | (1 << 5)

# TDG.MEM.PAGE.ACCEPT page-info operand (page_info_api_input_t): level 2:0,
# reserved 11:3 and 63:52 must be 0.
PAGE_INFO_RESERVED = (0x1FF << 3) | (0xFFF << 52)
LVL_PT, LVL_PD = 0, 1

# Statuses of TDG.MEM.PAGE.ACCEPT.  The ALREADY_ACCEPTED / SIZE_MISMATCH
# statuses carry the S-EPT level where the walk stopped as operand id.
TDX_SUCCESS = ghci.TDX_SUCCESS
TDX_OPERAND_INVALID_RAX = ghci.TDX_OPERAND_INVALID | ghci.TDX_OPERAND_ID_RAX
TDX_OPERAND_INVALID_RCX = ghci.TDX_OPERAND_INVALID | ghci.TDX_OPERAND_ID_RCX


def accept_status(base, level):
    return base | level


# What emu/memory.py's accept() may return instead of a status (its symbolic names).
_ACCEPT_RESULTS = {
    "ok": lambda level: TDX_SUCCESS,
    "already-accepted": lambda level: accept_status(ghci.TDX_PAGE_ALREADY_ACCEPTED, level),
    "size-mismatch": lambda level: accept_status(ghci.TDX_PAGE_SIZE_MISMATCH, level),
}


def _bits(*positions):
    v = 0
    for p in positions:
        v |= 1 << p
    return v


def _ascii(text):
    return int.from_bytes(text.encode("ascii"), "little")


NO_SUBLEAF = 0xFFFFFFFF
_TD_CPUID = {}                  # TdxSysInfo.td_cpuid() answers, per process


class TdxSysInfo:
    """The fake platform's TDX module and CPU (what KVM reads with TDH.SYS.RD).

    Attributes: ATTRIBUTES_FIXED0 allows SEPT_VE_DISABLE and DEBUG, FIXED1 = 0;
    KVM offers only KVM_SUPPORTED_TDX_TD_ATTRS = SEPT_VE_DISABLE (§2.2).
    XFAM: KVM's supported XCR0|XSS is taken as 0x602E7 - the XCR0 this project's
    development host reports (docs/host-kvm.md §1: xgetbv 0x602e7: x87, SSE,
    AVX, AVX-512 opmask/ZMM_Hi256/Hi16_ZMM, PKRU, AMX TILECFG/TILEDATA);
    XFAM_FIXED0 also allows CET (11, 12), XFAM_FIXED1 = x87|SSE.
    5-level EPT: supported (like Sapphire Rapids hosts), so GPAW 52 is accepted;
    pass ept_5level=False to model a host without it.
    CPUID: a small, plausible Intel model (below); the configurable leaves are
    1, 7.0, 7.1 and 0x80000008 (masks below; an illustrative set, not a real
    module's table).  The 7.0 mask includes HLE/RTM/WAITPKG, which KVM clears
    when it reports them (§2.2) and rejects in INIT_VM (§2.3).
    """

    KVM_SUPPORTED_XCR0_XSS = 0x602E7

    def __init__(self, ept_5level=True):
        self.ept_5level = ept_5level
        self.attributes_fixed0 = ghci.TDX_ATTR_SEPT_VE_DISABLE | ghci.TDX_ATTR_DEBUG
        self.attributes_fixed1 = 0
        self.xfam_fixed0 = 0x61AE7
        self.xfam_fixed1 = 0x3
        self.max_pa = 52
        # (leaf, subleaf or NO_SUBLEAF) -> (eax, ebx, ecx, edx) configurable-bit masks
        self.cpuid_config = [
            ((0x1, NO_SUBLEAF), (0, 0, _bits(3, 17, 22, 24, 30), 0)),
            ((0x7, 0), (0, _bits(3, 4, 8, 11, 18, 19), _bits(5, 8, 9, 10), _bits(4))),
            ((0x7, 1), (_bits(4, 5), 0, 0, 0)),
            ((0x80000008, NO_SUBLEAF), (0, _bits(9), 0, 0)),
        ]
        # Native values; (leaf, subleaf or None when not sub-leaf indexed).
        leaf1_ecx = _bits(0, 1, 9, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31)
        leaf1_edx = _bits(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 19, 23, 24, 25, 26, 27)
        self.native_cpuid = {
            (0x0, None): (0x21, _ascii("Genu"), _ascii("ntel"), _ascii("ineI")),
            (0x1, None): (0x000806F8, 0x00000800, leaf1_ecx, leaf1_edx),
            (0x7, 0): (1, _bits(0, 3, 4, 5, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 23, 24, 28, 29, 30, 31),
                       _bits(1, 2, 5, 6, 8, 9, 10, 11, 12, 14), _bits(4, 10, 14, 26, 27, 29)),
            (0x7, 1): (_bits(4, 5), 0, 0, 0),
            (0xD, 0): (0, 0x2B00, 0x2B00, 0),
            (0xD, 1): (0xF, 0, 0, 0),
            (0x21, None): (0, _ascii("Inte"), _ascii("    "), _ascii("lTDX")),
            (0x80000000, None): (0x80000008, 0, 0, 0),
            (0x80000001, None): (0, 0, _bits(0, 5, 8), _bits(11, 20, 26, 27, 29)),
            (0x80000008, None): (0x3034, 0, 0, 0),       # MAXPA 52, linear 48
        }

    @property
    def supported_attrs(self):
        """tdx_get_supported_attrs(): KVM_SUPPORTED_TDX_TD_ATTRS & fixed0."""
        val = ghci.TDX_ATTR_SEPT_VE_DISABLE
        if val & self.attributes_fixed1 != self.attributes_fixed1:
            return 0
        return val & self.attributes_fixed0

    @property
    def supported_xfam(self):
        val = self.KVM_SUPPORTED_XCR0_XSS
        if val & self.xfam_fixed1 != self.xfam_fixed1:
            return 0
        return val & self.xfam_fixed0

    def td_cpuid(self, attributes, xfam, config):
        """The TD's virtualised CPUID (TDCS CPUID_VALUES after TDH.MNG.INIT): native
        values with the configurable bits taken from the INIT_VM configuration
        `config` {(leaf, subleaf): (eax, ebx, ecx, edx)} (missing leaves
        configure 0), and leaf 0xD from XFAM.  Returns entries
        (function, index, flags, eax, ebx, ecx, edx) in TDH.MNG.RD order, flags =
        SIGNIFCANT_INDEX for sub-leaf indexed leaves.  Not modelled: the module's
        attribute-dependent bits and per-vCPU APIC IDs (emu/README)."""
        # KVM_TDX_GET_CPUID and each vCPU's first entry ask for it, for every
        # TD: the answer depends on the arguments and the two tables only,
        # which are in the key (each TD has its own TdxSysInfo).
        key = (attributes, xfam, tuple(sorted(config.items())), tuple(self.cpuid_config),
               tuple(self.native_cpuid.items()))
        if key not in _TD_CPUID:
            if len(_TD_CPUID) >= 64:
                _TD_CPUID.clear()
            _TD_CPUID[key] = tuple(self._td_cpuid(attributes, xfam, config))
        return list(_TD_CPUID[key])

    def _td_cpuid(self, attributes, xfam, config):
        masks = {(leaf, 0 if sub == NO_SUBLEAF else sub): m for (leaf, sub), m in self.cpuid_config}
        out = []
        for (leaf, sub), native in sorted(self.native_cpuid.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
            key = (leaf, sub or 0)
            vals = list(native)
            if key in masks:
                user = config.get(key, (0, 0, 0, 0))
                vals = [(n & ~m) | (u & m) for n, m, u in zip(vals, masks[key], user)]
            if leaf == 0xD and sub == 0:
                vals[0], vals[3] = xfam & 0xFFFFFFFF & ~0x1800, 0     # XCR0 (user) components
            elif leaf == 0xD and sub == 1:
                vals[2] = xfam & 0x1800                                 # XSS (supervisor) components
            flags = abi.KVM_CPUID_FLAG_SIGNIFCANT_INDEX if sub is not None else 0
            out.append((leaf, sub or 0, flags) + tuple(v & 0xFFFFFFFF for v in vals))
        return out


def td_cpuid(vm):
    """What CPUID returns inside the TD (the module's virtualised values)."""
    return vm.sysinfo.td_cpuid(vm.attributes, vm.xfam, vm.cpuid_config)


class TdxModule:
    """TDCALL dispatch (td_call()) and TD entry after a TDG.VP.VMCALL."""

    def tdcall(self, vm, vcpu, regs, run):
        rax = regs.rax
        leaf, version = rax & 0xFFFF, rax >> 16 & 0xFF
        if rax >> 24:                                   # reserved0/reserved1
            status = TDX_OPERAND_INVALID_RAX
        elif version and leaf not in (ghci.TDG_VM_RD, ghci.TDG_VP_VEINFO_GET):
            status = TDX_OPERAND_INVALID_RAX            # only these leaves have versions
        elif leaf == ghci.TDG_VP_VMCALL:
            return self._vmcall(vm, vcpu, regs, run)
        elif leaf == ghci.TDG_VP_INFO:
            status = self._vp_info(vm, vcpu, regs)
        elif leaf == ghci.TDG_VP_VEINFO_GET:
            status = self._veinfo_get(vcpu, regs, version)
        elif leaf == ghci.TDG_MEM_PAGE_ACCEPT:
            status = self._page_accept(vm, vcpu, regs, run)
        else:
            # Leaves the model does not implement answer like an unknown leaf
            # (td_call() default); emu/README lists them.
            status = TDX_OPERAND_INVALID_RAX
        regs.rax = status
        return False

    # -- TDG.VP.VMCALL (§4.1) --

    def _vmcall(self, vm, vcpu, regs, run):
        ctl = regs.rcx
        if ctl & TDVMCALL_GPR_CHECK_MASK or ctl >> 32:
            regs.rax = TDX_OPERAND_INVALID_RCX          # no TD exit
            return False
        # copy_gprs_data_from_td_to_vmm(): RCX = TD exit qualification (GPR_SELECT,
        # XMM_SELECT, VM = 0 for L1); exposed GPRs from RDX up; the others 0
        # (RBP excepted: NO_RBP_MOD leaves the VMM's RBP alone).
        prev = vcpu.vp_enter_args
        vmm = Regs()
        vmm.rax = ghci.EXIT_REASON_TDCALL               # TDH.VP.ENTER returns the exit reason
        vmm.rcx = ctl & 0xFFFFFFFF
        for i in range(2, 16):
            if i == 5:
                vmm.set_gpr(i, prev.gpr(i))
            elif ctl >> i & 1:
                vmm.set_gpr(i, regs.gpr(i))
        vcpu.vp_enter_args = vmm
        vcpu.vmcall_ctl = ctl
        vcpu.exit_hlt = False           # a new TD exit (emulate_halt() sets it for HLT)
        if _vmcall.handle_tdvmcall(vm, vcpu, run):
            return True
        self._resume(vcpu, regs)
        return False

    @staticmethod
    def _resume(vcpu, regs):
        """TDH.VP.ENTER after a TDG.VP.VMCALL (save_regs_after_tdvmcall()): the
        exposed GPRs (RDX up) come from the VMM, RAX = TDX_SUCCESS, RCX = the
        guest's RCX; unexposed GPRs keep their values.  (XMM registers selected
        in RCX[31:16] are not modelled: the guest's stay as they are.)"""
        ctl = vcpu.vmcall_ctl
        vmm = vcpu.vp_enter_args
        for i in range(2, 16):
            if ctl >> i & 1:
                regs.set_gpr(i, vmm.gpr(i))
        regs.rax = ghci.TDX_SUCCESS
        regs.rcx = ctl
        vcpu.vmcall_ctl = None

    def complete(self, vm, vcpu, regs, run):
        if vcpu.vmcall_ctl is None:
            return False
        fn, vcpu.pending = vcpu.pending, None
        if fn is not None and fn(vm, vcpu, run):
            return True
        self._resume(vcpu, regs)
        return False

    # -- TDG.VP.INFO (§6) --

    @staticmethod
    def _vp_info(vm, vcpu, regs):
        regs.rcx = 52 if vm.gpaw == 52 else 48
        regs.rdx = vm.attributes
        regs.r8 = vm.num_vcpus | vm.max_vcpus << 32
        regs.r9 = vcpu.index
        regs.r10 = ghci.TDG_VP_INFO_SYS_RD_AVAILABLE
        regs.r11 = 0
        return TDX_SUCCESS

    # -- TDG.VP.VEINFO.GET --

    @staticmethod
    def _veinfo_get(vcpu, regs, version):
        regs.rcx = regs.rdx = regs.r8 = regs.r9 = regs.r10 = 0
        if version > 1:
            return TDX_OPERAND_INVALID_RAX
        info = vcpu.ve_info
        if not info:
            return ghci.TDX_NO_VALID_VE_INFO
        exit_reason, qual, gla, gpa, instr = tuple(info)[:5]
        category = tuple(info)[5] if len(tuple(info)) > 5 else 0
        regs.rcx = (exit_reason & 0xFFFFFFFF) | ((category & 0xFFFFFFFF) << 32 if version else 0)
        regs.rdx, regs.r8, regs.r9, regs.r10 = qual, gla, gpa, instr
        vcpu.ve_info = None                             # VE_INFO is free again
        return TDX_SUCCESS

    # -- TDG.MEM.PAGE.ACCEPT --

    @staticmethod
    def _page_accept(vm, vcpu, regs, run):
        rcx = regs.rcx
        level = rcx & 7
        gpa = rcx & 0x000FFFFFFFFFF000
        # verify_page_info_input(LVL_PT, LVL_PD): reserved bits, level, alignment
        if rcx & PAGE_INFO_RESERVED or level > LVL_PD or gpa & ((0x1000 << 9 * level) - 1):
            return TDX_OPERAND_INVALID_RCX
        # check_gpa_validity(PRIVATE_ONLY): shared bit clear, nothing above GPAW
        gpaw = vm.gpaw or 48
        if gpa & vm.shared_bit or gpa >> gpaw:
            return TDX_OPERAND_INVALID_RCX
        # The module's EPT violation reaches KVM when the page is not in the
        # S-EPT yet: KVM faults it in from kvm->srcu (emu/memory.py).
        try:
            vm.memory.private_fault_retry(gpa, lambda: bool(run.immediate_exit), vm.races.hold)
        except EmuRunError:
            run.exit_reason = abi.KVM_EXIT_INTR
            raise
        try:
            result = vm.memory.accept(gpa, level)
        except EmuMemoryFault as fault:
            fill_memory_fault(run, fault)
            raise
        if isinstance(result, int):
            return result
        if result in _ACCEPT_RESULTS:
            return _ACCEPT_RESULTS[result](level)
        # Not private, or no guest_memfd behind it: the module's EPT violation
        # reaches KVM, which cannot map a private page there -> memory fault.
        fault = EmuMemoryFault(gpa, 4096, private=True)
        fill_memory_fault(run, fault)
        raise fault

    # -- TD vCPU initial state (TDH.VP.INIT) --

    @staticmethod
    def initial_gprs(vm, vcpu):
        regs = Regs()
        regs.rbx = 52 if vm.gpaw == 52 else 48
        regs.rcx = regs.r8 = vcpu.init_rcx
        leaf1 = vm.sysinfo.native_cpuid[(0x1, None)]
        regs.rdx = leaf1[0]
        regs.rsi = vcpu.index & 0xFFFFFFFF
        return regs

    def initial_regs(self, vm, vcpu, kvm_regs):
        """Write the TDH.VP.INIT GPRs into a cffi `struct kvm_regs *` (all 16 GPRs;
        RIP and RFLAGS are left as the caller set them)."""
        init = self.initial_gprs(vm, vcpu)
        init.rip, init.rflags = kvm_regs.rip, kvm_regs.rflags
        init.to_kvm_regs(kvm_regs)
        return kvm_regs


def fill_memory_fault(run, fault):
    """KVM_EXIT_MEMORY_FAULT as kvm_mmu_prepare_memory_fault_exit() fills it (§3.3)."""
    run.exit_reason = abi.KVM_EXIT_MEMORY_FAULT
    run.memory_fault.flags = abi.KVM_MEMORY_EXIT_FLAG_PRIVATE if fault.private else 0
    run.memory_fault.gpa = fault.gpa & ~0xFFF
    run.memory_fault.size = fault.size
