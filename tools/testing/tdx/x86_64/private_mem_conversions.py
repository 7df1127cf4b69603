# SPDX-License-Identifier: GPL-2.0-only
"""private_mem_conversions: conversions between private and shared, around them and at once.

The TD form of the upstream private_mem_conversions_test.c and of the C
series' UPM test (docs/c-selftests.md §1 rows 18 and 19, §5):
- explicit (MapGPA) and implicit (KVM_EXIT_MEMORY_FAULT) conversions of a
  10-page range F between two private neighbour pages A and B, both ways:
  the neighbours keep their data in the guest and in the host's view, the
  host sees its own memory and the guest's shared writes, never private
  data, and pages that come back private read 0 once accepted;
- holes: every other page of a private range made shared;
- a shared page made private and written, which the host never sees;
- 2 MiB ranges, aligned and at +4 KiB, both ways, every page checked;
- the same conversion cycle by one vCPU, by two vCPUs at once (each in its
  own thread, private_mem_conversions_test -n), by two vCPUs whose ranges
  are two memslots on one guest_memfd (-m), and with the guest_memfd range
  punched on the way to shared and allocated on the way back (the test's
  do_fallocate form).
docs/kvm-tdx-uapi.md §3.1-§3.3 and §4.7.  KVM's side: tdx_map_gpa() and
__tdx_map_gpa() (2 MiB chunks), kvm_mmu_faultin_pfn() (the attribute
mismatch that is KVM_EXIT_MEMORY_FAULT), kvm_vm_ioctl_set_mem_attributes().

Every page holds kind | vCPU << 8 | page index (private_mem_conversions.c).
"""

import threading

from tdx.lib import abi, boot
from tdx.lib.private_memory import PAGE, PRIVATE, PrivateMemoryCase, qwords
from tdx.lib.system import FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE
from tdx.lib.testcase import main

# Kinds; private_mem_conversions.c has the same values.
GUEST_KIND = 0x6E57000000000000
SHARED_KIND = 0x5A00000000000000
HOST_KIND = 0x4805000000000000
NEW_KIND = 0x4E00000000000000
INIT_KIND = 0x1A00000000000000
ADDED_KIND = 0xADD0000000000000         # what KVM_TDX_INIT_MEM_REGION added (the guest overwrites it)

NR_F = 10
AREA_PAGES = NR_F + 2
AREA = boot.SHARED_GPA + 0x20000        # A | F (10 pages) | B, in the shared area (both aliases)
SINGLE = boot.SHARED_GPA + 0x40000      # one page
CYCLE_PAGES = 4
CYCLE_BASE = boot.SHARED_GPA + 0x50000  # vCPU i's range at CYCLE_BASE + i * CYCLE_STRIDE
CYCLE_STRIDE = 0x10000
WINDOW_SLOT = 12                        # -m form: memslots WINDOW_SLOT, WINDOW_SLOT + 1 at boot.MMIO_GPA
WINDOW_STRIDE = 0x100000
PAGES_2M = 512
STAGE_PAGES = PAGES_2M + 1              # private_mem_conversions_test's per-vCPU area: 2 MiB + 4 KiB
RANGE_2M = 0x400000                     # in the 5 MiB shared area of a 8 MiB TD
BIG_MEM, BIG_SHARED = 0x800000, 0x500000
PUNCH = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE


def value(kind, page, vcpu=0):
    return kind | vcpu << 8 | page


def page_of(kind, page, vcpu=0):
    return qwords(value(kind, page, vcpu))


def area_page(i, area=AREA):
    return area + i * PAGE


def per_vcpu_threads(fn, nr_vcpus):
    """fn(i) for every vCPU index at once, each in its own host thread (the
    host side of vCPUs that run at the same time); fails with the first
    vCPU's error, naming the vCPU."""
    errors = []

    def guarded(i):
        try:
            fn(i)
        except BaseException as e:
            errors.append((i, e))
    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(nr_vcpus)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        i, e = errors[0]
        raise AssertionError("vCPU %d: %s: %s" % (i, type(e).__name__, e)) from e


class PrivateMemConversions(PrivateMemoryCase):
    guest = "private_mem_conversions"

    # -- helpers --

    def area_td(self, entry, private=range(AREA_PAGES)):
        """A TD whose area pages `private` are private (added), the others shared;
        the host's memory holds HOST_KIND everywhere."""
        gvm, vcpu = self.td_with_private_pages(entry, AREA, [area_page(i) for i in private],
                                               lambda gpa: page_of(ADDED_KIND, (gpa - AREA) // PAGE),
                                               lambda gpa: page_of(HOST_KIND, (gpa - AREA) // PAGE))
        for i in set(range(AREA_PAGES)) - set(private):
            gvm.write(area_page(i), page_of(HOST_KIND, i))
        return gvm, vcpu

    def assertHostPages(self, gvm, pages, kind, what):
        for i in pages:
            self.assertPage(gvm.read(area_page(i), PAGE), page_of(kind, i), "%s: host view of page %d" % (what, i))

    # -- the neighbours of a conversion --

    def test_explicit_to_shared_keeps_neighbours(self):
        """MapGPA(F, shared) of 10 pages between private A and B: one exit of 10
        pages; the guest still reads its data in A and B, reads the host's memory
        in F and writes there; the host sees those writes in F and its own,
        unchanged memory at A and B."""
        gvm, vcpu = self.area_td("guest_explicit_to_shared")
        self.expect_map_gpa(gvm, vcpu, area_page(1), NR_F, private=False)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.assertHostPages(gvm, range(1, NR_F + 1), SHARED_KIND, "F after the guest's shared writes")
        self.assertHostPages(gvm, (0, AREA_PAGES - 1), HOST_KIND, "A and B")
        vcpu.run_until_done()

    def test_explicit_round_trip_keeps_neighbours(self):
        """F to shared and back to private (two exits of 10 pages): A and B keep
        the guest's data, every F page reads 0 once accepted again, then the whole
        area takes new private data; the host's view never changes."""
        gvm, vcpu = self.area_td("guest_explicit_round_trip")
        self.expect_map_gpa(gvm, vcpu, area_page(1), NR_F, private=False)
        self.expect_map_gpa(gvm, vcpu, area_page(1), NR_F, private=True)
        vcpu.run_until_done()
        self.assertHostPages(gvm, range(AREA_PAGES), HOST_KIND, "after the round trip")

    def test_implicit_to_shared_keeps_neighbours(self):
        """A store through the shared alias of each F page: KVM_EXIT_MEMORY_FAULT
        (flags 0) for exactly that page, ten times; after each conversion the
        store lands in the host's memory (one qword) and A and B keep the
        guest's data."""
        gvm, vcpu = self.area_td("guest_implicit_to_shared")
        for i in range(1, NR_F + 1):
            self.expect_memory_fault(vcpu, area_page(i), private=False)
            gvm.vm.set_memory_attributes(area_page(i), PAGE, 0)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        for i in range(1, NR_F + 1):
            want = bytearray(page_of(HOST_KIND, i))
            want[8:16] = value(SHARED_KIND, i).to_bytes(8, "little")
            self.assertPage(gvm.read(area_page(i), PAGE), bytes(want), "F page %d" % i)
        self.assertHostPages(gvm, (0, AREA_PAGES - 1), HOST_KIND, "A and B")
        vcpu.run_until_done()

    def test_implicit_to_private_keeps_neighbours(self):
        """F shared, A and B private: a store through the private alias of each F
        page faults (flags PRIVATE) for exactly that page; once converted the page
        is pending (#VE, accepted: the guest counts ten) and the store lands in
        private memory only; the host's view of all twelve pages is unchanged."""
        gvm, vcpu = self.area_td("guest_implicit_to_private", private=(0, AREA_PAGES - 1))
        for i in range(1, NR_F + 1):
            self.expect_memory_fault(vcpu, area_page(i), private=True)
            gvm.vm.set_memory_attributes(area_page(i), PAGE, PRIVATE)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.assertHostPages(gvm, range(AREA_PAGES), HOST_KIND, "after the private stores")
        vcpu.run_until_done()

    def test_holes_in_a_private_range(self):
        """F private with guest data, every other page made shared (five MapGPAs
        of one page): those show the host's old data to the host, which writes
        new data the guest then reads; the pages between keep the guest's
        private data, and the host's view of them stays its own."""
        gvm, vcpu = self.area_td("guest_holes")
        odd = range(2, NR_F + 1, 2)
        for i in odd:
            self.expect_map_gpa(gvm, vcpu, area_page(i), 1, private=False)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        self.assertHostPages(gvm, odd, HOST_KIND, "the holes before the host writes")
        for i in odd:
            gvm.write(area_page(i), page_of(NEW_KIND, i))
        vcpu.run_until_done()
        self.assertHostPages(gvm, range(1, NR_F + 1, 2), HOST_KIND, "the private pages between the holes")

    def test_shared_to_private_write_not_seen(self):
        """A shared page with the host's data made private by MapGPA, accepted (0)
        and written: the host's view still holds its own data, read twice."""
        gvm, vcpu = self.create_td("guest_shared_to_private_write", args=SINGLE)
        gvm.write(SINGLE, page_of(HOST_KIND, 0))
        self.expect_map_gpa(gvm, vcpu, SINGLE, 1, private=True)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        for _ in range(2):
            self.assertPage(gvm.read(SINGLE, PAGE), page_of(HOST_KIND, 0), "host view of the private page")
        vcpu.run_until_done()

    def test_map_gpa_to_current_state_keeps_data(self):
        """MapGPA of a private page to private and of a shared page to shared:
        each still exits (KVM does not look at the attributes), and setting the
        attribute a page already has changes nothing (kvm_vm_set_mem_attributes():
        nothing to do): the private page keeps its data and stays accepted, the
        shared page keeps the host's data."""
        gvm, vcpu = self.area_td("guest_map_gpa_same_state", private=(0,))
        self.expect_map_gpa(gvm, vcpu, area_page(0), 1, private=True)
        self.expect_map_gpa(gvm, vcpu, area_page(1), 1, private=False)
        vcpu.run_until_done()
        self.assertHostPages(gvm, (0, 1), HOST_KIND, "A and the shared page")

    # -- 2 MiB ranges --

    def map_gpa_2m(self, start):
        """guest_map_gpa_2m over 512 pages from `start`, both directions, every page
        checked by the host (and by the guest on the way to shared)."""
        gvm, vcpu = self.create_td("guest_map_gpa_2m", args=start, mem_size=BIG_MEM, shared_size=BIG_SHARED)
        pages = range(PAGES_2M)
        for i in pages:
            gvm.write(start + i * PAGE, qwords(value(HOST_KIND, i), 1))
        self.expect_map_gpa(gvm, vcpu, start, PAGES_2M, private=True)
        self.assertEqual(vcpu.run_expect_sync(), 1)
        for i in pages:
            self.assertEqual(gvm.read(start + i * PAGE, 16), qwords(value(HOST_KIND, i), 1) + bytes(8),
                             "host view of private page %d" % i)
        self.expect_map_gpa(gvm, vcpu, start, PAGES_2M, private=False)
        self.assertEqual(vcpu.run_expect_sync(), 2)
        for i in pages:
            self.assertEqual(gvm.read(start + i * PAGE, 16), qwords(value(SHARED_KIND, i), 1) + bytes(8),
                             "host view of shared page %d" % i)
        vcpu.run_until_done()

    def test_map_gpa_2m_aligned_both_directions(self):
        """A 2 MiB-aligned 2 MiB range of backed memory to private and back to
        shared: one exit of 512 pages each way; private pages read 0 once
        accepted and never show in the host's view; shared, the guest reads the
        host's data on every page and the host sees the guest's."""
        self.map_gpa_2m(RANGE_2M)

    def test_map_gpa_2m_unaligned_both_directions(self):
        """The same over 2 MiB at +4 KiB (across a 2 MiB boundary): one exit of 512
        pages from the guest's GPA each way (chunks are counted from the start,
        not aligned)."""
        self.map_gpa_2m(RANGE_2M + PAGE)

    # -- the stages of private_mem_conversions_test (a 2 MiB + 4 KiB area) --

    def stage(self, first, pages):
        """guest_stage over STAGE_PAGES pages from RANGE_2M: pages [first,
        first + pages) to private and back to shared, every page of the area
        checked by the host at each step."""
        gvm, vcpu = self.create_td("guest_stage", args=RANGE_2M, mem_size=BIG_MEM, shared_size=BIG_SHARED)
        gvm.write(gvm.layout.shared_gpa + 0x1000, (first << 32 | pages).to_bytes(8, "little"))
        for i in range(STAGE_PAGES):
            gvm.write(RANGE_2M + i * PAGE, qwords(value(INIT_KIND, i), 1))
        self.expect_map_gpa(gvm, vcpu, RANGE_2M + first * PAGE, pages, private=True)
        stage = range(first, first + pages)
        for step, kind in ((1, SHARED_KIND), (2, NEW_KIND)):
            self.assertEqual(vcpu.run_expect_sync(), step)
            for i in range(STAGE_PAGES):
                want = value(kind if i in stage else INIT_KIND, i)
                self.assertEqual(gvm.read(RANGE_2M + i * PAGE, 8), qwords(want, 1),
                                 "host view of page %d at sync %d" % (i, step))
            if step == 1:
                self.expect_map_gpa(gvm, vcpu, RANGE_2M + first * PAGE, pages, private=False)
        vcpu.run_until_done()

    def test_stage_page_at_0(self):
        """Stage (0, 4 KiB): the first page alone; the page after it stays shared."""
        self.stage(0, 1)

    def test_stage_2m_at_0(self):
        """Stage (0, 2 MiB): 512 pages in one exit each way; the last page of the
        area stays shared."""
        self.stage(0, PAGES_2M)

    def test_stage_page_at_4k(self):
        """Stage (4 KiB, 4 KiB): one page with shared neighbours on both sides."""
        self.stage(1, 1)

    def test_stage_2m_at_4k(self):
        """Stage (4 KiB, 2 MiB): across the 2 MiB boundary, to the area's end."""
        self.stage(1, PAGES_2M)

    def test_stage_page_at_2m(self):
        """Stage (2 MiB, 4 KiB): the last page alone, after 512 shared ones."""
        self.stage(PAGES_2M, 1)

    def test_round_trips_one_page(self):
        """Three private/shared round trips of one page: private, it must be
        accepted each time and reads 0 whatever the round before wrote; shared,
        it shows the host's data; the host's view never changes."""
        gvm, vcpu = self.create_td("guest_round_trips", args=SINGLE)
        gvm.write(SINGLE, page_of(HOST_KIND, 0))
        for _ in range(3):
            self.expect_map_gpa(gvm, vcpu, SINGLE, 1, private=True)
            self.expect_map_gpa(gvm, vcpu, SINGLE, 1, private=False)
        vcpu.run_until_done()
        self.assertPage(gvm.read(SINGLE, PAGE), page_of(HOST_KIND, 0), "host view after three round trips")

    # -- the conversion cycle, by one vCPU and by several at once --

    def cycle(self, gvm, vcpu, base, index, exits, gmem=None, offset=0, view=None):
        """Run vCPU `vcpu` (index `index`) through guest_conversion_cycle over its
        range at `base`, answering MapGPA and checking at each GUEST_SYNC;
        `exits` collects the MapGPA exits.  With `gmem`, the guest_memfd range
        (from `offset`) is punched on the way to shared and allocated on the way
        to private, as private_mem_conversions_test's do_fallocate form does;
        `view` reads the host's memory where it is not slot 0's."""
        size = CYCLE_PAGES * PAGE
        view = view or gvm
        syncs = 0
        while True:
            uc = vcpu.run_exit()
            if uc is None:
                run = vcpu.kvm_run
                self.assertEqual(run.exit_reason, abi.KVM_EXIT_HYPERCALL, "vCPU %d" % index)
                private = run.hypercall.args[2] == abi.KVM_MAP_GPA_RANGE_ENCRYPTED
                self.check_map_gpa(run, base, CYCLE_PAGES, private)
                if gmem is not None:
                    mode = FALLOC_FL_KEEP_SIZE if private else PUNCH
                    self.kvm.system.fallocate(gmem, mode, offset, size)
                gvm.vm.set_memory_attributes(base, size, PRIVATE if private else 0)
                exits.append((index, private))
                continue
            if uc.name == "DONE":
                return syncs
            self.assertEqual(uc.name, "SYNC", "vCPU %d" % index)
            syncs += 1
            kind = INIT_KIND if uc.value == 1 else NEW_KIND
            for i in range(CYCLE_PAGES):
                got = view.read(base + i * PAGE, PAGE)
                self.assertPage(got, page_of(kind, i, index), "vCPU %d page %d at sync %d" % (index, i, uc.value))
                if uc.value == 1:
                    view.write(base + i * PAGE, page_of(NEW_KIND, i, index))

    def run_cycles(self, gvm, bases, **kw):
        """Every vCPU through its cycle in its own thread, at once; returns the
        MapGPA exits, failing with the first vCPU's error."""
        exits = []

        def one(i):
            self.assertEqual(self.cycle(gvm, gvm.vcpus[i], bases[i], i, exits, **kw), 2)
        per_vcpu_threads(one, len(bases))
        return exits

    def test_cycle_one_vcpu(self):
        """The 1-vCPU form: shared -> private -> shared over 4 pages, two MapGPA
        exits, the host's data back in the shared view at the end."""
        gvm, _ = self.create_td("guest_conversion_cycle", args=CYCLE_BASE)
        exits = self.run_cycles(gvm, [CYCLE_BASE])
        self.assertEqual(exits, [(0, True), (0, False)])

    def test_cycle_two_vcpus_at_once(self):
        """Two vCPUs run the cycle at the same time, each over its own range, each
        answered from its own host thread: every vCPU sees two exits for its own
        range and only its own data (the values carry the vCPU index)."""
        bases = [CYCLE_BASE + i * CYCLE_STRIDE for i in range(2)]
        gvm, _ = self.create_td("guest_conversion_cycle", nr_vcpus=2, args=bases)
        exits = self.run_cycles(gvm, bases)
        self.assertEqual(sorted(exits), [(0, False), (0, True), (1, False), (1, True)])

    def test_cycle_two_memslots_one_guest_memfd(self):
        """Two vCPUs at once whose ranges are two memslots bound to one guest_memfd
        at different offsets (private_mem_conversions_test -m): each vCPU's
        private pages come from its own part of the file."""
        bases = [boot.MMIO_GPA + i * WINDOW_STRIDE for i in range(2)]
        b = self.td_builder("guest_conversion_cycle", nr_vcpus=2, args=bases)
        b.create_vm()
        b.init_vm()
        b.add_vcpus()
        b.add_memory()
        gmem = b.vm.create_guest_memfd(2 * CYCLE_PAGES * PAGE)
        view = WindowView()
        for i, base in enumerate(bases):
            mem = b.vm.alloc(CYCLE_PAGES * PAGE)
            b.vm.set_user_memory_region2(WINDOW_SLOT + i, abi.KVM_MEM_GUEST_MEMFD, base, CYCLE_PAGES * PAGE,
                                         mem.addr, gmem, i * CYCLE_PAGES * PAGE)
            view.add(mem, base, CYCLE_PAGES * PAGE)
        b.finalize()
        exits = self.run_cycles(b.gvm, bases, view=view)
        self.assertEqual(sorted(exits), [(0, False), (0, True), (1, False), (1, True)])

    def test_cycle_two_vcpus_adjacent_ranges(self):
        """Two vCPUs at once over ranges that touch (vCPU 1's first page follows
        vCPU 0's last): each conversion leaves the other vCPU's pages, its
        neighbours, as they are."""
        bases = [CYCLE_BASE + i * CYCLE_PAGES * PAGE for i in range(2)]
        gvm, _ = self.create_td("guest_conversion_cycle", nr_vcpus=2, args=bases)
        exits = self.run_cycles(gvm, bases)
        self.assertEqual(sorted(exits), [(0, False), (0, True), (1, False), (1, True)])

    def implicit_cycles(self, nr_vcpus):
        """guest_implicit_cycle on each vCPU at once, each answered by its own
        host thread: per vCPU a KVM_EXIT_MEMORY_FAULT for each page and each
        direction, converted; at the end the host sees each vCPU's shared store."""
        bases = [CYCLE_BASE + i * CYCLE_STRIDE for i in range(nr_vcpus)]
        gvm, _ = self.create_td("guest_implicit_cycle", nr_vcpus=nr_vcpus, args=bases)
        for i, base in enumerate(bases):
            for page in range(CYCLE_PAGES):
                gvm.write(base + page * PAGE, page_of(HOST_KIND, page, i))
        faults = []

        def one(i):
            vcpu, base = gvm.vcpus[i], bases[i]
            for private in (True, False):
                for page in range(CYCLE_PAGES):
                    self.expect_memory_fault(vcpu, base + page * PAGE, private)
                    gvm.vm.set_memory_attributes(base + page * PAGE, PAGE, PRIVATE if private else 0)
                    faults.append((i, private))
            self.assertEqual(vcpu.run_expect_sync(), 1)
            for page in range(CYCLE_PAGES):
                want = bytearray(page_of(HOST_KIND, page, i))
                want[16:24] = value(SHARED_KIND, page, i).to_bytes(8, "little")
                self.assertPage(gvm.read(base + page * PAGE, PAGE), bytes(want), "vCPU %d page %d" % (i, page))
            vcpu.run_until_done()
        per_vcpu_threads(one, nr_vcpus)
        for i in range(nr_vcpus):
            self.assertEqual(sorted(p for v, p in faults if v == i), [False] * CYCLE_PAGES + [True] * CYCLE_PAGES)

    def test_implicit_cycle_one_vcpu(self):
        """The 1-vCPU form: 4 private faults then 4 shared faults, each for its page."""
        self.implicit_cycles(1)

    def test_implicit_cycle_two_vcpus_at_once(self):
        """Two vCPUs fault at once, each on its own pages; every fault names the
        faulting vCPU's page, and each vCPU's stores land where they belong."""
        self.implicit_cycles(2)

    def test_cycle_with_punch_hole(self):
        """The cycle with the guest_memfd range punched when it goes shared and
        allocated again when it goes private (the do_fallocate form): the pages
        the guest accepts still read 0 and the shared data is the host's."""
        gvm, _ = self.create_td("guest_conversion_cycle", args=CYCLE_BASE)
        exits = self.run_cycles(gvm, [CYCLE_BASE], gmem=gvm.gmem, offset=CYCLE_BASE)
        self.assertEqual(exits, [(0, True), (0, False)])


class WindowView:
    """The host's view of the -m form's memslots, whose userspace memory is their
    own (not slot 0's): read/write by GPA, as GuestVm.read/write."""

    def __init__(self):
        self.slots = []                 # (Mapping, base GPA, size)

    def add(self, mem, base, size):
        self.slots.append((mem, base, size))

    def _find(self, gpa):
        for mem, base, size in self.slots:
            if base <= gpa < base + size:
                return mem, gpa - base
        raise LookupError("GPA %#x is in no window memslot" % gpa)

    def read(self, gpa, n):
        mem, off = self._find(gpa)
        return mem.read(off, n)

    def write(self, gpa, data):
        mem, off = self._find(gpa)
        mem.write(off, data)


if __name__ == "__main__":
    main()
