#!/usr/bin/env python3
"""Does `sdistill.inspect` release the GIL? Two Python threads vs one, on setup.py sdists.

Each thread calls `sdistill.inspect(path, no_cache=True)` on K setup.py-only sdists, one
after another (every answer comes from running setup.py in the sandbox). If the GIL were
held during the call, two threads would take about twice as long as one; released, on a
machine with two free cores, about as long as one.

    pip install .            # or a built wheel
    python benches/gil.py [K] [--corpus DIR]

Without --corpus the sdists are generated (setup.py-only, no dependencies; each thread
gets its own K, alike). With --corpus DIR, both threads inspect the same first K
`*.tar.gz`/`*.zip` files there (in name order; no cache, so each computes), e.g.
the real sdists benches/corpus.py downloads into target/corpus (a failing one counts
like any other: it still runs its build).
Prints the median of 3 rounds for each configuration.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import List

import sdistill


def make_sdists(directory: Path, count: int) -> List[Path]:
    paths = []
    for i in range(count):
        top = f"toy{i}-1.0"
        setup = (
            "from setuptools import setup\n"
            f"setup(name='toy{i}', version='1.0', install_requires=['six>=1.{i}'],"
            " packages=[])\n"
        )
        path = directory / f"{top}.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for name, text in {
                f"{top}/PKG-INFO": f"Metadata-Version: 1.0\nName: toy{i}\nVersion: 1.0\n",
                f"{top}/setup.py": setup,
            }.items():
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        paths.append(path)
    return paths


def run_threads(groups: List[List[Path]]) -> float:
    errors: List[BaseException] = []

    def work(paths: List[Path]) -> None:
        try:
            # inspect_batch: a failing sdist of a corpus is timed like the others.
            for p in paths:
                sdistill.inspect_batch([p], no_cache=True)
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(g,)) for g in groups]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("k", nargs="?", type=int, default=8, help="sdists per thread")
    parser.add_argument("--corpus", type=Path, help="use the setup.py sdists in DIR")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.corpus:
            pool = sorted(
                p for p in args.corpus.iterdir() if p.name.endswith((".tar.gz", ".zip"))
            )
            # Both threads get the same files: equal work by construction.
            a, b = pool[: args.k], pool[: args.k]
        else:
            paths = make_sdists(Path(tmp), 2 * args.k)
            a, b = paths[: args.k], paths[args.k :]
        run_threads([a[:1]])  # load the sandbox once, outside the measurement
        one = [run_threads([a]) for _ in range(3)]
        two = [run_threads([a, b]) for _ in range(3)]
        t1, t2 = statistics.median(one), statistics.median(two)
        print(f"sdistill {sdistill.__version__}; {args.k} setup.py sdists per thread, no cache")
        print(f"one thread,  {len(a)} sdists:          {t1:6.2f} s  (rounds: {', '.join(f'{x:.2f}' for x in one)})")
        print(f"two threads, {len(a)} + {len(b)} sdists:     {t2:6.2f} s  (rounds: {', '.join(f'{x:.2f}' for x in two)})")
        print(f"two threads / one thread: {t2 / t1:.2f}  (2.0 = serialized by the GIL, 1.0 = fully parallel)")


if __name__ == "__main__":
    main()
