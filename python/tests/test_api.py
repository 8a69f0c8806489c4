"""The Python API: the JSON schema's objects, one exception class per error kind, a batch
form that never raises, and the GIL released while inspecting."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Dict

import pytest

import sdistill
from conftest import honest_setup, setup_py_sdist, static_sdist, wheel, write_tar_gz

SCHEMA_KEYS = {
    "schema", "input", "source", "name", "version", "metadata_version", "requires_dist",
    "requires_python", "provides_extra", "build_requires", "build_backend",
    "build_requires_source", "method", "pin", "target", "warnings", "elapsed_ms",
    "cached", "behaviour", "error",
}


def comparable(result: Dict[str, Any]) -> Dict[str, Any]:
    """A result without what differs between two runs of the same input."""
    return {k: v for k, v in result.items() if k not in ("elapsed_ms", "cached")}


def test_a_static_sdist_gives_the_schema_object(tmp_path: Path) -> None:
    sdist = static_sdist(tmp_path)
    result = sdistill.inspect(sdist)
    assert set(result) == SCHEMA_KEYS
    assert result["schema"] == sdistill.SCHEMA == "sdistill/1"
    assert result["name"] == "demo" and result["version"] == "1.0"
    assert result["requires_dist"] == ["requests>=2.0", 'pytest; extra == "test"']
    assert result["method"] == "pkg-info"
    assert result["error"] is None
    assert result["source"] is not None and result["source"]["kind"] == "sdist-tar-gz"
    assert result["pin"] is not None and result["pin"].startswith("demo==1.0 --hash=sha256:")
    # str and PathLike inputs are the same input.
    assert comparable(sdistill.inspect(str(sdist))) == comparable(result)


def test_a_setup_py_sdist_runs_in_the_sandbox(tmp_path: Path) -> None:
    sdist = setup_py_sdist(tmp_path, "dyn", honest_setup("dyn"))
    result = sdistill.inspect(sdist, no_cache=True)
    assert result["requires_dist"] == ["six>=1.10"]
    assert result["requires_python"] == ">=3.8"
    assert result["method"] is not None and result["method"].startswith("sandbox-")
    assert result["target"] == {"platform": "linux", "machine": "x86_64"}
    windows = sdistill.inspect(sdist, no_cache=True, target_platform="windows")
    assert windows["target"] == {"platform": "windows", "machine": "x86_64"}


def test_the_api_and_the_cli_give_the_same_objects(tmp_path: Path) -> None:
    inputs = [
        static_sdist(tmp_path),
        setup_py_sdist(tmp_path, "dyn", honest_setup("dyn")),
        tmp_path / "missing-1.0.tar.gz",
    ]
    from conftest import sdistill_command

    out = subprocess.run(
        [sdistill_command(), "inspect", "--format", "json", "--no-cache", *map(str, inputs)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1, out.stderr
    cli = json.loads(out.stdout)
    api = sdistill.inspect_batch(inputs, no_cache=True)
    assert [comparable(r) for r in api] == [comparable(r) for r in cli]


@pytest.mark.parametrize(
    ("make", "cls", "kind"),
    [
        (lambda d: d / "missing.tar.gz", sdistill.IoError, "io"),
        (lambda d: (d / "notes.txt").write_text("x") and d / "notes.txt",
         sdistill.UnsupportedInputError, "unsupported-input"),
        (lambda d: write_tar_gz(d / "evil-1.0.tar.gz", {"../evil.txt": "x"}),
         sdistill.ArchiveError, "archive"),
        (lambda d: setup_py_sdist(d, "boom", "raise SystemExit('no')\n"),
         sdistill.NeedsSandboxError, "needs-sandbox"),
    ],
)
def test_each_error_kind_raises_its_class(tmp_path: Path, make: Any, cls: type, kind: str) -> None:
    path = make(tmp_path)
    with pytest.raises(cls) as caught:
        sdistill.inspect(path, no_sandbox=True)
    exc = caught.value
    assert isinstance(exc, sdistill.SdistillError)
    assert exc.kind == kind == sdistill.ERROR_CLASSES[kind].kind
    assert exc.result is not None and exc.result["error"] is not None
    assert exc.result["error"]["kind"] == kind
    assert exc.input == str(path)
    assert str(exc) == exc.result["error"]["message"]


def test_a_missing_file_is_also_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        sdistill.inspect(tmp_path / "missing.tar.gz")


def test_a_failing_build_raises_setup_failed_with_the_traceback(tmp_path: Path) -> None:
    sdist = setup_py_sdist(tmp_path, "boom", "raise RuntimeError('this build is broken')\n")
    with pytest.raises(sdistill.SetupFailedError) as caught:
        sdistill.inspect(sdist, no_cache=True)
    assert "this build is broken" in str(caught.value) + (caught.value.detail or "")


def test_a_limit_names_itself(tmp_path: Path) -> None:
    sdist = setup_py_sdist(tmp_path, "spin", "while True:\n    pass\n")
    with pytest.raises(sdistill.LimitError) as caught:
        sdistill.inspect(sdist, no_cache=True, timeout=2)
    assert caught.value.limit == "timeout"


def test_a_list_raises_the_first_failure_with_every_result(tmp_path: Path) -> None:
    good = static_sdist(tmp_path)
    results = sdistill.inspect([good, good])
    assert isinstance(results, list) and len(results) == 2
    with pytest.raises(sdistill.IoError) as caught:
        sdistill.inspect([good, tmp_path / "missing.tar.gz"])
    assert caught.value.results is not None
    assert [r["error"] is None for r in caught.value.results] == [True, False]


def test_the_batch_form_never_raises_and_keeps_input_order(tmp_path: Path) -> None:
    inputs = [tmp_path / "missing.tar.gz", static_sdist(tmp_path), tmp_path / "gone.zip"]
    results = sdistill.inspect_batch(inputs, jobs=2)
    assert [r["input"] for r in results] == [str(p) for p in inputs]
    assert [r["error"]["kind"] if r["error"] else None for r in results] == ["io", None, "io"]


def test_bad_options_raise_before_anything_runs(tmp_path: Path) -> None:
    sdist = static_sdist(tmp_path)
    with pytest.raises(ValueError):
        sdistill.inspect(sdist, memory_limit="lots")
    with pytest.raises(ValueError):
        sdistill.inspect(sdist, timeout=-1)
    with pytest.raises(ValueError):
        sdistill.inspect(sdist, target_platform="amiga")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sdistill.inspect_batch(sdist)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sdistill.inspect([1])  # type: ignore[list-item]


def test_sizes_take_bytes_or_text(tmp_path: Path) -> None:
    sdist = static_sdist(tmp_path)
    assert sdistill.inspect(sdist, memory_limit=512 * 1024 * 1024)["error"] is None
    assert sdistill.inspect(sdist, memory_limit="512MiB", max_output="64KiB")["error"] is None


def test_helper_bounds_are_options(tmp_path: Path) -> None:
    sdist = static_sdist(tmp_path)
    result = sdistill.inspect(sdist, max_helper_depth=0, max_helper_builds=0)
    assert result["error"] is None


def test_other_threads_run_while_an_inspection_does(tmp_path: Path) -> None:
    """The GIL is released: a Python thread keeps counting during the native call.
    (How much faster two inspecting threads are is measured in benches/gil.py.)"""
    sdist = setup_py_sdist(tmp_path, "slow", honest_setup("slow", extra="import time\ntime.sleep(1)"))
    count = 0
    stop = threading.Event()

    def counter() -> None:
        nonlocal count
        while not stop.is_set():
            count += 1
            time.sleep(0.001)

    thread = threading.Thread(target=counter)
    thread.start()
    try:
        time.sleep(0.05)
        before = count
        result = sdistill.inspect(sdist, no_cache=True)
        during = count - before
    finally:
        stop.set()
        thread.join()
    assert result["requires_dist"] == ["six>=1.10"]
    assert during > 50, f"the counting thread advanced only {during} times during inspect()"


def test_inspect_by_name_from_the_index(tmp_path: Path, index: Any, private_cache: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    sdist_sha = index.add("demo", static_sdist(files, "demo", "1.0"))
    index.add("demo", wheel(files, "demo", "1.0", ["requests>=2.0"]))
    index.add("demo", static_sdist(files, "demo", "2.0"))
    common = {"index_url": index.url, "cache_dir": private_cache}
    pinned = sdistill.inspect("demo==1.0", **common)
    assert pinned["input"] == "demo==1.0"
    assert pinned["version"] == "1.0" and pinned["method"] == "pkg-info"
    assert pinned["source"] is not None and pinned["source"]["sha256"] == sdist_sha
    assert Path(pinned["source"]["path"]).is_relative_to(private_cache)
    assert sdistill.inspect("demo", **common)["version"] == "2.0"
    as_wheel = sdistill.inspect("demo==1.0", prefer_wheel=True, **common)
    assert as_wheel["method"] == "wheel" and as_wheel["requires_dist"] == ["requests>=2.0"]
    with pytest.raises(sdistill.PackageIndexError):
        sdistill.inspect("demo==9.9", **common)
    with pytest.raises(sdistill.PackageIndexError):
        sdistill.inspect("demo", offline=True, **common)


def test_a_download_that_does_not_match_the_index_hash_is_refused(
    tmp_path: Path, index: Any, private_cache: Path
) -> None:
    index.add("demo", static_sdist(tmp_path, "demo", "1.0"), stated_sha256="0" * 64)
    with pytest.raises(sdistill.PackageIndexError, match="does not match"):
        sdistill.inspect("demo==1.0", index_url=index.url, cache_dir=private_cache)
    assert not any(p.is_file() for p in (private_cache / "files").rglob("*.tar.gz"))


def test_urls_are_checked_by_their_fragment_or_reported_unverified(
    tmp_path: Path, index: Any, private_cache: Path
) -> None:
    sha = index.add("demo", static_sdist(tmp_path, "demo", "1.0"))
    url = f"{index.base}/files/demo-1.0.tar.gz"
    plain = sdistill.inspect(url, cache_dir=private_cache)
    assert plain["source"] is not None and plain["source"]["sha256"] == sha
    assert any("nothing verified" in w and sha in w for w in plain["warnings"])
    checked = sdistill.inspect(f"{url}#sha256={sha}", cache_dir=private_cache)
    assert checked["warnings"] == []
    with pytest.raises(sdistill.PackageIndexError):
        sdistill.inspect(f"{url}#sha256={'1' * 64}", cache_dir=private_cache)
    # Credentials in a URL never reach the result.
    secret = url.replace("http://", "http://user:s3cret@")
    shown = sdistill.inspect(secret, cache_dir=private_cache)
    assert "s3cret" not in json.dumps(shown)
