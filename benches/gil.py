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
Prints the median of --rounds rounds (default 5) for each configuration, and a control:
the same 2K inspections as one `inspect_batch(..., jobs=2)` call, which runs two Rust
threads with no Python thread involved. Two Python threads close to the control means
the GIL costs nothing; the control's own distance from 1.0 is the machine (other load,
memory bandwidth), not the GIL.
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


def run_batch(paths: List[Path]) -> float:
    started = time.perf_counter()
    sdistill.inspect_batch(paths, no_cache=True, jobs=2)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("k", nargs="?", type=int, default=8, help="sdists per thread")
    parser.add_argument("--corpus", type=Path, help="use the setup.py sdists in DIR")
    parser.add_argument("--rounds", type=int, default=5)
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
        # Rounds interleave the configurations, so a busy machine slows all alike.
        one, two, rust = [], [], []
        for _ in range(args.rounds):
            one.append(run_threads([a]))
            two.append(run_threads([a, b]))
            rust.append(run_batch(a + b))
        t1, t2, tr = (statistics.median(x) for x in (one, two, rust))
        rounds = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
        print(f"sdistill {sdistill.__version__}; {args.k} setup.py sdists per thread, no cache, "
              f"median of {args.rounds} rounds")
        print(f"one Python thread,  {len(a)} sdists:              {t1:6.2f} s  ({rounds(one)})")
        print(f"two Python threads, {len(a)} + {len(b)} sdists:         {t2:6.2f} s  ({rounds(two)})")
        print(f"control: one call, jobs=2 (Rust threads), {len(a) + len(b)} sdists: {tr:6.2f} s  ({rounds(rust)})")
        print(f"two Python threads / one: {t2 / t1:.2f}  (2.0 = serialized by the GIL, 1.0 = fully parallel)")
        print(f"control (no Python threads) / one: {tr / t1:.2f}  (what the machine allows)")


if __name__ == "__main__":
    main()
