# SPDX-License-Identifier: GPL-2.0-only
"""KVM-TDX generations (tdx.lib.generations) and the model's releases
(tdx.emu.kernel): the table, how a generation is decided, and the two
statements of "which release changed what" agreeing with each other.

- the table: unique keys, releases that exist, cases that exist;
- kernel release strings to generations (first and last of each range,
  releases before 6.16 and after the newest), TDX_KVM_GENERATION and
  TDX_EMU_KERNEL values (bad ones: one line naming the variable);
- per row, a probe decides over the release; the diagnostic names the row,
  the answer, why, and the commit;
- emu/kernel.py RULES and the table give every modelled row the same first
  release, and the rows the model does not play are the known ones;
- on the emulated platform, for every TDX_EMU_KERNEL, the detected
  generation is the modelled one and every probe agrees with it;
- docs/generations.md carries the table as the library renders it.
"""

import os
import unittest

from tdx.lib import generations as gen
from tdx.emu import kernel as emu_kernel
from tdx.tests.support import requires_kvm

TDX_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(TDX_DIR))), "docs", "generations.md")

# Rows of the table the model does not play, and why (emu/README).
NOT_MODELLED = {
    "tsc-khz-vcpu",             # no older answer among the generations (6.16-rc only)
    "init-vm-nent-race",        # needs another thread changing the struct during the ioctl
}


class Table(unittest.TestCase):

    def test_keys_unique_and_releases_known(self):
        keys = [c.key for c in gen.CHANGES]
        self.assertEqual(len(keys), len(set(keys)))
        for c in gen.CHANGES:
            with self.subTest(key=c.key):
                self.assertIn(c.release, gen.GENERATIONS)
                self.assertTrue(c.older and c.newer and c.behaviour and c.evidence)
                self.assertRegex(c.commits, r"^([0-9a-f]{12} |commit id not established)")
                if c.probe:
                    self.assertIn(c.probe, gen.PROBES)

    def test_rows_in_release_order(self):
        order = [gen.index(c.release) for c in gen.CHANGES]
        self.assertEqual(order, sorted(order))

    def test_cases_exist(self):
        for c in gen.CHANGES:
            for case in c.cases:
                module, name = case.split(".")
                with self.subTest(case=case):
                    with open(os.path.join(TDX_DIR, "x86_64", module + ".py")) as f:
                        self.assertIn("    def %s(self" % name, f.read())

    def test_cases_ask_for_their_rows(self):
        """A case listed for a row asks the library for that row's answer."""
        for c in gen.CHANGES:
            for case in c.cases:
                module, name = case.split(".")
                with open(os.path.join(TDX_DIR, "x86_64", module + ".py")) as f:
                    text = f.read()
                body = text[text.index("    def %s(self" % name):]
                body = body[:body.find("\n    def ", 1)]
                with self.subTest(case=case):
                    self.assertIn('kernel_has("%s")' % c.key, body)

    def test_docs_carry_the_table(self):
        with open(DOC) as f:
            self.assertIn(gen.markdown(), f.read())


class Releases(unittest.TestCase):

    def test_kernel_release_strings(self):
        cases = {
            "6.16.0": "6.16", "6.16.1-fc": "6.16", "6.17.9": "6.17", "6.18.44-fc-v1272": "6.18",
            "6.19": "6.19", "7.0.3-200.fc44.x86_64": "7.0", "7.1.0": "7.1", "7.2.5": "7.2",
            "7.3.0-rc1": "7.3", "newest": "newest",
        }
        for text, want in cases.items():
            with self.subTest(text=text):
                self.assertEqual(gen.parse_release(text), (want, None))

    def test_outside_the_known_releases(self):
        release, note = gen.parse_release("6.12.0-55.el10.x86_64")
        self.assertEqual(release, "6.16")
        self.assertIn("predates KVM-TDX", note)
        release, note = gen.parse_release("6.15.11")
        self.assertEqual(release, "6.16")
        release, note = gen.parse_release("7.4.0")
        self.assertEqual(release, "newest")
        self.assertIn("newer than 7.3", note)

    def test_not_a_release(self):
        for text in ("", "fc-v1272", "six.eighteen", "6", "6.20"):
            with self.subTest(text=text):
                self.assertIsNone(gen.parse_release(text))

    def test_override(self):
        self.assertIsNone(gen.requested({}))
        self.assertIsNone(gen.requested({gen.ENV: "  "}))
        for name in gen.GENERATIONS:
            self.assertEqual(gen.requested({gen.ENV: name}), name)
        for bad in ("6.15", "6.18.4", "7", "latest", "NEWEST"):
            with self.subTest(bad=bad):
                with self.assertRaises(gen.GenerationError) as ctx:
                    gen.requested({gen.ENV: bad})
                message = str(ctx.exception)
                self.assertEqual(message.count("\n"), 0)
                self.assertTrue(message.startswith("TDX_KVM_GENERATION=%s: expected one of 6.16," % bad))

    def test_emu_kernel_values(self):
        self.assertEqual(emu_kernel.requested("7.0"), "7.0")
        with self.assertRaises(ValueError) as ctx:
            emu_kernel.requested("6.15")
        self.assertTrue(str(ctx.exception).startswith("TDX_EMU_KERNEL=6.15: expected one of"))


class Decide(unittest.TestCase):

    def test_edges_of_a_row(self):
        """Last release with the older answer, first with the newer one."""
        for c in gen.CHANGES:
            i = gen.index(c.release)
            with self.subTest(key=c.key):
                self.assertTrue(gen.Generation(c.release, "test").newer(c.key))
                self.assertTrue(gen.Generation(gen.NEWEST, "test").newer(c.key))
                if i:
                    self.assertFalse(gen.Generation(gen.GENERATIONS[i - 1], "test").newer(c.key))

    def test_from_the_kernel_release(self):
        g = gen.decide("6.17.3", "uname -r ", env={})
        self.assertEqual(g.release, "6.17")
        self.assertIn("uname -r 6.17.3", g.report()[0])
        g = gen.decide("fc-v1272", "uname -r ", env={})
        self.assertEqual(g.release, "newest")

    def test_override_wins_over_the_release(self):
        g = gen.decide("6.17.3", "uname -r ", env={gen.ENV: "7.2"})
        self.assertEqual(g.release, "7.2")
        self.assertTrue(g.newer("mapgpa-user-errors"))
        self.assertIn("TDX_KVM_GENERATION=7.2", g.report()[0])
        self.assertIn("6.17.3", g.report()[0])

    def test_probe_decides_its_row(self):
        """A 6.17 kernel whose KVM_CREATE_IRQCHIP is ENOTTY (a backport): the
        probe decides that row, the release the others; the report says so."""
        g = gen.decide("6.17.3", "uname -r ", env={}, probes={"irqchip": True, "gmem-flags": False})
        self.assertTrue(g.newer("irqchip-enotty"))
        self.assertFalse(g.newer("gmem-mmap-flag"))
        self.assertFalse(g.newer("init-mem-no-prepared"))
        self.assertEqual(g.conflicts(), ["irqchip-enotty"])
        self.assertTrue(any("irqchip-enotty disagrees with 6.17" in l for l in g.report()))
        self.assertIn("decided by probe", g.diagnostic("irqchip-enotty"))
        # No verdict: the release decides.
        g = gen.decide("6.18.1", "uname -r ", env={}, probes={"irqchip": None})
        self.assertEqual(g.decided_by("irqchip-enotty"), (True, "release"))

    def test_diagnostic(self):
        g = gen.decide("7.1.2", "uname -r ", env={})
        line = g.diagnostic("mapgpa-user-errors")
        self.assertEqual(line.count("\n"), 0)
        for part in ("mapgpa-user-errors", "older", "7.2", "3e2dec1ede0a", "7.1.2",
                     gen.BY_KEY["mapgpa-user-errors"].older):
            self.assertIn(part, line)


class ModelRules(unittest.TestCase):
    """emu/kernel.py against the table: written apart, they must agree."""

    def test_same_first_release(self):
        for key, (release, commit) in emu_kernel.RULES.items():
            with self.subTest(key=key):
                self.assertIn(key, gen.BY_KEY)
                self.assertEqual(release, gen.BY_KEY[key].release)
                if gen.BY_KEY[key].commits[:12].isalnum():
                    self.assertEqual(commit[:12], gen.BY_KEY[key].commits[:12])

    def test_every_row_decided(self):
        self.assertEqual(set(gen.BY_KEY) - set(emu_kernel.RULES), NOT_MODELLED)

    def test_kernel_has(self):
        k = emu_kernel.Kernel("7.1")
        self.assertTrue(k.has("init-mem-no-prepared"))
        self.assertFalse(k.has("mapgpa-user-errors"))
        self.assertEqual(emu_kernel.Kernel().release, os.environ.get("TDX_EMU_KERNEL") or "newest")


@requires_kvm
class EmulatedPlatform(unittest.TestCase):
    """The model is the kernel under test: detection reports its release."""

    def test_detected_generation_is_the_modelled_one(self):
        from tdx.emu import EmuSystem
        from tdx.lib.platform import Platform
        for release in gen.GENERATIONS:
            with self.subTest(release=release):
                plat = Platform("emulated", EmuSystem(kernel=release))
                g = gen.detect(plat, env={})
                self.assertEqual(g.release, release)
                self.assertIn("TDX_EMU_KERNEL=%s" % release, g.how)
                self.assertEqual(set(g.probes), set(gen.PROBES))
                self.assertNotIn(None, g.probes.values())
                self.assertEqual(g.conflicts(), [], "a probe disagrees with the release the model plays")


if __name__ == "__main__":
    unittest.main()
