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
