//! The sandbox: an sdist's build code runs inside WASI CPython under wasmtime.
//!
//! - [`runtime`]: the pinned runtime (lock, install, sha256 verification);
//! - [`engine`]: the wasmtime engine, compiled-module cache, epoch ticker;
//! - [`wasi`]: the guest's world (preopens, environment, output capture, write budget);
//! - [`guest`]: the protocol with `python-wasm/driver.py`.
//!
//! Every run gets a fresh instance, a fresh scratch directory and the private copy of its
//! own sdist, so nothing one sdist does can reach another or the host. Limits: a wall-clock
//! deadline enforced both by epoch interruption (code running in the guest) and by an
//! async timeout (the guest blocked in a host call such as `sleep`); a memory cap on linear
//! memory; an output cap; a write budget.

pub mod engine;
pub mod guest;
pub mod runtime;
pub mod snapshot;
pub mod wasi;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use wasmtime::{InstancePre, Module, Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use crate::build_deps::{BuildDeps, BuildEnv};
use crate::error::{Error, Result};
use crate::limits::{LimitKind, Limits};
use crate::metadata::CoreMetadata;
use crate::static_meta::{Method, StaticFindings};
use engine::GuestEngine;
use guest::{GuestRequest, GuestResult};
pub use guest::{Target, TargetMachine, TargetPlatform};
use wasi::{CapturedOutput, GuestState, WriteMonitor};

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

/// A sink for progress lines from the library, which never prints by itself.
#[derive(Clone, Default)]
pub struct Notify(Option<NotifyFn>);

/// The callback behind a [`Notify`].
type NotifyFn = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

impl Notify {
    /// Reports lines to `f`.
    pub fn to(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Some(std::sync::Arc::new(f)))
    }

    /// Reports one line (no-op when silent).
    pub fn say(&self, line: &str) {
        if let Some(f) = &self.0 {
            f(line);
        }
    }
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Notify(..)"
        } else {
            "Notify(silent)"
        })
    }
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

/// A verified runtime, compiled and linked, ready to run many sdists (shareable).
pub struct Sandbox {
    engine: GuestEngine,
    setuptools: Vec<String>,
    deps: BuildDeps,
    pre: InstancePre<GuestState>,
    site: PathBuf,
    /// The compiled (instrumented) interpreter.
    module: Module,
    /// The pre-initialized interpreters, one per setuptools tree of the lock (index as in
    /// `setuptools`); each is loaded or built on first need.
    snapshots: Vec<OnceLock<Option<snapshot::Snapshot>>>,
    /// Where a missing snapshot is built from (absent: snapshots are off).
    snapshot_source: Option<SnapshotSource>,
}

/// What building a snapshot later needs.
struct SnapshotSource {
    runtime_dir: PathBuf,
    sha256: String,
    cache: PathBuf,
    notify: Notify,
}

/// How a guest run is entered.
#[derive(Clone, Copy)]
enum Entry {
    /// `_start`: interpreter start-up, then the driver.
    Start,
    /// A snapshot's resume point.
    Resume(snapshot::ResumePoint),
}

/// What a sandbox run produced.
#[derive(Debug)]
pub struct SandboxOutput {
    /// The metadata the build code produced.
    pub metadata: CoreMetadata,
    /// Which path produced it.
    pub method: Method,
    /// Observations (output truncated, suspicious version, ...).
    pub warnings: Vec<String>,
}

/// What one guest run gets: build requirements, whether it may ask for more, and which
/// setuptools tree (index into the lock's setuptools list).
struct Attempt<'a> {
    env: &'a BuildEnv,
    allow_build_retry: bool,
    setuptools: usize,
    target: Target,
}

/// One directory the guest sees.
#[derive(Debug)]
struct Preopen<'a> {
    host: &'a Path,
    guest: String,
    perms: FsPerms,
}

/// How a guest run ended.
enum Ending {
    Exited(i32),
    TimedOut,
    Trapped(String),
}

struct RunOutcome {
    ending: Ending,
    stderr: CapturedOutput,
    stdout: CapturedOutput,
    memory_denied: bool,
    budget_exceeded: bool,
}

impl Sandbox {
    /// Locates, verifies (sha256) and compiles the runtime; installs it first when missing
    /// and `auto_install` is set, telling `config.notify` (a silent multi-megabyte download
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
        let (installed, wasm) = runtime::verify(&dir)?;
        let mut sandbox =
            Self::from_verified(config, &wasm, &installed.wasm_sha256, installed.site_path())?;
        sandbox.attach_snapshot(config, &dir, &wasm, &installed.wasm_sha256, false);
        Ok(sandbox)
    }

    /// Prepares the interpreter snapshots (one per setuptools tree): loads the cached ones
    /// and builds the first tree's now if it is missing (every run needs it); the others
    /// are built when first needed, or now with `eager` (at install). Without a snapshot a
    /// run starts the interpreter from scratch (slower, same answers);
    /// `SDISTILL_NO_SNAPSHOT=1` forces that.
    fn attach_snapshot(
        &mut self,
        config: &SandboxConfig,
        runtime_dir: &Path,
        wasm: &[u8],
        sha256: &str,
        eager: bool,
    ) {
        if std::env::var_os("SDISTILL_NO_SNAPSHOT").is_some_and(|v| !v.is_empty() && v != "0") {
            return;
        }
        let source = SnapshotSource {
            runtime_dir: runtime_dir.to_path_buf(),
            sha256: sha256.to_string(),
            cache: runtime::cache_root(config).join("modules"),
            notify: config.notify.clone(),
        };
        self.snapshots = self.setuptools.iter().map(|_| OnceLock::new()).collect();
        for (i, tree) in self.setuptools.iter().enumerate() {
            let key = snapshot::key(sha256, tree, &self.engine);
            if let Some(found) = snapshot::load(&self.engine, &source.cache, &key) {
                let _ = self.snapshots[i].set(Some(found));
            } else if i == 0 || eager {
                let built = self.build_and_load(&source, wasm, tree, &key);
                let _ = self.snapshots[i].set(built);
            }
        }
        self.snapshot_source = Some(source);
    }

    /// The snapshot for setuptools tree `index`, building it on first need.
    fn snapshot_for(&self, index: usize) -> Option<&snapshot::Snapshot> {
        let cell = self.snapshots.get(index)?;
        cell.get_or_init(|| {
            let source = self.snapshot_source.as_ref()?;
            let tree = self.setuptools.get(index)?;
            let (_, wasm) = runtime::verify(&source.runtime_dir).ok()?;
            let key = snapshot::key(&source.sha256, tree, &self.engine);
            self.build_and_load(source, &wasm, tree, &key)
        })
        .as_ref()
    }

    fn build_and_load(
        &self,
        source: &SnapshotSource,
        wasm: &[u8],
        tree: &str,
        key: &str,
    ) -> Option<snapshot::Snapshot> {
        source.notify.say(&format!(
            "building the interpreter snapshot for {} (once per runtime)",
            tree.trim_start_matches("/site/")
        ));
        match self.build_snapshot(wasm, tree, &source.cache, key) {
            Ok(()) => snapshot::load(&self.engine, &source.cache, key),
            Err(e) => {
                source.notify.say(&format!(
                    "no interpreter snapshot ({e}); starting the interpreter per run"
                ));
                None
            }
        }
    }

    fn build_snapshot(&self, wasm: &[u8], tree: &str, cache: &Path, key: &str) -> Result<()> {
        let work = crate::inspect::default_work_dir();
        let tmp = |prefix: &str| {
            tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in(work)
                .map_err(|e| Error::io(work, e))
        };
        let out = tmp("sdistill-snapshot-out-")?;
        let run = |pre: &InstancePre<GuestState>, out_dir: &Path| -> Result<i32> {
            let sdist = tmp("sdistill-snapshot-sdist-")?;
            let scratch = tmp("sdistill-snapshot-scratch-")?;
            let empty = tmp("sdistill-snapshot-empty-")?;
            for sub in ["home", "tmp"] {
                std::fs::create_dir(scratch.path().join(sub))
                    .map_err(|e| Error::io(scratch.path().join(sub), e))?;
            }
            let request = GuestRequest {
                setuptools_path: tree.to_string(),
                snapshot: true,
                ..GuestRequest::default()
            };
            let slots: Vec<PathBuf> = vec![empty.path().to_path_buf(); snapshot::DEP_SLOTS];
            let preopens = self.preopens(sdist.path(), scratch.path(), out_dir, &slots);
            let limits = Limits {
                timeout: std::time::Duration::from_secs(300),
                ..Limits::default()
            };
            let outcome = self.run_guest(
                pre,
                Entry::Start,
                &preopens,
                &guest::argv(&request),
                &limits,
            )?;
            match outcome.ending {
                Ending::Exited(code) => Ok(code),
                Ending::TimedOut => Err(Error::Sandbox {
                    detail: "snapshot run timed out".into(),
                }),
                Ending::Trapped(t) => Err(Error::Sandbox {
                    detail: format!(
                        "snapshot run trapped: {t}{}",
                        tail_note(&outcome.stderr.snapshot().0)
                    ),
                }),
            }
        };
        snapshot::build(
            &self.engine,
            &self.module,
            wasm,
            cache,
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

    fn from_verified(
        config: &SandboxConfig,
        wasm: &[u8],
        sha256: &str,
        site: PathBuf,
    ) -> Result<Self> {
        let engine = GuestEngine::new()?;
        let module: Module =
            engine.load_module(wasm, sha256, &runtime::cache_root(config).join("modules"))?;
        let linker = wasi::linker(&engine.engine)?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| Error::Sandbox {
                detail: format!("cannot link the runtime: {e}"),
            })?;
        let deps = BuildDeps::new(
            &runtime::cache_root(config),
            &config.index_url,
            !config.auto_install,
        );
        let setuptools = runtime::Lock::embedded()?.setuptools_paths();
        Ok(Self {
            engine,
            setuptools,
            deps,
            pre,
            site,
            module,
            snapshots: Vec::new(),
            snapshot_source: None,
        })
    }

    /// Runs the build code of one unpacked sdist (`root` is its private copy) and returns
    /// the metadata it produces.
    pub fn run(
        &self,
        root: &Path,
        findings: &StaticFindings,
        limits: &Limits,
        work_dir: &Path,
        target: Target,
    ) -> Result<SandboxOutput> {
        if let Some(backend) = findings.build.backend.as_deref() {
            if let Some(why) = native_backend(backend) {
                return Err(Error::UnsupportedBackend {
                    backend: backend.to_string(),
                    detail: why.to_string(),
                });
            }
        }
        let mut requirements: Vec<String> = if findings.build.source == "pyproject" {
            findings.build.requires.clone()
        } else {
            Vec::new()
        };
        // At most three runs: setup_requires are only known once setup() runs (provide
        // them, run again); setuptools no longer ships pkg_resources, which old setup.py
        // files import (run again on the setuptools that does).
        let mut env = self.provide(&requirements);
        let mut setuptools = 0;
        let mut build_retry_left = true;
        let mut notes = Vec::new();
        let (mut result, mut outcome);
        loop {
            let plan = Attempt {
                env: &env,
                allow_build_retry: build_retry_left,
                setuptools,
                target,
            };
            (result, outcome) = self.attempt(root, findings, limits, work_dir, plan)?;
            match &result {
                Some(GuestResult::NeedsBuildRequires(more)) if build_retry_left => {
                    build_retry_left = false;
                    requirements.extend(more.iter().cloned());
                    env = self.provide(&requirements);
                }
                _ if needs_pkg_resources(&result) && setuptools + 1 < self.setuptools.len() => {
                    setuptools += 1;
                    notes.push(format!(
                        "compatibility: retried with {} because the build imports pkg_resources",
                        self.setuptools[setuptools].trim_start_matches("/site/")
                    ));
                }
                _ => break,
            }
        }
        env.warnings.extend(notes);
        let mut warnings = env.warnings.clone();
        let (_, stdout_total) = outcome.stdout.snapshot();
        let (stderr_tail, stderr_total) = outcome.stderr.snapshot();
        for (what, total) in [("stdout", stdout_total), ("stderr", stderr_total)] {
            if total > limits.max_output {
                warnings.push(format!(
                    "the build wrote {total} bytes to {what}; only the last {} were kept ({} limit)",
                    limits.max_output,
                    LimitKind::Output.flag()
                ));
            }
        }
        match (result, outcome.ending) {
            (_, Ending::TimedOut) => Err(Error::limit_exceeded(
                LimitKind::Timeout,
                format!("the build ran longer than {:?}", limits.timeout),
            )),
            (
                Some(GuestResult::Metadata {
                    metadata,
                    method,
                    warnings: w,
                }),
                _,
            ) => {
                warnings.extend(w);
                if outcome.budget_exceeded {
                    warnings.push(format!(
                        "the build tried to write more than {} bytes; writes past the budget were refused",
                        limits.max_scratch
                    ));
                }
                if metadata.version == "0.0.0" {
                    warnings.push("version 0.0.0 usually means a setup-time helper (setuptools_scm, pbr, versioneer) was unavailable; dependencies may be missing".to_string());
                }
                Ok(SandboxOutput {
                    metadata,
                    method,
                    warnings,
                })
            }
            _ if outcome.memory_denied => Err(Error::limit_exceeded(
                LimitKind::Memory,
                format!(
                    "the guest needed more than {} bytes of memory",
                    limits.memory_limit
                ),
            )),
            _ if outcome.budget_exceeded => Err(Error::limit_exceeded(
                LimitKind::Scratch,
                format!("the build wrote more than {} bytes", limits.max_scratch),
            )),
            (Some(GuestResult::Failure(Error::UnsupportedBackend { detail, .. })), _) => {
                Err(Error::UnsupportedBackend {
                    backend: findings.build.backend.clone().unwrap_or_default(),
                    detail,
                })
            }
            (Some(GuestResult::Failure(e)), _) => Err(e),
            (Some(GuestResult::NeedsBuildRequires(reqs)), _) => Err(Error::SetupFailed {
                message: format!("setup_requires could not be provided: {}", reqs.join(", ")),
                traceback: env.warnings.join("\n"),
            }),
            (None, Ending::Exited(code)) => Err(Error::NoMetadata {
                detail: format!(
                    "the build exited with status {code} before producing metadata{}",
                    tail_note(&stderr_tail)
                ),
            }),
            (None, Ending::Trapped(trap)) => Err(Error::Sandbox {
                detail: format!("the guest trapped: {trap}{}", tail_note(&stderr_tail)),
            }),
        }
    }

    /// The build requirements as directories for the guest, with their bytecode compiled.
    fn provide(&self, requirements: &[String]) -> BuildEnv {
        let env = self.deps.resolve(requirements);
        self.precompile_deps(&env);
        env
    }

    /// Compiles the bytecode of build-requirement trees that have none yet, inside the
    /// guest (the host never compiles guest Python), once per tree: a build requirement
    /// such as setuptools_scm imports ~70 modules, and compiling them from source on
    /// every run costs more than the rest of the run. Only those trees are preopened (no
    /// sdist); a failure just leaves the tree as it was.
    fn precompile_deps(&self, env: &BuildEnv) {
        const MARK: &str = ".sdistill-bytecode";
        let todo: Vec<PathBuf> = env
            .dirs
            .iter()
            .filter(|d| !d.join(MARK).exists())
            .cloned()
            .collect();
        if todo.is_empty() {
            return;
        }
        let dirs: Vec<(&Path, String)> = todo
            .iter()
            .enumerate()
            .map(|(i, dir)| (dir.as_path(), format!("/deps/{i}")))
            .collect();
        let limits = Limits {
            timeout: std::time::Duration::from_secs(120),
            ..Limits::default()
        };
        if let Ok(RunOutcome {
            ending: Ending::Exited(0),
            ..
        }) = self.compile_bytecode(&dirs, &limits)
        {
            for dir in &todo {
                let _ = std::fs::write(dir.join(MARK), b"");
            }
        }
    }

    /// Compiles the bytecode of every `.py` under the given directories, each mounted
    /// writable at its guest path, inside the guest (compileall only parses; it runs none
    /// of the code it compiles).
    fn compile_bytecode(&self, dirs: &[(&Path, String)], limits: &Limits) -> Result<RunOutcome> {
        let mut argv: Vec<String> = [
            "python",
            "-S",
            "-c",
            "import compileall, sys\nfor p in sys.argv[1:]: compileall.compile_dir(p, quiet=2, workers=1)\nsys.exit(0)",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let preopens: Vec<Preopen<'_>> = dirs
            .iter()
            .map(|(host, guest)| Preopen {
                host,
                guest: guest.clone(),
                perms: FsPerms::ReadWrite,
            })
            .collect();
        argv.extend(dirs.iter().map(|(_, guest)| guest.clone()));
        self.run_guest(&self.pre, Entry::Start, &preopens, &argv, limits)
    }

    /// One guest run with `env`'s build requirements preopened read-only.
    fn attempt(
        &self,
        root: &Path,
        findings: &StaticFindings,
        limits: &Limits,
        work_dir: &Path,
        plan: Attempt<'_>,
    ) -> Result<(Option<GuestResult>, RunOutcome)> {
        let Attempt {
            env,
            allow_build_retry,
            setuptools,
            ..
        } = plan;
        let scratch = tempfile::Builder::new()
            .prefix("sdistill-scratch-")
            .tempdir_in(work_dir)
            .map_err(|e| Error::io(work_dir, e))?;
        let out = tempfile::Builder::new()
            .prefix("sdistill-out-")
            .tempdir_in(work_dir)
            .map_err(|e| Error::io(work_dir, e))?;
        for sub in ["home", "tmp"] {
            std::fs::create_dir(scratch.path().join(sub))
                .map_err(|e| Error::io(scratch.path().join(sub), e))?;
        }
        // A snapshot serves its setuptools tree and up to DEP_SLOTS build requirements;
        // its WASI layout always has every slot (unused ones are an empty directory).
        let snapshot = if env.dirs.len() <= snapshot::DEP_SLOTS {
            self.snapshot_for(setuptools)
        } else {
            None
        };
        let empty;
        let mut dirs = env.dirs.clone();
        if snapshot.is_some() {
            empty = tempfile::Builder::new()
                .prefix("sdistill-empty-")
                .tempdir_in(work_dir)
                .map_err(|e| Error::io(work_dir, e))?;
            dirs.resize(snapshot::DEP_SLOTS, empty.path().to_path_buf());
        }
        let dep_paths: Vec<String> = (0..env.dirs.len()).map(|i| format!("/deps/{i}")).collect();
        let request = GuestRequest {
            backend: findings.build.backend.clone(),
            backend_path: findings.build.backend_path.clone(),
            paths: dep_paths,
            allow_build_retry,
            setuptools_path: self
                .setuptools
                .get(setuptools)
                .cloned()
                .unwrap_or_else(|| "/site".to_string()),
            target: plan.target,
            snapshot: false,
        };
        let preopens = self.preopens(root, scratch.path(), out.path(), &dirs);
        let outcome = match snapshot {
            Some(snap) => {
                let request_path = out.path().join("request.json");
                std::fs::write(&request_path, guest::config_json(&request))
                    .map_err(|e| Error::io(&request_path, e))?;
                let argv = vec!["python".to_string()];
                self.run_guest(
                    &snap.pre,
                    Entry::Resume(snap.point),
                    &preopens,
                    &argv,
                    limits,
                )?
            }
            None => self.run_guest(
                &self.pre,
                Entry::Start,
                &preopens,
                &guest::argv(&request),
                limits,
            )?,
        };
        let out_dir = Dir::open_ambient_dir(out.path(), ambient_authority())
            .map_err(|e| Error::io(out.path(), e))?;
        let result = guest::read_result(&out_dir, limits.max_metadata_size)?;
        Ok((result, outcome))
    }

    fn run_guest(
        &self,
        pre: &InstancePre<GuestState>,
        entry: Entry,
        preopens: &[Preopen<'_>],
        argv: &[String],
        limits: &Limits,
    ) -> Result<RunOutcome> {
        let stdout = CapturedOutput::new(limits.max_output);
        let stderr = CapturedOutput::new(limits.max_output);
        let mut builder = WasiCtxBuilder::new();
        builder
            .args(argv)
            .envs(&guest::env())
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_blocking_current_thread(true);
        for p in preopens {
            builder
                .preopened_dir(p.host, &p.guest, p.perms)
                .map_err(|e| Error::Sandbox {
                    detail: format!("cannot preopen {}: {e}", p.host.display()),
                })?;
        }
        let state = GuestState::new(builder.build_p1(), limits.memory_limit);
        let writable = preopens
            .iter()
            .filter(|p| matches!(p.perms, FsPerms::ReadWrite))
            .map(|p| p.host.to_path_buf())
            .collect();
        let monitor = WriteMonitor::start(writable, limits.max_scratch);
        let over_budget = monitor.flag();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| Error::Sandbox {
                detail: format!("cannot start the async runtime: {e}"),
            })?;
        let deadline = Instant::now() + limits.timeout;
        rt.block_on(async {
            let mut store = Store::new(&self.engine.engine, state);
            store.limiter(|s| &mut s.memory);
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(move |_| {
                if Instant::now() >= deadline
                    || over_budget.load(std::sync::atomic::Ordering::Relaxed)
                {
                    Ok(UpdateDeadline::Interrupt)
                } else {
                    Ok(UpdateDeadline::Yield(1))
                }
            });
            let run = async {
                let instance = pre.instantiate_async(&mut store).await?;
                match entry {
                    Entry::Start => {
                        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                        start.call_async(&mut store, ()).await
                    }
                    Entry::Resume(point) => {
                        let table = instance
                            .get_table(&mut store, snapshot::TABLE_EXPORT)
                            .ok_or_else(|| wasmtime::Error::msg("snapshot has no table export"))?;
                        let func = table
                            .get(&mut store, u64::from(point.entry))
                            .and_then(|r| r.as_func().flatten().copied())
                            .ok_or_else(|| {
                                wasmtime::Error::msg("snapshot entry is not a function")
                            })?;
                        let repr = func.typed::<(i32, i32), i32>(&store)?;
                        // builtin_repr(NULL, resume_obj): the driver exits from inside.
                        repr.call_async(&mut store, (0, point.resume_obj as i32))
                            .await
                            .map(|_| ())
                    }
                }
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let ending = match tokio::time::timeout(remaining, run).await {
                Err(_) => Ending::TimedOut,
                Ok(Ok(())) => Ending::Exited(0),
                Ok(Err(e)) => {
                    if let Some(exit) = e.downcast_ref::<I32Exit>() {
                        Ending::Exited(exit.0)
                    } else if Instant::now() >= deadline {
                        Ending::TimedOut
                    } else {
                        Ending::Trapped(trap_message(&e))
                    }
                }
            };
            let memory_denied = store.data().memory.denied;
            drop(store);
            let (budget_exceeded, _) = monitor.finish();
            let ending = match ending {
                Ending::TimedOut | Ending::Trapped(_) if budget_exceeded => {
                    Ending::Trapped("write budget exceeded".into())
                }
                other => other,
            };
            Ok(RunOutcome {
                ending,
                stderr,
                stdout,
                memory_denied,
                budget_exceeded,
            })
        })
    }
}

/// Whether a run failed only because `pkg_resources` is missing.
fn needs_pkg_resources(result: &Option<GuestResult>) -> bool {
    matches!(result, Some(GuestResult::Failure(Error::SetupFailed { traceback, .. }))
        if traceback.contains("No module named 'pkg_resources'"))
}

/// The root cause of a trap, without the wasm backtrace.
fn trap_message(e: &wasmtime::Error) -> String {
    let root = e.root_cause().to_string();
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("{trap}"),
        None => root,
    }
}

fn tail_note(stderr: &str) -> String {
    let tail: String = stderr
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
    if tail.is_empty() {
        String::new()
    } else {
        format!(" (stderr: {})", tail.chars().take(2000).collect::<String>())
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

/// Precompiles the bytecode of the guest site directory, inside the guest, once at
/// install time (the host never compiles or runs guest Python). Also warms the
/// compiled-module cache.
pub fn precompile_site(
    config: &SandboxConfig,
    wasm: &[u8],
    sha256: &str,
    site: &Path,
) -> Result<()> {
    let mut sandbox = Sandbox::from_verified(config, wasm, sha256, site.to_path_buf())?;
    let limits = Limits {
        timeout: std::time::Duration::from_secs(600),
        max_scratch: 1024 * crate::limits::MIB,
        ..Limits::default()
    };
    let outcome = sandbox.compile_bytecode(&[(site, "/site".to_string())], &limits)?;
    if let Ending::Exited(0) = outcome.ending {
        let runtime_dir = site.parent().unwrap_or(site).to_path_buf();
        sandbox.attach_snapshot(config, &runtime_dir, wasm, sha256, true);
    }
    match outcome.ending {
        Ending::Exited(0) => Ok(()),
        Ending::Exited(code) => Err(Error::Runtime {
            detail: format!(
                "bytecode precompilation exited with status {code}{}",
                tail_note(&outcome.stderr.snapshot().0)
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
