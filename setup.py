# SPDX-License-Identifier: GPL-2.0-only
"""setuptools entry point; the metadata lives in setup.cfg.

The cffi ABI module (tdx/lib/_abi_ffi.py) is generated at build time from
tdx/lib/abi_cdef.py, so an installed package never parses C declarations at
start-up and needs no compiler.
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithAbi(build_py):
    def run(self):
        super().run()
        sys.path.insert(0, os.path.join(HERE, "tools", "testing"))
        from tdx.lib import abi_build
        abi_build.build(os.path.join(self.build_lib, "tdx", "lib"))


setup(cmdclass={"build_py": BuildPyWithAbi})
