#!/usr/bin/env python3
"""Accuracy and speed harness over a corpus of real sdists with pip's answers (benchmark
script: host Python is used here only to download files, time processes and compare JSON;
it never imports, builds or runs any package from the corpus).

Usage:
  python3 benches/corpus.py [--corpus DIR] [--categories abc] [--jobs 2] [--per-sdist]
                            [--cold] [--binary target/release/sdistill] [--limit N]
                            [--json-out FILE] [--reuse FILE]
                            [--behaviour] [--observe] [--compare BASE_BINARY] [--reps N]

--corpus DIR is a directory with manifest.json and truth.json in ../shared/corpus's
formats: ../shared/corpus (the default; cached under target/corpus/) or benches/sample
(the larger drawn sample; cached under target/sample/files/). Every listed sdist is
downloaded sha256-checked, `sdistill inspect` runs over them in one batch, and Version,
Requires-Python and the Requires-Dist set are compared with what pip computed. Prints:
exact agreement, answers that agree but carry warnings, flagged differences (answered,
warned, differs), silent differences (answered, no warning, differs: the worst kind),
failures by error kind and by cause, the three biggest causes of not agreeing, batch
throughput and peak memory; with --per-sdist also the median/p90 wall time of one
`inspect` process per sdist; with --cold the first-run cost (module compile) on an empty
compiled-module cache.

--behaviour prints the behaviour report over the corpus: verdict counts, every `notice`
kind seen (category/action and the rule's reason), and every `suspicious` event with its
sdist. --observe adds `--observe` to the batch. --compare BASE_BINARY times, in the same
run, one `inspect` process per sandboxed sdist with BASE_BINARY (another build: main's,
or one without the observer) and with --binary, interleaved, --reps times each; it prints
the median of the per-sdist ratios and, separately, what `--observe` costs.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "corpus")

# Causes of not agreeing with pip, first match wins; tried on the exception line of a
# failure, then on its whole message and guest traceback tail, and on the warnings of a
# flagged answer. Order matters: specific first.
PY2_MODULES = r"httplib|urllib2|urlparse|ConfigParser|StringIO|cStringIO|commands|Queue|__builtin__|exceptions"
WASI_ABSENT = r"_?ctypes|_?ssl|_?multiprocessing|_?socket|select|_posixsubprocess|termios|fcntl|readline|_?curses|_?sqlite3|_?tkinter|pwd|grp|resource"
NOISE = "index files refused (eggs, non-PEP 440 versions): noise"
CAUSES = [
    (NOISE, r"refused the index's file"),
    ("numpy at setup time", r"No module named '?numpy|numpy\.distutils|NumPy|`numpy"),
    ("Cython at setup time", r"No module named '?Cython|Cython|\.pyx\b|`cython"),
    ("2to3 at setup time", r"2to3"),
    ("compiler or library probe", r"compiler|\bgcc\b|distutils\.ccompiler|CCompiler|pkg-config|"
     r"libffi|\.h: No such file|CompileError|LinkError"),
    ("subprocess at setup time (no processes in the sandbox)", r"no processes in the sdistill sandbox|"
     r"exit(ed)? 127|: not found"),
    # The driver's ctypes/ssl stand-ins (flagged answers): before the generic "stand-in".
    ("stdlib module absent in the WASI guest", r"\b(ctypes|ssl) stand-in"),
    ("setup-time helper missing (stand-in, version 0.0.0)", r"0\.0\.0|setuptools_scm|setuptools-scm|\bpbr\b|"
     r"versioneer|vcversioner|setuptools_git|stand-in|setup_requires could not be provided|not PEP 508; not provided"),
    ("inconsistent metadata", r"inconsistent metadata"),
    ("non-PEP 440/508 data", r"PEP 440|PEP 508|InvalidVersion|InvalidRequirement"),
    ("compatibility shim used", r"^compatibility:"),
    ("setuptools refused to write metadata (setup() arguments reported)", r"setuptools could not write metadata"),
    ("stdlib API removed since CPython 3.7", r"linux_distribution|readPlist|invalid mode: 'U'|getargspec|"
     r"SafeConfigParser|cannot import name '\w+' from 'collections'|'collections' has no attribute|"
     r"No module named 'imp'|has no attribute 'coroutine'|No module named 'distutils'|"
     r"No module named 'asynchat'|No module named 'asyncore'|No module named 'pipes'"),
    ("Python 2 only code", r"SyntaxError|iteritems|itervalues|execfile|name 'reload'|name 'unicode'|"
     r"name 'basestring'|name 'long'|name 'file'|has_key|"
     r"No module named '(" + PY2_MODULES + r")'"),
    ("stdlib module absent in the WASI guest", r"No module named '(" + WASI_ABSENT + r")'"),
    ("undeclared import at setup time", r"No module named|ImportError|cannot import name"),
    ("file missing from the sdist", r"FileNotFoundError|No such file or directory|Missing package files"),
    ("reads outside the sdist", r"Operation not permitted: '/sdist/\.\./|PermissionError"),
    ("setup.cfg/pyproject only, no setup.py", r"no setup\.py; ran setuptools"),
    ("limit", r"\blimit\b|timed out|timeout"),
]


def cause_of(*texts):
    """The first CAUSES entry matching the first text that any entry matches, else `other`."""
    for text in texts:
        for cause, pattern in CAUSES:
            if re.search(pattern, text or ""):
                return cause
    return "other"


try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip vendors packaging
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name


def norm_req(text):
    """A requirement as packaging prints it, project name per PEP 503, extra names in
    markers per PEP 685 (pip compares `extra == "a.b"` and `extra == "a-b"` as one extra)."""
    try:
        r = Requirement(text)
    except Exception:
        return "INVALID:" + text.strip()
    r.name = canonicalize_name(r.name)
    text = str(r)
    # `(a and b) and c` == `a and b and c`: drop parentheses of and-only markers so that
    # setuptools versions that parenthesize differently compare equal.
    if ";" in text:
        head, marker = text.split(";", 1)
        if " or " not in marker:
            marker = marker.replace("(", "").replace(")", "")
        marker = re.sub(r"""extra == (["'])(.*?)\1""",
                        lambda m: f'extra == "{canonicalize_name(m.group(2))}"', marker)
        text = head + ";" + marker
    return text


def norm_reqs(reqs):
    return sorted({norm_req(r) for r in (reqs or [])})


def cause_of_warnings(warnings):
    """The most significant cause among an answer's warnings (CAUSES order; the index's
    refused files, which say nothing about the answer, only when nothing else is there)."""
    causes = {cause_of(w) for w in warnings}
    order = [c for c, _ in CAUSES if c != NOISE] + ["other", NOISE]
    return min(causes, key=order.index)


def cache_dir(corpus):
    """Where a corpus's sdists are cached: target/corpus for ../shared/corpus, else
    target/<corpus dir name>/files (benches/sample -> target/sample/files)."""
    if os.path.realpath(corpus) == os.path.realpath(SHARED):
        return os.path.join(ROOT, "target", "corpus")
    return os.path.join(ROOT, "target", os.path.basename(os.path.normpath(corpus)), "files")


def fetch(entry, cache):
    """The sdist's path in cache, downloaded and sha256-checked when missing."""
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, entry["filename"])
    if os.path.exists(path) and sha256(path) == entry["sha256"]:
        return path
    tmp = path + ".part"
    with urllib.request.urlopen(entry["url"], timeout=120) as resp, open(tmp, "wb") as out:
        shutil.copyfileobj(resp, out)
    if sha256(tmp) != entry["sha256"]:
        os.unlink(tmp)
        raise SystemExit("sha256 mismatch for " + entry["filename"])
    os.replace(tmp, path)
    return path


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_measured(cmd, env=None):
    """Runs cmd; returns (stdout, wall seconds, peak RSS MiB). Peak RSS comes from GNU time
    (`/usr/bin/time -f %M`), because a child's ru_maxrss also counts the forking parent."""
    timed = ["/usr/bin/time", "-f", "%M"] + cmd if os.path.exists("/usr/bin/time") else cmd
    start = time.perf_counter()
    proc = subprocess.run(timed, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - start
    rss = float("nan")
    if timed is not cmd:
        try:
            rss = int(proc.stderr.decode().strip().splitlines()[-1]) / 1024.0
        except (ValueError, IndexError):
            pass
    return proc.stdout, wall, rss


def pct(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, int(round(q * (len(values) - 1)))))
    return values[k]


def compare(res, t):
    """Differences between sdistill's answer and pip's (empty when they agree)."""
    diffs = []
    if res["version"] != t["Version"]:
        diffs.append(f"version {res['version']} != {t['Version']}")
    if (res["requires_python"] or None) != (t["Requires-Python"] or None):
        diffs.append(f"requires_python {res['requires_python']} != {t['Requires-Python']}")
    ours, theirs = norm_reqs(res["requires_dist"]), norm_reqs(t["Requires-Dist"])
    if ours != theirs:
        diffs.append(f"requires_dist +{sorted(set(ours) - set(theirs))} -{sorted(set(theirs) - set(ours))}")
    return diffs


def error_text(res):
    """An error's message and guest traceback tail, for finding its cause."""
    err = res["error"]
    detail = err.get("detail")
    if not isinstance(detail, str):
        detail = json.dumps(detail) if detail else ""
    return err["message"] + "\n" + detail


def error_line(res, width=200):
    """The most telling line of an error: the last line of the guest traceback that names an
    exception, else the message."""
    text = error_text(res)
    lines = [l.strip() for l in text.splitlines() if re.search(r"(Error|Exception|error:)", l)]
    line = lines[-1] if lines else res["error"]["message"]
    return line.replace("\n", " ")[:width]


def classify(entries, results, truth):
    """Sorts each (entry, result) into one outcome; returns {outcome: [record]}. Outcomes:
    agree, agree-flagged, flagged-difference, silent-difference, failed (pip built it),
    both-failed, answered-pip-failed, no-truth."""
    out = {}
    for entry, res in zip(entries, results):
        t = truth.get(entry["sha256"]) or {}
        has_truth = t.get("status", "").startswith("ok")
        rec = {"label": f"{entry['name']} {entry['version']} [{entry['category']}]",
               "filename": entry["filename"], "res": res, "truth": t,
               "category": entry["category"], "era": entry.get("era"), "pip": t.get("status")}
        if res["error"]:
            rec["kind"] = res["error"]["kind"]
            rec["cause"] = cause_of(error_line(res), res["error"]["message"], error_text(res))
            outcome = "failed" if has_truth else ("both-failed" if t else "no-truth")
        elif not t:
            outcome = "no-truth"
        elif not has_truth:
            outcome = "answered-pip-failed"
        else:
            rec["diffs"] = compare(res, t)
            flagged = bool(res["warnings"])
            if flagged:
                rec["cause"] = cause_of_warnings(res["warnings"])
            if not rec["diffs"]:
                outcome = "agree-flagged" if flagged else "agree"
            else:
                outcome = "flagged-difference" if flagged else "silent-difference"
                rec.setdefault("cause", "silent difference")
        out.setdefault(outcome, []).append(rec)
    return out


def tally(records, key):
    counts = {}
    for r in records:
        counts[r[key]] = counts.get(r[key], 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def print_breakdown(outcomes):
    """Agreement per category, per era (where the manifest has them) and per kind of pip
    answer (CPython 3.11, or the 3.7 fallbacks)."""
    judged = [r for k in ("agree", "agree-flagged", "flagged-difference", "silent-difference", "failed")
              for r in outcomes.get(k, [])]
    for key in ("category", "era", "pip"):
        groups = sorted({r[key] for r in judged if r[key]})
        if not groups:
            continue
        parts = []
        for g in groups:
            rs = [r for r in judged if r[key] == g]
            ok = sum(1 for r in rs if not r.get("diffs") and "kind" not in r)
            parts.append(f"{g}: {ok}/{len(rs)}")
        print(f"agreement by {key}: " + ", ".join(parts))


def print_report(outcomes, results):
    """Prints agreement, flagged, silent differences, failures by kind and cause, and the
    three biggest causes of not agreeing with pip."""
    n = lambda k: len(outcomes.get(k, []))
    agree = n("agree") + n("agree-flagged")
    with_truth = agree + n("flagged-difference") + n("silent-difference") + n("failed")
    pct_ = 100.0 * agree / with_truth if with_truth else float("nan")
    print(f"agreement with pip: {agree}/{with_truth} sdists that pip could build ({pct_:.1f} %); "
          f"{n('agree-flagged')} of them answered with warnings")
    print(f"  flagged differences (answered, warned, differs): {n('flagged-difference')}")
    print(f"  SILENT differences (answered, no warning, differs): {n('silent-difference')}")
    print(f"  failed where pip built it: {n('failed')}")
    print(f"pip could not build {n('both-failed') + n('answered-pip-failed')}: sdistill failed too on "
          f"{n('both-failed')}, answered {n('answered-pip-failed')} "
          f"({sum(1 for r in outcomes.get('answered-pip-failed', []) if r['res']['warnings'])} flagged)"
          + (f"; {n('no-truth')} without truth" if n("no-truth") else ""))
    methods = {}
    for r in results:
        methods[r["method"] or "error"] = methods.get(r["method"] or "error", 0) + 1
    print("methods:", methods)
    answered = [r for k in ("agree", "agree-flagged", "flagged-difference", "silent-difference",
                            "answered-pip-failed") for r in outcomes.get(k, [])]
    flagged = [r for r in answered if r["res"]["warnings"]]
    print(f"answered: {len(answered)}, of them flagged (non-empty warnings): {len(flagged)}; "
          f"warnings by cause: {tally(flagged, 'cause')}")

    for kind in ("silent-difference", "flagged-difference"):
        for r in outcomes.get(kind, []):
            tag = "SILENT" if kind == "silent-difference" else "FLAGGED"
            print(f"  DIFF {tag} {r['label']} via {r['res']['method']} ({r['truth']['status']}): "
                  f"{'; '.join(d[:300] for d in r['diffs'])}" + (f" | {r['res']['warnings'][0][:160]}" if r["res"]["warnings"] else ""))

    failures = outcomes.get("failed", []) + outcomes.get("both-failed", []) + outcomes.get("no-truth", [])
    failures = [r for r in failures if "kind" in r]
    print(f"failures: {len(failures)} ({n('failed')} where pip built it)")
    print(f"  by kind: {tally(failures, 'kind')}")
    print(f"  by cause: {tally(failures, 'cause')}")
    print(f"  by cause, where pip built it: {tally(outcomes.get('failed', []), 'cause')}")
    for cause, _ in tally(failures, "cause"):
        print(f"  FAIL cause: {cause}")
        for r in failures:
            if r["cause"] == cause:
                print(f"    {r['label']} {r['kind']} (pip: {r['truth'].get('status')}): {error_line(r['res'])}")

    print_breakdown(outcomes)
    remaining = outcomes.get("failed", []) + outcomes.get("flagged-difference", []) + outcomes.get("silent-difference", [])
    ranked = tally(remaining, "cause")
    top = [(c, k) for c, k in ranked if len(ranked) <= 3 or k >= ranked[2][1]]
    print("three biggest causes of not agreeing with pip (where pip built the sdist; ties included):")
    for cause, count in top:
        examples = [r["label"] for r in remaining if r["cause"] == cause][:3]
        print(f"  {cause}: {count} (e.g. {', '.join(examples)})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=SHARED, help="directory with manifest.json and truth.json")
    ap.add_argument("--categories", default="abc")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "sdistill"))
    ap.add_argument("--per-sdist", action="store_true")
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--json-out", help="write sdistill's answers (JSON array) here")
    ap.add_argument("--reuse", help="compare the answers of an earlier --json-out instead of running sdistill")
    ap.add_argument("--behaviour", action="store_true")
    ap.add_argument("--observe", action="store_true")
    ap.add_argument("--compare", metavar="BASE_BINARY")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()

    manifest = json.load(open(os.path.join(args.corpus, "manifest.json")))
    truth = {t["sha256"]: t for t in json.load(open(os.path.join(args.corpus, "truth.json")))}
    entries = [e for e in manifest["sdists"] if e["category"] in args.categories]
    if args.limit:
        entries = entries[: args.limit]
    cache = cache_dir(args.corpus)
    paths = [fetch(e, cache) for e in entries]
    print(f"{len(paths)} sdists of {os.path.relpath(args.corpus, ROOT)} (categories {args.categories}), "
          f"jobs={args.jobs}, binary={args.binary}")

    if args.reuse:
        with open(args.reuse) as f:
            results = json.load(f)
        if len(results) != len(entries) or any((r["source"] or {}).get("sha256") not in (None, e["sha256"])
                                               for r, e in zip(results, entries)):
            raise SystemExit(f"{args.reuse} does not answer these sdists")
        print(f"answers read from {args.reuse} (not timed)")
    else:
        # Not --offline: build requirements are fetched (hash-checked) and cached on first use.
        out, wall, rss = run_measured([args.binary, "inspect", "--no-cache", "--format", "json",
                                       "-j", str(args.jobs)]
                                      + (["--observe"] if args.observe else []) + paths)
        results = json.loads(out)
        print(f"batch: {wall:.1f} s wall, {len(paths) / wall:.2f} sdists/s, peak RSS {rss:.0f} MiB")
    if args.json_out and not args.reuse:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)
    print_report(classify(entries, results, truth), results)

    if args.behaviour:
        report_behaviour(entries, results)

    if args.compare:
        compare_speed(args, entries, paths, results)

    if args.per_sdist:
        times = []
        for p in paths:
            _, t, _ = run_measured([args.binary, "inspect", "--no-cache", "--format", "json", "--offline", p])
            times.append(t)
        print(f"per-sdist process (warm module cache): median {statistics.median(times):.3f} s, "
              f"p90 {pct(times, 0.9):.3f} s, n={len(times)}")
        internal = [r["elapsed_ms"] / 1000 for r in results]
        print(f"per-sdist in batch (elapsed_ms): median {statistics.median(internal):.3f} s, "
              f"p90 {pct(internal, 0.9):.3f} s")

    if args.cold:
        cache = os.environ.get("SDISTILL_CACHE_DIR") or os.path.expanduser("~/.cache/sdistill")
        with tempfile.TemporaryDirectory() as cold:
            shutil.copytree(os.path.join(cache, "runtime"), os.path.join(cold, "runtime"))
            env = dict(os.environ, SDISTILL_CACHE_DIR=cold)
            _, t_cold, _ = run_measured([args.binary, "inspect", "--no-cache", "--format", "json", "--offline", paths[0]], env)
            _, t_warm, _ = run_measured([args.binary, "inspect", "--no-cache", "--format", "json", "--offline", paths[0]], env)
        print(f"cold first run (compiles the runtime): {t_cold:.2f} s; next run: {t_warm:.2f} s ({os.path.basename(paths[0])})")


def report_behaviour(entries, results):
    verdicts, notices, suspicious = {}, {}, []
    for entry, res in zip(entries, results):
        b = res.get("behaviour")
        verdict = b["verdict"] if b else "null (no build code ran)"
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        for e in (b or {}).get("events", []):
            key = (e["category"], e["action"], e["reason"])
            if e["severity"] == "notice":
                notices.setdefault(key, set()).add(entry["name"])
            elif e["severity"] == "suspicious":
                suspicious.append((entry["name"], entry["version"], e))
    total = len(results)
    print("behaviour verdicts:", ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))
    n_susp = verdicts.get("suspicious", 0)
    print(f"suspicious: {n_susp}/{total} = {100.0 * n_susp / max(total, 1):.1f} %")
    print("notice kinds (category/action: reason -- sdists):")
    for (cat, action, reason), names in sorted(notices.items()):
        print(f"  {cat}/{action}: {reason} -- {len(names)}: {', '.join(sorted(names)[:6])}"
              + (" ..." if len(names) > 6 else ""))
    for name, version, e in suspicious:
        print(f"  SUSPICIOUS {name} {version}: {e['category']}/{e['action']} {e['target'][:100]!r}"
              f" at {e['location']} ({e['reason']})")


def compare_speed(args, entries, paths, results):
    # Only sdists whose answer comes from the sandbox: the static path runs no build code.
    sandboxed = [p for p, r in zip(paths, results) if (r.get("method") or "").startswith("sandbox")]
    base_cmd = lambda p: [args.compare, "inspect", "--no-cache", "--format", "json", "--offline", p]
    ours_cmd = lambda p, extra=(): [args.binary, "inspect", "--no-cache", "--format", "json",
                                   "--offline", *extra, p]
    for p in sandboxed[:2]:  # warm both binaries' snapshots and the page cache
        run_measured(base_cmd(p))
        run_measured(ours_cmd(p))
    base_t, ours_t, obs_t, ratios, obs_ratios = [], [], [], [], []
    for p in sandboxed:
        b, o, ob = [], [], []
        for _ in range(args.reps):
            b.append(run_measured(base_cmd(p))[1])
            o.append(run_measured(ours_cmd(p))[1])
            ob.append(run_measured(ours_cmd(p, ("--observe",)))[1])
        mb, mo, mob = statistics.median(b), statistics.median(o), statistics.median(ob)
        base_t.append(mb)
        ours_t.append(mo)
        obs_t.append(mob)
        ratios.append(mo / mb)
        obs_ratios.append(mob / mo)
    print(f"BASE_BINARY vs --binary over {len(sandboxed)} sandboxed sdists, one process each, "
          f"median of {args.reps} interleaved runs per sdist:")
    print(f"  base ({args.compare}): median {statistics.median(base_t):.3f} s, p90 {pct(base_t, 0.9):.3f} s")
    print(f"  this ({args.binary}): median {statistics.median(ours_t):.3f} s, p90 {pct(ours_t, 0.9):.3f} s")
    print(f"  median per-sdist ratio this/base: {statistics.median(ratios):.3f} "
          f"(p10 {pct(ratios, 0.1):.3f}, p90 {pct(ratios, 0.9):.3f})")
    print(f"  with --observe:          median {statistics.median(obs_t):.3f} s, p90 {pct(obs_t, 0.9):.3f} s; "
          f"median per-sdist ratio to the default path {statistics.median(obs_ratios):.2f}")


if __name__ == "__main__":
    main()
