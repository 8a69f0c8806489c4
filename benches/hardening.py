#!/usr/bin/env python3
"""Containment figures for the hardening guarantees (a measurement script, not a test:
the tests in tests/hostile/ assert the behaviour; this prints the numbers).

Host Python only generates archives, starts sdistill and samples the machine; the attack
code runs only inside sdistill's sandbox.

Usage:
  python3 benches/hardening.py [--binary target/release/sdistill] [--rounds 20]

Prints:
- peak extra disk use of the work dir's file system while an unlinked-file writer and a
  past-PATH_MAX writer run with --max-scratch 64MiB (the work dir is a fresh directory on
  /dev/shm, sampled every 5 ms);
- elapsed time of an input whose every attempt sleeps 4 s (setup_requires retry and the
  pkg_resources retry) under --timeout 5;
- wrong answers over N repeated `-j 2` batches of honest sdists interleaved with a
  descriptor hog;
- peak RSS while refusing a pax-header bomb and a GNU long-name bomb.
"""
import argparse
import gzip
import io
import json
import os
import subprocess
import tarfile
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HONEST = "\nfrom setuptools import setup\nsetup(name='{n}', version='1.0', install_requires=['honest-dep>=1'])\n"


def sdist(dirname, name, setup_py, extra=None):
    top = f"{name}-1.0"
    files = {f"{top}/PKG-INFO": f"Metadata-Version: 1.0\nName: {name}\nVersion: 1.0\n",
             f"{top}/setup.py": setup_py}
    files.update({f"{top}/{k}": v for k, v in (extra or {}).items()})
    path = os.path.join(dirname, f"{top}.tar.gz")
    with tarfile.open(path, "w:gz") as t:
        for n, c in files.items():
            b = c.encode()
            ti = tarfile.TarInfo(n)
            ti.size = len(b)
            t.addfile(ti, io.BytesIO(b))
    return path


def used_bytes(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def peak_disk(cmd, path):
    base = used_bytes(path)
    peak = 0
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        peak = max(peak, used_bytes(path) - base)
        time.sleep(0.005)
    out = proc.stdout.read()
    return peak, json.loads(out)[0]


def peak_rss(cmd):
    out = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    kb = int(out.stderr.strip().splitlines()[-1])
    return kb / 1024, json.loads(out.stdout)[0]


def bomb(dirname, kind):
    """A small .tar.gz whose first member carries an 800 MB extension record."""
    path = os.path.join(dirname, f"bomb-{kind}.tar.gz")
    size = 800 * 1024 * 1024
    with gzip.open(path, "wb", compresslevel=1) as z:
        header = tarfile.TarInfo("././@LongLink" if kind == "gnu" else "pax")
        header.type = tarfile.GNUTYPE_LONGNAME if kind == "gnu" else tarfile.XHDTYPE
        header.size = size
        z.write(header.tobuf(format=tarfile.GNU_FORMAT if kind == "gnu" else tarfile.USTAR_FORMAT))
        chunk = b"a" * (1 << 20)
        for _ in range(size // len(chunk)):
            z.write(chunk)
        z.write(b"\0" * 1024)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "sdistill"))
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    sd = args.binary
    tmp = tempfile.mkdtemp(prefix="sdistill-hardening-")
    base = ["inspect", "--format", "json", "--no-cache", "--offline"]

    unlinked = sdist(tmp, "unlinked", """
import os
f = open('/scratch/tmp/hidden', 'wb'); os.unlink('/scratch/tmp/hidden')
b = b'x' * (1024 * 1024)
for _ in range(1024):
    f.write(b); f.flush()
""" + HONEST.format(n="unlinked"))
    deep = sdist(tmp, "deepwriter", """
import os
fd = os.open('/scratch/tmp', os.O_RDONLY)
for i in range(3000):
    os.mkdir('d' * 200, dir_fd=fd); nfd = os.open('d' * 200, os.O_RDONLY, dir_fd=fd); os.close(fd); fd = nfd
out = os.open('data', os.O_WRONLY | os.O_CREAT, dir_fd=fd)
b = b'x' * (1024 * 1024)
for _ in range(1024):
    os.write(out, b)
""" + HONEST.format(n="deepwriter"))
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    for name, path in (("unlinked-file writer", unlinked), ("past-PATH_MAX writer", deep)):
        work = tempfile.mkdtemp(prefix="sdistill-work-", dir=shm)
        peak, v = peak_disk([sd] + base + ["--max-scratch", "64MiB", "--work-dir", work, path], work)
        err = v.get("error") or {}
        print(f"{name}: peak extra disk {peak / 2**20:.1f} MiB with --max-scratch 64MiB -> "
              f"{err.get('kind')}/{err.get('limit')}")

    retry = sdist(tmp, "slowretry", """
import time
time.sleep(4)
from setuptools import setup
import pkg_resources
setup(name='slowretry', version='1.0', setup_requires=['sdistill-no-such-helper'])
""")
    started = time.monotonic()
    out = subprocess.run([sd] + base + ["--timeout", "5", retry], capture_output=True, text=True)
    v = json.loads(out.stdout)[0]
    print(f"--timeout 5, three 4-second attempts: {time.monotonic() - started:.2f} s -> "
          f"{(v.get('error') or {}).get('kind')}/{(v.get('error') or {}).get('limit')}")

    hog = sdist(tmp, "hog", """
import time
held = []
for i in range(1_000_000):
    try: held.append(open('/sdist/setup.py'))
    except OSError: break
time.sleep(2)
""" + HONEST.format(n="hog"))
    victims = [sdist(tmp, f"victim{i}", f"""from setuptools import setup
try:
    reqs = open('requirements.txt').read().split()
except Exception:
    reqs = []
setup(name='victim{i}', version='1.0', install_requires=reqs)
""", {"requirements.txt": "alpha>=1\nbeta<2\n"}) for i in range(3)]
    batch = []
    for v in victims:
        batch += [hog, v]
    wrong = answered = hogs_limited = 0
    for _ in range(args.rounds):
        out = subprocess.run([sd] + base + ["-j", "2"] + batch, capture_output=True, text=True)
        for i, v in enumerate(json.loads(out.stdout)):
            if i % 2 == 0:
                hogs_limited += (v.get("error") or {}).get("limit") == "open-files"
            elif v.get("requires_dist") == ["alpha>=1", "beta<2"]:
                answered += 1
            else:
                wrong += 1
    print(f"descriptor hog, {args.rounds} rounds of -j 2: {answered} honest answers right, "
          f"{wrong} wrong or failed, {hogs_limited} hog runs stopped at open-files")

    for kind in ("pax", "gnu"):
        path = bomb(tmp, kind)
        mib, v = peak_rss([sd] + base + ["--no-sandbox", "--max-compression-ratio", "1000000", path])
        print(f"{kind} extension-header bomb ({os.path.getsize(path) / 2**20:.1f} MB file, 800 MB record): "
              f"peak RSS {mib:.1f} MiB -> {(v.get('error') or {}).get('kind')}")


if __name__ == "__main__":
    main()
