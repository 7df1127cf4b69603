# SPDX-License-Identifier: GPL-2.0-only
"""PrivateMemoryCase: what the cases on a TD's private memory assert with.

The exits and failures of docs/kvm-tdx-uapi.md §3.3 and §4.7 as the host
sees them: one MapGPA chunk (KVM_EXIT_HYPERCALL) converted with
KVM_SET_MEMORY_ATTRIBUTES, KVM_RUN failing with KVM_EXIT_MEMORY_FAULT, and
page contents reported by the first differing offset.  Shared by the
x86_64 modules private_mem_access and private_mem_conversions.
"""

import errno

from tdx.lib import abi, ghci, tdx_cmd
from tdx.lib.exits import describe
from tdx.lib.kvm import KvmError
from tdx.lib.testcase import TdxTestCase

PAGE = 4096
PRIVATE = abi.KVM_MEMORY_ATTRIBUTE_PRIVATE


def qwords(value, n=PAGE // 8):
    return value.to_bytes(8, "little") * n


class PrivateMemoryCase(TdxTestCase):

    def td_with_private_pages(self, entry, gpa, pages, init, host, **options):
        """A TD whose shared-area pages `pages` (GPAs) are private, each added by
        KVM_TDX_INIT_MEM_REGION with the page init(gpa); the host's own memory
        there holds host(gpa) (bytes of a page each).  (gvm, first vCPU)."""
        b = self.td_builder(entry, args=gpa, **options)
        b.create_vm()
        b.init_vm()
        b.add_vcpus()
        b.add_memory()
        gvm = b.gvm
        source = b.vm.alloc(PAGE)
        for page in pages:
            gvm.write(page, host(page))
            b.vm.set_memory_attributes(page, PAGE, PRIVATE)
            source.write(0, init(page))
            tdx_cmd.init_mem_region(gvm.vcpus[0], page, source.addr, 1)
        b.finalize()
        return gvm, gvm.vcpus[0]

    def expect_map_gpa(self, gvm, vcpu, gpa, npages, private, ret=0, convert=True):
        """One KVM_EXIT_HYPERCALL(KVM_HC_MAP_GPA_RANGE) chunk (§4.7); converts it
        with KVM_SET_MEMORY_ATTRIBUTES unless told not to, and completes it with `ret`."""
        run = vcpu.run_expect(abi.KVM_EXIT_HYPERCALL)
        self.check_map_gpa(run, gpa, npages, private)
        if convert:
            gvm.vm.set_memory_attributes(gpa, npages * PAGE, PRIVATE if private else 0)
        run.hypercall.ret = ret

    def check_map_gpa(self, run, gpa, npages, private):
        hc = run.hypercall
        self.assertEqual(hc.nr, abi.KVM_HC_MAP_GPA_RANGE)
        self.assertEqual(hc.args[0], gpa, "args[0]: chunk GPA without the shared bit")
        self.assertEqual(hc.args[1], npages, "args[1]: pages in the chunk")
        self.assertEqual(hc.args[2], abi.KVM_MAP_GPA_RANGE_ENCRYPTED if private
                         else abi.KVM_MAP_GPA_RANGE_DECRYPTED, "args[2]: attributes")
        self.assertEqual(hc.flags, abi.KVM_EXIT_HYPERCALL_LONG_MODE)
        self.assertEqual(hc.ret, 0, "hypercall.ret is pre-zeroed")

    def assertStatus(self, got, want, what):
        self.assertEqual(got, want, "%s: %s, expected %s" % (what, ghci.status_name(got), ghci.status_name(want)))

    def assertPage(self, data, expected, what):
        """Page contents, reported by the first differing offset."""
        if data != expected:
            off = next(i for i, (a, b) in enumerate(zip(data, expected)) if a != b)
            self.fail("%s: differs at offset 0x%x: %s, expected %s" % (
                what, off, data[off:off + 8].hex(), expected[off:off + 8].hex()))

    def expect_run_error(self, vcpu, err):
        """KVM_RUN must fail with `err`; returns kvm_run."""
        try:
            uc = vcpu.run_exit()
        except KvmError as e:
            self.assertEqual(e.errno, err, "KVM_RUN: %s, exit %s" % (e, describe(vcpu.kvm_run)))
            return vcpu.kvm_run
        self.fail("KVM_RUN succeeded (%s), expected %s" % (
            "guest %s at %s" % (uc.name, uc.where) if uc else describe(vcpu.kvm_run), errno.errorcode[err]))

    def expect_memory_fault(self, vcpu, gpa, private):
        """KVM_RUN fails EFAULT with KVM_EXIT_MEMORY_FAULT for page `gpa` (§3.3)."""
        self.check_memory_fault(self.expect_run_error(vcpu, errno.EFAULT), gpa, private)

    def check_memory_fault(self, run, gpa, private):
        self.assertEqual(run.exit_reason, abi.KVM_EXIT_MEMORY_FAULT, describe(run))
        mf = run.memory_fault
        self.assertEqual(mf.flags, abi.KVM_MEMORY_EXIT_FLAG_PRIVATE if private else 0, "memory_fault.flags")
        self.assertEqual(mf.gpa, gpa, "memory_fault.gpa: page, without the shared bit")
        self.assertEqual(mf.size, PAGE, "memory_fault.size")
