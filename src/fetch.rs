//! Inputs named by project or URL: `django==1.11.1`, `django`, `https://…/x-1.0.tar.gz`.
//!
//! People name packages, not files. An argument that is not an existing path but reads as
//! a PEP 508 requirement (no URL, no marker) is looked up on the configured index; one
//! that starts with `https://` or `http://` is downloaded as it is. Either way the file
//! lands in the cache and is then inspected like any local file.
//!
//! Everything the index says is untrusted: the page goes through
//! [`ProjectPage`](crate::index::ProjectPage) (file names are validated
//! [`DistFilename`]s of the project asked for, hashes are [`Sha256Hex`]), and a download
//! goes into `files/<sha256>/<file name>` through a [`CacheDir`] handle — the same layout
//! and checks as `sdistill lock`, so both share downloads — and is checked against the
//! index's sha256 before it is opened. A URL has no index to vouch for it: its
//! `#sha256=` fragment (pip's convention) is checked when present; otherwise the answer
//! says that nothing was verified and reports the sha256 of what arrived. Its file name
//! must parse as a wheel or sdist name, which makes it one path component; the
//! directory is a digest of the URL, never the URL's text.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pep440_rs::{Operator, Version, VersionSpecifiers};
use pep508_rs::{PackageName, VersionOrUrl};
use sha2::{Digest, Sha256};

use crate::dirs::CacheDir;
use crate::dist_filename::{project_name, DistFilename};
use crate::error::{Error, Result};
use crate::index::{redact_url, IndexClient, IndexFile, Sha256Hex};
use crate::inspect::{hash_file, Inspector, Report};
use crate::notify::Notify;

/// Archive and wheel endings: an argument ending so is a file name, never a project.
const FILE_ENDINGS: &[&str] = &[".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".whl"];

/// One command-line input.
#[derive(Debug, Clone)]
pub enum Input {
    /// A local sdist, wheel or directory (also anything that is neither a project nor a
    /// URL: it is then reported as the missing file it is).
    Path(PathBuf),
    /// Something to fetch first.
    Remote(Remote),
}

/// An input that names a distribution somewhere else.
#[derive(Debug, Clone)]
pub enum Remote {
    /// A project on the index, with the versions that may be taken.
    Project {
        /// The argument as given.
        text: String,
        /// The project (normalized).
        name: PackageName,
        /// Empty for "the newest".
        specifiers: VersionSpecifiers,
    },
    /// A URL to an sdist or wheel (checked when it is downloaded).
    Url {
        /// The argument as given (may carry credentials: show only [`Remote::shown`]).
        text: String,
    },
}

impl Remote {
    /// The input as it may be shown or written: credentials in a URL redacted.
    pub fn shown(&self) -> String {
        match self {
            Remote::Project { text, .. } => text.clone(),
            Remote::Url { text } => redact_url(text),
        }
    }
}

impl Input {
    /// Classifies an argument. An existing path always wins (a directory named `django`
    /// is inspected as a directory); then URLs; then requirements; anything else is a
    /// path, so a missing file is still reported as one.
    pub fn parse(arg: &Path) -> Input {
        let local = Input::Path(arg.to_path_buf());
        if std::fs::symlink_metadata(arg).is_ok() {
            return local;
        }
        let Some(text) = arg.to_str() else {
            return local;
        };
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            return Input::Remote(Remote::Url {
                text: text.to_string(),
            });
        }
        let looks_like_file = text.contains(['/', '\\'])
            || text.starts_with('.')
            || FILE_ENDINGS.iter().any(|e| lower.ends_with(e));
        if looks_like_file {
            return local;
        }
        let Ok(req) = crate::metadata::parse_requirement(text) else {
            return local;
        };
        if !req.marker.is_true() {
            return local;
        }
        let specifiers = match req.version_or_url {
            None => VersionSpecifiers::empty(),
            Some(VersionOrUrl::VersionSpecifier(s)) => s,
            Some(VersionOrUrl::Url(_)) => return local,
        };
        Input::Remote(Remote::Project {
            text: text.to_string(),
            name: req.name,
            specifiers,
        })
    }

    /// What a report shows as its `input`.
    fn shown(&self) -> PathBuf {
        match self {
            Input::Path(p) => p.clone(),
            Input::Remote(r) => PathBuf::from(r.shown()),
        }
    }
}

/// What a report says as its `input` when its worker never produced one: the path, or
/// the project as given (a URL may carry credentials, so not even here).
impl AsRef<Path> for Input {
    fn as_ref(&self) -> &Path {
        match self {
            Input::Path(p) => p,
            Input::Remote(Remote::Project { text, .. }) => Path::new(text),
            Input::Remote(Remote::Url { .. }) => Path::new("<url>"),
        }
    }
}

/// Which kind of file to take when a version has both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefer {
    /// The sdist: the question is usually "what would building this do".
    #[default]
    Sdist,
    /// A wheel (a pure-Python one first), falling back to the sdist.
    Wheel,
}

/// A downloaded input, ready to inspect.
#[derive(Debug)]
pub struct Fetched {
    /// The file in the cache.
    pub path: PathBuf,
    /// What a reader of the answer should know (nothing verified the file, a yanked
    /// version, files the index listed that were refused).
    pub warnings: Vec<String>,
}

/// Finds and downloads remote inputs into the cache.
pub struct Fetcher {
    client: std::result::Result<IndexClient, String>,
    cache_dir: Option<PathBuf>,
    prefer: Prefer,
    offline: bool,
    notify: Notify,
}

impl Fetcher {
    /// A fetcher for `index_url` that keeps files under the cache root (`cache_dir` as in
    /// [`crate::dirs::cache_root`]). With `offline`, every remote input fails.
    pub fn new(
        index_url: &str,
        cache_dir: Option<&Path>,
        prefer: Prefer,
        offline: bool,
        notify: Notify,
    ) -> Self {
        Self {
            client: IndexClient::new(index_url).map_err(|e| e.to_string()),
            cache_dir: cache_dir.map(Path::to_path_buf),
            prefer,
            offline,
            notify,
        }
    }

    fn client(&self) -> Result<&IndexClient> {
        self.client.as_ref().map_err(|detail| Error::Index {
            detail: detail.clone(),
        })
    }

    fn cache_sub(&self, parts: &[&str]) -> Result<CacheDir> {
        let root = crate::dirs::cache_root(self.cache_dir.as_deref())?;
        CacheDir::open_root(&root)
            .and_then(|c| c.subdirs(parts))
            .map_err(|e| Error::io(root.join(parts.join("/")), e))
    }

    /// Downloads `remote` into the cache (or finds it there, re-hashed).
    pub fn fetch(&self, remote: &Remote) -> Result<Fetched> {
        if self.offline {
            return Err(Error::Index {
                detail: format!(
                    "offline: {} is not a local file, and fetching it needs the network",
                    remote.shown()
                ),
            });
        }
        match remote {
            Remote::Project {
                text,
                name,
                specifiers,
            } => self.fetch_project(text, name, specifiers),
            Remote::Url { text } => self.fetch_url(text),
        }
    }

    fn fetch_project(
        &self,
        text: &str,
        name: &PackageName,
        specifiers: &VersionSpecifiers,
    ) -> Result<Fetched> {
        let client = self.client()?;
        let page = client.project_files(name.as_ref(), None)?;
        // Files of other versions that were refused (old pytz releases are not PEP 440)
        // say nothing about the one inspected: traced, and counted only if none is left.
        for refused in &page.refused {
            self.notify.trace(&format!("{name}: {refused}"));
        }
        let mut warnings = Vec::new();
        let file = choose(&page.files, specifiers, self.prefer).ok_or_else(|| Error::Index {
            detail: format!(
                "{} lists no sdist or wheel of `{name}` that matches `{text}`{}",
                client.url(),
                match (page.files.is_empty(), page.refused.len()) {
                    (true, 0) => " (no such project there, or no files)".to_string(),
                    (_, 0) => String::new(),
                    (_, n) => format!(" ({n} listed files refused; -v shows them)"),
                }
            ),
        })?;
        if file.yanked {
            warnings.push(format!(
                "{} is yanked on the index (PEP 592); taken because `{text}` pins it",
                file.filename
            ));
        }
        let path = match &file.sha256 {
            Some(sha256) => self.download_verified(client, file, sha256)?,
            None => {
                let (path, got) = self.download_unverified(client, &file.url, &file.filename)?;
                warnings.push(format!(
                    "the index states no sha256 for {}; nothing verified the download (its sha256 is {got})",
                    file.filename
                ));
                path
            }
        };
        Ok(Fetched { path, warnings })
    }

    fn fetch_url(&self, text: &str) -> Result<Fetched> {
        let client = self.client()?;
        let shown = redact_url(text);
        let mut url = url::Url::parse(text).map_err(|e| Error::Usage {
            detail: format!("`{shown}` is not a URL: {e}"),
        })?;
        let fragment_hash = url
            .fragment()
            .and_then(|f| f.strip_prefix("sha256="))
            .map(Sha256Hex::parse)
            .transpose()
            .map_err(|e| Error::Usage {
                detail: format!("{shown}: {e}"),
            })?;
        url.set_fragment(None);
        let last = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        let filename = filename_from_url(&last).ok_or_else(|| Error::UnsupportedInput {
            path: PathBuf::from(&shown),
        })?;
        match fragment_hash {
            Some(sha256) => {
                let file = IndexFile {
                    filename,
                    url: url.to_string(),
                    sha256: Some(sha256.clone()),
                    yanked: false,
                    requires_python: None,
                    core_metadata: None,
                    size: None,
                    upload_time: None,
                    yanked_reason: None,
                };
                let path = self.download_verified(client, &file, &sha256)?;
                Ok(Fetched {
                    path,
                    warnings: Vec::new(),
                })
            }
            None => {
                let (path, got) = self.download_unverified(client, url.as_str(), &filename)?;
                Ok(Fetched {
                    path,
                    warnings: vec![format!(
                        "no sha256 was known for {}, so nothing verified the download; its sha256 is {got} (add #sha256=<hex> to the URL to have it checked)",
                        redact_url(url.as_str())
                    )],
                })
            }
        }
    }

    /// `files/<sha256>/<file name>`: both validated types. A cached copy is re-hashed
    /// before use; a download is checked before it is moved into place.
    fn download_verified(
        &self,
        client: &IndexClient,
        file: &IndexFile,
        sha256: &Sha256Hex,
    ) -> Result<PathBuf> {
        let dir = self.cache_sub(&["files", sha256.as_str()])?;
        let name = file.filename.as_str();
        let path = dir.path().join(name);
        if dir.is_file(name) {
            let (got, _) = hash_file(&path)?;
            if got == sha256.as_str() {
                self.notify
                    .trace(&format!("{name}: in the cache, sha256 {sha256} verified"));
                return Ok(path);
            }
            let _ = dir.remove_file(name);
        }
        let started = Instant::now();
        self.notify.say(&format!("downloading {name}"));
        client.download(&file.url, sha256, None, &dir, name, None)?;
        self.notify.trace(&format!(
            "{name}: downloaded from {}, sha256 {sha256} verified, in {} ms",
            redact_url(&file.url),
            started.elapsed().as_millis()
        ));
        Ok(path)
    }

    /// `by-url/<digest of the URL>/<file name>`, downloaded anew every time: with no
    /// known hash, a cached copy could not be told from a changed file.
    fn download_unverified(
        &self,
        client: &IndexClient,
        url: &str,
        filename: &DistFilename,
    ) -> Result<(PathBuf, Sha256Hex)> {
        let key = hex::encode(&Sha256::digest(url.as_bytes())[..16]);
        let dir = self.cache_sub(&["by-url", &key])?;
        let name = filename.as_str();
        let started = Instant::now();
        self.notify
            .say(&format!("downloading {name} (no sha256 known)"));
        let got = client.download_unverified(url, &dir, name, None)?;
        self.notify.trace(&format!(
            "{name}: downloaded from {}, sha256 {got} (not verified), in {} ms",
            redact_url(url),
            started.elapsed().as_millis()
        ));
        Ok((dir.path().join(name), got))
    }
}

/// The file to inspect among a project's validated files: the newest version the
/// specifiers allow (final releases first, as pip; a yanked one only for an exact `==`
/// pin), then the preferred kind, a pure-Python wheel before others.
fn choose<'a>(
    files: &'a [IndexFile],
    specifiers: &VersionSpecifiers,
    prefer: Prefer,
) -> Option<&'a IndexFile> {
    let exact = specifiers
        .iter()
        .any(|s| matches!(s.operator(), Operator::Equal | Operator::ExactEqual));
    let allowed =
        |f: &&IndexFile| specifiers.contains(f.filename.version()) && (!f.yanked || exact);
    let candidates: Vec<&IndexFile> = files.iter().filter(allowed).collect();
    let pre_ok = specifiers.iter().any(|s| s.version().any_prerelease())
        || candidates
            .iter()
            .all(|f| f.filename.version().any_prerelease());
    let newest: &Version = candidates
        .iter()
        .map(|f| f.filename.version())
        .filter(|v| pre_ok || !v.any_prerelease())
        .max()?;
    let rank = |f: &&&IndexFile| {
        let wheel_rank = match f.filename.wheel_tags() {
            None => 2,
            Some(tags) if tags.abi == "none" && tags.platform == "any" => 0,
            Some(_) => 1,
        };
        let kind = match prefer {
            Prefer::Sdist => u8::from(f.filename.is_wheel()),
            Prefer::Wheel => u8::from(!f.filename.is_wheel()),
        };
        (kind, wheel_rank, f.filename.as_str().to_string())
    };
    candidates
        .iter()
        .filter(|f| f.filename.version() == newest)
        .min_by_key(rank)
        .copied()
}

/// The validated file name a URL ends with. A wheel names its project before the first
/// `-`; an sdist's project may itself contain `-` (`python-dateutil-2.8.0.tar.gz`), so
/// each split is tried from the right until one is a project name and a PEP 440 version.
pub(crate) fn filename_from_url(last: &str) -> Option<DistFilename> {
    if last.ends_with(".whl") {
        let project = project_name(last.split('-').next()?)?;
        return DistFilename::parse(last, &project).ok();
    }
    let stem = FILE_ENDINGS
        .iter()
        .find_map(|e| last.strip_suffix(e).filter(|_| *e != ".whl"))?;
    stem.rmatch_indices('-').find_map(|(i, _)| {
        let project = project_name(&stem[..i])?;
        DistFilename::parse(last, &project).ok()
    })
}

/// Inspects every input on `jobs` worker threads, fetching remote ones first (each in
/// its worker, so downloads overlap too). Like [`Inspector::inspect_batch`]: `on_done`
/// is called as each input finishes, the reports come back in input order, and a failure
/// (a fetch too) is a value in that input's report. A fetched input's report says what
/// was asked for as its `input` and the cached file as its `source.path`.
pub fn inspect_inputs(
    inspector: &Inspector,
    fetcher: &Fetcher,
    inputs: &[Input],
    jobs: usize,
    on_done: impl FnMut(usize, &Report),
) -> Vec<Report> {
    crate::inspect::run_batch(
        inputs,
        jobs,
        |input| inspect_one(inspector, fetcher, input),
        on_done,
    )
}

/// One input: fetched if remote, then inspected.
pub fn inspect_one(inspector: &Inspector, fetcher: &Fetcher, input: &Input) -> Report {
    let remote = match input {
        Input::Path(path) => return inspector.inspect_report(path),
        Input::Remote(remote) => remote,
    };
    let started = Instant::now();
    // A panic is a bug, but it must cost only this input.
    let fetched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fetcher.fetch(remote)))
        .unwrap_or_else(|_| {
            Err(Error::Internal {
                detail: "panic while fetching".to_string(),
            })
        });
    match fetched {
        Ok(fetched) => {
            let mut report = inspector.inspect_report(&fetched.path);
            report.input = input.shown();
            report.elapsed += started.elapsed().saturating_sub(report.elapsed);
            let mut warnings = fetched.warnings;
            warnings.append(&mut report.warnings);
            report.warnings = warnings;
            report
        }
        Err(e) => failed(input, e, started.elapsed()),
    }
}

fn failed(input: &Input, error: Error, elapsed: Duration) -> Report {
    Report {
        input: input.shown(),
        source: None,
        outcome: Err(error),
        warnings: Vec::new(),
        elapsed,
        cached: false,
        reusable: false,
        behaviour: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn file(name: &str, yanked: bool) -> IndexFile {
        let project = project_name(name.split('-').next().unwrap()).unwrap();
        IndexFile {
            filename: DistFilename::parse(name, &project).unwrap(),
            url: format!("https://files.invalid/{name}"),
            sha256: Some(Sha256Hex::of(name.as_bytes())),
            yanked,
            requires_python: None,
            core_metadata: None,
            size: None,
            upload_time: None,
            yanked_reason: None,
        }
    }

    fn specs(text: &str) -> VersionSpecifiers {
        VersionSpecifiers::from_str(text).unwrap()
    }

    #[test]
    fn classifies_arguments() {
        let remote = |s: &str| matches!(Input::parse(Path::new(s)), Input::Remote(_));
        assert!(remote("django==1.11.1"));
        assert!(remote("django"));
        assert!(remote("Django>=1.11,<2"));
        assert!(remote("https://files.invalid/x-1.0.tar.gz"));
        for local in [
            "missing-1.0.tar.gz",
            "dir/django",
            "./django",
            "x.whl",
            "django; sys_platform == 'win32'",
            "django @ https://x.invalid/d.tar.gz",
            "not a requirement!",
            "",
        ] {
            assert!(!remote(local), "{local}");
        }
        let tmp = tempfile::tempdir().unwrap();
        let existing = tmp.path().join("django");
        std::fs::create_dir(&existing).unwrap();
        assert!(matches!(Input::parse(&existing), Input::Path(_)));
    }

    #[test]
    fn chooses_the_newest_allowed_file_of_the_preferred_kind() {
        let files = vec![
            file("demo-1.0.tar.gz", false),
            file("demo-1.0-py3-none-any.whl", false),
            file("demo-2.0-cp312-cp312-manylinux_2_17_x86_64.whl", false),
            file("demo-2.0-py3-none-any.whl", false),
            file("demo-2.0.tar.gz", false),
            file("demo-3.0.tar.gz", true),
            file("demo-4.0a1.tar.gz", false),
        ];
        let pick = |s: &str, p| choose(&files, &specs(s), p).map(|f| f.filename.as_str());
        assert_eq!(pick("", Prefer::Sdist), Some("demo-2.0.tar.gz"));
        assert_eq!(pick("", Prefer::Wheel), Some("demo-2.0-py3-none-any.whl"));
        assert_eq!(pick("==1.0", Prefer::Sdist), Some("demo-1.0.tar.gz"));
        assert_eq!(pick("==3.0", Prefer::Sdist), Some("demo-3.0.tar.gz"));
        assert_eq!(pick(">=2.5", Prefer::Sdist), Some("demo-4.0a1.tar.gz"));
        assert_eq!(pick(">=4.0a0", Prefer::Sdist), Some("demo-4.0a1.tar.gz"));
        assert_eq!(pick("<2", Prefer::Wheel), Some("demo-1.0-py3-none-any.whl"));
        assert_eq!(pick("==9", Prefer::Sdist), None);
        let only_sdist = vec![file("demo-1.0.tar.gz", false)];
        assert_eq!(
            choose(&only_sdist, &specs(""), Prefer::Wheel).map(|f| f.filename.as_str()),
            Some("demo-1.0.tar.gz")
        );
    }

    #[test]
    fn url_file_names_are_validated() {
        let ok = |s: &str| filename_from_url(s).map(|f| f.as_str().to_string());
        assert_eq!(
            ok("Django-1.11.1.tar.gz").as_deref(),
            Some("Django-1.11.1.tar.gz")
        );
        assert_eq!(
            ok("python-dateutil-2.8.0.tar.gz").as_deref(),
            Some("python-dateutil-2.8.0.tar.gz")
        );
        assert_eq!(
            ok("demo-1.0-py3-none-any.whl").as_deref(),
            Some("demo-1.0-py3-none-any.whl")
        );
        for bad in [
            "",
            "..",
            "x.tar.gz",
            "../x-1.0.tar.gz",
            "x-1.0.exe",
            "x-notaversion!.tar.gz",
            "x-1.0 .tar.gz",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }
}
