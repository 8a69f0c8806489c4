//! Static metadata from every archive kind, wheels and directories; output formats;
//! exit codes. No build code runs in any of these tests (`--no-sandbox`).

mod common;

use common::*;
use serde_json::Value;

const FIELDS: &[&str] = &[
    "schema",
    "input",
    "source",
    "name",
    "version",
    "metadata_version",
    "requires_dist",
    "requires_python",
    "provides_extra",
    "build_requires",
    "build_backend",
    "method",
    "pin",
    "warnings",
    "error",
];

#[test]
fn every_archive_kind_reads_pkg_info() {
    let tmp = tempfile::tempdir().unwrap();
    for kind in Kind::ALL {
        let path = write_sdist(tmp.path(), "demo-1.2", kind, &static_members("demo", "1.2"));
        let (code, v) = inspect_one(&["--no-sandbox"], &path);
        assert_eq!(code, 0, "{kind:?}: {v}");
        for f in FIELDS {
            assert!(v.get(*f).is_some(), "{kind:?}: missing field {f}");
        }
        assert_eq!(v["schema"], "sdistill/1");
        assert_eq!(v["name"], "demo");
        assert_eq!(v["version"], "1.2");
        assert_eq!(v["method"], "pkg-info");
        assert_eq!(v["requires_python"], ">=3.8");
        assert_eq!(v["provides_extra"], serde_json::json!(["test"]));
        assert_eq!(
            v["requires_dist"],
            serde_json::json!([
                "requests>=2.0",
                "tomli; python_version < \"3.11\"",
                "pytest; extra == \"test\""
            ])
        );
        assert_eq!(
            v["build_requires"],
            serde_json::json!(["setuptools>=61", "wheel"])
        );
        assert_eq!(v["build_backend"], "setuptools.build_meta");
        let sha = sha256_hex(&path);
        assert_eq!(v["source"]["sha256"], sha.as_str());
        assert_eq!(v["source"]["size"], std::fs::metadata(&path).unwrap().len());
        assert_eq!(v["pin"], format!("demo==1.2 --hash=sha256:{sha}").as_str());
        assert!(v["error"].is_null());
    }
}

#[test]
fn old_or_dynamic_pkg_info_is_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    for (mv, extra) in [
        ("2.1", ""),
        ("2.2", "Dynamic: requires-dist\n"),
        ("2.4", "Dynamic: Requires-Dist\n"),
    ] {
        let members = vec![
            file("x-1/PKG-INFO", &pkg_info("x", "1", mv, &["a"], extra)),
            file("x-1/setup.py", ""),
        ];
        let path = write_sdist(
            tmp.path(),
            &format!("x-{mv}-{}", extra.len()),
            Kind::TarGz,
            &members,
        );
        let (code, v) = inspect_one(&["--no-sandbox"], &path);
        assert_eq!(code, 1);
        assert_eq!(error_kind(&v), Some("needs-sandbox"), "{v}");
    }
}

#[test]
fn metadata_version_2_5_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let members = vec![file(
        "x-1/PKG-INFO",
        &pkg_info("x", "1", "2.5", &["a>=1"], "Dynamic: License\n"),
    )];
    let path = write_sdist(tmp.path(), "x-1", Kind::TarGz, &members);
    let (code, v) = inspect_one(&["--no-sandbox"], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["requires_dist"], serde_json::json!(["a>=1"]));
}

#[test]
fn pyproject_project_table() {
    let tmp = tempfile::tempdir().unwrap();
    let members = vec![file(
        "p-0.3/pyproject.toml",
        "[build-system]\nrequires=['hatchling']\nbuild-backend='hatchling.build'\n[project]\nname='p'\nversion='0.3'\nrequires-python='>=3.9'\ndependencies=['attrs>=22']\n[project.optional-dependencies]\nDocs=['sphinx; python_version>=\"3.10\"']\n",
    )];
    let path = write_sdist(tmp.path(), "p-0.3", Kind::Zip, &members);
    let (code, v) = inspect_one(&["--no-sandbox"], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["method"], "pyproject");
    assert_eq!(
        v["requires_dist"],
        serde_json::json!([
            "attrs>=22",
            "sphinx; (python_version>=\"3.10\") and extra == \"docs\""
        ])
    );
    assert_eq!(v["provides_extra"], serde_json::json!(["docs"]));
    assert_eq!(v["build_requires"], serde_json::json!(["hatchling"]));

    let dynamic = vec![file(
        "q-1/pyproject.toml",
        "[project]\nname='q'\ndynamic=['version']\n",
    )];
    let path = write_sdist(tmp.path(), "q-1", Kind::TarGz, &dynamic);
    let (code, v) = inspect_one(&["--no-sandbox"], &path);
    assert_eq!(code, 1);
    assert_eq!(error_kind(&v), Some("needs-sandbox"));
}

#[test]
fn wheel_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = zip_bytes(&[
        file("w/__init__.py", ""),
        file(
            "w-2.0.dist-info/METADATA",
            &pkg_info("w", "2.0", "2.1", &["idna"], ""),
        ),
    ]);
    let path = tmp.path().join("w-2.0-py3-none-any.whl");
    std::fs::write(&path, bytes).unwrap();
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["method"], "wheel");
    assert_eq!(v["source"]["kind"], "wheel");
    assert_eq!(v["requires_dist"], serde_json::json!(["idna"]));
}

#[test]
fn directory_input() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("proj");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("PKG-INFO"), pkg_info("d", "3", "2.3", &["x"], "")).unwrap();
    let (code, v) = inspect_one(&["--no-sandbox"], &d);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["source"]["kind"], "directory");
    assert!(v["source"]["sha256"].is_null());
}

#[test]
fn batch_keeps_every_result_and_order() {
    let tmp = tempfile::tempdir().unwrap();
    let good = write_sdist(tmp.path(), "a-1", Kind::TarGz, &static_members("a", "1"));
    let bad = tmp.path().join("broken-1.tar.gz");
    std::fs::write(&bad, b"not gzip").unwrap();
    let good2 = write_sdist(tmp.path(), "b-2", Kind::TarXz, &static_members("b", "2"));
    let (code, arr, _) = inspect_json(&["--no-sandbox", "-j", "2"], &[&good, &bad, &good2]);
    assert_eq!(code, 1);
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[0]["name"], "a");
    assert_eq!(error_kind(&arr[1]), Some("archive"));
    assert_eq!(arr[2]["name"], "b");
}

#[test]
fn jsonl_and_text_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_sdist(tmp.path(), "a-1", Kind::TarGz, &static_members("a", "1"));
    let b = write_sdist(tmp.path(), "b-1", Kind::Zip, &static_members("b", "1"));
    let out = run(&[
        "inspect",
        "--format",
        "jsonl",
        "--no-sandbox",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let out = run(&[
        "inspect",
        "--format",
        "text",
        "--no-sandbox",
        a.to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("a 1"), "{text}");
    assert!(text.contains("requires: requests>=2.0"), "{text}");
}

#[test]
fn output_file_is_written_atomically() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_sdist(tmp.path(), "a-1", Kind::TarGz, &static_members("a", "1"));
    let out_path = tmp.path().join("out.json");
    let out = run(&[
        "inspect",
        "--format",
        "json",
        "--no-sandbox",
        "-o",
        out_path.to_str().unwrap(),
        a.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: Vec<Value> = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(v[0]["name"], "a");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["inspect"]).status.code(), Some(2));
    assert_eq!(
        run(&["inspect", "--format", "xml", "x.tar.gz"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn unsupported_and_missing_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let rar = tmp.path().join("x.rar");
    std::fs::write(&rar, b"x").unwrap();
    let (code, v) = inspect_one(&[], &rar);
    assert_eq!(code, 1);
    assert_eq!(error_kind(&v), Some("unsupported-input"));
    let (code, v) = inspect_one(&[], &tmp.path().join("missing.tar.gz"));
    assert_eq!(code, 1);
    assert_eq!(error_kind(&v), Some("io"));
}

#[test]
fn invalid_requirements_are_flagged_not_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let members = vec![file(
        "x-1/PKG-INFO",
        &pkg_info("x", "1", "2.2", &["pytz>=2011k", "ok>=1"], ""),
    )];
    let path = write_sdist(tmp.path(), "x-1", Kind::TarGz, &members);
    let (code, v) = inspect_one(&["--no-sandbox"], &path);
    assert_eq!(code, 0);
    assert_eq!(
        v["requires_dist"],
        serde_json::json!(["pytz>=2011k", "ok>=1"])
    );
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("pytz>=2011k")),
        "{v}"
    );
}

#[test]
fn library_api_reuses_one_inspector() {
    let tmp = tempfile::tempdir().unwrap();
    let inspector = sdistill::Inspector::new(sdistill::Options {
        sandbox: sdistill::SandboxMode::Off,
        ..Default::default()
    });
    for i in 0..5 {
        let p = write_sdist(
            tmp.path(),
            &format!("n{i}-1"),
            Kind::TarGz,
            &static_members(&format!("n{i}"), "1"),
        );
        let m = inspector.inspect(&p).unwrap();
        assert_eq!(m.name, format!("n{i}"));
        assert_eq!(m.method, sdistill::Method::PkgInfo);
    }
}

/// `pin` is pasted into requirement files: a declared Version with RFC 822 continuation
/// lines (newlines) must not become one, and a valid one is rendered as PEP 440 parses it.
#[test]
fn pin_is_built_only_from_a_valid_name_and_version() {
    let tmp = tempfile::tempdir().unwrap();
    let folded = "1.0\n  --extra-index-url https://evil.invalid/simple/\n  evil==6.6";
    let members = vec![file(
        "demo-1.0/PKG-INFO",
        &pkg_info("demo", folded, "2.2", &[], ""),
    )];
    let path = write_sdist(tmp.path(), "demo-1.0", Kind::TarGz, &members);
    let (_, v) = inspect_one(&["--no-sandbox"], &path);
    assert!(v["pin"].is_null(), "{v}");
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("no pin"), "{v}");

    let members = vec![file(
        "demo-1.0/PKG-INFO",
        &pkg_info("Demo_Pkg", "1.0-beta", "2.2", &[], ""),
    )];
    let path = write_sdist(tmp.path(), "Demo_Pkg-1.0-beta", Kind::TarGz, &members);
    let (code, v) = inspect_one(&["--no-sandbox"], &path);
    assert_eq!(code, 0, "{v}");
    let sha = sha256_hex(&path);
    assert_eq!(
        v["pin"],
        format!("Demo_Pkg==1.0b0 --hash=sha256:{sha}").as_str()
    );
}

/// `-o` behaves like a plain write: a new file is readable as the umask allows (not the
/// temporary file's 0600), a replaced file keeps its mode, and a symlink is written through.
#[cfg(unix)]
#[test]
fn output_file_has_a_normal_mode_and_follows_symlinks() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().unwrap();
    let a = write_sdist(tmp.path(), "a-1", Kind::TarGz, &static_members("a", "1"));
    let inspect_to = |out: &std::path::Path| {
        let out = run(&[
            "inspect",
            "--format",
            "json",
            "--no-sandbox",
            "-o",
            out.to_str().unwrap(),
            a.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0));
    };
    let plain = tmp.path().join("plain");
    std::fs::File::create(&plain).unwrap();
    let fresh = tmp.path().join("fresh.json");
    inspect_to(&fresh);
    assert_eq!(mode(&fresh), mode(&plain));

    let shared = tmp.path().join("shared.json");
    std::fs::write(&shared, "old").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o664)).unwrap();
    let link = tmp.path().join("link.json");
    symlink("shared.json", &link).unwrap();
    inspect_to(&link);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(mode(&shared), 0o664);
    let v: Vec<Value> = serde_json::from_slice(&std::fs::read(&shared).unwrap()).unwrap();
    assert_eq!(v[0]["name"], "a");
}
