"""The ``sdistill`` command (console script) and ``python -m sdistill``.

Runs the Rust command line in this process through the extension module: the same
parser, output and exit codes as a ``cargo install``-ed binary, with no second copy of
the engine in the wheel. The program name is always ``sdistill`` (what ``--help`` and a
lock file's header show), whatever launched it.
"""

from __future__ import annotations

import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """Runs ``sdistill`` with ``argv`` (default: the process's arguments); returns the
    exit status. As a console script its return value becomes the process's."""
    from . import _native

    args = sys.argv[1:] if argv is None else argv
    # Whatever Python buffered must reach the terminal before Rust writes to the same fds.
    sys.stdout.flush()
    sys.stderr.flush()
    return _native.cli_main(["sdistill", *args])


if __name__ == "__main__":
    sys.exit(main())
