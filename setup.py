# SPDX-License-Identifier: GPL-2.0-only
"""setuptools entry point; the metadata lives in setup.cfg.

The build step also makes what an installed package needs and a source tree
does not hold:
- the cffi ABI module (tdx/lib/_abi_ffi.py), generated from
  tdx/lib/abi_cdef.py, so that an installed package never parses C
  declarations at start-up and needs no compiler;
- the guest images (tdx/x86_64/<module>.elf), built with the project's own
  Makefile into a temporary directory (the source tree is left as it is),
  so that `pip install .` from a fresh clone gives a package whose modules
  run.  This needs gcc and make, as the guest code does.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
TDX_SRC = os.path.join(HERE, "tools", "testing", "tdx")


class BuildPyWithAbi(build_py):
    def run(self):
        super().run()
        sys.path.insert(0, os.path.join(HERE, "tools", "testing"))
        from tdx.lib import abi_build
        abi_build.build(os.path.join(self.build_lib, "tdx", "lib"))
        self.build_guests()

    def build_guests(self):
        dest = os.path.join(self.build_lib, "tdx", "x86_64")
        with tempfile.TemporaryDirectory(prefix="tdx-guests-") as out:
            try:
                subprocess.run(["make", "--no-print-directory", "-s", "-C", TDX_SRC, "OUTPUT=" + out, "guests"],
                               check=True)
            except (OSError, subprocess.CalledProcessError) as e:
                raise SystemExit("tdx-selftests: building the guest images failed (%s); gcc and make are "
                                 "needed to build the package" % e)
            images = glob.glob(os.path.join(out, "x86_64", "*.elf"))
            if not images:
                raise SystemExit("tdx-selftests: the guest build made no images")
            os.makedirs(dest, exist_ok=True)
            for image in images:
                shutil.copy2(image, dest)


setup(cmdclass={"build_py": BuildPyWithAbi})
