//! `sdistill lock --universal` (and explicit matrices) against a test index on 127.0.0.1:
//! setup.py-only sdists that choose dependencies with `sys.platform`, `platform.system()`,
//! `os.name` and `platform.machine()` (which no marker records), built in the sandbox as
//! each platform; projects at different versions on different Pythons; wheels for some
//! platforms only. The lock filtered to each environment must be exactly the lock for that
//! environment alone, and what that platform's own setup.py run asks for.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use common::*;
use sdistill::resolve::TargetEnv;
use serde_json::Value;

/// A setup.py-only sdist (PKG-INFO 1.0: its dependencies need the build).
fn setup_py_only(name: &str, version: &str, setup_py: &str) -> IndexEntry {
    let top = format!("{name}-{version}");
    let bytes = compress(
        Kind::TarGz,
        &tar_bytes(&[
            file(
                &format!("{top}/PKG-INFO"),
                &format!("Metadata-Version: 1.0\nName: {name}\nVersion: {version}\n"),
            ),
            file(&format!("{top}/setup.py"), setup_py),
        ]),
    );
    IndexEntry::new(name, &format!("{top}.tar.gz"), bytes)
}

/// A pure wheel with a PEP 658 metadata file.
fn wheel(name: &str, version: &str, requires: &[&str], extra: &str) -> IndexEntry {
    let module = name.replace('-', "_");
    let mut e = IndexEntry::new(
        name,
        &format!("{module}-{version}-py3-none-any.whl"),
        wheel_bytes(name, version, "", requires),
    );
    let mut meta = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{extra}");
    for r in requires {
        meta.push_str(&format!("Requires-Dist: {r}\n"));
    }
    e.metadata = Some(meta);
    e
}

/// What the platform branches of `branchy` ask for.
const BRANCHY: &str = r#"
import os, platform, sys
from setuptools import setup
deps = ["common-dep"]
if sys.platform == "win32":
    deps.append("win-only")
if platform.system() == "Darwin":
    deps.append("mac-only")
if os.name == "posix":
    deps.append("posix-only")
if platform.machine().lower() in ("aarch64", "arm64"):
    deps.append("arm-only")
setup(name="branchy", version="1.0", install_requires=deps)
"#;

fn entries() -> Vec<IndexEntry> {
    let mut out = vec![setup_py_only("branchy", "1.0", BRANCHY)];
    for dep in [
        "common-dep",
        "win-only",
        "mac-only",
        "posix-only",
        "arm-only",
    ] {
        out.push(wheel(dep, "1.0", &[], ""));
    }
    // Two versions by Python: 2.0 needs 3.12.
    out.push(wheel("pyver", "1.0", &[], "Requires-Python: >=3.8\n"));
    let mut new = wheel("pyver", "2.0", &[], "Requires-Python: >=3.12\n");
    new.requires_python = Some(">=3.12".into());
    out.push(new);
    // A binary project with wheels for two platforms and an sdist for the rest.
    let native = |tag: &str| {
        IndexEntry::new(
            "native",
            &format!("native-1.0-cp312-cp312-{tag}.whl"),
            wheel_bytes("native", "1.0", &format!("TAG = '{tag}'\n"), &[]),
        )
    };
    out.push(native("win_amd64"));
    out.push(native("manylinux_2_17_x86_64"));
    out.push(setup_py_only(
        "native",
        "1.0",
        "from setuptools import setup\nsetup(name='native', version='1.0')\n",
    ));
    out
}

struct Universal {
    server: IndexServer,
    cache: tempfile::TempDir,
    runtime: String,
}

impl Universal {
    fn new() -> Self {
        let server = IndexServer::start(entries());
        let (cache, runtime) = private_cache();
        Self {
            server,
            cache,
            runtime,
        }
    }

    fn lock(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec![
            "lock",
            "--index-url",
            &self.server.url,
            "--runtime",
            &self.runtime,
            "--no-header",
        ];
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

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.lock(args);
        assert_eq!(code, 0, "lock {args:?}: {err}");
        out
    }
}

/// `name==version` with its marker, per requirement line of a lock.
fn pins(text: &str) -> Vec<(String, String, Option<String>)> {
    text.lines()
        .filter(|l| !l.starts_with([' ', '#']) && !l.is_empty())
        .map(|l| {
            let head = l.trim_end_matches('\\').trim();
            let (spec, marker) = match head.split_once(" ; ") {
                Some((s, m)) => (s, Some(m.to_string())),
                None => (head, None),
            };
            let (name, version) = spec.split_once("==").unwrap();
            let name = name.split('[').next().unwrap().to_string();
            (name, version.to_string(), marker)
        })
        .collect()
}

/// The pins of a universal lock that apply on `env`, as pip would select them.
fn filtered(text: &str, env: &TargetEnv) -> BTreeMap<String, String> {
    let markers = env.markers();
    let mut out = BTreeMap::new();
    for (name, version, marker) in pins(text) {
        let applies = marker
            .map(|m| {
                pep508_rs::MarkerTree::from_str(&m)
                    .unwrap()
                    .evaluate(&markers, &[])
            })
            .unwrap_or(true);
        if applies {
            assert!(
                out.insert(name.clone(), version).is_none(),
                "{name} twice on {env:?}"
            );
        }
    }
    out
}

fn env(platform: &str, python: &str) -> TargetEnv {
    TargetEnv {
        python: TargetEnv::parse_python(python).unwrap(),
        target: TargetEnv::parse_platform(platform).unwrap(),
    }
}

const PLATFORMS: [&str; 6] = [
    "linux-x86_64",
    "linux-aarch64",
    "macos-x86_64",
    "macos-arm64",
    "windows-x86_64",
    "windows-arm64",
];

#[test]
fn platform_branches_of_setup_py_become_markers() {
    let u = Universal::new();
    let text = u.ok(&[
        "--universal",
        "--python-version",
        "3.11",
        "--python-version",
        "3.12",
        "branchy",
        "pyver",
    ]);
    let by_name: BTreeMap<String, Vec<(String, Option<String>)>> =
        pins(&text)
            .into_iter()
            .fold(BTreeMap::new(), |mut acc, (n, v, m)| {
                acc.entry(n).or_default().push((v, m));
                acc
            });
    let marker = |name: &str| by_name[name][0].1.clone().unwrap_or_default();
    assert_eq!(marker("win-only"), "sys_platform == 'win32'", "{text}");
    assert_eq!(marker("mac-only"), "sys_platform == 'darwin'", "{text}");
    assert_eq!(marker("posix-only"), "sys_platform != 'win32'", "{text}");
    let arm = marker("arm-only");
    for spelling in ["'aarch64'", "'arm64'", "'ARM64'"] {
        assert!(arm.contains(spelling), "{arm}");
    }
    assert_eq!(marker("common-dep"), "");
    assert_eq!(marker("branchy"), "");
    // One line per version, with disjoint Python markers.
    assert_eq!(
        by_name["pyver"],
        [
            (
                "1.0".to_string(),
                Some("python_full_version < '3.12'".to_string())
            ),
            (
                "2.0".to_string(),
                Some("python_full_version >= '3.12'".to_string())
            ),
        ],
        "{text}"
    );

    // Each environment: the universal lock filtered to it is the lock for it alone, and
    // branchy's dependencies there are what its setup.py asks for on that platform.
    for platform in PLATFORMS {
        for python in ["3.11", "3.12"] {
            let e = env(platform, python);
            let alone = u.ok(&[
                "--platform",
                platform,
                "--python-version",
                python,
                "branchy",
                "pyver",
            ]);
            let alone: BTreeMap<String, String> =
                pins(&alone).into_iter().map(|(n, v, _)| (n, v)).collect();
            let universal = filtered(&text, &e);
            assert_eq!(universal, alone, "{platform} {python}");
            let (machine, os) = match platform.split_once('-').unwrap() {
                (os, "x86_64") => ("x86_64", os),
                (os, _) => ("aarch64", os),
            };
            let (_, built) = inspect_one(
                &[
                    "--target-platform",
                    os,
                    "--target-machine",
                    machine,
                    "--runtime",
                    &u.runtime,
                ],
                &sdist_of(&u, "branchy-1.0.tar.gz"),
            );
            let asked: BTreeSet<String> = built["requires_dist"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            let installed: BTreeSet<String> = universal
                .keys()
                .filter(|n| n.ends_with("-only") || *n == "common-dep")
                .cloned()
                .collect();
            assert_eq!(installed, asked, "{platform}: {built}");
            // pip's own marker code, given the values the real platform has, selects the
            // same pins from the universal lock.
            if let Some(by_pip) = pip_selects(&text, platform, python) {
                assert_eq!(by_pip, universal, "pip on {platform} {python}");
            }
        }
    }
}

/// The pins pip selects from a requirements lock on `platform` with Python `python`:
/// each line parsed and its marker evaluated by pip's vendored `packaging`, with the marker
/// values that platform really has (`None`: no `python3` with pip here).
fn pip_selects(lock: &str, platform: &str, python: &str) -> Option<BTreeMap<String, String>> {
    let (sys_platform, system, os_name, machine) = match platform {
        "linux-x86_64" => ("linux", "Linux", "posix", "x86_64"),
        "linux-aarch64" => ("linux", "Linux", "posix", "aarch64"),
        "macos-x86_64" => ("darwin", "Darwin", "posix", "x86_64"),
        "macos-arm64" => ("darwin", "Darwin", "posix", "arm64"),
        "windows-x86_64" => ("win32", "Windows", "nt", "AMD64"),
        "windows-arm64" => ("win32", "Windows", "nt", "ARM64"),
        other => panic!("{other}"),
    };
    let env = serde_json::json!({
        "sys_platform": sys_platform,
        "platform_system": system,
        "os_name": os_name,
        "platform_machine": machine,
        "python_version": python,
        "python_full_version": format!("{python}.0"),
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_version": "",
        "implementation_version": format!("{python}.0"),
    });
    let lines: Vec<String> = lock
        .lines()
        .filter(|l| !l.starts_with([' ', '#']) && !l.is_empty())
        .map(|l| l.trim_end_matches('\\').trim().to_string())
        .collect();
    let script = r#"
import json, sys
from pip._vendor.packaging.requirements import Requirement
data = json.load(sys.stdin)
out = {}
for line in data["lines"]:
    req = Requirement(line)
    if req.marker is None or req.marker.evaluate(data["env"]):
        (spec,) = req.specifier
        out[req.name] = spec.version
print(json.dumps(out))
"#;
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let input = serde_json::json!({"env": env, "lines": lines}).to_string();
    child.stdin.take()?.write_all(input.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named") {
            eprintln!("skipping pip's marker check: {err}");
            return None;
        }
        panic!("pip's packaging refused the lock: {err}\n{lock}");
    }
    Some(serde_json::from_slice(&out.stdout).expect("pip's selection"))
}

/// The sdist as the index serves it, downloaded into a temporary file.
fn sdist_of(u: &Universal, name: &str) -> std::path::PathBuf {
    let url = format!("{}files/{name}", u.server.url.trim_end_matches("simple/"));
    let dir = u.cache.path().join("sdists-for-inspect");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    if !path.exists() {
        let body = http_get(&url);
        std::fs::write(&path, body).unwrap();
    }
    path
}

/// A GET to the test index without any client library.
fn http_get(url: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    all[at + 4..].to_vec()
}

#[test]
fn the_report_says_which_dependencies_came_from_which_target() {
    let u = Universal::new();
    let (code, out, err) = u.lock(&[
        "--universal",
        "--python-version",
        "3.12",
        "--format",
        "json",
        "branchy",
        "native",
        "-v",
    ]);
    assert_eq!(code, 0, "{err}");
    // One sandbox run per platform for branchy (the Python version is invisible to build
    // code), and for native on the four platforms without a wheel.
    assert!(err.contains("10 sandbox runs"), "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["environments"].as_array().unwrap().len(), 6);
    let branchy = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "branchy")
        .unwrap();
    let targets = branchy["targets"].as_array().unwrap();
    // Each platform's build answered differently (ARM adds arm-only everywhere).
    assert_eq!(targets.len(), 6, "{targets:#?}");
    let windows = targets
        .iter()
        .find(|t| t["environments"][0] == "windows-x86_64-3.12")
        .unwrap();
    assert_eq!(
        windows["environments"],
        serde_json::json!(["windows-x86_64-3.12"])
    );
    assert_eq!(windows["method"].as_str().unwrap(), "sandbox-egg-info");
    assert_eq!(
        windows["dependencies"],
        serde_json::json!(["common-dep", "win-only"])
    );
    // native: wheels on two platforms, the sdist on the others; every file's hash.
    let native = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "native")
        .unwrap();
    assert_eq!(native["hashes"].as_array().unwrap().len(), 3);
    let sources: BTreeSet<&str> = native["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, BTreeSet::from(["sandbox", "wheel"]));

    // A second lock: every platform's answer comes from the metadata cache.
    let (code, again, err) = u.lock(&[
        "--universal",
        "--python-version",
        "3.12",
        "--format",
        "json",
        "branchy",
        "native",
        "-v",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("0 sandbox runs, 10 from cache"), "{err}");
    assert_eq!(again, out, "the same lock from the cache");
}

#[test]
fn pylock_records_the_matrix_and_check_reads_universal_locks() {
    let u = Universal::new();
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("pylock.toml");
    let lock_arg = lock.display().to_string();
    u.ok(&[
        "--universal",
        "--python-version",
        "3.11",
        "--python-version",
        "3.12",
        "branchy",
        "pyver",
        "-o",
        &lock_arg,
    ]);
    let doc: toml::Table = toml::from_str(&std::fs::read_to_string(&lock).unwrap()).unwrap();
    let envs = doc["environments"].as_array().unwrap();
    assert_eq!(envs.len(), 6, "{envs:?}");
    assert_eq!(doc["requires-python"].as_str(), Some(">=3.11, <3.13"));
    let pyver: Vec<&toml::Value> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"].as_str() == Some("pyver"))
        .collect();
    assert_eq!(pyver.len(), 2);
    // --check reads the two pyver pins back and finds the lock up to date.
    let (code, _, err) = u.lock(&[
        "--universal",
        "--python-version",
        "3.11",
        "--python-version",
        "3.12",
        "branchy",
        "pyver",
        "-o",
        &lock_arg,
        "--check",
    ]);
    assert_eq!(code, 0, "{err}");
    let txt = dir.path().join("requirements.txt");
    let txt_arg = txt.display().to_string();
    let args = [
        "--universal",
        "--python-version",
        "3.11",
        "--python-version",
        "3.12",
        "branchy",
        "pyver",
        "-o",
        &txt_arg,
    ];
    u.ok(&args);
    let mut check = args.to_vec();
    check.push("--check");
    let (code, _, err) = u.lock(&check);
    assert_eq!(code, 0, "{err}");
    // Dropping a Python version is a different lock.
    let (code, _, err) = u.lock(&[
        "--universal",
        "--python-version",
        "3.12",
        "branchy",
        "pyver",
        "-o",
        &txt_arg,
        "--check",
    ]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("pyver"), "{err}");
}

/// A project whose own setup.py branches on the platform is evaluated as each platform too.
#[test]
fn a_setup_py_project_is_built_as_each_platform() {
    let u = Universal::new();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("app");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        project.join("setup.py"),
        BRANCHY.replace("name=\"branchy\"", "name=\"app\""),
    )
    .unwrap();
    let arg = project.display().to_string();
    let text = u.ok(&["--universal", "--python-version", "3.12", &arg]);
    let markers: BTreeMap<String, Option<String>> =
        pins(&text).into_iter().map(|(n, _, m)| (n, m)).collect();
    assert_eq!(markers["common-dep"], None, "{text}");
    assert_eq!(
        markers["win-only"].as_deref(),
        Some("sys_platform == 'win32'"),
        "{text}"
    );
    assert_eq!(
        markers["posix-only"].as_deref(),
        Some("sys_platform != 'win32'"),
        "{text}"
    );
    for platform in PLATFORMS {
        let alone = u.ok(&["--platform", platform, "--python-version", "3.12", &arg]);
        let alone: BTreeMap<String, String> =
            pins(&alone).into_iter().map(|(n, v, _)| (n, v)).collect();
        assert_eq!(filtered(&text, &env(platform, "3.12")), alone, "{platform}");
    }
}
