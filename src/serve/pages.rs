//! The index pages the server writes: the project list and project pages, as PEP 691 JSON
//! or PEP 503 HTML, from validated values only.
//!
//! Every file keeps what its upstream said about it (sha256, `requires-python`, yanked and
//! why, upload time, size) and gains a metadata file (PEP 658/714: `core-metadata` and,
//! for older clients, `dist-info-metadata`), declared with its sha256 once the server
//! knows it (an answer computed or read from the cache) and as `true` before. File URLs
//! are relative (`../../files/<project>/<sha256>/<file>`), so the server works behind a
//! reverse proxy at any path, and they name the file by its sha256: a request can only
//! ever reach a file an upstream lists with exactly that hash.
//!
//! Text is escaped for HTML (`&<>"'`) and written into JSON by serde_json; the values are
//! already validated (file names and project names have no characters to escape at all,
//! `requires-python` is re-rendered from parsed specifiers, a yanked reason is one line of
//! printable text), so escaping is the second line of defence, not the first.

use std::str::FromStr;

use pep440_rs::VersionSpecifiers;
use pep508_rs::PackageName;
use serde_json::{json, Map, Value};

use crate::index::Sha256Hex;

use super::negotiate::Format;
use super::upstream::{Page, PageFile};

/// The repository API version written: 1.1 (PEP 700) when every file's size is known,
/// else 1.0, which does not require sizes.
fn api_version(page: &Page) -> &'static str {
    if page.files.iter().all(|f| f.file.size.is_some()) {
        "1.1"
    } else {
        "1.0"
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The URL of a file, relative to its project page.
pub fn file_url(project: &PackageName, file: &PageFile) -> String {
    // Project names, hex digests and distribution file names are all made of characters
    // that need no percent-encoding in a path segment.
    format!(
        "../../files/{project}/{}/{}",
        file.sha256,
        file.file.filename.as_str()
    )
}

/// `requires-python` as parsed specifiers, re-rendered; `None` when absent or not PEP 440
/// (pip ignores such a value, so leaving it out changes nothing for it).
fn requires_python(file: &PageFile) -> Option<String> {
    let text = file.file.requires_python.as_deref()?.trim();
    if text.is_empty() {
        return None;
    }
    crate::metadata::guarded(|| VersionSpecifiers::from_str(text).ok())
        .flatten()
        .map(|s| s.to_string())
}

/// A project page. `metadata_sha256` gives the sha256 of a file's metadata file when the
/// server knows it.
pub fn project_page(
    page: &Page,
    format: Format,
    metadata_sha256: impl Fn(&PageFile) -> Option<Sha256Hex>,
) -> String {
    if format.is_json() {
        project_json(page, &metadata_sha256)
    } else {
        project_html(page, &metadata_sha256)
    }
}

fn project_json(page: &Page, metadata_sha256: &dyn Fn(&PageFile) -> Option<Sha256Hex>) -> String {
    let version = api_version(page);
    let files: Vec<Value> = page
        .files
        .iter()
        .map(|f| {
            let mut o = Map::new();
            o.insert("filename".into(), json!(f.file.filename.as_str()));
            o.insert("url".into(), json!(file_url(&page.project, f)));
            o.insert("hashes".into(), json!({ "sha256": f.sha256.as_str() }));
            if let Some(rp) = requires_python(f) {
                o.insert("requires-python".into(), json!(rp));
            }
            let metadata = match metadata_sha256(f) {
                Some(h) => json!({ "sha256": h.as_str() }),
                None => json!(true),
            };
            o.insert("core-metadata".into(), metadata.clone());
            o.insert("dist-info-metadata".into(), metadata);
            let yanked = match (&f.file.yanked, &f.file.yanked_reason) {
                (false, _) => json!(false),
                (true, Some(reason)) => json!(reason),
                (true, None) => json!(true),
            };
            o.insert("yanked".into(), yanked);
            if version == "1.1" {
                if let Some(size) = f.file.size {
                    o.insert("size".into(), json!(size));
                }
                if let Some(t) = &f.file.upload_time {
                    o.insert("upload-time".into(), json!(t.to_string()));
                }
            }
            Value::Object(o)
        })
        .collect();
    let mut doc = json!({
        "meta": { "api-version": version },
        "name": page.project.to_string(),
        "files": files,
    });
    if version == "1.1" {
        let mut versions: Vec<_> = page
            .files
            .iter()
            .map(|f| f.file.filename.version().clone())
            .collect();
        versions.sort();
        versions.dedup();
        doc["versions"] = json!(versions.iter().map(ToString::to_string).collect::<Vec<_>>());
    }
    doc.to_string()
}

fn project_html(page: &Page, metadata_sha256: &dyn Fn(&PageFile) -> Option<Sha256Hex>) -> String {
    let name = escape(page.project.as_ref());
    let mut out = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{}\">\n    <title>Links for {name}</title>\n  </head>\n  <body>\n    <h1>Links for {name}</h1>\n",
        api_version(page)
    );
    for f in &page.files {
        let mut attrs = format!(
            "href=\"{}#sha256={}\"",
            escape(&file_url(&page.project, f)),
            f.sha256
        );
        if let Some(rp) = requires_python(f) {
            attrs.push_str(&format!(" data-requires-python=\"{}\"", escape(&rp)));
        }
        if f.file.yanked {
            let reason = f.file.yanked_reason.as_deref().unwrap_or("");
            attrs.push_str(&format!(" data-yanked=\"{}\"", escape(reason)));
        }
        let metadata = match metadata_sha256(f) {
            Some(h) => format!("sha256={h}"),
            None => "true".to_string(),
        };
        attrs.push_str(&format!(
            " data-core-metadata=\"{metadata}\" data-dist-info-metadata=\"{metadata}\""
        ));
        out.push_str(&format!(
            "    <a {attrs}>{}</a><br />\n",
            escape(f.file.filename.as_str())
        ));
    }
    out.push_str("  </body>\n</html>\n");
    out
}

/// The project list (`/simple/`).
pub fn project_list(projects: &[PackageName], format: Format) -> String {
    if format.is_json() {
        // Written as text, not built as a `serde_json::Value`: a tree of PyPI's ~900,000
        // entries takes over a gigabyte; the text is ~25 MB. Each name is still encoded
        // by serde_json (names are validated; nothing in them needs escaping anyway).
        let mut out = String::from(r#"{"meta":{"api-version":"1.1"},"projects":["#);
        for (i, p) in projects.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"name":"#);
            out.push_str(&Value::String(p.to_string()).to_string());
            out.push('}');
        }
        out.push_str("]}");
        return out;
    }
    let mut out = String::from(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Simple index</title>\n  </head>\n  <body>\n",
    );
    for p in projects {
        let name = escape(p.as_ref());
        out.push_str(&format!("    <a href=\"{name}/\">{name}</a>\n"));
    }
    out.push_str("  </body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{DistFilename, IndexFile, MetadataFile};

    fn page() -> Page {
        let project = PackageName::from_str("demo").unwrap();
        let file = |name: &str, size: Option<u64>| {
            let sha256 = Sha256Hex::of(name.as_bytes());
            PageFile {
                upstream: 0,
                sha256: sha256.clone(),
                file: IndexFile {
                    filename: DistFilename::parse(name, &project).unwrap(),
                    url: format!("https://up.invalid/{name}"),
                    sha256: Some(sha256),
                    yanked: false,
                    requires_python: None,
                    core_metadata: None::<MetadataFile>,
                    yanked_reason: None,
                    upload_time: None,
                    size,
                },
            }
        };
        let mut sdist = file("demo-1.0.tar.gz", Some(10));
        sdist.file.requires_python = Some(">=3.8,<4\" onmouseover=\"x".to_string());
        let mut wheel = file("demo-1.0-py3-none-any.whl", Some(20));
        wheel.file.requires_python = Some(" >= 3.8 ".to_string());
        wheel.file.yanked = true;
        wheel.file.yanked_reason = Some("<script>alert(1)</script> \"bad\"".to_string());
        wheel.file.upload_time =
            crate::upload_time::UploadTime::parse("2020-01-01T00:00:00.000000Z");
        Page {
            project,
            files: vec![sdist, wheel],
        }
    }

    #[test]
    fn html_escapes_and_declares_metadata() {
        let p = page();
        let known = Sha256Hex::of(b"meta");
        let html = project_page(&p, Format::TextHtml, |f| {
            (f.sha256 == p.files[1].sha256).then(|| known.clone())
        });
        assert!(
            !html.contains("<script>") && !html.contains("onmouseover=\""),
            "{html}"
        );
        assert!(
            html.contains("data-yanked=\"&lt;script&gt;alert(1)&lt;/script&gt; &quot;bad&quot;\""),
            "{html}"
        );
        assert!(html.contains("data-requires-python=\"&gt;=3.8\""), "{html}");
        assert!(
            html.contains(&format!("data-core-metadata=\"sha256={known}\"")),
            "{html}"
        );
        assert!(
            html.contains("data-core-metadata=\"true\" data-dist-info-metadata=\"true\""),
            "{html}"
        );
        assert!(html.contains(&format!(
            "href=\"../../files/demo/{}/demo-1.0.tar.gz#sha256={}\"",
            p.files[0].sha256, p.files[0].sha256
        )));
        assert!(html.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"));
    }

    #[test]
    fn the_project_list_is_valid_json() {
        let names: Vec<PackageName> = ["a", "b-c", "d"]
            .iter()
            .map(|n| PackageName::from_str(n).unwrap())
            .collect();
        let doc: Value = serde_json::from_str(&project_list(&names, Format::Json)).unwrap();
        assert_eq!(
            doc,
            json!({"meta": {"api-version": "1.1"}, "projects": [{"name": "a"}, {"name": "b-c"}, {"name": "d"}]})
        );
        let empty: Value = serde_json::from_str(&project_list(&[], Format::Json)).unwrap();
        assert_eq!(empty["projects"], json!([]));
    }

    #[test]
    fn json_keeps_what_the_upstream_said() {
        let p = page();
        let doc: Value = serde_json::from_str(&project_page(&p, Format::Json, |_| None)).unwrap();
        assert_eq!(doc["meta"]["api-version"], "1.1");
        assert_eq!(doc["name"], "demo");
        assert_eq!(doc["versions"], json!(["1.0"]));
        let sdist = &doc["files"][0];
        assert_eq!(sdist["core-metadata"], json!(true));
        assert_eq!(sdist["size"], 10);
        assert!(sdist.get("requires-python").is_none(), "{sdist}");
        let wheel = &doc["files"][1];
        assert_eq!(wheel["yanked"], "<script>alert(1)</script> \"bad\"");
        assert_eq!(wheel["requires-python"], ">=3.8");
        assert_eq!(wheel["upload-time"], "2020-01-01T00:00:00Z");
        assert_eq!(wheel["hashes"]["sha256"], p.files[1].sha256.as_str());
        let mut no_sizes = page();
        no_sizes.files[0].file.size = None;
        let doc: Value =
            serde_json::from_str(&project_page(&no_sizes, Format::Json, |_| None)).unwrap();
        assert_eq!(doc["meta"]["api-version"], "1.0");
        assert!(doc["files"][1].get("size").is_none());
    }
}
