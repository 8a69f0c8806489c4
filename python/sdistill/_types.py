"""The shapes of sdistill's answers: the JSON schema ``sdistill/1`` as typed dicts.

Every key is always present (``None`` when not applicable), exactly as in the CLI's
``--format json`` output; README "JSON schema" documents each one.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Literal, Optional, TypedDict, Union

#: A filesystem path, or a project name / URL when it is not an existing path.
StrPath = Union[str, "os.PathLike[str]"]

SourceKind = Literal[
    "sdist-tar-gz", "sdist-tar-bz2", "sdist-tar-xz", "sdist-zip", "wheel", "directory"
]
Method = Literal[
    "wheel",
    "pkg-info",
    "pyproject",
    "sandbox-egg-info",
    "sandbox-pep517",
    "sandbox-setup-kwargs",
]
Platform = Literal["linux", "macos", "windows"]
Machine = Literal["x86_64", "aarch64"]


class Source(TypedDict):
    """The file (or directory) that was inspected: what a lock pins and hashes."""

    path: str
    filename: str
    sha256: Optional[str]
    size: Optional[int]
    kind: SourceKind


class Target(TypedDict):
    """The platform the build code ran as (sandbox answers only)."""

    platform: Platform
    machine: Machine


class ErrorInfo(TypedDict):
    """Why an input has no answer. ``kind`` is stable; ``message`` is for people."""

    kind: str
    message: str
    limit: Optional[str]
    detail: Optional[str]


class Result(TypedDict):
    """One input's answer (``schema == "sdistill/1"``)."""

    schema: str
    input: str
    source: Optional[Source]
    name: Optional[str]
    version: Optional[str]
    metadata_version: Optional[str]
    requires_dist: Optional[List[str]]
    requires_python: Optional[str]
    provides_extra: Optional[List[str]]
    build_requires: Optional[List[str]]
    build_backend: Optional[str]
    build_requires_source: Optional[str]
    method: Optional[Method]
    pin: Optional[str]
    target: Optional[Target]
    warnings: List[str]
    elapsed_ms: int
    cached: bool
    #: What the build code tried (verdict, events), or ``None`` when none ran.
    behaviour: Optional[Dict[str, Any]]
    error: Optional[ErrorInfo]
