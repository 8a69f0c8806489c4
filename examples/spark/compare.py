"""Compare result sets: the direct run's JSON lines with Spark's output (a directory of
JSON-lines part files, or a Parquet directory whose `result` column holds each line).

    python compare.py DIRECT.jsonl OUT_DIR [OUT_DIR...]

Results are compared as sets of lines without `elapsed_ms` and `cached`, which say how a
run obtained an answer, not what it is. Exits 1 on any difference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def normalized(line: str) -> str:
    r = json.loads(line)
    r.pop("elapsed_ms", None)
    r.pop("cached", None)
    return json.dumps(r, sort_keys=True)


def lines_of(path: Path) -> list[str]:
    if path.is_file():
        return path.read_text().splitlines()
    if any(path.glob("*.parquet")):
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        rows = spark.read.parquet(str(path)).select("result").collect()
        return [r["result"] for r in rows]
    return [l for part in sorted(path.glob("part-*")) for l in part.read_text().splitlines()]


def main() -> int:
    direct_lines = lines_of(Path(sys.argv[1]))
    direct = {normalized(l) for l in direct_lines if l.strip()}
    status = 0
    for other in sys.argv[2:]:
        got_lines = [l for l in lines_of(Path(other)) if l.strip()]
        got = {normalized(l) for l in got_lines}
        dupes = len(got_lines) - len(got)
        ok = got == direct and dupes == 0
        print(
            f"{other}: {len(got_lines)} results, {len(direct)} in the direct run, "
            f"{len(got - direct)} only here, {len(direct - got)} missing, {dupes} duplicates: "
            + ("EQUAL" if ok else "DIFFERENT")
        )
        status |= 0 if ok else 1
    ok_count = sum(1 for l in direct if json.loads(l)["error"] is None)
    print(f"direct run: {len(direct)} results, {ok_count} with metadata")
    return status


if __name__ == "__main__":
    sys.exit(main())
