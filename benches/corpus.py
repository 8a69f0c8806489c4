#!/usr/bin/env python3
"""Accuracy and speed harness over ../shared/corpus (benchmark script: host Python is used
here only to download files, time processes and compare JSON; it never imports, builds or
runs any package from the corpus).

Usage:
  python3 benches/corpus.py [--categories abc] [--jobs 2] [--per-sdist] [--cold]
                            [--binary target/release/sdistill] [--limit N]

Downloads every listed sdist (sha256-checked, cached under target/corpus/), runs
`sdistill inspect` over them in one batch, and compares Version, Requires-Python and the
Requires-Dist set with what pip computed (truth.json). Prints agreement, every difference
and every failure by kind, batch throughput and peak memory; with --per-sdist also the
median/p90 wall time of one `inspect` process per sdist; with --cold the first-run cost
(module compile) on an empty compiled-module cache.
"""
import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "corpus")
CACHE = os.path.join(ROOT, "target", "corpus")

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip vendors packaging
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name


def norm_req(text):
    try:
        r = Requirement(text)
    except Exception:
        return "INVALID:" + text.strip()
    r.name = canonicalize_name(r.name)
    text = str(r)
    # `(a and b) and c` == `a and b and c`: drop parentheses of and-only markers so that
    # setuptools versions that parenthesize differently compare equal.
    if ";" in text:
        head, marker = text.split(";", 1)
        if " or " not in marker:
            marker = marker.replace("(", "").replace(")", "")
        text = head + ";" + marker
    return text


def norm_reqs(reqs):
    return sorted({norm_req(r) for r in (reqs or [])})


def fetch(entry):
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, entry["filename"])
    if os.path.exists(path) and sha256(path) == entry["sha256"]:
        return path
    tmp = path + ".part"
    with urllib.request.urlopen(entry["url"], timeout=120) as resp, open(tmp, "wb") as out:
        shutil.copyfileobj(resp, out)
    if sha256(tmp) != entry["sha256"]:
        os.unlink(tmp)
        raise SystemExit("sha256 mismatch for " + entry["filename"])
    os.replace(tmp, path)
    return path


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_measured(cmd, env=None):
    """Runs cmd; returns (stdout, wall seconds, peak RSS MiB). Peak RSS comes from GNU time
    (`/usr/bin/time -f %M`), because a child's ru_maxrss also counts the forking parent."""
    timed = ["/usr/bin/time", "-f", "%M"] + cmd if os.path.exists("/usr/bin/time") else cmd
    start = time.perf_counter()
    proc = subprocess.run(timed, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - start
    rss = float("nan")
    if timed is not cmd:
        try:
            rss = int(proc.stderr.decode().strip().splitlines()[-1]) / 1024.0
        except (ValueError, IndexError):
            pass
    return proc.stdout, wall, rss


def pct(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, int(round(q * (len(values) - 1)))))
    return values[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--categories", default="abc")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "sdistill"))
    ap.add_argument("--per-sdist", action="store_true")
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()

    manifest = json.load(open(os.path.join(SHARED, "manifest.json")))
    truth = {(t["name"], t["version"]): t for t in json.load(open(os.path.join(SHARED, "truth.json")))}
    entries = [e for e in manifest["sdists"] if e["category"] in args.categories]
    if args.limit:
        entries = entries[: args.limit]
    paths = [fetch(e) for e in entries]
    print(f"{len(paths)} sdists (categories {args.categories}), jobs={args.jobs}, binary={args.binary}")

    # Not --offline: build requirements are fetched (hash-checked) and cached on first use.
    out, wall, rss = run_measured([args.binary, "inspect", "--no-cache", "--format", "json",
                                   "-j", str(args.jobs)] + paths)
    results = json.loads(out)
    print(f"batch: {wall:.1f} s wall, {len(paths) / wall:.2f} sdists/s, peak RSS {rss:.0f} MiB")

    agree, differ, failed, no_truth, flagged_diff = 0, [], {}, 0, 0
    for entry, res in zip(entries, results):
        t = truth.get((entry["name"], entry["version"]))
        label = f"{entry['name']} {entry['version']} [{entry['category']}]"
        if res["error"]:
            failed.setdefault(res["error"]["kind"], []).append(
                (label, res["error"]["message"][:160], t and t.get("status")))
            continue
        if not t or not t.get("status", "").startswith("ok"):
            no_truth += 1
            continue
        diffs = []
        if res["version"] != t["Version"]:
            diffs.append(f"version {res['version']} != {t['Version']}")
        if (res["requires_python"] or None) != (t["Requires-Python"] or None):
            diffs.append(f"requires_python {res['requires_python']} != {t['Requires-Python']}")
        ours, theirs = norm_reqs(res["requires_dist"]), norm_reqs(t["Requires-Dist"])
        if ours != theirs:
            diffs.append(f"requires_dist +{sorted(set(ours) - set(theirs))} -{sorted(set(theirs) - set(ours))}")
        if diffs:
            flagged = bool(res["warnings"])
            flagged_diff += flagged
            differ.append((label, res["method"], "FLAGGED" if flagged else "CLEAN", diffs, t.get("status")))
        else:
            agree += 1
    with_truth = agree + len(differ) + sum(1 for v in failed.values() for x in v if x[2] and x[2].startswith("ok"))
    print(f"agreement with pip: {agree}/{with_truth} sdists that pip could build "
          f"({len(differ)} differ, {flagged_diff} of them flagged; "
          f"{sum(len(v) for v in failed.values())} failed; {no_truth} without truth)")
    methods = {}
    for r in results:
        methods[r["method"] or "error"] = methods.get(r["method"] or "error", 0) + 1
    print("methods:", methods)
    for label, method, flag, diffs, status in differ:
        print(f"  DIFF {flag} {label} via {method} ({status}): {'; '.join(diffs)}")
    for kind, items in sorted(failed.items()):
        print(f"  FAIL {kind}: {len(items)}")
        for label, msg, status in items:
            print(f"    {label} (pip: {status}): {msg}")

    if args.per_sdist:
        times = []
        for p in paths:
            _, t, _ = run_measured([args.binary, "inspect", "--no-cache", "--format", "json", "--offline", p])
            times.append(t)
        print(f"per-sdist process (warm module cache): median {statistics.median(times):.3f} s, "
              f"p90 {pct(times, 0.9):.3f} s, n={len(times)}")
        internal = [r["elapsed_ms"] / 1000 for r in results]
        print(f"per-sdist in batch (elapsed_ms): median {statistics.median(internal):.3f} s, "
              f"p90 {pct(internal, 0.9):.3f} s")

    if args.cold:
        cache = os.environ.get("SDISTILL_CACHE_DIR") or os.path.expanduser("~/.cache/sdistill")
        with tempfile.TemporaryDirectory() as cold:
            shutil.copytree(os.path.join(cache, "runtime"), os.path.join(cold, "runtime"))
            env = dict(os.environ, SDISTILL_CACHE_DIR=cold)
            _, t_cold, _ = run_measured([args.binary, "inspect", "--no-cache", "--format", "json", "--offline", paths[0]], env)
            _, t_warm, _ = run_measured([args.binary, "inspect", "--no-cache", "--format", "json", "--offline", paths[0]], env)
        print(f"cold first run (compiles the runtime): {t_cold:.2f} s; next run: {t_warm:.2f} s ({os.path.basename(paths[0])})")


if __name__ == "__main__":
    main()
