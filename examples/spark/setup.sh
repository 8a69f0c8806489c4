#!/usr/bin/env bash
# Set up the Spark example on a fresh machine: a throwaway virtualenv with PySpark (from
# PyPI; Spark itself comes inside the pyspark package), the sdistill binary built from
# this checkout, and its runtime. Nothing is installed outside $WORK.
#
#   examples/spark/setup.sh            # then: examples/spark/run.sh
#
# Needs: python3 (3.9+) with venv, Java 17 or 21 on PATH (java -version), a Rust toolchain.
# Environment: WORK (default target/spark-example), PYSPARK_VERSION, SDISTILL (an existing
# sdistill binary to use instead of building one).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK="${WORK:-$PWD/target/spark-example}"
PYSPARK_VERSION="${PYSPARK_VERSION:-4.0.1}"
mkdir -p "$WORK"

command -v java >/dev/null || { echo "setup: Java 17+ is needed on PATH" >&2; exit 1; }

if [ ! -x "$WORK/venv/bin/python" ]; then
  python3 -m venv "$WORK/venv"
fi
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check "pyspark==$PYSPARK_VERSION"
"$WORK/venv/bin/python" -c 'import pyspark; print("setup: pyspark", pyspark.__version__)'

if [ -z "${SDISTILL:-}" ]; then
  cargo build --release --locked
  SDISTILL="$PWD/target/release/sdistill"
fi
ln -sf "$SDISTILL" "$WORK/sdistill"
# The runtime (pinned, sha256-checked) and its compiled interpreter, once per cache.
export SDISTILL_CACHE_DIR="${SDISTILL_CACHE_DIR:-$WORK/cache}"
"$WORK/sdistill" --quiet runtime install
echo "setup: ready in $WORK (sdistill: $("$WORK/sdistill" -V))"
