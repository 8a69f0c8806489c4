"""One exception class per error kind of the JSON schema.

``sdistill.inspect`` raises the class of the failing input's ``error.kind``; every class
derives from :class:`SdistillError`, so ``except sdistill.SdistillError`` catches them
all. The instance carries the whole result (``.result``) and the error's fields.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Type

from ._types import Result


class SdistillError(Exception):
    """An input could not be inspected. ``kind`` is the stable ``error.kind``."""

    kind: str = "unknown"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message: str = message
        #: Which limit, for :class:`LimitError` (``"timeout"``, ``"memory"``, ...).
        self.limit: Optional[str] = None
        #: Extra detail (the guest traceback tail, for :class:`SetupFailedError`).
        self.detail: Optional[str] = None
        #: The input as given.
        self.input: Optional[str] = None
        #: The full result object of the failing input.
        self.result: Optional[Result] = None
        #: Every result, when a list of inputs was inspected.
        self.results: Optional[List[Result]] = None


class IoError(SdistillError, OSError):
    """The input (or a file needed for it) could not be read: missing, unreadable."""

    kind = "io"


class UnsupportedInputError(SdistillError):
    """Not an sdist, wheel or directory sdistill reads."""

    kind = "unsupported-input"


class ArchiveError(SdistillError):
    """The archive is unsafe or corrupt; nothing from it was used."""

    kind = "archive"


class LimitError(SdistillError):
    """A resource limit was exceeded; ``limit`` names it."""

    kind = "limit"


class UnsafeDirectoryError(SdistillError):
    """A cache or work directory is not private to this user."""

    kind = "unsafe-directory"


class InvalidMetadataError(SdistillError):
    """A metadata file exists but cannot be used."""

    kind = "invalid-metadata"


class NoMetadataError(SdistillError):
    """No metadata could be found or produced."""

    kind = "no-metadata"


class NeedsSandboxError(SdistillError):
    """Static metadata is incomplete and the sandbox was disabled (``no_sandbox=True``)."""

    kind = "needs-sandbox"


class RuntimeUnavailableError(SdistillError):
    """The sandbox runtime is missing, corrupt, or could not be installed."""

    kind = "runtime"


class PackageIndexError(SdistillError):
    """The package index failed or had nothing that matches (inputs by name or URL)."""

    kind = "index"


class SetupFailedError(SdistillError):
    """The sdist's build code raised inside the sandbox; ``detail`` is the traceback tail."""

    kind = "setup-failed"


class UnsupportedBackendError(SdistillError):
    """The declared build backend cannot run in the sandbox (native backends)."""

    kind = "unsupported-backend"


class SandboxError(SdistillError):
    """The sandbox itself failed, or the host failed a file operation of the build."""

    kind = "sandbox"


class InternalError(SdistillError):
    """A bug in sdistill, confined to this input. Please report it with the input."""

    kind = "internal"


class UsageError(SdistillError):
    """An input or option that cannot be used as given."""

    kind = "usage"


#: The exception class of each ``error.kind``.
ERROR_CLASSES: Dict[str, Type[SdistillError]] = {
    cls.kind: cls
    for cls in (
        IoError,
        UnsupportedInputError,
        ArchiveError,
        LimitError,
        UnsafeDirectoryError,
        InvalidMetadataError,
        NoMetadataError,
        NeedsSandboxError,
        RuntimeUnavailableError,
        PackageIndexError,
        SetupFailedError,
        UnsupportedBackendError,
        SandboxError,
        InternalError,
        UsageError,
    )
}


def error_for(result: Result) -> SdistillError:
    """The exception for a failed result (a kind unknown to this version: the base)."""
    info = result["error"]
    if info is None:
        raise ValueError("error_for() needs a failed result")
    cls = ERROR_CLASSES.get(info["kind"], SdistillError)
    exc = cls(info["message"])
    exc.limit = info["limit"]
    exc.detail = info["detail"]
    exc.input = result["input"]
    exc.result = result
    return exc
