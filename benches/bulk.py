#!/usr/bin/env python3
"""Throughput of `sdistill inspect --manifest` workers over the corpus.

For 1 and 2 workers (separate `inspect --manifest SHARD -j 1` processes over a
round-robin split of the manifest, as a distributed engine runs them) and for one
process with `-j 2`: wall time, sdists/s, CPU-seconds per sdist (user + system of the
workers, from wait4) and each worker's peak RSS. Every answer is computed (`--no-cache`);
the files are served from target/corpus by an HTTP server on 127.0.0.1, so the download
path is exercised without the network's variance. Then the cached path: a manifest 100x
longer, answered from a warm metadata cache with no download.

    python3 benches/bulk.py --sdistill target/release/sdistill [--reps 3]

Host Python only serves files, starts processes and compares JSON; no package is run.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fetch_corpus(manifest: Path, files: Path) -> list[dict]:
    sdists = json.loads(manifest.read_text())["sdists"]
    files.mkdir(parents=True, exist_ok=True)
    for s in sdists:
        path = files / s["filename"]
        if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == s["sha256"]:
            continue
        data = urllib.request.urlopen(s["url"], timeout=120).read()
        if hashlib.sha256(data).hexdigest() != s["sha256"]:
            sys.exit(f"sha256 mismatch for {s['filename']}")
        path.write_bytes(data)
    return sdists


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # noqa: D401 - silence
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def normalized(line: str) -> str:
    r = json.loads(line)
    r.pop("elapsed_ms", None)
    r.pop("cached", None)
    return json.dumps(r, sort_keys=True)


def run_workers(binary: str, shards: list[str], jobs: int, extra: list[str], tmp: Path):
    """Starts one process per shard at once; returns wall seconds, [(cpu s, maxrss KiB)],
    and the result lines."""
    procs = []
    started = time.monotonic()
    for i, text in enumerate(shards):
        mpath = tmp / f"shard{i}.jsonl"
        mpath.write_text(text)
        out = open(tmp / f"out{i}.jsonl", "w")
        p = subprocess.Popen(
            [binary, "--quiet", "inspect", "--manifest", str(mpath), "-j", str(jobs), *extra],
            stdout=out,
            stderr=subprocess.PIPE,
        )
        procs.append((p, out))
    usage = []
    pending = {p.pid: (p, out) for p, out in procs}
    while pending:
        pid, status, ru = os.wait4(-1, 0)
        if pid not in pending:
            continue
        p, out = pending.pop(pid)
        out.close()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"worker failed: {p.stderr.read().decode()}")
        usage.append((ru.ru_utime + ru.ru_stime, ru.ru_maxrss))
    wall = time.monotonic() - started
    lines = []
    for i in range(len(shards)):
        lines += (tmp / f"out{i}.jsonl").read_text().splitlines()
    return wall, usage, lines


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sdistill", default=str(ROOT / "target/release/sdistill"))
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared/corpus/manifest.json"))
    ap.add_argument("--files", default=str(ROOT / "target/corpus"))
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    sdists = fetch_corpus(Path(args.corpus), Path(args.files))
    server, base = serve(Path(args.files))
    lines = [
        json.dumps({"url": base + s["filename"], "sha256": s["sha256"], "name": s["name"]})
        for s in sdists
    ]
    n = len(lines)
    print(f"corpus: {n} sdists, {sum(s['size'] for s in sdists) / 2**20:.1f} MiB; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    configs = [("1 worker (-j 1)", 1, 1), ("2 workers (-j 1 each)", 2, 1), ("1 process, -j 2", 1, 2)]
    reference = None
    print(f"\n| configuration | wall s (median of {args.reps}) | sdists/s | CPU s per sdist | peak RSS per worker |")
    print("|---|---|---|---|---|")
    for label, workers, jobs in configs:
        walls, cpus, rss = [], [], []
        for _ in range(args.reps):
            shards = ["".join(l + "\n" for l in lines[w::workers]) for w in range(workers)]
            with tempfile.TemporaryDirectory() as tmp:
                wall, usage, out = run_workers(args.sdistill, shards, jobs, ["--no-cache"], Path(tmp))
            got = {normalized(l) for l in out}
            if len(out) != n or len(got) != n:
                sys.exit(f"{label}: {len(out)} results for {n} entries")
            if reference is None:
                reference = got
            elif got != reference:
                sys.exit(f"{label}: results differ from the first run's")
            walls.append(wall)
            cpus.append(sum(c for c, _ in usage))
            rss.append(max(r for _, r in usage))
        wall = statistics.median(walls)
        print(f"| {label} | {wall:.1f} | {n / wall:.2f} | {statistics.median(cpus) / n:.3f} | "
              f"{max(rss) / 1024:.0f} MiB |")
    ok = sum(1 for l in reference if json.loads(l)["error"] is None)
    print(f"\nevery run gave the same {n} results ({ok} with metadata)")

    # The cached path: warm the cache, then a manifest 100x longer, no download.
    with tempfile.TemporaryDirectory() as tmp:
        run_workers(args.sdistill, ["".join(l + "\n" for l in lines)], 2, [], Path(tmp))
        # Nothing may be downloaded from here on: the server is gone (closed, so a
        # connection is refused rather than left waiting in its backlog) and the run is
        # --offline; entries with no cached answer (failures are never cached) fail fast.
        server.shutdown()
        server.server_close()
        wall, usage, out = run_workers(
            args.sdistill, ["".join(l + "\n" for l in lines) * 100], 2, ["--offline"], Path(tmp)
        )
        cached = sum(1 for l in out if json.loads(l)["cached"])
    print(f"cached: {len(out)} entries (100x the corpus) in {wall:.1f} s = {len(out) / wall:.0f}/s, "
          f"{cached} from the metadata cache, CPU {usage[0][0] / len(out) * 1000:.2f} ms per entry, "
          f"peak RSS {usage[0][1] / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
