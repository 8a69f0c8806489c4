#!/usr/bin/env python3
"""Static-path benchmark (benchmark script; host Python only writes archives and times
processes). Generates N static sdists (PKG-INFO 2.2, ~40 files each), times one
`sdistill inspect` process per sdist (median, p90) and one batch, and measures peak memory
of sdistill refusing a 4 GiB gzip bomb.

Usage: python3 benches/static.py [--n 300] [--binary target/release/sdistill]
"""
import argparse
import gzip
import io
import os
import statistics
import subprocess
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_sdist(path, name):
    top = f"{name}-1.0"
    files = {f"{top}/PKG-INFO": (f"Metadata-Version: 2.2\nName: {name}\nVersion: 1.0\n"
                                 "Requires-Dist: requests>=2\nRequires-Python: >=3.8\n\nbody\n")}
    files[f"{top}/pyproject.toml"] = "[build-system]\nrequires=['setuptools>=64']\nbuild-backend='setuptools.build_meta'\n"
    for i in range(40):
        files[f"{top}/src/{name}/mod{i}.py"] = "x = 1\n" * 200
    with tarfile.open(path, "w:gz") as tar:
        for n, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(n)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def run(cmd):
    """Returns (wall seconds, peak RSS MiB); peak RSS from GNU time, because a child's
    ru_maxrss also counts the forking parent."""
    timed = ["/usr/bin/time", "-f", "%M"] + cmd if os.path.exists("/usr/bin/time") else cmd
    start = time.perf_counter()
    proc = subprocess.run(timed, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    try:
        rss = int(proc.stderr.decode().strip().splitlines()[-1]) / 1024.0
    except (ValueError, IndexError):
        rss = float("nan")
    return wall, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "sdistill"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i in range(args.n):
            p = os.path.join(d, f"pkg{i}-1.0.tar.gz")
            make_sdist(p, f"pkg{i}")
            paths.append(p)
        times = [run([args.binary, "inspect", "--format", "json", "--no-sandbox", p])[0] for p in paths]
        print(f"static sdist, one process each: median {statistics.median(times) * 1000:.1f} ms, "
              f"p90 {sorted(times)[int(0.9 * (len(times) - 1))] * 1000:.1f} ms (n={len(times)})")
        t, rss = run([args.binary, "inspect", "--format", "json", "--no-sandbox", "-j", "2"] + paths)
        print(f"static batch of {len(paths)}: {t:.2f} s, {len(paths) / t:.0f} sdists/s, peak RSS {rss:.0f} MiB")
        bomb = os.path.join(d, "bomb-1.tar.gz")
        header = tarfile.TarInfo("bomb-1/zeros")
        header.size = 64 * 64 * 1024 * 1024
        zeros = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
        with open(bomb, "wb") as f:
            f.write(gzip.compress(header.tobuf(format=tarfile.GNU_FORMAT)))
            for _ in range(64):
                f.write(zeros)
        t, rss = run([args.binary, "inspect", "--format", "json", "--no-sandbox", bomb])
        print(f"4 GiB gzip bomb ({os.path.getsize(bomb) / 1e6:.1f} MB): refused in {t:.2f} s, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
