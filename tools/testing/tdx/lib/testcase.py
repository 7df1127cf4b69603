# SPDX-License-Identifier: GPL-2.0-only
"""TdxTestCase: the fixtures every x86_64 module's test cases share.

- the platform decides (tdx.lib.platform); on platform none every case skips
  with the platform's fixed reason;
- every KVM object a case creates is released by addCleanup, also when the
  case fails, so a module can create a TD per case without leaking;
- requirements are skips with stable reasons: self.require(cond, reason).
"""

import errno
import functools
import unittest

from tdx.lib import generations, platform, td
from tdx.lib.guest import GuestImage, find_image
from tdx.lib.kvm import Kvm, try_call
from tdx.lib.ktap import main  # noqa: F401  (x86_64 modules: `if __name__ == "__main__": main()`)


# The only skips a run on the emulated platform may show (tests/test_suite.py):
# checks of the TDX hardware itself, and uAPI the kernel under test lacks.
NEEDS_PLATFORM_TDX = "needs platform tdx:"
KERNEL_LACKS = "kernel lacks:"
EXPECTED_SKIPS = (NEEDS_PLATFORM_TDX, KERNEL_LACKS)


class TdxTestCase(unittest.TestCase):
    guest = None        # x86_64/<guest>.c -> <guest>.elf
    shape = "tdx"
    _images = {}

    def setUp(self):
        self.platform = platform.current()
        if not self.platform.available:
            self.skipTest(self.platform.reason)
        self.kvm = Kvm(self.platform.system)
        self.addCleanup(self.kvm.close)

    def image(self, name=None):
        name = name or self.guest
        if name not in self._images:
            TdxTestCase._images[name] = GuestImage.load(find_image(name))
        return self._images[name]

    def create_td(self, entry, **options):
        """A TD running `entry`, created, initialised and finalised; (GuestVm, first vCPU)."""
        gvm = td.create_guest(self.kvm, self.image(), entry, shape=self.shape, **options)
        self.addCleanup(gvm.close)
        return gvm, gvm.vcpus[0]

    def td_builder(self, entry, **options):
        """The TD setup as steps (td.TdBuilder), for cases that stop half-way."""
        builder = td.TdBuilder(self.kvm, self.image(), entry, **options)
        self.addCleanup(lambda: builder.vm is not None and builder.vm.close())
        return builder

    def kernel_has(self, key):
        """True if the kernel under test gives the newer answer of
        tdx.lib.generations.CHANGES[key] (a behaviour that changed between
        releases).  A KTAP diagnostic says which answer applied and why, so a
        failure names the generation it was judged against."""
        gen = generations.current()
        print(gen.diagnostic(key))
        return gen.newer(key)

    def kernel_log(self):
        """A reader of the kernel log from now on (System.kernel_log(),
        tdx.lib.kmsg), closed at cleanup; skips when the log cannot be read."""
        try:
            log = self.kvm.system.kernel_log()
        except OSError as e:
            self.skipTest("kernel log unreadable: %s: %s (reading it needs root or CAP_SYSLOG where "
                          "kernel.dmesg_restrict=1)" % (e.filename or "/dev/kmsg", e.strerror))
        self.addCleanup(log.close)
        return log

    def require(self, condition, reason):
        if not condition:
            self.skipTest(reason)

    def require_platform_tdx(self, why):
        """Skip unless the TDs are real: checks of what the TDX module and the
        CPU do themselves, which the emulated platform's host answers instead
        (docs/host-kvm.md).  The reason says why (EXPECTED_SKIPS)."""
        if self.platform.name != "tdx":
            self.skipTest("%s %s" % (NEEDS_PLATFORM_TDX, why))

    def require_kernel_offers(self, condition, what):
        """Skip unless the kernel under test offers a uAPI no released kernel
        has for a TD yet (`what` names the capability looked for)."""
        if not condition:
            self.skipTest("%s %s" % (KERNEL_LACKS, what))

    def assertErrno(self, expected, fn, *args, **kwargs):
        """fn(*args) must fail with `expected` (an errno number)."""
        got = try_call(fn, *args, **kwargs)
        self.assertEqual(got, expected, "expected %s, got %s" % (
            errno.errorcode.get(expected, expected), errno.errorcode.get(got, got) if got else "success"))


def requires(predicate, reason):
    """Skip a case unless predicate(testcase) holds; `reason` must be a fixed string."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(self, *args, **kwargs):
            self.require(predicate(self), reason)
            return fn(self, *args, **kwargs)
        return inner
    return wrap
