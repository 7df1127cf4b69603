# SPDX-License-Identifier: GPL-2.0-only
"""TD memory in the emulated platform: private and shared views on a plain VM.

KVM-TDX keeps two views of every guest_memfd memslot (docs/kvm-tdx-uapi.md
§3.2): the private view (guest_memfd pages, encrypted, never visible to the
host) at the GPA without the shared bit, and the shared view (the memslot's
userspace memory) at GPA|shared bit.  Which view a page may be accessed through
is its memory attribute (KVM_SET_MEMORY_ATTRIBUTES, §3.1).

The model maps that onto the real VM with ordinary memslots:
- private view: memory owned by the model (anonymous, never handed to the
  library), mapped at the GPA for pages that are PRIVATE *and* present in the
  TD (added by INIT_MEM_REGION or accepted);
- shared view: the library's userspace memory, mapped at GPA|shared bit for
  pages that are SHARED.
Everything else is left unmapped, so a guest access there leaves the real
vCPU with an MMIO exit, which `classify()` turns into what KVM-TDX does:
KVM_EXIT_MEMORY_FAULT for an attribute mismatch (§3.3), a #VE for a pending
private page or a shared GPA without memslot (§3.3), -EIO for a pending page
when SEPT_VE_DISABLE is set (§3.3).

A store to a pending page has already retired in the real vCPU when the model
sees it (docs/host-kvm.md §4: RIP is past a store that exits), while on TDX
it faults, the #VE handler accepts the page and the store runs again.  The
model keeps such a store (`hold_store()`) and applies it when the page is
accepted, after TDG.MEM.PAGE.ACCEPT has zeroed it: the page ends up as on
TDX (emu/README, "stores to pending pages").
"""

import bisect
import errno
import functools
import threading

from tdx.lib import abi
from tdx.lib.kvm import Mapping
from tdx.lib.system import buffer
from tdx.emu.errors import EmuRunError
from tdx.emu.kernel import Kernel

PAGE_SIZE = 4096
PAGE_SHIFT = 12

# Private page states (TDX module S-EPT): absent = no page AUGed or ADDed;
# pending = AUGed, waiting for TDG.MEM.PAGE.ACCEPT; mapped = usable.
PENDING = "pending"
MAPPED = "mapped"

# TDX module statuses returned in RAX by TDG.MEM.PAGE.ACCEPT (see tdx_module.py).
ACCEPT_OK = "ok"
ACCEPT_ALREADY = "already-accepted"
ACCEPT_INVALID = "invalid"      # not private / no guest_memfd behind it
ACCEPT_SIZE = "size-mismatch"   # 2M accept of a range mapped with 4K pages

KVM_USER_MEM_SLOTS = 32764      # docs/host-kvm.md §5: KVM_CAP_NR_MEMSLOTS
KVM_MEM_MAX_NR_PAGES = (1 << 31) - 1    # include/linux/kvm_host.h


def _locked(method):
    """Hold the TD's memory lock: KVM serialises memslot, attribute and
    guest_memfd changes against faults (slots_lock, mmu_lock, the invalidation
    sequence), and vCPU threads and the host's threads reach the model at once
    (memslot deletion under a running vCPU, conversions from several vCPUs)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.lock:
            return method(self, *args, **kwargs)
    return wrapper


class Slot:
    """A memslot as the library registered it."""

    def __init__(self, slot_id, flags, gpa, size, uaddr, gmem, gmem_offset, private):
        self.id = slot_id
        self.flags = flags
        self.gpa = gpa
        self.size = size
        self.uaddr = uaddr
        self.gmem = gmem
        self.gmem_offset = gmem_offset
        self.private = private          # Mapping owned by the model, or None without guest_memfd
        self.real = set()               # (gpa, size, host address) of the real memslots backing it
        # KVM_MEMSLOT_INVALID: published while a deletion or move waits for
        # the vCPUs in kvm->srcu (kvm_invalidate_memslot()).
        self.invalid = False

    def contains(self, gpa):
        return self.gpa <= gpa < self.gpa + self.size

    @property
    def private_ok(self):
        """A private page can be faulted in: the slot has a guest_memfd that is
        still open (kvm_gmem_get_pfn() fails with -EFAULT once it is closed)."""
        return self.private is not None and not self.gmem.closed


class TdMemory:
    def __init__(self, host, real_vm_fd, faults, kernel=None):
        self.host = host                # HostSystem: the real kernel
        self.fd = real_vm_fd
        self.faults = faults
        self.kernel = kernel or Kernel()    # the release played (emu/kernel.py)
        self.shared_bit = 0             # known after KVM_TDX_INIT_VM
        self.slots = {}
        self.gmem = {}                  # guest_memfd fd -> size
        self.private_gfns = set()       # attribute PRIVATE
        self.state = {}                 # gfn -> PENDING | MAPPED (private pages present in the TD)
        self.held_stores = {}           # gfn -> [(gpa, data)]: stores to a pending page (hold_store)
        self._free_real = []
        self._next_real = 0
        self._real_ids = {}             # (gpa, size, host address) -> real memslot id
        self.dirty = True
        self.lock = threading.RLock()
        self.vm = None                  # the TdVm (its locks), set by the platform
        # vCPU threads of one TD sync before each entry (emu/system.py).
        self._sync_lock = threading.Lock()

    # -- guest_memfd and memslots (KVM_CREATE_GUEST_MEMFD, KVM_SET_USER_MEMORY_REGION2) --

    @_locked
    def add_gmem(self, gmem):
        """A guest_memfd this VM created (emu/gmem.py); the file pins the VM."""
        gmem.memory = self
        self.gmem[gmem.fd] = gmem

    def _bind(self, fd, offset, size):
        """kvm_gmem_bind(): the GuestMemfd behind `fd`, or OSError."""
        gmem = self.gmem.get(fd)
        if gmem is None or gmem.closed:
            try:
                self.host.fstat(fd)
            except OSError as e:
                # fget() fails: not an open fd at all.
                raise OSError(errno.EBADF if e.errno == errno.EBADF else errno.EINVAL,
                              "guest_memfd %d" % fd) from None
            # Open, but not a guest_memfd of this VM (f_op or f->kvm differs).
            raise OSError(errno.EINVAL, "fd %d is not a guest_memfd of this VM" % fd)
        if offset & (PAGE_SIZE - 1) or offset + size > gmem.size:
            raise OSError(errno.EINVAL, "guest_memfd offset or size")
        if gmem.overlaps(offset, size):
            # Another memslot binds part of the range: EEXIST since 7.2
            # (7ea987a90585), EINVAL before (emu/kernel.py gmem-bind-eexist).
            err = errno.EEXIST if self.kernel.has("gmem-bind-eexist") else errno.EINVAL
            raise OSError(err, "guest_memfd range already bound")
        return gmem

    def set_region(self, slot_id, flags, gpa, size, uaddr, gmem_fd, gmem_offset):
        """KVM_SET_USER_MEMORY_REGION(2) under kvm->slots_lock (kvm_vm_ioctl_set_memory_region())."""
        if self.vm is None:
            with self.lock:
                return self._set_region(slot_id, flags, gpa, size, uaddr, gmem_fd, gmem_offset)
        with self.vm.slots_lock, self.lock:
            return self._set_region(slot_id, flags, gpa, size, uaddr, gmem_fd, gmem_offset)

    def _invalidate(self, slot):
        """kvm_invalidate_memslot(): publish the slot with KVM_MEMSLOT_INVALID,
        then synchronize_srcu() (kvm_swap_active_memslots()), so that no vCPU
        still uses the old slot when it is zapped.  The memory lock is let go
        meanwhile: a vCPU in kvm->srcu looks the slot up under it."""
        slot.invalid = True
        if self.vm is None:
            return
        self.vm.srcu.changed()
        self.lock.release()
        try:
            self.vm.srcu.synchronize()
        finally:
            self.lock.acquire()
            slot.invalid = False

    def _set_region(self, slot_id, flags, gpa, size, uaddr, gmem_fd, gmem_offset):
        """Validate like kvm_set_memory_region(); raise OSError(errno) on refusal."""
        valid = abi.KVM_MEM_LOG_DIRTY_PAGES | abi.KVM_MEM_GUEST_MEMFD
        # TDX VMs have no read-only memory (kvm_arch_has_readonly_mem() is false for them).
        # FAULT "readonly-memslot-accepted": before 66155de93bcf ("KVM: x86:
        # Disallow read-only memslots for SEV-ES and SEV-SNP (and TDX)", 6.11)
        # KVM_MEM_READONLY was taken for VMs with protected state, but never
        # with KVM_MEM_GUEST_MEMFD (e563592224e0, 6.8: check_memory_region_flags()).
        if "readonly-memslot-accepted" in self.faults and not flags & abi.KVM_MEM_GUEST_MEMFD:
            valid |= abi.KVM_MEM_READONLY
        if flags & ~valid or slot_id >= KVM_USER_MEM_SLOTS:
            raise OSError(errno.EINVAL, "memslot flags or id")
        if (flags & abi.KVM_MEM_GUEST_MEMFD) and (flags & abi.KVM_MEM_LOG_DIRTY_PAGES):
            raise OSError(errno.EINVAL, "guest_memfd slots cannot log dirty pages")
        # gpa + size must not wrap (u64), and at most KVM_MEM_MAX_NR_PAGES pages.
        if (gpa | size | uaddr) & (PAGE_SIZE - 1) or gpa + size >= 1 << 64 or \
                size >> PAGE_SHIFT > KVM_MEM_MAX_NR_PAGES:
            raise OSError(errno.EINVAL, "memslot alignment or range")
        old = self.slots.get(slot_id)
        if size == 0:
            if not old:
                raise OSError(errno.EINVAL, "deleting memslot %d, which does not exist" % slot_id)
            self._invalidate(old)
            self._unmap_slot(old)
            if old.private:
                old.private.close()
            if old.gmem is not None and old in old.gmem.bindings:
                old.gmem.bindings.remove(old)           # kvm_gmem_unbind()
            # The slot's private pages leave the TD (S-EPT zapped); a later access
            # through a new slot faults them in afresh.
            for gfn in range(old.gpa >> PAGE_SHIFT, (old.gpa + old.size) >> PAGE_SHIFT):
                self.state.pop(gfn, None)
                self.held_stores.pop(gfn, None)
            del self.slots[slot_id]
            self.dirty = True
            if self.vm is not None:
                self.vm.srcu.changed()          # readers waiting for the slot look again
            return
        if old:
            # Modify an existing slot: private (guest_memfd) memslots are
            # immutable; userspace_addr and size must stay; same GPA and flags
            # is a no-op, other flags (KVM_MEM_LOG_DIRTY_PAGES) a flags-only
            # change, another GPA a move.  Modifying a slot that has a
            # guest_memfd without the flag is refused here (emu/README).
            if flags & abi.KVM_MEM_GUEST_MEMFD or old.gmem is not None:
                raise OSError(errno.EINVAL, "guest_memfd memslots are immutable")
            if uaddr != old.uaddr or size != old.size:
                raise OSError(errno.EINVAL, "memslot userspace_addr or size changed")
            if gpa == old.gpa:
                old.flags = flags
                return
        for other in self.slots.values():
            if other is not old and gpa < other.gpa + other.size and other.gpa < gpa + size:
                raise OSError(errno.EEXIST, "memslot overlaps slot %d" % other.id)
        if old:
            self._invalidate(old)
            self._unmap_slot(old)
            old.gpa = gpa
            self.dirty = True
            if self.vm is not None:
                self.vm.srcu.changed()          # readers waiting for the slot look again
            return
        private = gmem = None
        if flags & abi.KVM_MEM_GUEST_MEMFD:
            gmem = self._bind(gmem_fd, gmem_offset, size)
            private = Mapping(self.host, size)
        slot = Slot(slot_id, flags, gpa, size, uaddr, gmem, gmem_offset, private)
        if gmem is not None:
            gmem.bindings.append(slot)
        self.slots[slot_id] = slot
        self.dirty = True

    def private_fault_retry(self, gpa, signal_pending, hold=None):
        """tdx_handle_ept_violation() for a private GPA, as far as its local
        retry goes (arch/x86/kvm/vmx/tdx.c): the vCPU handles the exit in
        kvm->srcu; while the GPA's memslot is being deleted or moved
        (KVM_MEMSLOT_INVALID) kvm_faultin_pfn() answers RET_PF_RETRY.  Since
        2bc2694fe20b ("KVM: TDX: Do not retry locally when the retry is caused
        by invalid memslot", 6.18) the handler then returns to the guest, which
        leaves kvm->srcu and faults again (modelled here as a wait outside the
        read side); before it, and with FAULT "memslot-delete-deadlock", it
        retries in place, inside kvm->srcu, until signal_pending(): the
        deletion's synchronize_srcu() waits as long.  Returns once the slot
        is valid or gone (the caller faults the page in as usual); raises
        EmuRunError(EINTR) for a pending signal (KVM_RUN fails EINTR, the
        access did not retire).  `hold`: the racing thread's pause inside the
        read side (EmuSystem.race: a racing deletion publishes its slot
        meanwhile)."""
        vm = self.vm
        if vm is None:
            return
        srcu = vm.srcu
        # FAULT "memslot-delete-deadlock": the newest kernel with 6.17's local retry.
        local = not vm.kernel.has("memslot-invalid-no-local-retry") or "memslot-delete-deadlock" in self.faults
        while True:
            with srcu.read():
                if hold is not None:
                    hold()
                    hold = None
                while True:
                    with self.lock:
                        slot = self.slot_of(gpa)
                        if slot is None or not slot.invalid:
                            return
                    if signal_pending():
                        raise EmuRunError(errno.EINTR, "KVM_RUN: signal during the EPT violation's local retry")
                    if not local:
                        break
                    srcu.wait_change(0.01)          # cond_resched(), still in kvm->srcu
            # Back to the guest, out of kvm->srcu: the access faults again.
            srcu.wait_change(0.01)

    def slot_of(self, gpa):
        for slot in self.slots.values():
            if slot.contains(gpa):
                return slot
        return None

    # -- attributes (KVM_SET_MEMORY_ATTRIBUTES) and conversions --

    @_locked
    def set_attributes(self, gpa, size, attributes, flags):
        # kvm_vm_ioctl_set_mem_attributes(): flags must be 0, only PRIVATE is
        # supported, range page aligned, non-empty and not wrapping.
        if flags or attributes & ~abi.KVM_MEMORY_ATTRIBUTE_PRIVATE:
            raise OSError(errno.EINVAL, "attributes")
        if (gpa | size) & (PAGE_SIZE - 1) or size == 0 or gpa + size >= 1 << 64:
            raise OSError(errno.EINVAL, "attribute range")
        private = bool(attributes & abi.KVM_MEMORY_ATTRIBUTE_PRIVATE)
        first, end = gpa >> PAGE_SHIFT, (gpa + size) >> PAGE_SHIFT
        if private:
            self.private_gfns.update(range(first, end))
        else:
            for gfn in _members(self.private_gfns, first, end):
                self.private_gfns.discard(gfn)
                # Converting to shared removes the private page from the TD
                # (TDH.MEM.PAGE.REMOVE); its content is gone for good.
                self._drop_private(gfn)
        self.dirty = True

    def _drop_private(self, gfn):
        self.state.pop(gfn, None)
        # A store held for the page never happens: on TDX it would fault again.
        self.held_stores.pop(gfn, None)
        slot = self.slot_of(gfn << PAGE_SHIFT)
        if slot and slot.private and "no-zero-on-private" not in self.faults:
            self._private_buf(slot, gfn << PAGE_SHIFT, PAGE_SIZE)[:] = bytes(PAGE_SIZE)

    def _private_base(self, slot):
        """Host address of the slot's private view.

        FAULT "private-visible": the private view is the memslot's userspace
        memory, the host's own (the shared view's backing)."""
        return slot.uaddr if "private-visible" in self.faults else slot.private.addr

    def _private_buf(self, slot, gpa, length):
        return buffer(self._private_base(slot) + gpa - slot.gpa, length)

    # -- TD build and run time --

    @_locked
    def populate(self, gpa, read_source, kernel):
        """One page of KVM_TDX_INIT_MEM_REGION: kvm_gmem_populate() and
        tdx_gmem_post_populate(), checks in the order of the release played
        (`kernel`, emu/kernel.py).  read_source() pins the source page (bytes,
        or OSError EFAULT); None for a NULL source_addr.  Returns (errno, data);
        errno 0 when the page was added with `data`."""
        slot = self.slot_of(gpa)
        if slot is None or slot.private is None:
            return errno.EINVAL, None       # kvm_slot_has_gmem()
        if slot.gmem.closed:
            return errno.EFAULT, None       # no file behind the slot
        gfn = gpa >> PAGE_SHIFT
        data = None
        gup_first = kernel.has("init-mem-gup-first")
        if gup_first and read_source is not None:
            # 7.0+: the source is pinned before the page is looked at.
            try:
                data = read_source()
            except OSError as e:
                return e.errno, None
        if not kernel.has("init-mem-no-prepared") and gfn in self.state:
            return errno.EEXIST, None       # __kvm_gmem_get_pfn(): folio already prepared
        if gfn not in self.private_gfns:
            return errno.EINVAL, None       # kvm_range_has_memory_attributes(PRIVATE)
        if data is None:
            if read_source is None and kernel.has("init-mem-null-source-eopnotsupp"):
                return errno.EOPNOTSUPP, None   # tdx_gmem_post_populate(): no source page
            # Before 7.0, tdx_gmem_post_populate() pins the source itself:
            # address 0 too (EFAULT).
            try:
                data = read_source() if read_source is not None else _raise_efault()
            except OSError as e:
                return e.errno, None
        if gfn in self.state:
            # kvm_tdp_mmu_map_private_pfn(): the S-EPT entry exists, the fault
            # is spurious (not RET_PF_FIXED): -EIO, no KVM_BUG_ON.
            return errno.EIO, None
        self._private_buf(slot, gpa, len(data))[:] = data
        self.state[gfn] = MAPPED
        self.dirty = True
        return 0, data

    @_locked
    def accept(self, gpa, level):
        """TDG.MEM.PAGE.ACCEPT of a 4K (level 0) or 2M (level 1) page."""
        size = PAGE_SIZE << (9 * level)
        if gpa & (size - 1):
            return ACCEPT_INVALID
        # A page the S-EPT walk does not find makes the TDX module exit to KVM
        # with an EPT violation at `gpa` (tdg_mem_page_accept.c, TDACCEPT_VIOLATION);
        # KVM faults that one GPA in, or reports KVM_EXIT_MEMORY_FAULT when it
        # cannot map a private page there (§3.3).
        slot = self.slot_of(gpa)
        if gpa >> PAGE_SHIFT not in self.private_gfns or slot is None or not slot.private_ok:
            return ACCEPT_INVALID
        if level:
            # KVM-TDX maps private memory with 4K pages only (§3.3): the walk
            # for a 2M accept ends at a non-leaf entry, TDACCEPT_SIZE_MISMATCH.
            return ACCEPT_SIZE
        gfn = gpa >> PAGE_SHIFT
        if self.state.get(gfn) == MAPPED:
            return ACCEPT_ALREADY
        # The module zeroes the page it accepts (init_sept_4k_page()).
        if "no-zero-on-private" not in self.faults:
            self._private_buf(slot, gpa, PAGE_SIZE)[:] = bytes(PAGE_SIZE)
        self.state[gfn] = MAPPED
        for store_gpa, data in self.held_stores.pop(gfn, ()):
            self._private_buf(slot, store_gpa, len(data))[:] = data
        self.dirty = True
        return ACCEPT_OK

    # -- guest_memfd file operations (emu/gmem.py) --

    def _gmem_gfns(self, gmem, offset, length):
        """The GFNs of this VM's memslots bound to gmem[offset, offset+length)."""
        for slot in gmem.bindings:
            first = max(offset, slot.gmem_offset)
            end = min(offset + length, slot.gmem_offset + slot.size)
            for off in range(first, end, PAGE_SIZE):
                yield slot, (slot.gpa + off - slot.gmem_offset) >> PAGE_SHIFT

    @_locked
    def punch_hole(self, gmem, offset, length):
        """fallocate(PUNCH_HOLE) (kvm_gmem_punch_hole()): the private pages of
        the range leave the TD (S-EPT zapped) and their folios are freed; a
        later access faults in a new zeroed page, pending until accepted."""
        zap = [gfn for _slot, gfn in self._gmem_gfns(gmem, offset, length) if gfn in self.state]
        if zap and self.vm is not None:
            self._zap_private(zap)
        for slot, gfn in self._gmem_gfns(gmem, offset, length):
            self.state.pop(gfn, None)
            self.held_stores.pop(gfn, None)
            if slot.private is not None and "no-zero-on-private" not in self.faults:
                self._private_buf(slot, gfn << PAGE_SHIFT, PAGE_SIZE)[:] = bytes(PAGE_SIZE)
        self.dirty = True

    def _zap_private(self, gfns):
        """The S-EPT removal of mapped private pages under mmu_lock (write):
        tdx_sept_remove_private_spte() blocks the range (TDH.MEM.RANGE.BLOCK,
        then TRACK and PAGE.REMOVE), retries once with the vCPUs kept out of
        the TD when the TDX module is busy, and treats a second failure as a
        KVM bug (the VM is dead).  The removal itself never fails the
        fallocate()."""
        vm = self.vm
        with vm.mmu_lock:
            for _attempt in range(2):
                with vm.module_locks.seamcall("TDH.MEM.RANGE.BLOCK") as status:
                    if not status:
                        return
            vm.dead = True

    @_locked
    def gmem_closed(self, gmem):
        """The guest_memfd's last close (kvm_gmem_release()): every private
        mapping of its bindings is zapped; the memslots stay, but private
        faults there fail from now on (Slot.private_ok)."""
        for slot, gfn in self._gmem_gfns(gmem, 0, gmem.size):
            self.state.pop(gfn, None)
            self.held_stores.pop(gfn, None)
        self.dirty = True

    @_locked
    def hold_store(self, gpa, data):
        """A store to pending private page `gpa` (no shared bit) that retired in
        the real vCPU; it lands when the page is accepted (module docstring)."""
        self.held_stores.setdefault(gpa >> PAGE_SHIFT, []).append((gpa, bytes(data)))

    def private_bytes(self, gpa, length):
        """The model's own access to private memory (TDX module, held stores)."""
        slot = self.slot_of(gpa)
        return self._private_buf(slot, gpa, length)

    def shared_bytes(self, gpa, length):
        slot = self.slot_of(gpa)
        return buffer(slot.uaddr + gpa - slot.gpa, length)

    @_locked
    def guest_bytes(self, real_gpa, length):
        """What a guest load at `real_gpa` (with or without the shared bit)
        would read, within one page; None where it would fault."""
        private = not (self.shared_bit and real_gpa & self.shared_bit)
        gpa = real_gpa & ~self.shared_bit if self.shared_bit else real_gpa
        slot = self.slot_of(gpa)
        if slot is None or (gpa & (PAGE_SIZE - 1)) + length > PAGE_SIZE:
            return None
        gfn = gpa >> PAGE_SHIFT
        if private:
            if gfn not in self.private_gfns or self.state.get(gfn) != MAPPED or slot.private is None:
                return None
            return bytes(self._private_buf(slot, gpa, length))
        if gfn in self.private_gfns:
            return None
        return bytes(self.shared_bytes(gpa, length))

    @_locked
    def classify(self, real_gpa):
        """What KVM-TDX does for a guest access that found no real mapping.

        Returns (kind, gpa, private); gpa without the shared bit, private =
        the access was through the private alias.  kind is
        - "fault": attribute mismatch, also for a shared access to a GPA
          without memslot whose attribute is PRIVATE (kvm_mmu_faultin_pfn()
          compares the attribute before it looks for a memslot), or a
          private access KVM cannot map (no memslot, no guest_memfd):
          KVM_EXIT_MEMORY_FAULT (§3.3);
        - "pending": private page not accepted: #VE, or KVM_RUN -EIO when
          the TD has SEPT_VE_DISABLE (§3.3);
        - "ve": shared GPA without memslot, emulated MMIO: #VE (§3.3);
        - "retry": the access is legal (the page was just mapped).
        """
        private = not (self.shared_bit and real_gpa & self.shared_bit)
        gpa = real_gpa & ~self.shared_bit if self.shared_bit else real_gpa
        slot = self.slot_of(gpa)
        gfn = gpa >> PAGE_SHIFT
        if not private:
            if gfn in self.private_gfns:
                return "fault", gpa, False
            if slot is None:
                return "ve", gpa, False     # emulated MMIO: the TD must use #VE.RequestMMIO
            return "retry", gpa, False      # shared page just mapped: run again
        if slot is None or not slot.private_ok or gfn not in self.private_gfns:
            return "fault", gpa, True
        if self.state.get(gfn) != MAPPED:
            return "pending", gpa, True
        return "retry", gpa, True

    # -- real memslots --

    @_locked
    def sync(self):
        """Make the real VM's memslots match the two views.  Only what changed
        is touched: real memslots whose range stays are left in place, so that
        other vCPUs running meanwhile keep their code, stacks and page tables
        mapped (an access to a range in flux exits as MMIO and is completed by
        the run loop under the lock)."""
        if not self.dirty:
            return
        with self._sync_lock:
            if not self.dirty:
                return
            # Cleared first: a change made meanwhile marks it dirty again.
            self.dirty = False
            want = {slot.id: set(self._slot_ranges(slot)) for slot in self.slots.values()}
            for slot in self.slots.values():
                for key in slot.real - want[slot.id]:
                    self._drop_real(key)
            for slot in self.slots.values():
                for key in want[slot.id] - slot.real:
                    real = self._free_real.pop() if self._free_real else self._alloc_real()
                    self._set_real(real, *key)
                    self._real_ids[key] = real
                slot.real = want[slot.id]

    def _slot_ranges(self, slot):
        """(gpa, size, host address) of the real memslots that back `slot`.

        Worked out from the sets of private and present pages, not page by
        page: a slot has about a thousand pages and sync() runs before the
        first entry of every TD."""
        first = slot.gpa >> PAGE_SHIFT
        end = first + (slot.size >> PAGE_SHIFT)
        private = _members(self.private_gfns, first, end)
        if slot.private is not None:
            base = self._private_base(slot)
            present = [gfn for gfn in _members(self.state, first, end)
                       if self.state[gfn] == MAPPED and gfn in self.private_gfns]
            for start, count in _runs(present):
                off = (start - first) << PAGE_SHIFT
                yield slot.gpa + off, count << PAGE_SHIFT, base + off
        if self.shared_bit:
            for start, count in _gaps(private, first, end):
                off = (start - first) << PAGE_SHIFT
                yield (slot.gpa + off) | self.shared_bit, count << PAGE_SHIFT, slot.uaddr + off

    def _alloc_real(self):
        self._next_real += 1
        return self._next_real - 1

    def _drop_real(self, key):
        real = self._real_ids.pop(key)
        self._set_real(real, 0, 0, 0)
        self._free_real.append(real)

    def _unmap_slot(self, slot):
        for key in slot.real:
            self._drop_real(key)
        slot.real = set()

    def _set_real(self, real, gpa, size, addr):
        region = _region(real, gpa, size, addr)
        self.host.ioctl(self.fd, abi.KVM_SET_USER_MEMORY_REGION, region)

    @_locked
    def close(self):
        """The VM is gone: its private memory with it.  guest_memfd fds may
        outlive it; they keep their size and flags but bind nothing."""
        for slot in self.slots.values():
            if slot.private:
                slot.private.close()
        self.slots = {}
        for gmem in self.gmem.values():
            gmem.bindings = []
            gmem.memory = None
        self.gmem = {}


def _raise_efault():
    raise OSError(errno.EFAULT, "get_user_pages_fast(NULL)")


def _members(gfns, first, end):
    """The members of `gfns` (a set or dict) in [first, end), sorted; by
    whichever of the two is smaller, with no Python frame per GFN (a TD's
    sets have about a thousand): the members sorted and the range cut out
    by bisection (a C-level sort of a set of small integers, which iterates
    nearly in order, is several times faster than a test per member), or
    each GFN of the range tested with a C-level __contains__."""
    if len(gfns) < end - first:
        members = sorted(gfns)
        return members[bisect.bisect_left(members, first):bisect.bisect_left(members, end)]
    return list(filter(gfns.__contains__, range(first, end)))


def _runs(gfns):
    """(first, count) of each run of consecutive numbers in sorted `gfns`."""
    start = prev = None
    for gfn in gfns:
        if start is None:
            start = gfn
        elif gfn != prev + 1:
            yield start, prev - start + 1
            start = gfn
        prev = gfn
    if start is not None:
        yield start, prev - start + 1


def _gaps(taken, first, end):
    """(first, count) of each run in [first, end) not in sorted `taken`."""
    at = first
    for gfn in taken:
        if gfn > at:
            yield at, gfn - at
        at = gfn + 1
    if at < end:
        yield at, end - at


def _region(slot, gpa, size, addr):
    from tdx.lib.abi import ffi
    return ffi.new("struct kvm_userspace_memory_region *", {
        "slot": slot, "flags": 0, "guest_phys_addr": gpa, "memory_size": size, "userspace_addr": addr})
