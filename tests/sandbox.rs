//! The sandbox: build code runs inside WASI CPython and never reaches the host.
//!
//! These tests need the pinned runtime installed (`sdistill runtime install`, which
//! `.ci/run` does); they run `inspect --offline`, so they never touch the network.

mod common;

use std::path::{Path, PathBuf};

use common::*;

#[test]
fn setup_py_metadata_like_pip() {
    let tmp = tempfile::tempdir().unwrap();
    let path = setup_py_sdist(
        tmp.path(),
        "dyn",
        "from setuptools import setup\nimport sys\nreqs = ['requests>=2.0']\nif sys.version_info < (3, 0):\n    reqs.append('futures')\nsetup(name='dyn', version='1.' + '0', install_requires=reqs + ['six; python_version<\"3\"'],\n      extras_require={'dev': ['pytest>=7'], 'fast:sys_platform==\"linux\"': ['uvloop']},\n      python_requires='>=3.7')\n",
    );
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["method"], "sandbox-egg-info");
    assert_eq!(v["name"], "dyn");
    assert_eq!(v["version"], "1.0");
    assert_eq!(v["requires_python"], ">=3.7");
    let reqs: Vec<&str> = v["requires_dist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(reqs.contains(&"requests>=2.0"), "{reqs:?}");
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("six") && r.contains("python_version")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("pytest>=7") && r.contains("extra == \"dev\"")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("uvloop") && r.contains("extra == \"fast\"")),
        "{reqs:?}"
    );
    assert!(!reqs.iter().any(|r| r.starts_with("futures")));
}

#[test]
fn distutils_setup_and_setup_cfg() {
    let tmp = tempfile::tempdir().unwrap();
    let path = setup_py_sdist(
        tmp.path(),
        "old",
        "from distutils.core import setup\nsetup(name='old', version='1.0', requires=['x'])\n",
    );
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["version"], "1.0");

    let members = vec![
        file("cfg-3.0/setup.cfg", "[metadata]\nname = cfg\nversion = 3.0\n[options]\ninstall_requires =\n    attrs>=20\n    packaging\npython_requires = >=3.9\n"),
        file("cfg-3.0/setup.py", "from setuptools import setup\nsetup()\n"),
    ];
    let path = write_sdist(tmp.path(), "cfg-3.0", Kind::Zip, &members);
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["name"], "cfg");
    assert_eq!(
        v["requires_dist"],
        serde_json::json!(["attrs>=20", "packaging"])
    );
    assert_eq!(v["requires_python"], ">=3.9");
}

#[test]
fn native_backends_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let members = vec![
        file("rs-1.0/pyproject.toml", "[build-system]\nrequires=['maturin>=1']\nbuild-backend='maturin'\n[project]\nname='rs'\ndynamic=['version']\n"),
    ];
    let path = write_sdist(tmp.path(), "rs-1.0", Kind::TarGz, &members);
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 1);
    assert_eq!(error_kind(&v), Some("unsupported-backend"), "{v}");
}

#[test]
fn parallel_batch_mixes_hostile_and_honest() {
    let tmp = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for i in 0..4 {
        inputs.push(setup_py_sdist(
            tmp.path(),
            &format!("ok{i}"),
            &honest(&format!("ok{i}"), ""),
        ));
        inputs.push(setup_py_sdist(
            tmp.path(),
            &format!("bad{i}"),
            "raise RuntimeError('boom')\n",
        ));
    }
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let (code, arr, _) = inspect_json(&["-j", "2"], &refs);
    assert_eq!(code, 1);
    for i in 0..4 {
        assert_honest(&arr[2 * i], &format!("ok{i}"));
        assert_eq!(error_kind(&arr[2 * i + 1]), Some("setup-failed"));
    }
}

/// A repeated inspect of the same bytes is a verified cache lookup: no sandbox run (the
/// second run has no runtime at all), and a tampered entry is recomputed, not trusted.
#[test]
fn metadata_cache_serves_repeats_and_rejects_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, runtime) = private_cache();
    let path = setup_py_sdist(
        tmp.path(),
        "cachy",
        "from setuptools import setup\nsetup(name='cachy', version='1.0', install_requires=['six'])\n",
    );
    let input = path.display().to_string();
    let envs = [
        ("SDISTILL_CACHE_DIR", cache.path().as_os_str()),
        ("SDISTILL_NO_CACHE", std::ffi::OsStr::new("0")),
    ];
    let first = inspect_env(&["--offline", "--runtime", &runtime, &input], &envs).1;
    assert_eq!(first[0]["cached"], false, "{}", first[0]);
    assert_eq!(first[0]["method"], "sandbox-egg-info");

    let missing = tmp.path().join("no-runtime-here");
    let missing = missing.display().to_string();
    let second = inspect_env(&["--offline", "--runtime", &missing, &input], &envs).1;
    assert_eq!(second[0]["cached"], true, "{}", second[0]);
    assert_eq!(second[0]["requires_dist"], first[0]["requires_dist"]);
    assert_eq!(second[0]["method"], "sandbox-egg-info");

    // --no-cache bypasses it: without a runtime that is now a runtime error.
    let (code, bypass) = inspect_env(
        &["--offline", "--no-cache", "--runtime", &missing, &input],
        &envs,
    );
    assert_eq!(code, 1);
    assert_eq!(error_kind(&bypass[0]), Some("runtime"), "{}", bypass[0]);

    // Tamper with every entry: the answer is recomputed in the sandbox, not served.
    let mut entries = Vec::new();
    let mut stack = vec![cache.path().join("metadata")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                entries.push(e.path());
            }
        }
    }
    assert_eq!(entries.len(), 1);
    let text = std::fs::read_to_string(&entries[0]).unwrap();
    std::fs::write(&entries[0], text.replace("\"six\"", "\"evil\"")).unwrap();
    let third = inspect_env(&["--offline", "--runtime", &runtime, &input], &envs).1;
    assert_eq!(third[0]["cached"], false, "{}", third[0]);
    assert_eq!(third[0]["requires_dist"], serde_json::json!(["six"]));
}

/// Every sdist runs in a fresh instance of the interpreter snapshot: what one sdist's code
/// does to the interpreter (modules, environment, files under /scratch) is gone for the
/// next, even in one process; and the snapshot gives the same answers as a cold start.
#[test]
fn snapshot_runs_share_no_state_and_match_a_cold_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dirty = setup_py_sdist(
        tmp.path(),
        "dirty",
        "import json, os, setuptools\njson.LEAK = 1\nsetuptools.LEAK = 1\nos.environ['LEAK'] = '1'\nopen('/scratch/tmp/leak', 'w').write('x')\nfrom setuptools import setup\nsetup(name='dirty', version='1.0')\n",
    );
    let probe = setup_py_sdist(
        tmp.path(),
        "probe",
        "import json, os, setuptools\nleaks = [n for n, v in [('json', hasattr(json, 'LEAK')), ('setuptools', hasattr(setuptools, 'LEAK')), ('env', 'LEAK' in os.environ), ('file', os.path.exists('/scratch/tmp/leak'))] if v]\nfrom setuptools import setup\nsetup(name='probe', version='1.0', install_requires=['leak-' + n for n in leaks] or ['clean'])\n",
    );
    let (code, v, _) = inspect_json(&["-j", "1"], &[&dirty, &probe, &dirty, &probe]);
    assert_eq!(code, 0);
    for probe_result in [&v[1], &v[3]] {
        assert_eq!(
            probe_result["requires_dist"],
            serde_json::json!(["clean"]),
            "{probe_result}"
        );
    }
    // The same answers without the snapshot.
    let honest = setup_py_sdist(
        tmp.path(),
        "twin",
        "import sys\nfrom setuptools import setup\nsetup(name='twin', version='2.0', install_requires=['a>=1; python_version>\"3\"', 'b'], extras_require={'x': ['c']}, python_requires='>=3.8')\n",
    );
    let with = inspect_one(&[], &honest).1;
    let out = run_env(
        &[
            "inspect",
            "--format",
            "json",
            "--offline",
            honest.to_str().unwrap(),
        ],
        &[("SDISTILL_NO_SNAPSHOT", std::ffi::OsStr::new("1"))],
    );
    let without: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "name",
        "version",
        "requires_dist",
        "requires_python",
        "provides_extra",
        "method",
        "warnings",
    ] {
        assert_eq!(with[key], without[0][key], "{key} differs");
    }
}
