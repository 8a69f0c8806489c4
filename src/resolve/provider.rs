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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use pep440_rs::Version;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::index::{IndexClient, IndexFile, MetadataFile};
use crate::inspect::{hash_file, Inspector, Options};
use crate::metadata::{normalize_name, CoreMetadata};
use crate::observe::{Behaviour, Severity};
use crate::sandbox::{runtime, Notify};

/// One distribution file of a version, as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFile {
    /// File name (`demo-1.0.tar.gz`, `demo-1.0-py3-none-any.whl`).
    pub filename: String,
    /// Download URL.
    pub url: String,
    /// sha256 the index states; files without one are never used (they cannot be pinned).
    pub sha256: String,
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
        self.filename.ends_with(".whl")
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
    /// What the file's build code tried, when build code ran for this answer.
    pub behaviour: Option<Behaviour>,
}

/// The two questions a resolver asks. Implement it to feed sdistill's resolver from
/// elsewhere (a lock file, a mirror, a test double).
pub trait MetadataProvider: Send + Sync {
    /// Every version of `name` (normalized) the source knows, with its files.
    fn versions(&self, name: &str) -> Result<Vec<ProjectVersion>>;
    /// The dependencies of one version, from `files` (usable ones, best first).
    fn metadata(&self, name: &str, version: &Version, files: &[DistFile]) -> Result<DistMetadata>;
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
    counters: [AtomicUsize; 5],
    /// The behaviour report of every sdist whose build code ran, answer or not.
    behaviours: Mutex<Vec<(String, Behaviour)>>,
}

/// Largest PEP 658 metadata file accepted.
const MAX_METADATA_FILE: u64 = 16 * 1024 * 1024;

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
            counters: Default::default(),
            behaviours: Mutex::new(Vec::new()),
        })
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

    fn page_cache_path(&self, index: &IndexClient, name: &str) -> PathBuf {
        let key = hex::encode(Sha256::digest(format!("{}\0{name}", index.url())));
        self.cache_root
            .join("index-pages")
            .join(format!("{}.json", &key[..32]))
    }

    fn project_files(&self, index: &IndexClient, name: &str) -> Result<Vec<IndexFile>> {
        let path = self.page_cache_path(index, name);
        if self.offline {
            let text = std::fs::read(&path).map_err(|_| Error::Index {
                detail: format!(
                    "offline, and the cache has no copy of {}{name}/ (run once without --offline)",
                    index.url()
                ),
            })?;
            return serde_json::from_slice(&text).map_err(|e| Error::Index {
                detail: format!("{}: unreadable cached index page: {e}", path.display()),
            });
        }
        let files = index.project_files(name)?;
        self.count(0);
        if let Ok(bytes) = serde_json::to_vec(&files) {
            let _ = crate::atomic_file::write(&path, &bytes, false);
        }
        Ok(files)
    }

    /// A distribution file in the local cache, downloaded (and sha256-checked) when
    /// missing; a cached copy is re-hashed before use.
    fn local_file(&self, file: &DistFile) -> Result<PathBuf> {
        let name = safe_filename(&file.filename)?;
        let dir = self
            .cache_root
            .join("files")
            .join(file.sha256.to_ascii_lowercase());
        let path = dir.join(name);
        if path.is_file() {
            let (got, _) = hash_file(&path)?;
            if got.eq_ignore_ascii_case(&file.sha256) {
                return Ok(path);
            }
            let _ = std::fs::remove_file(&path);
        }
        if self.offline {
            return Err(Error::Index {
                detail: format!("offline, and {} is not in the cache", file.filename),
            });
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let index = self.http()?;
        self.notify.say(&format!("downloading {}", file.filename));
        index.download(&file.url, &file.sha256, None, &path)?;
        self.count(2);
        Ok(path)
    }

    /// The PEP 658 metadata text of a wheel, cached by the wheel's sha256.
    fn metadata_file(&self, file: &DistFile, meta: &MetadataFile) -> Result<String> {
        let path = self
            .cache_root
            .join("metadata-files")
            .join(format!("{}.metadata", file.sha256.to_ascii_lowercase()));
        if let Ok(bytes) = std::fs::read(&path) {
            let ok = meta
                .sha256
                .as_ref()
                .is_none_or(|h| hex::encode(Sha256::digest(&bytes)).eq_ignore_ascii_case(h));
            if ok {
                return Ok(String::from_utf8_lossy(&bytes).into_owned());
            }
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
            meta.sha256.as_deref(),
            MAX_METADATA_FILE,
        )?;
        self.count(1);
        let _ = crate::atomic_file::write(&path, &bytes, false);
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
            filename: file.filename.clone(),
            method: method.to_string(),
            warnings,
            behaviour: None,
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
        if let (Some(seen), Ok(mut all)) = (&report.behaviour, self.behaviours.lock()) {
            all.push((file.filename.clone(), seen.clone()));
        }
        let meta = report.outcome?;
        if meta.method.as_str().starts_with("sandbox") {
            self.count(if report.cached { 4 } else { 3 });
        }
        Ok(DistMetadata {
            requires_dist: meta.requires_dist,
            requires_python: meta.requires_python,
            provides_extra: meta.provides_extra,
            filename: file.filename.clone(),
            method: meta.method.as_str().to_string(),
            warnings: report.warnings,
            behaviour: report.behaviour,
        })
    }
}

impl MetadataProvider for IndexProvider {
    fn versions(&self, name: &str) -> Result<Vec<ProjectVersion>> {
        let name = normalize_name(name);
        if let Some(found) = self.pages.lock().ok().and_then(|p| p.get(&name).cloned()) {
            return Ok(found);
        }
        let mut by_version: BTreeMap<Version, Vec<DistFile>> = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for index in &self.indexes {
            for f in self.project_files(index, &name)? {
                let Some(sha256) = f.sha256.clone() else {
                    continue;
                };
                let Some(version) = version_from_filename(&f.filename, &name) else {
                    continue;
                };
                if !seen.insert(f.filename.clone()) {
                    continue;
                }
                by_version.entry(version).or_default().push(DistFile {
                    filename: f.filename,
                    url: f.url,
                    sha256,
                    yanked: f.yanked,
                    requires_python: f.requires_python,
                    core_metadata: f.core_metadata,
                });
            }
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
}

/// The version in a distribution file name, if the name belongs to `project` (normalized)
/// and is a kind sdistill reads.
pub fn version_from_filename(filename: &str, project: &str) -> Option<Version> {
    if let Some(stem) = filename.strip_suffix(".whl") {
        let mut parts = stem.split('-');
        let name = parts.next()?;
        let version = parts.next()?;
        return (normalize_name(name) == project)
            .then(|| Version::from_str(version).ok())
            .flatten();
    }
    let stem = [".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip"]
        .iter()
        .find_map(|ext| filename.strip_suffix(ext))?;
    stem.match_indices('-').find_map(|(i, _)| {
        (normalize_name(&stem[..i]) == project)
            .then(|| Version::from_str(&stem[i + 1..]).ok())
            .flatten()
    })
}

/// A file name from an index, safe to use as one path component.
fn safe_filename(name: &str) -> Result<&str> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '!'));
    if ok {
        Ok(name)
    } else {
        Err(Error::Index {
            detail: format!("refusing the index's file name `{}`", name.escape_default()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_file_names() {
        let v = |f: &str, p: &str| version_from_filename(f, p).map(|v| v.to_string());
        assert_eq!(
            v("Django-1.11.1.tar.gz", "django").as_deref(),
            Some("1.11.1")
        );
        assert_eq!(
            v("zope.interface-5.0.zip", "zope-interface").as_deref(),
            Some("5.0")
        );
        assert_eq!(
            v("my-pkg-2.0rc1.tar.gz", "my-pkg").as_deref(),
            Some("2.0rc1")
        );
        assert_eq!(
            v("my_pkg-2.0-py3-none-any.whl", "my-pkg").as_deref(),
            Some("2.0")
        );
        assert_eq!(v("other-1.0.tar.gz", "my-pkg"), None);
        assert_eq!(
            v("tv-2.1.0+cpu-py3-none-any.whl", "tv").as_deref(),
            Some("2.1.0+cpu")
        );
        assert_eq!(v("my-pkg-1.0.exe", "my-pkg"), None);
        assert!(safe_filename("../x").is_err());
        assert!(safe_filename("a/b.whl").is_err());
    }
}
