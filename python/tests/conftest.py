"""Fixtures for the tests of the installed Python distribution (wheel or `pip install .`).

Every fixture is made here: sdists and wheels are written with tarfile/zipfile, and an
index is served on 127.0.0.1 by a thread of the test process. Sandbox answers use the
runtime in SDISTILL_CACHE_DIR (CI installs it there first); no test needs the network.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import tarfile
import threading
import zipfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest


def write_tar_gz(path: Path, members: Dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return path


DEFAULT_REQUIRES = ["requests>=2.0", 'pytest; extra == "test"']


def static_sdist(
    directory: Path, name: str = "demo", version: str = "1.0", requires: Optional[List[str]] = None
) -> Path:
    """An sdist with trustworthy PKG-INFO (Metadata-Version 2.2, nothing dynamic)."""
    top = f"{name}-{version}"
    requires = DEFAULT_REQUIRES if requires is None else requires
    pkg_info = (
        f"Metadata-Version: 2.2\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires)
        + "Requires-Python: >=3.8\nProvides-Extra: test\n\ndescription\n"
    )
    return write_tar_gz(
        directory / f"{top}.tar.gz",
        {
            f"{top}/PKG-INFO": pkg_info,
            f"{top}/pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\n'
            'build-backend = "setuptools.build_meta"\n',
        },
    )


def setup_py_sdist(directory: Path, name: str, setup_py: str, version: str = "1.0") -> Path:
    """An sdist whose metadata only its setup.py knows (runs in the sandbox)."""
    top = f"{name}-{version}"
    return write_tar_gz(
        directory / f"{top}.tar.gz",
        {
            f"{top}/PKG-INFO": f"Metadata-Version: 1.0\nName: {name}\nVersion: {version}\n",
            f"{top}/setup.py": setup_py,
        },
    )


def honest_setup(name: str, version: str = "1.0", extra: str = "") -> str:
    return (
        f"{extra}\nfrom setuptools import setup\n"
        f"setup(name={name!r}, version={version!r}, install_requires=['six>=1.10'],"
        " python_requires='>=3.8')\n"
    )


def wheel(directory: Path, name: str, version: str, requires: List[str]) -> Path:
    module = name.replace("-", "_")
    path = directory / f"{module}-{version}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{module}/__init__.py", "")
        z.writestr(f"{module}-{version}.dist-info/METADATA", meta)
        z.writestr(
            f"{module}-{version}.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        z.writestr(f"{module}-{version}.dist-info/RECORD", "")
    return path


class Index:
    """A PEP 503 index on 127.0.0.1: /simple/<project>/ and /files/<name>."""

    def __init__(self) -> None:
        self.files: Dict[str, bytes] = {}
        self.projects: Dict[str, List[str]] = {}
        #: The sha256 a page states for a file, when not the real one.
        self.stated: Dict[str, Optional[str]] = {}
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                body, ctype = index.respond(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", ctype)
                data = body if body is not None else b"not found"
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}/simple/"

    def add(self, project: str, path: Path, stated_sha256: Optional[str] = "real") -> str:
        data = path.read_bytes()
        self.files[path.name] = data
        self.projects.setdefault(project, []).append(path.name)
        real = hashlib.sha256(data).hexdigest()
        self.stated[path.name] = real if stated_sha256 == "real" else stated_sha256
        return real

    def respond(self, path: str) -> "tuple[Optional[bytes], str]":
        if path.startswith("/simple/"):
            project = path[len("/simple/") :].strip("/")
            links = []
            for name in self.projects.get(project, []):
                sha = self.stated[name]
                frag = f"#sha256={sha}" if sha else ""
                links.append(f'<a href="/files/{name}{frag}">{name}</a>')
            return ("<html><body>" + "\n".join(links) + "</body></html>").encode(), "text/html"
        if path.startswith("/files/"):
            return self.files.get(path[len("/files/") :]), "application/octet-stream"
        return None, "text/plain"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def index() -> Iterator[Index]:
    server = Index()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def private_cache(tmp_path: Path) -> Path:
    """An empty cache root of the test's own (downloads land here, not in the shared one)."""
    root = tmp_path / "cache"
    root.mkdir(mode=0o700)
    return root


def sdistill_command() -> str:
    found = shutil.which("sdistill")
    if found is None:
        pytest.skip("the sdistill command of the installed distribution is not on PATH")
    return found


def pytest_report_header() -> str:
    """Which sdistill is under test: the installed wheel, never the source tree."""
    import sdistill

    return f"sdistill {sdistill.__version__} from {Path(sdistill.__file__).parent}"
