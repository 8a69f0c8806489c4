"""The `sdistill` command of the distribution: the Rust CLI, run in-process by the
console script and by `python -m sdistill`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

import sdistill
from conftest import honest_setup, sdistill_command, setup_py_sdist, static_sdist


def run(args: List[str], module: bool = False) -> "subprocess.CompletedProcess[str]":
    command = [sys.executable, "-m", "sdistill"] if module else [sdistill_command()]
    return subprocess.run(command + args, capture_output=True, text=True, check=False)


def test_version_names_the_runtime_lock() -> None:
    for module in (False, True):
        out = run(["--version"], module)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"sdistill {sdistill.__version__} ")
        assert f"runtime lock {sdistill.RUNTIME_LOCK}" in out.stdout
        assert "python-3.12.0.wasm" in out.stdout
    assert run(["-V"]).stdout.strip() == (
        f"sdistill {sdistill.__version__} (runtime lock {sdistill.RUNTIME_LOCK})"
    )


def test_exit_codes_and_usage_errors() -> None:
    out = run(["inspect"])
    assert out.returncode == 2 and "Usage: sdistill inspect" in out.stderr
    out = run(["inspect", "--format", "json", "/nonexistent-1.0.tar.gz"], module=True)
    assert out.returncode == 1
    assert json.loads(out.stdout)[0]["error"]["kind"] == "io"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell"])
def test_completions(shell: str) -> None:
    out = run(["completions", shell])
    assert out.returncode == 0, out.stderr
    assert "inspect" in out.stdout and "memory-limit" in out.stdout


def test_man_page(tmp_path: Path) -> None:
    out = run(["man"])
    assert out.returncode == 0 and ".TH sdistill 1" in out.stdout
    assert run(["man", "--dir", str(tmp_path)]).returncode == 0
    assert {"sdistill.1", "sdistill-inspect.1", "sdistill-lock.1"} <= {
        p.name for p in tmp_path.iterdir()
    }


def test_quiet_and_verbose(tmp_path: Path) -> None:
    sdist = setup_py_sdist(
        tmp_path,
        "noisy",
        honest_setup("noisy", extra="import sys\nprint('hello from setup.py')\n"
                     "print('a warning', file=sys.stderr)"),
    )
    for flags in (["-q"], ["--quiet"]):
        out = run(["inspect", *flags, "--format", "json", "--no-cache", str(sdist)])
        assert out.returncode == 0 and out.stderr == ""
        assert json.loads(out.stdout)[0]["requires_dist"] == ["six>=1.10"]
    # -v after or before the subcommand: step timings and what the build printed.
    for args in (["inspect", "-v"], ["-v", "inspect"]):
        out = run([*args, "--format", "json", "--no-cache", str(sdist)])
        assert out.returncode == 0, out.stderr
        assert "guest stdout | hello from setup.py" in out.stderr
        assert "guest stderr | a warning" in out.stderr
        assert " ms" in out.stderr and "unpacked into noisy-1.0 in" in out.stderr
    assert run(["inspect", "-q", "-v", str(sdist)]).returncode == 2
    for sub in (["lock"], ["runtime", "info"], ["completions", "bash"], ["man"]):
        assert run([*sub, "--help"]).stdout.count("--quiet") == 1
        assert run([*sub, "-q", "--help"]).returncode == 0


def test_inspect_by_name_on_the_command_line(tmp_path: Path, index: object) -> None:
    from conftest import Index

    assert isinstance(index, Index)
    sha = index.add("demo", static_sdist(tmp_path, "demo", "1.0"))
    cache = tmp_path / "cache"
    out = run([
        "inspect", "--format", "json", "--index-url", index.url, "--cache-dir", str(cache),
        "demo==1.0",
    ])
    assert out.returncode == 0, out.stderr
    (result,) = json.loads(out.stdout)
    assert result["input"] == "demo==1.0" and result["source"]["sha256"] == sha


def test_the_command_run_in_process_leaves_the_api_usable(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from sdistill.__main__ import main

    sdist = static_sdist(tmp_path)
    assert main(["-q", "inspect", "--format", "json", str(sdist)]) == 0
    assert json.loads(capfd.readouterr().out)[0]["name"] == "demo"
    assert sdistill.inspect(sdist)["error"] is None
    assert main(["inspect", "--format", "json", str(tmp_path / "missing.tar.gz")]) == 1
