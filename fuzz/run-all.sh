#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, two at a time, from the seeds.
# Crashes land in fuzz/artifacts/<target>/; turn each into a regression test.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-600}"
export RUSTC_BOOTSTRAP=1   # cargo-fuzz passes -Z flags; this lets the stable toolchain accept them
cargo fuzz build
run() {
  mkdir -p "corpus/$1"
  cargo fuzz run "$1" "corpus/$1" "seeds/$1" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -timeout=30 \
    > "run-$1.log" 2>&1 || echo "$1: finished with a finding (see run-$1.log)"
  grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "run-$1.log" | tail -1 | sed "s/^/$1: /"
}
run tar_gz & run core_metadata & wait
run zip & run pyproject & wait
run requirement
