#!/usr/bin/env bash
# The example end to end, in Spark's local mode (run setup.sh once first):
#   1. the reference: one `sdistill inspect --manifest` process over the whole manifest;
#   2. Spark local[WORKERS]: the manifest cut into shards, each piped through sdistill,
#      written as JSON lines; then again written as Parquet;
#   3. compare.py: Spark's results equal the reference's, with no duplicates.
#
#   examples/spark/run.sh [MANIFEST.jsonl]        (default: examples/spark/corpus.jsonl,
#                                                  the 85 sdists of the accuracy corpus)
# Environment: WORK (as for setup.sh), WORKERS (default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK="${WORK:-$PWD/target/spark-example}"
WORKERS="${WORKERS:-2}"
MANIFEST="$(realpath "${1:-examples/spark/corpus.jsonl}")"
PY="$WORK/venv/bin/python"
export SDISTILL="$WORK/sdistill"
export SDISTILL_CACHE_DIR="${SDISTILL_CACHE_DIR:-$WORK/cache}"
[ -x "$PY" ] && [ -x "$SDISTILL" ] || { echo "run.sh: run examples/spark/setup.sh first" >&2; exit 1; }
rm -rf "$WORK/out-jsonl" "$WORK/out-parquet"

echo "== direct: one sdistill process, -j $WORKERS, no cache"
time "$SDISTILL" inspect --manifest "$MANIFEST" -j "$WORKERS" --no-cache > "$WORK/direct.jsonl"

echo "== Spark local[$WORKERS] -> JSON lines (no cache: every answer computed again)"
time "$PY" examples/spark/scan.py "$MANIFEST" --out "$WORK/out-jsonl" --workers "$WORKERS" --format jsonl -- --no-cache

echo "== Spark local[$WORKERS] -> Parquet (metadata cache on: computed once, then looked up)"
time "$PY" examples/spark/scan.py "$MANIFEST" --out "$WORK/out-parquet" --workers "$WORKERS" --format parquet

echo "== compare"
"$PY" examples/spark/compare.py "$WORK/direct.jsonl" "$WORK/out-jsonl" "$WORK/out-parquet"
