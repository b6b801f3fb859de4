#!/usr/bin/env bash
# Builds the libFuzzer targets (one per reader of outside files: Fuzz/README.md) with
# -sanitize=fuzzer,address in their own build folder, runs each for SECONDS (default 60) from its
# committed seed corpus, and prints per target the runs, the coverage and the crashes.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Findings (crash-*, oom-*, timeout-*) are written to .build-fuzz/findings/<target>/; the grown
# corpus is kept in .build-fuzz/corpus/<target>/ (the committed seeds are never modified).
# FUZZ_SKIP_BUILD=1 runs the targets already built. Exit status: 0 when no target found anything.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-60}"
shift || true
ALL=(FuzzSafeTensors FuzzONNXImport FuzzNumPy FuzzIDX FuzzCIFAR FuzzRunConfig FuzzConformanceCase)
TARGETS=("${@:-${ALL[@]}}")
BUILD=.build-fuzz
export BREVITAS_FUZZ=1
FLAGS=(--build-path "$BUILD" --sanitize=fuzzer --sanitize=address
       -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table)
for t in "${TARGETS[@]}"; do
    [ "${FUZZ_SKIP_BUILD:-0}" = 1 ] && break
    echo "building $t" >&2
    swift build "${FLAGS[@]}" --product "$t" 2>&1 | grep -v "ld.gold: warning: Cannot export local symbol" | grep -E "error|warning: unre|Compiling|Build complete" | tail -3 >&2
done
BIN="$(swift build "${FLAGS[@]}" --show-bin-path | tail -1)"
printf '%-22s %12s %8s %8s %8s\n' target runs cov ft crashes
failed=0
for t in "${TARGETS[@]}"; do
    corpus="$BUILD/corpus/$t" findings="$BUILD/findings/$t"
    mkdir -p "$corpus" "$findings"
    log="$BUILD/$t.log"
    marker="$BUILD/$t.started"
    touch "$marker"  # only findings newer than it are this run's
    # -rss_limit_mb: a file that makes a reader allocate past 2 GB is a finding (a missing limit).
    "$BIN/$t" "$corpus" "Fuzz/$t/corpus" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1 || true
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last"); ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    crashes=$(find "$findings" -type f -newer "$marker" | wc -l)
    if grep -q "ERROR: libFuzzer\|ERROR: AddressSanitizer\|Fatal error\|SUMMARY:" "$log"; then
        crashes=$((crashes > 0 ? crashes : 1))
    fi
    printf '%-22s %12s %8s %8s %8s\n' "$t" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
    [ "$crashes" -eq 0 ] || { failed=1; echo "  see $log and $findings/" >&2; }
done
exit $failed
