#!/usr/bin/env python3
"""A local package-index mirror without PEP 658 metadata files, for benchmarks.

Serves PEP 691 JSON (and PEP 503 HTML to clients that do not ask for JSON) on 127.0.0.1,
built from an upstream simple index: every page is fetched from upstream once, its files'
`core-metadata` / `dist-info-metadata` offers are removed, and their URLs point at this
server. Files are fetched from upstream once (sha256-checked against the page) and served
from disk, with HTTP/1.1 keep-alive and `Range` support, like devpi or a static mirror
behind nginx. Nothing is ever executed; host Python only moves bytes.

Run it standalone (`python3 benches/mirror.py --port 8765 --dir /tmp/mirror`) or import
`start(dir, upstream)` from another script: it returns the base URL.
"""
import argparse
import hashlib
import html
import json
import os
import re
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

UPSTREAM = "https://pypi.org/simple/"
_lock = threading.Lock()
_fetching = {}


def _normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return resp.read()


class Mirror:
    def __init__(self, root, upstream):
        self.root = root
        self.upstream = upstream
        os.makedirs(os.path.join(root, "pages"), exist_ok=True)
        os.makedirs(os.path.join(root, "files"), exist_ok=True)

    def page(self, project):
        """The mirrored page of `project` (dict), or None when upstream has none."""
        path = os.path.join(self.root, "pages", project + ".json")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        try:
            body = _get(self.upstream + project + "/", "application/vnd.pypi.simple.v1+json")
        except Exception:
            return None
        page = json.loads(body)
        files = []
        sources = {}
        for f in page.get("files", []):
            sha = (f.get("hashes") or {}).get("sha256")
            if not sha or not re.fullmatch(r"[0-9a-f]{64}", sha):
                continue
            name = f["filename"]
            if "/" in name or name.startswith("."):
                continue
            f = dict(f)
            f.pop("core-metadata", None)
            f.pop("dist-info-metadata", None)
            f.pop("data-dist-info-metadata", None)
            sources[sha] = f["url"]
            f["url"] = f"/files/{sha}/{name}"
            files.append(f)
        page["files"] = files
        with _lock:
            with open(path + ".tmp", "w") as out:
                json.dump(page, out)
            os.replace(path + ".tmp", path)
            src_path = os.path.join(self.root, "pages", project + ".sources.json")
            with open(src_path, "w") as out:
                json.dump(sources, out)
        return page

    def file(self, sha, name):
        """The local path of a mirrored file, fetched from upstream the first time."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha) or "/" in name or name.startswith("."):
            return None
        path = os.path.join(self.root, "files", sha, name)
        if os.path.exists(path):
            return path
        with _lock:
            event = _fetching.get(path)
            mine = event is None
            if mine:
                event = _fetching[path] = threading.Event()
        if not mine:
            event.wait(300)
            return path if os.path.exists(path) else None
        try:
            project = _normalize(re.split(r"-\d", name, maxsplit=1)[0])
            src = None
            for cand in os.listdir(os.path.join(self.root, "pages")):
                if not cand.endswith(".sources.json"):
                    continue
                with open(os.path.join(self.root, "pages", cand)) as f:
                    sources = json.load(f)
                if sha in sources:
                    src = sources[sha]
                    break
            if src is None:
                return None
            body = _get(src)
            if hashlib.sha256(body).hexdigest() != sha:
                return None
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path + ".tmp", "wb") as out:
                out.write(body)
            os.replace(path + ".tmp", path)
            return path
        finally:
            event.set()
            with _lock:
                _fetching.pop(path, None)


def handler_for(mirror):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        head_only = False

        def send_body(self, status, ctype, body, extra=()):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if not self.head_only:
                self.wfile.write(body)

        def do_HEAD(self):
            # uv asks with HEAD whether a file is served with ranges.
            self.head_only = True
            try:
                self.do_GET()
            finally:
                self.head_only = False

        def do_GET(self):
            path = urlsplit(self.path).path
            if path.startswith("/simple/"):
                project = _normalize(path[len("/simple/"):].strip("/"))
                page = mirror.page(project) if project else None
                if page is None:
                    return self.send_body(404, "text/plain", b"not found")
                if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", ""):
                    body = json.dumps(page).encode()
                    return self.send_body(200, "application/vnd.pypi.simple.v1+json", body)
                rows = []
                for f in page["files"]:
                    attrs = ""
                    if f.get("requires-python"):
                        attrs += f' data-requires-python="{html.escape(f["requires-python"])}"'
                    if f.get("yanked"):
                        attrs += ' data-yanked=""'
                    sha = f["hashes"]["sha256"]
                    rows.append(f'<a href="{f["url"]}#sha256={sha}"{attrs}>{html.escape(f["filename"])}</a><br/>')
                body = ("<!DOCTYPE html><html><body>\n" + "\n".join(rows) + "\n</body></html>\n").encode()
                return self.send_body(200, "text/html", body)
            m = re.fullmatch(r"/files/([0-9a-f]{64})/([^/]+)", path)
            if not m:
                return self.send_body(404, "text/plain", b"not found")
            local = mirror.file(m.group(1), m.group(2))
            if local is None:
                return self.send_body(404, "text/plain", b"not found")
            with open(local, "rb") as f:
                data = f.read()
            rng = self.headers.get("Range")
            r = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip()) if rng else None
            if r and (r.group(1) or r.group(2)):
                n = len(data)
                if r.group(1):
                    start = int(r.group(1))
                    end = int(r.group(2)) + 1 if r.group(2) else n
                else:
                    start, end = max(0, n - int(r.group(2))), n
                end = min(end, n)
                if start < end:
                    return self.send_body(206, "application/octet-stream", data[start:end], [
                        ("Content-Range", f"bytes {start}-{end - 1}/{n}"), ("Accept-Ranges", "bytes")])
            return self.send_body(200, "application/octet-stream", data, [("Accept-Ranges", "bytes")])

    return Handler


class Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a client opening more connections at
    # once than that has SYNs dropped and waits ~1 s to retransmit (the kernel's
    # ListenOverflows counter), which timed the backlog, not the client. Real mirrors
    # (nginx: 511, waitress: 1024) queue far more.
    request_queue_size = 512


def start(root, upstream=UPSTREAM, port=0):
    server = Server(("127.0.0.1", port), handler_for(Mirror(root, upstream)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/simple/", server


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--upstream", default=UPSTREAM)
    args = ap.parse_args()
    url, server = start(args.dir, args.upstream, args.port)
    print(url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
