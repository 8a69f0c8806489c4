//! The metadata cache answers for bytes *under a name*: the same bytes read under another
//! name (a renamed sdist, a file that is both a valid `.tar.gz` and a valid wheel) are
//! computed and checked again, never handed the first name's answer.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn inspect_cached(cache: &Path, runtime: &str, input: &Path) -> Value {
    let out = run_env(
        &[
            "inspect",
            "--format",
            "json",
            "--offline",
            "--runtime",
            runtime,
            &input.display().to_string(),
        ],
        &[
            ("SDISTILL_CACHE_DIR", cache.as_os_str()),
            ("SDISTILL_NO_CACHE", std::ffi::OsStr::new("0")),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut parsed: Vec<Value> =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"));
    assert_eq!(parsed.len(), 1);
    parsed.remove(0)
}

#[test]
fn a_cached_answer_is_not_reused_for_the_same_bytes_under_another_project_name() {
    let (cache, runtime) = private_cache();
    let dir = tempfile::tempdir().unwrap();
    // Answered in the sandbox, so the answer is cached.
    let bytes = setup_py_sdist_bytes(
        "evilpkg",
        "1.0",
        "from setuptools import setup\nsetup(name='evilpkg', version='1.0', install_requires=['stealer'])\n",
    );
    let genuine = dir.path().join("evilpkg-1.0.tar.gz");
    std::fs::write(&genuine, &bytes).unwrap();
    let first = inspect_cached(cache.path(), &runtime, &genuine);
    assert!(first["error"].is_null(), "{first}");
    assert_eq!(first["cached"], false, "{first}");

    // The same bytes, named as another project: what an uncached run says, every time.
    let renamed = dir.path().join("requests-99.0.tar.gz");
    std::fs::write(&renamed, &bytes).unwrap();
    for _ in 0..2 {
        let v = inspect_cached(cache.path(), &runtime, &renamed);
        assert_eq!(error_kind(&v), Some("inconsistent-metadata"), "{v}");
    }
    let again = inspect_cached(cache.path(), &runtime, &genuine);
    assert_eq!(again["cached"], true, "{again}");
    assert_eq!(again["requires_dist"], serde_json::json!(["stealer"]));
}

#[test]
fn a_file_that_is_both_an_sdist_and_a_wheel_gets_each_answer_under_its_own_name() {
    let (cache, runtime) = private_cache();
    let dir = tempfile::tempdir().unwrap();
    // A gzip stream followed by a zip archive: a tar.gz reader stops at the end of the
    // gzip member, a zip reader finds the central directory at the end.
    let mut bytes = static_sdist_bytes("polytar", "1.0", &["stealer"]);
    bytes.extend(wheel_bytes("polytar", "1.0", "", &["harmless"]));
    let sdist = dir.path().join("polytar-1.0.tar.gz");
    let wheel = dir.path().join("polytar-1.0-py3-none-any.whl");
    std::fs::write(&sdist, &bytes).unwrap();
    std::fs::write(&wheel, &bytes).unwrap();

    let as_sdist = inspect_cached(cache.path(), &runtime, &sdist);
    let as_wheel = inspect_cached(cache.path(), &runtime, &wheel);
    assert_eq!(as_wheel["cached"], false, "{as_wheel}");
    // A zip with data before it is refused outright: no build tool writes one.
    assert_eq!(error_kind(&as_wheel), Some("archive"), "{as_wheel}");
    assert!(
        as_wheel["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("bytes of other data before it"),
        "{as_wheel}"
    );
    // However each name is read (or refused), it is never the other name's answer.
    if as_sdist["error"].is_null() && as_wheel["error"].is_null() {
        assert_ne!(as_sdist["requires_dist"], as_wheel["requires_dist"]);
        assert_ne!(as_sdist["method"], as_wheel["method"]);
    }
    for (path, first) in [(&sdist, &as_sdist), (&wheel, &as_wheel)] {
        let again = inspect_cached(cache.path(), &runtime, path);
        for field in ["requires_dist", "method", "error"] {
            assert_eq!(again[field], first[field], "{again}\nvs\n{first}");
        }
    }
}

/// The bytes hashed are the bytes read: replacing the file at the input's path after it
/// was opened changes nothing about what is unpacked.
#[test]
fn an_opened_input_is_read_as_it_was_opened_whatever_replaces_its_path() {
    use sdistill::archive::{self, InputFile, InputKind};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("goodpkg-2.0.tar.gz");
    std::fs::write(&path, static_sdist_bytes("goodpkg", "2.0", &["requests"])).unwrap();
    let input = InputFile::open(&path).unwrap();
    let swap = dir.path().join("swap");
    std::fs::write(
        &swap,
        static_sdist_bytes("goodpkg", "2.0", &["stealer-from-b"]),
    )
    .unwrap();
    std::fs::rename(&swap, &path).unwrap();
    let unpacked = archive::unpack_opened(
        &input,
        InputKind::SdistTarGz,
        &sdistill::Limits::default(),
        Some(dir.path()),
    )
    .unwrap();
    let pkg_info = std::fs::read_to_string(unpacked.root_path().join("PKG-INFO")).unwrap();
    assert!(pkg_info.contains("Requires-Dist: requests"), "{pkg_info}");
    assert!(!pkg_info.contains("stealer"), "{pkg_info}");
}

/// A FIFO, a device or a directory named like an archive is refused at once: opening a
/// FIFO by name would wait for a writer for ever.
#[test]
fn a_fifo_or_a_directory_named_like_an_archive_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo-1.0.tar.gz");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let (_, v) = inspect_one(&[], &fifo);
    assert_eq!(error_kind(&v), Some("unsupported-input"), "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("a FIFO"),
        "{v}"
    );

    // In a manifest, a directory is refused however it is named.
    let tree = dir.path().join("secretproj-6.6.6.tar.gz");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("setup.py"), "raise SystemExit(1)\n").unwrap();
    let manifest = format!(
        "{{\"path\": \"{}\"}}\n{{\"path\": \"{}\"}}\n",
        fifo.display(),
        tree.display()
    );
    let out = run_env_stdin(
        &["inspect", "--manifest", "-", "--offline"],
        &[],
        Some(&manifest),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for v in &lines {
        assert!(!v["error"].is_null(), "{v}");
        assert!(v["name"].is_null(), "{v}");
    }
}
