//! The sandbox: an sdist's build code runs inside WASI CPython under wasmtime.
//!
//! | module | job |
//! |---|---|
//! | [`runtime`] | the pinned runtime: lock, install, sha256 verification |
//! | [`engine`] | the wasmtime engine, the verified compiled-module cache, the epoch ticker |
//! | [`snapshot`] | the pre-initialized interpreter every run resumes |
//! | [`wasi`] | the guest's world: preopens, environment, captured output, memory cap |
//! | [`guard`] | every WASI call, accounted: descriptors, bytes written, host failures |
//! | [`descriptors`] | the process's descriptors, shared out between concurrent guests |
//! | [`guest`] | the protocol with `python-wasm/driver.py` |
//! | `instance` | one guest run: a fresh instance, its deadline and budgets |
//! | [`build`] | one sdist: the runs it needs (retries included) and what they mean |
//! | `helpers` | build requirements published only as sdists, built into wheels here |
//! | `observed_build` | `--observe`: the build itself, run only to be observed |
//!
//! Every run gets a fresh instance, a fresh scratch directory and the private copy of its
//! own sdist, so nothing one sdist does can reach another or the host. Limits: one
//! wall-clock deadline per input (every run and retry of it together), enforced both by
//! epoch interruption (code running in the guest) and by an async timeout (the guest
//! blocked in a host call such as `sleep`); a memory cap on linear memory; an output cap;
//! a write budget and a descriptor cap counted call by call.

pub mod build;
pub mod descriptors;
pub mod engine;
pub mod guard;
pub mod guest;
mod helpers;
mod instance;
mod observed_build;
pub mod runtime;
pub mod snapshot;
pub mod wasi;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use wasmtime::{InstancePre, Module};
use wasmtime_wasi::FsPerms;

use crate::build_deps::BuildDeps;
use crate::dirs::CacheDir;
use crate::error::{Error, Result};
use crate::limits::Limits;
pub use crate::notify::Notify;
pub use build::SandboxOutput;
use engine::GuestEngine;
pub use guest::{Target, TargetMachine, TargetPlatform};
pub use instance::shutdown;
use instance::{Ending, Entry, Preopen};
use wasi::GuestState;

/// Where the runtime is and how it may be obtained.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// A pre-provisioned runtime directory (`--runtime` / `SDISTILL_RUNTIME`).
    pub runtime_dir: Option<PathBuf>,
    /// Cache root override (`--cache-dir` / `SDISTILL_CACHE_DIR`).
    pub cache_dir: Option<PathBuf>,
    /// Index to install the runtime from.
    pub index_url: String,
    /// Install the runtime on first use when it is missing.
    pub auto_install: bool,
    /// Where progress of an automatic install is reported (silent by default).
    pub notify: Notify,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            runtime_dir: None,
            cache_dir: None,
            index_url: runtime::DEFAULT_INDEX_URL.to_string(),
            auto_install: true,
            notify: Notify::default(),
        }
    }
}

/// The compiled interpreter and its linking, for runs that start it from scratch.
struct Base {
    module: Module,
    pre: InstancePre<GuestState>,
}

/// A verified runtime, compiled and linked, ready to run many sdists (shareable).
pub struct Sandbox {
    engine: GuestEngine,
    setuptools: Vec<String>,
    deps: BuildDeps,
    site: PathBuf,
    runtime_dir: PathBuf,
    wasm_sha256: String,
    modules: CacheDir,
    notify: Notify,
    /// The compiled (instrumented) interpreter, loaded on first need: most runs resume a
    /// snapshot and never need it.
    base: OnceLock<std::result::Result<Base, String>>,
    /// The pre-initialized interpreters, one per setuptools tree of the lock (index as in
    /// `setuptools`); each is loaded or built on first need. Empty: snapshots are off.
    snapshots: Vec<OnceLock<Option<snapshot::Snapshot>>>,
}

impl Sandbox {
    /// Locates the runtime and loads its compiled interpreter snapshot (verified against
    /// its recorded digest); installs the runtime first when it is missing and
    /// `auto_install` is set, telling `config.notify` (a silent multi-megabyte download
    /// would surprise a user; the CLI prints these lines on stderr).
    pub fn load(config: &SandboxConfig) -> Result<Self> {
        let dir = match runtime::locate(config) {
            Ok(dir) => dir,
            Err(e) if config.auto_install && config.runtime_dir.is_none() => {
                config
                    .notify
                    .say("runtime not installed; installing it now (sdistill runtime install)");
                runtime::install(config, &mut |m| config.notify.say(m))
                    .map_err(|install| Error::Runtime {
                        detail: format!("{e}; automatic install failed: {install}"),
                    })?
                    .dir
            }
            Err(e) => return Err(e),
        };
        let root = runtime::cache_root(config)?;
        let cache = CacheDir::open_root(&root).map_err(|e| Error::io(&root, e))?;
        let installed = runtime::InstalledRuntime::trusted(&dir, &cache)?;
        let sandbox = Self::new(config, installed.site_path(), &dir)?;
        sandbox.attach_snapshots(false);
        Ok(sandbox)
    }

    fn new(config: &SandboxConfig, site: PathBuf, runtime_dir: &Path) -> Result<Self> {
        let root = runtime::cache_root(config)?;
        let cache = CacheDir::open_root(&root).map_err(|e| Error::io(&root, e))?;
        let modules = cache.subdir("modules").map_err(|e| Error::io(&root, e))?;
        let lock = runtime::Lock::embedded()?;
        let wasm_sha256 = lock
            .interpreter()
            .map(|a| a.sha256.to_string())
            .unwrap_or_default();
        let snapshots = if std::env::var_os("SDISTILL_NO_SNAPSHOT")
            .is_some_and(|v| !v.is_empty() && v != "0")
        {
            Vec::new()
        } else {
            lock.setuptools_paths()
                .iter()
                .map(|_| OnceLock::new())
                .collect()
        };
        Ok(Self {
            engine: GuestEngine::new()?,
            setuptools: lock.setuptools_paths(),
            deps: BuildDeps::new(&root, &config.index_url, !config.auto_install),
            site,
            runtime_dir: runtime_dir.to_path_buf(),
            wasm_sha256,
            modules,
            notify: config.notify.clone(),
            base: OnceLock::new(),
            snapshots,
        })
    }

    /// The compiled interpreter: from the verified module cache, else compiled from the
    /// interpreter, whose sha256 is checked against the lock first.
    fn base(&self) -> Result<&Base> {
        self.base
            .get_or_init(|| {
                let module = match self
                    .engine
                    .load_module_cached(&self.wasm_sha256, &self.modules)
                {
                    Some(module) => module,
                    None => {
                        let (_, wasm) =
                            runtime::verify(&self.runtime_dir).map_err(|e| e.to_string())?;
                        self.engine
                            .load_module(&wasm, &self.wasm_sha256, &self.modules)
                            .map_err(|e| e.to_string())?
                    }
                };
                let pre = wasi::linker(&self.engine.engine)
                    .and_then(|linker| {
                        linker.instantiate_pre(&module).map_err(|e| Error::Sandbox {
                            detail: format!("cannot link the runtime: {e}"),
                        })
                    })
                    .map_err(|e| e.to_string())?;
                Ok(Base { module, pre })
            })
            .as_ref()
            .map_err(|detail| Error::Sandbox {
                detail: detail.clone(),
            })
    }

    /// Loads the cached snapshots and builds the first tree's now if it is missing (every
    /// run needs it); the others are built when first needed, or now with `eager` (at
    /// install). Without a snapshot a run starts the interpreter from scratch (slower,
    /// same answers); `SDISTILL_NO_SNAPSHOT=1` forces that.
    fn attach_snapshots(&self, eager: bool) {
        for i in 0..self.snapshots.len() {
            let key = self.snapshot_key(i);
            if let Some(found) = snapshot::load(&self.engine, &self.modules, &key) {
                let _ = self.snapshots[i].set(Some(found));
            } else if i == 0 || eager {
                let _ = self.snapshots[i].set(self.build_and_load(i, &key));
            }
        }
    }

    fn snapshot_key(&self, index: usize) -> String {
        let tree = self.setuptools.get(index).map(String::as_str).unwrap_or("");
        snapshot::key(&self.wasm_sha256, tree, &runtime::Lock::key(), &self.engine)
    }

    /// The snapshot for setuptools tree `index`, building it on first need.
    fn snapshot_for(&self, index: usize) -> Option<&snapshot::Snapshot> {
        let cell = self.snapshots.get(index)?;
        cell.get_or_init(|| self.build_and_load(index, &self.snapshot_key(index)))
            .as_ref()
    }

    fn build_and_load(&self, index: usize, key: &str) -> Option<snapshot::Snapshot> {
        let tree = self.setuptools.get(index)?;
        self.notify.say(&format!(
            "building the interpreter snapshot for {} (once per runtime)",
            tree.trim_start_matches("/site/")
        ));
        match self.build_snapshot(tree, key) {
            Ok(()) => snapshot::load(&self.engine, &self.modules, key),
            Err(e) => {
                self.notify.say(&format!(
                    "no interpreter snapshot ({e}); starting the interpreter per run"
                ));
                None
            }
        }
    }

    /// Runs the driver in snapshot mode (no sdist, an empty `/sdist`, the layout every run
    /// has) and freezes it. Its temporary dirs live in the private module cache.
    fn build_snapshot(&self, tree: &str, key: &str) -> Result<()> {
        let base = self.base()?;
        let (_, wasm) = runtime::verify(&self.runtime_dir)?;
        let tmp = |prefix: &str| {
            self.modules
                .temp_tree(prefix)
                .map_err(|e| Error::io(self.modules.path(), e))
        };
        let out = tmp("snapshot-out")?;
        let run = |pre: &InstancePre<GuestState>, out_dir: &Path| -> Result<i32> {
            let sdist = tmp("snapshot-sdist")?;
            let scratch = tmp("snapshot-scratch")?;
            let empty = tmp("snapshot-empty")?;
            instance::make_scratch(scratch.path())?;
            let request = guest::GuestRequest {
                setuptools_path: tree.to_string(),
                snapshot: true,
                ..guest::GuestRequest::default()
            };
            let slots: Vec<PathBuf> = vec![empty.path().to_path_buf(); snapshot::DEP_SLOTS];
            let preopens = self.preopens(sdist.path(), scratch.path(), out_dir, &slots);
            let limits = Limits {
                timeout: std::time::Duration::from_secs(300),
                ..Limits::default()
            };
            let deadline = std::time::Instant::now() + limits.timeout;
            let outcome = self.run_guest(
                pre,
                Entry::Start,
                &preopens,
                &guest::argv(&request),
                &limits,
                deadline,
            )?;
            match outcome.ending {
                Ending::Exited(code) => Ok(code),
                Ending::TimedOut => Err(Error::Sandbox {
                    detail: "snapshot run timed out".into(),
                }),
                Ending::Trapped(t) => Err(Error::Sandbox {
                    detail: format!(
                        "snapshot run trapped: {t}{}",
                        instance::tail_note(&outcome.stderr.snapshot().0)
                    ),
                }),
            }
        };
        snapshot::build(
            &self.engine,
            &base.module,
            &wasm,
            &self.modules,
            key,
            out.path(),
            &run,
        )
    }

    /// The guest's filesystem: the sdist copy, the site, scratch, the result dir, then the
    /// build-requirement directories.
    fn preopens<'a>(
        &'a self,
        sdist: &'a Path,
        scratch: &'a Path,
        out: &'a Path,
        deps: &'a [PathBuf],
    ) -> Vec<Preopen<'a>> {
        let mut preopens = vec![
            Preopen {
                host: sdist,
                guest: "/sdist".into(),
                perms: FsPerms::ReadWrite,
            },
            Preopen {
                host: &self.site,
                guest: "/site".into(),
                perms: FsPerms::ReadOnly,
            },
            Preopen {
                host: scratch,
                guest: "/scratch".into(),
                perms: FsPerms::ReadWrite,
            },
            Preopen {
                host: out,
                guest: "/out".into(),
                perms: FsPerms::ReadWrite,
            },
        ];
        for (i, dir) in deps.iter().enumerate() {
            preopens.push(Preopen {
                host: dir,
                guest: format!("/deps/{i}"),
                perms: FsPerms::ReadOnly,
            });
        }
        preopens
    }
}

/// Backends that are native programs and can never run in a WASI interpreter.
fn native_backend(backend: &str) -> Option<&'static str> {
    let module = backend.split(':').next().unwrap_or(backend).trim();
    match module.split('.').next().unwrap_or(module) {
        "maturin" => Some("maturin builds Rust extensions with a native toolchain; it cannot run inside the WASI sandbox"),
        "mesonpy" => Some("meson-python runs the native meson build system; it cannot run inside the WASI sandbox"),
        "scikit_build_core" => Some("scikit-build-core runs CMake; it cannot run inside the WASI sandbox"),
        _ => None,
    }
}

/// Precompiles the bytecode of the guest site directory, inside the guest (the host never
/// compiles or runs guest Python), once at install time; then compiles the interpreter
/// and builds every snapshot, so the first real run pays for none of it.
pub fn precompile_site(config: &SandboxConfig, runtime_dir: &Path, site: &Path) -> Result<()> {
    let sandbox = Sandbox::new(config, site.to_path_buf(), runtime_dir)?;
    let limits = Limits {
        timeout: std::time::Duration::from_secs(600),
        max_scratch: 1024 * crate::limits::MIB,
        ..Limits::default()
    };
    let outcome = sandbox.compile_bytecode(&[(site, "/site".to_string())], &limits)?;
    match outcome.ending {
        Ending::Exited(0) => {
            sandbox.attach_snapshots(true);
            Ok(())
        }
        Ending::Exited(code) => Err(Error::Runtime {
            detail: format!(
                "bytecode precompilation exited with status {code}{}",
                instance::tail_note(&outcome.stderr.snapshot().0)
            ),
        }),
        Ending::TimedOut => Err(Error::Runtime {
            detail: "bytecode precompilation timed out".into(),
        }),
        Ending::Trapped(t) => Err(Error::Runtime {
            detail: format!("bytecode precompilation trapped: {t}"),
        }),
    }
}
