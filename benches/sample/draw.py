#!/usr/bin/env python3
"""Draws a seeded sample of real sdists without static metadata from PyPI and writes
benches/sample/manifest.json (benchmark script: host Python only downloads and reads
files here; nothing from an sdist is imported, built or run).

Usage:
  python3 benches/sample/draw.py [--seed 15] [--per-era 100] [--max-mib 20]

How the sample is drawn (deterministic for a given seed and index state):
  * projects: benches/sample/seeds.txt (the 5,000 most downloaded projects), shuffled
    with the seed and visited in that order, each project used at most once;
  * eras: every sdist is assigned to the era of its upload time (2010-2014, 2015-2018,
    2019-2022); a project goes to the era, among those it has sdists in, that is furthest
    from its quota, and one release of that era is drawn with the seed;
  * kept: only sdists whose metadata must be computed by build code: PKG-INFO
    Metadata-Version < 2.2, or >= 2.2 with Requires-Dist or Version in `Dynamic`, and a
    setup.py and/or setup.cfg that carries it: category `a` (setup.py only), `b`
    (setup.cfg [metadata]/[options] with a setup.py), `c` (a pyproject.toml that only
    declares [build-system] for setuptools — no [project] table, no other backend).
    Up to three releases of a project are tried before the project is skipped.
  * the file is downloaded (sha256 checked against the index) into target/sample/files/
    and classified by reading its member names, PKG-INFO, setup.cfg and pyproject.toml.

Index answers are cached under target/sample/index/ so that a rerun asks the index
nothing new; the manifest (committed) pins every file by sha256.
"""
import argparse
import configparser
import hashlib
import io
import json
import os
import random
import shutil
import sys
import tarfile
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from email.parser import HeaderParser

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(ROOT, "target", "sample")
INDEX = "https://pypi.org/simple"
JSON_API = "https://pypi.org/pypi/{}/json"
ERAS = [("2010-2014", 2010, 2014), ("2015-2018", 2015, 2018), ("2019-2022", 2019, 2022)]
SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".zip")
USER_AGENT = "sdistill-benches-sample/1 (benchmark sample selection)"


def load_seeds(path):
    """Project names from seeds.txt (`rank<TAB>name` lines, `#` comments)."""
    names = []
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                names.append(line.rstrip("\n").split("\t")[1])
    return names


def http_get(url, timeout=60):
    """GET with one retry; returns bytes, or None on 404."""
    for attempt in range(2):
        try:
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            if attempt:
                raise
        except (urllib.error.URLError, TimeoutError):
            if attempt:
                raise
        time.sleep(2)


def project_json(name):
    """The index's JSON description of a project, cached under target/sample/index/."""
    path = os.path.join(CACHE, "index", name.lower() + ".json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    body = http_get(JSON_API.format(urllib.parse.quote(name)))
    data = json.loads(body) if body else None
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".part", "w") as f:
        json.dump(data, f)
    os.replace(path + ".part", path)
    return data


def era_of(upload_time):
    """The era label of an ISO upload time, or None outside every era."""
    year = int(upload_time[:4])
    for label, first, last in ERAS:
        if first <= year <= last:
            return label
    return None


def sdists_by_era(data, max_bytes):
    """{era: [(version, file)]} of the project's usable sdists, oldest first: not yanked,
    a known archive suffix, at most max_bytes, one file per release (the first by name)."""
    eras = {}
    for version, files in sorted(data.get("releases", {}).items()):
        sdists = sorted((f for f in files if f.get("packagetype") == "sdist"
                         and not f.get("yanked")
                         and f["filename"].lower().endswith(SUFFIXES)
                         and f.get("size", 0) <= max_bytes
                         and f.get("digests", {}).get("sha256")),
                        key=lambda f: f["filename"])
        if not sdists:
            continue
        era = era_of(sdists[0]["upload_time"])
        if era:
            eras.setdefault(era, []).append((version, sdists[0]))
    for items in eras.values():
        items.sort(key=lambda vf: vf[1]["upload_time"])
    return eras


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(url, filename, sha256, cache_dir):
    """Downloads url into cache_dir/filename unless a file with that sha256 is there;
    refuses a file whose sha256 differs from the index's."""
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, filename)
    if os.path.exists(path) and sha256_file(path) == sha256:
        return path
    tmp = path + ".part"
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(req, timeout=300) as resp, open(tmp, "wb") as out:
        shutil.copyfileobj(resp, out)
    if sha256_file(tmp) != sha256:
        os.unlink(tmp)
        raise RuntimeError("sha256 mismatch for " + filename)
    os.replace(tmp, path)
    return path


def top_level_files(path, wanted=("PKG-INFO", "setup.py", "setup.cfg", "pyproject.toml")):
    """{name: bytes} of the wanted files directly under the archive's top directory
    (read, never extracted; at most 1 MiB each)."""
    found = {}
    if path.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                parts = info.filename.strip("/").split("/")
                if len(parts) == 2 and parts[1] in wanted and parts[1] not in found:
                    found[parts[1]] = z.read(info)[: 1 << 20]
        return found
    with tarfile.open(path) as t:
        for member in t:
            parts = member.name.strip("/").lstrip("./").split("/")
            if len(parts) == 2 and parts[1] in wanted and parts[1] not in found and member.isfile():
                found[parts[1]] = t.extractfile(member).read(1 << 20)
    return found


def has_static_metadata(pkg_info):
    """True when PKG-INFO is Metadata-Version >= 2.2 with Version and Requires-Dist not
    Dynamic (metadata a tool may take as it is, without running the build)."""
    if pkg_info is None:
        return False
    headers = HeaderParser().parsestr(pkg_info.decode("utf-8", "replace"))
    try:
        major, minor = (int(x) for x in (headers.get("Metadata-Version") or "1.0").split(".")[:2])
    except ValueError:
        return False
    if (major, minor) < (2, 2):
        return False
    dynamic = {d.strip().lower() for d in headers.get_all("Dynamic") or []}
    return not ({"version", "requires-dist"} & dynamic)


def classify(path):
    """(category, None) for a sample-worthy sdist, else (None, why not)."""
    try:
        files = top_level_files(path)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as e:
        return None, f"unreadable archive ({e.__class__.__name__})"
    if has_static_metadata(files.get("PKG-INFO")):
        return None, "static metadata (Metadata-Version >= 2.2)"
    if "pyproject.toml" in files:
        try:
            pyproject = tomllib.loads(files["pyproject.toml"].decode("utf-8", "replace"))
        except tomllib.TOMLDecodeError:
            return None, "unparsable pyproject.toml"
        if "project" in pyproject:
            return None, "pyproject.toml [project] table"
        backend = pyproject.get("build-system", {}).get("build-backend", "setuptools.build_meta")
        if not backend.startswith("setuptools.build_meta"):
            return None, f"build backend {backend}"
        if "setup.py" not in files and "setup.cfg" not in files:
            return None, "no setup.py or setup.cfg"
        return "c", None
    if "setup.py" not in files:
        return None, "no setup.py"
    if "setup.cfg" in files:
        cfg = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            cfg.read_string(files["setup.cfg"].decode("utf-8", "replace"))
            declarative = (cfg.has_option("metadata", "name") or cfg.has_option("metadata", "version")
                           or cfg.has_option("options", "install_requires"))
        except configparser.Error:
            declarative = False
        if declarative:
            return "b", None
    return "a", None


def file_url(f):
    """The file's address on files.pythonhosted.org (derived from its blake2b digest, as the
    index lays files out), since this index's JSON may give addresses relative to itself."""
    b2 = f.get("digests", {}).get("blake2b_256")
    if b2:
        return f"https://files.pythonhosted.org/packages/{b2[:2]}/{b2[2:4]}/{b2[4:]}/{f['filename']}"
    return urllib.parse.urljoin("https://pypi.org/pypi/x/json", f["url"])


def manifest_entry(data, version, f, category, era):
    """One manifest record in ../shared/corpus/manifest.json's format (plus the era)."""
    return {"name": data["info"]["name"], "version": version, "filename": f["filename"],
            "sha256": f["digests"]["sha256"], "size": f["size"], "url": file_url(f),
            "category": category, "era": era, "uploaded": f["upload_time"][:10]}


def pick_era(available, counts, quota):
    """The era among `available` furthest from its quota, or None when all are full."""
    open_eras = [e for e in available if counts[e] < quota]
    if not open_eras:
        return None
    return min(open_eras, key=lambda e: (counts[e], [x[0] for x in ERAS].index(e)))


def select(names, rng, quota, max_bytes, max_projects, log):
    """Visits projects in seeded order until every era has `quota` sdists (or
    max_projects were visited); returns the manifest records and a tally of why
    candidates were skipped."""
    counts = {label: 0 for label, _, _ in ERAS}
    chosen, skipped, visited = [], {}, 0
    for name in names:
        if all(c >= quota for c in counts.values()) or visited >= max_projects:
            break
        visited += 1
        data = project_json(name)
        if not data:
            skipped["not on the index"] = skipped.get("not on the index", 0) + 1
            continue
        eras = sdists_by_era(data, max_bytes)
        era = pick_era([e for e in counts if e in eras], counts, quota)
        if era is None:
            skipped["no sdist in an open era"] = skipped.get("no sdist in an open era", 0) + 1
            continue
        candidates = list(eras[era])
        rng.shuffle(candidates)
        for version, f in candidates[:3]:
            path = fetch(file_url(f), f["filename"], f["digests"]["sha256"], os.path.join(CACHE, "files"))
            category, why = classify(path)
            if category:
                chosen.append(manifest_entry(data, version, f, category, era))
                counts[era] += 1
                log(f"{sum(counts.values()):4d} {era} [{category}] {f['filename']}")
                break
            skipped[why] = skipped.get(why, 0) + 1
    return chosen, skipped, visited, counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--per-era", type=int, default=100)
    ap.add_argument("--max-mib", type=int, default=20)
    ap.add_argument("--max-projects", type=int, default=1500,
                    help="stop after asking the index about this many projects")
    ap.add_argument("--seeds", default=os.path.join(HERE, "seeds.txt"))
    ap.add_argument("--out", default=os.path.join(HERE, "manifest.json"))
    args = ap.parse_args()

    names = load_seeds(args.seeds)
    rng = random.Random(args.seed)
    rng.shuffle(names)
    chosen, skipped, visited, counts = select(
        names, rng, args.per_era, args.max_mib << 20, args.max_projects, lambda s: print(s, flush=True))
    manifest = {
        "index": INDEX,
        "selection": {
            "seed": args.seed, "per_era": args.per_era, "max_mib": args.max_mib,
            "eras": [label for label, _, _ in ERAS], "projects_visited": visited,
            "by_era": counts, "skipped": dict(sorted(skipped.items())),
            "drawn_from": "benches/sample/seeds.txt",
        },
        "sdists": chosen,
    }
    with open(args.out, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    cats = {}
    for e in chosen:
        cats[e["category"]] = cats.get(e["category"], 0) + 1
    print(f"{len(chosen)} sdists from {visited} projects; by era {counts}; by category {cats}; "
          f"skipped {skipped}", file=sys.stderr)


if __name__ == "__main__":
    main()
