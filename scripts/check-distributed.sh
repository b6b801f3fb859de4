#!/usr/bin/env bash
# Data-parallel training over MPI, end to end (run by .ci/run): `mpirun -np 2 brevitas train
# --distributed` on the bundled digits completes; two runs write bit-identical checkpoints; the
# final test accuracy is within 0.5 points of one process with the same global batch; a rank that
# fails (bad data) or starts with another configuration ends the whole job with an error naming it.
# Usage: scripts/check-distributed.sh [BREVITAS_BINARY] (default: the debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-$(swift build --show-bin-path)/brevitas}
# mpirun refuses to start as root without these (CI containers run as root).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(timeout 300 mpirun -np 2 --oversubscribe)
train=(train --epochs "${EPOCHS:-15}" --threads 1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

start=$(date +%s)
"${mpi[@]}" "$bin" "${train[@]}" --distributed --out "$out/a" >"$out/a.log"
"${mpi[@]}" "$bin" "${train[@]}" --distributed --out "$out/b" >/dev/null
"$bin" "${train[@]}" --out "$out/single" >/dev/null
cmp "$out/a/model.safetensors" "$out/b/model.safetensors" \
  || { echo "error: two runs of mpirun -np 2 wrote different checkpoints" >&2; exit 1; }
accuracy() { sed -n 's/.*"quantTestAccuracy" *: *\([0-9.eE+-]*\).*/\1/p' "$1/metrics.json" | head -n 1; }
two=$(accuracy "$out/a"); one=$(accuracy "$out/single")
awk -v a="$two" -v b="$one" 'BEGIN { d = (a - b) * 100; if (d < 0) d = -d;
  printf "distributed: 2 ranks %.2f%%, 1 process %.2f%% (|difference| %.2f points), checkpoints bit-identical\n", a * 100, b * 100, d;
  exit !(d <= 0.5) }' || { echo "error: 2-rank accuracy is more than 0.5 points from the single process's" >&2; exit 1; }

# Rank 1 reads a bad data folder: every rank must end, with an error naming rank 1.
mkdir -p "$out/bad" && echo "not an IDX file" >"$out/bad/train-images-idx3-ubyte"
one_rank=(timeout 120 mpirun --oversubscribe -np 1)
if "${one_rank[@]}" "$bin" train --distributed --epochs 1 --limit 64 --out "$out/c" : \
    -np 1 "$bin" train --distributed --epochs 1 --limit 64 --out "$out/c" --dataset mnist --data-dir "$out/bad" >/dev/null 2>"$out/bad.log"; then
  echo "error: a job with a failing rank exited 0" >&2; exit 1
fi
grep -q "error: rank 1 of 2: " "$out/bad.log" || { echo "error: the failing rank was not named:" >&2; cat "$out/bad.log" >&2; exit 1; }
# Rank 1 starts with another seed: detected before training.
if "${one_rank[@]}" "$bin" train --distributed --epochs 1 --limit 64 --out "$out/d" : \
    -np 1 "$bin" train --distributed --epochs 1 --limit 64 --out "$out/d" --seed 1 >/dev/null 2>"$out/seed.log"; then
  echo "error: ranks with different seeds trained" >&2; exit 1
fi
grep -q "rank 1 was started with a configuration different from rank 0's.*seed: '1' here, '0' on rank 0" "$out/seed.log" \
  || { echo "error: the configuration mismatch was not reported:" >&2; cat "$out/seed.log" >&2; exit 1; }
echo "distributed: failing rank and configuration mismatch end the job with the rank named; $(( $(date +%s) - start )) s"
