#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# kselftest-style runner helpers for the tdx selftests' standalone tree
# (made by `make gen_tar`), sourced by run_kselftest.sh with BASE_DIR set.
# The same behaviour as the kernel's tools/testing/selftests/kselftest/
# runner.sh: each program runs from its directory under `timeout`, stdout and
# stderr merged and `# `-prefixed, then one result line named
# `selftests: <collection>: <program>`; exit 0 ok, 4 skip, 124 timeout,
# anything else not ok with exit=N.  The prefixing (prefix.py) also makes sure
# that a program's output is text and ends with a newline.

if [ -z "$BASE_DIR" ]; then
	echo "Error: BASE_DIR must be set before sourcing." >&2
	exit 1
fi

kselftest_default_timeout=45
ksft_pass=0 ksft_fail=0 ksft_skip=0 ksft_xfail=0

# settings file of a collection: timeout=N
settings_timeout()
{
	local file="$BASE_DIR/$1/settings" t=""
	if [ -r "$file" ]; then
		t=$(sed -n 's/^[[:space:]]*timeout[[:space:]]*=[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$file" | tail -n 1)
	fi
	echo "${t:-$kselftest_default_timeout}"
}

# run_one NUMBER COLLECTION PROGRAM
run_one()
{
	local num=$1 dir=$2 prog=$3 t rc name
	name="selftests: $dir: $prog"
	t=${kselftest_override_timeout:-$(settings_timeout "$dir")}
	echo "# $name"
	if [ ! -e "$BASE_DIR/$dir/$prog" ]; then
		echo "# Warning: file $prog is missing!"
		echo "not ok $num $name"
		ksft_fail=$((ksft_fail + 1))
		return
	fi
	local netns=()
	if [ -n "$RUN_IN_NETNS" ]; then
		netns=(unshare --net --)
	fi
	(
		cd "$BASE_DIR/$dir" || exit 1
		# Not --foreground: timeout then signals the program's whole process
		# group, so nothing it started keeps the output pipe (and the run) open.
		"${netns[@]}" timeout --kill-after=10 "$t" "./$prog" 2>&1
	) | {
		if [ -n "$per_test_log_dir" ]; then
			tee "$per_test_log_dir/$prog" | python3 "$BASE_DIR/kselftest/prefix.py"
		else
			python3 "$BASE_DIR/kselftest/prefix.py"
		fi
	}
	rc=${PIPESTATUS[0]}
	case $rc in
	0)	echo "ok $num $name"; ksft_pass=$((ksft_pass + 1)) ;;
	4)	echo "ok $num $name # SKIP"; ksft_skip=$((ksft_skip + 1)) ;;
	124)	echo "#"; echo "not ok $num $name # TIMEOUT $t seconds"; ksft_fail=$((ksft_fail + 1)) ;;
	*)	echo "not ok $num $name # exit=$rc"; ksft_fail=$((ksft_fail + 1)) ;;
	esac
}

print_totals()
{
	echo "# Totals: pass:$ksft_pass fail:$ksft_fail xfail:$ksft_xfail xpass:0 skip:$ksft_skip error:0"
}
