# SPDX-License-Identifier: GPL-2.0-only
"""private_mem_access: private and shared memory of a TD, conversions, and what the host can see.

Covers docs/kvm-tdx-uapi.md §3 (guest_memfd, memslots, attributes, the
shared bit, KVM_EXIT_MEMORY_FAULT, #VE and -EIO on access faults), §4.7
(MapGPA -> KVM_EXIT_HYPERCALL: validation, 2 MiB chunks, completions), §2.5
(KVM_TDX_INIT_MEM_REGION's memory rules) and §6 (TDG.MEM.PAGE.ACCEPT,
TDG.VP.VEINFO.GET), in the shapes of docs/c-selftests.md §1 rows 14
(host reading private memory), 16 (a non-guest_memfd memslot with dirty
logging), 17 (shared memory), 18 and 19 (explicit and implicit conversion)
and §5, and the cases of the upstream private_mem_kvm_exits_test.c on a TD
(a private access to a memslot without guest_memfd, a memslot deleted under
a running vCPU).

The guest reaches both views of a page without changing its page tables:
pages of the shared area are mapped identity (private alias) and at
SHARED_GVA with the shared bit (shared alias); pages above the ELF are only
identity mapped (private).  Extra memslots go at MMIO_GPA, which the guest
reaches shared at MMIO_GVA and private at MMIO_PRIVATE_GVA.

Where the answer changed between kernel releases (MapGPA's completion, a
page added twice, a bad or missing source of KVM_TDX_INIT_MEM_REGION, two
memslots on one guest_memfd range), a case asserts the answer of the kernel
under test's generation (tdx.lib.generations, docs/generations.md) and says
in a diagnostic which one applied.
"""

import errno
import threading

from tdx.lib import abi, apic, boot, ghci, races, td, tdx_cmd
from tdx.lib.kvm import KvmError, try_call
from tdx.lib.private_memory import PAGE, PRIVATE, PrivateMemoryCase, qwords
from tdx.lib.system import MAP_SHARED, PROT_READ, PROT_WRITE
from tdx.lib.testcase import main
from tdx.lib.ucall import UCALL_SYNC


# Patterns; private_mem_access.c has the same values.
SECRET = 0x5EC2E75EC2E75EC2
INIT_QWORD = 0x1111111111111111
HOST_QWORD = 0x2222222222222222
GUEST_VALUE = 0xCAFECAFE
HOST_VALUE = 0xABCDABCD

# Pages.  The shared area starts at boot.SHARED_GPA with the ucall page.
AREA_PAGE = boot.SHARED_GPA + 0x10000       # shared-area page: both aliases mapped
PENDING_PAGE = 0x200000                     # private, never added: pending once touched
UNBACKED_GPA = 0x10001000                   # no memslot: MapGPA ranges only (not 2 MiB aligned)
DIRTY_LOG_SLOT = 10
DIRTY_LOG_GPA = boot.MMIO_GPA               # mapped shared at boot.MMIO_GVA by the guest page tables
RESULT_OFFSET = 0x1000                      # in the shared area: a MapGPA's R10, R11 (private_mem_access.c)
READY_OFFSET = 0x2000                       # in the shared area: "the guest_memfd memslot is there now"
UNMAPPED_SOURCE = 0x1000                    # page aligned, below vm.mmap_min_addr: nothing to pin
TOP_SLOT = 12                               # test_init_mem_region_ends_below_shared_bit
STALE_RET = 0x5A5A5A5A5A5A5A5A              # left in kvm_run.hypercall.ret before KVM_RUN
BIND_SLOT = 11                              # memslots of test_guest_memfd_double_binding
BIND_GPA = 0xD0000000                       # no other memslot there
RETRY = ghci.TDVMCALL_STATUS_RETRY
MAP_GPA_VECTOR = 0x63                       # private_mem_access.c
INVALID_OPERAND = ghci.TDVMCALL_STATUS_INVALID_OPERAND


class PrivateMemAccess(PrivateMemoryCase):
    guest = "private_mem_access"

    # -- helpers --

    def create_td_private_page(self, entry, gpa=AREA_PAGE, **options):
        """A TD in which shared-area page `gpa` is private, added with INIT_QWORD;
        the host's own memory there holds HOST_QWORD."""
        return self.td_with_private_pages(entry, gpa, [gpa], lambda page: qwords(INIT_QWORD),
                                          lambda page: qwords(HOST_QWORD), **options)

    def map_gpa_result(self, gvm, vcpu):
        """(R10, R11) of a MapGPA the guest reported with report_map_gpa()."""
        self.assertEqual(vcpu.run_expect_sync(), 1)
        raw = gvm.read(gvm.layout.shared_gpa + RESULT_OFFSET, 16)
        return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")

    # -- the host cannot observe private data (anchor row 14) --

    def test_private_data_not_in_userspace_memory(self):
        """The memslot's userspace memory never holds private data, and host
        writes there never reach the private page."""
        gvm, vcpu = self.create_td("guest_private_secret", args=PENDING_PAGE)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.assertPage(gvm.read(PENDING_PAGE, PAGE), bytes(PAGE), "host view of a private page")
        gvm.write(PENDING_PAGE, qwords(HOST_QWORD))
        vcpu.run_until_done()
        self.assertPage(gvm.read(PENDING_PAGE, PAGE), qwords(HOST_QWORD), "host view after the host's write")

    def test_guest_memfd_cannot_be_mapped(self):
        """mmap() of a TD's guest_memfd fails (created without GUEST_MEMFD_FLAG_MMAP)."""
        gvm, vcpu = self.create_td("guest_private_secret", args=PENDING_PAGE)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        system = self.kvm.system
        for prot in (PROT_READ, PROT_READ | PROT_WRITE):
            with self.subTest(prot=prot):
                with self.assertRaises(OSError) as ctx:
                    addr = system.mmap(PAGE, prot, MAP_SHARED, gvm.gmem, PENDING_PAGE)
                    system.munmap(addr, PAGE)
                self.assertEqual(ctx.exception.errno, errno.ENODEV)
        vcpu.run_until_done()

    def test_guest_memfd_cannot_be_read(self):
        """read() and pread() of a guest_memfd fail: it has no read operation."""
        gvm, vcpu = self.create_td("guest_private_secret", args=PENDING_PAGE)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        system = self.kvm.system
        with self.assertRaises(OSError) as ctx:
            system.pread(gvm.gmem, PAGE, PENDING_PAGE)
        self.assertEqual(ctx.exception.errno, errno.ESPIPE, "pread: not a positional file")
        with self.assertRaises(OSError) as ctx:
            system.read(gvm.gmem, PAGE)
        self.assertEqual(ctx.exception.errno, errno.EINVAL, "read: no read operation")
        vcpu.run_until_done()

    def test_host_view_of_added_page(self):
        """A page added by KVM_TDX_INIT_MEM_REGION (INIT_QWORD): the guest reads
        INIT_QWORD; after each of its two writes the host's own memory there still
        holds HOST_QWORD, neither what was added nor what the guest wrote (read
        twice each time); the guest reads its last value back (docs/c-selftests.md
        §1 row 14 on an added page)."""
        gvm, vcpu = self.create_td_private_page("guest_host_view_of_added_page")
        for n in (1, 2):
            self.assertEqual(vcpu.run_expect_sync(), n)
            for _ in range(2):
                self.assertPage(gvm.read(AREA_PAGE, PAGE), qwords(HOST_QWORD), "host view after write %d" % n)
        vcpu.run_until_done()

    # -- shared memory and explicit conversion (anchor rows 17, 18) --

    def test_shared_memory_coherence(self):
        """MapGPA(shared) through KVM_EXIT_HYPERCALL; then guest and host see each other's writes."""
        gvm, vcpu = self.create_td_private_page("guest_shared_coherence")
        self.expect_map_gpa(gvm, vcpu, AREA_PAGE, 1, private=False)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.assertEqual(gvm.read(AREA_PAGE, 16), qwords(GUEST_VALUE, 1) + qwords(HOST_QWORD, 1))
        gvm.write(AREA_PAGE + 8, qwords(HOST_VALUE, 1))
        vcpu.run_until_done()

    def test_map_gpa_align_error(self):
        """Unaligned GPA or size (by half a page, and by the lowest bit alone):
        ALIGN_ERROR, R11 = R12, no exit (tdx_map_gpa(): !PAGE_ALIGNED)."""
        gvm, vcpu = self.create_td("guest_map_gpa_align_error", args=AREA_PAGE)
        vcpu.run_until_done()

    def test_map_gpa_invalid_operand(self):
        """Size 0, a wrapping range, a range across the shared bit (also by one
        byte, an unaligned size) or beyond MAXPHYADDR: INVALID_OPERAND, R11 = R12,
        no exit (checked before alignment)."""
        gvm, vcpu = self.create_td("guest_map_gpa_invalid_operand", args=AREA_PAGE)
        vcpu.run_until_done()

    def test_map_gpa_last_pages(self):
        """The edges test_map_gpa_invalid_operand refuses one page beyond: the
        last two private pages (ending at the shared bit) and the last two
        shared pages (ending at MAXPHYADDR) each exit to userspace, with the
        GPA without the shared bit; the guest gets SUCCESS for both."""
        gvm, vcpu = self.create_td("guest_map_gpa_last_pages")
        last = gvm.shared_bit - 2 * PAGE
        self.expect_map_gpa(gvm, vcpu, last, 2, private=True)
        self.expect_map_gpa(gvm, vcpu, last, 2, private=False)
        vcpu.run_until_done()

    def test_map_gpa_2m_chunks(self):
        """A range over 2 MiB arrives as 2 MiB exits counted from the guest's GPA, both ways."""
        gvm, vcpu = self.create_td("guest_map_gpa_chunks", args=UNBACKED_GPA)
        for private in (False, True):
            for i, npages in enumerate((512, 512, 2)):
                self.expect_map_gpa(gvm, vcpu, UNBACKED_GPA + i * (2 << 20), npages, private)
        vcpu.run_until_done()

    def test_map_gpa_exit_clears_stale_ret(self):
        """kvm_run.hypercall.ret is 0 at every MapGPA exit whatever the kvm_run union
        held before (9a1dfeff4414, 6.13), so a VMM that never writes it (QEMU
        <= 9.2) completes each chunk with success: the field holds other bytes
        before the first KVM_RUN and is never written after an exit (it is the
        completion's input); the guest asserts SUCCESS."""
        gvm, vcpu = self.create_td("guest_map_gpa_chunks", args=UNBACKED_GPA)
        vcpu.kvm_run.hypercall.ret = STALE_RET
        for private in (False, True):
            for i, npages in enumerate((512, 512, 2)):
                with self.subTest(private=private, chunk=i):
                    run = vcpu.run_expect(abi.KVM_EXIT_HYPERCALL)
                    self.assertEqual(run.hypercall.args[0], UNBACKED_GPA + i * (2 << 20))
                    self.assertEqual(run.hypercall.ret, 0, "hypercall.ret: %#x" % run.hypercall.ret)
                    gvm.vm.set_memory_attributes(run.hypercall.args[0], npages * PAGE, PRIVATE if private else 0)
        vcpu.run_until_done()

    def test_map_gpa_retry_completion(self):
        """hypercall.ret EAGAIN on the second chunk (generation row mapgpa-user-errors):
        RETRY since 7.2, INVALID_OPERAND before; R11 = that chunk's GPA with the
        guest's shared bit either way, and the guest resumes there."""
        gvm, vcpu = self.create_td("guest_map_gpa_retry", args=UNBACKED_GPA)
        self.expect_map_gpa(gvm, vcpu, UNBACKED_GPA, 512, private=False)
        self.expect_map_gpa(gvm, vcpu, UNBACKED_GPA + (2 << 20), 512, private=False, ret=errno.EAGAIN,
                            convert=False)
        status, r11 = self.map_gpa_result(gvm, vcpu)
        want = RETRY if self.kernel_has("mapgpa-user-errors") else INVALID_OPERAND
        self.assertStatus(status, want, "R10 after hypercall.ret EAGAIN")
        self.assertEqual(r11, (UNBACKED_GPA + (2 << 20)) | gvm.shared_bit, "R11: the chunk to redo")
        self.expect_map_gpa(gvm, vcpu, UNBACKED_GPA + (2 << 20), 512, private=False)
        vcpu.run_until_done()

    def test_map_gpa_retry_on_pending_interrupt(self):
        """An interrupt sent while the host handles the first chunk stops the
        call: RETRY with R11 = the next chunk's GPA, guest's shared bit kept
        (tdx_complete_vmcall_map_gpa(): kvm_vcpu_has_events()); the guest
        takes the interrupt, then goes on from R11."""
        gvm, vcpu = self.create_td("guest_map_gpa_interrupted", args=UNBACKED_GPA)
        self.expect_map_gpa(gvm, vcpu, UNBACKED_GPA, 512, private=False)
        self.assertEqual(gvm.vm.signal_msi(*apic.msi(vcpu.id, MAP_GPA_VECTOR)), 1)
        status, r11 = self.map_gpa_result(gvm, vcpu)
        self.assertStatus(status, RETRY, "R10 with an interrupt pending between chunks")
        self.assertEqual(r11, (UNBACKED_GPA + (2 << 20)) | gvm.shared_bit, "R11: the next chunk")
        self.expect_map_gpa(gvm, vcpu, UNBACKED_GPA + (2 << 20), 512, private=False)
        vcpu.run_until_done()

    def test_map_gpa_einval_completion(self):
        """hypercall.ret EINVAL: INVALID_OPERAND with R11 = the GPA of the failed chunk."""
        gvm, vcpu = self.create_td("guest_map_gpa_einval", args=UNBACKED_GPA)
        self.expect_map_gpa(gvm, vcpu, UNBACKED_GPA, 512, private=False)
        self.expect_map_gpa(gvm, vcpu, UNBACKED_GPA + (2 << 20), 512, private=False, ret=errno.EINVAL,
                            convert=False)
        vcpu.run_until_done()

    def test_map_gpa_bad_completion_fails_run(self):
        """A hypercall.ret other than 0, EAGAIN and EINVAL (generation row
        mapgpa-user-errors): since 7.2 the next KVM_RUN fails EINVAL; before,
        the guest gets INVALID_OPERAND with R11 = the chunk's GPA."""
        gvm, vcpu = self.create_td("guest_map_gpa_bad_ret", args=AREA_PAGE)
        self.expect_map_gpa(gvm, vcpu, AREA_PAGE, 1, private=False, ret=errno.EPERM, convert=False)
        if self.kernel_has("mapgpa-user-errors"):
            self.expect_run_error(vcpu, errno.EINVAL)
            return
        status, r11 = self.map_gpa_result(gvm, vcpu)
        self.assertStatus(status, INVALID_OPERAND, "R10 after hypercall.ret EPERM")
        self.assertEqual(r11, AREA_PAGE | gvm.shared_bit, "R11: the failed chunk")
        vcpu.run_until_done()

    def test_map_gpa_without_exit_hypercall(self):
        """Without KVM_CAP_EXIT_HYPERCALL, MapGPA is SUBFUNC_UNSUPPORTED, R11 = R12, no exit."""
        gvm, vcpu = self.create_td("guest_map_gpa_no_cap", args=AREA_PAGE, exit_hypercall=False)
        vcpu.run_until_done()

    def test_private_shared_private_reads_zero(self):
        """private -> shared -> private: the host never sees the content, the page
        must be accepted again and then reads as zero."""
        gvm, vcpu = self.create_td_private_page("guest_round_trip")
        self.expect_map_gpa(gvm, vcpu, AREA_PAGE, 1, private=False)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.assertPage(gvm.read(AREA_PAGE, PAGE), qwords(HOST_QWORD), "host view while shared")
        self.expect_map_gpa(gvm, vcpu, AREA_PAGE, 1, private=True)
        vcpu.run_until_done()
        self.assertPage(gvm.read(AREA_PAGE, PAGE), qwords(HOST_QWORD), "host view after going private")

    # -- implicit conversion (anchor row 19) --

    def test_implicit_shared_store(self):
        """A store through the shared alias of a private page: KVM_EXIT_MEMORY_FAULT
        (shared); after the conversion the stored value lands in the host's memory."""
        gvm, vcpu = self.create_td_private_page("guest_implicit_shared_store")
        self.expect_memory_fault(vcpu, AREA_PAGE, private=False)
        self.expect_memory_fault(vcpu, AREA_PAGE, private=False)    # not converted: faults again
        gvm.vm.set_memory_attributes(AREA_PAGE, PAGE, 0)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.assertEqual(gvm.read(AREA_PAGE, 24),
                         qwords(HOST_QWORD, 1) + qwords(GUEST_VALUE, 1) + qwords(HOST_QWORD, 1))
        gvm.write(AREA_PAGE + 16, qwords(HOST_VALUE, 1))
        vcpu.run_until_done()

    def test_implicit_shared_load(self):
        """A load through the shared alias of a private page: KVM_EXIT_MEMORY_FAULT
        (shared); after the conversion it reads the host's memory."""
        gvm, vcpu = self.create_td_private_page("guest_implicit_shared_load")
        self.expect_memory_fault(vcpu, AREA_PAGE, private=False)
        gvm.vm.set_memory_attributes(AREA_PAGE, PAGE, 0)
        vcpu.run_until_done()

    def test_implicit_private_store(self):
        """A store through the private alias of a shared page: KVM_EXIT_MEMORY_FAULT
        (PRIVATE); converted, the page is pending: #VE, accept, and the store lands
        in private memory only."""
        gvm, vcpu = self.create_td("guest_implicit_private_store", args=AREA_PAGE)
        gvm.write(AREA_PAGE, qwords(HOST_QWORD))
        self.expect_memory_fault(vcpu, AREA_PAGE, private=True)
        gvm.vm.set_memory_attributes(AREA_PAGE, PAGE, PRIVATE)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.assertPage(gvm.read(AREA_PAGE, PAGE), qwords(HOST_QWORD), "host view of the now private page")
        vcpu.run_until_done()

    def test_implicit_private_load(self):
        """A load through the private alias of a shared page: KVM_EXIT_MEMORY_FAULT
        (PRIVATE); converted: #VE, accept, the load reads zero, not the host's data."""
        gvm, vcpu = self.create_td("guest_implicit_private_load", args=AREA_PAGE)
        gvm.write(AREA_PAGE, qwords(HOST_QWORD))
        self.expect_memory_fault(vcpu, AREA_PAGE, private=True)
        gvm.vm.set_memory_attributes(AREA_PAGE, PAGE, PRIVATE)
        vcpu.run_until_done()

    # -- acceptance (§3.3, §6) --

    def test_accept_statuses(self):
        """TDG.MEM.PAGE.ACCEPT: success, already accepted, 2M on a 4K mapping,
        a shared GPA and a bad level."""
        gvm, vcpu = self.create_td("guest_accept_statuses", args=PENDING_PAGE)
        vcpu.run_until_done()

    def test_accept_shared_page(self):
        """ACCEPT of a page whose attribute is shared: KVM_EXIT_MEMORY_FAULT
        (PRIVATE); after the conversion the ACCEPT runs again and succeeds, once:
        the guest's next exit (a sync) and the one after it (done) come in order,
        the ACCEPT not executed again by a later KVM_RUN."""
        gvm, vcpu = self.create_td("guest_accept_shared_page", args=AREA_PAGE)
        gvm.write(AREA_PAGE, qwords(HOST_QWORD))
        self.expect_memory_fault(vcpu, AREA_PAGE, private=True)
        gvm.vm.set_memory_attributes(AREA_PAGE, PAGE, PRIVATE)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        vcpu.run_until_done()

    def test_load_before_accept_is_ve(self):
        """A load from a private page before ACCEPT (SEPT_VE_DISABLE clear): #VE,
        VEINFO says EPT violation at the GPA; after the handler's ACCEPT it reads zero."""
        gvm, vcpu = self.create_td("guest_load_before_accept", args=PENDING_PAGE + PAGE)
        vcpu.run_until_done()

    def test_store_before_accept_is_ve(self):
        """A store to a private page before ACCEPT: #VE; after the handler's ACCEPT the store lands."""
        gvm, vcpu = self.create_td("guest_store_before_accept", args=PENDING_PAGE + PAGE)
        vcpu.run_until_done()
        self.assertPage(gvm.read(PENDING_PAGE + PAGE, PAGE), bytes(PAGE), "host view of the private page")

    def test_access_before_accept_kills_td(self):
        """With SEPT_VE_DISABLE, touching a pending page kills the TD: KVM_RUN
        fails EIO, and so does every later KVM_RUN."""
        for entry in ("guest_load_pending", "guest_store_pending"):
            with self.subTest(entry=entry):
                gvm, vcpu = self.create_td(entry, args=PENDING_PAGE,
                                           attributes=abi.TDX_TD_ATTR_SEPT_VE_DISABLE)
                self.expect_run_error(vcpu, errno.EIO)
                self.expect_run_error(vcpu, errno.EIO)
                # kvm_vm_dead(): the VM fd refuses every ioctl too
                self.assertErrno(errno.EIO, gvm.vm.set_memory_attributes, PENDING_PAGE, PAGE, PRIVATE)
                gvm.close()

    # -- initial memory: KVM_TDX_INIT_MEM_REGION (§2.5) --

    def td_before_finalize(self, entry="guest_done"):
        b = self.td_builder(entry)
        b.create_vm()
        b.init_vm()
        b.add_vcpus()
        b.add_memory()
        return b

    def init_mem_region_cmd(self, b, gpa, nr_pages, source_addr=None):
        """KVM_TDX_INIT_MEM_REGION by hand (from fresh host memory unless
        `source_addr` is given); returns (errno, the written-back region, with
        source_addr as an offset from where it started)."""
        if source_addr is None:
            source_addr = b.vm.alloc(nr_pages * PAGE).addr
        region = abi.ffi.new("struct kvm_tdx_init_mem_region *", {
            "source_addr": source_addr, "gpa": gpa, "nr_pages": nr_pages})
        cmd = tdx_cmd.new_cmd(abi.KVM_TDX_INIT_MEM_REGION, int(abi.ffi.cast("uintptr_t", region)))
        try:
            tdx_cmd.tdx_ioctl(b.gvm.vcpus[0], cmd)
            err = 0
        except KvmError as e:
            err = e.errno
        return err, (region.source_addr - source_addr, region.gpa, region.nr_pages)

    def test_init_mem_region_not_private(self):
        """A page whose attribute is not PRIVATE: EINVAL, after the pages before it were added."""
        b = self.td_before_finalize()
        gpa = boot.SHARED_GPA - PAGE                # private, not added; the next page is shared
        err, progress = self.init_mem_region_cmd(b, gpa, 2)
        self.assertEqual(err, errno.EINVAL)
        self.assertEqual(progress, (PAGE, gpa + PAGE, 1), "written back: one page done")

    def test_init_mem_region_shared_gpa(self):
        """A GPA with the shared bit: EINVAL before any page is added."""
        b = self.td_before_finalize()
        gpa = PENDING_PAGE | b.gvm.shared_bit
        err, progress = self.init_mem_region_cmd(b, gpa, 1)
        self.assertEqual(err, errno.EINVAL)
        self.assertEqual(progress, (0, gpa, 1), "nothing done")

    def test_init_mem_region_ends_below_shared_bit(self):
        """A region whose last byte is the last private GPA (the page just below the
        shared bit) is added; one page more reaches the shared bit: EINVAL, nothing
        done (tdx_vcpu_init_mem_region() tests gpa + size - 1).  The page has its
        own guest_memfd memslot and PRIVATE attribute, so only the range check can
        refuse it."""
        b = self.td_before_finalize()
        gpa = b.gvm.shared_bit - PAGE
        gmem = b.vm.create_guest_memfd(PAGE)
        mem = b.vm.alloc(PAGE)
        err = try_call(b.vm.set_user_memory_region2, TOP_SLOT, abi.KVM_MEM_GUEST_MEMFD, gpa, PAGE, mem.addr,
                       gmem, 0)
        self.require(err == 0, "this host refuses a memslot just below the shared bit")
        b.vm.set_memory_attributes(gpa, PAGE, PRIVATE)
        self.assertEqual(self.init_mem_region_cmd(b, gpa, 2), (errno.EINVAL, (0, gpa, 2)),
                         "two pages: the second one is shared")
        self.assertEqual(self.init_mem_region_cmd(b, gpa, 1), (0, (PAGE, gpa + PAGE, 0)),
                         "the last private page")

    def test_init_mem_region_twice(self):
        """The same page twice, also a page of the boot image (generation row
        init-mem-no-prepared): EEXIST before 7.0; from 7.0 guest_memfd no longer
        tracks prepared pages and the existing mapping makes it EIO.  Nothing is
        done either way, and the TD still runs."""
        b = self.td_before_finalize()
        self.assertEqual(self.init_mem_region_cmd(b, PENDING_PAGE, 1), (0, (PAGE, PENDING_PAGE + PAGE, 0)))
        want = errno.EIO if self.kernel_has("init-mem-no-prepared") else errno.EEXIST
        for gpa in (PENDING_PAGE, boot.ELF_GPA):
            with self.subTest(gpa=hex(gpa)):
                err, progress = self.init_mem_region_cmd(b, gpa, 1)
                self.assertEqual(err, want, errno.errorcode.get(err, err))
                self.assertEqual(progress, (0, gpa, 1), "nothing done")
        b.finalize()
        b.gvm.vcpus[0].run_until_done()

    def test_init_mem_region_null_source(self):
        """source_addr 0 (generation rows init-mem-null-source-*): EFAULT before
        7.0 (tdx_gmem_post_populate() pins address 0), EOPNOTSUPP from 7.0 (no
        source page), EINVAL up front in the newest code.  Nothing is added: the
        struct comes back as it went in and the page can be added afterwards."""
        b = self.td_before_finalize()
        if self.kernel_has("init-mem-null-source-einval"):
            want = errno.EINVAL
        elif self.kernel_has("init-mem-null-source-eopnotsupp"):
            want = errno.EOPNOTSUPP
        else:
            want = errno.EFAULT
        err, progress = self.init_mem_region_cmd(b, PENDING_PAGE, 1, source_addr=0)
        self.assertEqual(err, want, errno.errorcode.get(err, err))
        self.assertEqual(progress, (0, PENDING_PAGE, 1), "nothing done")
        self.assertEqual(self.init_mem_region_cmd(b, PENDING_PAGE, 1), (0, (PAGE, PENDING_PAGE + PAGE, 0)))
        b.finalize()
        b.gvm.vcpus[0].run_until_done()

    def test_init_mem_region_bad_source(self):
        """A source_addr no page can be pinned at: EFAULT for a PRIVATE page in
        every release; for a page that is not PRIVATE (generation row
        init-mem-gup-first) EINVAL before 7.0, when the attribute was checked
        first, EFAULT from 7.0, when the source is pinned first."""
        b = self.td_before_finalize()
        not_private = boot.SHARED_GPA              # in the guest_memfd slot, attribute shared
        want = errno.EFAULT if self.kernel_has("init-mem-gup-first") else errno.EINVAL
        for gpa, err in ((PENDING_PAGE, errno.EFAULT), (not_private, want)):
            with self.subTest(gpa=hex(gpa)):
                got, progress = self.init_mem_region_cmd(b, gpa, 1, source_addr=UNMAPPED_SOURCE)
                self.assertEqual(got, err, errno.errorcode.get(got, got))
                self.assertEqual(progress, (0, gpa, 1), "nothing done")
        b.finalize()
        b.gvm.vcpus[0].run_until_done()

    def test_init_mem_region_non_gmem_slot(self):
        """A PRIVATE page of a memslot without guest_memfd cannot be added: EINVAL."""
        b = self.td_before_finalize()
        mem = b.vm.alloc(PAGE)
        b.vm.set_user_memory_region2(DIRTY_LOG_SLOT, 0, DIRTY_LOG_GPA, PAGE, mem.addr)
        b.vm.set_memory_attributes(DIRTY_LOG_GPA, PAGE, PRIVATE)
        err, progress = self.init_mem_region_cmd(b, DIRTY_LOG_GPA, 1)
        self.assertEqual(err, errno.EINVAL)
        self.assertEqual(progress, (0, DIRTY_LOG_GPA, 1), "nothing done")

    # -- guest_memfd and memslot rules for a TD (§3.1) --

    def test_guest_memfd_flags(self):
        """KVM_CREATE_GUEST_MEMFD on a TD takes exactly the flags the TD's
        KVM_CAP_GUEST_MEMFD_FLAGS reports (generation row gmem-mmap-flag): MMAP
        since 6.18 (mmap() is allowed for VMs with private memory), nothing
        before; never INIT_SHARED (a TD's memory starts private); others EINVAL.
        An MMAP guest_memfd can be mapped (a page fault there would be SIGBUS:
        not touched here)."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        supported = vm.check_extension(abi.KVM_CAP_GUEST_MEMFD_FLAGS)
        want = abi.GUEST_MEMFD_FLAG_MMAP if self.kernel_has("gmem-mmap-flag") else 0
        self.assertEqual(supported, want, "KVM_CAP_GUEST_MEMFD_FLAGS of a TD")
        for flags in (abi.GUEST_MEMFD_FLAG_MMAP, abi.GUEST_MEMFD_FLAG_INIT_SHARED,
                      abi.GUEST_MEMFD_FLAG_MMAP | abi.GUEST_MEMFD_FLAG_INIT_SHARED, 1 << 2):
            with self.subTest(flags=flags):
                if flags & ~supported:
                    self.assertErrno(errno.EINVAL, vm.create_guest_memfd, 4 * PAGE, flags)
                    continue
                gmem = vm.create_guest_memfd(4 * PAGE, flags)
                addr = self.kvm.system.mmap(PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, gmem, 0)
                self.kvm.system.munmap(addr, PAGE)

    def test_guest_memfd_double_binding(self):
        """A second guest_memfd memslot over offsets another one binds (generation
        row gmem-bind-eexist): EEXIST since 7.2, EINVAL before.  One page of
        overlap is enough; the adjacent range binds."""
        b = self.td_before_finalize()
        gmem = b.vm.create_guest_memfd(4 * PAGE)
        first, second = b.vm.alloc(2 * PAGE), b.vm.alloc(2 * PAGE)
        b.vm.set_user_memory_region2(BIND_SLOT, abi.KVM_MEM_GUEST_MEMFD, BIND_GPA, 2 * PAGE, first.addr, gmem, 0)
        want = errno.EEXIST if self.kernel_has("gmem-bind-eexist") else errno.EINVAL
        self.assertErrno(want, b.vm.set_user_memory_region2, BIND_SLOT + 1, abi.KVM_MEM_GUEST_MEMFD,
                         BIND_GPA + (2 << 20), 2 * PAGE, second.addr, gmem, PAGE)
        b.vm.set_user_memory_region2(BIND_SLOT + 1, abi.KVM_MEM_GUEST_MEMFD, BIND_GPA + (2 << 20), 2 * PAGE,
                                     second.addr, gmem, 2 * PAGE)
        b.finalize()
        b.gvm.vcpus[0].run_until_done()

    def test_shared_alias_private_gpa_without_memslot(self):
        """A load through the shared alias of a GPA that has no memslot but the
        PRIVATE attribute: KVM compares the attribute before it looks for a
        memslot (kvm_mmu_faultin_pfn()), so KVM_EXIT_MEMORY_FAULT (shared, the
        page without the shared bit), not the #VE of emulated MMIO.  Made shared
        and backed by a memslot, the load completes (all releases)."""
        b = self.td_before_finalize("guest_load_mmio_window")
        b.vm.set_memory_attributes(DIRTY_LOG_GPA, PAGE, PRIVATE)
        b.finalize()
        vcpu = b.gvm.vcpus[0]
        self.expect_memory_fault(vcpu, DIRTY_LOG_GPA, private=False)
        b.vm.set_memory_attributes(DIRTY_LOG_GPA, PAGE, 0)
        mem = b.vm.alloc(PAGE)
        mem.write(8, qwords(HOST_VALUE, 1))
        b.vm.set_user_memory_region2(DIRTY_LOG_SLOT, 0, DIRTY_LOG_GPA, PAGE, mem.addr)
        vcpu.run_until_done()

    def test_set_memory_attributes_rules(self):
        """KVM_SET_MEMORY_ATTRIBUTES on a TD (kvm_vm_ioctl_set_mem_attributes()),
        each refused input with the rest valid: flags bit 0..63 EINVAL, an
        attribute bit other than PRIVATE (bit 3) EINVAL, size 0, an address or
        a size off by 8 bytes, a range whose end wraps to 0 (the last page below
        2^64): EINVAL.  The page before it is taken, and the valid request on a
        real page too, twice."""
        b = self.td_before_finalize()
        vm, gpa = b.vm, DIRTY_LOG_GPA
        for i in range(64):
            with self.subTest(flags_bit=i):
                self.assertErrno(errno.EINVAL, vm.set_memory_attributes, gpa, PAGE, PRIVATE, flags=1 << i)
            with self.subTest(attribute_bit=i):
                want = 0 if 1 << i == PRIVATE else errno.EINVAL
                self.assertErrno(want, vm.set_memory_attributes, gpa, PAGE, 1 << i)
        for address, size in ((gpa, 0), (gpa + 8, PAGE), (gpa, PAGE + 8), ((1 << 64) - PAGE, PAGE)):
            with self.subTest(address=hex(address), size=hex(size)):
                self.assertErrno(errno.EINVAL, vm.set_memory_attributes, address, size, PRIVATE)
        vm.set_memory_attributes((1 << 64) - 2 * PAGE, PAGE, PRIVATE)
        for _ in range(2):
            vm.set_memory_attributes(gpa, PAGE, 0)
        b.finalize()
        b.gvm.vcpus[0].run_until_done()

    def test_memory_attributes_capability(self):
        """KVM_CAP_MEMORY_ATTRIBUTES: PRIVATE, on /dev/kvm and on a TD VM."""
        b = self.td_builder("guest_done")
        vm = b.create_vm()
        self.assertEqual(self.kvm.check_extension(abi.KVM_CAP_MEMORY_ATTRIBUTES), PRIVATE)
        self.assertEqual(vm.check_extension(abi.KVM_CAP_MEMORY_ATTRIBUTES), PRIVATE)

    def test_readonly_memslot_refused(self):
        """A TD has no read-only memory: per-VM KVM_CAP_READONLY_MEM is 0 and a
        KVM_MEM_READONLY memslot is EINVAL, with or without guest_memfd."""
        b = self.td_before_finalize()
        self.assertEqual(b.vm.check_extension(abi.KVM_CAP_READONLY_MEM), 0)
        mem = b.vm.alloc(PAGE)
        for flags in (abi.KVM_MEM_READONLY, abi.KVM_MEM_READONLY | abi.KVM_MEM_GUEST_MEMFD):
            with self.subTest(flags=flags):
                self.assertErrno(errno.EINVAL, b.vm.set_user_memory_region2, DIRTY_LOG_SLOT, flags,
                                 DIRTY_LOG_GPA, PAGE, mem.addr, b.gvm.gmem, 0)
        b.finalize()
        b.gvm.vcpus[0].run_until_done()

    def test_memslot_delete_and_modify(self):
        """Deleting a memslot that does not exist is EINVAL; a guest_memfd
        memslot is immutable (registering it again is EINVAL); the
        KVM_SET_USER_MEMORY_REGION (v1) ioctl refuses KVM_MEM_GUEST_MEMFD, also
        for a deletion of an existing memslot, which stays (kvm_vm_ioctl()
        checks the v1 flags before anything else); a plain memslot registered
        again unchanged is accepted."""
        b = self.td_before_finalize()
        vm = b.vm
        self.assertErrno(errno.EINVAL, vm.set_user_memory_region2, DIRTY_LOG_SLOT, 0, 0, 0, 0)
        low = b.gvm.shared
        self.assertErrno(errno.EINVAL, vm.set_user_memory_region2, td.LOW_SLOT, abi.KVM_MEM_GUEST_MEMFD,
                         0, low.size, low.addr, b.gvm.gmem, 0)
        mem = vm.alloc(PAGE)
        # the old ioctl has no guest_memfd fields: the flag is EINVAL there
        self.assertErrno(errno.EINVAL, vm.set_user_memory_region, DIRTY_LOG_SLOT, abi.KVM_MEM_GUEST_MEMFD,
                         DIRTY_LOG_GPA, PAGE, mem.addr)
        for _ in range(2):
            vm.set_user_memory_region2(DIRTY_LOG_SLOT, 0, DIRTY_LOG_GPA, PAGE, mem.addr)
        self.assertErrno(errno.EINVAL, vm.set_user_memory_region, DIRTY_LOG_SLOT, abi.KVM_MEM_GUEST_MEMFD,
                         DIRTY_LOG_GPA, 0, 0)
        vm.set_user_memory_region2(DIRTY_LOG_SLOT, 0, DIRTY_LOG_GPA, 0, 0)    # it was still there
        b.finalize()
        b.gvm.vcpus[0].run_until_done()

    # -- memslot problems: KVM_EXIT_MEMORY_FAULT (private_mem_kvm_exits_test) --

    def window_gmem_slot(self, b, gmem=None):
        """A guest_memfd memslot of one page at MMIO_GPA (reached privately at
        MMIO_PRIVATE_GVA), its page PRIVATE; returns the guest_memfd."""
        gmem = gmem if gmem is not None else b.vm.create_guest_memfd(PAGE)
        mem = b.vm.alloc(PAGE)
        b.vm.set_user_memory_region2(BIND_SLOT, abi.KVM_MEM_GUEST_MEMFD, boot.MMIO_GPA, PAGE, mem.addr, gmem, 0)
        b.vm.set_memory_attributes(boot.MMIO_GPA, PAGE, PRIVATE)
        return gmem

    def test_private_access_non_gmem_memslot(self):
        """A private load from a PRIVATE page of a memslot without guest_memfd: KVM
        cannot fault it in (kvm_mmu_faultin_pfn_private(): no guest_memfd), KVM_RUN
        fails EFAULT with KVM_EXIT_MEMORY_FAULT, flags PRIVATE, the page, 4096; the
        same again at the next KVM_RUN.  With a guest_memfd memslot there instead,
        the load finds a pending page: #VE, accepted, zero."""
        b = self.td_before_finalize("guest_load_private_window")
        mem = b.vm.alloc(PAGE)
        mem.write(0, qwords(HOST_VALUE))
        b.vm.set_user_memory_region2(DIRTY_LOG_SLOT, 0, boot.MMIO_GPA, PAGE, mem.addr)
        b.vm.set_memory_attributes(boot.MMIO_GPA, PAGE, PRIVATE)
        b.finalize()
        vcpu = b.gvm.vcpus[0]
        for _ in range(2):
            self.expect_memory_fault(vcpu, boot.MMIO_GPA, private=True)
        b.vm.set_user_memory_region2(DIRTY_LOG_SLOT, 0, boot.MMIO_GPA, 0, 0)
        self.window_gmem_slot(b)
        b.gvm.write(b.gvm.layout.shared_gpa + READY_OFFSET, qwords(1, 1))
        vcpu.run_until_done()

    def test_private_access_memslot_deleted_under_running_vcpu(self):
        """The guest loops loading an accepted private page of a guest_memfd
        memslot; the host deletes the memslot from another thread while KVM_RUN
        runs: KVM_RUN fails EFAULT with KVM_EXIT_MEMORY_FAULT, flags PRIVATE, the
        page, 4096 (a private fault without a memslot), and again at the next run."""
        b = self.td_before_finalize("guest_private_window_loop")
        self.window_gmem_slot(b)
        b.finalize()
        vcpu = b.gvm.vcpus[0]
        self.assertEqual(vcpu.run_expect_sync(), 1)
        outcome = {}

        def run():
            try:
                outcome["exit"] = vcpu.run_exit()
            except BaseException as e:          # reported by the main thread
                outcome["error"] = e
        thread = threading.Thread(target=run)
        thread.start()
        try:
            b.vm.set_user_memory_region2(BIND_SLOT, 0, boot.MMIO_GPA, 0, 0)
        finally:
            thread.join()
        error = outcome.get("error")
        self.assertIsInstance(error, KvmError, "KVM_RUN while the memslot went away: %r" % (outcome,))
        self.assertEqual(error.errno, errno.EFAULT, str(error))
        self.check_memory_fault(vcpu.kvm_run, boot.MMIO_GPA, private=True)
        self.expect_memory_fault(vcpu, boot.MMIO_GPA, private=True)

    @staticmethod
    def run_until_error(vcpu):
        """KVM_RUN until it fails (the KvmError), past the guest's SYNC; any
        other end (a timeout, a second SYNC) is returned for the case to report."""
        for _ in range(2):
            try:
                uc = vcpu.run_exit()
            except KvmError as e:
                return e
            except BaseException as e:          # reported by the case
                return e
            if uc is None or uc.cmd != UCALL_SYNC or uc.value != 1:
                return uc
        return "no KVM_RUN failure after two runs"

    def test_private_fault_races_memslot_delete(self):
        """The guest's first TDG.MEM.PAGE.ACCEPT of the page of a guest_memfd
        memslot (a private EPT violation KVM faults in from kvm->srcu) races the
        deletion of that memslot from another thread: the deletion returns 0,
        and KVM_RUN fails EFAULT with KVM_EXIT_MEMORY_FAULT, PRIVATE, the page,
        4096 (a private access without a memslot), again at the next run.
        Where the accept came first, the guest reports SYNC and loads the page
        until the deletion zaps it: the same failure.  The deletion publishes
        the slot KVM_MEMSLOT_INVALID and waits for kvm->srcu
        (kvm_invalidate_memslot()); tdx_handle_ept_violation() gives up its
        local retry for an invalid slot since 2bc2694fe20b (6.18, generation
        row memslot-invalid-no-local-retry); before, it retried inside
        kvm->srcu and the deletion deadlocked until a signal stopped the
        vCPU, so the case does not run on such a kernel."""
        self.require_kernel_offers(
            self.kernel_has("memslot-invalid-no-local-retry"),
            "2bc2694fe20b \"KVM: TDX: Do not retry locally when the retry is caused by invalid memslot\" "
            "(6.18): without it this race deadlocks the memslot deletion; with the fix backported, run with "
            "TDX_KVM_GENERATION=6.18")
        system = self.kvm.system
        for _ in range(races.rounds(system, real=5)):
            b = self.td_before_finalize("guest_private_window_loop")
            self.window_gmem_slot(b)
            b.finalize()
            vcpu = b.gvm.vcpus[0]
            run, delete = races.run(system, lambda: self.run_until_error(vcpu),
                                    lambda: b.vm.set_user_memory_region2(BIND_SLOT, 0, boot.MMIO_GPA, 0, 0))
            self.assertIsNot(delete, races.TIMEOUT, "the memslot deletion did not return (deadlock)")
            if isinstance(delete, BaseException):
                raise delete
            self.assertIsInstance(run, KvmError, "KVM_RUN while the memslot went away: %r" % (run,))
            self.assertEqual(run.errno, errno.EFAULT, str(run))
            self.check_memory_fault(vcpu.kvm_run, boot.MMIO_GPA, private=True)
            self.expect_memory_fault(vcpu, boot.MMIO_GPA, private=True)
            b.gvm.close()

    def test_private_page_pending_again_after_memslot_readded(self):
        """The memslot of an accepted, written private page is deleted (the vCPU
        stopped): the next load faults (KVM_EXIT_MEMORY_FAULT, PRIVATE); with the
        memslot added again over the same guest_memfd range the page is pending
        once more, not the old data: #VE, accepted, zero."""
        b = self.td_before_finalize("guest_private_window_loop")
        gmem = self.window_gmem_slot(b)
        b.finalize()
        vcpu = b.gvm.vcpus[0]
        self.assertEqual(vcpu.run_expect_sync(), 1)
        b.vm.set_user_memory_region2(BIND_SLOT, 0, boot.MMIO_GPA, 0, 0)
        self.expect_memory_fault(vcpu, boot.MMIO_GPA, private=True)
        self.window_gmem_slot(b, gmem)
        vcpu.run_until_done()

    def test_shared_access_memslot_deleted_is_ve(self):
        """A shared page of a plain memslot at MMIO_GPA the guest loads from; the
        host deletes the memslot: a shared GPA without a memslot is emulated MMIO
        for a TD, so the next load takes a #VE (EPT violation, the GPA with the
        shared bit), not a KVM_EXIT_MEMORY_FAULT.  Kernel: kvm_mmu_faultin_pfn()
        finds the attribute shared (no mismatch) and no slot;
        kvm_handle_noslot_fault() installs an MMIO SPTE, whose value a TD has
        with "suppress #VE" clear (tdx_vm_init(): kvm_mmu_set_mmio_spte_value(kvm,
        0), as merged in 6.16), so the TDX module turns the retried access into #VE."""
        b = self.td_before_finalize("guest_shared_window_gone")
        mem = b.vm.alloc(PAGE)
        mem.write(8, qwords(HOST_VALUE, 1))
        b.vm.set_user_memory_region2(DIRTY_LOG_SLOT, 0, DIRTY_LOG_GPA, PAGE, mem.addr)
        b.finalize()
        vcpu = b.gvm.vcpus[0]
        self.assertEqual(vcpu.run_expect_sync(), 1)
        b.vm.set_user_memory_region2(DIRTY_LOG_SLOT, 0, DIRTY_LOG_GPA, 0, 0)
        vcpu.run_until_done()

    # -- memslot placement (kvm_set_memory_region()) --

    def test_memslot_overlap_edges(self):
        """kvm_check_memslot_overlap(): a slot one page into another, from
        either side, is refused (EEXIST); slots that end exactly where another
        starts, before or after it, are taken.  Plain memslots at BIND_GPA,
        every other field valid."""
        b = self.td_builder("guest_accept_statuses", args=AREA_PAGE)
        b.create_vm()
        mem = b.vm.alloc(4 * PAGE)
        a = BIND_GPA + PAGE                         # [a, a + 2 pages)
        b.vm.set_user_memory_region2(BIND_SLOT, 0, a, 2 * PAGE, mem.addr + PAGE)
        self.assertErrno(errno.EEXIST, b.vm.set_user_memory_region2, BIND_SLOT + 1, 0, a + PAGE, 2 * PAGE,
                         mem.addr)
        self.assertErrno(errno.EEXIST, b.vm.set_user_memory_region2, BIND_SLOT + 1, 0, a - PAGE, 2 * PAGE,
                         mem.addr)
        b.vm.set_user_memory_region2(BIND_SLOT + 1, 0, a + 2 * PAGE, PAGE, mem.addr + 3 * PAGE)
        b.vm.set_user_memory_region2(BIND_SLOT + 2, 0, a - PAGE, PAGE, mem.addr)

    def test_memslot_v1_ids_and_alignment(self):
        """Plain and guest_memfd memslots at the edges of kvm_set_memory_region():
        the v1 ioctl (KVM_SET_USER_MEMORY_REGION) takes a plain slot, and a v2
        slot one page into it is EEXIST (KVM keeps it like any other); the last
        slot id (KVM_CAP_NR_MEMSLOTS - 1) is taken, the next refused; the GPA, the
        size, the userspace address and the guest_memfd offset, each one byte off
        a page boundary with every other field valid, are EINVAL, and so are
        KVM_SET_MEMORY_ATTRIBUTES' address and size one byte off; the valid forms
        are taken (the library checks that each returns 0)."""
        b = self.td_builder("guest_accept_statuses", args=AREA_PAGE)
        vm = b.create_vm()
        mem = vm.alloc(4 * PAGE)
        vm.set_user_memory_region(BIND_SLOT, 0, BIND_GPA + PAGE, 2 * PAGE, mem.addr)
        self.assertErrno(errno.EEXIST, vm.set_user_memory_region2, BIND_SLOT + 1, 0, BIND_GPA + 2 * PAGE, 2 * PAGE,
                         mem.addr + 2 * PAGE)
        nr = vm.check_extension(abi.KVM_CAP_NR_MEMSLOTS)
        vm.set_user_memory_region2(nr - 1, 0, BIND_GPA + 8 * PAGE, PAGE, mem.addr + 3 * PAGE)
        self.assertErrno(errno.EINVAL, vm.set_user_memory_region2, nr, 0, BIND_GPA + 9 * PAGE, PAGE,
                         mem.addr + 3 * PAGE)
        gmem = vm.create_guest_memfd(4 * PAGE)
        gpa = BIND_GPA + 16 * PAGE
        good = [BIND_SLOT + 2, abi.KVM_MEM_GUEST_MEMFD, gpa, PAGE, mem.addr, gmem, PAGE]
        for i, field in ((2, "gpa"), (3, "size"), (4, "userspace_addr"), (6, "guest_memfd_offset")):
            with self.subTest(field=field):
                self.assertErrno(errno.EINVAL, vm.set_user_memory_region2, *(good[:i] + [good[i] + 1] + good[i + 1:]))
        vm.set_user_memory_region2(*good)
        for address, size in ((gpa + 1, PAGE), (gpa, PAGE + 1)):
            with self.subTest(address=hex(address), size=size):
                self.assertErrno(errno.EINVAL, vm.set_memory_attributes, address, size, PRIVATE)
        vm.set_memory_attributes(gpa, PAGE, PRIVATE)

    def test_memslot_page_count_limit(self):
        """A memslot of KVM_MEM_MAX_NR_PAGES + 1 (2^31) pages is refused with
        EINVAL, every other field valid: GPA and userspace address page
        aligned, inside the user address space, no overlap (the accepted edge,
        2^31 - 1 pages, would be an 8 TiB slot: not built here)."""
        b = self.td_builder("guest_accept_statuses", args=AREA_PAGE)
        b.create_vm()
        pages = 1 << 31
        self.assertErrno(errno.EINVAL, b.vm.set_user_memory_region2, BIND_SLOT, 0, 1 << 44, pages * PAGE,
                         1 << 44)

    # -- a plain memslot with dirty logging (anchor row 16) --

    def test_log_dirty_pages_non_gmem_slot(self):
        """A non-guest_memfd memslot with KVM_MEM_LOG_DIRTY_PAGES, used shared by the TD."""
        self.check_log_dirty_slot(v1=False)

    def test_log_dirty_pages_non_gmem_slot_v1_ioctl(self):
        """The same memslot made with the KVM_SET_USER_MEMORY_REGION (v1) ioctl,
        whose flags may be LOG_DIRTY_PAGES and READONLY (kvm_vm_ioctl()): the TD
        uses it as before (its GPA, size and userspace address as given)."""
        self.check_log_dirty_slot(v1=True)

    def check_log_dirty_slot(self, v1):
        b = self.td_before_finalize("guest_log_dirty")
        mem = b.vm.alloc(PAGE)
        if v1:
            b.vm.set_user_memory_region(DIRTY_LOG_SLOT, abi.KVM_MEM_LOG_DIRTY_PAGES, DIRTY_LOG_GPA, PAGE, mem.addr)
        else:
            b.vm.set_user_memory_region2(DIRTY_LOG_SLOT, abi.KVM_MEM_LOG_DIRTY_PAGES, DIRTY_LOG_GPA, PAGE, mem.addr)
        b.finalize()
        vcpu = b.gvm.vcpus[0]
        # The guest reaches it through the MMIO window, GVA MMIO_GVA -> GPA MMIO_GPA | shared bit.
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.assertEqual(mem.read(0, 16), b"\xa5" * 8 + bytes(8))
        mem.write(8, qwords(HOST_VALUE, 1))
        vcpu.run_until_done()


if __name__ == "__main__":
    main()
