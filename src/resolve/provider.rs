//! Where the resolver's facts come from: the versions of a project and the dependencies of
//! one version.
//!
//! [`MetadataProvider`] is the seam: the resolver asks it two questions and applies its own
//! policy (markers, tags, yanked, pre-releases) to the answers. [`IndexProvider`] is
//! sdistill's implementation and can be used on its own by another resolver: it reads a
//! PEP 691/503 index, takes a wheel's dependencies from its PEP 658 metadata file when the
//! index offers one (no wheel download), from the wheel's METADATA otherwise, and an
//! sdist's through the full sdistill pipeline (static first, the sandbox when needed).
//! Every downloaded file is checked against the index's sha256 before it is opened, and
//! every answer is cached by that sha256, so a repeated lock makes no sandbox run and,
//! with `offline`, no network call.
//!
//! What an index says is believed only once validated ([`crate::index::ProjectPage`]):
//! a file whose name is not a wheel or sdist of the project, or whose hash is not a
//! digest, is never used and is reported. So the cache paths built here
//! (`files/<sha256>/<file name>`, `metadata-files/<sha256>.metadata`) are made only of
//! hex digits and validated file names.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pep440_rs::Version;
use pep508_rs::PackageName;
use sha2::{Digest, Sha256};

use super::direct::{DirectDist, DirectLocation, DirectRef};
use super::TargetEnv;
use crate::dirs::CacheDir;
use crate::dist_cache::{DistCache, MAX_METADATA_FILE};
use crate::error::{Error, Result};
use crate::index::range::RangeRead;
use crate::index::{
    merge_pages, DistFilename, IndexClient, ListedFile, MetadataFile, ProjectPage, RawPage,
    Sha256Hex, UploadTime, MAX_DOWNLOAD,
};
use crate::inspect::{hash_file, Inspector, Options};
use crate::metadata::{normalize_name, CoreMetadata};
use crate::observe::{Behaviour, Severity};
use crate::sandbox::{runtime, Notify, Target};

/// One distribution file of a version, as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFile {
    /// File name (`demo-1.0.tar.gz`, `demo-1.0-py3-none-any.whl`), validated.
    pub filename: DistFilename,
    /// Download URL.
    pub url: String,
    /// sha256 the index states; files without one are never used (they cannot be pinned).
    pub sha256: Sha256Hex,
    /// Yanked (PEP 592): only an exact `==` pin may select it.
    pub yanked: bool,
    /// The file's `Requires-Python`, as the index states it.
    pub requires_python: Option<String>,
    /// A PEP 658 metadata file next to it, if the index offers one.
    pub core_metadata: Option<MetadataFile>,
    /// Its size, as the index states it (PEP 700).
    pub size: Option<u64>,
    /// When it was uploaded, as the index states it (PEP 700).
    pub upload_time: Option<UploadTime>,
    /// The index it was listed on, without credentials (for `pylock.toml`).
    pub index: Option<String>,
}

impl DistFile {
    /// A file known by name, URL and sha256 only (no size, time, index or metadata file).
    pub fn new(filename: DistFilename, url: String, sha256: Sha256Hex) -> Self {
        Self {
            filename,
            url,
            sha256,
            yanked: false,
            requires_python: None,
            core_metadata: None,
            size: None,
            upload_time: None,
            index: None,
        }
    }
}

impl DistFile {
    /// Whether this is a wheel (otherwise an sdist).
    pub fn is_wheel(&self) -> bool {
        self.filename.is_wheel()
    }
}

/// One version of a project and its files.
#[derive(Debug, Clone)]
pub struct ProjectVersion {
    /// The version, parsed from the file names.
    pub version: Version,
    /// Its files (sdist and wheels).
    pub files: Vec<DistFile>,
}

/// The dependency facts of one version.
#[derive(Debug, Clone)]
pub struct DistMetadata {
    /// `Requires-Dist`, as written.
    pub requires_dist: Vec<String>,
    /// `Requires-Python`.
    pub requires_python: Option<String>,
    /// `Provides-Extra`.
    pub provides_extra: Vec<String>,
    /// Which file answered.
    pub filename: String,
    /// How: `metadata-file` (PEP 658), `wheel`, or an sdistill method (`pkg-info`,
    /// `sandbox-egg-info`, ...).
    pub method: String,
    /// Anything worth a reader's attention.
    pub warnings: Vec<String>,
    /// How far the bytes it was read from were checked against a hash.
    pub integrity: Integrity,
    /// What the file's build code tried, when build code ran for this answer.
    pub behaviour: Option<Behaviour>,
}

/// How far the bytes an answer was read from were checked against a hash: what the lock
/// rests on when the index is not trusted to serve consistent files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Integrity {
    /// Read from the distribution file itself, checked against the sha256 the lock pins
    /// (a wheel's METADATA, an sdist's static metadata or build).
    #[default]
    File,
    /// A PEP 658 metadata file checked against the sha256 the index states for it.
    MetadataFileHash,
    /// A PEP 658 metadata file the index states no sha256 for: checked against nothing.
    MetadataFileUnhashed,
    /// A wheel's METADATA read with HTTP range requests: part of the file, which no hash
    /// can check (the wheel's sha256 covers the whole file).
    RangeRead,
}

impl Integrity {
    /// Whether the bytes were checked against a stated sha256.
    pub fn verified(self) -> bool {
        matches!(self, Self::File | Self::MetadataFileHash)
    }

    /// The name used in reports: `file-sha256`, `metadata-file-sha256`,
    /// `unhashed-metadata-file`, `range-read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file-sha256",
            Self::MetadataFileHash => "metadata-file-sha256",
            Self::MetadataFileUnhashed => "unhashed-metadata-file",
            Self::RangeRead => "range-read",
        }
    }
}

/// The two questions a resolver asks. Implement it to feed sdistill's resolver from
/// elsewhere (a lock file, a mirror, a test double).
pub trait MetadataProvider: Send + Sync {
    /// Every version of `name` (normalized) the source knows, with its files.
    fn versions(&self, name: &str) -> Result<Vec<ProjectVersion>>;
    /// [`MetadataProvider::versions`], shared: a provider that keeps its answers (a
    /// project can list thousands of files) hands out the same list instead of a copy.
    fn versions_shared(&self, name: &str) -> Result<Arc<Vec<ProjectVersion>>> {
        self.versions(name).map(Arc::new)
    }
    /// The dependencies of one version on `target`, from `files` (usable ones, best
    /// first). The target matters for an sdist whose build code must run: its `setup.py`
    /// may choose dependencies by platform, and is run as `target`.
    fn metadata(
        &self,
        name: &str,
        version: &Version,
        files: &[DistFile],
        target: &TargetEnv,
    ) -> Result<DistMetadata>;
    /// What the source refused so far that belongs to no project, for the lock's warnings.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// What the source refused on `name`'s pages (files that were not what they claimed),
    /// for the lock's warnings: a refused file is never used, but never dropped silently
    /// either. Asked only for the projects a resolution read.
    fn project_warnings(&self, _name: &str) -> Vec<String> {
        Vec::new()
    }
    /// Fetches the file of a direct reference (`name @ URL`), checks or computes its
    /// sha256, and reads its version and dependencies. Providers without a way to fetch
    /// files refuse.
    fn direct(&self, reference: &DirectRef) -> Result<DirectDist> {
        Err(Error::Usage {
            detail: format!(
                "{} @ {}: this metadata provider cannot fetch direct references",
                reference.name, reference.url
            ),
        })
    }
}

/// Counts of what an [`IndexProvider`] did, for progress and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProviderStats {
    /// Index pages fetched over the network.
    pub pages_fetched: usize,
    /// PEP 658 metadata files fetched.
    pub metadata_files: usize,
    /// Distribution files downloaded.
    pub downloads: usize,
    /// sdists whose metadata needed a sandbox run (not from the cache).
    pub sandbox_runs: usize,
    /// sdists answered from the metadata cache.
    pub cache_hits: usize,
}

/// sdistill's provider: package indexes, caches under the cache root, and the inspector
/// for sdists.
pub struct IndexProvider {
    indexes: Vec<IndexClient>,
    cache_root: PathBuf,
    offline: bool,
    /// Use only metadata whose bytes were checked against a stated sha256: no range reads,
    /// no PEP 658 file without a hash (`--verified-metadata-only`).
    verified_only: bool,
    /// Read wheels' METADATA with range requests where the server allows.
    range_reads: bool,
    inspector: Inspector,
    notify: Notify,
    pages: Mutex<BTreeMap<String, Arc<Vec<ProjectVersion>>>>,
    /// Refused index files, by project.
    refused: Mutex<BTreeMap<String, BTreeSet<String>>>,
    /// Answers computed in this process, by file sha256 and — for answers the sandbox
    /// computed, which hold only for the platform it imitated — target. A universal lock
    /// asks for the same file once per environment.
    answers: Mutex<HashMap<AnswerKey, Result<DistMetadata>>>,
    counters: [AtomicUsize; 5],
    /// The behaviour report of every sdist whose build code ran, answer or not.
    behaviours: Mutex<Vec<(String, Behaviour)>>,
}

/// A file's sha256, and the target when the answer holds for that target only.
type AnswerKey = (Sha256Hex, Option<Target>);

/// Wheels at least this large have their METADATA read with range requests (when allowed
/// and the server serves ranges); smaller ones are downloaded whole, which costs about as
/// much as the two or three requests of a range read and is checked against the sha256.
const RANGE_READ_MIN: u64 = 256 * 1024;

/// Largest file a direct reference without a stated hash may download.
const MAX_DIRECT_FILE: u64 = 4 * 1024 * 1024 * 1024;

/// Largest cached index page read back (pages are capped at 64 MiB when fetched; their
/// JSON form is of the same order).
const MAX_CACHED_PAGE: u64 = 256 * 1024 * 1024;

impl IndexProvider {
    /// A provider reading `index_urls` in order (files of the same name: the first wins),
    /// inspecting sdists with `options`. With `offline`, index pages, metadata files and
    /// distributions come only from the cache.
    pub fn new(
        index_urls: &[String],
        options: Options,
        offline: bool,
        notify: Notify,
    ) -> Result<Self> {
        let indexes = index_urls
            .iter()
            .map(|u| IndexClient::new(u))
            .collect::<Result<Vec<_>>>()?;
        let cache_root = runtime::cache_root(&options.sandbox_config)?;
        Ok(Self {
            indexes,
            cache_root,
            offline,
            verified_only: false,
            range_reads: true,
            inspector: Inspector::new(options),
            notify,
            pages: Mutex::new(BTreeMap::new()),
            refused: Mutex::new(BTreeMap::new()),
            answers: Mutex::new(HashMap::new()),
            counters: Default::default(),
            behaviours: Mutex::new(Vec::new()),
        })
    }

    /// Uses only metadata whose bytes were checked against a stated sha256: a wheel is
    /// downloaded rather than read with range requests, and a PEP 658 file the index gives
    /// no hash for is not used.
    pub fn set_verified_only(&mut self, on: bool) {
        self.verified_only = on;
    }

    /// Allows (the default) or forbids reading wheels' METADATA with range requests.
    pub fn set_range_reads(&mut self, on: bool) {
        self.range_reads = on;
    }

    /// What the HTTP clients did so far (requests, retries, range reads).
    pub fn net_stats(&self) -> crate::index::NetSummary {
        let mut all = crate::index::NetSummary::default();
        for index in &self.indexes {
            all.add(&index.net_stats());
        }
        all
    }

    /// Every sdist evaluated so far whose build code's behaviour reached `level` (file
    /// name and report), including ones that were not picked or failed to build: a lock
    /// gated with `--fail-on` must not have been computed by such code at all.
    pub fn flagged(&self, level: Severity) -> Vec<(String, Behaviour)> {
        self.behaviours
            .lock()
            .map(|b| {
                b.iter()
                    .filter(|(_, seen)| seen.reaches(level))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the provider has done so far.
    pub fn stats(&self) -> ProviderStats {
        let c = |i: usize| self.counters[i].load(Ordering::Relaxed);
        ProviderStats {
            pages_fetched: c(0),
            metadata_files: c(1),
            downloads: c(2),
            sandbox_runs: c(3),
            cache_hits: c(4),
        }
    }

    fn count(&self, i: usize) {
        self.counters[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The client that fetches files: URLs on an index page are absolute, so the first
    /// index's HTTP client serves files of every index.
    fn http(&self) -> Result<&IndexClient> {
        self.indexes.first().ok_or_else(|| Error::Usage {
            detail: "no index URL".to_string(),
        })
    }

    /// The cache root as a directory handle (writes through it cannot leave it).
    fn cache(&self) -> Result<CacheDir> {
        CacheDir::open_root(&self.cache_root).map_err(|e| Error::io(&self.cache_root, e))
    }

    fn cache_sub(&self, parts: &[&str]) -> Result<CacheDir> {
        let cache = self.cache()?;
        cache
            .subdirs(parts)
            .map_err(|e| Error::io(cache.path().join(parts.join("/")), e))
    }

    /// Name of the cached copy of `name`'s page on `index` (a digest: index URLs and
    /// project names never become paths).
    fn page_cache_name(index: &IndexClient, name: &PackageName) -> String {
        let key = hex::encode(Sha256::digest(format!("{}\0{name}", index.base_url())));
        format!("{}.page", &key[..32])
    }

    /// The validated files of `name` on `index`. The page is cached as the index served it
    /// (a line saying `json` or `html`, then the body), so a cached page is parsed and
    /// validated exactly like a fresh one, and keeping it costs no re-serialization.
    fn project_files(&self, index: &IndexClient, name: &PackageName) -> Result<ProjectPage> {
        let pages = self.cache_sub(&["index-pages"])?;
        let file = Self::page_cache_name(index, name);
        let raw = if self.offline {
            let bytes = pages
                .read(&file, MAX_CACHED_PAGE)
                .map_err(|_| Error::Index {
                    detail: format!(
                    "offline, and the cache has no copy of {}{name}/ (run once without --offline)",
                    index.url()
                ),
                })?;
            let text = String::from_utf8_lossy(&bytes);
            match text.split_once('\n') {
                Some(("json", body)) => Some(RawPage {
                    json: true,
                    body: body.to_string(),
                }),
                Some(("html", body)) => Some(RawPage {
                    json: false,
                    body: body.to_string(),
                }),
                Some(("none", _)) => None,
                _ => {
                    return Err(Error::Index {
                        detail: format!(
                            "{}: unreadable cached index page",
                            pages.path().join(&file).display()
                        ),
                    })
                }
            }
        } else {
            let raw = index.page(name, None)?;
            self.count(0);
            let kept = match &raw {
                Some(p) => format!("{}\n{}", if p.json { "json" } else { "html" }, p.body),
                None => "none\n".to_string(),
            };
            // A warm lock reads the same pages again: rewriting hundreds of megabytes of
            // unchanged pages would cost more than reading them.
            let same_len = pages
                .open(&file)
                .and_then(|f| f.metadata())
                .is_ok_and(|m| m.len() == kept.len() as u64);
            let unchanged = same_len
                && pages
                    .read(&file, MAX_CACHED_PAGE)
                    .is_ok_and(|old| old == kept.as_bytes());
            if !unchanged {
                let _ = pages.write_atomic(&file, kept.as_bytes());
            }
            raw
        };
        let listing: Vec<ListedFile> = match &raw {
            Some(page) => index.parse_page(name, page)?,
            None => Vec::new(),
        };
        let page = ProjectPage::from_listing(name, listing);
        if let Ok(mut refused) = self.refused.lock() {
            let mine = refused.entry(normalize_name(name.as_ref())).or_default();
            for r in &page.refused {
                mine.insert(format!("{}: {r}", index.url()));
            }
        }
        Ok(page)
    }

    /// A distribution file in the local cache (`files/<sha256>/<file name>`), downloaded
    /// (and sha256-checked) when missing; a cached copy is re-hashed before use.
    fn local_file(&self, file: &DistFile) -> Result<PathBuf> {
        let files = DistCache::new(&self.cache_root);
        if let Some(path) = files.verified_file(&file.sha256, &file.filename)? {
            return Ok(path);
        }
        if self.offline {
            return Err(Error::Index {
                detail: format!("offline, and {} is not in the cache", file.filename),
            });
        }
        let index = self.http()?;
        self.notify.say(&format!("downloading {}", file.filename));
        let path = files.fetch_file(
            index,
            &file.url,
            &file.sha256,
            &file.filename,
            MAX_DOWNLOAD,
            None,
        )?;
        self.count(2);
        Ok(path)
    }

    /// The PEP 658 metadata text of a wheel. Cached only when the index states its sha256,
    /// under that sha256 (content-addressed): a metadata file nobody vouched for is used
    /// once, never kept where a later lock against another index would find it.
    fn metadata_file(&self, file: &DistFile, meta: &MetadataFile) -> Result<String> {
        let files = DistCache::new(&self.cache_root);
        if let Some(bytes) = meta
            .sha256
            .as_ref()
            .and_then(|sha| files.cached_metadata(sha))
        {
            return Ok(String::from_utf8_lossy(&bytes).into_owned());
        }
        if self.offline {
            return Err(Error::Index {
                detail: format!(
                    "offline, and the metadata of {} is not in the cache",
                    file.filename
                ),
            });
        }
        let index = self.http()?;
        let bytes = index.fetch_small(
            &format!("{}.metadata", file.url),
            meta.sha256.as_ref(),
            MAX_METADATA_FILE,
        )?;
        self.count(1);
        if let Some(sha) = &meta.sha256 {
            files.store_metadata(sha, &bytes);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn from_core(
        core: CoreMetadata,
        file: &DistFile,
        method: &str,
        warnings: Vec<String>,
        integrity: Integrity,
    ) -> DistMetadata {
        DistMetadata {
            requires_dist: core.requires_dist,
            requires_python: core.requires_python,
            provides_extra: core.provides_extra,
            filename: file.filename.to_string(),
            method: method.to_string(),
            warnings,
            integrity,
            behaviour: None,
        }
    }

    fn metadata_from(&self, file: &DistFile, target: Target) -> Result<DistMetadata> {
        let usable_file = |m: &&MetadataFile| !self.verified_only || m.sha256.is_some();
        if let Some(meta) = file
            .core_metadata
            .as_ref()
            .filter(|_| file.is_wheel())
            .filter(usable_file)
        {
            match self.metadata_file(file, meta) {
                Ok(text) => {
                    let label = format!("{}.metadata", file.filename);
                    let core = CoreMetadata::parse(&text, &label)?;
                    let warnings = core.validate(&label)?;
                    let integrity = match meta.sha256 {
                        Some(_) => Integrity::MetadataFileHash,
                        None => Integrity::MetadataFileUnhashed,
                    };
                    return Ok(Self::from_core(
                        core,
                        file,
                        "metadata-file",
                        warnings,
                        integrity,
                    ));
                }
                // A broken metadata file is not the end: the wheel itself has METADATA.
                Err(e) if !self.offline => self.notify.say(&format!(
                    "{}: metadata file unusable ({e}); reading the wheel",
                    file.filename
                )),
                Err(e) => return Err(e),
            }
        }
        if file.is_wheel() {
            return self.wheel_metadata(file);
        }
        let path = self.local_file(file)?;
        self.notify
            .say(&format!("reading metadata of {}", file.filename));
        let report = self.inspector.inspect_report_for(&path, target);
        if let (Some(seen), Ok(mut all)) = (&report.behaviour, self.behaviours.lock()) {
            all.push((file.filename.to_string(), seen.clone()));
        }
        let meta = report.outcome?;
        if meta.method.as_str().starts_with("sandbox") {
            self.count(if report.cached { 4 } else { 3 });
        }
        Ok(DistMetadata {
            requires_dist: meta.requires_dist,
            requires_python: meta.requires_python,
            provides_extra: meta.provides_extra,
            filename: file.filename.to_string(),
            method: meta.method.as_str().to_string(),
            warnings: report.warnings,
            integrity: Integrity::File,
            behaviour: report.behaviour,
        })
    }

    /// A wheel's METADATA: kept from an earlier download (by the wheel's sha256), read
    /// with range requests (unless verified metadata is required, the wheel is small, or
    /// it is in the cache already), or from the downloaded, sha256-checked wheel.
    fn wheel_metadata(&self, file: &DistFile) -> Result<DistMetadata> {
        // Both names are hex digests: nothing from the index becomes a path.
        let verified = self.cache_sub(&["wheel-metadata"])?;
        let verified_name = format!("{}.metadata", file.sha256);
        if let Ok(bytes) = verified.read(&verified_name, MAX_METADATA_FILE) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            return self.wheel_answer(file, &text, "wheel", Integrity::File);
        }
        let downloaded = self
            .cache_sub(&["files", file.sha256.as_str()])?
            .is_file(file.filename.as_str());
        let big_enough = file.size.is_none_or(|s| s >= RANGE_READ_MIN);
        if self.range_reads && !self.verified_only && !downloaded && big_enough {
            if let Some(answer) = self.wheel_metadata_by_range(file)? {
                return Ok(answer);
            }
        }
        let path = self.local_file(file)?;
        let (_, text) =
            crate::archive::read_wheel_metadata(&path, &self.inspector.options().limits)?;
        let answer = self.wheel_answer(file, &text, "wheel", Integrity::File);
        if answer.is_ok() {
            let _ = verified.write_atomic(&verified_name, text.as_bytes());
        }
        answer
    }

    /// The METADATA of a wheel read with range requests (cached under a digest of its URL
    /// and sha256, apart from verified metadata: where the bytes came from is part of the
    /// key, so another index's lock never reads them). `None` when the read was declined:
    /// the caller downloads the wheel.
    fn wheel_metadata_by_range(&self, file: &DistFile) -> Result<Option<DistMetadata>> {
        let url = crate::index::url_without_credentials(&file.url)
            .map(|u| u.to_string())
            .unwrap_or_default();
        let key = hex::encode(Sha256::digest(format!("{url}\0{}", file.sha256)));
        let cache = self.cache_sub(&["range-metadata"])?;
        let name = format!("{key}.metadata");
        if let Ok(bytes) = cache.read(&name, MAX_METADATA_FILE) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            return self
                .wheel_answer(file, &text, "wheel-range", Integrity::RangeRead)
                .map(Some);
        }
        if self.offline {
            return Ok(None);
        }
        let limits = &self.inspector.options().limits;
        match self
            .http()?
            .wheel_metadata_by_range(&file.url, file.size, limits)
        {
            // The requests covered the whole (small) wheel: it is checked like a download.
            RangeRead::Read {
                text,
                whole: Some(sha),
                ..
            } => {
                if sha != file.sha256 {
                    return Err(Error::Index {
                        detail: format!(
                            "{}: sha256 {sha} does not match the index's {}",
                            crate::index::redact_url(&file.url),
                            file.sha256
                        ),
                    });
                }
                let answer = self.wheel_answer(file, &text, "wheel", Integrity::File);
                if answer.is_ok() {
                    let verified = self.cache_sub(&["wheel-metadata"])?;
                    let _ = verified.write_atomic(&format!("{sha}.metadata"), text.as_bytes());
                }
                answer.map(Some)
            }
            RangeRead::Read { text, .. } => {
                self.notify.say(&format!(
                    "{}: METADATA read with range requests",
                    file.filename
                ));
                let answer = self.wheel_answer(file, &text, "wheel-range", Integrity::RangeRead);
                if answer.is_ok() {
                    let _ = cache.write_atomic(&name, text.as_bytes());
                }
                answer.map(Some)
            }
            RangeRead::Declined(why) => {
                self.notify.say(&format!(
                    "{}: no range read ({why}); downloading it",
                    file.filename
                ));
                Ok(None)
            }
        }
    }

    /// Dependencies from a wheel's METADATA text, checked like any answer: parsed and
    /// validated, extras normalized, and the name and version those of the file name.
    fn wheel_answer(
        &self,
        file: &DistFile,
        text: &str,
        method: &str,
        integrity: Integrity,
    ) -> Result<DistMetadata> {
        let label = format!("{}: METADATA", file.filename);
        let mut core = CoreMetadata::parse(text, &label)?;
        let warnings = core.validate(&label)?;
        crate::static_meta::normalize_extras(&mut core);
        crate::identity::check(
            Some(file.filename.as_str()),
            &[],
            &core.name,
            &core.version,
            &[],
        )?;
        Ok(Self::from_core(core, file, method, warnings, integrity))
    }
}

impl IndexProvider {
    /// The inspector this provider reads sdists with: a project directory is read the
    /// same way (static metadata first, the sandbox when needed), sharing its sandbox.
    pub fn inspector(&self) -> &Inspector {
        &self.inspector
    }

    /// The file of a direct reference in `dir` (`direct/<digest of its URL>/<file name>`)
    /// and its sha256 and size. A URL's `#sha256=` is checked against the bytes; without
    /// one, the digest of the bytes read is the one pinned. A cached copy serves only if
    /// it has the stated hash (or, offline, for a URL that states none); a local file is
    /// copied first, so the bytes hashed are the bytes inspected.
    fn direct_file(&self, reference: &DirectRef, dir: &CacheDir) -> Result<(Sha256Hex, u64)> {
        let name = reference.filename.as_str();
        let path = dir.path().join(name);
        let digest_of = |path: &std::path::Path| -> Result<(Sha256Hex, u64)> {
            let (hex, size) = hash_file(path)?;
            let sha = Sha256Hex::parse(&hex).map_err(|e| Error::Internal {
                detail: e.to_string(),
            })?;
            Ok((sha, size))
        };
        let mismatch = |got: &Sha256Hex, want: &Sha256Hex| Error::Index {
            detail: format!(
                "{}: sha256 {got} does not match the URL's {want}",
                reference.url
            ),
        };
        if matches!(reference.location, DirectLocation::Remote(_)) && dir.is_file(name) {
            let (got, size) = digest_of(&path)?;
            match &reference.sha256 {
                Some(want) if *want == got => return Ok((got, size)),
                None if self.offline => return Ok((got, size)),
                _ => {
                    let _ = dir.remove_file(name);
                }
            }
        }
        let (got, size) = match &reference.location {
            DirectLocation::Local(source) => {
                let (tmp, mut out) = dir
                    .create_temp(name)
                    .map_err(|e| Error::io(dir.path().join(name), e))?;
                let copied = std::fs::File::open(source)
                    .and_then(|mut input| std::io::copy(&mut input, &mut out))
                    .and_then(|_| out.sync_all())
                    .and_then(|()| dir.rename(&tmp, name));
                if let Err(e) = copied {
                    let _ = dir.remove_file(&tmp);
                    return Err(Error::io(source, e));
                }
                digest_of(&path)?
            }
            DirectLocation::Remote(_) if self.offline => {
                return Err(Error::Index {
                    detail: format!("offline, and {} is not in the cache", reference.url),
                })
            }
            DirectLocation::Remote(url) => {
                self.notify
                    .say(&format!("downloading {}", reference.filename));
                let got = match &reference.sha256 {
                    Some(want) => {
                        self.http()?
                            .download(url.as_str(), want, None, dir, name, None)?;
                        digest_of(&path)?
                    }
                    None => {
                        self.http()?
                            .download_hashing(url.as_str(), MAX_DIRECT_FILE, dir, name)?
                    }
                };
                self.count(2);
                got
            }
        };
        if let Some(want) = &reference.sha256 {
            if *want != got {
                let _ = dir.remove_file(name);
                return Err(mismatch(&got, want));
            }
        }
        Ok((got, size))
    }
}

impl MetadataProvider for IndexProvider {
    fn versions(&self, name: &str) -> Result<Vec<ProjectVersion>> {
        self.versions_shared(name).map(|v| v.as_ref().clone())
    }

    fn versions_shared(&self, name: &str) -> Result<Arc<Vec<ProjectVersion>>> {
        let name = normalize_name(name);
        if let Some(found) = self.pages.lock().ok().and_then(|p| p.get(&name).cloned()) {
            return Ok(found);
        }
        let Some(project) = crate::dist_filename::project_name(&name) else {
            return Ok(Arc::new(Vec::new()));
        };
        let mut by_version: BTreeMap<Version, Vec<DistFile>> = BTreeMap::new();
        let pages = self
            .indexes
            .iter()
            .map(|index| self.project_files(index, &project))
            .collect::<Result<Vec<_>>>()?;
        let index_urls: Vec<Option<String>> = self
            .indexes
            .iter()
            .map(|index| {
                crate::index::url_without_credentials(index.base_url().as_str())
                    .map(|u| u.to_string())
            })
            .collect();
        for (position, f, sha256) in merge_pages(pages) {
            let version = f.filename.version().clone();
            by_version.entry(version).or_default().push(DistFile {
                filename: f.filename,
                url: f.url,
                sha256,
                yanked: f.yanked,
                requires_python: f.requires_python,
                core_metadata: f.core_metadata,
                size: f.size,
                upload_time: f.upload_time,
                index: index_urls.get(position).cloned().flatten(),
            });
        }
        let versions: Arc<Vec<ProjectVersion>> = Arc::new(
            by_version
                .into_iter()
                .map(|(version, files)| ProjectVersion { version, files })
                .collect(),
        );
        if let Ok(mut pages) = self.pages.lock() {
            pages.insert(name, versions.clone());
        }
        Ok(versions)
    }

    fn metadata(
        &self,
        name: &str,
        version: &Version,
        files: &[DistFile],
        target: &TargetEnv,
    ) -> Result<DistMetadata> {
        let Some(first) = files.first() else {
            return Err(Error::NoMetadata {
                detail: format!("{name} {version} has no usable file"),
            });
        };
        let sandbox_target = target.target;
        let known = |key: &AnswerKey| self.answers.lock().ok().and_then(|a| a.get(key).cloned());
        let any = (first.sha256.clone(), None);
        let mine = (first.sha256.clone(), Some(sandbox_target));
        if let Some(answer) = known(&any).or_else(|| known(&mine)) {
            return answer;
        }
        let answer = self.metadata_from(first, sandbox_target);
        let key = match &answer {
            // Only the sandbox sees the target: every other answer holds for all.
            Ok(m) if !m.method.starts_with("sandbox") => Some(any),
            Ok(_) => Some(mine),
            // The network, the runtime or a directory may work next time.
            Err(Error::Index { .. } | Error::Io { .. } | Error::Runtime { .. })
            | Err(Error::UnsafeDirectory { .. }) => None,
            Err(_) => Some(mine),
        };
        if let (Some(key), Ok(mut answers)) = (key, self.answers.lock()) {
            answers.insert(key, answer.clone());
        }
        answer
    }

    fn direct(&self, reference: &DirectRef) -> Result<DirectDist> {
        // Keyed by the URL as the lock states it: a digest, never a name from the input.
        let key = hex::encode(Sha256::digest(reference.url.as_str()));
        let dir = self.cache_sub(&["direct", &key[..32]])?;
        let (sha256, size) = self.direct_file(reference, &dir)?;
        let path = dir.path().join(reference.filename.as_str());
        self.notify
            .say(&format!("reading metadata of {}", reference.filename));
        let report = self.inspector.inspect_report(&path);
        if let (Some(seen), Ok(mut all)) = (&report.behaviour, self.behaviours.lock()) {
            all.push((reference.filename.to_string(), seen.clone()));
        }
        let context = |e: Error| match e {
            Error::Runtime { .. }
            | Error::Index { .. }
            | Error::Io { .. }
            | Error::UnsafeDirectory { .. } => e,
            e => Error::NoMetadata {
                detail: format!(
                    "cannot read the dependencies of {} @ {}: {e}",
                    reference.name, reference.url
                ),
            },
        };
        let meta = report.outcome.map_err(context)?;
        if meta.method.as_str().starts_with("sandbox") {
            self.count(if report.cached { 4 } else { 3 });
        }
        if normalize_name(&meta.name) != reference.name.as_ref() {
            return Err(Error::Usage {
                detail: format!(
                    "{} @ {}: the file is a distribution of `{}`, not of {}",
                    reference.name,
                    reference.url,
                    crate::report::sanitize(&meta.name),
                    reference.name
                ),
            });
        }
        let version = meta.version.parse::<Version>().map_err(|_| Error::Usage {
            detail: format!(
                "{} @ {}: its version `{}` is not PEP 440, so it cannot be pinned",
                reference.name,
                reference.url,
                crate::report::sanitize(&meta.version)
            ),
        })?;
        Ok(DirectDist {
            reference: reference.clone(),
            version,
            sha256,
            size,
            metadata: DistMetadata {
                requires_dist: meta.requires_dist,
                requires_python: meta.requires_python,
                provides_extra: meta.provides_extra,
                filename: reference.filename.to_string(),
                method: meta.method.as_str().to_string(),
                warnings: report.warnings,
                integrity: Integrity::File,
                behaviour: report.behaviour,
            },
        })
    }

    fn project_warnings(&self, name: &str) -> Vec<String> {
        self.refused
            .lock()
            .ok()
            .and_then(|r| r.get(name).map(|w| w.iter().cloned().collect()))
            .unwrap_or_default()
    }
}
