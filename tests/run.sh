#!/bin/sh
# run.sh - the whole test suite: build, unit tests (plain and under ASan +
# UBSan), then system tests (tests/system/*.py with python3, *.mjs with node),
# then fcgi-app's threads under ThreadSanitizer.
# Each test program prints TAP lines; this counts top-level "ok"/"not ok"
# lines and ends with "N passed, N failed".  Exit status 1 on any failure.
#   sh tests/run.sh [--unit-only] [NAME...]   (NAME filters test files)
cd "$(dirname "$0")/.." || exit 1
UNIT_ONLY=0
if [ "$1" = "--unit-only" ]; then UNIT_ONLY=1; shift; fi
FILTER="$*"
OUT=build/test-logs
mkdir -p "$OUT"
passed=0; failed=0; skipped=0; broken=""
JOBS=$(nproc 2>/dev/null || echo 2)

selected() {
	[ -z "$FILTER" ] && return 0
	for f in $FILTER; do
		case "$1" in *"$f"*) return 0;; esac
	done
	return 1
}

# run_one NAME LOG CMD...: runs CMD, tees TAP to LOG, adds to the counters.
run_one() {
	name=$1; log=$2; shift 2
	echo "== $name"
	"$@" > "$log" 2>&1
	rc=$?
	# "ok … # SKIP reason" is a skip, not a pass.
	p=$(grep -E '^ok( |$)' "$log" | grep -cvE '#[[:space:]]*SKIP')
	k=$(grep -E '^ok( |$)' "$log" | grep -cE '#[[:space:]]*SKIP')
	f=$(grep -cE '^not ok( |$)' "$log")
	grep -E '^ok .*#[[:space:]]*SKIP' "$log" | sed 's/^/   /'
	grep -E '^not ok' "$log" | sed 's/^/   /'
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# crashed or exited non-zero without saying which test: one failure
		f=1
		echo "   $name exited with status $rc; last lines:"
		tail -n 15 "$log" | sed 's/^/   | /'
	fi
	echo "   $p passed, $f failed, $k skipped"
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
	[ "$f" -gt 0 ] && broken="$broken $name"
}

echo "== build"
if ! make -j"$JOBS" all > "$OUT/build.log" 2>&1; then
	tail -n 40 "$OUT/build.log"
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi
if ! make -s check-banned > "$OUT/banned.log" 2>&1; then
	cat "$OUT/banned.log"; failed=$((failed + 1)); broken="$broken banned"
else
	passed=$((passed + 1))
fi

for t in build/tests/test_*; do
	[ -x "$t" ] || continue
	n=$(basename "$t")
	selected "$n" || continue
	run_one "$n" "$OUT/$n.log" "$t"
done

# The same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
if [ "${SKIP_ASAN:-0}" != 1 ] && command -v clang >/dev/null; then
	if make -s asan -j"$JOBS" > "$OUT/asan-build.log" 2>&1; then
		for t in build-asan/tests/test_*; do
			[ -x "$t" ] || continue
			n=asan-$(basename "$t")
			selected "$n" || continue
			ASAN_OPTIONS=detect_leaks=1 run_one "$n" "$OUT/$n.log" "$t"
		done
	else
		tail -n 30 "$OUT/asan-build.log"
		failed=$((failed + 1)); broken="$broken asan-build"
	fi
fi

# Every libFuzzer target for a few seconds over its seed corpus (make fuzz
# runs them longer): a crash on a seed or a near mutation fails the suite.
if [ "${SKIP_FUZZ:-0}" != 1 ] && command -v clang >/dev/null && selected fuzz; then
	FUZZ_SECONDS=${FUZZ_SECONDS:-4} run_one fuzz "$OUT/fuzz.log" sh tests/fuzz/run.sh
fi

if [ "$UNIT_ONLY" = 0 ]; then
	for t in tests/system/test_*.py tests/system/test_*.mjs; do
		[ -f "$t" ] || continue
		n=$(basename "$t")
		selected "$n" || continue
		case "$t" in
		*.py) run_one "$n" "$OUT/$n.log" python3 -u "$t";;
		*.mjs) run_one "$n" "$OUT/$n.log" node --test --test-reporter=tap "$t";;
		esac
	done
fi

# fcgi-app's request threads under ThreadSanitizer: test_fcgi_threads.py
# again (960 concurrent requests through one worker's threads, calls in
# hand at a SIGTERM) with an fcgi-app built with -fsanitize=thread.
if [ "$UNIT_ONLY" = 0 ] && [ "${SKIP_TSAN:-0}" != 1 ] &&
    command -v clang >/dev/null && selected tsan-test_fcgi_threads; then
	if make -s tsan-fcgi -j"$JOBS" > "$OUT/tsan-build.log" 2>&1; then
		TSAN_FCGI=build-tsan/bin/fcgi-app run_one tsan-test_fcgi_threads \
		    "$OUT/tsan-test_fcgi_threads.log" python3 -u \
		    tests/system/test_fcgi_threads.py
	else
		tail -n 30 "$OUT/tsan-build.log"
		failed=$((failed + 1)); broken="$broken tsan-build"
	fi
fi

[ -n "$broken" ] && echo "failing:$broken (logs in $OUT/)"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
