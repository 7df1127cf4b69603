#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Run the tests listed in kselftest-list.txt, with the options of the kernel's
# tools/testing/selftests/run_kselftest.sh (what LKFT's kselftest.sh calls as
# `./run_kselftest.sh -c <collection>`).  Made by `make gen_tar` at the root
# of the tdx selftests' standalone kselftest tree.

BASE_DIR=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
cd "$BASE_DIR" || exit 1
TESTS="$BASE_DIR/kselftest-list.txt"
if [ ! -r "$TESTS" ]; then
	echo "$0: Could not find list of tests to run ($TESTS)" >&2
	exit 1
fi
. "$BASE_DIR/kselftest/runner.sh"

usage()
{
	cat <<USAGE
Usage: $0 [OPTIONS]
  -s | --summary		Print summary with detailed log in output.log (conflict with -p)
  -p | --per-test-log		Print test log in /tmp with each test name (conflict with -s)
  -t | --test COLLECTION:TEST	Run TEST from COLLECTION
  -S | --skip COLLECTION:TEST	Skip TEST from COLLECTION
  -c | --collection COLLECTION	Run all tests from COLLECTION
  -l | --list			List the available collection:test entries
  -d | --dry-run		Don't actually run any tests
  -f | --no-error-on-fail	Don't exit with an error just because tests failed
  -n | --netns			Run each test in namespace
  -h | --help			Show this usage info
  -o | --override-timeout	Number of seconds after which we timeout
USAGE
	exit "$1"
}

COLLECTIONS="" TEST_ARGS="" SKIP="" dryrun="" summary="" error_on_fail=1
available=$(grep -v '^[[:space:]]*$' "$TESTS")
while [ $# -gt 0 ]; do
	case "$1" in
	-s|--summary) summary=1; shift ;;
	-p|--per-test-log) per_test_log_dir=/tmp; shift ;;
	-t|--test) [ $# -ge 2 ] || usage 1; TEST_ARGS="$TEST_ARGS $2"; shift 2 ;;
	-S|--skip) [ $# -ge 2 ] || usage 1; SKIP="$SKIP $2"; shift 2 ;;
	-c|--collection) [ $# -ge 2 ] || usage 1; COLLECTIONS="$COLLECTIONS $2"; shift 2 ;;
	-l|--list) echo "$available"; exit 0 ;;
	-d|--dry-run) dryrun=1; shift ;;
	-f|--no-error-on-fail) error_on_fail=; shift ;;
	-n|--netns) RUN_IN_NETNS=1; shift ;;
	-o|--override-timeout)
		[ $# -ge 2 ] && [ "$2" -gt 0 ] 2>/dev/null || usage 1
		kselftest_override_timeout=$2; shift 2 ;;
	-h|--help) usage 0 ;;
	*) usage 1 ;;
	esac
done
if [ -n "$summary" ] && [ -n "$per_test_log_dir" ]; then
	usage 1
fi

selected=""
for entry in $available; do
	want=""
	if [ -z "$COLLECTIONS$TEST_ARGS" ]; then
		want=1
	fi
	for c in $COLLECTIONS; do
		[ "${entry%%:*}" = "$c" ] && want=1
	done
	for t in $TEST_ARGS; do
		[ "$entry" = "$t" ] && want=1
	done
	for s in $SKIP; do
		[ "$entry" = "$s" ] && want=""
	done
	[ -n "$want" ] && selected="$selected $entry"
done

if [ -n "$dryrun" ]; then
	for entry in $selected; do
		echo "$entry"
	done
	exit 0
fi

count=0
for entry in $selected; do
	count=$((count + 1))
done

run()
{
	local n=0 entry
	echo "TAP version 13"
	echo "1..$count"
	for entry in $selected; do
		n=$((n + 1))
		run_one "$n" "${entry%%:*}" "${entry#*:}"
	done
	print_totals
}

if [ -n "$summary" ]; then
	# The whole log in output.log; on stdout the result lines and the totals.
	run | tee "$BASE_DIR/output.log" | grep -E '^(TAP version|1\.\.|ok |not ok |# Totals:)'
	grep -qE '^not ok ' "$BASE_DIR/output.log" && failed=1
else
	# run_one counts in this shell, so no pipe around run.
	run
	[ "$ksft_fail" -gt 0 ] && failed=1
fi
if [ -n "$failed" ] && [ -n "$error_on_fail" ]; then
	exit 1
fi
exit 0
