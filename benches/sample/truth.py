#!/usr/bin/env python3
"""GROUND TRUTH for benches/sample. WARNING: THIS SCRIPT RUNS EVERY SAMPLED SDIST'S BUILD
CODE (setup.py, setup_requires, build backends) ON THIS HOST, UNSANDBOXED, THROUGH PIP.

That is the point of it: it records what pip itself computes, the answer sdistill is
measured against. It is acceptable only here, in a benchmark script run by hand on a
throwaway machine; nothing may import this file (it refuses to be imported), and sdistill
never does anything of the kind.

Usage:
  python3 benches/sample/truth.py [--manifest benches/sample/manifest.json]
                                  [--out benches/sample/truth.json] [--timeout 300]
                                  [--limit N] [--redo]

For each sdist of the manifest (downloaded sha256-checked into target/sample/files/),
one at a time:
  1. pip 26 (newest) on this host's CPython 3.11:
     `pip install --dry-run --no-deps --ignore-installed --report R <sdist>`, build
     isolation on -> status `ok`;
  2. if that fails, pip 24.0 on CPython 3.7 (pyenv), build isolation on ->
     `ok_fallback_py37` (as ../shared/corpus did for sdists that no longer build on 3.11);
  3. if that fails too, pip 24.0 on CPython 3.7 with --no-build-isolation in a venv with
     setuptools 45.3.0, numpy 1.16.6 and Cython 0.29.37 preinstalled,
     SETUPTOOLS_USE_DISTUTILS=stdlib -> `ok_fallback_py37_legacy`;
  4. otherwise `failed`, with the tail of pip's error on CPython 3.11.
Each entry says in `truth_source` which pip and Python made it and how long pip took.

Containment (what little there is): the venvs live in a private temporary directory that
is deleted at the end; each pip run gets a fresh private HOME and TMPDIR, an environment
reduced to PATH/HOME/TMPDIR/LANG and the CA bundle (no credentials, no tokens, no proxy
settings of the caller), a timeout, and its whole process group is killed on timeout.
The file is rewritten after every sdist, so an interrupted run resumes where it stopped.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

if __name__ != "__main__":
    raise ImportError("benches/sample/truth.py runs sdists' build code on the host; "
                      "it is a script to run by hand, never a module to import")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FILES = os.path.join(ROOT, "target", "sample", "files")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
from draw import fetch  # noqa: E402  (download + sha256 check only)

PY311 = sys.executable if sys.version_info[:2] == (3, 11) else shutil.which("python3.11")
PY37 = os.path.expanduser("~/.pyenv/versions/3.7.16/bin/python3.7")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BANNER = ("*** benches/sample/truth.py: RUNNING THIRD-PARTY BUILD CODE ON THIS HOST through pip "
          "(ground truth only; not sandboxed) ***")

# (status, label, python, pip requirement, extra packages, pip flags, extra environment)
TIERS = [
    ("ok", "py311", PY311, "pip", [], [], {}),
    ("ok_fallback_py37", "py37", PY37, "pip==24.0", [], [], {}),
    ("ok_fallback_py37_legacy", "py37-legacy", PY37, "pip==24.0",
     ["setuptools==45.3.0", "numpy==1.16.6", "Cython==0.29.37", "wheel==0.42.0"],
     ["--no-build-isolation"], {"SETUPTOOLS_USE_DISTUTILS": "stdlib"}),
]


def clean_env(home, tmp, pip_cache, venv, extra):
    """The only environment a pip run sees: nothing inherited but the CA bundle's path."""
    env = {
        "PATH": os.path.join(venv, "bin") + ":/usr/local/bin:/usr/bin:/bin",
        "HOME": home, "TMPDIR": tmp, "LANG": "C.UTF-8",
        "PIP_CACHE_DIR": pip_cache, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if os.path.exists(CA_BUNDLE):
        env.update(PIP_CERT=CA_BUNDLE, SSL_CERT_FILE=CA_BUNDLE, REQUESTS_CA_BUNDLE=CA_BUNDLE)
    env.update(extra)
    return env


def make_venv(root, label, python, pip_req, packages):
    """Creates a throwaway venv under root with the given pip and packages; returns
    (venv path, pip version string, Python version string)."""
    venv = os.path.join(root, "venv-" + label)
    subprocess.run([python, "-m", "venv", venv], check=True)
    py = os.path.join(venv, "bin", "python")
    env = clean_env(os.path.join(root, "home"), os.path.join(root, "tmp"),
                    os.path.join(root, "pip-cache"), venv, {})
    subprocess.run([py, "-m", "pip", "install", "-q", "-U", pip_req] + packages, check=True, env=env)
    pip_version = subprocess.run([py, "-m", "pip", "--version"], capture_output=True, text=True,
                                 env=env).stdout.split()[1]
    py_version = subprocess.run([py, "-c", "import platform; print(platform.python_version())"],
                                capture_output=True, text=True).stdout.strip()
    return venv, pip_version, py_version


def run_pip(venv, sdist, flags, env_extra, root, timeout):
    """One `pip install --dry-run --report` of sdist; returns (report or None, output tail,
    seconds). Fresh HOME and TMPDIR, process group killed on timeout."""
    work = tempfile.mkdtemp(dir=root, prefix="run-")
    home, tmp = os.path.join(work, "home"), os.path.join(work, "tmp")
    os.makedirs(home), os.makedirs(tmp)
    report = os.path.join(work, "report.json")
    cmd = [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--dry-run", "--no-deps",
           "--ignore-installed", "--report", report] + flags + [sdist]
    env = clean_env(home, tmp, os.path.join(root, "pip-cache"), venv, env_extra)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            cwd=work, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        tail = out.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        tail = f"(timed out after {timeout} s)"
    seconds = time.perf_counter() - start
    result = None
    if proc.returncode == 0 and os.path.exists(report):
        with open(report) as f:
            result = json.load(f)
    shutil.rmtree(work, ignore_errors=True)
    return result, error_tail(tail), seconds


def error_tail(text, lines=25, chars=2500):
    """The last lines of pip's output, where its error is."""
    return "\n".join(text.strip().splitlines()[-lines:])[-chars:]


def truth_record(entry, status, source, report):
    """A truth.json record in ../shared/corpus/truth.json's format."""
    meta = report["install"][0]["metadata"]
    return dict(base_record(entry), status=status, truth_source=source,
                **{"Name": meta.get("name"), "Version": meta.get("version"),
                   "Requires-Dist": meta.get("requires_dist", []),
                   "Requires-Python": meta.get("requires_python"),
                   "Provides-Extra": meta.get("provides_extra", [])})


def base_record(entry):
    return {k: entry[k] for k in ("name", "version", "filename", "sha256", "category")}


def ground_truth(entry, sdist, envs, root, timeout):
    """Tries each tier in order; returns the truth record for one sdist."""
    first_error, tried = None, []
    for status, label, venv, pip_version, py_version, flags, extra in envs:
        report, tail, seconds = run_pip(venv, sdist, flags, extra, root, timeout)
        tried.append(f"{label} {seconds:.1f} s")
        if report:
            how = "--no-build-isolation, setuptools 45.3.0 + numpy 1.16.6 + Cython 0.29.37 " \
                  "preinstalled, SETUPTOOLS_USE_DISTUTILS=stdlib" if flags else "build isolation"
            failed_before = f" (failed on {', '.join(t.split()[0] for t in tried[:-1])})" if tried[:-1] else ""
            source = (f"pip {pip_version} --dry-run --report, {how}, CPython {py_version}"
                      f"{failed_before}; {seconds:.1f} s; build code ran on the host")
            return truth_record(entry, status, source, report)
        first_error = first_error or tail
    return dict(base_record(entry), status="failed",
                truth_source=f"pip could not build it ({'; '.join(tried)})", error=first_error)


def load_existing(path):
    """Records already computed, by sha256 (for resuming)."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {r["sha256"]: r for r in json.load(f)}


def write_json(path, records):
    with open(path + ".part", "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    os.replace(path + ".part", path)


def main():
    ap = argparse.ArgumentParser(description="GROUND TRUTH: runs sdists' build code on the host via pip")
    ap.add_argument("--manifest", default=os.path.join(HERE, "manifest.json"))
    ap.add_argument("--out", default=os.path.join(HERE, "truth.json"))
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--redo", action="store_true", help="recompute entries already in --out")
    args = ap.parse_args()

    print(BANNER, flush=True)
    entries = json.load(open(args.manifest))["sdists"]
    if args.limit:
        entries = entries[: args.limit]
    done = {} if args.redo else load_existing(args.out)
    root = tempfile.mkdtemp(prefix="sdistill-truth-")
    os.chmod(root, 0o700)
    try:
        os.makedirs(os.path.join(root, "home")), os.makedirs(os.path.join(root, "tmp"))
        envs = []
        for status, label, python, pip_req, packages, flags, extra in TIERS:
            venv, pip_version, py_version = make_venv(root, label, python, pip_req, packages)
            envs.append((status, label, venv, pip_version, py_version, flags, extra))
        records, start = [], time.perf_counter()
        for i, entry in enumerate(entries, 1):
            if entry["sha256"] in done:
                records.append(done[entry["sha256"]])
                continue
            sdist = fetch(entry["url"], entry["filename"], entry["sha256"], FILES)
            record = ground_truth(entry, sdist, envs, root, args.timeout)
            records.append(record)
            print(f"{i:4d}/{len(entries)} {record['status']:24s} {entry['filename']}: "
                  f"{record['truth_source']}", flush=True)
            write_json(args.out, records + [done[e["sha256"]] for e in entries[i:] if e["sha256"] in done])
        write_json(args.out, records)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    statuses = {}
    for r in records:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    print(f"{len(records)} sdists in {time.perf_counter() - start:.0f} s: {statuses}")
    print(BANNER)


if __name__ == "__main__":
    main()
