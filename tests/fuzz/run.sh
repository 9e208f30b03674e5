#!/bin/sh
# run.sh - build and run every libFuzzer target (what `make fuzz` calls).
#
# Convention: tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput and
# tests/fuzz/corpus/<name>/ holds its seed inputs.  Each target is linked
# with clang -fsanitize=fuzzer,address,undefined against every library
# source of the tree (the files of common/, waproc/, fcgi-app/, devmgr/,
# wsrelay/, tests/fakewa/ other than the Makefile's MAINS, plus generated
# protobuf-c sources), put in archives so a target pulls only what it uses.
# It then runs for FUZZ_SECONDS (default 20) over a copy of its corpus in
# build-fuzz/, so the repository's seeds are left alone.  Crash inputs go to
# build-fuzz/artifacts/.  Exit status 1 if anything fails to build or any
# target finds a crash.
#   sh tests/fuzz/run.sh [NAME...]     (NAME filters targets)
#   FUZZ_SECONDS=300 FUZZ_JOBS=2 sh tests/fuzz/run.sh binnode
cd "$(dirname "$0")/../.." || exit 1
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_CC=${FUZZ_CC:-clang}
OUT=build-fuzz
FILTER="$*"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
failed=0; passed=0; broken=""

command -v "$FUZZ_CC" >/dev/null || { echo "fuzz: $FUZZ_CC not found"; exit 1; }
mkdir -p "$OUT/obj" "$OUT/lib" "$OUT/corpus" "$OUT/artifacts" "$OUT/logs"

# Ask the Makefile itself for its lists, so this never drifts from it.
mkvar() {
	printf '_fuzz_var:\n\t@echo $(%s)\n' "$1" | make -s -f Makefile -f - _fuzz_var
}
MAINS=$(mkvar MAINS)
PKG_LIBS=$(mkvar PKG_LIBS)
PKG_CFLAGS=$(mkvar PKG_CFLAGS)
GEN_C=$(mkvar GEN_C)

# Generated protobuf-c sources (only those; the rest of `make` may be
# another engineer's work in progress).
if [ -n "$GEN_C" ] && ! make -s $GEN_C > "$OUT/logs/gen.log" 2>&1; then
	cat "$OUT/logs/gen.log"
	echo "fuzz: protobuf generation failed"
	failed=$((failed + 1)); broken="$broken gen"
fi

CFLAGS="-std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer $SAN \
	-fsanitize=fuzzer-no-link -Wno-unused-command-line-argument \
	-Ibuild/gen -Icommon -Iwaproc -Ifcgi-app -Idevmgr -Iwsrelay \
	-Itests/fakewa $PKG_CFLAGS"

is_main() {
	for m in $MAINS; do [ "$m" = "$1" ] && return 0; done
	return 1
}

# compile SRC: object into $OUT/obj, rebuilt only when the source is newer
compile() {
	obj="$OUT/obj/$(echo "$1" | tr '/' '_' | sed 's/\.c$/.o/')"
	if [ ! -f "$obj" ] || [ "$1" -nt "$obj" ] || \
	    [ -n "$(find common waproc fcgi-app devmgr wsrelay tests/fakewa \
	    build/gen -name '*.h' -newer "$obj" 2>/dev/null | head -n 1)" ]; then
		if ! $FUZZ_CC $CFLAGS -c -o "$obj" "$1" \
		    > "$OUT/logs/cc.log" 2>&1; then
			sed 's/^/   | /' "$OUT/logs/cc.log" | head -n 20 >&2
			echo "fuzz: cannot compile $1" >&2
			rm -f "$obj"
			return 1
		fi
	fi
	echo "$obj"
}

# One archive per directory of library sources.
LIBS=""
for dir in common waproc fcgi-app devmgr wsrelay tests/fakewa build/gen; do
	[ -d "$dir" ] || continue
	objs=""
	for src in "$dir"/*.c; do
		[ -f "$src" ] || continue
		is_main "$src" && continue
		case "$dir" in build/gen) case "$src" in *.pb-c.c) ;; *) continue;; esac;; esac
		if o=$(compile "$src"); then
			objs="$objs $o"
		else
			failed=$((failed + 1)); broken="$broken $src"
		fi
	done
	[ -n "$objs" ] || continue
	lib="$OUT/lib/lib$(echo "$dir" | tr '/' '_').a"
	rm -f "$lib"
	ar rcs "$lib" $objs
	LIBS="$LIBS $lib"
done

for src in tests/fuzz/fuzz_*.c; do
	[ -f "$src" ] || continue
	name=$(basename "$src" .c | sed 's/^fuzz_//')
	if [ -n "$FILTER" ]; then
		sel=0
		for f in $FILTER; do
			case "$name" in *"$f"*) sel=1;; esac
		done
		[ "$sel" = 1 ] || continue
	fi
	echo "== fuzz_$name (${FUZZ_SECONDS}s)"
	bin="$OUT/fuzz_$name"
	# archives twice: they may refer to each other (waproc -> common)
	if ! $FUZZ_CC $CFLAGS -fsanitize=fuzzer -o "$bin" "$src" \
	    $LIBS $LIBS $PKG_LIBS > "$OUT/logs/$name-build.log" 2>&1; then
		sed 's/^/   | /' "$OUT/logs/$name-build.log" | tail -n 20
		failed=$((failed + 1)); broken="$broken $name"
		echo "not ok $((passed + failed)) - fuzz_$name: build failed"
		continue
	fi
	corpus="$OUT/corpus/$name"
	mkdir -p "$corpus"
	[ -d "tests/fuzz/corpus/$name" ] && cp -p "tests/fuzz/corpus/$name"/* \
	    "$corpus"/ 2>/dev/null
	if ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$FUZZ_SECONDS" \
	    -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
	    -artifact_prefix="$OUT/artifacts/$name-" "$corpus" \
	    > "$OUT/logs/$name.log" 2>&1; then
		grep -E '^(stat::number_of_executed_units|#[0-9]+.*DONE)' \
		    "$OUT/logs/$name.log" | sed 's/^/   /' | tail -n 2
		passed=$((passed + 1))
		echo "ok $((passed + failed)) - fuzz_$name: ${FUZZ_SECONDS}s, no crash"
	else
		grep -E 'ERROR|SUMMARY|Test unit written' "$OUT/logs/$name.log" |
		    sed 's/^/   /' | head -n 10
		failed=$((failed + 1)); broken="$broken $name"
		echo "not ok $((passed + failed)) - fuzz_$name: crash (log $OUT/logs/$name.log)"
	fi
done

[ -n "$broken" ] && echo "failing:$broken"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
