//! Build requirements published only as sdists: built into wheels inside the sandbox,
//! recursively within `--max-helper-depth` and `--max-helper-builds`, cached by the
//! sdist's sha256. Needs the installed runtime; the index is served by the test on
//! 127.0.0.1 and every fixture is generated here.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// An sdist `{name}-{version}` with `setup.py` and extra files, as tar.gz bytes.
fn sdist_bytes(name: &str, version: &str, setup_py: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let top = format!("{name}-{version}");
    let mut members = vec![
        file(
            &format!("{top}/PKG-INFO"),
            &format!("Metadata-Version: 1.0\nName: {name}\nVersion: {version}\n"),
        ),
        file(&format!("{top}/setup.py"), setup_py),
    ];
    for (path, content) in extra {
        members.push(file(&format!("{top}/{path}"), content));
    }
    compress(Kind::TarGz, &tar_bytes(&members))
}

/// A helper in the manner of vcversioner: a setup keyword (registered through the
/// `distutils.setup_keywords` entry point) that reads the version from a file. Published
/// only as an sdist; its own setup_requires are `needs`.
fn helper(name: &str, version: &str, needs: &[&str]) -> IndexEntry {
    let module = name.replace('-', "_");
    let setup = format!(
        "from setuptools import setup\nsetup(name={name:?}, version={version:?}, py_modules=[{module:?}],\n      setup_requires={needs:?},\n      entry_points={{'distutils.setup_keywords': ['{module}_version = {module}:keyword']}})\n"
    );
    let source = "def keyword(dist, attr, value):\n    with open(value) as f:\n        dist.metadata.version = f.read().strip()\n";
    IndexEntry::new(
        name,
        &format!("{module}-{version}.tar.gz"),
        sdist_bytes(name, version, &setup, &[(&format!("{module}.py"), source)]),
    )
}

/// The sdist under inspection: its version (4.2) comes only from the helper `uses`.
fn user(dir: &Path, uses: &str) -> PathBuf {
    let module = uses.replace('-', "_");
    let setup = format!(
        "from setuptools import setup\nsetup(name='usesd', setup_requires=['{uses}>=2'], {module}_version='VERSION.txt', install_requires=['x'])\n"
    );
    let path = dir.join("usesd-4.2.tar.gz");
    std::fs::write(
        &path,
        sdist_bytes("usesd", "4.2", &setup, &[("VERSION.txt", "4.2\n")]),
    )
    .unwrap();
    path
}

fn inspect(cache: &Path, runtime: &str, index: &str, extra: &[&str], input: &Path) -> (i32, Value) {
    let mut args = vec!["--runtime", runtime, "--index-url", index, "--no-cache"];
    args.extend_from_slice(extra);
    args.push(input.to_str().unwrap());
    let (code, mut v) = inspect_env(&args, &[("SDISTILL_CACHE_DIR", cache.as_os_str())]);
    (code, v.remove(0))
}

fn text(v: &Value) -> String {
    format!("{} {}", v["warnings"], v["error"])
}

#[test]
fn an_sdist_only_helper_is_built_in_the_sandbox_and_reused_from_the_cache() {
    let entry = helper("sdhelp", "2.16.0.0", &[]);
    let sha = entry.sha256();
    // Like vcversioner: besides the sdist, only a wheel for Python 2.
    let py2 = IndexEntry::new(
        "sdhelp",
        "sdhelp-2.16.0.0-py2-none-any.whl",
        wheel_bytes("sdhelp", "2.16.0.0", "", &[]),
    );
    let server = IndexServer::start(vec![entry, py2]);
    let (cache, runtime) = private_cache();
    let tmp = tempfile::tempdir().unwrap();
    let input = user(tmp.path(), "sdhelp");
    let (code, v) = inspect(cache.path(), &runtime, &server.url, &[], &input);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["version"], "4.2", "{v}");
    assert_eq!(v["requires_dist"], serde_json::json!(["x"]), "{v}");
    assert!(v["warnings"].as_array().unwrap().is_empty(), "{v}");
    // Kept once, by the sdist's sha256 and the index its build requirements came from.
    let kept: Vec<_> = std::fs::read_dir(cache.path().join("helper-wheels"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join(".complete").is_file())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_ne!(kept[0].file_name().to_string_lossy(), sha);
    // Offline, with no helper build allowed: the cached wheel (built from the same sdist
    // bytes against the same index) is used, and a cache hit is not a build.
    let index = server.url.clone();
    drop(server);
    let (code, v) = inspect(
        cache.path(),
        &runtime,
        &index,
        &["--offline", "--max-helper-builds", "0"],
        &input,
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["version"], "4.2", "{v}");
    // Against another index, that build is not used: its own build requirements could
    // differ there.
    let (code, v) = inspect(
        cache.path(),
        &runtime,
        "http://127.0.0.1:9/simple/",
        &["--offline", "--max-helper-builds", "0"],
        &input,
    );
    assert_ne!(code, 0, "{v}");
    assert_ne!(v["version"], "4.2", "{v}");
}

#[test]
fn helpers_of_helpers_are_built_within_the_depth_bound() {
    // usesd needs sdhelp (level 1), which needs sdinner (level 2) at its own setup time.
    let server = IndexServer::start(vec![
        helper("sdhelp", "2.16.0.0", &["sdinner"]),
        helper("sdinner", "1.0", &[]),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let input = user(tmp.path(), "sdhelp");

    let (cache, runtime) = private_cache();
    let (code, v) = inspect(cache.path(), &runtime, &server.url, &[], &input);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["version"], "4.2", "{v}");

    // Depth 1: sdinner may not be built, so sdhelp is not used either; the answer says
    // which helper and which bound, and is never a quiet 0.0.0.
    let (cache, runtime) = private_cache();
    let (code, v) = inspect(
        cache.path(),
        &runtime,
        &server.url,
        &["--max-helper-depth", "1"],
        &input,
    );
    assert_ne!(code, 0, "{v}");
    assert_eq!(error_kind(&v), Some("inconsistent-metadata"), "{v}");
    let all = text(&v);
    assert!(all.contains("sdhelp") && all.contains("sdinner"), "{all}");
    assert!(all.contains("--max-helper-depth"), "{all}");
    assert!(!cache
        .path()
        .join("helper-wheels")
        .read_dir()
        .unwrap()
        .any(|e| e.unwrap().path().join(".complete").exists()));

    // One build allowed: sdhelp's build is the one, sdinner would be the second.
    let (cache, runtime) = private_cache();
    let (code, v) = inspect(
        cache.path(),
        &runtime,
        &server.url,
        &["--max-helper-builds", "1"],
        &input,
    );
    assert_ne!(code, 0, "{v}");
    let all = text(&v);
    assert!(
        all.contains("sdinner") && all.contains("--max-helper-builds"),
        "{all}"
    );
}

#[test]
fn a_helper_that_cannot_be_built_is_named() {
    let broken = IndexEntry::new(
        "sdhelp",
        "sdhelp-2.16.0.0.tar.gz",
        sdist_bytes(
            "sdhelp",
            "2.16.0.0",
            "raise RuntimeError('this helper does not build')\n",
            &[],
        ),
    );
    let server = IndexServer::start(vec![broken]);
    let (cache, runtime) = private_cache();
    let tmp = tempfile::tempdir().unwrap();
    let input = user(tmp.path(), "sdhelp");
    let (code, v) = inspect(cache.path(), &runtime, &server.url, &[], &input);
    assert_ne!(code, 0, "{v}");
    assert_eq!(error_kind(&v), Some("inconsistent-metadata"), "{v}");
    let all = text(&v);
    assert!(
        all.contains("sdhelp>=2") && all.contains("this helper does not build"),
        "{all}"
    );
    assert!(!cache
        .path()
        .join("helper-wheels")
        .read_dir()
        .unwrap()
        .any(|e| e.unwrap().path().join(".complete").exists()));
}

/// `[build-system].requires` takes the same path as `setup_requires`.
#[test]
fn a_build_system_requirement_without_a_wheel_is_built_too() {
    let server = IndexServer::start(vec![helper("sdhelp", "2.16.0.0", &[])]);
    let (cache, runtime) = private_cache();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("pepuser-4.2.tar.gz");
    let setup = "from setuptools import setup\nsetup(name='pepuser', sdhelp_version='VERSION.txt', install_requires=['y'])\n";
    let pyproject = "[build-system]\nrequires = ['setuptools', 'sdhelp>=2']\nbuild-backend = 'setuptools.build_meta'\n";
    std::fs::write(
        &path,
        sdist_bytes(
            "pepuser",
            "4.2",
            setup,
            &[("VERSION.txt", "4.2\n"), ("pyproject.toml", pyproject)],
        ),
    )
    .unwrap();
    let (code, v) = inspect(cache.path(), &runtime, &server.url, &[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["version"], "4.2", "{v}");
    assert_eq!(v["requires_dist"], serde_json::json!(["y"]), "{v}");
}

/// A project that publishes platform wheels has compiled code: its sdist is not built
/// (it would need a compiler); it keeps the flagged stand-in.
#[test]
fn a_project_with_platform_wheels_is_not_built_from_its_sdist() {
    let mut entry = helper("sdhelp", "2.16.0.0", &[]);
    entry.bytes = sdist_bytes(
        "sdhelp",
        "2.16.0.0",
        "raise RuntimeError('must not be built')\n",
        &[],
    );
    let server = IndexServer::start(vec![
        entry,
        IndexEntry::new(
            "sdhelp",
            "sdhelp-2.16.0.0-cp312-cp312-manylinux_2_17_x86_64.whl",
            b"x".to_vec(),
        ),
    ]);
    let (cache, runtime) = private_cache();
    let tmp = tempfile::tempdir().unwrap();
    let input = user(tmp.path(), "sdhelp");
    let (code, v) = inspect(cache.path(), &runtime, &server.url, &[], &input);
    assert_ne!(code, 0, "{v}");
    let all = text(&v);
    assert!(all.contains("no sdist the sandbox could build"), "{all}");
    assert!(!all.contains("must not be built"), "{all}");
}

/// A helper whose build imports numpy would be built with the NumPy stand-in: not a
/// wheel to keep as clean, so it is refused, saying why.
#[test]
fn a_helper_built_with_the_numpy_stand_in_is_refused() {
    let mut entry = helper("sdhelp", "2.16.0.0", &[]);
    let setup = "import numpy\nfrom setuptools import setup\nsetup(name='sdhelp', version='2.16.0.0', py_modules=['sdhelp'], entry_points={'distutils.setup_keywords': ['sdhelp_version = sdhelp:keyword']})\n";
    entry.bytes = sdist_bytes(
        "sdhelp",
        "2.16.0.0",
        setup,
        &[("sdhelp.py", "def keyword(dist, attr, value):\n    dist.metadata.version = open(value).read().strip()\n")],
    );
    let server = IndexServer::start(vec![entry]);
    let (cache, runtime) = private_cache();
    let tmp = tempfile::tempdir().unwrap();
    let input = user(tmp.path(), "sdhelp");
    let (code, v) = inspect(cache.path(), &runtime, &server.url, &[], &input);
    assert_ne!(code, 0, "{v}");
    let all = text(&v);
    assert!(
        all.contains("sdhelp>=2") && all.contains("imported numpy"),
        "{all}"
    );
}

/// With the index unreachable, files already in the cache stand in for a build
/// requirement's page — from whichever index they came — so the answer says so and is
/// flagged (and, being flagged, never cached).
#[test]
fn a_build_requirement_whose_page_cannot_be_fetched_flags_the_answer() {
    let server = IndexServer::start(vec![helper("sdhelp", "2.16.0.0", &[])]);
    let index = server.url.clone();
    let (cache, runtime) = private_cache();
    let tmp = tempfile::tempdir().unwrap();
    let input = user(tmp.path(), "sdhelp");
    let (code, v) = inspect(cache.path(), &runtime, &index, &[], &input);
    assert_eq!(code, 0, "{v}");
    assert!(v["warnings"].as_array().unwrap().is_empty(), "{v}");
    drop(server);
    let (code, v) = inspect(cache.path(), &runtime, &index, &[], &input);
    assert_eq!(v["version"], "4.2", "{v}");
    assert!(
        text(&v).contains("could not be fetched; files already in the cache were used"),
        "{v}"
    );
    let _ = code;
}
