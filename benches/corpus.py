#!/usr/bin/env python3
"""Accuracy and speed harness over ../shared/corpus (benchmark script: host Python is used
here only to download files, time processes and compare JSON; it never imports, builds or
runs any package from the corpus).

Usage:
  python3 benches/corpus.py [--categories abc] [--jobs 2] [--per-sdist] [--cold]
                            [--binary target/release/sdistill] [--limit N]
                            [--behaviour] [--observe] [--compare BASE_BINARY] [--reps N]

Downloads every listed sdist (sha256-checked, cached under target/corpus/), runs
`sdistill inspect` over them in one batch, and compares Version, Requires-Python and the
Requires-Dist set with what pip computed (truth.json). Prints agreement, every difference
and every failure by kind, batch throughput and peak memory; with --per-sdist also the
median/p90 wall time of one `inspect` process per sdist; with --cold the first-run cost
(module compile) on an empty compiled-module cache.

--behaviour prints the behaviour report over the corpus: verdict counts, every `notice`
kind seen (category/action and the rule's reason), and every `suspicious` event with its
sdist. --observe adds `--observe` to the batch. --compare BASE_BINARY times, in the same
run, one `inspect` process per sandboxed sdist with BASE_BINARY (a build without the
observer) and with --binary, interleaved, --reps times each; it prints the median of the
per-sdist ratios (the observer's cost) and, separately, what `--observe` costs.
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
    ap.add_argument("--behaviour", action="store_true")
    ap.add_argument("--observe", action="store_true")
    ap.add_argument("--compare", metavar="BASE_BINARY")
    ap.add_argument("--reps", type=int, default=3)
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
                                   "-j", str(args.jobs)] + (["--observe"] if args.observe else [])
                                  + paths)
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

    if args.behaviour:
        report_behaviour(entries, results)

    if args.compare:
        compare(args, entries, paths, results)

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


def report_behaviour(entries, results):
    verdicts, notices, suspicious = {}, {}, []
    for entry, res in zip(entries, results):
        b = res.get("behaviour")
        verdict = b["verdict"] if b else "null (no build code ran)"
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        for e in (b or {}).get("events", []):
            key = (e["category"], e["action"], e["reason"])
            if e["severity"] == "notice":
                notices.setdefault(key, set()).add(entry["name"])
            elif e["severity"] == "suspicious":
                suspicious.append((entry["name"], entry["version"], e))
    total = len(results)
    print("behaviour verdicts:", ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))
    n_susp = verdicts.get("suspicious", 0)
    print(f"suspicious: {n_susp}/{total} = {100.0 * n_susp / max(total, 1):.1f} %")
    print("notice kinds (category/action: reason -- sdists):")
    for (cat, action, reason), names in sorted(notices.items()):
        print(f"  {cat}/{action}: {reason} -- {len(names)}: {', '.join(sorted(names)[:6])}"
              + (" ..." if len(names) > 6 else ""))
    for name, version, e in suspicious:
        print(f"  SUSPICIOUS {name} {version}: {e['category']}/{e['action']} {e['target'][:100]!r}"
              f" at {e['location']} ({e['reason']})")


def compare(args, entries, paths, results):
    # Only sdists whose answer comes from the sandbox: the static path runs no build code.
    sandboxed = [p for p, r in zip(paths, results) if (r.get("method") or "").startswith("sandbox")]
    base_cmd = lambda p: [args.compare, "inspect", "--no-cache", "--format", "json", "--offline", p]
    ours_cmd = lambda p, extra=(): [args.binary, "inspect", "--no-cache", "--format", "json",
                                   "--offline", *extra, p]
    for p in sandboxed[:2]:  # warm both binaries' snapshots and the page cache
        run_measured(base_cmd(p))
        run_measured(ours_cmd(p))
    base_t, ours_t, obs_t, ratios, obs_ratios = [], [], [], [], []
    for p in sandboxed:
        b, o, ob = [], [], []
        for _ in range(args.reps):
            b.append(run_measured(base_cmd(p))[1])
            o.append(run_measured(ours_cmd(p))[1])
            ob.append(run_measured(ours_cmd(p, ("--observe",)))[1])
        mb, mo, mob = statistics.median(b), statistics.median(o), statistics.median(ob)
        base_t.append(mb)
        ours_t.append(mo)
        obs_t.append(mob)
        ratios.append(mo / mb)
        obs_ratios.append(mob / mo)
    print(f"observer cost over {len(sandboxed)} sandboxed sdists, one process each, "
          f"median of {args.reps} interleaved runs per sdist:")
    print(f"  without observer (base): median {statistics.median(base_t):.3f} s, p90 {pct(base_t, 0.9):.3f} s")
    print(f"  with observer:           median {statistics.median(ours_t):.3f} s, p90 {pct(ours_t, 0.9):.3f} s")
    print(f"  median per-sdist ratio with/without: {statistics.median(ratios):.3f} "
          f"(p10 {pct(ratios, 0.1):.3f}, p90 {pct(ratios, 0.9):.3f})")
    print(f"  with --observe:          median {statistics.median(obs_t):.3f} s, p90 {pct(obs_t, 0.9):.3f} s; "
          f"median per-sdist ratio to the default path {statistics.median(obs_ratios):.2f}")


if __name__ == "__main__":
    main()
