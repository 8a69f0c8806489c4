#!/usr/bin/env python3
"""Load on one `sdistill serve` in front of the real PyPI: N concurrent pip resolutions
(`pip install --dry-run --ignore-installed --report`, current pip) of the requirement sets
of benches/lock.py, cold and warm; the latency of a cached `.metadata`; uv through the
same server; and a check that pip-compile through the server pins what `sdistill lock`
pins.

Phases, each on the same server unless said otherwise:
  cold     a fresh cache dir (only the compiled runtime kept), a fresh server: every sdist
           goes through the sandbox once, however many clients ask for it at once
  warm     the same server again: answers from its memory
  restart  a new server process on the same cache dir: answers from the metadata cache on
           disk (what a replica sharing the cache sees)
  probe    cached `.metadata` requests from 16 threads, timed by the client
  uv       `uv pip compile` per set through the server, cold and warm uv cache: uv reads
           no sdist metadata files; the access log shows whether it downloaded sdists
           (which it then builds ON THE HOST)
  agree    pip-compile --generate-hashes through the server vs `sdistill lock` against
           PyPI directly (the Django 1.11.1 + pytz 2017.2 sets included)

Reported: wall time, requests/s over the phase, p50/p99 of cached `.metadata` (from the
access log, server side, and from the probe, client side), errors (failed clients, 5xx,
broken transfers), and the server's peak RSS (VmHWM).

BENCHMARK SCRIPT: needs the network (PyPI) and installs pip, pip-tools and uv into a
throwaway venv. pip never builds anything here (dry runs of metadata only); uv builds the
sdists it resolves on the host, as it always does (benchmark only). pip-compile runs with
pip >= 25.3 and does not build either.

Usage: python3 benches/serve_load.py [--binary target/release/sdistill] [--clients 8]
           [--rounds 2] [--sets NAME,...] [--work DIR]
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
from lock import SETS as LOCK_SETS, pins  # noqa: E402

SETS = dict(LOCK_SETS)
# Django 1.11.1 and pytz 2017.2 as sdists (their wheels would answer otherwise).
SETS["django-pytz-sdists"] = ["django==1.11.1", "pytz==2017.2", "--no-binary", "django,pytz"]

ACCESS = re.compile(r'ACCESS \S+ "(\S+) (\S+)" (\d+) (\d+)B ([\d.]+)ms(.*)$')


class Server:
    def __init__(self, binary, cache, jobs):
        env = dict(os.environ, SDISTILL_CACHE_DIR=cache)
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--jobs", str(jobs)],
            env=env, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.lock = threading.Lock()
        self.url = None
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                with self.lock:
                    self.lines.append(line.rstrip("\n"))
                m = re.search(r"serving (http://\S+/simple/)", line)
                if m:
                    self.url = m.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(300)
        if not self.url:
            raise SystemExit("server did not start:\n" + "\n".join(self.lines))
        self.addr = self.url.split("/")[2]

    def mark(self):
        with self.lock:
            return len(self.lines)

    def access(self, since=0):
        with self.lock:
            lines = self.lines[since:]
        out = []
        for line in lines:
            m = ACCESS.search(line)
            if m:
                out.append(dict(method=m.group(1), path=m.group(2), status=int(m.group(3)),
                                bytes=int(m.group(4)), ms=float(m.group(5)), note=m.group(6).strip()))
        return out

    def peak_rss_mib(self):
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def client_env(work):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_")) or k == "PIP_CERT"}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def resolve(bindir, url, name, reqs, work, i):
    """One pip dry run of a set, with its own empty pip cache; (ok, seconds, tail)."""
    d = tempfile.mkdtemp(prefix=f"{name}-{i}-", dir=work)
    cmd = [os.path.join(bindir, "pip"), "install", "--dry-run", "--ignore-installed", "--quiet",
           "--report", os.path.join(d, "report.json"), "--cache-dir", os.path.join(d, "cache"),
           "--index-url", url, *reqs]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=client_env(work), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    tail = (proc.stderr.strip().splitlines() or [""])[-1]
    shutil.rmtree(d, ignore_errors=True)
    return proc.returncode == 0, elapsed, tail


def phase(label, server, bindir, sets, clients, rounds, work):
    """`clients` workers run every set `rounds` times, round-robin; prints one line."""
    jobs = [(name, reqs) for _ in range(rounds) for name, reqs in sets.items()]
    since = server.mark()
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda a: resolve(bindir, server.url, a[1][0], a[1][1], work, a[0]),
                                enumerate(jobs)))
    wall = time.perf_counter() - start
    time.sleep(0.5)
    log = server.access(since)
    failed = [tail for ok, _, tail in results if not ok]
    errors = [r for r in log if r["status"] >= 500 or "broken" in r["note"]]
    cached = [r["ms"] for r in log if r["path"].endswith(".metadata") and r["status"] == 200
              and "cached" in r["note"]]
    memory = [r["ms"] for r in log if r["path"].endswith(".metadata") and r["status"] == 200
              and "cached (memory)" in r["note"]]
    disk = [r["ms"] for r in log if r["path"].endswith(".metadata") and r["status"] == 200
            and r["note"].endswith(" cached")]
    computed = [r["ms"] for r in log if r["path"].endswith(".metadata") and r["status"] == 200
                and "cached" not in r["note"] and "joined" not in r["note"]]
    joined = sum(1 for r in log if "(joined)" in r["note"])
    # One line per computation: requests that joined it say "(joined)".
    sandbox = sum(1 for r in log if "sandbox-" in r["note"] and "cached" not in r["note"]
                  and "joined" not in r["note"])
    secs = [e for _, e, _ in results]
    print(f"{label:<8} {len(jobs):3d} resolutions, {clients} at once: wall {wall:6.1f}s, "
          f"{len(log) / wall:6.1f} req/s ({len(log)} requests), resolution p50 {statistics.median(secs):5.2f}s "
          f"max {max(secs):5.2f}s; .metadata cached p50 {pct(cached, 50):.2f}ms p99 {pct(cached, 99):.2f}ms "
          f"(n={len(cached)}; from memory p50 {pct(memory, 50):.2f} p99 {pct(memory, 99):.2f} n={len(memory)}, "
          f"from the disk cache p50 {pct(disk, 50):.2f} p99 {pct(disk, 99):.2f} n={len(disk)}), computed n={len(computed)} (sandbox {sandbox}) p50 {pct(computed, 50):.0f}ms, joined {joined}; "
          f"errors: {len(failed)} clients, {len(errors)} responses; peak RSS {server.peak_rss_mib():.0f} MiB")
    for tail in failed[:5]:
        print(f"         failed: {tail[:160]}")
    for r in errors[:5]:
        print(f"         error: {r}")


def probe_disk(server, earlier):
    """After a restart, each metadata file once, one request at a time: answers read from
    the metadata cache on disk (the pages are fetched first, so upstream latency is not
    in the figure)."""
    host, port = server.addr.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    for page in sorted({r["path"] for r in earlier if r["path"].startswith("/simple/")}):
        conn.request("GET", page, headers=accept)
        conn.getresponse().read()
    paths = sorted({r["path"] for r in earlier if r["path"].endswith(".metadata") and r["status"] == 200})
    since = server.mark()
    times = []
    for path in paths:
        t = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        times.append((time.perf_counter() - t) * 1000)
    conn.close()
    time.sleep(0.3)
    log = [r for r in server.access(since) if r["path"].endswith(".metadata")]
    disk = [r["ms"] for r in log if r["note"].endswith(" cached")]
    print(f"disk     {len(paths)} .metadata after a restart, one at a time: client-side p50 {pct(times, 50):.2f}ms "
          f"p99 {pct(times, 99):.2f}ms; server-side, answered from the metadata cache on disk: "
          f"p50 {pct(disk, 50):.2f}ms p99 {pct(disk, 99):.2f}ms (n={len(disk)} of {len(log)})")


def probe(server, n=4000, threads=16):
    """Cached `.metadata` requests on keep-alive connections, timed by the client."""
    since = 0
    paths = sorted({r["path"] for r in server.access(since)
                    if r["path"].endswith(".metadata") and r["status"] == 200})
    if not paths:
        return
    host, port = server.addr.split(":")
    times = []
    lock = threading.Lock()

    def worker(k):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        mine = []
        for i in range(n // threads):
            path = paths[(k * 7919 + i) % len(paths)]
            t = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            mine.append((time.perf_counter() - t) * 1000)
            if resp.status != 200:
                mine[-1] = float("inf")
        conn.close()
        with lock:
            times.extend(mine)

    # One client alone, one request at a time: the latency without contention.
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    alone = []
    for i in range(1000):
        t = time.perf_counter()
        conn.request("GET", paths[i % len(paths)])
        resp = conn.getresponse()
        resp.read()
        alone.append((time.perf_counter() - t) * 1000)
    conn.close()
    print(f"probe    1000 cached .metadata requests, one keep-alive connection: client-side "
          f"p50 {pct(alone, 50):.2f}ms p99 {pct(alone, 99):.2f}ms")
    start = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - start
    bad = sum(1 for t in times if t == float("inf"))
    print(f"probe    {len(times)} cached .metadata requests ({len(paths)} files), {threads} keep-alive "
          f"connections: {len(times) / wall:.0f} req/s, client-side p50 {pct(times, 50):.2f}ms "
          f"p99 {pct(times, 99):.2f}ms, non-200: {bad}; peak RSS {server.peak_rss_mib():.0f} MiB")


def uv_phase(server, bindir, sets, work, pyver):
    for name, reqs in sets.items():
        cache = tempfile.mkdtemp(prefix="uv-cache-", dir=work)
        for run in ("cold", "warm"):
            since = server.mark()
            d = tempfile.mkdtemp(prefix="uv-", dir=work)
            req_in = os.path.join(d, "requirements.in")
            extra = []
            body = [r for r in reqs if not r.startswith("--") and r != "django,pytz"]
            if "--no-binary" in reqs:
                extra = ["--no-binary", "django", "--no-binary", "pytz"]
            open(req_in, "w").write("\n".join(body) + "\n")
            env = dict(client_env(work), UV_CACHE_DIR=cache)
            start = time.perf_counter()
            proc = subprocess.run([os.path.join(bindir, "uv"), "pip", "compile", "--quiet", "--index-url",
                                   server.url, "--python-version", pyver, *extra, "-o",
                                   os.path.join(d, "out.txt"), req_in], env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
            time.sleep(0.3)
            log = server.access(since)
            meta = sum(1 for r in log if r["path"].endswith(".metadata"))
            sdist_meta = sum(1 for r in log if re.search(r"\.(tar\.gz|zip|tar\.bz2)\.metadata$", r["path"]))
            sdists = [r["path"].rsplit("/", 1)[-1] for r in log
                      if re.search(r"\.(tar\.gz|zip|tar\.bz2)$", r["path"]) and r["status"] == 200]
            status = "ok" if proc.returncode == 0 else "FAILED " + (proc.stderr.strip().splitlines() or [""])[-1][:80]
            print(f"uv       {name:<20}{run:<5} {wall:6.2f}s  {len(log):4d} requests, {meta} .metadata "
                  f"({sdist_meta} of sdists), sdists downloaded (built on the host): {len(sdists)} "
                  f"{' '.join(sdists[:4])}{'...' if len(sdists) > 4 else ''}  {status}")


def agree(server, bindir, binary, sets, work, pyver, cache):
    for name, reqs in sets.items():
        d = tempfile.mkdtemp(prefix="agree-", dir=work)
        body = [r for r in reqs if not r.startswith("--") and r != "django,pytz"]
        req_in = os.path.join(d, "requirements.in")
        open(req_in, "w").write("\n".join(body) + "\n")
        nb = ["--no-binary", "django,pytz"] if "--no-binary" in reqs else []
        out_c = os.path.join(d, "compile.txt")
        pc = subprocess.run([os.path.join(bindir, "pip-compile"), "--generate-hashes", "--quiet",
                             "--no-strip-extras", "--cache-dir", os.path.join(d, "pc-cache"),
                             "--index-url", server.url, *(["--pip-args", " ".join(nb)] if nb else []),
                             "-o", out_c, req_in],
                            env=client_env(work), capture_output=True, text=True)
        out_l = os.path.join(d, "lock.txt")
        lk = subprocess.run([binary, "lock", "-r", req_in, "-o", out_l, "--python-version", pyver,
                             *(["--no-binary", "django,pytz"] if nb else [])],
                            env=dict(os.environ, SDISTILL_CACHE_DIR=cache), capture_output=True, text=True)
        if pc.returncode or lk.returncode:
            print(f"agree    {name:<20} pip-compile rc={pc.returncode} "
                  f"{(pc.stderr.strip().splitlines() or [''])[-1][:80]} | lock rc={lk.returncode} "
                  f"{(lk.stderr.strip().splitlines() or [''])[-1][:80]}")
            continue
        a, b = pins(open(out_c).read()), pins(open(out_l).read())
        diffs = sorted(k for k in set(a) | set(b) if k != "__hashes__" and a.get(k) != b.get(k))
        hashes = sorted(k for k in set(a["__hashes__"]) & set(b["__hashes__"])
                        if a.get(k) == b.get(k) and a["__hashes__"][k] != b["__hashes__"][k])
        print(f"agree    {name:<20} pip-compile via serve vs sdistill lock: {len(a) - 1} pins, "
              f"{'same pins and hashes' if not diffs and not hashes else f'{len(diffs)} pins and {len(hashes)} hash sets differ'}")
        for k in diffs:
            print(f"         {k}: pip-compile {a.get(k)} vs lock {b.get(k)}")
        for k in hashes:
            print(f"         {k}: hashes differ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "sdistill"))
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--work", default=None)
    ap.add_argument("--skip", default="", help="phases to skip: uv,agree")
    args = ap.parse_args()
    sets = {k: SETS[k] for k in args.sets.split(",")}
    pyver = "{}.{}.{}".format(*sys.version_info[:3])
    work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="sdistill-serveload-"))
    os.makedirs(work, exist_ok=True)
    venv = os.path.join(work, "venv")
    if not os.path.exists(os.path.join(venv, "bin", "uv")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "-U", "pip", "pip-tools", "uv"],
                       check=True, env=client_env(work))
    bindir = os.path.join(venv, "bin")
    version = subprocess.run([os.path.join(bindir, "pip"), "--version"], capture_output=True, text=True).stdout.split()[1]
    uv_version = subprocess.run([os.path.join(bindir, "uv"), "--version"], capture_output=True, text=True).stdout.strip()
    # A cold cache keeps only the installed runtime and compiled modules.
    cache = os.path.join(work, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(cache)
    os.chmod(cache, 0o700)
    src = os.environ.get("SDISTILL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sdistill")
    for keep in ("modules", "runtime"):
        if os.path.isdir(os.path.join(src, keep)):
            shutil.copytree(os.path.join(src, keep), os.path.join(cache, keep), symlinks=False)
    print(f"machine: {os.cpu_count()} cores; pip {version}; {uv_version}; server --jobs {args.jobs}; "
          f"sets: {', '.join(sets)}; target CPython {pyver}")
    server = Server(args.binary, cache, args.jobs)
    try:
        # Enough resolutions that all clients start together on cold sdists.
        cold_rounds = max(1, -(-args.clients // len(sets)))
        phase("cold", server, bindir, sets, args.clients, cold_rounds, work)
        phase("warm", server, bindir, sets, args.clients, args.rounds, work)
        earlier = server.access(0)
    finally:
        server.stop()
    server = Server(args.binary, cache, args.jobs)
    try:
        probe_disk(server, earlier)
        phase("restart", server, bindir, sets, args.clients, args.rounds, work)
        probe(server)
        if "uv" not in args.skip:
            uv_phase(server, bindir, sets, work, pyver)
        if "agree" not in args.skip:
            agree(server, bindir, args.binary, sets, work, pyver, cache)
    finally:
        server.stop()
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
