//! Real resolvers through `sdistill serve`: pip (the current release, and 23.2), pip-tools'
//! pip-compile, against an upstream served by the test on 127.0.0.1 that holds a canary
//! sdist whose setup.py leaves a mark on the host if it ever runs there.
//!
//! The clients run with `--no-build-isolation`, so that a client falling back to building
//! an sdist runs its setup.py at once with the venv's own setuptools (with isolation and no
//! setuptools on the test index it would fail before setup.py ran, and the canary would
//! prove nothing).
//!
//! Clients: the venvs named by `SDISTILL_TEST_CLIENTS` (a venv with current pip and
//! pip-tools) and `SDISTILL_TEST_PIP23` (a venv with pip 23.2.1 and pip-tools 7.4.1);
//! without them the tests make them under the target dir (`python3 -m venv`, then `pip
//! install` from PyPI) and skip, saying so, when that is impossible (no python3, no
//! network) — unless `SDISTILL_REQUIRE_CLIENTS=1`, which makes that a failure.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::*;

/// A venv with a client in it, or why there is none.
type Venv = Result<PathBuf, String>;

fn make_venv(name: &str, packages: &[&str]) -> Venv {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("serve-clients-{name}"));
    let ready = dir.join(".ready");
    if ready.exists() {
        return Ok(dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let venv = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .output()
        .map_err(|e| format!("no python3: {e}"))?;
    if !venv.status.success() {
        return Err(format!(
            "python3 -m venv failed: {}",
            String::from_utf8_lossy(&venv.stderr)
        ));
    }
    let install = Command::new(dir.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .env_remove("PIP_FIND_LINKS")
        .output()
        .map_err(|e| e.to_string())?;
    if !install.status.success() {
        return Err(format!(
            "pip install {} failed (no network?): {}",
            packages.join(" "),
            String::from_utf8_lossy(&install.stderr)
        ));
    }
    std::fs::write(&ready, b"").map_err(|e| e.to_string())?;
    Ok(dir)
}

fn venv_from_env(var: &str, name: &str, packages: &[&str]) -> Venv {
    match std::env::var_os(var) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.join("bin/pip").exists() {
                Ok(dir)
            } else {
                Err(format!("{var}={} has no bin/pip", dir.display()))
            }
        }
        None => make_venv(name, packages),
    }
}

/// Current pip and pip-tools.
fn current() -> &'static Venv {
    static VENV: OnceLock<Venv> = OnceLock::new();
    VENV.get_or_init(|| {
        venv_from_env(
            "SDISTILL_TEST_CLIENTS",
            "current",
            &["-U", "pip", "pip-tools"],
        )
    })
}

/// pip 23.2.1 (what Python 3.11 bundles) and pip-tools on it.
fn pip23() -> &'static Venv {
    static VENV: OnceLock<Venv> = OnceLock::new();
    VENV.get_or_init(|| {
        venv_from_env(
            "SDISTILL_TEST_PIP23",
            "pip23",
            &["pip==23.2.1", "pip-tools==7.4.1"],
        )
    })
}

/// With `SDISTILL_REQUIRE_CLIENTS=1` (CI) a missing client fails the test instead of
/// skipping it, so a broken install step cannot pass silently.
macro_rules! venv_or_skip {
    ($venv:expr) => {
        match $venv {
            Ok(dir) => dir.clone(),
            Err(why) if std::env::var_os("SDISTILL_REQUIRE_CLIENTS").is_some_and(|v| v == "1") => {
                panic!("no client venv, and SDISTILL_REQUIRE_CLIENTS=1: {why}")
            }
            Err(why) => {
                eprintln!("SKIPPED: no client venv ({why}); set SDISTILL_TEST_CLIENTS / SDISTILL_TEST_PIP23");
                return;
            }
        }
    };
}

/// The canary: its setup.py writes `<marks>/FIRED` when it can (it cannot in the
/// sandbox, which has no such directory). `unanswerable` makes it also run a program,
/// which works on a host and fails in the sandbox ("not installed").
fn canary(marks: &Path, unanswerable: bool) -> Vec<u8> {
    let mark = marks.join("FIRED");
    let extra = if unanswerable {
        "import subprocess\nsubprocess.check_call(['true'])\n"
    } else {
        ""
    };
    setup_py_sdist_bytes(
        "canary",
        "1.0",
        &format!(
            "import os\ntry:\n    open({mark:?}, 'w').write('setup.py ran on the host')\nexcept OSError:\n    pass\n{extra}from setuptools import setup\nsetup(name='canary', version='1.0', install_requires=['dep-a>=1', 'dep-' + 'c'])\n",
            mark = mark.display().to_string()
        ),
    )
}

fn upstream(marks: &Path, unanswerable: bool) -> (IndexServer, Vec<IndexEntry>) {
    let mut dep_b_wheel = IndexEntry::new(
        "dep-b",
        "dep_b-1.0-py3-none-any.whl",
        wheel_bytes("dep-b", "1.0", "", &[]),
    );
    dep_b_wheel.metadata = Some("Metadata-Version: 2.1\nName: dep-b\nVersion: 1.0\n".into());
    let entries = vec![
        IndexEntry::new("canary", "canary-1.0.tar.gz", canary(marks, unanswerable)),
        IndexEntry::new(
            "dep-a",
            "dep_a-1.0.tar.gz",
            setup_py_sdist_bytes(
                "dep_a",
                "1.0",
                "from setuptools import setup\nsetup(name='dep-a', version='1.0', install_requires=['dep' + '-b'])\n",
            ),
        ),
        dep_b_wheel,
        IndexEntry::new("dep-b", "dep_b-1.0.tar.gz", static_sdist_bytes("dep_b", "1.0", &[])),
        // No metadata file upstream: the server reads the wheel's METADATA, whose marker
        // pip 26 later compares with the served file, by its text.
        IndexEntry::new(
            "dep-c",
            "dep_c-2.0-py3-none-any.whl",
            wheel_bytes("dep-c", "2.0", "", &["dep-b>=1; python_version >= \"3\""]),
        ),
    ];
    (IndexServer::start(entries.clone()), entries)
}

/// A client command with nothing from the host's pip configuration.
fn client(venv: &Path, tool: &str, work: &Path) -> Command {
    let mut cmd = Command::new(venv.join("bin").join(tool));
    for (key, _) in std::env::vars() {
        if key.starts_with("PIP_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(work)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_CACHE_DIR", work.join("pip-cache"));
    cmd
}

fn run(mut cmd: Command) -> (i32, String) {
    let out: Output = cmd.output().expect("run the client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// name -> (version, hashes) of a pip-compile or sdistill lock file.
fn pins(text: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(hash) = trimmed
            .split_whitespace()
            .find_map(|w| w.strip_prefix("--hash=sha256:"))
        {
            if let Some(name) = &current {
                let entry: &mut (String, BTreeSet<String>) = out.get_mut(name).unwrap();
                entry.1.insert(hash.to_string());
            }
        }
        if line.starts_with([' ', '#', '-']) || trimmed.is_empty() {
            continue;
        }
        if let Some((name, rest)) = trimmed.split_once("==") {
            let version = rest
                .split([' ', ';', '\\'])
                .next()
                .unwrap_or("")
                .to_string();
            let name = sdistill::metadata::normalize_name(name);
            out.insert(name.clone(), (version, BTreeSet::new()));
            current = Some(name);
        }
    }
    out
}

struct Setup {
    _marks: tempfile::TempDir,
    mark: PathBuf,
    upstream: IndexServer,
    entries: Vec<IndexEntry>,
    cache: tempfile::TempDir,
    runtime: String,
    work: tempfile::TempDir,
}

impl Setup {
    fn new(unanswerable: bool) -> Self {
        let marks = canary_dir();
        let (upstream, entries) = upstream(marks.path(), unanswerable);
        let (cache, runtime) = private_cache();
        Self {
            mark: marks.path().join("FIRED"),
            _marks: marks,
            upstream,
            entries,
            cache,
            runtime,
            work: tempfile::tempdir().unwrap(),
        }
    }

    fn serve(&self, extra: &[&str]) -> ServeProcess {
        ServeProcess::in_front_of(
            &[&self.upstream.url],
            &self.runtime,
            self.cache.path(),
            extra,
        )
    }

    fn dir(&self, name: &str) -> PathBuf {
        let d = self.work.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn assert_not_fired(&self, what: &str) {
        assert!(
            !self.mark.exists(),
            "{what}: the canary's setup.py ran on the host"
        );
    }

    fn bytes(&self, filename: &str) -> Vec<u8> {
        self.entries
            .iter()
            .find(|e| e.filename == filename)
            .unwrap()
            .bytes
            .clone()
    }
}

fn dry_run(venv: &Path, srv: &ServeProcess, work: &Path) -> (i32, String) {
    let mut cmd = client(venv, "pip", work);
    cmd.args([
        "install",
        "--dry-run",
        "--ignore-installed",
        "--no-build-isolation",
        "--report",
        "report.json",
        "--index-url",
        &srv.url,
        "canary",
    ]);
    run(cmd)
}

fn compile(venv: &Path, srv: &ServeProcess, work: &Path) -> (i32, String) {
    std::fs::write(work.join("requirements.in"), "canary\n").unwrap();
    let mut cmd = client(venv, "pip-compile", work);
    cmd.args([
        "--generate-hashes",
        "--no-build-isolation",
        "--no-emit-index-url",
        "--index-url",
        &srv.url,
        "-o",
        "requirements.txt",
        "requirements.in",
    ]);
    run(cmd)
}

#[test]
fn pip_and_pip_compile_resolve_through_the_server_without_building() {
    let venv = venv_or_skip!(current());
    let s = Setup::new(false);
    let srv = s.serve(&[]);

    // pip install --dry-run --report
    let work = s.dir("dry-run");
    let (code, out) = dry_run(&venv, &srv, &work);
    assert_eq!(code, 0, "{out}");
    s.assert_not_fired("pip install --dry-run");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("report.json")).unwrap()).unwrap();
    let resolved: BTreeMap<String, String> = report["install"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["metadata"]["name"].as_str().unwrap().to_string(),
                i["metadata"]["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        resolved,
        BTreeMap::from([
            ("canary".into(), "1.0".into()),
            ("dep-a".into(), "1.0".into()),
            ("dep-b".into(), "1.0".into()),
            ("dep-c".into(), "2.0".into()),
        ]),
        "{out}"
    );
    // pip read metadata files only: no sdist was downloaded.
    let downloads: Vec<String> = srv
        .log()
        .into_iter()
        .filter(|l| l.contains("ACCESS") && l.contains(".tar.gz\" "))
        .collect();
    assert!(downloads.is_empty(), "{downloads:#?}");

    // pip-compile --generate-hashes gives the pins and hashes `sdistill lock` gives.
    let work = s.dir("compile");
    let (code, out) = compile(&venv, &srv, &work);
    assert_eq!(code, 0, "{out}");
    s.assert_not_fired("pip-compile");
    let compiled = pins(&std::fs::read_to_string(work.join("requirements.txt")).unwrap());
    let lock = run_env(
        &[
            "lock",
            "canary",
            "--index-url",
            &s.upstream.url,
            "--runtime",
            &s.runtime,
        ],
        &[
            ("SDISTILL_CACHE_DIR", s.cache.path().as_os_str()),
            ("SDISTILL_NO_CACHE", std::ffi::OsStr::new("0")),
        ],
    );
    assert!(
        lock.status.success(),
        "{}",
        String::from_utf8_lossy(&lock.stderr)
    );
    let locked = pins(&String::from_utf8_lossy(&lock.stdout));
    assert_eq!(compiled, locked);
    assert_eq!(
        compiled["dep-b"].1.len(),
        2,
        "wheel and sdist hashes: {compiled:?}"
    );

    // pip download gets the upstream's bytes. (pip prepares a downloaded sdist's metadata
    // itself, running its setup.py even though a metadata file is served: only a harmless
    // fixture is downloaded here, never the canary.)
    let work = s.dir("download");
    let mut cmd = client(&venv, "pip", &work);
    cmd.args([
        "download",
        "--no-deps",
        "--no-build-isolation",
        "-d",
        "files",
        "--index-url",
        &srv.url,
        "dep-c",
        "dep-a",
    ]);
    let (code, out) = run(cmd);
    assert_eq!(code, 0, "{out}");
    for name in ["dep_c-2.0-py3-none-any.whl", "dep_a-1.0.tar.gz"] {
        assert_eq!(
            std::fs::read(work.join("files").join(name)).unwrap(),
            s.bytes(name),
            "{name}"
        );
    }
    s.assert_not_fired("pip download");

    // A real install of wheels: pip 26 checks every wheel's metadata file against the
    // METADATA inside it (requirements and markers compared as packaging parses them).
    let work = s.dir("install");
    let mut cmd = client(&venv, "pip", &work);
    cmd.args([
        "install",
        "--no-build-isolation",
        "--target",
        "installed",
        "--index-url",
        &srv.url,
        "dep-c",
    ]);
    let (code, out) = run(cmd);
    assert_eq!(code, 0, "{out}");
    assert!(
        work.join("installed/dep_c").is_dir() && work.join("installed/dep_b").is_dir(),
        "{out}"
    );
    s.assert_not_fired("pip install of wheels");
}

#[test]
fn an_unanswerable_canary_stops_every_client_naming_it() {
    let venv = venv_or_skip!(current());
    let s = Setup::new(true);
    let srv = s.serve(&[]);
    let expect_named = |what: &str, code: i32, out: &str| {
        assert_ne!(code, 0, "{what} succeeded: {out}");
        assert!(
            out.contains("sdistill cannot answer for canary-1.0.tar.gz (setup-failed)"),
            "{what} does not name the file and the reason: {out}"
        );
    };

    let (code, out) = dry_run(&venv, &srv, &s.dir("dry-run"));
    expect_named("pip install --dry-run", code, &out);
    s.assert_not_fired("pip install --dry-run");

    let (code, out) = compile(&venv, &srv, &s.dir("compile"));
    expect_named("pip-compile", code, &out);
    s.assert_not_fired("pip-compile");

    let work = s.dir("download");
    let mut cmd = client(&venv, "pip", &work);
    cmd.args([
        "download",
        "--no-deps",
        "--no-build-isolation",
        "-d",
        "files",
        "--index-url",
        &srv.url,
        "canary",
    ]);
    let (code, out) = run(cmd);
    expect_named("pip download", code, &out);
    s.assert_not_fired("pip download");

    // Its bytes never left the server.
    let log = srv.log().join("\n");
    assert!(!log.contains("canary-1.0.tar.gz\" 200"), "{log}");
}

#[test]
fn pip23_is_stopped_instead_of_building_at_the_end_of_a_dry_run() {
    let venv = venv_or_skip!(pip23());
    // pip before 25.3 downloads and builds every sdist it resolved at the end of
    // `install --dry-run`, metadata files or not. This is also the control that shows the
    // canary works: here it does fire.
    let control = Setup::new(false);
    let srv = control.serve(&[]);
    let (code, out) = dry_run(&venv, &srv, &control.dir("dry-run"));
    assert_eq!(code, 0, "{out}");
    assert!(
        control.mark.exists(),
        "pip 23 did not build the canary: {out}"
    );
    drop(srv);

    // With sdist downloads withheld it stops there, naming the file, instead of running
    // its setup.py.
    let s = Setup::new(false);
    let srv = s.serve(&["--sdist-downloads", "never"]);
    let (code, out) = dry_run(&venv, &srv, &s.dir("dry-run"));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("--sdist-downloads never"), "{out}");
    assert!(
        out.contains("canary-1.0.tar.gz") || out.contains("dep_a-1.0.tar.gz"),
        "{out}"
    );
    s.assert_not_fired("pip 23 install --dry-run");
    let (code, out) = compile(&venv, &srv, &s.dir("compile"));
    assert_ne!(code, 0, "{out}");
    s.assert_not_fired("pip-compile on pip 23");

    // An unanswerable sdist stops pip 23 at its metadata file, with the reason.
    let s = Setup::new(true);
    let srv = s.serve(&[]);
    let (code, out) = dry_run(&venv, &srv, &s.dir("dry-run"));
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("sdistill cannot answer for canary-1.0.tar.gz (setup-failed)"),
        "{out}"
    );
    s.assert_not_fired("pip 23, unanswerable");
}
