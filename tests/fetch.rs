//! Inputs named by project or URL: looked up on the index, downloaded into the cache,
//! checked against the index's sha256, then inspected like local files.

mod common;

use common::*;

fn demo_index() -> (tempfile::TempDir, IndexServer, String) {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = write_sdist(
        tmp.path(),
        "demo-1.0",
        Kind::TarGz,
        &static_members("demo", "1.0"),
    );
    let v2 = write_sdist(
        tmp.path(),
        "demo-2.0",
        Kind::TarGz,
        &static_members("demo", "2.0"),
    );
    let v3 = write_sdist(
        tmp.path(),
        "demo-3.0",
        Kind::TarGz,
        &static_members("demo", "3.0"),
    );
    let entries = vec![
        IndexEntry::new("demo", "demo-1.0.tar.gz", std::fs::read(&v1).unwrap()),
        IndexEntry::new(
            "demo",
            "demo-1.0-py3-none-any.whl",
            wheel_bytes("demo", "1.0", "", &["wheel-dep>=1"]),
        ),
        IndexEntry::new("demo", "demo-2.0.tar.gz", std::fs::read(&v2).unwrap()),
        IndexEntry {
            yanked: true,
            ..IndexEntry::new("demo", "demo-3.0.tar.gz", std::fs::read(&v3).unwrap())
        },
    ];
    let sha1 = entries[0].sha256();
    (tmp, IndexServer::start(entries), sha1)
}

fn inspect_remote(
    cache: &std::path::Path,
    url: &str,
    args: &[&str],
) -> (i32, Vec<serde_json::Value>) {
    let mut all = vec!["--index-url", url];
    all.extend_from_slice(args);
    inspect_env(&all, &[("SDISTILL_CACHE_DIR", cache.as_os_str())])
}

#[test]
fn a_project_name_is_fetched_verified_and_inspected() {
    let (_tmp, index, sha1) = demo_index();
    let cache = tempfile::tempdir().unwrap();
    let (code, v) = inspect_remote(
        cache.path(),
        &index.url,
        &["demo==1.0", "demo", "demo>=1,<2"],
    );
    assert_eq!(code, 0, "{v:?}");
    assert_eq!(v[0]["input"], "demo==1.0");
    assert_eq!(v[0]["version"], "1.0");
    assert_eq!(
        v[0]["method"], "pkg-info",
        "the sdist is preferred: {}",
        v[0]
    );
    assert_eq!(v[0]["source"]["sha256"], sha1.as_str());
    let path = v[0]["source"]["path"].as_str().unwrap();
    assert!(
        path.starts_with(cache.path().to_str().unwrap())
            && path.ends_with(&format!("files/{sha1}/demo-1.0.tar.gz")),
        "{path}"
    );
    // The newest release that is not yanked; a range.
    assert_eq!(v[1]["version"], "2.0");
    assert_eq!(v[2]["version"], "1.0");
    // --wheel prefers the wheel of the version.
    let (code, v) = inspect_remote(cache.path(), &index.url, &["--wheel", "demo==1.0"]);
    assert_eq!(code, 0);
    assert_eq!(v[0]["method"], "wheel");
    assert_eq!(v[0]["requires_dist"], serde_json::json!(["wheel-dep>=1"]));
    // A yanked version only when pinned exactly, and said so.
    let (code, v) = inspect_remote(cache.path(), &index.url, &["demo==3.0"]);
    assert_eq!(code, 0);
    assert!(
        v[0]["warnings"][0].as_str().unwrap().contains("yanked"),
        "{}",
        v[0]
    );
}

#[test]
fn nothing_matching_and_offline_are_index_errors_for_that_input_only() {
    let (_tmp, index, _) = demo_index();
    let cache = tempfile::tempdir().unwrap();
    let (code, v) = inspect_remote(
        cache.path(),
        &index.url,
        &["demo==9", "nosuch", "demo==1.0"],
    );
    assert_eq!(code, 1);
    assert_eq!(error_kind(&v[0]), Some("index"), "{}", v[0]);
    assert_eq!(error_kind(&v[1]), Some("index"), "{}", v[1]);
    assert!(v[2]["error"].is_null());
    let (code, v) = inspect_remote(cache.path(), &index.url, &["--offline", "demo==1.0"]);
    assert_eq!(code, 1);
    assert!(v[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("offline"));
    // A missing file is still a missing file, not a project.
    let (_, v) = inspect_remote(cache.path(), &index.url, &["demo-1.0.tar.gz"]);
    assert_eq!(error_kind(&v[0]), Some("io"));
}

#[test]
fn a_file_that_does_not_match_the_index_hash_never_lands() {
    let tmp = tempfile::tempdir().unwrap();
    let sdist = write_sdist(
        tmp.path(),
        "demo-1.0",
        Kind::TarGz,
        &static_members("demo", "1.0"),
    );
    let index = IndexServer::start(vec![IndexEntry {
        advertised_sha256: Some("0".repeat(64)),
        ..IndexEntry::new("demo", "demo-1.0.tar.gz", std::fs::read(&sdist).unwrap())
    }]);
    let cache = tempfile::tempdir().unwrap();
    let (code, v) = inspect_remote(cache.path(), &index.url, &["demo==1.0"]);
    assert_eq!(code, 1);
    assert_eq!(error_kind(&v[0]), Some("index"));
    assert!(v[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("does not match"));
    let landed = walk(cache.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gz"))
        .count();
    assert_eq!(landed, 0);
}

#[test]
fn urls_are_checked_by_fragment_else_reported_unverified_and_redacted() {
    let (_tmp, index, sha1) = demo_index();
    let cache = tempfile::tempdir().unwrap();
    let base = index.url.trim_end_matches("/simple/");
    let url = format!("{base}/files/demo-1.0.tar.gz");
    let with_secret = url.replace("http://", "http://user:s3cret@");
    let good = format!("{url}#sha256={sha1}");
    let bad = format!("{url}#sha256={}", "1".repeat(64));
    let odd = format!("{base}/files/not-an-sdist.exe");
    let (code, v) = inspect_remote(cache.path(), &index.url, &[&with_secret, &good, &bad, &odd]);
    assert_eq!(code, 1);
    let text = serde_json::to_string(&v).unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    assert_eq!(v[0]["source"]["sha256"], sha1.as_str());
    assert!(
        v[0]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("nothing verified"),
        "{}",
        v[0]
    );
    assert!(
        v[1]["error"].is_null() && v[1]["warnings"].as_array().unwrap().is_empty(),
        "{}",
        v[1]
    );
    assert_eq!(error_kind(&v[2]), Some("index"));
    assert_eq!(error_kind(&v[3]), Some("unsupported-input"));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
