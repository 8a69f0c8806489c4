#!/usr/bin/env python3
"""A universal lock filtered to each environment of its matrix equals the single-platform
lock for that environment, on real requirement sets (issue 17's held-out check).

For each requirement set: `sdistill lock --universal --python-version A --python-version B`,
then for every platform x Python of that matrix a single-platform `sdistill lock
--platform P --python-version V`, and the universal lock's lines whose markers hold there
(evaluated by pip's vendored `packaging`, with the marker values that platform really has)
are compared pin for pin. Nothing is built or run on the host: host Python only runs
sdistill and evaluates markers.

With `--uv PATH`, each environment is also locked with `uv pip compile --python-platform`
(uv resolves for the platform without building anything when every pin has a wheel or
static metadata) and its pins are compared with the same filtered lock.

Usage: python3 benches/universal_filter.py [--binary PATH] [--python 3.10 --python 3.13]
                                            [--runtime DIR] [--uv PATH] REQUIREMENT...
"""
import argparse
import os
import subprocess
import sys

from pip._vendor.packaging.requirements import Requirement

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLATFORMS = {
    "linux-x86_64": ("linux", "Linux", "posix", "x86_64"),
    "linux-aarch64": ("linux", "Linux", "posix", "aarch64"),
    "macos-x86_64": ("darwin", "Darwin", "posix", "x86_64"),
    "macos-arm64": ("darwin", "Darwin", "posix", "arm64"),
    "windows-x86_64": ("win32", "Windows", "nt", "AMD64"),
    "windows-arm64": ("win32", "Windows", "nt", "ARM64"),
}
UV_TRIPLES = {
    "linux-x86_64": "x86_64-unknown-linux-gnu",
    "linux-aarch64": "aarch64-unknown-linux-gnu",
    "macos-x86_64": "x86_64-apple-darwin",
    "macos-arm64": "aarch64-apple-darwin",
    "windows-x86_64": "x86_64-pc-windows-msvc",
    "windows-arm64": "aarch64-pc-windows-msvc",
}


def pins(text, env):
    out = {}
    for line in text.splitlines():
        if not line or line[0] in " #-":
            continue
        req = Requirement(line.rstrip("\\").strip())
        if req.marker is None or req.marker.evaluate(env):
            if req.name.lower() in out:
                sys.exit(f"{req.name} twice for {env}")
            out[req.name.lower()] = str(req.specifier)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "sdistill"))
    ap.add_argument("--python", action="append")
    ap.add_argument("--runtime")
    ap.add_argument("--uv", help="also compare with uv pip compile --python-platform")
    ap.add_argument("requirements", nargs="+")
    args = ap.parse_args()
    pythons = args.python or ["3.10", "3.13"]
    extra = ["--runtime", args.runtime] if args.runtime else []

    def lock(flags):
        p = subprocess.run([args.binary, "lock", *extra, *flags, *args.requirements, "-o", "-", "-q"],
                           capture_output=True, text=True)
        if p.returncode:
            sys.exit(p.stderr)
        return p.stdout

    universal = lock(["--universal"] + [a for py in pythons for a in ("--python-version", py)])
    bad, uv_bad = 0, 0
    for plat, (sys_platform, system, os_name, machine) in PLATFORMS.items():
        for py in pythons:
            env = dict(sys_platform=sys_platform, platform_system=system, os_name=os_name,
                       platform_machine=machine, python_version=py, python_full_version=py + ".0",
                       implementation_name="cpython", platform_python_implementation="CPython",
                       platform_release="", platform_version="", implementation_version=py + ".0")
            alone = pins(lock(["--platform", plat, "--python-version", py]), env)
            got = pins(universal, env)
            bad += got != alone
            print(f"{plat:16}{py:6}{len(got):4d} pins  {'same' if got == alone else 'DIFFER'}", flush=True)
            for k in sorted(set(got) | set(alone)):
                if got.get(k) != alone.get(k):
                    print(f"    {k}: universal {got.get(k)} vs alone {alone.get(k)}")
            if args.uv:
                p = subprocess.run([args.uv, "pip", "compile", "--quiet", "--no-header", "--python-version", py,
                                    "--python-platform", UV_TRIPLES[plat], "-"],
                                   input="\n".join(args.requirements) + "\n", capture_output=True, text=True,
                                   env=dict(os.environ, UV_PYTHON_DOWNLOADS="never"))
                if p.returncode:
                    print(f"    uv failed: {p.stderr.strip().splitlines()[-1:]}")
                    uv_bad += 1
                    continue
                by_uv = pins(p.stdout, env)
                uv_bad += by_uv != got
                print(f"    uv --python-platform {UV_TRIPLES[plat]}: {'same' if by_uv == got else 'differs'}")
                for k in sorted(set(got) | set(by_uv)):
                    if got.get(k) != by_uv.get(k):
                        print(f"      {k}: sdistill {got.get(k)} vs uv {by_uv.get(k)}")
    print(f"environments whose filtered universal lock differs from their own lock: {bad} of "
          f"{len(PLATFORMS) * len(pythons)}")
    if args.uv:
        print(f"environments where uv --python-platform pins otherwise: {uv_bad} of {len(PLATFORMS) * len(pythons)}")


if __name__ == "__main__":
    main()
