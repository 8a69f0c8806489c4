//! Fidelity: answers like pip's, and flagged answers where a current Python cannot build
//! an old sdist. Needs the installed runtime; build requirements come from an index the
//! test serves on 127.0.0.1.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn sdist(dir: &Path, name: &str, setup_py: &str, extra: Vec<Member>) -> PathBuf {
    sdist_v(dir, name, "1.0", setup_py, extra)
}

/// An sdist named `{name}-{version}`: the version its setup.py must arrive at.
fn sdist_v(dir: &Path, name: &str, version: &str, setup_py: &str, extra: Vec<Member>) -> PathBuf {
    let top = format!("{name}-{version}");
    let mut members = vec![file(&format!("{top}/setup.py"), setup_py)];
    for m in extra {
        members.push(match m {
            Member::File(p, d) => Member::File(
                format!("{top}/{}", String::from_utf8_lossy(&p)).into_bytes(),
                d,
            ),
            other => other,
        });
    }
    write_sdist(dir, &top, Kind::TarGz, &members)
}

fn reqs(v: &Value) -> Vec<String> {
    v["requires_dist"]
        .as_array()
        .map(|a| a.iter().map(|r| r.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn warnings(v: &Value) -> String {
    v["warnings"].to_string()
}

const PLATFORM_PROBE: &str = r#"
import os, sys, platform, sysconfig
from setuptools import setup
reqs = ['sys-' + sys.platform, 'os-' + os.name, 'system-' + platform.system().lower(),
        'machine-' + platform.machine().lower(), 'bits-%d' % (64 if sys.maxsize > 2**32 else 32),
        'cpus-%d' % os.cpu_count(), 'tag-' + sysconfig.get_platform().replace('.', '-')]
assert sysconfig.get_config_var('EXT_SUFFIX') is not None or True
setup(name='probe', version='1.0', install_requires=reqs)
"#;

#[test]
fn target_platform_is_what_setup_py_sees() {
    let tmp = tempfile::tempdir().unwrap();
    let path = sdist(tmp.path(), "probe", PLATFORM_PROBE, vec![]);
    for (flags, expect) in [
        (
            vec![],
            vec![
                "sys-linux",
                "os-posix",
                "system-linux",
                "machine-x86_64",
                "bits-64",
                "tag-linux-x86_64",
            ],
        ),
        (
            vec!["--target-platform", "macos", "--target-machine", "arm64"],
            vec![
                "sys-darwin",
                "os-posix",
                "system-darwin",
                "machine-arm64",
                "bits-64",
            ],
        ),
        (
            vec!["--target-platform", "windows"],
            vec![
                "sys-win32",
                "os-nt",
                "system-windows",
                "machine-amd64",
                "bits-64",
                "tag-win-amd64",
            ],
        ),
    ] {
        let (code, v) = inspect_one(&flags, &path);
        assert_eq!(code, 0, "{v}");
        let r = reqs(&v);
        for e in expect {
            assert!(r.iter().any(|x| x == e), "{flags:?}: {e} not in {r:?}");
        }
        assert!(v["target"]["platform"].is_string(), "{v}");
    }
}

#[test]
fn removed_stdlib_names_are_provided_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
from collections import Mapping, MutableMapping
import imp, configparser
from UserDict import DictMixin
cp = configparser.SafeConfigParser()
import io
cp.readfp(io.StringIO('[x]\na = 1\n'))
import multiprocessing
assert multiprocessing.cpu_count() >= 1
from setuptools import setup
setup(name='legacy', version='1.0', install_requires=['six'], use_2to3=True)
"#;
    let path = sdist(tmp.path(), "legacy", setup, vec![]);
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(reqs(&v), vec!["six"]);
    let w = warnings(&v);
    for name in [
        "collections.Mapping",
        "imp",
        "UserDict",
        "SafeConfigParser",
        "readfp",
        "use_2to3",
    ] {
        assert!(w.contains(name), "{name} not reported: {w}");
    }
}

#[test]
fn pkg_resources_users_get_the_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = "import pkg_resources\nfrom setuptools import setup\nsetup(name='pr', version='1.0', install_requires=['attrs'])\n";
    let path = sdist(tmp.path(), "pr", setup, vec![]);
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(reqs(&v), vec!["attrs"]);
    assert!(warnings(&v).contains("pkg_resources"), "{v}");
}

#[test]
fn non_pep440_requirements_are_kept_and_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = "from setuptools import setup\nsetup(name='legacyspec', version='1.0', install_requires=['pytz>dev', 'kombu>=4'])\n";
    let path = sdist(tmp.path(), "legacyspec", setup, vec![]);
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["method"], "sandbox-setup-kwargs");
    assert_eq!(reqs(&v), vec!["pytz>dev", "kombu>=4"]);
    assert!(warnings(&v).contains("pytz>dev"), "{v}");
}

#[test]
fn version_zero_is_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let path = sdist(
        tmp.path(),
        "zero",
        "from setuptools import setup\nsetup(name='zero', version='0.0.0')\n",
        vec![],
    );
    let (_, v) = inspect_one(&[], &path);
    assert!(warnings(&v).contains("0.0.0"), "{v}");
}

#[test]
fn in_tree_pep517_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let backend = r#"
import os
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    d = os.path.join(metadata_directory, 'intree-1.0.dist-info')
    os.makedirs(d)
    with open(os.path.join(d, 'METADATA'), 'w') as f:
        f.write('Metadata-Version: 2.1\nName: intree\nVersion: 1.0\nRequires-Dist: attrs>=21\nRequires-Python: >=3.8\n')
    return 'intree-1.0.dist-info'
"#;
    let members = vec![
        file(
            "intree-1.0/pyproject.toml",
            "[build-system]\nrequires = []\nbuild-backend = 'backend'\nbackend-path = ['_build']\n",
        ),
        file("intree-1.0/_build/backend.py", backend),
    ];
    let path = write_sdist(tmp.path(), "intree-1.0", Kind::TarGz, &members);
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["method"], "sandbox-pep517");
    assert_eq!(reqs(&v), vec!["attrs>=21"]);
    assert_eq!(v["requires_python"], ">=3.8");
}

/// setup_requires and [build-system].requires come from the index as real wheels.
#[test]
fn build_requirements_are_real_wheels_from_the_index() {
    let helper = wheel_bytes("sdhelper", "4.2", "VERSION = '4.2'\n", &["sdhelper-dep>=1"]);
    let dep = wheel_bytes("sdhelper-dep", "1.5", "", &[]);
    let server = IndexServer::start(vec![
        IndexEntry {
            project: "sdhelper".into(),
            filename: "sdhelper-4.2-py3-none-any.whl".into(),
            bytes: helper,
            advertised_sha256: None,
            ..Default::default()
        },
        IndexEntry {
            project: "sdhelper-dep".into(),
            filename: "sdhelper_dep-1.5-py3-none-any.whl".into(),
            bytes: dep,
            advertised_sha256: None,
            ..Default::default()
        },
        // Only a compiled wheel: gets a stand-in.
        IndexEntry {
            project: "nativeonly".into(),
            filename: "nativeonly-1.0-cp312-cp312-manylinux_2_17_x86_64.whl".into(),
            bytes: b"x".to_vec(),
            advertised_sha256: None,
            ..Default::default()
        },
    ]);
    let (cache, runtime) = private_cache();
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
from setuptools import setup
try:
    import sdhelper, sdhelper_dep
    version = sdhelper.VERSION
except ImportError:
    version = '0.0.0'
setup(name='usehelper', version=version, setup_requires=['sdhelper>=4'], install_requires=['x'])
"#;
    let a = sdist_v(tmp.path(), "usehelper", "4.2", setup, vec![]);
    let setup_b =
        "import nativeonly\nfrom setuptools import setup\nsetup(name='usenative', version='1.0')\n";
    let b = sdist(
        tmp.path(),
        "usenative",
        setup_b,
        vec![file("pyproject.toml", "[build-system]\nrequires = ['setuptools', 'nativeonly']\nbuild-backend = 'setuptools.build_meta'\n")],
    );
    let run = |offline: bool| {
        let mut args = vec!["--runtime", &runtime, "--index-url", &server.url];
        if offline {
            args.push("--offline");
        }
        args.push(a.to_str().unwrap());
        args.push(b.to_str().unwrap());
        inspect_env(&args, &[("SDISTILL_CACHE_DIR", cache.path().as_os_str())]).1
    };
    let v = run(false);
    assert_eq!(v[0]["version"], "4.2", "{}", v[0]);
    assert!(v[0]["warnings"].as_array().unwrap().is_empty(), "{}", v[0]);
    assert_eq!(v[1]["name"], "usenative", "{}", v[1]);
    assert!(warnings(&v[1]).contains("stand-in"), "{}", v[1]);
    // Cached: offline gives the same answer.
    let v = run(true);
    assert_eq!(v[0]["version"], "4.2", "{}", v[0]);
}

#[test]
fn a_wheel_whose_hash_does_not_match_is_refused() {
    let helper = wheel_bytes("sdhelper", "4.2", "VERSION = '4.2'\n", &[]);
    let server = IndexServer::start(vec![IndexEntry {
        project: "sdhelper".into(),
        filename: "sdhelper-4.2-py3-none-any.whl".into(),
        bytes: helper,
        advertised_sha256: Some("0".repeat(64)),
        ..Default::default()
    }]);
    let (cache, runtime) = private_cache();
    let tmp = tempfile::tempdir().unwrap();
    let setup = "from setuptools import setup\ntry:\n    import sdhelper\n    v = sdhelper.VERSION\nexcept ImportError:\n    v = '0.0.0'\nsetup(name='usehelper', version=v, setup_requires=['sdhelper'])\n";
    let a = sdist_v(tmp.path(), "usehelper", "4.2", setup, vec![]);
    let (code, v) = inspect_env(
        &[
            "--runtime",
            &runtime,
            "--index-url",
            &server.url,
            a.to_str().unwrap(),
        ],
        &[("SDISTILL_CACHE_DIR", cache.path().as_os_str())],
    );
    // Without its helper the build says 0.0.0: never a quiet wrong version, but the
    // inconsistent-metadata error naming what could not be provided.
    assert_eq!(code, 1, "{}", v[0]);
    assert_eq!(v[0]["error"]["kind"], "inconsistent-metadata", "{}", v[0]);
    let message = v[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("4.2") && message.contains("0.0.0") && message.contains("sdhelper"),
        "{message}"
    );
    assert!(warnings(&v[0]).contains("sha256"), "{}", v[0]);
}

#[test]
fn find_module_only_import_hooks_still_work() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
import sys, types
class OldStyle:
    def find_module(self, name, path=None):
        return self if name == 'legacy_moves' else None
    def load_module(self, name):
        m = types.ModuleType(name); m.VALUE = 'ok'; sys.modules[name] = m; return m
sys.meta_path.append(OldStyle())
import legacy_moves
from setuptools import setup
setup(name='oldhook', version='1.0', install_requires=['dep-' + legacy_moves.VALUE])
"#;
    let path = sdist(tmp.path(), "oldhook", setup, vec![]);
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(reqs(&v), vec!["dep-ok"]);
    assert!(warnings(&v).contains("OldStyle"), "{v}");
}

/// Old setup.py files put global regex flags at the end of a pattern (MarkupSafe 1.0:
/// `'(.*?)'(?sm)`), which Python 3.11+ refuses; the guest moves them to the start and
/// says so.
#[test]
fn trailing_inline_regex_flags_are_moved_and_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = "import re\nfrom setuptools import setup\nv = re.search(r\"^__version__ = '(.*?)'(?sm)\", \"x\\n__version__ = '3.1'\\n\").group(1)\nsetup(name='flags', version=v)\n";
    let path = sdist_v(tmp.path(), "flags", "3.1", setup, vec![]);
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["version"], "3.1");
    assert!(warnings(&v).contains("inline regex flags"), "{v}");
}

/// A declared Cython is the real (pure-Python) wheel from the index: the driver's Cython
/// stand-in, only for undeclared imports, stays out of the way and nothing is flagged.
#[test]
fn declared_cython_is_the_wheel_not_the_stand_in() {
    let cython = wheel_bytes(
        "Cython",
        "0.29.99",
        "import sys, types\n__version__ = '0.29.99'\nBuild = types.ModuleType('Cython.Build')\nBuild.cythonize = lambda modules, **kw: []\nsys.modules['Cython.Build'] = Build\n",
        &[],
    );
    let server = IndexServer::start(vec![IndexEntry {
        project: "cython".into(),
        filename: "Cython-0.29.99-py3-none-any.whl".into(),
        bytes: cython,
        advertised_sha256: None,
        ..Default::default()
    }]);
    let (cache, runtime) = private_cache();
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
from setuptools import setup
import Cython
from Cython.Build import cythonize
setup(name='cydecl', version='1.0', ext_modules=cythonize(['x.pyx']),
      install_requires=['cy==' + Cython.__version__])
"#;
    let path = sdist(
        tmp.path(),
        "cydecl",
        setup,
        vec![file("pyproject.toml", "[build-system]\nrequires = ['setuptools', 'cython']\nbuild-backend = 'setuptools.build_meta'\n")],
    );
    let args = [
        "--runtime",
        &runtime,
        "--index-url",
        &server.url,
        path.to_str().unwrap(),
    ];
    let v = inspect_env(&args, &[("SDISTILL_CACHE_DIR", cache.path().as_os_str())]).1;
    assert_eq!(
        v[0]["requires_dist"],
        serde_json::json!(["cy==0.29.99"]),
        "{}",
        v[0]
    );
    assert!(!warnings(&v[0]).contains("stand-in"), "{}", v[0]);
}
