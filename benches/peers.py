#!/usr/bin/env python3
"""sdistill against pip and uv on the same sdists, in the same run, on the same machine.

BENCHMARK SCRIPT: pip and uv run each sdist's build code ON THE HOST (that is what they
do; it is what sdistill exists to avoid). Run it only on a machine you can throw away.
pip and uv are installed by this script into a throwaway virtualenv; host Python is used
for nothing else than timing and that venv.

Per sdist (categories a and b of ../shared/corpus by default):
  sdistill   `inspect --offline` (compiled module and build wheels already cached)
  pip        `pip install --dry-run --no-deps --ignore-installed --report` (build isolation)
  uv cold    `uv pip install --dry-run --no-deps` with an empty cache
  uv warm    the same with the cache the cold run filled
Prints median and p90 per tool, the median of per-sdist ratios, batch throughput of
sdistill (-j 2, metadata cache off, then warm) vs pip and uv run one after another, and the
peak memory of one process of each tool. sdistill runs with --no-cache: every answer is
computed (the cache is reported on its own line).

Usage: python3 benches/peers.py [--categories ab] [--limit N] [--binary PATH]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import SHARED, fetch, pct  # noqa: E402


PEAK = {}  # tool -> peak RSS (KiB) of any one of its processes, children included


def timed(cmd, env=None, tool=None):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    # wait4: this process's rusage, with the peak of the children it waited for.
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if tool:
        PEAK[tool] = max(PEAK.get(tool, 0), usage.ru_maxrss)
    return elapsed, os.waitstatus_to_exitcode(status)


def summary(name, values):
    return f"{name:<10} median {statistics.median(values):6.3f} s   p90 {pct(values, 0.9):6.3f} s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--categories", default="ab")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "sdistill"))
    args = ap.parse_args()
    manifest = json.load(open(os.path.join(SHARED, "manifest.json")))
    entries = [e for e in manifest["sdists"] if e["category"] in args.categories]
    if args.limit:
        entries = entries[: args.limit]
    paths = [fetch(e) for e in entries]

    work = tempfile.mkdtemp(prefix="sdistill-peers-")
    try:
        venv = os.path.join(work, "venv")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        py = os.path.join(venv, "bin", "python")
        subprocess.run([py, "-m", "pip", "install", "-q", "--upgrade", "pip", "uv"], check=True)
        pip_version = subprocess.run([py, "-m", "pip", "--version"], capture_output=True, text=True).stdout.split()[1]
        uv = os.path.join(venv, "bin", "uv")
        uv_version = subprocess.run([uv, "--version"], capture_output=True, text=True).stdout.strip()
        target = os.path.join(work, "target-env")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", target], check=True)
        print(f"{len(paths)} sdists; pip {pip_version}; {uv_version}; sdistill {args.binary}")

        rows = []
        warm_cache = os.path.join(work, "uv-warm")
        for p in paths:
            t_sd, rc_sd = timed([args.binary, "inspect", "--no-cache", "--format", "json", "--offline", p], tool="sdistill")
            report = os.path.join(work, "report.json")
            t_pip, rc_pip = timed([py, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
                                   "--quiet", "--report", report, p], tool="pip")
            cold = os.path.join(work, "uv-cold")
            shutil.rmtree(cold, ignore_errors=True)
            uv_cmd = [uv, "pip", "install", "--dry-run", "--no-deps", "--python", os.path.join(target, "bin", "python")]
            t_uvc, rc_uvc = timed(uv_cmd + ["--cache-dir", cold, p], tool="uv cold")
            timed(uv_cmd + ["--cache-dir", warm_cache, p])  # fill
            t_uvw, rc_uvw = timed(uv_cmd + ["--cache-dir", warm_cache, p], tool="uv warm")
            rows.append((os.path.basename(p), t_sd, rc_sd, t_pip, rc_pip, t_uvc, rc_uvc, t_uvw, rc_uvw))
            print(f"  {os.path.basename(p):<40} sdistill {t_sd:6.3f}  pip {t_pip:6.3f}{'!' if rc_pip else ' '}"
                  f"  uv-cold {t_uvc:6.3f}{'!' if rc_uvc else ' '}  uv-warm {t_uvw:6.3f}", flush=True)

        ok = [r for r in rows if r[4] == 0]  # compare where pip could build
        print(f"\nper sdist, over the {len(ok)} sdists pip could build ('!' above = the tool failed):")
        print(summary("sdistill", [r[1] for r in ok]))
        print(summary("pip", [r[3] for r in ok]))
        print(summary("uv cold", [r[5] for r in ok]))
        print(summary("uv warm", [r[7] for r in ok]))
        print(f"median ratio pip/sdistill      {statistics.median([r[3] / r[1] for r in ok]):.1f}x")
        print(f"median ratio uv-cold/sdistill  {statistics.median([r[5] / r[1] for r in ok]):.1f}x")
        print(f"median ratio uv-warm/sdistill  {statistics.median([r[7] / r[1] for r in ok]):.1f}x")
        t_batch, _ = timed([args.binary, "inspect", "--no-cache", "--format", "json", "--offline", "-j", "2"] + paths,
                           tool="sdistill batch")
        print(f"sdistill batch (-j 2): {len(paths) / t_batch:.2f} sdists/s; "
              f"pip one after another: {len(rows) / sum(r[3] for r in rows):.2f} sdists/s; "
              f"uv cold one after another: {len(rows) / sum(r[5] for r in rows):.2f} sdists/s")
        t_cached, _ = timed([args.binary, "inspect", "--format", "json", "--offline", "-j", "2"] + paths)
        timed([args.binary, "inspect", "--format", "json", "--offline", "-j", "2"] + paths)
        t_cached, _ = timed([args.binary, "inspect", "--format", "json", "--offline", "-j", "2"] + paths)
        print(f"sdistill batch, metadata cache warm: {len(paths) / t_cached:.1f} sdists/s")
        print("peak RSS of one process (children included): " +
              ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in PEAK.items()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
