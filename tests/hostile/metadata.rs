//! Hostile metadata: sizes, nesting, invalid strings and terminal escapes.

use crate::common::*;

fn one(members: Vec<Member>, flags: &[&str]) -> (i32, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    // Not named `<name>-<version>`: these fixtures are about the metadata, and a file name
    // claiming another project would (rightly) make the answer inconsistent-metadata.
    let path = write_sdist(tmp.path(), "fixture", Kind::TarGz, &members);
    inspect_one(flags, &path)
}

#[test]
fn huge_pyproject_hits_the_metadata_size_limit() {
    let big = format!(
        "[project]\nname='x'\nversion='1'\ndescription='''{}'''\n",
        "a".repeat(17 * 1024 * 1024)
    );
    let (code, v) = one(vec![file("x-1/pyproject.toml", &big)], &["--no-sandbox"]);
    assert_eq!(code, 1);
    assert_eq!(error_kind(&v), Some("limit"), "{v}");
    assert_eq!(v["error"]["limit"], "metadata-size");
}

#[test]
fn deeply_nested_pyproject_is_invalid_not_a_crash() {
    for text in [
        format!("a = {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
        format!("a = {}1{}\n", "{b=".repeat(50_000), "}".repeat(50_000)),
        format!("{} = 1\n", vec!["a"; 100_000].join(".")),
        format!("[{}]\n", vec!["a"; 100_000].join(".")),
    ] {
        let (code, v) = one(vec![file("x-1/pyproject.toml", &text)], &["--no-sandbox"]);
        assert_eq!(code, 1);
        assert_eq!(error_kind(&v), Some("invalid-metadata"), "{v}");
    }
}

#[test]
fn megabyte_lines_in_pkg_info() {
    let long = "x".repeat(4 * 1024 * 1024);
    let text = format!("Metadata-Version: 2.2\nName: big\nVersion: 1\nSummary: {long}\nRequires-Dist: a; extra == \"{long}\"\n\n{long}\n");
    let (code, v) = one(vec![file("big-1/PKG-INFO", &text)], &["--no-sandbox"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["name"], "big");
}

#[test]
fn invalid_pep508_and_pep440_are_flagged() {
    let text = "Metadata-Version: 2.2\nName: bad\nVersion: 1.0-$$$\nRequires-Dist: foo>=>1\nRequires-Dist: ok\nRequires-Python: >=three\n";
    let (code, v) = one(vec![file("bad-1/PKG-INFO", text)], &["--no-sandbox"]);
    assert_eq!(code, 0, "{v}");
    let w = v["warnings"].to_string();
    assert!(
        w.contains("1.0-$$$") && w.contains("foo>=>1") && w.contains(">=three"),
        "{w}"
    );
    assert_eq!(v["requires_dist"], serde_json::json!(["foo>=>1", "ok"]));
}

#[test]
fn invalid_names_are_invalid_metadata() {
    let text = "Metadata-Version: 2.2\nName: evil name!\nVersion: 1\n";
    let (code, v) = one(vec![file("bad-1/PKG-INFO", text)], &["--no-sandbox"]);
    assert_eq!(code, 1);
    assert_eq!(error_kind(&v), Some("invalid-metadata"), "{v}");
}

/// Text output is for terminals: nothing from an input may carry an escape sequence there.
#[test]
fn terminal_escapes_never_reach_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let esc = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31m";
    let cases = vec![
        // In a requirement and a summary of valid static metadata.
        write_sdist(
            tmp.path(),
            "esc1",
            Kind::TarGz,
            &[file("e-1/PKG-INFO", &format!("Metadata-Version: 2.2\nName: e\nVersion: 1\nRequires-Dist: a; extra == \"{esc}\"\n"))],
        ),
        // In an archive member name quoted by an error message.
        write_sdist(tmp.path(), "esc2", Kind::TarGz, &[file(&format!("../{esc}"), "x")]),
        // In a name that is refused.
        write_sdist(
            tmp.path(),
            "esc3",
            Kind::TarGz,
            &[file("e-1/PKG-INFO", &format!("Metadata-Version: 2.2\nName: e{esc}\nVersion: 1\n"))],
        ),
        // In what a setup.py raises (traceback shown in text output).
        write_sdist(
            tmp.path(),
            "esc4",
            Kind::TarGz,
            &[file("e-1/setup.py", &format!("print({esc:?})\nraise RuntimeError({esc:?})\n"))],
        ),
    ];
    for path in cases {
        let out = run(&[
            "inspect",
            "--format",
            "text",
            "--offline",
            path.to_str().unwrap(),
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "escape reached the terminal: {text:?}"
        );
        assert!(!text.is_empty());
    }
}

/// Regression (fuzzing): requirement strings on which the PEP 508 parser panicked.
#[test]
fn requirements_that_crashed_the_parser_are_flagged() {
    let text = "Metadata-Version: 2.2\nName: crashy\nVersion: 1\nRequires-Dist: a.>=1\nRequires-Dist: b- \nRequires-Dist: c.[x]\n";
    let (code, v) = one(vec![file("c-1/PKG-INFO", text)], &["--no-sandbox"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["requires_dist"].as_array().unwrap().len(), 3, "{v}");
    assert!(v["warnings"].to_string().contains("a.>=1"), "{v}");
}

/// A marker nested thousands deep (PKG-INFO, pyproject.toml dependencies) overflowed the
/// recursive marker parser's stack and aborted the whole batch (exit 134). Now each such
/// requirement is kept as written and flagged, and every other input gets its answer: the
/// honest sdist, and a pyproject.toml nested too deep for TOML, refused on its own.
#[test]
fn deeply_nested_markers_do_not_abort_a_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = format!(
        "{}python_version > \"3\"{}",
        "(".repeat(20_000),
        ")".repeat(20_000)
    );
    let honest = write_sdist(
        tmp.path(),
        "honest-1",
        Kind::TarGz,
        &static_members("honest", "1"),
    );
    let pkg_info = write_sdist(
        tmp.path(),
        "n-1",
        Kind::TarGz,
        &[file(
            "n-1/PKG-INFO",
            &pkg_info("n", "1", "2.2", &[&format!("evil; {marker}"), "ok>=1"], ""),
        )],
    );
    let pyproject = write_sdist(
        tmp.path(),
        "p-1",
        Kind::TarGz,
        &[file(
            "p-1/pyproject.toml",
            &format!("[project]\nname = 'p'\nversion = '1'\ndependencies = ['evil; {marker}', 'ok>=1']\n"),
        )],
    );
    let toml = write_sdist(
        tmp.path(),
        "nested-toml-1",
        Kind::TarGz,
        &[file(
            "t-1/pyproject.toml",
            &format!("a = {}{}\n", "[".repeat(20_000), "]".repeat(20_000)),
        )],
    );
    let (code, out, stderr) = inspect_json(
        &["--no-sandbox", "-j", "2"],
        &[&honest, &pkg_info, &pyproject, &toml],
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(out.len(), 4);
    assert!(out[0]["error"].is_null(), "{}", out[0]);
    assert_eq!(out[0]["name"], "honest");
    for (v, method) in [(&out[1], "pkg-info"), (&out[2], "pyproject")] {
        assert!(v["error"].is_null(), "{v}");
        assert_eq!(v["method"], method, "{v}");
        let reqs = v["requires_dist"].as_array().unwrap();
        assert_eq!(reqs.len(), 2, "kept as written: {v}");
        assert!(reqs[0].as_str().unwrap().starts_with("evil; ((("));
        let warnings = v["warnings"].to_string();
        assert!(
            warnings.contains("too complex to parse safely"),
            "{warnings}"
        );
    }
    assert_eq!(error_kind(&out[3]), Some("invalid-metadata"), "{}", out[3]);
}
