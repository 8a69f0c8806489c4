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

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use pep440_rs::Version;
use pep508_rs::PackageName;
use sha2::{Digest, Sha256};

use crate::dirs::CacheDir;
use crate::dist_cache::{DistCache, MAX_METADATA_FILE};
use crate::error::{Error, Result};
use crate::index::{
    merge_pages, DistFilename, IndexClient, ListedFile, MetadataFile, ProjectPage, Sha256Hex,
    MAX_DOWNLOAD,
};
use crate::inspect::{Inspector, Options};
use crate::metadata::{normalize_name, CoreMetadata};
use crate::sandbox::{runtime, Notify};

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
}

/// The two questions a resolver asks. Implement it to feed sdistill's resolver from
/// elsewhere (a lock file, a mirror, a test double).
pub trait MetadataProvider: Send + Sync {
    /// Every version of `name` (normalized) the source knows, with its files.
    fn versions(&self, name: &str) -> Result<Vec<ProjectVersion>>;
    /// The dependencies of one version, from `files` (usable ones, best first).
    fn metadata(&self, name: &str, version: &Version, files: &[DistFile]) -> Result<DistMetadata>;
    /// What the source refused so far (files that were not what they claimed), for the
    /// lock's warnings: a refused file is never used, but never dropped silently either.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
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
    inspector: Inspector,
    notify: Notify,
    pages: Mutex<BTreeMap<String, Vec<ProjectVersion>>>,
    refused: Mutex<BTreeSet<String>>,
    counters: [AtomicUsize; 5],
}

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
            inspector: Inspector::new(options),
            notify,
            pages: Mutex::new(BTreeMap::new()),
            refused: Mutex::new(BTreeSet::new()),
            counters: Default::default(),
        })
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
        format!("{}.json", &key[..32])
    }

    /// The validated files of `name` on `index`. The page is cached as listed, so a cached
    /// page goes through the same validation as a fresh one.
    fn project_files(&self, index: &IndexClient, name: &PackageName) -> Result<ProjectPage> {
        let pages = self.cache_sub(&["index-pages"])?;
        let file = Self::page_cache_name(index, name);
        let listing: Vec<ListedFile> = if self.offline {
            let text = pages
                .read(&file, MAX_CACHED_PAGE)
                .map_err(|_| Error::Index {
                    detail: format!(
                    "offline, and the cache has no copy of {}{name}/ (run once without --offline)",
                    index.url()
                ),
                })?;
            serde_json::from_slice(&text).map_err(|e| Error::Index {
                detail: format!(
                    "{}: unreadable cached index page: {e}",
                    pages.path().join(&file).display()
                ),
            })?
        } else {
            let listing = index.listing(name, None)?;
            self.count(0);
            if let Ok(bytes) = serde_json::to_vec(&listing) {
                let _ = pages.write_atomic(&file, &bytes);
            }
            listing
        };
        let page = ProjectPage::from_listing(name, listing);
        if let Ok(mut refused) = self.refused.lock() {
            for r in &page.refused {
                refused.insert(format!("{}: {r}", index.url()));
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
    ) -> DistMetadata {
        DistMetadata {
            requires_dist: core.requires_dist,
            requires_python: core.requires_python,
            provides_extra: core.provides_extra,
            filename: file.filename.to_string(),
            method: method.to_string(),
            warnings,
        }
    }

    fn metadata_from(&self, file: &DistFile) -> Result<DistMetadata> {
        if let Some(meta) = file.core_metadata.as_ref().filter(|_| file.is_wheel()) {
            match self.metadata_file(file, meta) {
                Ok(text) => {
                    let label = format!("{}.metadata", file.filename);
                    let core = CoreMetadata::parse(&text, &label)?;
                    let warnings = core.validate(&label)?;
                    return Ok(Self::from_core(core, file, "metadata-file", warnings));
                }
                // A broken metadata file is not the end: the wheel itself has METADATA.
                Err(e) if !self.offline => self.notify.say(&format!(
                    "{}: metadata file unusable ({e}); reading the wheel",
                    file.filename
                )),
                Err(e) => return Err(e),
            }
        }
        let path = self.local_file(file)?;
        if !file.is_wheel() {
            self.notify
                .say(&format!("reading metadata of {}", file.filename));
        }
        let report = self.inspector.inspect_report(&path);
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
        })
    }
}

impl MetadataProvider for IndexProvider {
    fn versions(&self, name: &str) -> Result<Vec<ProjectVersion>> {
        let name = normalize_name(name);
        if let Some(found) = self.pages.lock().ok().and_then(|p| p.get(&name).cloned()) {
            return Ok(found);
        }
        let Some(project) = crate::dist_filename::project_name(&name) else {
            return Ok(Vec::new());
        };
        let mut by_version: BTreeMap<Version, Vec<DistFile>> = BTreeMap::new();
        let pages = self
            .indexes
            .iter()
            .map(|index| self.project_files(index, &project))
            .collect::<Result<Vec<_>>>()?;
        for (_, f, sha256) in merge_pages(pages) {
            let version = f.filename.version().clone();
            by_version.entry(version).or_default().push(DistFile {
                filename: f.filename,
                url: f.url,
                sha256,
                yanked: f.yanked,
                requires_python: f.requires_python,
                core_metadata: f.core_metadata,
            });
        }
        let versions: Vec<ProjectVersion> = by_version
            .into_iter()
            .map(|(version, files)| ProjectVersion { version, files })
            .collect();
        if let Ok(mut pages) = self.pages.lock() {
            pages.insert(name, versions.clone());
        }
        Ok(versions)
    }

    fn metadata(&self, name: &str, version: &Version, files: &[DistFile]) -> Result<DistMetadata> {
        let Some(first) = files.first() else {
            return Err(Error::NoMetadata {
                detail: format!("{name} {version} has no usable file"),
            });
        };
        self.metadata_from(first)
    }

    fn warnings(&self) -> Vec<String> {
        self.refused
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }
}
