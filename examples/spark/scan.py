"""Scan a manifest of sdists with Spark: shards of the manifest piped through
`sdistill inspect --manifest -` (RDD.pipe), results written as JSON lines or Parquet.

    python scan.py MANIFEST.jsonl --out DIR [--workers 2] [--format jsonl|parquet]
                   [--sdistill PATH] [--skip-done FILE_OR_DIR] [-- SDISTILL_ARGS...]

Each Spark task runs one sdistill process with `-j 1` over its partition's lines (one
core each: Spark's task slots are the parallelism), so `--workers N` (local[N]) means N
sdistill processes at once. sdistill exits 0 once every entry of its shard has a result
line (a failed entry is a line with `error`, not a failed task), so Spark retries a task
only when the process itself could not finish. Nothing here interprets a result except
for the Parquet columns below; the JSON line is kept whole in `result`.

Local mode only as written: every task reads the sdistill binary, its cache
(SDISTILL_CACHE_DIR, shared by the tasks; writes are atomic) and --skip-done from this
machine's file system. On a cluster, install sdistill and its runtime on every node.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType

# Parquet columns: the fields most queries filter on, plus the whole result line.
SCHEMA = StructType(
    [
        StructField("sha256", StringType()),
        StructField("path", StringType()),
        StructField("input", StringType()),
        StructField("name", StringType()),
        StructField("version", StringType()),
        StructField("method", StringType()),
        StructField("error_kind", StringType()),
        StructField("verdict", StringType()),
        StructField("cached", BooleanType()),
        StructField("elapsed_ms", LongType()),
        StructField("result", StringType()),
    ]
)


def to_row(line: str) -> tuple:
    r = json.loads(line)
    m = r.get("manifest") or {}
    return (
        m.get("sha256"),
        m.get("path"),
        r.get("input"),
        r.get("name"),
        r.get("version"),
        r.get("method"),
        (r.get("error") or {}).get("kind"),
        (r.get("behaviour") or {}).get("verdict"),
        r.get("cached"),
        r.get("elapsed_ms"),
        line,
    )


def done_file(path: Path, into: Path) -> Path:
    """One results file from a file or a directory of part files (an earlier run's --out),
    copied line by line (bounded memory)."""
    if path.is_file():
        return path
    with open(into, "wb") as out:
        for part in sorted(path.glob("part-*")):
            with open(part, "rb") as f:
                for line in f:
                    out.write(line if line.endswith(b"\n") else line + b"\n")
    return into


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2, help="local[N]: sdistill processes at once")
    ap.add_argument("--partitions", type=int, default=0, help="shards [default: 4 x workers]")
    ap.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    ap.add_argument("--sdistill", default=os.environ.get("SDISTILL", "sdistill"))
    ap.add_argument("--skip-done", type=Path, help="an earlier run's results (file or --out dir)")
    ap.add_argument("sdistill_args", nargs="*", help="more `sdistill inspect` flags, after --")
    args = ap.parse_args()

    cmd = [args.sdistill, "--quiet", "inspect", "--manifest", "-", "-j", "1", *args.sdistill_args]
    tmp = Path(tempfile.mkdtemp(prefix="sdistill-scan-"))
    if args.skip_done:
        cmd += ["--skip-done", str(done_file(args.skip_done, tmp / "done.jsonl"))]

    spark = (
        SparkSession.builder.master(f"local[{args.workers}]")
        .appName("sdistill-scan")
        .config("spark.ui.enabled", "false")
        .config("spark.task.maxFailures", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    partitions = args.partitions or 4 * args.workers
    lines = spark.sparkContext.textFile(str(args.manifest.resolve()), minPartitions=partitions)
    # The whole environment, plus nothing: pipe() replaces it when env is given.
    results = lines.pipe(shlex.join(cmd), env=dict(os.environ), checkCode=True)
    if args.format == "jsonl":
        results.saveAsTextFile(str(args.out))
    else:
        spark.createDataFrame(results.map(to_row), SCHEMA).write.parquet(str(args.out))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
