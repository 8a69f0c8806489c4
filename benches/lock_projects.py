#!/usr/bin/env python3
"""`sdistill lock PROJECT` against `uv pip compile` and `pip-compile` on generated projects
and a generated local index, pin for pin and hash for hash, in the same run.

BENCHMARK SCRIPT: uv and pip-compile build the generated projects and sdists ON THE HOST
(they run setup.py; that is what sdistill exists to avoid). The projects are generated
here and harmless, but run this only on a machine you can throw away. uv and pip-tools
are installed by this script into a throwaway virtualenv; setuptools and wheel wheels for
the peers' build isolation are fetched once into the local index (the only network use).

The index is a directory of PEP 503 pages (with PEP 658 metadata files for the wheels)
served by `python3 -m http.server` on 127.0.0.1. Every tool locks for the host's Python
on linux x86_64, with hashes. Project kinds: pyproject-only (static [project]),
setup.py-only, setup.cfg (with a setup.py shim), extras and dependency groups, and a
direct URL dependency. For every project the pins and hash sets are compared and every
difference is printed.

Usage: python3 benches/lock_projects.py [--binary PATH] [--keep DIR]
"""
import argparse
import hashlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


class Index:
    """A PEP 503 index in a directory: files/, simple/<project>/index.html."""

    def __init__(self, root):
        self.root = root
        self.files = os.path.join(root, "files")
        os.makedirs(self.files, exist_ok=True)
        self.pages = {}

    def add(self, project, path, metadata=None):
        name = os.path.basename(path)
        attrs = ""
        if metadata is not None:
            open(path + ".metadata", "w").write(metadata)
            attrs = ' data-core-metadata="sha256=%s"' % sha256(path + ".metadata")
        self.pages.setdefault(project, []).append(
            '<a href="/files/%s#sha256=%s"%s>%s</a>' % (name, sha256(path), attrs, name))

    def write(self):
        for project, links in self.pages.items():
            d = os.path.join(self.root, "simple", project)
            os.makedirs(d, exist_ok=True)
            open(os.path.join(d, "index.html"), "w").write(
                "<html><body>\n%s\n</body></html>\n" % "\n".join(links))


def metadata_text(name, version, requires=(), extras=(), requires_python=None):
    text = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)
    if requires_python:
        text += "Requires-Python: %s\n" % requires_python
    for e in extras:
        text += "Provides-Extra: %s\n" % e
    for r in requires:
        text += "Requires-Dist: %s\n" % r
    return text


def wheel(index, name, version, requires=(), extras=()):
    module = name.replace("-", "_")
    path = os.path.join(index.files, "%s-%s-py3-none-any.whl" % (module, version))
    meta = metadata_text(name, version, requires, extras)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("%s/__init__.py" % module, "")
        z.writestr("%s-%s.dist-info/METADATA" % (module, version), meta)
        z.writestr("%s-%s.dist-info/WHEEL" % (module, version),
                   "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("%s-%s.dist-info/RECORD" % (module, version), "")
    index.add(name, path, meta)


def sdist(dest_dir, name, version, files):
    """A .tar.gz sdist with `files` (relative path -> text) under name-version/."""
    top = "%s-%s" % (name.replace("-", "_"), version)
    path = os.path.join(dest_dir, top + ".tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo("%s/%s" % (top, rel))
            info.size = len(data)
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return path


def setup_py_sdist(index, name, version, install_requires, extras_require=None):
    setup = (
        "from setuptools import setup\n"
        "setup(name=%r, version=%r, py_modules=[], install_requires=%r, extras_require=%r)\n"
        % (name, version, list(install_requires), extras_require or {}))
    path = sdist(index.files, name, version, {
        "PKG-INFO": "Metadata-Version: 1.0\nName: %s\nVersion: %s\n" % (name, version),
        "setup.py": setup,
    })
    index.add(name, path)


def pyproject_sdist(index, name, version, dependencies):
    pyproject = (
        "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n"
        "[project]\nname = %r\nversion = %r\ndependencies = %r\n"
        "[tool.setuptools]\npy-modules = []\n" % (name, version, list(dependencies))
    ).replace("'", '"')
    path = sdist(index.files, name, version, {
        "PKG-INFO": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version),
        "pyproject.toml": pyproject,
    })
    index.add(name, path)


def build_index(root, direct_dir, venv_pip):
    index = Index(root)
    wheel(index, "alpha", "1.0")
    wheel(index, "alpha", "2.0", ["delta>=1"])
    wheel(index, "delta", "1.0")
    wheel(index, "delta", "2.0")
    wheel(index, "delta", "2.1", ["colorish; sys_platform == 'win32'"])
    wheel(index, "colorish", "0.4")
    wheel(index, "kappa", "3.0", ["alpha", "mu; extra == 'speed'"], ["speed"])
    wheel(index, "mu", "1.0")
    setup_py_sdist(index, "beta", "1.5", ["al" + "pha>=1"], {"fast": ["gamma"]})
    pyproject_sdist(index, "gamma", "0.3", ["delta<2.1"])
    setup_py_sdist(index, "eps", "2.2", ["kappa[speed]"])
    # Build isolation of the peers needs setuptools and wheel (and its packaging) here.
    tools = tempfile.mkdtemp()
    subprocess.run([venv_pip, "download", "-q", "--only-binary", ":all:", "--no-deps", "-d", tools,
                    "setuptools", "wheel", "packaging"], check=True)
    for f in sorted(os.listdir(tools)):
        dest = os.path.join(index.files, f)
        shutil.copy(os.path.join(tools, f), dest)
        index.add(f.split("-")[0], dest)
    index.write()
    os.makedirs(direct_dir, exist_ok=True)
    return sdist(direct_dir, "zeta", "1.0", {
        "PKG-INFO": metadata_text("zeta", "1.0", ["mu"]).replace("2.1", "2.2", 1),
        "pyproject.toml": "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n"
                          "[project]\nname = \"zeta\"\nversion = \"1.0\"\ndependencies = [\"mu\"]\n"
                          "[tool.setuptools]\npy-modules = []\n",
    })


def projects(work, port):
    """name -> (project dir, the input file peers take, extra sdistill/peer args)."""
    out = {}

    def write(name, files):
        d = os.path.join(work, "projects", name)
        os.makedirs(d, exist_ok=True)
        for rel, text in files.items():
            open(os.path.join(d, rel), "w").write(text)
        return d

    d = write("pyproject-only", {"pyproject.toml": (
        "[project]\nname = \"app-static\"\nversion = \"0.1\"\n"
        "dependencies = [\"alpha>=1\", \"beta[fast]\", \"colorish; sys_platform == 'win32'\"]\n")})
    out["pyproject-only"] = (d, "pyproject.toml", [])
    d = write("setup.py-only", {"setup.py": (
        "from setuptools import setup\n"
        "deps = ['alpha<2'] + ['e' + 'ps']\n"
        "setup(name='app-legacy', version='0.1', py_modules=[], install_requires=deps)\n")})
    out["setup.py-only"] = (d, "setup.py", [])
    d = write("setup.cfg", {
        "setup.cfg": "[metadata]\nname = app-cfg\nversion = 0.1\n\n[options]\npy_modules =\n"
                     "install_requires =\n    gamma\n    kappa\n\n[options.extras_require]\nspeed =\n    kappa[speed]\n",
        "setup.py": "from setuptools import setup\nsetup()\n"})
    out["setup.cfg"] = (d, "setup.cfg", [])
    out["setup.cfg --extra speed"] = (d, "setup.cfg", ["--extra", "speed"])
    d = write("extras-groups", {"pyproject.toml": (
        "[project]\nname = \"app-extras\"\nversion = \"0.1\"\ndependencies = [\"delta\"]\n"
        "[project.optional-dependencies]\nfast = [\"kappa[speed]\"]\nall = [\"app-extras[fast]\", \"beta\"]\n"
        "[dependency-groups]\ntest = [\"gamma\", {include-group = \"lint\"}]\nlint = [\"mu\"]\n")})
    out["extras-groups --extra all"] = (d, "pyproject.toml", ["--extra", "all"])
    out["extras-groups --group test"] = (d, "pyproject.toml", ["--group", "test"])
    d = write("direct-url", {"pyproject.toml": (
        "[project]\nname = \"app-direct\"\nversion = \"0.1\"\n"
        "dependencies = [\"zeta @ http://127.0.0.1:%d/direct/zeta-1.0.tar.gz\", \"alpha\"]\n" % port)})
    out["direct-url"] = (d, "pyproject.toml", [])
    return out


def pins(text):
    """name -> (version or URL, extras, frozenset of hashes)."""
    out, current = {}, None
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "-")):
            continue
        head = line.split(" --hash")[0].split(" ;")[0].strip()
        m = re.match(r"([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*(?:==\s*([^ ;]+)|@\s*(\S+))", head)
        if not m:
            continue
        current = re.sub(r"[-_.]+", "-", m.group(1)).lower()
        extras = ",".join(sorted(e.strip() for e in (m.group(2) or "[]")[1:-1].split(",") if e.strip()))
        hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
        out[current] = (m.group(3) or m.group(4), extras, hashes)
    return out


def share_runtime(cfg_root, cache):
    """Hard-links the installed compiled modules into `cache`; returns the runtime dir."""
    modules = os.path.join(cache, "modules")
    os.makedirs(modules, exist_ok=True)
    src = os.path.join(cfg_root, "modules")
    for f in os.listdir(src) if os.path.isdir(src) else []:
        dest = os.path.join(modules, f)
        if not os.path.exists(dest):
            try:
                os.link(os.path.join(src, f), dest)
            except OSError:
                shutil.copy(os.path.join(src, f), dest)
    runtimes = sorted(os.listdir(os.path.join(cfg_root, "runtime")))
    return os.path.join(cfg_root, "runtime", runtimes[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "sdistill"))
    ap.add_argument("--keep", help="keep the work dir here")
    args = ap.parse_args()
    pyver = "{}.{}.{}".format(*sys.version_info[:3])
    work = args.keep or tempfile.mkdtemp(prefix="sdistill-lockprojects-")
    server = None
    try:
        venv = os.path.join(work, "venv")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        bindir = os.path.join(venv, "bin")
        subprocess.run([os.path.join(bindir, "pip"), "install", "-q", "pip-tools", "uv"], check=True)
        port = free_port()
        root = os.path.join(work, "www")
        zeta = build_index(root, os.path.join(root, "direct"), os.path.join(bindir, "pip"))
        server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                   "--directory", root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        index = "http://127.0.0.1:%d/simple/" % port
        versions = subprocess.run([os.path.join(bindir, "uv"), "--version"], capture_output=True, text=True).stdout.strip()
        tools = subprocess.run([os.path.join(bindir, "pip-compile"), "--version"], capture_output=True, text=True).stdout.strip()
        print("target: CPython %s on linux x86_64; %s; %s" % (pyver, versions, tools))
        print("zeta direct sdist sha256 %s" % sha256(zeta))
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"], PIP_CONFIG_FILE="/dev/null")
        cfg_root = os.environ.get("SDISTILL_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sdistill")
        for name, (d, infile, extra) in projects(work, port).items():
            results = {}
            for tool in ("sdistill", "uv", "pip-compile"):
                out = os.path.join(work, "out", name.replace(" ", "_"), tool + ".txt")
                os.makedirs(os.path.dirname(out), exist_ok=True)
                cache = os.path.join(work, "cache", name.replace(" ", "_"), tool)
                os.makedirs(cache, exist_ok=True)
                e = dict(env)
                if tool == "sdistill":
                    e["SDISTILL_CACHE_DIR"] = cache
                    # The installed runtime and its compiled modules (hard links: a symlink
                    # would lead out of the cache, which sdistill refuses); all else cold.
                    runtime = share_runtime(cfg_root, cache)
                    cmd = [args.binary, "lock", d, "--index-url", index, "--python-version", pyver,
                           "--runtime", runtime, "-o", out] + extra
                elif tool == "uv":
                    e["UV_CACHE_DIR"] = cache
                    # --no-strip-extras: uv strips extras by default; sdistill and
                    # pip-compile 7 keep them (pip < 23.3 needs them in --require-hashes mode).
                    cmd = [os.path.join(bindir, "uv"), "pip", "compile", "--generate-hashes", "--quiet", "--no-config",
                           "--no-strip-extras",
                           "--index-url", index, "--python-version", pyver,
                           "--python-platform", "x86_64-unknown-linux-gnu", "-o", out,
                           os.path.join(d, infile)] + extra
                else:
                    e["PIP_CACHE_DIR"] = cache
                    cmd = [os.path.join(bindir, "pip-compile"), "--generate-hashes", "--quiet", "--no-strip-extras",
                           "--allow-unsafe", "--index-url", index, "--cache-dir", cache, "-o", out,
                           os.path.join(d, infile)] + extra
                start = time.perf_counter()
                proc = subprocess.run(cmd, env=e, capture_output=True, text=True, cwd=d)
                took = time.perf_counter() - start
                text = open(out).read() if os.path.exists(out) and proc.returncode == 0 else ""
                results[tool] = pins(text) if proc.returncode == 0 else None
                last = (proc.stderr.strip().splitlines() or [str(proc.returncode)])[-1][:100]
                status = "ok" if proc.returncode == 0 else "FAILED: " + last
                print("%-28s %-12s %6.2fs %3d pins  %s" % (name, tool, took,
                                                         len(results[tool] or {}), status))
            base = results["sdistill"]
            for peer in ("uv", "pip-compile"):
                other = results[peer]
                if base is None or other is None:
                    continue
                diffs = []
                for k in sorted(set(base) | set(other)):
                    b, o = base.get(k), other.get(k)
                    if b is None or o is None:
                        diffs.append("%s: sdistill %s vs %s %s" % (k, b and b[0], peer, o and o[0]))
                    elif b[:2] != o[:2]:
                        diffs.append("%s: sdistill %s[%s] vs %s %s[%s]" % (k, b[0], b[1], peer, o[0], o[1]))
                    elif b[2] != o[2]:
                        diffs.append("%s %s: %d hashes vs %s %d" % (k, b[0], len(b[2]), peer, len(o[2])))
                print("  vs %-11s %s" % (peer, "same pins, extras and hashes" if not diffs
                                         else "%d differ" % len(diffs)))
                for line in diffs:
                    print("    " + line)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
