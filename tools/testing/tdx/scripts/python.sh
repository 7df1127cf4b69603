#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Print the path of a Python interpreter that can run tdx-selftests.
#
# The system python3 is used when it imports the dependencies; otherwise
# a virtualenv is created once (default: <repo>/.venv, override with
# TDX_VENV=DIR) and the dependencies are installed into it, so that a fresh
# clone needs no manual pip step.  Progress goes to stderr; stdout carries
# only the interpreter path, for `PYTHON := $(shell scripts/python.sh)`.
#
# `python.sh --mutate` (for `make mutate` only) also wants cosmic-ray, the
# mutation-testing library, and coverage.py (docs/mutation.md); `make check` never asks for it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../../.." && pwd)
venv=${TDX_VENV:-$top/.venv}
# tap.py (module "tap") is a second KTAP parser, junitparser a JUnit reader,
# for the project's own tests.
deps="cffi pyelftools tabulate argcomplete tap.py junitparser"
probe='import cffi, elftools, tabulate, argcomplete, tap, junitparser'
if [ "${1:-}" = "--mutate" ]; then
	# tdx/mutate uses cosmic-ray 8's session and mutation API, and
	# coverage.py 7.10+ (subprocess and fork measurement) for its map of
	# which modules execute which statements.
	deps="$deps cosmic-ray>=8.7,<9 coverage>=7.10"
	probe="$probe, cosmic_ray, coverage"
fi

if [ -n "${PYTHON:-}" ] && "$PYTHON" -c "$probe" 2>/dev/null; then
	echo "$PYTHON"
	exit 0
fi
if [ -x "$venv/bin/python3" ] && "$venv/bin/python3" -c "$probe" 2>/dev/null; then
	echo "$venv/bin/python3"
	exit 0
fi
sys_py=$(command -v python3 || true)
if [ -z "$sys_py" ]; then
	echo "tdx-selftests: python3 not found; install Python >= 3.9" >&2
	exit 1
fi
if "$sys_py" -c "$probe" 2>/dev/null; then
	echo "$sys_py"
	exit 0
fi

echo "tdx-selftests: creating $venv for: $deps" >&2
# The real cause, in one line: venv's own last line of error output (a
# permission problem, a read-only file system, ensurepip missing...).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$sys_py" -m venv "$venv" >"$log" 2>&1; then
	cause=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
	case $cause in
	*ensurepip*) cause="$cause (Debian/Ubuntu: apt install python3-venv)" ;;
	esac
	echo "tdx-selftests: cannot create $venv: ${cause:-python3 -m venv failed}; or install: $deps" >&2
	exit 1
fi
if ! "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check $deps >"$log" 2>&1; then
	cause=$(grep -E 'ERROR|Error' "$log" | tail -n 1)
	echo "tdx-selftests: cannot install $deps into $venv: ${cause:-pip install failed}" >&2
	exit 1
fi
echo "$venv/bin/python3"
