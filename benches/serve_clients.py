#!/usr/bin/env python3
"""What real resolvers do when an index answers a PEP 658 `.metadata` request (or the
sdist download itself) with each HTTP status: do they stop, or fall back to downloading
the sdist and building it ON THE HOST?

This is the experiment behind `sdistill serve`'s fail-closed status (README, "What each
client does"). A stub index (Python's http.server) serves one canary sdist whose
setup.py, if it ever runs on the host, writes a marker file; setuptools and wheel wheels
are on the stub index too, so a client that falls back to building can actually build
(and fire the canary).

Two kinds of modes:
- stub modes (`200`, `404`, `422`, `500`, `abort`, `422+file422`, ...): the stub itself
  declares a metadata file for the canary and answers it with that status (`abort`: the
  connection breaks mid-body); `+fileNNN` refuses the sdist download the same way.
- `sdistill:*` modes (with `--sdistill BINARY`): the stub is a plain upstream (no
  metadata files) and `sdistill serve` runs in front of it: `sdistill:answerable` (the
  canary's metadata comes from the sandbox), `sdistill:unanswerable` (its setup.py runs
  a program, which fails in the sandbox), `sdistill:never` (answerable, with
  `--sdist-downloads never`).

PROBE SCRIPT: a client that falls back runs the canary's setup.py on the host (it only
writes a marker file in a temporary directory). The clients are installed into throwaway
virtualenvs under the work directory (pip 23.2.1 and the current pip, each with
pip-tools; uv; Poetry; PDM) from PyPI.

Usage: python3 benches/serve_clients.py [--clients pip23,pip,pip-compile23,...]
           [--modes 200,404,...,sdistill:answerable,...] [--sdistill target/release/sdistill]
           [--work DIR]
"""
import argparse
import hashlib
import http.server
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

REASON = "sdistill cannot answer for canary-1.0.tar.gz: setup failed inside the sandbox: boom"

# mode -> (status of .metadata, status of the sdist file or None when it is served)
MODES = {
    "200": (200, None),
    "404": (404, None),
    "403": (403, None),
    "410": (410, None),
    "422": (422, None),
    "451": (451, None),
    "500": (500, None),
    "502": (502, None),
    "503": (503, None),
    "abort": ("abort", None),
    "404+file404": (404, 404),
    "422+file422": (422, 422),
    "500+file500": (500, 500),
    "abort+fileabort": ("abort", "abort"),
}

SDISTILL_MODES = {
    "sdistill:answerable": (False, []),
    "sdistill:unanswerable": (True, []),
    "sdistill:never": (False, ["--sdist-downloads", "never"]),
}

CLIENTS = ["pip23", "pip", "pip-compile23", "pip-compile", "pip-download", "uv", "poetry", "pdm"]


def canary_sdist(marker, unanswerable=False):
    """canary-1.0.tar.gz: PKG-INFO 1.0 (not trusted) and a setup.py that marks the host
    when it runs there (in a sandbox the marker's directory does not exist). Unanswerable:
    it also runs a program, which works on a host and fails in sdistill's sandbox."""
    setup_py = (
        "try:\n"
        f"    open({marker!r}, 'w').write('setup.py ran on the host')\n"
        "except OSError:\n"
        "    pass\n"
        + ("import subprocess\nsubprocess.check_call(['true'])\n" if unanswerable else "")
        + "from setuptools import setup\n"
        "setup(name='canary', version='1.0', install_requires=['wheel'])\n"
    )
    members = {
        "canary-1.0/PKG-INFO": "Metadata-Version: 1.0\nName: canary\nVersion: 1.0\n",
        "canary-1.0/setup.py": setup_py,
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Stub:
    """The stub index: canary (sdist, metadata declared), setuptools, wheel."""

    def __init__(self, wheels_dir, canary):
        self.files = {"canary-1.0.tar.gz": canary}
        for name in os.listdir(wheels_dir):
            self.files[name] = open(os.path.join(wheels_dir, name), "rb").read()
        self.mode = MODES["200"]
        self.error_body = (REASON + "\n").encode()
        self.log = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, status, body, ctype="text/plain", reason=None):
                if status == "abort":
                    # Headers promise a body that never comes: a broken transfer.
                    self.send_response(200)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.write(b"Metadata-Version: 2.1\n")
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(status, reason)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                stub.log.append(self.path)
                m = re.match(r"^/simple/([^/]+)/$", self.path)
                if m:
                    project = m.group(1)
                    links = []
                    for name, data in sorted(stub.files.items()):
                        if re.sub(r"[-_.]+", "-", name.split("-")[0]).lower() != project:
                            continue
                        sha = hashlib.sha256(data).hexdigest()
                        extra = ""
                        if name.endswith(".tar.gz") and stub.mode is not None:
                            extra = ' data-core-metadata="true" data-dist-info-metadata="true"'
                        links.append(f'<a href="/files/{name}#sha256={sha}"{extra}>{name}</a><br>')
                    if not links:
                        return self.send(404, b"not found")
                    html = "<!DOCTYPE html><html><body>" + "\n".join(links) + "</body></html>"
                    return self.send(200, html.encode(), "text/html")
                name = self.path.removeprefix("/files/")
                meta_status, file_status = stub.mode or (404, None)
                if name == "canary-1.0.tar.gz.metadata":
                    if meta_status == 200:
                        body = b"Metadata-Version: 2.1\nName: canary\nVersion: 1.0\nRequires-Dist: wheel\n"
                        return self.send(200, body)
                    return self.send(meta_status, stub.error_body, reason=REASON)
                if name == "canary-1.0.tar.gz" and file_status is not None:
                    return self.send(file_status, (REASON + "\n").encode(), reason=REASON)
                if name in stub.files:
                    return self.send(200, stub.files[name], "application/octet-stream")
                return self.send(404, b"not found")

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # clients that hang up early are part of the experiment

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def venvs(work):
    """Throwaway virtualenvs with each client; returns client -> executable dir."""
    specs = {
        "pip23": ["pip==23.2.1", "pip-tools"],
        "pip": ["-U", "pip", "pip-tools", "uv"],
        "poetry": ["-U", "pip", "poetry"],
        # pdm 2.29 breaks with hishel 2 (AttributeError: SyncSqliteStorage).
        "pdm": ["-U", "pip", "pdm", "hishel[httpx2]<2"],
    }
    out = {}
    for name, pkgs in specs.items():
        venv = os.path.join(work, "venv-" + name)
        if not os.path.exists(os.path.join(venv, "bin", "python")):
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", *pkgs], check=True)
        out[name] = os.path.join(venv, "bin")
    return out


def command(client, bins, url, d):
    """The command line and environment for one client, run in directory `d`."""
    # Only the settings below: no pip.conf, find-links or index from the host.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "POETRY_", "PDM_")) or k == "PIP_CERT"}
    env = dict(env, PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_CACHE_DIR=os.path.join(d, "cache"), UV_CACHE_DIR=os.path.join(d, "cache"),
               POETRY_CACHE_DIR=os.path.join(d, "cache"), PDM_CACHE_DIR=os.path.join(d, "cache"),
               PDM_CHECK_UPDATE="false", POETRY_VIRTUALENVS_CREATE="false")
    open(os.path.join(d, "req.in"), "w").write("canary\n")
    report = os.path.join(d, "report.json")
    if client in ("pip23", "pip"):
        return [os.path.join(bins[client], "pip"), "install", "--dry-run", "--ignore-installed",
                "--report", report, "--index-url", url, "canary"], env
    if client in ("pip-compile23", "pip-compile"):
        b = bins["pip23" if client.endswith("23") else "pip"]
        return [os.path.join(b, "pip-compile"), "--generate-hashes", "--index-url", url,
                "--no-emit-index-url", "-o", os.path.join(d, "req.txt"), os.path.join(d, "req.in")], env
    if client == "pip-download":
        return [os.path.join(bins["pip"], "pip"), "download", "--no-deps", "-d", os.path.join(d, "dl"),
                "--index-url", url, "canary"], env
    if client == "uv":
        return [os.path.join(bins["pip"], "uv"), "pip", "compile", "--index-url", url,
                "-o", os.path.join(d, "req.txt"), os.path.join(d, "req.in")], env
    if client == "poetry":
        open(os.path.join(d, "pyproject.toml"), "w").write(
            '[project]\nname = "probe"\nversion = "0"\nrequires-python = ">=3.11"\n'
            'dependencies = ["canary"]\n[tool.poetry]\npackage-mode = false\n'
            f'[[tool.poetry.source]]\nname = "stub"\nurl = "{url}"\npriority = "primary"\n')
        return [os.path.join(bins["poetry"], "poetry"), "lock", "--no-interaction"], env
    if client == "pdm":
        open(os.path.join(d, "pyproject.toml"), "w").write(
            '[project]\nname = "probe"\nversion = "0"\nrequires-python = ">=3.11"\n'
            'dependencies = ["canary"]\n[tool.pdm]\ndistribution = false\n'
            f'[[tool.pdm.source]]\nname = "pypi"\nurl = "{url}"\n')
        return [os.path.join(bins["pdm"], "pdm"), "lock"], env
    raise SystemExit(f"unknown client {client}")


def start_sdistill(binary, upstream, extra, log_path):
    """`sdistill serve` in front of `upstream`, its stderr appended to `log_path`; returns
    (process, its index URL)."""
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--upstream", upstream, *extra],
                            stderr=subprocess.PIPE, text=True)
    log = open(log_path, "a")
    for line in proc.stderr:
        log.write(line)
        m = re.search(r"serving (http://\S+/simple/)", line)
        if m:
            def drain():
                for rest in proc.stderr:
                    log.write(rest)
                log.close()
            threading.Thread(target=drain, daemon=True).start()
            return proc, m.group(1)
    raise SystemExit("sdistill serve did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", default=",".join(CLIENTS))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--work", default=None, help="reuse this directory (venvs are kept there)")
    ap.add_argument("--wheels", default=None, help="setuptools/wheel wheels to serve (else downloaded)")
    ap.add_argument("--sdistill", default=None, help="sdistill binary for the sdistill:* modes")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="sdistill-serve-clients-"))
    os.makedirs(work, exist_ok=True)
    bins = venvs(work)
    wheels = args.wheels or os.path.join(work, "wheels")
    if not os.path.isdir(wheels):
        subprocess.run([os.path.join(bins["pip"], "pip"), "download", "-q", "--no-deps", "--only-binary",
                        ":all:", "-d", wheels, "setuptools==80.9.0", "wheel==0.45.1"], check=True)
    for name in ("pip23", "pip", "poetry", "pdm"):
        v = subprocess.run([os.path.join(bins[name], "python"), "-m", "pip", "--version"],
                           capture_output=True, text=True).stdout.split()[1]
        extra = ""
        if name in ("poetry", "pdm"):
            extra = " " + subprocess.run([os.path.join(bins[name], name), "--version"],
                                         capture_output=True, text=True).stdout.strip()
        print(f"# venv {name}: pip {v}{extra}")
    print("# uv:", subprocess.run([os.path.join(bins["pip"], "uv"), "--version"], capture_output=True, text=True).stdout.strip())
    marker_dir = tempfile.mkdtemp(prefix="canary-marks-", dir=work)
    marker = os.path.join(marker_dir, "FIRED")
    stub = Stub(wheels, canary_sdist(marker))
    print(f"{'client':<14}{'mode':<22}{'exit':>5}  {'fired':<6}{'deps':<5}{'names file':<11}{'reason shown':<13}{'secs':>6}  last line")
    modes = args.modes.split(",")
    if args.sdistill and args.modes == ",".join(MODES):
        modes += list(SDISTILL_MODES)
    for client in args.clients.split(","):
        for mode in modes:
            server = None
            url = stub.url
            if mode in SDISTILL_MODES:
                unanswerable, extra = SDISTILL_MODES[mode]
                stub.mode = None
                stub.files["canary-1.0.tar.gz"] = canary_sdist(marker, unanswerable)
                server, url = start_sdistill(args.sdistill, stub.url, extra, os.path.join(work, "sdistill-serve.log"))
            else:
                stub.mode = MODES[mode]
                stub.files["canary-1.0.tar.gz"] = canary_sdist(marker)
            stub.log.clear()
            if os.path.exists(marker):
                os.remove(marker)
            d = tempfile.mkdtemp(prefix=f"{client}-{mode.replace(':', '-')}-", dir=work)
            cmd, env = command(client, bins, url, d)
            start = time.perf_counter()
            try:
                proc = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, timeout=300)
                rc, out = proc.returncode, proc.stdout + proc.stderr
            except subprocess.TimeoutExpired as e:
                rc, out = "T/O", (e.stdout or b"").decode() + (e.stderr or b"").decode()
            secs = time.perf_counter() - start
            if server is not None:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)
            fired = os.path.exists(marker)
            lines = [l.strip() for l in out.splitlines() if l.strip()]
            last = next((l for l in reversed(lines) if "canary" in l.lower() or "error" in l.lower()), lines[-1] if lines else "")
            names = "canary-1.0.tar.gz" in out
            # The canary's one dependency (wheel 0.45.1) in what the client wrote: did it
            # resolve with the canary's real dependencies?
            written = ""
            for f in ("report.json", "req.txt", "poetry.lock", "pdm.lock"):
                if os.path.exists(os.path.join(d, f)):
                    written += open(os.path.join(d, f)).read()
            deps = "n/a" if not written else ("yes" if "0.45.1" in written else "NO")
            reason = "setup failed inside the sandbox" in out or "--sdist-downloads never" in out
            print(f"{client:<14}{mode:<22}{rc!s:>5}  {'FIRED' if fired else 'no':<6}{deps:<5}{'yes' if names else 'no':<11}"
                  f"{'yes' if reason else 'no':<13}{secs:6.1f}  {last[:110]}")
            if args.verbose:
                print("    requests:", " ".join(p for p in stub.log if "canary" in p))
                print("    " + "\n    ".join(lines[-12:]))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
