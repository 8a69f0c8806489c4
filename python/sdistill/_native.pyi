"""Type stubs of the extension module built from src/python/ (feature ``python``)."""

from typing import Callable, List

__version__: str
RUNTIME_LOCK: str
SCHEMA: str

def inspect_json(inputs: List[str], options_json: str) -> str:
    """Inspects inputs with JSON-encoded options; returns the ``sdistill/1`` JSON array.
    Releases the GIL."""

def cli_main(argv: List[str]) -> int:
    """Runs the command line (program name first); returns the exit status."""

def cleanup() -> None:
    """Removes this process's work directories."""

def set_log(callable: Callable[[str, str], object]) -> bool:
    """Sets where progress lines go: ``callable(level, line)``; once per process."""
