#!/usr/bin/env python3
"""`sdistill lock` against `pip-compile --generate-hashes` and `uv pip compile
--generate-hashes` on real requirement sets, in the same run, on the same machine.

BENCHMARK SCRIPT: pip-compile and uv run the setup.py of every sdist they meet ON THE HOST
(that is what they do; it is what sdistill exists to avoid). Run it only on a machine you
can throw away. pip-tools and uv are installed by this script into a throwaway
virtualenv; host Python is used for nothing else than timing and that venv.

For every requirement set, each tool locks twice: cold (empty cache dir) and warm (the
cache the cold run filled). The target is the host interpreter's Python version on Linux
x86-64, so all three tools resolve for the same environment. Pins are compared (name ->
version) and every difference is printed.

Indexes: `real` is the configured index (PyPI); `mirror` is a local mirror of it on
127.0.0.1 that serves no PEP 658 metadata files (benches/mirror.py: pages and files
fetched from upstream once, then served from disk with Range support). Before the timed
runs against the mirror, every tool locks once untimed so that the mirror holds every
file any tool asks for; the timed cold runs then start from an empty tool cache against a
warm mirror.

Usage: python3 benches/lock.py [--binary PATH] [--sets NAME,...] [--indexes real,mirror]
                               [--tools sdistill,uv,pip-compile] [--venv DIR]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
import mirror  # noqa: E402

# Requirement sets: one answered by wheels with PEP 658 metadata, one of setup.py-only
# sdists (their metadata needs the sandbox), and a mixed modern application set.
SETS = {
    "django-1.11": ["django==1.11.1"],
    "setup-py-only": [
        "docopt==0.6.2",
        "termcolor==1.1.0",
        "itsdangerous==0.24",
        "tabulate==0.8.2",
        "pycparser==2.18",
        "Flask==0.12.2",
    ],
    "celery-4.1": ["celery[redis]==4.1.1"],
    "web-app": ["flask>=3", "requests[socks]", "sqlalchemy>=2", "pydantic>=2", "click"],
    # The extras walk of issue 17: solvable (celery 5.6.3, kombu 5.6.2, redis 6.4.0), but an
    # extra that learnt its project's version one release at a time walked every release.
    "celery-redis": ["celery[redis]", "packaging==26.4"],
    # Airflow with common providers: 195 pins, the cold-lock case.
    "airflow": [
        "apache-airflow[celery,postgres,redis,http,ssh,amazon,cncf-kubernetes]==3.3.2",
    ],
}


def pins(text):
    """name -> version, and name -> set of sha256 hashes."""
    out, hashes, current = {}, {}, None
    for line in text.splitlines():
        h = re.search(r"--hash=sha256:([0-9a-f]{64})", line)
        if h and current:
            hashes.setdefault(current, set()).add(h.group(1))
        if line.startswith((" ", "#", "-")) or not line.strip():
            continue
        m = re.match(r"([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^ ;\\]+)", line)
        if m:
            current = re.sub(r"[-_.]+", "-", m.group(1)).lower()
            out[current] = m.group(3)
    out["__hashes__"] = hashes
    return out


def run(cmd, env, out_path):
    if os.path.exists(out_path):
        os.remove(out_path)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    text = open(out_path).read() if os.path.exists(out_path) else ""
    return elapsed, proc.returncode, text, proc.stderr


def share_runtime(cfg_root, cache):
    """Hard-links the installed compiled modules into `cache`; returns the runtime dir."""
    modules = os.path.join(cache, "modules")
    os.makedirs(modules, exist_ok=True)
    src = os.path.join(cfg_root, "modules")
    for f in os.listdir(src) if os.path.isdir(src) else []:
        dest = os.path.join(modules, f)
        # Another process may be building a snapshot there (a temporary directory).
        if not os.path.isfile(os.path.join(src, f)):
            continue
        if not os.path.exists(dest):
            try:
                os.link(os.path.join(src, f), dest)
            except OSError:
                shutil.copy(os.path.join(src, f), dest)
    runtimes = sorted(os.listdir(os.path.join(cfg_root, "runtime")))
    return os.path.join(cfg_root, "runtime", runtimes[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "sdistill"))
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--indexes", default="real,mirror")
    ap.add_argument("--tools", default="sdistill,uv,pip-compile")
    ap.add_argument("--venv", help="an existing venv with uv and pip-tools (else one is made)")
    ap.add_argument("--index-url", default="https://pypi.org/simple/")
    args = ap.parse_args()
    # The host's full version: pip-compile resolves for the running interpreter, and
    # markers such as `python_full_version < "3.11.3"` depend on the micro version.
    pyver = "{}.{}.{}".format(*sys.version_info[:3])
    work = tempfile.mkdtemp(prefix="sdistill-lockbench-")
    try:
        if args.venv:
            venv = args.venv
        else:
            venv = os.path.join(work, "venv")
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "pip-tools", "uv"], check=True)
        bindir = os.path.join(venv, "bin")
        base_env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"], UV_PYTHON_DOWNLOADS="never")
        uv_version = subprocess.run([os.path.join(bindir, "uv"), "--version"], capture_output=True, text=True).stdout.strip()
        print(f"target: CPython {pyver} on linux x86_64; machine: {os.cpu_count()} cores; {uv_version}")
        indexes = {}
        for which in args.indexes.split(","):
            if which == "real":
                indexes["real"] = args.index_url
            elif which == "mirror":
                url, _server = mirror.start(os.path.join(work, "mirror"), args.index_url)
                indexes["mirror"] = url
        tools = args.tools.split(",")
        print(f"{'set':<14}{'index':<8}{'tool':<12}{'cold s':>8}{'warm s':>8}  pins  result")
        for name in args.sets.split(","):
          for which, index_url in indexes.items():
            reqs = SETS[name]
            d = os.path.join(work, name, which)
            os.makedirs(d)
            req_in = os.path.join(d, "requirements.in")
            open(req_in, "w").write("\n".join(reqs) + "\n")
            results = {}
            for tool in tools:
                cache = os.path.join(d, f"cache-{tool}")
                out = os.path.join(d, f"{tool}.txt")
                env = dict(base_env)
                if tool == "sdistill":
                    # Keep the installed runtime and its compiled modules (hard links: a
                    # symlink would lead out of the cache, which sdistill refuses); all
                    # else is cold.
                    env["SDISTILL_CACHE_DIR"] = cache
                    cfg_root = os.environ.get("SDISTILL_CACHE_DIR") or os.path.join(
                        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sdistill")
                    os.makedirs(cache, exist_ok=True)
                    runtime = share_runtime(cfg_root, cache)
                    cmd = [args.binary, "lock", "-r", req_in, "-o", out, "--python-version", pyver,
                           "--runtime", runtime, "--index-url", index_url]
                elif tool == "pip-compile":
                    env["PIP_CACHE_DIR"] = cache
                    env.pop("PIP_FIND_LINKS", None)
                    cmd = [os.path.join(bindir, "pip-compile"), "--generate-hashes", "--quiet",
                           "--no-strip-extras", "--cache-dir", cache, "--index-url", index_url,
                           "-o", out, req_in]
                else:
                    env["UV_CACHE_DIR"] = cache
                    cmd = [os.path.join(bindir, "uv"), "pip", "compile", "--generate-hashes", "--quiet",
                           "--python-version", pyver, "--python-platform", "x86_64-unknown-linux-gnu",
                           "--no-strip-extras", "--index-url", index_url, "-o", out, req_in]
                if which == "mirror":
                    # Fill the mirror with what this tool fetches (untimed), then start cold.
                    run(cmd, env, out)
                    shutil.rmtree(cache, ignore_errors=True)
                    if tool == "sdistill":
                        os.makedirs(cache, exist_ok=True)
                        share_runtime(cfg_root, cache)
                cold, rc, text, err = run(cmd, env, out)
                warm, rc2, _, _ = run(cmd, env, out)
                results[tool] = pins(text) if rc == 0 else None
                status = "ok" if rc == 0 else f"FAILED ({err.strip().splitlines()[-1][:60] if err.strip() else rc})"
                print(f"{name:<14}{which:<8}{tool:<12}{cold:8.2f}{warm:8.2f}  {len(results[tool] or {}) - (1 if results[tool] else 0):4d}  {status}", flush=True)
                results[tool + ":time"] = (cold, warm)
            base = results.get("sdistill")
            for peer in ("pip-compile", "uv"):
                other = results.get(peer)
                if base is None or other is None:
                    continue
                hb, ho = base["__hashes__"], other["__hashes__"]
                diffs = sorted(
                    f"{k}: sdistill {base.get(k)} vs {peer} {other.get(k)}"
                    for k in set(base) | set(other)
                    if k != "__hashes__" and base.get(k) != other.get(k)
                )
                diffs += sorted(
                    f"{k} {base.get(k)}: {len(hb.get(k, ()))} hashes vs {peer} {len(ho.get(k, ()))}"
                    for k in set(hb) & set(ho)
                    if base.get(k) == other.get(k) and hb[k] != ho[k]
                )
                s_cold, s_warm = results["sdistill:time"]
                p_cold, p_warm = results[peer + ":time"]
                print(f"  vs {peer}: {'same pins and hashes' if not diffs else str(len(diffs)) + ' differ'};"
                      f" {peer} / sdistill: cold {p_cold / s_cold:.1f}x, warm {p_warm / s_warm:.1f}x", flush=True)
                for dline in diffs:
                    print(f"    {dline}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
