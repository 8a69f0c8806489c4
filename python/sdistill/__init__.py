"""sdistill: the dependency metadata of Python distributions, without running their code
on the host.

    >>> import sdistill
    >>> meta = sdistill.inspect("Django-1.11.1.tar.gz")      # or "django==1.11.1"
    >>> meta["requires_dist"]
    ['pytz', 'bcrypt; extra == "bcrypt"', 'argon2-cffi>=16.1.0; extra == "argon2"']

Results are the objects of the JSON schema ``sdistill/1`` (plain dicts and lists, typed
as :class:`Result`). Build code that must run to answer runs inside a WASI CPython
sandbox; its runtime is downloaded and hash-checked on first use (``sdistill runtime
install`` does it ahead of time).
"""

from __future__ import annotations

from . import _native
from ._api import inspect, inspect_batch, logger
from ._errors import (
    ERROR_CLASSES,
    ArchiveError,
    InternalError,
    InvalidMetadataError,
    IoError,
    LimitError,
    NeedsSandboxError,
    NoMetadataError,
    PackageIndexError,
    RuntimeUnavailableError,
    SandboxError,
    SdistillError,
    SetupFailedError,
    UnsafeDirectoryError,
    UnsupportedBackendError,
    UnsupportedInputError,
    UsageError,
)
from ._types import ErrorInfo, Result, Source, Target

#: The version of sdistill (the Rust crate's).
__version__: str = _native.__version__
#: The runtime lock this build is pinned to (also in ``sdistill --version``).
RUNTIME_LOCK: str = _native.RUNTIME_LOCK
#: The schema identifier every result carries.
SCHEMA: str = _native.SCHEMA

__all__ = [
    "ERROR_CLASSES",
    "RUNTIME_LOCK",
    "SCHEMA",
    "ArchiveError",
    "ErrorInfo",
    "InternalError",
    "InvalidMetadataError",
    "IoError",
    "LimitError",
    "NeedsSandboxError",
    "NoMetadataError",
    "PackageIndexError",
    "Result",
    "RuntimeUnavailableError",
    "SandboxError",
    "SdistillError",
    "SetupFailedError",
    "Source",
    "Target",
    "UnsafeDirectoryError",
    "UnsupportedBackendError",
    "UnsupportedInputError",
    "UsageError",
    "__version__",
    "inspect",
    "inspect_batch",
    "logger",
]
