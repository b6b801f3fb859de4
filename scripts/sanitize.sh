#!/usr/bin/env bash
# The test suite under the sanitizers, each in its own build folder (a full build each: slow,
# run it before a release, not on every change):
#
#   bash scripts/sanitize.sh [asan|tsan|all]
#
# - AddressSanitizer (.build-asan): the whole test suite (ASAN_FILTER to narrow it). Reports
#   out-of-bounds reads and writes, use after free, double free. Leak detection is off: the
#   Swift runtime's metadata caches and the worker pool's threads live until exit by design.
# - ThreadSanitizer (.build-tsan): the suites that run the threaded kernels and the worker pool
#   (TSAN_FILTER, default TensorEngineTests: GEMM split over the pool, parallel convolution image
#   blocks, ParallelTests, ...). Reports data races.
#
# Prints one summary line per sanitizer ("asan: N tests passed, 0 sanitizer reports") and exits
# non-zero when a build fails, a test fails or a sanitizer reports anything.
set -uo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
status=0
summaries=()

sanitize() {
    local name=$1 sanitizer=$2 build=$3 filter=$4 pattern=$5
    local log="$build.log"
    echo "$name: building the tests with -sanitize=$sanitizer in $build (log: $log)" >&2
    if ! swift build --build-tests --sanitize="$sanitizer" --build-path "$build" >"$log" 2>&1; then
        grep -E "error:" "$log" | head -20 >&2
        summaries+=("$name: BUILD FAILED (see $log)")
        status=1
        return
    fi
    local args=(--skip-build --sanitize="$sanitizer" --build-path "$build")
    [ -n "$filter" ] && args+=(--filter "$filter")
    echo "$name: running swift test ${filter:+--filter $filter}" >&2
    local start=$SECONDS
    swift test "${args[@]}" >>"$log" 2>&1
    local rc=$?
    local reports passed failed
    reports=$(grep -c "$pattern" "$log")
    passed=$(grep -oE "Test run with [0-9]+ tests? (in [0-9]+ suites? )?passed" "$log" | tail -1)
    failed=$(grep -oE "Test run with [0-9]+ tests? (in [0-9]+ suites? )?failed.*" "$log" | tail -1)
    summaries+=("$name: ${passed:-${failed:-no test summary (exit $rc)}}; $reports sanitizer reports; $((SECONDS - start)) s")
    if [ "$rc" -ne 0 ] || [ "$reports" -ne 0 ]; then
        grep -E -A12 "$pattern" "$log" | head -60 >&2
        grep -E "✘" "$log" | head -20 >&2
        status=1
    fi
}

if [ "$which" = asan ] || [ "$which" = all ]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:halt_on_error=1}"
    sanitize asan address .build-asan "${ASAN_FILTER:-}" "ERROR: AddressSanitizer"
fi
if [ "$which" = tsan ] || [ "$which" = all ]; then
    export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0}"
    sanitize tsan thread .build-tsan "${TSAN_FILTER:-TensorEngineTests}" "WARNING: ThreadSanitizer"
fi
printf '%s\n' "${summaries[@]}"
exit $status
