# SPDX-License-Identifier: GPL-2.0-only
"""Test modules, one per area: host side here, guest side in the .c beside it.

Run as a program (`python3 -m tdx.x86_64.<module>`: the driver and the
installed kselftest wrappers do that), a module whose Python dependencies are
missing could not even be imported.  That is answered here, before the
module's own imports fail: `1..0 # SKIP missing Python package ...` and exit
4, kselftest's skip, rather than a traceback.
"""

import sys

# While `python3 -m` locates the module, sys.argv[0] is "-m" (Python's
# documentation of the -m option): only a program run is answered this way.
if sys.argv[:1] == ["-m"]:
    from tdx.lib import ktap as _ktap
    _ktap.skip_if_missing_dependencies("tdx.x86_64")
