"""``inspect`` and ``inspect_batch``: the Python face of ``sdistill inspect``.

Both hand the inputs and options to the Rust library in one call, which releases the
GIL for the whole inspection (other Python threads run, and several threads inspecting
at once run in parallel), and both return the JSON schema's objects, rendered by the
same code as the CLI's ``--format json``.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
from typing import Any, Dict, List, Optional, Sequence, Union, overload

from . import _native
from ._errors import error_for
from ._types import Machine, Platform, Result, StrPath

#: Progress (INFO: runtime install, downloads) and, at DEBUG, each step's timing and what
#: builds printed inside the sandbox.
logger = logging.getLogger("sdistill")

_LEVELS = {"info": logging.INFO, "debug": logging.DEBUG}


def _log(level: str, line: str) -> None:
    # The one-time runtime install (a 26 MB download, then compiling) is worth seeing
    # without any logging set up: WARNING reaches stderr through logging's last resort.
    if line.startswith("runtime not installed"):
        logger.warning("%s", line)
        return
    logger.log(_LEVELS.get(level, logging.INFO), "%s", line)


_native.set_log(_log)
atexit.register(_native.cleanup)

Size = Union[int, str]


def _options(**kwargs: Any) -> str:
    """The options as the native side reads them: set ones only, paths as text."""
    options: Dict[str, Any] = {}
    for key, value in kwargs.items():
        if value is None or value is False:
            continue
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        options[key] = value
    if logger.isEnabledFor(logging.DEBUG):
        options["trace"] = True
    return json.dumps(options, sort_keys=True)


def _paths(inputs: Sequence[StrPath]) -> List[str]:
    out = []
    for item in inputs:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"an input is a path, project name or URL, not {type(item).__name__}")
        out.append(os.fspath(item))
    return out


def _run(inputs: List[str], options: str) -> List[Result]:
    results: List[Result] = json.loads(_native.inspect_json(inputs, options))
    return results


@overload
def inspect(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
    path_or_paths: StrPath,
    *,
    jobs: Optional[int] = ...,
    target_platform: Optional[Platform] = ...,
    target_machine: Optional[Machine] = ...,
    no_sandbox: bool = ...,
    offline: bool = ...,
    no_cache: bool = ...,
    prefer_wheel: bool = ...,
    timeout: Optional[float] = ...,
    memory_limit: Optional[Size] = ...,
    max_unpacked_size: Optional[Size] = ...,
    max_entries: Optional[int] = ...,
    max_compression_ratio: Optional[int] = ...,
    max_output: Optional[Size] = ...,
    max_scratch: Optional[Size] = ...,
    max_open_files: Optional[int] = ...,
    max_helper_depth: Optional[int] = ...,
    max_helper_builds: Optional[int] = ...,
    cache_dir: Optional[StrPath] = ...,
    runtime: Optional[StrPath] = ...,
    work_dir: Optional[StrPath] = ...,
    index_url: Optional[str] = ...,
) -> Result: ...


@overload
def inspect(
    path_or_paths: Sequence[StrPath],
    *,
    jobs: Optional[int] = ...,
    target_platform: Optional[Platform] = ...,
    target_machine: Optional[Machine] = ...,
    no_sandbox: bool = ...,
    offline: bool = ...,
    no_cache: bool = ...,
    prefer_wheel: bool = ...,
    timeout: Optional[float] = ...,
    memory_limit: Optional[Size] = ...,
    max_unpacked_size: Optional[Size] = ...,
    max_entries: Optional[int] = ...,
    max_compression_ratio: Optional[int] = ...,
    max_output: Optional[Size] = ...,
    max_scratch: Optional[Size] = ...,
    max_open_files: Optional[int] = ...,
    max_helper_depth: Optional[int] = ...,
    max_helper_builds: Optional[int] = ...,
    cache_dir: Optional[StrPath] = ...,
    runtime: Optional[StrPath] = ...,
    work_dir: Optional[StrPath] = ...,
    index_url: Optional[str] = ...,
) -> List[Result]: ...


def inspect(
    path_or_paths: Union[StrPath, Sequence[StrPath]],
    *,
    jobs: Optional[int] = None,
    target_platform: Optional[Platform] = None,
    target_machine: Optional[Machine] = None,
    no_sandbox: bool = False,
    offline: bool = False,
    no_cache: bool = False,
    prefer_wheel: bool = False,
    timeout: Optional[float] = None,
    memory_limit: Optional[Size] = None,
    max_unpacked_size: Optional[Size] = None,
    max_entries: Optional[int] = None,
    max_compression_ratio: Optional[int] = None,
    max_output: Optional[Size] = None,
    max_scratch: Optional[Size] = None,
    max_open_files: Optional[int] = None,
    max_helper_depth: Optional[int] = None,
    max_helper_builds: Optional[int] = None,
    cache_dir: Optional[StrPath] = None,
    runtime: Optional[StrPath] = None,
    work_dir: Optional[StrPath] = None,
    index_url: Optional[str] = None,
) -> Union[Result, List[Result]]:
    """Inspects one input, or several, and returns the ``sdistill/1`` object(s).

    An input is an sdist, a wheel or a source directory; or, when it is not an existing
    path, a project on the index (``"django==1.11.1"``, ``"django"`` for the newest) or
    an ``https://`` URL, downloaded into the cache and checked against the index's
    sha256 (a URL's ``#sha256=`` fragment) first.

    A single input returns its result dict, or raises the :class:`SdistillError`
    subclass of its ``error.kind``. A sequence returns the list of results in input
    order once all are done, or raises the error of the first failed input (the
    exception's ``results`` holds all of them); use :func:`inspect_batch` to get
    failures as values instead.

    Options mirror ``sdistill inspect``'s flags; ``None`` means the CLI's default
    (``timeout`` 60 s per input, ``memory_limit`` 1 GiB, ``max_unpacked_size`` 1 GiB,
    ``max_entries`` 100,000, ``max_compression_ratio`` 200, ``max_output`` 1 MiB,
    ``max_scratch`` 256 MiB, ``max_open_files`` 256, ``max_helper_depth`` 2 and
    ``max_helper_builds`` 8 for build requirements built from sdists, ``jobs`` the number
    of CPUs).
    Sizes are bytes or text such as ``"512MiB"``. ``prefer_wheel`` is ``--wheel``.
    The environment variables of the CLI (``SDISTILL_CACHE_DIR``, ``SDISTILL_WORK_DIR``,
    ``SDISTILL_RUNTIME``, ``SDISTILL_INDEX_URL``) apply.

    The GIL is released while inspecting.
    """
    single = isinstance(path_or_paths, (str, os.PathLike))
    if isinstance(path_or_paths, (str, os.PathLike)):
        inputs = _paths([path_or_paths])
    else:
        inputs = _paths(path_or_paths)
    options = _options(
        jobs=jobs,
        target_platform=target_platform,
        target_machine=target_machine,
        no_sandbox=no_sandbox,
        offline=offline,
        no_cache=no_cache,
        prefer_wheel=prefer_wheel,
        timeout=timeout,
        memory_limit=memory_limit,
        max_unpacked_size=max_unpacked_size,
        max_entries=max_entries,
        max_compression_ratio=max_compression_ratio,
        max_output=max_output,
        max_scratch=max_scratch,
        max_open_files=max_open_files,
        max_helper_depth=max_helper_depth,
        max_helper_builds=max_helper_builds,
        cache_dir=cache_dir,
        runtime=runtime,
        work_dir=work_dir,
        index_url=index_url,
    )
    results = _run(inputs, options)
    for result in results:
        if result["error"] is not None:
            exc = error_for(result)
            if not single:
                exc.results = results
            raise exc
    return results[0] if single else results


def inspect_batch(
    paths: Sequence[StrPath],
    *,
    jobs: Optional[int] = None,
    target_platform: Optional[Platform] = None,
    target_machine: Optional[Machine] = None,
    no_sandbox: bool = False,
    offline: bool = False,
    no_cache: bool = False,
    prefer_wheel: bool = False,
    timeout: Optional[float] = None,
    memory_limit: Optional[Size] = None,
    max_unpacked_size: Optional[Size] = None,
    max_entries: Optional[int] = None,
    max_compression_ratio: Optional[int] = None,
    max_output: Optional[Size] = None,
    max_scratch: Optional[Size] = None,
    max_open_files: Optional[int] = None,
    max_helper_depth: Optional[int] = None,
    max_helper_builds: Optional[int] = None,
    cache_dir: Optional[StrPath] = None,
    runtime: Optional[StrPath] = None,
    work_dir: Optional[StrPath] = None,
    index_url: Optional[str] = None,
) -> List[Result]:
    """Inspects every input (on ``jobs`` threads) and returns one result per input, in
    input order, never raising for an input: a failure is that result's ``error``
    (``{kind, message, limit, detail}``), exactly as ``sdistill inspect --format json``
    reports it. Options as for :func:`inspect`; a bad option still raises
    ``ValueError``/``TypeError``.
    """
    if isinstance(paths, (str, os.PathLike)):
        raise TypeError("inspect_batch() takes a sequence of inputs; use inspect() for one")
    options = _options(
        jobs=jobs,
        target_platform=target_platform,
        target_machine=target_machine,
        no_sandbox=no_sandbox,
        offline=offline,
        no_cache=no_cache,
        prefer_wheel=prefer_wheel,
        timeout=timeout,
        memory_limit=memory_limit,
        max_unpacked_size=max_unpacked_size,
        max_entries=max_entries,
        max_compression_ratio=max_compression_ratio,
        max_output=max_output,
        max_scratch=max_scratch,
        max_open_files=max_open_files,
        max_helper_depth=max_helper_depth,
        max_helper_builds=max_helper_builds,
        cache_dir=cache_dir,
        runtime=runtime,
        work_dir=work_dir,
        index_url=index_url,
    )
    return _run(_paths(paths), options)
