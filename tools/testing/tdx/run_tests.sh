#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Run the tdx selftests: every x86_64 module in its own process, one KTAP
# document on stdout, a summary on stderr.  Options: run_tests.sh --help.
#
# The interpreter is $PYTHON if set, else the project's virtualenv (the one
# scripts/python.sh creates, $TDX_VENV or <repo>/.venv) if it exists, else
# python3 from PATH.
# Resolved, so that a symlink to this script elsewhere still finds the package.
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
top=$(cd "$here/../../.." && pwd)
venv=${TDX_VENV:-$top/.venv}

# The tdx package is this directory; it imports as `tdx` from its parent.
PYTHONPATH="$(dirname "$here")${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH

if [ -n "${PYTHON:-}" ]; then
	py=$PYTHON
elif [ -x "$venv/bin/python3" ]; then
	py=$venv/bin/python3
else
	py=python3
fi
exec "$py" -m tdx.runner "$@"
