"""The repository's pre-commit hooks, run by the real `pre-commit try-repo` in a
throwaway git repository.

The `-system` hooks use the `sdistill` of the installed distribution. The plain hooks
make pre-commit build sdistill from source into its own environment (minutes): they run
only with SDISTILL_TEST_PRECOMMIT_BUILD=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import Index, sdistill_command, static_sdist, write_tar_gz

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("pre-commit") is None or shutil.which("git") is None,
    reason="pre-commit (pip install pre-commit) and git are needed to run the hooks; "
    "CI installs pre-commit",
)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def throwaway_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "test@example.invalid")
    git(repo, "config", "user.name", "test")
    return repo


def try_repo(repo: Path, hook: str, files: List[str], env: Dict[str, str]) -> "subprocess.CompletedProcess[str]":
    git(repo, "add", "-A")
    return subprocess.run(
        ["pre-commit", "try-repo", str(REPO), hook, "--files", *files],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def hook_env(tmp_path: Path) -> Dict[str, str]:
    env = dict(os.environ)
    # The installed sdistill first on PATH, pre-commit's state private to the test.
    env["PATH"] = f"{Path(sdistill_command()).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    # try-repo commits uncommitted hook changes into a shadow repo: it needs an identity.
    for var, value in (("NAME", "sdistill tests"), ("EMAIL", "tests@example.invalid")):
        for who in ("AUTHOR", "COMMITTER"):
            env.setdefault(f"GIT_{who}_{var}", value)
    return env


def variants() -> List[str]:
    if os.environ.get("SDISTILL_TEST_PRECOMMIT_BUILD") == "1":
        return ["-system", ""]
    return ["-system"]


@pytest.mark.parametrize("suffix", variants())
def test_the_inspect_hook_passes_good_sdists_and_fails_unsafe_ones(tmp_path: Path, suffix: str) -> None:
    repo = throwaway_repo(tmp_path)
    env = hook_env(tmp_path)
    good = static_sdist(repo)
    out = try_repo(repo, f"sdistill-inspect{suffix}", [good.name], env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Passed" in out.stdout
    evil = write_tar_gz(repo / "evil-1.0.tar.gz", {"../escape.txt": "x"})
    out = try_repo(repo, f"sdistill-inspect{suffix}", [good.name, evil.name], env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Failed" in out.stdout and "archive" in out.stdout


@pytest.mark.parametrize("suffix", variants())
def test_the_lock_hook_fails_on_a_stale_lock_and_passes_once_locked(
    tmp_path: Path, index: Index, suffix: str
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    index.add("demo", static_sdist(files, "demo", "1.0", requires=[]))
    index.add("demo", static_sdist(files, "demo", "2.0", requires=[]))
    repo = throwaway_repo(tmp_path)
    env = hook_env(tmp_path)
    env["SDISTILL_INDEX_URL"] = index.url
    env["SDISTILL_CACHE_DIR"] = str(tmp_path / "cache")
    (repo / "requirements.in").write_text("demo==1.0\n")
    hook = f"sdistill-lock{suffix}"
    # No lock yet: the hook writes one (a new file is not a change to pre-commit).
    out = try_repo(repo, hook, ["requirements.in"], env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "demo==1.0" in (repo / "requirements.txt").read_text()
    # Locked and unchanged: the file is left byte-for-byte as it was, and the hook passes.
    before = (repo / "requirements.txt").read_bytes()
    out = try_repo(repo, hook, ["requirements.in", "requirements.txt"], env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (repo / "requirements.txt").read_bytes() == before
    # The input moves on: the lock is stale, rewritten, and the hook fails.
    (repo / "requirements.in").write_text("demo==2.0\n")
    out = try_repo(repo, hook, ["requirements.in", "requirements.txt"], env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "files were modified by this hook" in out.stdout
    assert "demo==2.0" in (repo / "requirements.txt").read_text()
    # Once the new lock is committed, it passes again.
    out = try_repo(repo, hook, ["requirements.in", "requirements.txt"], env)
    assert out.returncode == 0, out.stdout + out.stderr
