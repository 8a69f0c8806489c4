//! One input in, one [`Report`] out: the pipeline unpack → static metadata → sandbox.
//!
//! [`Inspector`] is what another resolver embeds: build it once with [`Options`], then call
//! [`Inspector::inspect`] for each file (it is `Sync`; the compiled sandbox is shared), or
//! [`Inspector::inspect_batch`] to run many inputs on worker threads. A failure on one
//! input is a value in its own report and never disturbs the others.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub use crate::answer::{Metadata, Report, Source};
use crate::archive::{self, InputKind};
use crate::cache::{CacheKey, MetadataCache};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::metadata::CoreMetadata;
use crate::observe::{Behaviour, Observation, Scope};
use crate::sandbox::{guest, runtime, Sandbox, SandboxConfig, Target};
use crate::static_meta::{self, BuildSystem, Method};

/// Whether the sandbox may be used when static metadata is not enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// Use it when needed (the default).
    Auto,
    /// Never run build code; dynamic sdists fail with `needs-sandbox`.
    Off,
}

/// Everything that shapes an inspection. `Default` is safe for untrusted input.
#[derive(Debug, Clone)]
pub struct Options {
    /// Resource limits.
    pub limits: Limits,
    /// Whether the sandbox may run.
    pub sandbox: SandboxMode,
    /// Where the guest runtime lives and how it may be obtained.
    pub sandbox_config: SandboxConfig,
    /// The machine the answer is for: the sandbox imitates it (`--target-platform`).
    pub target: Target,
    /// Base directory for unpacked trees and sandbox scratch dirs; they go in a private
    /// per-user, per-process directory inside it ([`crate::dirs::work`]). `None` picks
    /// `SDISTILL_WORK_DIR`, else a RAM-backed tmpfs when there is one (unpacking thousands
    /// of small files is many times faster there than on a disk), else the temp dir.
    pub work_dir: Option<PathBuf>,
    /// Reuse and store answers in the metadata cache ([`MetadataCache`]) under the cache
    /// root. On by default; `--no-cache` turns it off.
    pub cache: bool,
    /// `--observe`: run the build code in the sandbox even when the metadata is static,
    /// and run the build itself after the metadata step, to report everything it tries
    /// (the answer still comes from the static metadata when there is one).
    pub observe: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            sandbox: SandboxMode::Auto,
            sandbox_config: SandboxConfig::default(),
            target: Target::default(),
            work_dir: None,
            cache: true,
            observe: false,
        }
    }
}

/// Inspects Python distributions. Build once, reuse for many inputs, share across threads.
pub struct Inspector {
    options: Options,
    sandbox: OnceLock<std::result::Result<Arc<Sandbox>, String>>,
}

impl Inspector {
    /// Creates an inspector. Cheap: the sandbox is loaded on first need.
    pub fn new(options: Options) -> Self {
        Self {
            options,
            sandbox: OnceLock::new(),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Inspects one input and returns its metadata, discarding warnings.
    pub fn inspect(&self, path: &Path) -> Result<Metadata> {
        self.inspect_report(path).outcome
    }

    /// Inspects one input and returns the full report.
    pub fn inspect_report(&self, path: &Path) -> Report {
        self.report(path, self.options.target, false)
    }

    /// [`Inspector::inspect_report`] for another target than the options' one: what the
    /// sandbox imitates, and part of the cache key (a universal lock asks one inspector
    /// about several targets).
    pub fn inspect_report_for(&self, path: &Path, target: Target) -> Report {
        self.report(path, target, false)
    }

    /// [`Self::inspect_report`] for an input that must be an archive file: a directory (or
    /// a path that turns into one while it is read) is refused, never copied and built —
    /// for inputs named by someone else, such as a manifest's entries.
    pub fn inspect_file_report(&self, path: &Path) -> Report {
        self.report(path, self.options.target, true)
    }

    fn report(&self, path: &Path, target: Target, files_only: bool) -> Report {
        let started = Instant::now();
        let mut warnings = Vec::new();
        let mut source = None;
        let mut cached = false;
        let mut reusable = false;
        let mut behaviour = None;
        // A panic is a bug, but it must cost only this input, never the batch.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run(
                path,
                target,
                files_only,
                &mut source,
                &mut warnings,
                &mut cached,
                &mut reusable,
                &mut behaviour,
            )
        }))
        .unwrap_or_else(|panic| {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            Err(Error::Internal { detail })
        });
        let reusable = reusable && outcome.is_ok();
        Report {
            input: path.to_path_buf(),
            source,
            outcome,
            warnings,
            elapsed: started.elapsed(),
            cached,
            reusable,
            behaviour,
        }
    }

    /// Makes sure the sandbox can run (installing the runtime when missing, unless the
    /// options forbid it) before the first input needs it: a server checks this at start
    /// instead of failing its first request.
    pub fn warm_up(&self) -> Result<()> {
        if self.options.sandbox == SandboxMode::Off {
            return Ok(());
        }
        self.sandbox().map(|_| ())
    }

    /// Inspects many inputs on `jobs` worker threads. `on_done` is called as each input
    /// finishes (in completion order, from the calling thread); the returned reports are in
    /// input order.
    pub fn inspect_batch(
        &self,
        inputs: &[PathBuf],
        jobs: usize,
        on_done: impl FnMut(usize, &Report),
    ) -> Vec<Report> {
        run_batch(inputs, jobs, |path| self.inspect_report(path), on_done)
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        path: &Path,
        target: Target,
        files_only: bool,
        source_out: &mut Option<Source>,
        warnings: &mut Vec<String>,
        cached: &mut bool,
        reusable: &mut bool,
        behaviour: &mut Option<Behaviour>,
    ) -> Result<Metadata> {
        // One deadline for the whole input: every sandbox run and retry of it together.
        let deadline = Instant::now() + self.options.limits.timeout;
        std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let kind = if files_only {
            path.file_name()
                .and_then(|n| InputKind::from_file_name(&n.to_string_lossy()))
        } else {
            InputKind::detect(path)
        }
        .ok_or_else(|| Error::UnsupportedInput {
            path: path.to_path_buf(),
        })?;
        // An archive is opened once; its hash and everything read from it are of the
        // bytes behind that descriptor (see `InputFile`).
        let opened = match kind {
            InputKind::Directory => None,
            _ => Some(archive::InputFile::open(path)?),
        };
        let (sha256, size) = match &opened {
            Some(input) => {
                let started = Instant::now();
                let (h, n) = hash_reader(input.reader()?, path)?;
                self.trace(path, "sha256", started);
                (Some(h), Some(n))
            }
            None => (None, None),
        };
        let source = Source {
            path: path.display().to_string(),
            filename: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256,
            size,
            kind,
        };
        *source_out = Some(source.clone());
        let cache = match (self.options.cache, source.sha256.as_deref()) {
            (true, Some(_)) => Some(self.cache()?),
            _ => None,
        };
        let (Some(cache), Some(sha)) = (cache, source.sha256.as_deref()) else {
            return self
                .compute(
                    path,
                    opened.as_ref(),
                    kind,
                    &source,
                    warnings,
                    deadline,
                    target,
                    behaviour,
                )
                .map(|(meta, degraded)| {
                    *reusable = degraded.is_empty() && source.sha256.is_some();
                    meta
                });
        };
        let context = self.cache_context(target);
        let key = CacheKey {
            file_sha256: sha,
            file_name: &source.filename,
            context: &context,
        };
        let lookup = Instant::now();
        if let Some((meta, stored, seen)) = cache.load(&key) {
            warnings.extend(stored);
            *behaviour = seen;
            *cached = true;
            self.trace(path, "answered from the metadata cache", lookup);
            *reusable = true;
            return Ok(meta);
        }
        let before = warnings.len();
        let (meta, degraded) = self.compute(
            path,
            opened.as_ref(),
            kind,
            &source,
            warnings,
            deadline,
            target,
            behaviour,
        )?;
        // Only an answer that depends on nothing but the input's bytes and sdistill is
        // kept: a missing build requirement or helper today may be there tomorrow. Its
        // behaviour report is kept with it, so a cached answer is never cleaner.
        if degraded.is_empty() {
            cache.store(
                &key,
                &meta,
                &warnings[before..],
                behaviour.as_ref(),
                source.size,
            );
            *reusable = true;
        }
        Ok(meta)
    }

    /// Everything besides the input's bytes that shapes an answer: a change to any of it
    /// makes earlier cache entries unreachable.
    fn cache_context(&self, target: Target) -> String {
        format!(
            "sdistill={} lock={} driver={} target={:?} limits={:?} sandbox={:?} observe={} build-index={}",
            env!("CARGO_PKG_VERSION"),
            runtime::Lock::key(),
            guest::driver_sha256(),
            target,
            self.options.limits,
            self.options.sandbox,
            self.options.observe,
            // Build requirements (setup_requires, [build-system].requires, helpers built
            // from sdists) come from this index: another index can change the answer.
            crate::index::url_without_credentials(&self.options.sandbox_config.index_url)
                .map(|u| u.to_string())
                .unwrap_or_default(),
        )
    }

    /// The cached answer for the archive named `file_name` whose sha256 is `sha256`,
    /// without the archive: for a caller that knows both from an index listing (or a
    /// manifest) and would otherwise download the file only to hash it. Sound because an
    /// answer is stored only under the sha256 of the bytes it was computed from and the
    /// name they were read under (the file itself is checked against the same hash before
    /// anyone gets it). `None` with the cache off or on a miss.
    pub fn cached(
        &self,
        sha256: &str,
        file_name: &str,
    ) -> Option<(Metadata, Vec<String>, Option<Behaviour>)> {
        self.cached_entry(sha256, file_name)
            .map(|s| (s.metadata, s.warnings, s.behaviour))
    }

    /// [`Self::cached`] with the input's size as recorded when the answer was stored
    /// (`size` is `None` for entries older than that): what a caller needs to report the
    /// same `source` as an inspection of the file would.
    pub fn cached_entry(&self, sha256: &str, file_name: &str) -> Option<crate::cache::Stored> {
        if !self.options.cache {
            return None;
        }
        self.cache().ok()?.load_entry(&CacheKey {
            file_sha256: sha256,
            file_name,
            context: &self.cache_context(self.options.target),
        })
    }

    fn cache(&self) -> Result<MetadataCache> {
        let root = runtime::cache_root(&self.options.sandbox_config)?;
        MetadataCache::open(&root)
    }

    /// The answer for one input, and why it is degraded (empty when it is clean), checked
    /// against what the input claims to be ([`crate::identity`]); what the build code
    /// tried goes into `behaviour`, whether or not there is an answer.
    #[allow(clippy::too_many_arguments)]
    fn compute(
        &self,
        path: &Path,
        opened: Option<&archive::InputFile>,
        kind: InputKind,
        source: &Source,
        warnings: &mut Vec<String>,
        deadline: Instant,
        target: Target,
        behaviour: &mut Option<Behaviour>,
    ) -> Result<(Metadata, Vec<String>)> {
        let mut claims = Vec::new();
        let (meta, degraded) = self.compute_unchecked(
            path,
            opened,
            kind,
            source,
            warnings,
            deadline,
            target,
            &mut claims,
            behaviour,
        )?;
        let filename = (kind != InputKind::Directory).then_some(source.filename.as_str());
        warnings.extend(crate::identity::check(
            filename,
            &claims,
            &meta.name,
            &meta.version,
            &degraded,
        )?);
        Ok((meta, degraded))
    }

    #[allow(clippy::too_many_arguments)]
    fn compute_unchecked(
        &self,
        path: &Path,
        opened: Option<&archive::InputFile>,
        kind: InputKind,
        source: &Source,
        warnings: &mut Vec<String>,
        deadline: Instant,
        target: Target,
        claims: &mut Vec<crate::identity::Claim>,
        behaviour: &mut Option<Behaviour>,
    ) -> Result<(Metadata, Vec<String>)> {
        let limits = &self.options.limits;
        let started = Instant::now();

        if kind == InputKind::Wheel {
            let (member, text) = match opened {
                Some(input) => archive::read_wheel_metadata_opened(input, limits)?,
                None => archive::read_wheel_metadata(path, limits)?,
            };
            self.trace(path, "read the wheel's METADATA", started);
            let mut core = CoreMetadata::parse(&text, &member)?;
            warnings.extend(core.validate(&member)?);
            static_meta::normalize_extras(&mut core);
            let build = BuildSystem {
                requires: Vec::new(),
                backend: None,
                backend_path: Vec::new(),
                source: "wheel",
            };
            let meta = Metadata::from_core(core, Method::Wheel, build, source, warnings);
            return Ok((meta, Vec::new()));
        }

        let work_dir = crate::dirs::work::process_dir(self.options.work_dir.as_deref())?;
        let unpacked = match opened {
            Some(input) => archive::unpack_opened(input, kind, limits, Some(&work_dir))?,
            None => archive::unpack(path, kind, limits, Some(&work_dir))?,
        };
        let root_path = unpacked.root_path();
        let root_name = root_path.file_name().unwrap_or_default().to_string_lossy();
        // The sandbox's own trace lines name the build directory.
        self.trace(path, &format!("unpacked into {root_name}"), started);
        let started = Instant::now();
        let root = unpacked.root_dir()?;
        let mut findings = static_meta::read_sdist(&root, limits)?;
        self.trace(path, "read static metadata", started);
        warnings.extend(findings.warnings.iter().cloned());
        if let Some((name, version)) = &findings.pkg_info_identity {
            claims.push(crate::identity::Claim {
                source: "PKG-INFO",
                name: name.clone(),
                version: version.clone(),
            });
        }
        let static_answer = findings.metadata.take();
        // What runs after the metadata step only to be observed (see `Sandbox::observe_further`).
        let observe_further = |sandbox: &Sandbox, seen: &mut Observation| {
            sandbox.observe_further(
                &unpacked.root_path(),
                &findings,
                limits,
                &work_dir,
                self.options.target,
                deadline,
                self.options.observe,
                seen,
            )
        };
        if let Some((mut core, method)) = static_answer {
            let file = if method == Method::PkgInfo {
                "PKG-INFO"
            } else {
                "pyproject.toml"
            };
            warnings.extend(core.validate(file)?);
            static_meta::normalize_extras(&mut core);
            if self.options.observe && self.options.sandbox == SandboxMode::Auto {
                // The answer stays the static one; the build runs only to be observed.
                let mut seen = Observation::new(Scope::Build);
                observe_further(&*self.sandbox()?, &mut seen);
                *behaviour = seen.finish();
            }
            let meta = Metadata::from_core(core, method, findings.build, source, warnings);
            return Ok((meta, Vec::new()));
        }
        let reason = findings.reason.clone().unwrap_or_default();
        if !["setup.py", "setup.cfg", "pyproject.toml"]
            .iter()
            .any(|f| root.is_file(f))
        {
            return Err(Error::NoMetadata {
                detail: format!("no PKG-INFO, setup.py, setup.cfg or pyproject.toml at the project root ({reason})"),
            });
        }
        if self.options.sandbox == SandboxMode::Off {
            return Err(Error::NeedsSandbox { reason });
        }
        let started = Instant::now();
        let sandbox = self.sandbox()?;
        self.trace(path, "sandbox ready", started);
        let started = Instant::now();
        let scope = if self.options.observe {
            Scope::Build
        } else {
            Scope::Metadata
        };
        let mut seen = Observation::new(scope);
        let out = sandbox.run(
            &unpacked.root_path(),
            &findings,
            limits,
            &work_dir,
            target,
            deadline,
            &mut seen,
        );
        observe_further(&sandbox, &mut seen);
        *behaviour = seen.finish();
        let out = out?;
        self.trace(
            path,
            &format!("ran the build in the sandbox ({})", out.method.as_str()),
            started,
        );
        warnings.extend(out.warnings);
        warnings.extend(out.metadata.validate("sandbox metadata")?);
        let mut built = out.metadata;
        static_meta::normalize_extras(&mut built);
        let mut meta = Metadata::from_core(built, out.method, findings.build, source, warnings);
        meta.target = Some(target);
        Ok((meta, out.degraded))
    }

    /// A trace line for `--verbose`: which input, which step, how long it took.
    fn trace(&self, path: &Path, step: &str, started: Instant) {
        let notify = &self.options.sandbox_config.notify;
        if notify.tracing() {
            let name = path
                .file_name()
                .unwrap_or(path.as_os_str())
                .to_string_lossy();
            notify.trace(&format!(
                "{name}: {step} in {} ms",
                started.elapsed().as_millis()
            ));
        }
    }

    fn sandbox(&self) -> Result<Arc<Sandbox>> {
        self.sandbox
            .get_or_init(|| {
                Sandbox::load(&self.options.sandbox_config)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|detail| Error::Runtime { detail })
    }
}

/// Runs `work` over `items` on `jobs` worker threads. `on_done` is called as each item
/// finishes (in completion order, from the calling thread); the reports come back in item
/// order. Shared by [`Inspector::inspect_batch`] and inputs fetched by name
/// ([`crate::fetch::inspect_inputs`]).
pub(crate) fn run_batch<T: Sync + AsRef<Path>>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Report + Sync,
    mut on_done: impl FnMut(usize, &Report),
) -> Vec<Report> {
    let jobs = jobs.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Report)>();
    let mut slots: Vec<Option<Report>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let next = &next;
            let work = &work;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                if tx.send((i, work(item))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, report) in rx {
            on_done(i, &report);
            slots[i] = Some(report);
        }
    });
    slots
        .into_iter()
        .zip(items)
        .map(|(slot, item)| {
            slot.unwrap_or_else(|| Report {
                input: item.as_ref().to_path_buf(),
                source: None,
                outcome: Err(Error::Sandbox {
                    detail: "worker thread ended without a result".to_string(),
                }),
                warnings: Vec::new(),
                elapsed: Duration::ZERO,
                cached: false,
                reusable: false,
                behaviour: None,
            })
        })
        .collect()
}

/// sha256 and size of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    hash_reader(File::open(path).map_err(|e| Error::io(path, e))?, path)
}

/// [`hash_file`] of an open reader; `path` names it in errors.
fn hash_reader(mut file: impl Read, path: &Path) -> Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), total))
}
