# SPDX-License-Identifier: GPL-2.0-only
"""KVM-TDX generations: what userspace sees change between kernel releases,
and which answer the kernel under test gives.

KVM-TDX was merged for Linux 6.16; TDX hosts run every release since, and
distribution kernels that backport parts of later ones.  A case whose
expected result depends on the release asks this module which answer
applies (`current().newer(key)`) instead of asserting one kernel's answer.

CHANGES is the one table of such behaviours (docs/generations.md prints it
with its sources).  Each row names the first release with the newer answer.
For the kernel under test every row is decided once per process:

1. a side-effect-free probe, where one exists (a throw-away TD VM that is
   never initialised: no HKID, no memory, no vCPU); its answer is a fact
   about this kernel, backports included;
2. otherwise the generation: TDX_KVM_GENERATION=<release> if set (for
   backported kernels), else the release of the kernel under test
   (System.kernel_release(): uname(2) on a host, the modelled release on the
   emulated platform, TDX_EMU_KERNEL).

Kernel releases map to generations by MAJOR.MINOR: releases before 6.16 get
the 6.16 answers (a TDX host below 6.16 is a backport: say which with
TDX_KVM_GENERATION), releases after the newest one listed get the newest
answers.

GENERATIONS: "newest" is the newest KVM-TDX source read for this table,
kvm-x86/linux at 09c6f74ecb86 (arch/x86/kvm/vmx/tdx.c; past 7.3-rc1).
"""

import os
import re
from collections import namedtuple

ENV = "TDX_KVM_GENERATION"
GENERATIONS = ("6.16", "6.17", "6.18", "6.19", "7.0", "7.1", "7.2", "7.3", "newest")
NEWEST = GENERATIONS[-1]
FIRST = GENERATIONS[0]


class GenerationError(ValueError):
    """TDX_KVM_GENERATION (or TDX_EMU_KERNEL) names no generation."""


class Change(namedtuple("Change", "key behaviour older newer release commits evidence probe cases")):
    """One behaviour that changed.

    older/newer: what userspace sees before/from `release` on.  commits:
    upstream commit id and title.  evidence: how `release` was established
    (pull request or push Message-ID).  probe: the name of a side-effect-free
    probe in PROBES, or None.  cases: the suite's cases that assert it."""


CHANGES = (
    Change(
        "tsc-khz-vcpu",
        "KVM_SET_TSC_KHZ on a TD vCPU fd",
        "0 without effect (6.16-rc1..rc6 only)",
        "EINVAL: the TDX module owns the TSC (vcpu->arch.guest_tsc_protected)",
        "6.16",
        "b24bbb534c2d KVM: x86: Reject KVM_SET_TSC_KHZ vCPU ioctl for TSC protected guest",
        "KVM fixes for 6.16-rc7, Message-ID 20250718145026.179015-1-pbonzini@redhat.com",
        None,
        ("td_lifecycle.test_set_tsc_khz",)),
    Change(
        "tsc-khz-vm-after-vcpu",
        "KVM_SET_TSC_KHZ on the VM fd once a vCPU exists",
        "0, but existing vCPUs keep their frequency",
        "EINVAL (kvm->created_vcpus)",
        "6.17",
        "dcbe5a466c12 KVM: x86: Reject KVM_SET_TSC_KHZ VM ioctl when vCPUs have been created",
        "KVM pull for 6.17, Message-ID 20250730181703.113459-1-pbonzini@redhat.com",
        None,
        ("td_lifecycle.test_set_tsc_khz",)),
    Change(
        "mp-state-init-at-run",
        "KVM_SET_MP_STATE(INIT_RECEIVED or SIPI_RECEIVED) on a TD vCPU",
        "EINVAL: INIT/SIPI are blocked for a TD",
        "0 (SIPI_RECEIVED is stored as INIT_RECEIVED); the next KVM_RUN fails EINVAL (kvm_x86_vcpu_pre_run)",
        "6.17",
        "0fe3e8d804fd KVM: x86: Move INIT_RECEIVED vs. INIT/SIPI blocked check to KVM_RUN",
        "KVM pull for 6.17, Message-ID 20250730181703.113459-1-pbonzini@redhat.com",
        None,
        ("td_lifecycle.test_set_mp_state_init_received",)),
    Change(
        "irqchip-enotty",
        "KVM_CREATE_IRQCHIP on a TD VM without an irqchip",
        "0: an in-kernel I/O APIC is created, so KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP) fails EEXIST "
        "and KVM_CREATE_VCPU fails EINVAL",
        "ENOTTY: a TD has protected EOIs (kvm->arch.has_protected_eoi)",
        "6.18",
        "b3a37bff8daf KVM: TDX: Reject fully in-kernel irqchip if EOIs are protected, i.e. for TDX VMs",
        "Second batch of KVM changes for Linux 6.18, Message-ID 20251006141011.74372-1-pbonzini@redhat.com",
        "irqchip",
        ("td_lifecycle.test_irqchip_must_be_split",)),
    Change(
        "gmem-mmap-flag",
        "KVM_CAP_GUEST_MEMFD_FLAGS of a TD VM; KVM_CREATE_GUEST_MEMFD(GUEST_MEMFD_FLAG_MMAP) for a TD",
        "0 (no such capability); any flag is EINVAL",
        "GUEST_MEMFD_FLAG_MMAP; an MMAP guest_memfd can be mapped (INIT_SHARED stays EINVAL)",
        "6.18",
        "44c6cb9fe988 KVM: guest_memfd: Allow mmap() on guest_memfd for x86 VMs with private memory",
        "KVM fixes for 6.18-rc2, Message-ID 20251017213210.339764-1-seanjc@google.com",
        "gmem-flags",
        ("private_mem_access.test_guest_memfd_flags",)),
    Change(
        "memslot-invalid-no-local-retry",
        "a private EPT violation of a vCPU while another thread deletes or moves the GPA's memslot",
        "the TDX handler retries locally inside kvm->srcu while the slot is KVM_MEMSLOT_INVALID: the "
        "deletion's synchronize_srcu() waits until a signal reaches the vCPU thread (a deadlock)",
        "the handler returns to the guest; the deletion completes and the access then fails KVM_RUN with "
        "EFAULT and KVM_EXIT_MEMORY_FAULT (PRIVATE)",
        "6.18",
        "2bc2694fe20b KVM: TDX: Do not retry locally when the retry is caused by invalid memslot "
        "(no Cc: stable; no 6.17.y or 6.16.y backport found)",
        "KVM x86 MMU changes for 6.18 (tag kvm-x86-mmu-6.18), in \"Second batch of KVM changes for Linux "
        "6.18\", Message-ID 20251006141011.74372-1-pbonzini@redhat.com",
        None,
        ("private_mem_access.test_private_fault_races_memslot_delete",)),
    Change(
        "vcpu-cmd-first",
        "vCPU-fd KVM_MEMORY_ENCRYPT_OP after KVM_TDX_FINALIZE_VM with an unreadable struct kvm_tdx_cmd",
        "EINVAL: the TD state is checked before the command is copied (tdx_vcpu_ioctl)",
        "EFAULT: the command is copied and checked first (tdx_vcpu_unlocked_ioctl, tdx_get_cmd)",
        "6.19",
        "94428e3ba325 KVM: TDX: Convert INIT_MEM_REGION and INIT_VCPU to \"unlocked\" vCPU ioctl "
        "(patch 20251017003244.186495-23-seanjc@google.com)",
        "KVM TDX changes for 6.19, Message-ID 20251204180619.33800-1-pbonzini@redhat.com",
        None,
        ("td_lifecycle.test_vcpu_cmd_copied_first",)),
    Change(
        "vm-state-ebusy",
        "KVM_TDX_INIT_VM, INIT_VCPU, INIT_MEM_REGION or FINALIZE_VM while a KVM_CREATE_VCPU is in flight",
        "races could KVM_BUG_ON() the VM (every later ioctl EIO)",
        "EBUSY (tdx_acquire_vm_state_locks)",
        "6.19",
        "15945e9ec195 KVM: TDX: Guard VM state transitions with \"all\" the locks",
        "KVM TDX changes for 6.19, Message-ID 20251204180619.33800-1-pbonzini@redhat.com",
        None,
        ("td_lifecycle.test_init_mem_region_races_init_vcpu", "td_lifecycle.test_finalize_races_init_vcpu")),
    Change(
        "vp-init-mmu-lock",
        "KVM_TDX_INIT_VCPU racing fallocate(PUNCH_HOLE) of a guest_memfd with private pages in the TD",
        "TDH.VP.INIT and the S-EPT removal meet on the TDR resource: TDX_OPERAND_BUSY, KVM_BUG_ON() "
        "(the VM is dead, every later ioctl EIO)",
        "both succeed: TDH.VP.INIT runs under mmu_lock, as the S-EPT removal does",
        "6.19",
        "9a89894f30d5 KVM: TDX: Take MMU lock around tdh_vp_init()",
        "KVM TDX changes for 6.19, Message-ID 20251204180619.33800-1-pbonzini@redhat.com",
        None,
        ("td_lifecycle.test_punch_hole_races_init_vcpu",)),
    Change(
        "vcpu-free-disassociate",
        "KVM_CREATE_VCPU refused after kvm_arch_vcpu_create() (a vCPU id in use: EEXIST), then other "
        "vCPUs loaded on the same CPU",
        "the freed vCPU stays on the CPU's associated_tdvcpus list (tdx_vcpu_free() returns early while "
        "the HKID is assigned): the next vcpu_load() there oopses in list_add() (kernel BUG at "
        "lib/list_debug.c:29 with CONFIG_DEBUG_LIST, memory corruption without)",
        "tdx_vcpu_free() flushes a vCPU with vcpu->cpu != -1 from its CPU's list: nothing in the kernel log",
        "6.19",
        "1e3a825c9ec9 KVM: TDX: Fix list_add corruption during vcpu_load() "
        "(patch 20251017003244.186495-26-seanjc@google.com; no 6.18.y backport found)",
        "KVM TDX changes for 6.19, Message-ID 20251204180619.33800-1-pbonzini@redhat.com",
        None,
        ("td_lifecycle.test_duplicate_vcpu_id_then_vcpus_on_its_cpu",)),
    Change(
        "caps-no-copyback",
        "KVM_TDX_CAPABILITIES with struct kvm_tdx_cmd in a read-only page",
        "EFAULT: the command is copied back",
        "0: no copy-back",
        "6.19",
        "f26061fe2c25 KVM: TDX: Don't copy \"cmd\" back to userspace for KVM_TDX_CAPABILITIES",
        "KVM TDX changes for 6.19, Message-ID 20251204180619.33800-1-pbonzini@redhat.com",
        None,
        ("td_lifecycle.test_capabilities_cmd_read_only",)),
    Change(
        "init-mem-no-prepared",
        "KVM_TDX_INIT_MEM_REGION of a page that was already added",
        "EEXIST (kvm_gmem_populate's preparation tracking)",
        "EIO: the mapping exists, kvm_tdp_mmu_map_private_pfn() does not get RET_PF_FIXED",
        "7.0",
        "8622ef05709f KVM: guest_memfd: Remove preparation tracking",
        "KVM changes for Linux 7.0, Message-ID 20260213162059.22230-1-pbonzini@redhat.com",
        None,
        ("private_mem_access.test_init_mem_region_twice",)),
    Change(
        "init-mem-gup-first",
        "KVM_TDX_INIT_MEM_REGION with an unmapped source_addr for a page that is not PRIVATE",
        "EINVAL: the attribute is checked before the source is pinned",
        "EFAULT: kvm_gmem_populate() pins the source first",
        "7.0",
        "2a62345b3052 KVM: guest_memfd: GUP source pages prior to populating guest memory",
        "KVM changes for Linux 7.0, Message-ID 20260213162059.22230-1-pbonzini@redhat.com",
        None,
        ("private_mem_access.test_init_mem_region_bad_source",)),
    Change(
        "init-mem-null-source-eopnotsupp",
        "KVM_TDX_INIT_MEM_REGION with source_addr 0",
        "EFAULT from pinning address 0 (tdx_gmem_post_populate)",
        "EOPNOTSUPP: no source page (tdx_gmem_post_populate)",
        "7.0",
        "2a62345b3052 KVM: guest_memfd: GUP source pages prior to populating guest memory",
        "KVM changes for Linux 7.0, Message-ID 20260213162059.22230-1-pbonzini@redhat.com",
        None,
        ("private_mem_access.test_init_mem_region_null_source",)),
    Change(
        "mapgpa-user-errors",
        "MapGPA completion: userspace sets a non-zero kvm_run.hypercall.ret",
        "any value: R10 = INVALID_OPERAND, R11 = GPA of the chunk; KVM_RUN resumes the guest",
        "EAGAIN: R10 = RETRY; EINVAL: R10 = INVALID_OPERAND (R11 = GPA of the chunk); "
        "anything else: KVM_RUN fails EINVAL",
        "7.2",
        "3e2dec1ede0a KVM: TDX: Allow userspace to return errors to guest for MAPGPA",
        "7.2 merge: torvalds/linux push of 2026-06-19, Message-ID "
        "178188675002.2341802.12775457353998853506@gitolite.kernel.org; patch "
        "20260305222627.4193305-2-sagis@google.com",
        None,
        ("private_mem_access.test_map_gpa_retry_completion",
         "private_mem_access.test_map_gpa_bad_completion_fails_run")),
    Change(
        "x2apic-msrs",
        "x2APIC ISR1-7, TMR1-7, IRR1-7 and SELF_IPI through KVM_GET_MSRS and TDG.VP.VMCALL<RDMSR/WRMSR>",
        "treated as emulated by KVM: KVM_GET_MSRS processes them, the guest gets R10 = SUCCESS",
        "not emulated: KVM_GET_MSRS processes 0 entries, the guest gets INVALID_OPERAND",
        "7.2",
        "1f3e69af5f93 KVM: TDX: Fix x2APIC MSR handling in tdx_has_emulated_msr()",
        "7.2 merge: torvalds/linux push of 2026-06-19, Message-ID "
        "178188675002.2341802.12775457353998853506@gitolite.kernel.org",
        None,
        ("ghci_msr.test_x2apic_isr_tmr_irr_above_0",)),
    Change(
        "gmem-bind-eexist",
        "KVM_SET_USER_MEMORY_REGION2 binding guest_memfd offsets another memslot already binds",
        "EINVAL",
        "EEXIST (kvm_gmem_bind)",
        "7.2",
        "7ea987a90585 KVM: guest_memfd: Return -EEXIST for overlapping bindings",
        "7.2 merge: torvalds/linux push of 2026-06-19, Message-ID "
        "178188675002.2341802.12775457353998853506@gitolite.kernel.org",
        None,
        ("private_mem_access.test_guest_memfd_double_binding",)),
    Change(
        "init-vm-nent-race",
        "KVM_TDX_INIT_VM while another thread changes cpuid.nent",
        "the second read's nent bounds the array: out-of-bounds reads of the kernel copy",
        "EINVAL when the two reads differ",
        "7.2",
        "cfbebb55e512 KVM: TDX: Reject concurrent change to CPUID entry count (also 7.1.y stable)",
        "KVM fixes for 7.2-rc4: torvalds/linux push of 2026-07-16, Message-ID "
        "178421942462.2529670.17067645234298770862@gitolite.kernel.org",
        None,
        ()),
    Change(
        "init-mem-null-source-einval",
        "KVM_TDX_INIT_MEM_REGION with source_addr 0",
        "EOPNOTSUPP when the first page is populated",
        "EINVAL before any page (tdx_vcpu_init_mem_region: !region.source_addr)",
        "newest",
        "commit id not established (Sean Christopherson's TDX follow-up in the thread "
        "\"kvm: sev: Fix issues reported by Sashiko\", 2026-06-23)",
        "in kvm-x86/linux 09c6f74ecb86 (arch/x86/kvm/vmx/tdx.c); not in 7.2; release not established",
        None,
        ("private_mem_access.test_init_mem_region_null_source",)),
)

BY_KEY = {c.key: c for c in CHANGES}

# Changes in linux-next that the newest source read does not have yet: not a
# generation of this table (no case depends on them), listed for docs.
PENDING = (
    ("KVM_TDX_INIT_MEM_REGION whose nr_pages << 12 overflows u64",
     "passes the range check on the truncated size and populates page after page",
     "EINVAL",
     "7c9a2e3a4564 KVM: TDX: Reject INIT_MEM_REGION if number of bytes would overflow a u64 (linux-next)"),
    ("KVM_CREATE_VCPU with an id in use, on a TD past KVM_TDX_FINALIZE_VM",
     "EIO: tdx_vcpu_create() runs before the duplicate-id check",
     "EEXIST, if the id check now precedes the vendor hook (code not read)",
     "c5866d42f711 KVM: Move check for existing vCPU ID to the top of vCPU creation (after 7.3-rc1; "
     "release not established)"),
)


def index(release):
    return GENERATIONS.index(release)


def parse_release(text):
    """The generation of a kernel release string ("6.18.44-fc-v1272", "7.0",
    "newest"): (generation, note) or None if it names no release."""
    text = (text or "").strip()
    if text == NEWEST:
        return NEWEST, None
    m = re.match(r"^(\d+)\.(\d+)(?:[.\-+_~].*)?$", text)
    if not m:
        return None
    version = (int(m.group(1)), int(m.group(2)))
    numbered = [tuple(int(p) for p in g.split(".")) for g in GENERATIONS[:-1]]
    if version < numbered[0]:
        return FIRST, "%s predates KVM-TDX (%s): the %s answers are assumed" % (text, FIRST, FIRST)
    if version > numbered[-1]:
        return NEWEST, "%s is newer than %s: the newest answers are assumed" % (text, GENERATIONS[-2])
    name = "%d.%d" % version
    if name in GENERATIONS:
        return name, None
    return None


def check_name(variable, value):
    """`value` if it names a generation, else GenerationError: one line
    naming the environment variable it came from."""
    if value not in GENERATIONS:
        raise GenerationError("%s=%s: expected one of %s" % (variable, value, ", ".join(GENERATIONS)))
    return value


def requested(env=None):
    """TDX_KVM_GENERATION: a generation name, or None when unset.  A bad
    value raises GenerationError with a one-line message."""
    env = os.environ if env is None else env
    value = env.get(ENV, "").strip()
    if not value:
        return None
    return check_name(ENV, value)


# -- probes -------------------------------------------------------------------
# Each takes a throw-away TD VM (created, never initialised) and returns True
# (newer answer), False (older answer) or None (no verdict: the probe could not
# tell, e.g. an unexpected errno).  They only read or change state of that VM.

def _probe_irqchip(vm):
    """KVM_CREATE_IRQCHIP: ENOTTY from 6.18 on, 0 before (kvm_arch_vm_ioctl)."""
    import errno
    from tdx.lib.kvm import try_call
    err = try_call(vm.create_irqchip)
    if err == errno.ENOTTY:
        return True
    if err == 0:
        return False
    return None


def _probe_gmem_flags(vm):
    """KVM_CHECK_EXTENSION(KVM_CAP_GUEST_MEMFD_FLAGS) on the TD VM fd:
    GUEST_MEMFD_FLAG_MMAP from 6.18 on, 0 before (no such capability)."""
    from tdx.lib import abi
    from tdx.lib.kvm import KvmError
    try:
        flags = vm.check_extension(abi.KVM_CAP_GUEST_MEMFD_FLAGS)
    except KvmError:
        return None
    return bool(flags & abi.GUEST_MEMFD_FLAG_MMAP)


PROBES = {
    "irqchip": ("KVM_CREATE_IRQCHIP on a fresh TD VM", _probe_irqchip),
    "gmem-flags": ("KVM_CHECK_EXTENSION(KVM_CAP_GUEST_MEMFD_FLAGS) on a fresh TD VM", _probe_gmem_flags),
}


def run_probes(kvm, keys=None):
    """{probe name: True/False/None} on one throw-away TD VM per probe."""
    from tdx.lib import abi
    from tdx.lib.kvm import KvmError
    results = {}
    for name, (_, fn) in PROBES.items():
        if keys is not None and name not in keys:
            continue
        try:
            vm = kvm.create_vm(abi.KVM_X86_TDX_VM)
        except KvmError:
            results[name] = None
            continue
        try:
            results[name] = fn(vm)
        finally:
            vm.close()
    return results


# -- the generation of the kernel under test ------------------------------------

class Generation:
    """Which answer of every CHANGES row the kernel under test gives, and why.

    release: the generation the non-probed rows follow; how: how it was
    decided (one line); note: an assumption worth saying (or None);
    probes: {probe name: True/False/None}."""

    def __init__(self, release, how, note=None, probes=None):
        self.release = release
        self.how = how
        self.note = note
        self.probes = dict(probes or {})

    def by_release(self, key):
        return index(self.release) >= index(BY_KEY[key].release)

    def decided_by(self, key):
        """(newer?, "probe" | "release")."""
        change = BY_KEY[key]
        verdict = self.probes.get(change.probe) if change.probe else None
        if verdict is not None:
            return verdict, "probe"
        return self.by_release(key), "release"

    def newer(self, key):
        return self.decided_by(key)[0]

    def diagnostic(self, key):
        """One line for a case's KTAP diagnostics: which answer applied and why."""
        change = BY_KEY[key]
        newer, how = self.decided_by(key)
        if how == "probe":
            why = "probe: %s" % PROBES[change.probe][0]
        else:
            why = "generation %s: %s" % (self.release, self.how)
        return "kernel answer for %s: %s (newer since %s, %s; decided by %s): %s" % (
            key, "newer" if newer else "older", change.release, change.commits.split(" ", 1)[0], why,
            change.newer if newer else change.older)

    def conflicts(self):
        """Probed rows whose probe disagrees with the release: a backport, or
        (on the emulated platform) a model that breaks its own generation."""
        out = []
        for c in CHANGES:
            verdict = self.probes.get(c.probe) if c.probe else None
            if verdict is not None and verdict != self.by_release(c.key):
                out.append(c.key)
        return out

    def report(self):
        """Header lines for the driver's report (tdx.lib.compat)."""
        lines = ["kernel generation: %s (%s)" % (self.release, self.how)]
        if self.note:
            lines.append("kernel generation note: %s" % self.note)
        for name, (what, _) in PROBES.items():
            if name not in self.probes:
                continue
            verdict = self.probes[name]
            keys = ", ".join(c.key for c in CHANGES if c.probe == name)
            lines.append("kernel generation probe: %s: %s -> %s" % (
                keys, what, {True: "newer answer", False: "older answer", None: "no verdict"}[verdict]))
        for key in self.conflicts():
            lines.append("kernel generation probe: %s disagrees with %s (the probe decides; backport?)"
                         % (key, self.release))
        return lines


def decide(kernel_release, how_kernel, env=None, probes=None):
    """The Generation for a kernel release string (from System.kernel_release())."""
    override = requested(env)
    if override is not None:
        return Generation(override, "%s=%s; the kernel under test: %s%s" % (ENV, override, how_kernel,
                                                                           kernel_release), probes=probes)
    parsed = parse_release(kernel_release)
    if parsed is None:
        return Generation(NEWEST, "%s%s is no release: the newest answers are assumed; set %s"
                          % (how_kernel, kernel_release, ENV), probes=probes)
    release, note = parsed
    return Generation(release, "from %s%s; %s=<release> overrides" % (how_kernel, kernel_release, ENV),
                      note=note, probes=probes)


def detect(plat, kvm=None, env=None):
    """The Generation of the platform's kernel under test (None on platform none)."""
    if not plat.available:
        return None
    system = plat.system
    kernel_release = system.kernel_release()
    how_kernel = getattr(system, "kernel_release_source", "uname -r ")
    probes = {}
    from tdx.lib.kvm import Kvm
    own = kvm is None
    try:
        kvm = kvm or Kvm(system)
    except Exception:
        kvm = None
    if kvm is not None:
        try:
            probes = run_probes(kvm)
        finally:
            if own:
                kvm.close()
    return decide(kernel_release, how_kernel, env, probes)


_current = None


def current():
    """The Generation of this process's platform, decided once (None on platform none)."""
    global _current
    if _current is None:
        from tdx.lib import platform
        _current = detect(platform.current())
    return _current


# -- the table as docs/generations.md shows it -------------------------------------

def _cell(text):
    return text.replace("|", "\\|")


def markdown():
    """The CHANGES table in Markdown (docs/generations.md embeds it verbatim)."""
    rows = ["| key | behaviour | older answer | newer answer | commit | first release | how the suite decides "
            "| cases |",
            "|---|---|---|---|---|---|---|---|"]
    for c in CHANGES:
        how = ("probe: %s" % PROBES[c.probe][0]) if c.probe else "kernel release (TDX_KVM_GENERATION overrides)"
        rows.append("| %s |" % " | ".join(_cell(x) for x in (
            "`%s`" % c.key, c.behaviour, c.older, c.newer, c.commits, c.release, how,
            ", ".join(c.cases) or "none (not observable deterministically)")))
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    import sys
    sys.stdout.write(markdown())
