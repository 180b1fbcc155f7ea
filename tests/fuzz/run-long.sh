#!/bin/bash
# tests/fuzz/run-long.sh -- the long (nightly-style) libFuzzer run of smimepub's fuzz targets.
#
# usage: tests/fuzz/run-long.sh [options] [TARGET ...]
#
# TARGET is a fuzz target's name: "cert" or "fuzz_cert" (default: every tests/fuzz/fuzz_*.c).
# For each target, in turn:
#   1. builds the libFuzzer targets (clang, meson -Dfuzz=true -Dtests=false) in the build dir;
#      installs clang with apt-get first when it is missing and the script runs as root;
#   2. fuzzes for --seconds, reading the saved corpus tests/fuzz/corpus/TARGET/ and writing new
#      inputs to a scratch dir only; a crash, leak, timeout or out-of-memory input is kept in
#      RESULTS/TARGET/ (libFuzzer's artifact_prefix) and named at the end;
#   3. merges: fuzz_TARGET -merge=1 tests/fuzz/corpus/TARGET SCRATCH, so only the inputs that
#      reach new code (edges) join the saved corpus (named by the SHA-1 of their content, as
#      libFuzzer names them); commit them, the normal test run replays them (suite 'fuzz');
#   4. prints one summary line: target, seconds, executions, exec/s, corpus files before and
#      after the merge; then a table of every target.
#
# options:
#   --seconds N   fuzzing time per target (default 600)
#   --jobs N      libFuzzer -jobs=N -workers=N: N fuzzing processes per target (default 1)
#   --build DIR   the libFuzzer build directory (default /tmp/smimepub-fuzz-build)
#   --results DIR logs, scratch corpora and artifacts (default /tmp/smimepub-fuzz-results)
#   --no-merge    fuzz only; leave the saved corpus as it is
#   -h, --help    this text
#
# Exit status: 0 when every target ran clean; 1 when a target left a crash/leak/timeout/oom
# artifact (its path is printed; the merge of that target is still done, the input is NOT
# added to the corpus: fix the bug, then add it by hand); 2 on a usage or build error.
#
# Several invocations may run at once on different targets (the build is serialised by a
# lock); mind the cores: one fuzzing process per core.
set -u -o pipefail

usage() { sed -n '2,/^set -u/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
seconds=600
jobs=1
build=/tmp/smimepub-fuzz-build
results=/tmp/smimepub-fuzz-results
merge=1
targets=()

while [ $# -gt 0 ]; do
	case $1 in
	--seconds) seconds=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
	--seconds=*) seconds=${1#*=}; shift ;;
	--jobs) jobs=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
	--jobs=*) jobs=${1#*=}; shift ;;
	--build) build=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
	--build=*) build=${1#*=}; shift ;;
	--results) results=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
	--results=*) results=${1#*=}; shift ;;
	--no-merge) merge=0; shift ;;
	-h|--help) usage; exit 0 ;;
	--) shift; targets+=("$@"); break ;;
	-*) echo "run-long.sh: unknown option '$1' (--help)" >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done
case $seconds in ''|*[!0-9]*) echo "run-long.sh: --seconds needs a number" >&2; exit 2 ;; esac
case $jobs in ''|*[!0-9]*|0) echo "run-long.sh: --jobs needs a number > 0" >&2; exit 2 ;; esac
[ -n "$build" ] && [ -n "$results" ] || { echo "run-long.sh: empty directory name" >&2; exit 2; }

if [ ${#targets[@]} -eq 0 ]; then
	for f in "$here"/fuzz_*.c; do
		t=${f##*/fuzz_}
		targets+=("${t%.c}")
	done
fi
for i in "${!targets[@]}"; do
	t=${targets[$i]#fuzz_}
	if [ ! -f "$here/fuzz_$t.c" ]; then
		echo "run-long.sh: no fuzz target '$t' (tests/fuzz/fuzz_$t.c)" >&2
		exit 2
	fi
	targets[$i]=$t
done

# The longest input worth trying per target, from what the saved corpus holds (the few larger
# seeds sit on limits and were made by hand; libFuzzer reads them truncated). Small inputs keep
# the corpus small and the executions fast.
max_len() {
	case $1 in
	cert) echo 8192 ;;      # certificates and bundles: 3 KiB at the 90th percentile
	message) echo 8192 ;;   # a signed mail with its chain: 4 KiB at the 90th percentile
	ldif) echo 8192 ;;
	journal) echo 8192 ;;   # a few records of base64 certificate values
	config) echo 8192 ;;    # past the 4096-byte lines the old reader cut in two
	dn) echo 1024 ;;        # a DN string or DER name: a few hundred bytes
	prom) echo 4096 ;;      # the head of an earlier textfile
	*) echo 4096 ;;
	esac
}

# clang (and its libFuzzer runtime, in the same Debian package) only when missing.
if ! command -v clang >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "run-long.sh: clang is missing; as root: apt-get install clang" >&2
		exit 2
	fi
	echo "== installing clang"
	DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang >/dev/null ||
		{ echo "run-long.sh: apt-get install clang failed" >&2; exit 2; }
fi

mkdir -p "$build" "$results" || exit 2
build=$(cd "$build" && pwd)
results=$(cd "$results" && pwd)

# The build: the library instrumented too (meson.build, -Dfuzz=true), no unit tests (cmocka
# not needed). b_lundef=false: clang's sanitizer runtimes are linked into executables only.
(
	flock 9
	if [ ! -f "$build/build.ninja" ]; then
		echo "== meson setup $build"
		CC=clang meson setup "$build" "$src" -Dfuzz=true -Dtests=false \
			-Dbuildtype=debugoptimized -Db_lundef=false >"$results/setup.log" 2>&1 ||
			{ cat "$results/setup.log" >&2; exit 2; }
	fi
	exes=()
	for t in "${targets[@]}"; do exes+=("tests/fuzz/libfuzzer/fuzz_$t"); done
	echo "== ninja ${exes[*]}"
	ninja -C "$build" "${exes[@]}" >"$results/build.log" 2>&1 ||
		{ tail -40 "$results/build.log" >&2; exit 2; }
) 9>"$build/.run-long.lock" || { echo "run-long.sh: build failed" >&2; exit 2; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
[ -f "$src/tests/lsan.supp" ] && export LSAN_OPTIONS="suppressions=$src/tests/lsan.supp"

# The last value of a "stat::NAME: value" line in the logs (summed over jobs).
stat_sum() {
	local name=$1; shift
	cat "$@" 2>/dev/null | awk -v k="stat::$name:" '$1 == k { s += $2; n++ } END { print n ? s : 0 }'
}

summary=()
failed=()
status=0
for t in "${targets[@]}"; do
	exe="$build/tests/fuzz/libfuzzer/fuzz_$t"
	corpus="$src/tests/fuzz/corpus/$t"
	out="$results/$t"
	scratch="$out/scratch"
	len=$(max_len "$t")
	rm -rf "$out"
	mkdir -p "$out/artifacts" "$scratch" "$corpus"
	before=$(find "$corpus" -type f | wc -l)
	echo "== fuzz_$t: $seconds s, -max_len=$len, jobs $jobs, corpus $before files, log $out/fuzz.log"
	args=(-max_len="$len" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048
	      -print_final_stats=1 -artifact_prefix="$out/artifacts/")
	start=$(date +%s)
	if [ "$jobs" -gt 1 ]; then
		# every job fuzzes for the whole time; each writes its own fuzz-N.log in $out
		(cd "$out" && "$exe" "${args[@]}" -jobs="$jobs" -workers="$jobs" "$scratch" "$corpus" \
			>"$out/fuzz.log" 2>&1)
	else
		"$exe" "${args[@]}" "$scratch" "$corpus" >"$out/fuzz.log" 2>&1
	fi
	rc=$?
	elapsed=$(( $(date +%s) - start ))
	logs=("$out/fuzz.log")
	[ "$jobs" -gt 1 ] && logs=("$out"/fuzz-*.log)
	execs=$(stat_sum number_of_executed_units "${logs[@]}")
	# libFuzzer's own rate is per process; the target's is all of them over the wall clock
	rate=$(( elapsed > 0 ? execs / elapsed : execs ))

	artifacts=$(find "$out/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' \
		-o -name 'timeout-*' -o -name 'oom-*' \) | sort)
	if [ -n "$artifacts" ] || { [ "$rc" -ne 0 ] && [ "$execs" -eq 0 ]; }; then
		status=1
		failed+=("$t")
		echo "!! fuzz_$t failed (exit $rc); see $out/fuzz.log"
		for a in $artifacts; do
			echo "!! artifact: $a"
			echo "!!   reproduce: $exe $a"
		done
	fi

	after=$before
	if [ "$merge" -eq 1 ]; then
		# only inputs that reach code the saved corpus does not: new edges, not new hit
		# counts (-use_counters=0); with counts a 300 s fuzz_message run merged 238 inputs
		# (790 KB) where 23 (50 KB) add every new edge, and a fuzzing run regains the counts
		"$exe" -merge=1 -use_counters=0 -max_len="$len" -timeout=30 -rss_limit_mb=2048 \
			-artifact_prefix="$out/artifacts/merge-" "$corpus" "$scratch" \
			>"$out/merge.log" 2>&1 ||
			{ echo "!! fuzz_$t: merge failed, see $out/merge.log"; status=1; failed+=("$t-merge"); }
		after=$(find "$corpus" -type f | wc -l)
	fi
	line=$(printf '%-10s %7s %12s %8s %6s -> %-6s' "$t" "$elapsed" "$execs" "$rate" "$before" "$after")
	echo "== summary: $line"
	summary+=("$line")
done

echo
printf '%-10s %7s %12s %8s %s\n' target seconds executions exec/s "corpus before -> after"
for line in "${summary[@]}"; do echo "$line"; done
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed: ${failed[*]} (artifacts under $results/<target>/artifacts/)"
fi
exit $status
