//! `sdistill lock` for real projects and CI, against a PEP 691 index served by the test on
//! 127.0.0.1: project inputs (static `[project]`, setup.py and setup.cfg evaluated in the
//! sandbox), extras and dependency groups, direct references, `pylock.toml` and JSON
//! output, `--check`, the flags people reach for, `[tool.sdistill]`, build-help
//! caveats and `--strict`, and errors that explain.
//!
//! Every fixture is built here. Locks are read back the way installers read them: with
//! this crate's own pip-rules reader, and — where this machine has them — with pip 23.x,
//! a current pip and uv (`SDISTILL_TEST_PIP_PYTHONS`, `SDISTILL_TEST_UV`; skipped with a
//! message otherwise). Only wheels are ever handed to those installers, so nothing from
//! a fixture is built or run on the host by them either.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// A setup.py-only sdist: its metadata exists only once setup.py has run (in the sandbox).
fn setup_py_sdist_bytes(name: &str, version: &str, setup_py: &str) -> Vec<u8> {
    let top = format!("{name}-{version}");
    compress(
        Kind::TarGz,
        &tar_bytes(&[
            file(
                &format!("{top}/PKG-INFO"),
                &format!("Metadata-Version: 1.0\nName: {name}\nVersion: {version}\n"),
            ),
            file(&format!("{top}/setup.py"), setup_py),
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

fn uploaded(mut e: IndexEntry, when: &str) -> IndexEntry {
    e.upload_time = Some(when.to_string());
    e
}

/// A wheel with a PEP 658 metadata file.
fn wheel(name: &str, version: &str, requires: &[&str], extra: &str) -> IndexEntry {
    let module = name.replace('-', "_");
    let mut e = IndexEntry::new(
        name,
        &format!("{module}-{version}-py3-none-any.whl"),
        wheel_bytes_with(name, version, requires, extra),
    );
    e.metadata = Some(metadata(name, version, requires, extra));
    uploaded(e, "2024-01-01T00:00:00Z")
}

/// A wheel whose METADATA declares `requires` and `extra` headers.
fn wheel_bytes_with(name: &str, version: &str, requires: &[&str], extra: &str) -> Vec<u8> {
    let module = name.replace('-', "_");
    let meta = metadata(name, version, requires, extra);
    zip_bytes(&[
        file(&format!("{module}/__init__.py"), ""),
        file(&format!("{module}-{version}.dist-info/METADATA"), &meta),
        file(
            &format!("{module}-{version}.dist-info/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: sdistill-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        file(&format!("{module}-{version}.dist-info/RECORD"), ""),
    ])
}

/// The direct-reference fixture: a static sdist served at /files/ but listed nowhere.
fn direct_sdist() -> IndexEntry {
    IndexEntry::new(
        "unlisted",
        "direct_pkg-1.0.tar.gz",
        static_sdist("direct-pkg", "1.0", &["util"], ""),
    )
}

fn fixture() -> Vec<IndexEntry> {
    let mut util_sdist = IndexEntry::new(
        "util",
        "util-1.0.tar.gz",
        static_sdist("util", "1.0", &[], ""),
    );
    util_sdist.upload_time = Some("2024-01-01T00:00:00Z".into());
    let mut util_wheel_no_metadata = IndexEntry::new(
        "util",
        "util-1.0-py3-none-any.whl",
        wheel_bytes("util", "1.0", "", &[]),
    );
    util_wheel_no_metadata.upload_time = Some("2024-01-01T00:00:00.5Z".into());
    let mut entries = vec![
        wheel("web", "1.0", &["conn[flask]>=2"], ""),
        wheel("conn", "1.0", &[], "Provides-Extra: flask\n"),
        uploaded(
            wheel(
                "conn",
                "2.0",
                &["flaskish; extra == \"flask\""],
                "Provides-Extra: flask\n",
            ),
            "2024-02-01T00:00:00Z",
        ),
        wheel("flaskish", "1.0", &[], ""),
        util_sdist,
        util_wheel_no_metadata,
        uploaded(wheel("util", "2.0", &[], ""), "2024-06-01T12:00:00Z"),
        wheel("winonly", "1.0", &[], ""),
        wheel("tester", "1.0", &[], ""),
        wheel("mypyish", "1.0", &[], ""),
        wheel("helper", "1.0", &[], ""),
        uploaded(
            IndexEntry::new(
                "lib",
                "lib-1.0.tar.gz",
                setup_py_sdist_bytes(
                    "lib",
                    "1.0",
                    "from setuptools import setup\nsetup(name='lib', version='1.0', install_requires=['hel' + 'per'])\n",
                ),
            ),
            "2024-01-01T00:00:00Z",
        ),
        // Needs a compatibility alias in the sandbox: pip on CPython 3.12 cannot build it.
        uploaded(
            IndexEntry::new(
                "shimmed",
                "shimmed-1.0.tar.gz",
                setup_py_sdist_bytes(
                    "shimmed",
                    "1.0",
                    "import collections\nassert collections.Mapping\nfrom setuptools import setup\nsetup(name='shimmed', version='1.0')\n",
                ),
            ),
            "2024-01-01T00:00:00Z",
        ),
        direct_sdist(),
    ];
    for minor in 8..=11 {
        let mut e = IndexEntry::new(
            "tw",
            &format!("tw-2.1.0-cp3{minor}-cp3{minor}-manylinux_2_17_x86_64.whl"),
            wheel_bytes("tw", "2.1.0", &format!("# cp3{minor}"), &[]),
        );
        e.upload_time = Some("2024-01-01T00:00:00Z".into());
        entries.push(e);
    }
    entries
}

struct Env {
    server: IndexServer,
    cache: tempfile::TempDir,
    runtime: String,
    work: tempfile::TempDir,
    sha: BTreeMap<String, String>,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Env {
    fn new() -> Self {
        let entries = fixture();
        let sha = entries
            .iter()
            .map(|e| (e.filename.clone(), e.sha256()))
            .collect();
        let server = IndexServer::start_json(entries);
        let (cache, runtime) = private_cache();
        Self {
            server,
            cache,
            runtime,
            work: tempfile::tempdir().unwrap(),
            sha,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    fn s(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }

    fn file_url(&self, name: &str) -> String {
        self.server
            .url
            .replace("/simple/", &format!("/files/{name}"))
    }

    fn lock_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut all = vec!["lock", "--runtime", &self.runtime];
        if !args.contains(&"--index-url") {
            all.extend(["--index-url", &self.server.url]);
        }
        all.extend_from_slice(args);
        let out = run_env_stdin(
            &all,
            &[
                ("SDISTILL_CACHE_DIR", self.cache.path().as_os_str()),
                ("SDISTILL_NO_CACHE", std::ffi::OsStr::new("0")),
            ],
            stdin,
        );
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn lock(&self, args: &[&str]) -> Run {
        self.lock_stdin(args, None)
    }

    fn ok(&self, args: &[&str]) -> Run {
        let r = self.lock(args);
        assert_eq!(
            r.code, 0,
            "lock {args:?} failed:\n{}\n{}",
            r.stderr, r.stdout
        );
        r
    }

    /// Writes `files` (relative path, text) under the work dir and returns its path.
    fn project(&self, dir: &str, files: &[(&str, &str)]) -> String {
        let root = self.path(dir);
        for (rel, text) in files {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        root.display().to_string()
    }
}

/// `name` -> (`name[extras]==version` line head, hashes, annotation lines), read loosely.
fn pins(text: &str) -> BTreeMap<String, (String, Vec<String>, Vec<String>)> {
    let mut out: BTreeMap<String, (String, Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() || line.starts_with("--") {
            continue;
        }
        if !line.starts_with(' ') {
            let head = line.trim_end_matches('\\').trim().to_string();
            let name = head.split(['[', '=', ' ', ';']).next().unwrap().to_string();
            current = name.clone();
            out.insert(name, (head, vec![], vec![]));
            continue;
        }
        let entry = out.get_mut(&current).unwrap();
        let l = line.trim().trim_end_matches('\\').trim();
        if let Some(h) = l.strip_prefix("--hash=sha256:") {
            entry.1.push(h.to_string());
        } else {
            entry.2.push(l.to_string());
        }
    }
    out
}

const DEMO: &str = r#"
[project]
name = "Demo"
dynamic = ["version"]
requires-python = ">=3.8"
dependencies = ["web", "winonly; sys_platform == 'win32'"]

[project.optional-dependencies]
cli = ["util>=1"]
all = ["demo[cli]"]

[dependency-groups]
test = ["tester", {include-group = "typing"}]
typing = ["mypyish"]
loop-a = [{include-group = "loop-b"}]
loop-b = [{include-group = "loop-a"}]
"#;

#[test]
fn a_pyproject_project_with_extras_and_dependency_groups() {
    let env = Env::new();
    let dir = env.project("demo", &[("pyproject.toml", DEMO)]);
    let base = env.ok(&[&dir]);
    let p = pins(&base.stdout);
    assert_eq!(
        p.keys().collect::<Vec<_>>(),
        ["conn", "flaskish", "web"],
        "{}",
        base.stdout
    );
    assert!(
        p["web"]
            .2
            .contains(&"# via demo (pyproject.toml)".to_string()),
        "{:?}",
        p["web"]
    );
    // The same through the file, and through -r (which once read it as requirements).
    for args in [
        vec![format!("{dir}/pyproject.toml")],
        vec!["-r".to_string(), format!("{dir}/pyproject.toml")],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(pins(&env.ok(&args).stdout).keys().count(), 3);
    }
    // Extras: directly, through the project itself (`all` -> `demo[cli]`), all of them.
    for extra in [
        vec!["--extra", "cli"],
        vec!["--extra", "all"],
        vec!["--all-extras"],
    ] {
        let mut args = vec![dir.as_str()];
        args.extend(extra);
        let p = pins(&env.ok(&args).stdout);
        assert!(p.contains_key("util"), "{args:?}: {p:?}");
        assert!(p["util"].0.starts_with("util==2.0"), "{:?}", p["util"]);
    }
    // Groups, with include-group; all groups except the cycle are refused by name.
    let p = pins(&env.ok(&[&dir, "--group", "test"]).stdout);
    assert!(
        p.contains_key("tester") && p.contains_key("mypyish"),
        "{p:?}"
    );
    assert!(p["tester"]
        .2
        .iter()
        .any(|l| l.contains("demo (pyproject.toml:test)")));
    let r = env.lock(&[&dir, "--group", "loop-a"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("cycle: loop-a -> loop-b -> loop-a"),
        "{}",
        r.stderr
    );
    let r = env.lock(&[&dir, "--group", "nope"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("dependency group `nope`"), "{}", r.stderr);
    let r = env.lock(&[&dir, "--extra", "nope"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("extra `nope`"), "{}", r.stderr);
    let r = env.lock(&["web", "--extra", "cli"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("need a project input"), "{}", r.stderr);
    // A project that excludes the target Python says so.
    let old = env.project(
        "old",
        &[(
            "pyproject.toml",
            "[project]\nname = 'old'\nversion = '1'\nrequires-python = '<3'\n",
        )],
    );
    let r = env.lock(&[&old]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("requires Python <3"), "{}", r.stderr);
}

#[test]
fn default_groups_and_flags_come_from_tool_sdistill() {
    let env = Env::new();
    let dir = env.project(
        "configured",
        &[(
            "pyproject.toml",
            r#"
[project]
name = "configured"
version = "1.0"
dependencies = ["util"]
[dependency-groups]
test = ["tester"]
[tool.sdistill]
default-groups = ["test"]
no-header = true
resolution = "lowest"
"#,
        )],
    );
    let r = env.ok(&[&dir]);
    assert!(!r.stdout.starts_with('#'), "{}", r.stdout);
    let p = pins(&r.stdout);
    assert!(p.contains_key("tester"), "{p:?}");
    assert!(p["util"].0.starts_with("util==1.0"), "{:?}", p["util"]);
    // The command line wins; --no-default-groups leaves the default groups out.
    let p = pins(
        &env.ok(&[&dir, "--no-default-groups", "--resolution", "highest"])
            .stdout,
    );
    assert!(!p.contains_key("tester"), "{p:?}");
    assert!(p["util"].0.starts_with("util==2.0"), "{:?}", p["util"]);
    // --no-config ignores the table.
    let r = env.ok(&[&dir, "--no-config"]);
    assert!(r.stdout.starts_with('#'));
    // A misspelt key is refused, naming it.
    let bad = env.project(
        "misspelt",
        &[(
            "pyproject.toml",
            "[project]\nname = 'm'\nversion = '1'\n[tool.sdistill]\nexclude-newr = '2024-01-01'\n",
        )],
    );
    let r = env.lock(&[&bad]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("exclude-newr"), "{}", r.stderr);
}

/// A setup.py (or setup.cfg) project is evaluated like any sdist, in the sandbox: its
/// dependencies are what its build computes, and nothing of it runs on the host.
#[test]
fn setup_py_and_setup_cfg_projects_run_in_the_sandbox_never_on_the_host() {
    let env = Env::new();
    let canary = canary_dir();
    let marker = canary.path().join("ran-on-host");
    let setup_py = format!(
        r#"
import os
for attempt in (lambda: open({m:?}, "w").write("x"), lambda: os.system("touch " + {m:?})):
    try:
        attempt()
    except Exception:
        pass
from setuptools import setup
setup(name="legacy", version="1.0",
      install_requires=["hel" + "per", "winonly; sys_platform == 'win32'"],
      extras_require={{"u": ["util<2"]}})
"#,
        m = marker.display().to_string()
    );
    let dir = env.project(
        "legacy",
        &[
            ("setup.py", &setup_py),
            (".git/HEAD", "ref: x\n"),
            (".venv/pyvenv.cfg", "home = /usr/bin\n"),
        ],
    );
    // A virtualenv (and VCS data) is not part of the copy the sandbox gets: a FIFO in it
    // would refuse the whole tree.
    let fifo = Path::new(&dir).join(".venv/fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let r = env.ok(&[&dir, "--extra", "u"]);
    let p = pins(&r.stdout);
    assert_eq!(
        p.keys().collect::<Vec<_>>(),
        ["helper", "util"],
        "{}",
        r.stdout
    );
    assert!(p["util"].0.starts_with("util==1.0"));
    assert!(p["helper"]
        .2
        .contains(&"# via legacy (setup.py)".to_string()));
    assert!(!marker.exists(), "the project's setup.py ran on the host");
    assert!(dir_is_empty(canary.path()));
    let r = env.ok(&[&format!("{dir}/setup.py"), "--platform", "windows"]);
    assert!(pins(&r.stdout).contains_key("winonly"), "{}", r.stdout);

    let cfg = env.project(
        "cfgproj",
        &[
            (
                "setup.cfg",
                "[metadata]\nname = cfgproj\nversion = 0.1\n\n[options]\ninstall_requires =\n    util<2\n    helper\n",
            ),
            ("setup.py", "from setuptools import setup\nsetup()\n"),
        ],
    );
    let r = env.ok(&[&format!("{cfg}/setup.cfg")]);
    let p = pins(&r.stdout);
    assert_eq!(
        p.keys().collect::<Vec<_>>(),
        ["helper", "util"],
        "{}",
        r.stdout
    );
    assert!(
        p["util"]
            .2
            .contains(&"# via cfgproj (setup.py)".to_string()),
        "{:?}",
        p["util"]
    );
}

#[test]
fn direct_references_are_locked_with_their_hash() {
    let env = Env::new();
    let sha = env.sha["direct_pkg-1.0.tar.gz"].clone();
    let url = env.file_url("direct_pkg-1.0.tar.gz");
    // Without a fragment the hash is computed from the downloaded bytes; with one it is
    // checked; a file:// URL is hashed from a private copy.
    let local = env.path("direct_pkg-1.0.tar.gz");
    std::fs::write(&local, &direct_sdist().bytes).unwrap();
    let file_url = format!("file://{}", local.display());
    for reference in [
        format!("direct-pkg @ {url}"),
        format!("direct-pkg @ {url}#sha256={sha}"),
        format!("direct-pkg @ {file_url}"),
    ] {
        let r = env.ok(&[&reference]);
        let p = pins(&r.stdout);
        let (head, hashes, _) = &p["direct-pkg"];
        let expected_url = if reference.contains("file://") {
            &file_url
        } else {
            &url
        };
        assert_eq!(
            head,
            &format!("direct-pkg @ {expected_url}"),
            "{}",
            r.stdout
        );
        assert_eq!(hashes, std::slice::from_ref(&sha));
        assert!(
            p.contains_key("util"),
            "its dependencies come through: {}",
            r.stdout
        );
        // The JSON report and pylock.toml carry it too.
        let json = env.ok(&[&reference, "--format", "json"]);
        let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
        let pkg = &report["packages"][0];
        assert_eq!(pkg["name"], "direct-pkg");
        assert_eq!(pkg["url"], expected_url.as_str());
        assert_eq!(pkg["metadata"]["source"], "static-sdist");
        let lock = env.ok(&[&reference, "--format", "pylock.toml"]);
        let doc: toml::Table = toml::from_str(&lock.stdout).unwrap();
        let archive = &doc["packages"].as_array().unwrap()[0]["archive"];
        assert_eq!(archive["url"].as_str(), Some(expected_url.as_str()));
        assert_eq!(archive["hashes"]["sha256"].as_str(), Some(sha.as_str()));
        assert_eq!(
            archive["size"].as_integer(),
            Some(direct_sdist().bytes.len() as i64)
        );
    }
    // A wrong fragment: the download does not match, nothing is locked.
    let r = env.lock(&[&format!("direct-pkg @ {url}#sha256={}", "0".repeat(64))]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("does not match"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    // Another project's file under this name is refused.
    let r = env.lock(&[&format!("util @ {url}")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("distribution of `direct-pkg`"),
        "{}",
        r.stderr
    );
    // What cannot be hash-pinned is refused, naming what to do instead.
    let r = env.lock(&["demo @ git+https://example.invalid/demo.git@v1"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("archive of the commit"), "{}", r.stderr);
    let reqs = env.path("editable.in");
    std::fs::write(&reqs, "-e ./demo\n").unwrap();
    let r = env.lock(&["-r", reqs.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("editable") && r.stderr.contains("sdistill lock DIR"),
        "{}",
        r.stderr
    );
    // A project's own dependencies may be direct references too.
    let dir = env.project(
        "withurl",
        &[(
            "pyproject.toml",
            &format!("[project]\nname = 'withurl'\nversion = '1'\ndependencies = ['direct-pkg @ {url}']\n"),
        )],
    );
    let p = pins(&env.ok(&[&dir]).stdout);
    assert_eq!(p["direct-pkg"].1, [sha]);
}

#[test]
fn stdin_in_and_stdout_out() {
    let env = Env::new();
    let r = env.lock_stdin(
        &["-r", "-", "-o", "-"],
        Some("util<2\n# a comment\nhelper\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let p = pins(&r.stdout);
    assert_eq!(p.keys().collect::<Vec<_>>(), ["helper", "util"]);
    assert!(
        p["util"].2.contains(&"# via -r -".to_string()),
        "{:?}",
        p["util"]
    );
    let r = env.lock_stdin(&["-", "-r", "-"], Some("util\n"));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("only once"), "{}", r.stderr);
}

/// Pins keep the extras they were asked with: pip 23.x in `--require-hashes` mode refuses
/// `conn==2.0` when `web` asks for `conn[flask]` ("all requirements must have their
/// versions pinned with =="); pip-compile and uv write `conn[flask]==2.0`.
#[test]
fn pins_keep_their_extras_and_pip_accepts_the_lock_in_require_hashes_mode() {
    let env = Env::new();
    let out = env.path("requirements.txt");
    let o = out.to_str().unwrap();
    // For the Python the pips below run on (a venv made from it has the same).
    let target = python_version("python3");
    env.ok(&["web", "--python-version", &target, "-o", o]);
    let text = std::fs::read_to_string(&out).unwrap();
    let p = pins(&text);
    assert_eq!(p["conn"].0, "conn[flask]==2.0", "{text}");
    check_with_pips(&env, &out);
    env.ok(&["web", "--strip-extras", "-o", o]);
    let stripped = std::fs::read_to_string(&out).unwrap();
    assert_eq!(pins(&stripped)["conn"].0, "conn==2.0", "{stripped}");
}

/// `3.X` of a Python interpreter (3.11 when there is none: the checks then skip).
fn python_version(python: &str) -> String {
    std::process::Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "3.11".to_string())
}

/// The Python uv installs for in the pylock.toml check: `SDISTILL_TEST_PIP_PYTHONS`'
/// first entry, else `python3`.
fn uv_python() -> String {
    std::env::var("SDISTILL_TEST_PIP_PYTHONS")
        .ok()
        .and_then(|p| p.split(':').next().map(String::from))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".to_string())
}

/// The Pythons whose pip checks a requirements lock: the host's `python3` (pip 23.x on
/// these machines) and any in `SDISTILL_TEST_PIP_PYTHONS` (colon-separated; CI puts a
/// current pip there).
fn pip_pythons() -> Vec<String> {
    let mut out = vec!["python3".to_string()];
    if let Ok(more) = std::env::var("SDISTILL_TEST_PIP_PYTHONS") {
        out.extend(more.split(':').filter(|p| !p.is_empty()).map(String::from));
    }
    out.into_iter()
        .filter(|py| {
            let ok = std::process::Command::new(py)
                .args(["-m", "pip", "--version"])
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                eprintln!("skipping pip check with {py}: no pip there");
            }
            ok
        })
        .collect()
}

/// `pip install --dry-run --require-hashes -r LOCK` against the test index, wheels only
/// (nothing is built), with each available pip.
fn check_with_pips(env: &Env, lock: &Path) {
    for py in pip_pythons() {
        let version = std::process::Command::new(&py)
            .args(["-m", "pip", "--version"])
            .output()
            .unwrap();
        let out = std::process::Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--require-hashes",
                "--only-binary",
                ":all:",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--index-url",
                &env.server.url,
                "-r",
            ])
            .arg(lock)
            .env("PIP_CONFIG_FILE", "/dev/null")
            .output()
            .expect("run pip");
        assert!(
            out.status.success(),
            "{} refused the lock:\n{}\n{}",
            String::from_utf8_lossy(&version.stdout).trim(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "checked with {}",
            String::from_utf8_lossy(&version.stdout).trim()
        );
    }
}

/// PEP 751's rules for what sdistill writes, checked on the parsed document.
fn check_pylock_rules(text: &str) -> toml::Table {
    let doc: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(doc["lock-version"].as_str(), Some("1.0"));
    assert_eq!(doc["created-by"].as_str(), Some("sdistill"));
    for key in doc.keys() {
        assert!(
            [
                "lock-version",
                "environments",
                "requires-python",
                "extras",
                "dependency-groups",
                "default-groups",
                "created-by",
                "packages",
                "tool"
            ]
            .contains(&key.as_str()),
            "unknown top-level key {key}"
        );
    }
    for env in doc["environments"].as_array().unwrap() {
        env.as_str()
            .unwrap()
            .parse::<pep508_rs::MarkerTree>()
            .expect("environments are markers");
    }
    let packages = doc["packages"].as_array().unwrap();
    let mut names = Vec::new();
    for p in packages {
        let name = p["name"].as_str().unwrap();
        assert_eq!(
            name,
            sdistill::metadata::normalize_name(name),
            "names are normalized"
        );
        names.push(name.to_string());
        p["version"]
            .as_str()
            .unwrap()
            .parse::<sdistill::resolve::Version>()
            .unwrap();
        if let Some(m) = p.get("marker") {
            m.as_str()
                .unwrap()
                .parse::<pep508_rs::MarkerTree>()
                .unwrap();
        }
        let sources = ["vcs", "directory", "archive"]
            .iter()
            .filter(|k| p.get(**k).is_some())
            .count();
        let index_sources = ["sdist", "wheels"]
            .iter()
            .filter(|k| p.get(**k).is_some())
            .count();
        assert!(
            (sources == 1 && index_sources == 0) || (sources == 0 && index_sources >= 1),
            "{name}: archive/vcs/directory exclude sdist and wheels, and one source is needed"
        );
        let files = p.get("sdist").into_iter().chain(
            p.get("wheels")
                .and_then(|w| w.as_array())
                .into_iter()
                .flatten(),
        );
        for f in files {
            let url = f["url"].as_str().unwrap();
            let file_name = f["name"].as_str().unwrap();
            assert!(
                url.ends_with(&format!("/{file_name}")),
                "{url} names {file_name}"
            );
            assert!(!url.contains('@'), "credentials in {url}");
            let sha = f["hashes"]["sha256"].as_str().unwrap();
            assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()));
            if let Some(t) = f.get("upload-time") {
                let t = t.as_datetime().expect("upload-time is a TOML datetime");
                assert!(
                    matches!(t.offset, Some(toml::value::Offset::Z)),
                    "upload-time in UTC"
                );
            }
        }
        if let Some(wheels) = p.get("wheels") {
            for w in wheels.as_array().unwrap() {
                assert!(w["name"].as_str().unwrap().ends_with(".whl"));
            }
        }
        if let Some(s) = p.get("sdist") {
            assert!(!s["name"].as_str().unwrap().ends_with(".whl"));
        }
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "one entry per package, sorted");
    doc
}

#[test]
fn pylock_toml_follows_pep_751_and_an_installer_accepts_it() {
    let env = Env::new();
    let dir = env.project("demo", &[("pyproject.toml", DEMO)]);
    let lock = env.path("pylock.toml");
    // For the Python the installer below installs for.
    let target = python_version(&uv_python());
    env.ok(&[
        &dir,
        "--extra",
        "cli",
        "--python-version",
        &target,
        "-o",
        lock.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&lock).unwrap();
    let doc = check_pylock_rules(&text);
    assert_eq!(
        doc["requires-python"].as_str(),
        Some(format!("=={target}.*").as_str())
    );
    let packages = doc["packages"].as_array().unwrap();
    let util = packages
        .iter()
        .find(|p| p["name"].as_str() == Some("util"))
        .unwrap();
    let wheel = &util["wheels"].as_array().unwrap()[0];
    assert_eq!(wheel["name"].as_str(), Some("util-2.0-py3-none-any.whl"));
    assert_eq!(
        wheel["hashes"]["sha256"].as_str(),
        Some(env.sha["util-2.0-py3-none-any.whl"].as_str())
    );
    assert!(wheel["size"].as_integer().unwrap() > 0);
    assert_eq!(
        wheel["upload-time"].as_datetime().unwrap().to_string(),
        "2024-06-01T12:00:00Z"
    );
    let web = packages
        .iter()
        .find(|p| p["name"].as_str() == Some("web"))
        .unwrap();
    assert_eq!(
        web["dependencies"].as_array().unwrap()[0]["name"].as_str(),
        Some("conn")
    );
    assert_eq!(
        web["tool"]["sdistill"]["metadata-method"].as_str(),
        Some("metadata-file")
    );
    // Deterministic: the same inputs and index give the same bytes.
    let again = env.ok(&[
        &dir,
        "--extra",
        "cli",
        "--python-version",
        &target,
        "--format",
        "pylock.toml",
    ]);
    let strip = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with("command"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&again.stdout), strip(&text));
    // An installer reads it.
    check_pylock_with_uv(&lock);
}

/// `uv pip install --dry-run -r pylock.toml` where uv is available (`SDISTILL_TEST_UV`,
/// else `uv` on PATH), for a Python 3.11 interpreter (`SDISTILL_TEST_PIP_PYTHONS`' first
/// entry, else `python3`).
fn check_pylock_with_uv(lock: &Path) {
    let uv = std::env::var("SDISTILL_TEST_UV").unwrap_or_else(|_| "uv".to_string());
    let Ok(version) = std::process::Command::new(&uv).arg("--version").output() else {
        eprintln!(
            "skipping the uv check of pylock.toml: uv is not installed here (set SDISTILL_TEST_UV)"
        );
        return;
    };
    let python = uv_python();
    let scratch = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&uv)
        .args([
            "pip",
            "install",
            "--dry-run",
            "--python",
            &python,
            "--no-config",
            "-r",
        ])
        .arg(lock)
        .env("UV_CACHE_DIR", scratch.path())
        .env("UV_NO_PROGRESS", "1")
        .output()
        .expect("run uv");
    assert!(
        out.status.success(),
        "{} refused the pylock.toml:\n{}\n{}",
        String::from_utf8_lossy(&version.stdout).trim(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "uv accepted it: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

#[test]
fn the_json_report_says_where_each_pins_metadata_came_from() {
    let env = Env::new();
    let r = env.ok(&[
        "web",
        "util<2",
        "lib",
        "--format",
        "json",
        "--no-binary",
        "util",
    ]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["schema"], "sdistill-lock/1");
    let by_name: BTreeMap<&str, &serde_json::Value> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p))
        .collect();
    let source = |n: &str| by_name[n]["metadata"]["source"].as_str().unwrap();
    assert_eq!(source("web"), "pep658");
    assert_eq!(source("util"), "static-sdist");
    assert_eq!(source("lib"), "sandbox");
    assert_eq!(by_name["lib"]["metadata"]["file"], "lib-1.0.tar.gz");
    assert_eq!(by_name["conn"]["extras"], serde_json::json!(["flask"]));
    assert_eq!(
        by_name["web"]["dependencies"],
        serde_json::json!([{"name": "conn", "extras": ["flask"], "marker": null}])
    );
    let files = by_name["util"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "--no-binary: the sdist only");
    assert_eq!(files[0]["sha256"], env.sha["util-1.0.tar.gz"].as_str());
    assert_eq!(files[0]["upload_time"], "2024-01-01T00:00:00Z");
    // A wheel without a metadata file is read from the wheel itself.
    let r = env.ok(&["util<2", "--format", "json", "--only-binary", "util"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["packages"][0]["metadata"]["source"], "wheel");
}

#[test]
fn check_says_whether_the_committed_lock_is_up_to_date() {
    let env = Env::new();
    for name in ["requirements.txt", "pylock.toml", "lock.json"] {
        let reqs = env.path("check.in");
        std::fs::write(&reqs, "web\nutil<2\n").unwrap();
        let out = env.path(name);
        let (r, o) = (reqs.to_str().unwrap(), out.to_str().unwrap());
        env.ok(&["-r", r, "-o", o]);
        let written = std::fs::read_to_string(&out).unwrap();
        let check = env.ok(&["-r", r, "-o", o, "--check"]);
        assert!(
            check.stderr.contains("up to date"),
            "{name}: {}",
            check.stderr
        );
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            written,
            "--check wrote"
        );
        // A requirement changes: stale, with a readable diff, and nothing written.
        std::fs::write(&reqs, "web\nutil>=2\nhelper\n").unwrap();
        let stale = env.lock(&["-r", r, "-o", o, "--check"]);
        assert_eq!(stale.code, 4, "{name}: {}", stale.stderr);
        assert!(
            stale.stderr.contains("+ helper==1.0"),
            "{name}: {}",
            stale.stderr
        );
        assert!(
            stale.stderr.contains("~ util==1.0 -> util==2.0"),
            "{name}: {}",
            stale.stderr
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap(), written);
        // Relocked: up to date again.
        env.ok(&["-r", r, "-o", o]);
        env.ok(&["-r", r, "-o", o, "--check"]);
        // Upstream moves but the existing pins still fit: kept, so still up to date.
        std::fs::write(&reqs, "web\nutil\nhelper\n").unwrap();
        env.ok(&["-r", r, "-o", o, "--check"]);
    }
    // A file with another hash set (the index gained or lost a file) is stale too.
    let out = env.path("hashes.txt");
    let o = out.to_str().unwrap();
    env.ok(&["util<2", "-o", o, "--no-binary", "util"]);
    let stale = env.lock(&["util<2", "-o", o, "--check"]);
    assert_eq!(stale.code, 4, "{}", stale.stderr);
    assert!(
        stale.stderr.contains("util==1.0: hashes changed +"),
        "{}",
        stale.stderr
    );
    // --check needs a file to compare with.
    assert_eq!(env.lock(&["util", "--check"]).code, 2);
    let missing = env.s("missing.txt");
    assert_eq!(env.lock(&["util", "-o", &missing, "--check"]).code, 2);
}

#[test]
fn header_annotations_index_urls_and_emitted_packages() {
    let env = Env::new();
    let r = env.ok(&["web", "--no-header"]);
    assert!(r.stdout.starts_with("conn[flask]==2.0"), "{}", r.stdout);
    let r = env.ok(&["web", "--no-annotate", "--no-header"]);
    assert!(!r.stdout.contains('#'), "{}", r.stdout);
    let r = env.ok(&["web", "--no-emit-package", "flaskish,conn"]);
    assert_eq!(pins(&r.stdout).keys().collect::<Vec<_>>(), ["web"]);
    // --emit-index-url writes the index without its credentials.
    let with_auth = env
        .server
        .url
        .replace("http://", "http://__token__:s3cret@");
    let r = env.ok(&["web", "--emit-index-url", "--index-url", &with_auth]);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("--index-url"))
        .unwrap();
    assert_eq!(line, format!("--index-url {}", env.server.url));
    assert!(!r.stdout.contains("s3cret") && !r.stderr.contains("s3cret"));
    // -q: nothing on stderr but errors; -v: every step.
    let r = env.ok(&["shimmed", "-q"]);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let r = env.ok(&["web", "-v"]);
    assert!(r.stderr.contains("dependencies from"), "{}", r.stderr);
}

#[test]
fn resolution_strategies_and_exclude_newer() {
    let env = Env::new();
    let version =
        |args: &[&str], name: &str| -> String { pins(&env.ok(args).stdout)[name].0.clone() };
    assert!(version(&["util"], "util").starts_with("util==2.0"));
    assert!(version(&["util", "--resolution", "lowest"], "util").starts_with("util==1.0"));
    assert!(version(&["web", "--resolution", "lowest"], "conn").starts_with("conn[flask]==2.0"));
    assert!(
        version(&["web", "util", "--resolution", "lowest-direct"], "util").starts_with("util==1.0")
    );
    // util 2.0 was uploaded 2024-06-01T12:00Z.
    assert!(version(&["util", "--exclude-newer", "2024-06-01"], "util").starts_with("util==1.0"));
    assert!(
        version(&["util", "--exclude-newer", "2024-06-01T12:00:01Z"], "util")
            .starts_with("util==2.0")
    );
    // Only the files uploaded before the cutoff are hashed: util 1.0's sdist was
    // uploaded before 00:00:00.5, its wheel after.
    let p = pins(
        &env.ok(&["util<2", "--exclude-newer", "2024-01-01T00:00:00.2Z"])
            .stdout,
    );
    assert_eq!(p["util"].1, [env.sha["util-1.0.tar.gz"].clone()]);
    let r = env.lock(&["util", "--exclude-newer", "yesterday"]);
    assert_eq!(r.code, 2);
}

/// MarkupSafe 1.0 on CPython 3.11+: the sandbox answers with a compatibility shim, but
/// pip and uv cannot build the sdist. The lock says so per pin and on stderr, and
/// `--strict` refuses it.
#[test]
fn pins_that_needed_build_help_are_flagged_and_strict_refuses_them() {
    let env = Env::new();
    let r = env.ok(&["shimmed"]);
    let p = pins(&r.stdout);
    assert!(
        p["shimmed"]
            .2
            .iter()
            .any(|l| l.contains("build help") && l.contains("collections.Mapping")),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("1 pin needed build help"), "{}", r.stderr);
    assert!(
        r.stderr.contains("shimmed 1.0 (shimmed-1.0.tar.gz)"),
        "{}",
        r.stderr
    );
    let out = env.path("strict.txt");
    let r = env.lock(&["shimmed", "--strict", "-o", out.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("shimmed 1.0"), "{}", r.stderr);
    assert!(!out.exists(), "--strict wrote a lock");
    let json = env.ok(&["shimmed", "--format", "json"]);
    assert!(json.stdout.contains("collections.Mapping"));
}

#[test]
fn errors_explain_wheels_for_other_pythons() {
    let env = Env::new();
    let r = env.lock(&["tw==2.1.0"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "hint: tw 2.1.0 has wheels for CPython 3.8\u{2013}3.11 only; you target CPython 3.12 on linux x86_64"
        ),
        "{}",
        r.stderr
    );
    let p = pins(&env.ok(&["tw==2.1.0", "--python-version", "3.11"]).stdout);
    assert_eq!(p["tw"].1.len(), 4, "every wheel is hashed");
    // --exclude-newer says why too.
    let r = env.lock(&["util>=2", "--exclude-newer", "2024-03-01"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("util 2.0 was uploaded after --exclude-newer 2024-03-01T00:00:00Z"),
        "{}",
        r.stderr
    );
}
