//! Build requirements for the guest: `[build-system].requires` and `setup_requires`,
//! provided as real pure-Python wheels, never stubs when a real one exists.
//!
//! A measured experiment showed why this matters: stubbing `setup_requires` (pbr,
//! setuptools_scm, ...) silently produced version `0.0.0` and dropped every dependency.
//! So each requirement is resolved on the index to the newest pure-Python wheel
//! (`py3-none-any`) that satisfies it and supports CPython 3.12, downloaded with its sha256
//! checked, unpacked once into the cache with the same safety rules as sdists, and handed
//! to the guest read-only; its own requirements are resolved the same way (markers
//! evaluated for the guest: CPython 3.12 on Linux x86_64). A requirement with no pure
//! wheel but an sdist (vcversioner, old helpers) is handed to a [`HelperBuilder`]: the
//! sandbox builds the sdist into a wheel (untrusted code, same limits, bounded depth and
//! count; see `sandbox::helpers`), and that wheel is used like any other. A requirement
//! with neither (numpy, Cython, cffi...), or whose helper build failed or hit a bound,
//! gets an inert stand-in package and a warning naming it: the answer is flagged.
//! Offline, only wheels already in the cache are used, and anything missing is a warning.
//!
//! File names and hashes come from the index, so they are used only as validated types
//! ([`DistFilename`], [`crate::index::Sha256Hex`]), and every cache access goes through a
//! directory handle rooted in the cache ([`CacheDir`]): `wheels/<sha256>/<file name>`,
//! `build-deps/<sha256>/` (the unpacked tree), `stand-ins/<project>/`. Trees are keyed by
//! the wheel's sha256, not its name: a wheel another index served under the same name is
//! another tree, so one index (or one sdist's `setup_requires`) cannot plant code that a
//! later build of another sdist would run.
//!
//! Fetching counts against the input's deadline when one is given.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Instant;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder, VersionOrUrl};

use crate::archive::{self, InputKind};
use crate::dirs::CacheDir;
use crate::error::{Error, Result};
use crate::index::{DistFilename, IndexClient, IndexFile, ProjectPage, Sha256Hex};
use crate::limits::Limits;
use crate::metadata::normalize_name;
use crate::metadata::CoreMetadata;

/// Most wheels one sdist's build environment may pull in.
const MAX_WHEELS: usize = 64;

/// The project the guest driver itself stands in for (`python-wasm/driver.py`'s NumPy
/// stand-in), instead of an inert package.
const GUEST_STAND_IN: &str = "numpy";

/// Projects the guest already provides in `/site`.
const PROVIDED: &[&str] = &["setuptools", "distribute"];

/// Builds a build requirement that the index offers only as an sdist into an unpacked
/// wheel tree (the sandbox does it; see `sandbox::helpers`). `requirement` is the text
/// that asked for it, for messages.
pub trait HelperBuilder {
    /// The unpacked wheel built from `sdist` (downloaded hash-checked by `deps`), or why
    /// it could not be provided.
    fn build(&mut self, deps: &BuildDeps, requirement: &str, sdist: &IndexFile) -> Result<PathBuf>;
}

/// What the index offers for one requirement.
enum Offer {
    /// A pure-Python wheel, unpacked: its version, tree and metadata.
    Wheel(Version, PathBuf, CoreMetadata),
    /// No usable wheel, but this sdist satisfies the requirement.
    Sdist(IndexFile),
    /// Neither.
    Nothing,
}

/// What the guest gets for a set of build requirements.
#[derive(Debug, Default, Clone)]
pub struct BuildEnv {
    /// Unpacked wheel directories (and stand-ins), each preopened read-only.
    pub dirs: Vec<PathBuf>,
    /// `name==version` of every real wheel provided.
    pub provided: Vec<String>,
    /// Observations: stand-ins used, requirements that could not be provided.
    pub warnings: Vec<String>,
    /// True when something needed could not be provided (the answer is flagged).
    pub incomplete: bool,
}

/// Resolves build requirements to unpacked wheels in the cache. Shared by a batch.
pub struct BuildDeps {
    cache: PathBuf,
    index_url: String,
    offline: bool,
    client: Mutex<Option<IndexClient>>,
    pages: Mutex<HashMap<String, ProjectPage>>,
    /// Helper sdists (by sha256) whose build failed in this process, and why: a batch
    /// whose sdists all need the same broken helper builds it once. Never on disk: a
    /// failure is not an answer to keep.
    failed_helpers: Mutex<HashMap<String, String>>,
    /// Projects whose index page could not be fetched, so that files already in the cache
    /// (from whichever index) stood in for it: an answer built with them is flagged and
    /// never cached under this index's key.
    unlisted: Mutex<std::collections::BTreeSet<String>>,
}

/// The environment build requirements' markers are evaluated in: the guest.
fn guest_markers() -> Option<MarkerEnvironment> {
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: "3.12.0",
        os_name: "posix",
        platform_machine: "x86_64",
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system: "Linux",
        platform_version: "",
        python_full_version: "3.12.0",
        python_version: "3.12",
        sys_platform: "linux",
    })
    .ok()
}

/// Whether the guest can use a wheel: pure Python that runs on CPython 3.12.
pub(crate) fn pure_for_guest(filename: &DistFilename) -> bool {
    let Some(tags) = filename.wheel_tags() else {
        return false;
    };
    let abi = tags.abi.as_str();
    let py_ok = tags
        .python
        .split('.')
        .any(|t| t == "py3" || t == "py312" || t == "cp312" && abi == "none");
    py_ok && abi == "none" && tags.platform == "any"
}

impl BuildDeps {
    /// A resolver caching under `cache` (wheels, unpacked trees, stand-ins).
    pub fn new(cache: &Path, index_url: &str, offline: bool) -> Self {
        Self {
            cache: cache.to_path_buf(),
            index_url: index_url.to_string(),
            offline,
            client: Mutex::new(None),
            pages: Mutex::new(HashMap::new()),
            failed_helpers: Mutex::new(HashMap::new()),
            unlisted: Mutex::new(Default::default()),
        }
    }

    /// The cache root, as a directory handle.
    fn cache(&self) -> Result<CacheDir> {
        CacheDir::open_root(&self.cache).map_err(|e| Error::io(&self.cache, e))
    }

    /// Resolves `requirements` (PEP 508 strings) and everything they need; network
    /// requests end by `deadline` when one is given.
    pub fn resolve(
        &self,
        requirements: &[String],
        deadline: Option<Instant>,
        helpers: &mut dyn HelperBuilder,
    ) -> BuildEnv {
        let mut env = BuildEnv::default();
        let Some(markers) = guest_markers() else {
            return env;
        };
        let mut queue: VecDeque<String> = requirements.iter().cloned().collect();
        let mut chosen: HashMap<String, Version> = HashMap::new();
        while let Some(text) = queue.pop_front() {
            let req = match crate::metadata::parse_requirement(&text) {
                Ok(r) => r,
                Err(_) => {
                    env.warnings.push(format!(
                        "build requirement `{text}` is not PEP 508; not provided"
                    ));
                    env.incomplete = true;
                    continue;
                }
            };
            if !crate::metadata::guarded(|| req.marker.evaluate(&markers, &[])).unwrap_or(false) {
                continue;
            }
            let name = normalize_name(req.name.as_ref());
            if PROVIDED.contains(&name.as_str()) || chosen.contains_key(&name) {
                continue;
            }
            if name == GUEST_STAND_IN {
                // The driver's NumPy stand-in serves it (numpy.distutils' configuration
                // emulated, get_include() a placeholder); an inert package here would
                // shadow it. The answer is flagged either way.
                env.warnings.push(format!(
                    "build requirement `{text}` has no pure-Python wheel; the sandbox's NumPy stand-in serves it, so the result is flagged"
                ));
                env.incomplete = true;
                chosen.insert(name, Version::new([0]));
                continue;
            }
            if chosen.len() >= MAX_WHEELS {
                env.warnings.push(format!(
                    "more than {MAX_WHEELS} build wheels; `{text}` not provided"
                ));
                env.incomplete = true;
                continue;
            }
            let specifiers = match &req.version_or_url {
                Some(VersionOrUrl::VersionSpecifier(s)) => s.clone(),
                Some(VersionOrUrl::Url(_)) => {
                    env.warnings
                        .push(format!("build requirement `{text}` is a URL; not fetched"));
                    env.incomplete = true;
                    continue;
                }
                None => VersionSpecifiers::from_iter(Vec::new()),
            };
            let provided = self.provide(&name, &specifiers, deadline);
            env.warnings.extend(self.refusals(&name));
            let provided = match provided {
                Ok(Offer::Sdist(sdist)) => match helpers.build(self, &text, &sdist) {
                    Ok(dir) => read_dist_info(&dir).and_then(|metadata| {
                        let version = sdist.filename.version().clone();
                        if normalize_name(&metadata.name) != name
                            || Version::from_str(&metadata.version).ok().as_ref() != Some(&version)
                        {
                            return Err(Error::Index {
                                detail: format!(
                                    "the wheel built from {} says it is {} {}",
                                    sdist.filename, metadata.name, metadata.version
                                ),
                            });
                        }
                        Ok(Offer::Wheel(version, dir, metadata))
                    }),
                    Err(e) => Err(e),
                }
                .map_err(|e| Error::HelperBuild {
                    sdist: sdist.filename.to_string(),
                    detail: e.to_string(),
                }),
                other => other,
            };
            if self.unlisted.lock().is_ok_and(|u| u.contains(&name)) {
                env.warnings.push(format!(
                    "the index page of build requirement `{name}` could not be fetched; files already in the cache were used, so the result is flagged"
                ));
                env.incomplete = true;
            }
            match provided {
                Ok(Offer::Wheel(version, dir, metadata)) => {
                    env.provided.push(format!("{name}=={version}"));
                    env.dirs.push(dir);
                    chosen.insert(name, version);
                    queue.extend(metadata.requires_dist);
                }
                Ok(Offer::Nothing) | Ok(Offer::Sdist(_)) => {
                    // Neither a pure-Python wheel nor an sdist: an inert stand-in lets
                    // imports succeed, and the answer says it depended on one.
                    self.use_stand_in(&mut env, req.name.as_ref(), &format!(
                        "build requirement `{text}` has no pure-Python wheel (and no sdist the sandbox could build); an inert stand-in was used, so the result may be incomplete"
                    ));
                    chosen.insert(name, Version::new([0]));
                }
                Err(e) => {
                    // A helper that could not be provided: still a stand-in (imports
                    // succeed, so the build gets as far as it can), and the warning names
                    // exactly which helper and why; the answer is flagged.
                    self.use_stand_in(&mut env, req.name.as_ref(), &format!(
                        "build requirement `{text}` could not be provided: {e}; an inert stand-in was used, so the result may be incomplete"
                    ));
                    chosen.insert(name, Version::new([0]));
                }
            }
        }
        env
    }

    /// Records a stand-in for `project` in `env` with `warning`; the env is incomplete.
    fn use_stand_in(&self, env: &mut BuildEnv, project: &str, warning: &str) {
        match self.stand_in(project) {
            Ok(dir) => {
                env.dirs.push(dir);
                env.warnings.push(warning.to_string());
            }
            Err(e) => env.warnings.push(format!(
                "{warning} (and the stand-in for `{project}` failed: {e})"
            )),
        }
        env.incomplete = true;
    }

    /// Finds, fetches and unpacks the best pure wheel; failing that, the best sdist that
    /// satisfies the requirement (built by the caller's [`HelperBuilder`]).
    fn provide(
        &self,
        name: &str,
        spec: &VersionSpecifiers,
        deadline: Option<Instant>,
    ) -> Result<Offer> {
        let files = self.files(name, deadline)?;
        let allow_pre = spec.iter().any(|s| s.version().any_prerelease());
        let py312 = Version::new([3, 12, 0]);
        let mut best: Option<(Version, IndexFile)> = None;
        let mut best_sdist: Option<(Version, IndexFile)> = None;
        // A project that publishes platform wheels (numpy, cffi, lxml...) has compiled
        // code: its sdist needs a compiler, which the sandbox never has, so building it
        // would only cost a download and a failed run. It gets the stand-in, as before.
        let mut native_wheels = false;
        let mut any_wheel_or_sdist = false;
        for f in files {
            any_wheel_or_sdist = true;
            let version = f.filename.version().clone();
            if f.yanked || !spec.contains(&version) || (version.any_prerelease() && !allow_pre) {
                continue;
            }
            if let Some(rp) = f
                .requires_python
                .as_deref()
                .and_then(|r| VersionSpecifiers::from_str(r).ok())
            {
                if !rp.contains(&py312) {
                    continue;
                }
            }
            let slot = if pure_for_guest(&f.filename) {
                &mut best
            } else if f.filename.is_wheel() {
                // A pure wheel for another Python (vcversioner's `py2-none-any`) says
                // nothing about compiled code; a platform or ABI tag does.
                native_wheels |= f
                    .filename
                    .wheel_tags()
                    .is_some_and(|t| t.platform != "any" || t.abi != "none");
                continue;
            } else if f.sha256.is_some() {
                &mut best_sdist
            } else {
                continue;
            };
            if slot.as_ref().is_none_or(|(v, _)| version > *v) {
                *slot = Some((version, f));
            }
        }
        let Some((version, file)) = best else {
            if !any_wheel_or_sdist {
                return Err(Error::Index {
                    detail: format!("no files for {name}"),
                });
            }
            return Ok(match best_sdist {
                Some((_, f)) if !native_wheels => Offer::Sdist(f),
                _ => Offer::Nothing,
            });
        };
        let dir = self.unpacked(&file, deadline)?;
        let metadata = read_dist_info(&dir)?;
        Ok(Offer::Wheel(version, dir, metadata))
    }

    /// Downloads a helper sdist (sha256-checked against the index) into the cache once,
    /// `sdists/<sha256>/<file name>`, and returns its path.
    pub fn fetch_sdist(&self, file: &IndexFile, deadline: Option<Instant>) -> Result<PathBuf> {
        let sha = file.sha256.as_ref().ok_or_else(|| Error::Index {
            detail: format!(
                "{}: the index gives no sha256; refusing to use it",
                file.filename
            ),
        })?;
        let cache = self.cache()?;
        let dir = cache
            .subdirs(&["sdists", sha.as_str()])
            .map_err(|e| Error::io(cache.path(), e))?;
        let name = file.filename.as_str();
        if !dir.is_file(name) {
            let guard = self.client.lock().map_err(|_| Error::Index {
                detail: "client lock".into(),
            })?;
            let client = guard.as_ref().ok_or_else(|| Error::Index {
                detail: format!("{} is not cached and sdistill is offline", file.filename),
            })?;
            client.download(&file.url, sha, file.size, &dir, name, deadline)?;
        }
        Ok(dir.path().join(name))
    }

    /// Why the helper sdist with this sha256 failed to build earlier in this process.
    pub fn failed_helper(&self, sha256: &str) -> Option<String> {
        self.failed_helpers.lock().ok()?.get(sha256).cloned()
    }

    /// Remembers (in memory only) that the helper sdist with this sha256 failed to build.
    pub fn note_failed_helper(&self, sha256: &str, why: String) {
        if let Ok(mut failed) = self.failed_helpers.lock() {
            failed.insert(sha256.to_string(), why);
        }
    }

    /// The cache root, for the helper builder's own trees.
    pub fn cache_root(&self) -> &Path {
        &self.cache
    }

    /// The index build requirements come from: what a helper built from an sdist (whose
    /// own build requirements come from there too) depends on besides the sdist's bytes.
    pub fn index_url(&self) -> &str {
        &self.index_url
    }

    /// The index listing for `name` (validated files only); offline, the wheels already
    /// in the cache.
    fn files(&self, name: &str, deadline: Option<Instant>) -> Result<Vec<IndexFile>> {
        if let Ok(pages) = self.pages.lock() {
            if let Some(page) = pages.get(name) {
                return Ok(page.files.clone());
            }
        }
        let page = if self.offline {
            ProjectPage {
                files: self.cached_files(name),
                refused: Vec::new(),
                ignored: 0,
            }
        } else {
            let mut guard = self.client.lock().map_err(|_| Error::Index {
                detail: "client lock".into(),
            })?;
            if guard.is_none() {
                *guard = Some(IndexClient::new(&self.index_url)?);
            }
            match guard.as_ref() {
                Some(client) => client.project_files(name, deadline).or_else(|e| {
                    let cached = self.cached_files(name);
                    if cached.is_empty() {
                        Err(e)
                    } else {
                        if let Ok(mut unlisted) = self.unlisted.lock() {
                            unlisted.insert(name.to_string());
                        }
                        Ok(ProjectPage {
                            files: cached,
                            refused: Vec::new(),
                            ignored: 0,
                        })
                    }
                })?,
                None => ProjectPage::default(),
            }
        };
        let files = page.files.clone();
        if let Ok(mut pages) = self.pages.lock() {
            pages.insert(name.to_string(), page);
        }
        Ok(files)
    }

    /// What the index listed for `name` that was refused (never used), as warnings.
    fn refusals(&self, name: &str) -> Vec<String> {
        self.pages
            .lock()
            .ok()
            .and_then(|pages| {
                pages.get(name).map(|page| {
                    page.refused
                        .iter()
                        .map(|r| format!("build requirement {name}: {r}"))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// Wheels of `name` already downloaded (checked against the index's sha256 then), read
    /// back from the cache (`wheels/<sha256>/<file name>`) with the same validation as an
    /// index page.
    fn cached_files(&self, name: &str) -> Vec<IndexFile> {
        let mut out = self.cached_in(name, "wheels");
        out.extend(self.cached_in(name, "sdists"));
        out
    }

    /// [`Self::cached_files`] of one kind: `wheels` or `sdists` (helper sdists).
    fn cached_in(&self, name: &str, kind: &str) -> Vec<IndexFile> {
        let Some(project) = crate::dist_filename::project_name(name) else {
            return Vec::new();
        };
        let Ok(wheels) = self.cache().and_then(|c| {
            c.subdir(kind)
                .map_err(|e| Error::io(c.path().join(kind), e))
        }) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for digest in wheels.entries().unwrap_or_default() {
            let (Ok(sha256), Ok(dir)) = (Sha256Hex::parse(&digest), wheels.subdir(&digest)) else {
                continue;
            };
            for listed in dir.entries().unwrap_or_default() {
                let Ok(filename) = DistFilename::parse(&listed, &project) else {
                    continue;
                };
                if filename.is_wheel() == (kind == "wheels") && dir.is_file(&listed) {
                    out.push(IndexFile {
                        filename,
                        url: String::new(),
                        sha256: Some(sha256.clone()),
                        yanked: false,
                        requires_python: None,
                        core_metadata: None,
                        size: None,
                        upload_time: None,
                        yanked_reason: None,
                    });
                }
            }
        }
        out
    }

    /// Downloads (sha256-checked) and unpacks a wheel once; returns the unpacked dir,
    /// `build-deps/<sha256>`.
    fn unpacked(&self, file: &IndexFile, deadline: Option<Instant>) -> Result<PathBuf> {
        let sha = file.sha256.as_ref().ok_or_else(|| Error::Index {
            detail: format!(
                "{}: the index gives no sha256; refusing to use it",
                file.filename
            ),
        })?;
        let cache = self.cache()?;
        let io = |e| Error::io(cache.path(), e);
        let trees = cache.subdir("build-deps").map_err(io)?;
        if trees.is_dir(sha.as_str())
            && trees
                .subdir(sha.as_str())
                .is_ok_and(|t| t.is_file(".complete"))
        {
            return Ok(trees.path().join(sha.as_str()));
        }
        let wheel_dir = cache.subdirs(&["wheels", sha.as_str()]).map_err(io)?;
        let name = file.filename.as_str();
        if !wheel_dir.is_file(name) {
            let guard = self.client.lock().map_err(|_| Error::Index {
                detail: "client lock".into(),
            })?;
            let client = guard.as_ref().ok_or_else(|| Error::Index {
                detail: format!("{} is not cached and sdistill is offline", file.filename),
            })?;
            client.download(&file.url, sha, None, &wheel_dir, name, deadline)?;
        }
        let staging = trees.temp_tree("unpack").map_err(io)?;
        archive::unpack_to_dir(
            &wheel_dir.path().join(name),
            InputKind::Wheel,
            &Limits::default(),
            staging.path(),
        )?;
        std::fs::write(staging.path().join(".complete"), b"")
            .map_err(|e| Error::io(staging.path(), e))?;
        let staged = staging.keep();
        let staged_name = staged
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        // Another process may have finished first; then theirs is used.
        trees
            .rename_dir_unless_exists(&staged_name, sha.as_str())
            .map_err(io)?;
        Ok(trees.path().join(sha.as_str()))
    }

    /// An inert package named like the requirement, so `import X` succeeds and any
    /// attribute is a harmless callable.
    fn stand_in(&self, project: &str) -> Result<PathBuf> {
        let cache = self.cache()?;
        let io = |e| Error::io(cache.path(), e);
        let module = project.replace(['-', '.'], "_");
        let dir = cache
            .subdirs(&["stand-ins", &normalize_name(project)])
            .map_err(io)?;
        if dir.is_file(".complete") {
            return Ok(dir.path().to_path_buf());
        }
        dir.subdir(&module)
            .and_then(|pkg| pkg.write_atomic("__init__.py", STAND_IN_SOURCE.as_bytes()))
            .map_err(io)?;
        dir.subdir(&format!("{module}-0.dist-info"))
            .and_then(|info| {
                info.write_atomic(
                    "METADATA",
                    format!("Metadata-Version: 2.1\nName: {project}\nVersion: 0\nSummary: sdistill inert stand-in\n").as_bytes(),
                )
            })
            .map_err(io)?;
        dir.write_atomic(".complete", b"").map_err(io)?;
        Ok(dir.path().to_path_buf())
    }
}

/// Python source of a stand-in package: every attribute and submodule is inert.
const STAND_IN_SOURCE: &str = r#"# sdistill inert stand-in: this build requirement has no pure-Python wheel.
import sys, types
__version__ = "0"
__sdistill_stand_in__ = True

class _Inert:
    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k): return _Inert()
    def __getattr__(self, name):
        if name.startswith("__"): raise AttributeError(name)
        return _Inert()
    def __iter__(self): return iter(())
    def __bool__(self): return False
    def __str__(self): return ""
    __fspath__ = __str__

def __getattr__(name):
    if name.startswith("__"): raise AttributeError(name)
    return _Inert()

class _Finder:
    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(__name__ + "."):
            import importlib.util
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
    def create_module(self, spec):
        m = types.ModuleType(spec.name)
        m.__path__ = []
        m.__getattr__ = __getattr__
        return m
    def exec_module(self, module): pass

sys.meta_path.append(_Finder())
"#;

/// Reads the METADATA of an unpacked wheel.
pub(crate) fn read_dist_info(dir: &Path) -> Result<CoreMetadata> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".dist-info") {
            let path = e.path().join("METADATA");
            let text = std::fs::read_to_string(&path).map_err(|err| Error::io(&path, err))?;
            return CoreMetadata::parse(&text, "METADATA");
        }
    }
    Err(Error::NoMetadata {
        detail: format!("{} has no .dist-info", dir.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pep508_rs::PackageName;

    fn wheel(file: &str, project: &str) -> DistFilename {
        DistFilename::parse(file, &PackageName::from_str(project).unwrap()).unwrap()
    }

    #[test]
    fn wheel_names() {
        let w = wheel("setuptools_scm-8.1.0-py3-none-any.whl", "setuptools-scm");
        assert!(pure_for_guest(&w));
        assert_eq!(w.version(), &Version::from_str("8.1.0").unwrap());
        assert!(pure_for_guest(&wheel(
            "six-1.16.0-py2.py3-none-any.whl",
            "six"
        )));
        assert!(!pure_for_guest(&wheel(
            "numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.whl",
            "numpy"
        )));
        assert!(!pure_for_guest(&wheel("x-1.0-py2-none-any.whl", "x")));
        assert!(!pure_for_guest(&wheel("x-1.0.tar.gz", "x")));
    }
}
