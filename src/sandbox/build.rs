//! One sdist through the sandbox: the guest runs it needs, and what they mean.
//!
//! A few runs per input at most, all within **one deadline** (`--timeout` bounds the
//! input, not each attempt), each reason once: `setup_requires` are only known once
//! `setup()` runs (provide them, run again); setuptools no longer ships `pkg_resources`,
//! which old `setup.py` files import (run again on the setuptools that does); a build
//! that failed after a compiler probe failed, or after looking for distutils' 2to3
//! helpers, runs again with probes answering yes / the helpers provided (flagged). One-time work that is not the
//! input's — building a missing interpreter snapshot, waiting for descriptors while other
//! guests hold them — does not count against it.
//!
//! Every run's observer capture goes into the input's [`Observation`] as soon as the run
//! ends, before its result is even read, so a build that fails, times out or writes a
//! broken result still has its behaviour reported.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use wasmtime_wasi::FsPerms;

use super::guest::{self, Fallback, GuestRequest, GuestResult, Phase, Target};
use super::instance::{self, Ending, Entry, Preopen, RunOutcome};
use super::{native_backend, snapshot, Sandbox};
use crate::build_deps::BuildEnv;
use crate::dirs::TempTree;

/// How the driver's warnings about its stand-ins begin (NumPy, Cython, `ctypes`, `ssl`):
/// an answer with one is flagged and never cached.
const STAND_IN_NOTES: &[&str] = &[
    "numpy stand-in",
    "cython stand-in",
    "ctypes stand-in",
    "ssl stand-in",
];
use crate::error::{Error, Result};
use crate::limits::{LimitKind, Limits};
use crate::metadata::CoreMetadata;
use crate::observe::Observation;
use crate::static_meta::{Method, StaticFindings};

/// What a sandbox run produced.
#[derive(Debug)]
pub struct SandboxOutput {
    /// The metadata the build code produced.
    pub metadata: CoreMetadata,
    /// Which path produced it.
    pub method: Method,
    /// Observations (compatibility help, output truncated, suspicious version, ...).
    pub warnings: Vec<String>,
    /// Why this answer depends on more than the sdist's bytes and sdistill's version
    /// (a build requirement that could not be provided, a stand-in, a `0.0.0` version
    /// from a missing helper): such an answer is reported, never cached.
    pub degraded: Vec<String>,
}

/// What one guest run gets: build requirements, whether it may ask for more, and which
/// setuptools tree (index into the lock's setuptools list).
struct Attempt<'a> {
    env: &'a BuildEnv,
    allow_build_retry: bool,
    probes_succeed: bool,
    provide_2to3: bool,
    provide_stand_ins: bool,
    setuptools: usize,
    target: Target,
    phase: Phase,
}

/// What the runs of one phase ended with: the last run's result and outcome, the build
/// requirements it had, compatibility notes, and the first host failure of any run.
pub(super) struct PhaseEnd {
    pub result: Option<GuestResult>,
    pub outcome: RunOutcome,
    pub env: BuildEnv,
    pub notes: Vec<String>,
    pub host_failure: Option<String>,
}

/// What one input may still spend: its deadline (pushed back by time that is not the
/// input's), and helper builds (build requirements built from sdists, see
/// [`super::helpers`]): how deep the current build is in that chain, and how many the
/// input has had built so far.
pub(super) struct Budget {
    pub at: Instant,
    /// 0 for the input itself, 1 for a helper it needs, 2 for a helper's helper...
    pub helper_depth: u32,
    /// Helper sdists built for this input so far, all depths together.
    pub helpers_built: u32,
}

impl Budget {
    /// A fresh budget for one input ending at `at`.
    pub fn new(at: Instant) -> Self {
        Self {
            at,
            helper_depth: 0,
            helpers_built: 0,
        }
    }

    fn extend(&mut self, by: Duration) {
        self.at += by;
    }

    fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }
}

impl Sandbox {
    /// Runs the build code of one unpacked sdist (`root` is its private copy) and returns
    /// the metadata it produces. Every guest run for this input ends by `deadline`; temp
    /// trees go in `work_dir`; what the build code tried goes into `seen`.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        root: &Path,
        findings: &StaticFindings,
        limits: &Limits,
        work_dir: &Path,
        target: Target,
        deadline: Instant,
        seen: &mut Observation,
    ) -> Result<SandboxOutput> {
        if let Some(backend) = findings.build.backend.as_deref() {
            if let Some(why) = native_backend(backend) {
                return Err(Error::UnsupportedBackend {
                    backend: backend.to_string(),
                    detail: why.to_string(),
                });
            }
        }
        let mut deadline = Budget::new(deadline);
        let PhaseEnd {
            result,
            outcome,
            mut env,
            notes,
            host_failure,
        } = self.run_phase(
            root,
            findings,
            limits,
            work_dir,
            (target, Phase::Metadata),
            &mut deadline,
            seen,
        )?;
        if let Some(failure) = host_failure {
            // Whatever the build then reported was computed by code that saw a read or
            // write fail for reasons that are not the sdist's: not an answer.
            return Err(Error::Sandbox {
                detail: format!(
                    "the host failed a file operation of this build ({failure}: out of descriptors, memory or disk, or an I/O error); its answer was discarded, try again"
                ),
            });
        }
        let mut degraded = Vec::new();
        if env.incomplete {
            degraded.extend(env.warnings.iter().cloned());
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
        if outcome.guard.open_files_exceeded {
            return Err(Error::limit_exceeded(
                LimitKind::OpenFiles,
                format!(
                    "the build tried to hold more than {} files open at once",
                    limits.max_open_files
                ),
            ));
        }
        if outcome.guard.writes_exceeded {
            return Err(Error::limit_exceeded(
                LimitKind::Scratch,
                format!(
                    "the build tried to write more than {} bytes (files and entries created count; see --max-scratch)",
                    limits.max_scratch
                ),
            ));
        }
        match (result, outcome.ending) {
            (_, Ending::TimedOut) => Err(Error::limit_exceeded(
                LimitKind::Timeout,
                format!(
                    "the build ran longer than {:?} (every run for this input together)",
                    limits.timeout
                ),
            )),
            (
                Some(GuestResult::Metadata {
                    metadata,
                    method,
                    warnings: w,
                }),
                _,
            ) => {
                // A driver stand-in (NumPy, Cython, ctypes, ssl) answered part of the build:
                // flagged (the warning says so) and never cached.
                degraded.extend(
                    w.iter()
                        .filter(|w| STAND_IN_NOTES.iter().any(|p| w.starts_with(p)))
                        .cloned(),
                );
                warnings.extend(w);
                if metadata.version == "0.0.0" {
                    let note = "version 0.0.0 usually means a setup-time helper (setuptools_scm, pbr, versioneer) was unavailable; dependencies may be missing".to_string();
                    degraded.push(note.clone());
                    warnings.push(note);
                }
                Ok(SandboxOutput {
                    metadata,
                    method,
                    warnings,
                    degraded,
                })
            }
            _ if outcome.memory_denied => Err(Error::limit_exceeded(
                LimitKind::Memory,
                format!(
                    "the guest needed more than {} bytes of memory",
                    limits.memory_limit
                ),
            )),
            (Some(GuestResult::Failure(Error::UnsupportedBackend { detail, .. })), _) => {
                Err(Error::UnsupportedBackend {
                    backend: findings.build.backend.clone().unwrap_or_default(),
                    detail,
                })
            }
            (Some(GuestResult::Failure(e)), _) => Err(e),
            (Some(GuestResult::NeedsFallback { failure, .. }), _) => Err(failure),
            (Some(GuestResult::Built(_) | GuestResult::Wheel { .. }), _) => Err(Error::Sandbox {
                detail: "guest protocol: a build result from the metadata step".to_string(),
            }),
            (Some(GuestResult::NeedsBuildRequires(reqs)), _) => Err(Error::SetupFailed {
                message: format!("setup_requires could not be provided: {}", reqs.join(", ")),
                traceback: env.warnings.join("\n"),
            }),
            (None, Ending::Exited(code)) => Err(Error::NoMetadata {
                detail: format!(
                    "the build exited with status {code} before producing metadata{}",
                    instance::tail_note(&stderr_tail)
                ),
            }),
            (None, Ending::Trapped(trap)) => Err(Error::Sandbox {
                detail: format!(
                    "the guest trapped: {trap}{}",
                    instance::tail_note(&stderr_tail)
                ),
            }),
        }
    }

    /// The runs of one phase: the first, then once more with `setup_requires` provided,
    /// or on the setuptools that ships `pkg_resources`, as the build asks.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_phase(
        &self,
        root: &Path,
        findings: &StaticFindings,
        limits: &Limits,
        work_dir: &Path,
        (target, phase): (Target, Phase),
        deadline: &mut Budget,
        seen: &mut Observation,
    ) -> Result<PhaseEnd> {
        let mut requirements: Vec<String> = if findings.build.source == "pyproject" {
            findings.build.requires.clone()
        } else {
            Vec::new()
        };
        let mut env = self.provide(&requirements, limits, work_dir, deadline, seen);
        let mut setuptools = 0;
        let mut build_retry_left = true;
        let mut probes_succeed = false;
        let mut provide_2to3 = false;
        let mut provide_stand_ins = false;
        let mut notes = Vec::new();
        let mut host_failure = None;
        let (mut result, mut outcome);
        loop {
            let plan = Attempt {
                env: &env,
                allow_build_retry: build_retry_left,
                probes_succeed,
                provide_2to3,
                provide_stand_ins,
                setuptools,
                target,
                phase,
            };
            (result, outcome) =
                self.attempt(root, findings, limits, work_dir, plan, deadline, seen)?;
            host_failure = host_failure.or(outcome.guard.host_failure.clone());
            match &result {
                Some(GuestResult::NeedsBuildRequires(more)) if build_retry_left => {
                    build_retry_left = false;
                    requirements.extend(more.iter().cloned());
                    env = self.provide(&requirements, limits, work_dir, deadline, seen);
                }
                Some(GuestResult::NeedsFallback {
                    fallback: Fallback::CompilerProbes,
                    names,
                    ..
                }) if !probes_succeed => {
                    probes_succeed = true;
                    notes.push(format!(
                        "compatibility: the build stopped after compiler probes failed ({}), as they do on a machine without a C compiler; it was run again with every probe answering yes, so the answer assumes a machine with a working compiler",
                        if names.is_empty() { "unnamed".to_string() } else { names.join(", ") }
                    ));
                }
                Some(GuestResult::NeedsFallback {
                    fallback: Fallback::TwoToThree,
                    ..
                }) if !provide_2to3 => {
                    // The run that provides them reports each name it served.
                    provide_2to3 = true;
                }
                Some(GuestResult::NeedsFallback {
                    fallback: Fallback::StandIns,
                    ..
                }) if !provide_stand_ins => {
                    // Cython, ctypes or ssl was imported and missing: once more with the
                    // driver's stand-ins, each use reported (and the answer flagged).
                    provide_stand_ins = true;
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
        Ok(PhaseEnd {
            result,
            outcome,
            env,
            notes,
            host_failure,
        })
    }

    /// The build requirements as directories for the guest, with their bytecode compiled;
    /// those published only as sdists are built into wheels in the sandbox first (their
    /// runs spend this input's budget, and what they try goes into `seen`).
    fn provide(
        &self,
        requirements: &[String],
        limits: &Limits,
        work_dir: &Path,
        budget: &mut Budget,
        seen: &mut Observation,
    ) -> BuildEnv {
        let at = budget.at;
        let mut helpers = super::helpers::Helpers {
            sandbox: self,
            limits,
            work_dir,
            budget,
            seen,
        };
        let env = self.deps.resolve(requirements, Some(at), &mut helpers);
        self.precompile_deps(&env, budget);
        env
    }

    /// Compiles the bytecode of build-requirement trees that have none yet, inside the
    /// guest (the host never compiles guest Python), once per tree: a build requirement
    /// such as setuptools_scm imports ~70 modules, and compiling them from source on
    /// every run costs more than the rest of the run. Only those trees are preopened (no
    /// sdist); a failure just leaves the tree as it was.
    fn precompile_deps(&self, env: &BuildEnv, deadline: &Budget) {
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
            timeout: deadline.remaining().min(Duration::from_secs(120)),
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
    pub(super) fn compile_bytecode(
        &self,
        dirs: &[(&Path, String)],
        limits: &Limits,
    ) -> Result<RunOutcome> {
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
        let deadline = Instant::now() + limits.timeout;
        self.run_guest(
            &self.base()?.pre,
            Entry::Start,
            &preopens,
            &argv,
            limits,
            deadline,
        )
    }

    /// One guest run with `env`'s build requirements preopened read-only; what the
    /// observer captured goes into `seen` before the result is read.
    #[allow(clippy::too_many_arguments)]
    fn attempt(
        &self,
        root: &Path,
        findings: &StaticFindings,
        limits: &Limits,
        work_dir: &Path,
        plan: Attempt<'_>,
        deadline: &mut Budget,
        seen: &mut Observation,
    ) -> Result<(Option<GuestResult>, RunOutcome)> {
        let Attempt {
            env,
            allow_build_retry,
            probes_succeed,
            provide_2to3,
            provide_stand_ins,
            setuptools,
            ..
        } = plan;
        let tmp =
            |prefix: &str| TempTree::new_in(work_dir, prefix).map_err(|e| Error::io(work_dir, e));
        let scratch = tmp("scratch-")?;
        let out = tmp("out-")?;
        instance::make_scratch(scratch.path())?;
        // A snapshot serves its setuptools tree and up to DEP_SLOTS build requirements;
        // its WASI layout always has every slot (unused ones are an empty directory).
        // Building a missing snapshot is the runtime's one-time cost, not this input's.
        let snapshot = if env.dirs.len() <= snapshot::DEP_SLOTS {
            let started = Instant::now();
            let found = self.snapshot_for(setuptools);
            deadline.extend(started.elapsed());
            found
        } else {
            None
        };
        let empty;
        let mut dirs = env.dirs.clone();
        if snapshot.is_some() {
            empty = tmp("empty-")?;
            dirs.resize(snapshot::DEP_SLOTS, empty.path().to_path_buf());
        }
        let dep_paths: Vec<String> = (0..env.dirs.len()).map(|i| format!("/deps/{i}")).collect();
        let request = GuestRequest {
            backend: findings.build.backend.clone(),
            backend_path: findings.build.backend_path.clone(),
            paths: dep_paths,
            allow_build_retry,
            probes_succeed,
            provide_2to3,
            provide_stand_ins,
            setuptools_path: self
                .setuptools
                .get(setuptools)
                .cloned()
                .unwrap_or_else(|| "/site".to_string()),
            target: plan.target,
            snapshot: false,
            phase: plan.phase,
        };
        let preopens = self.preopens(root, scratch.path(), out.path(), &dirs);
        let started = Instant::now();
        let resumed = snapshot.is_some();
        let mut outcome = match snapshot {
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
                    deadline.at,
                )?
            }
            None => self.run_guest(
                &self.base()?.pre,
                Entry::Start,
                &preopens,
                &guest::argv(&request),
                limits,
                deadline.at,
            )?,
        };
        deadline.extend(outcome.waited);
        self.trace_run(root, &request, resumed, started, &outcome);
        seen.absorb(std::mem::take(&mut outcome.guard.observed), root);
        let out_dir = Dir::open_ambient_dir(out.path(), ambient_authority())
            .map_err(|e| Error::io(out.path(), e))?;
        let result = guest::read_result(&out_dir, limits.max_metadata_size)?;
        Ok((result, outcome))
    }
}

impl Sandbox {
    /// For `--verbose`: how one guest run went and what it printed (the kept tails).
    fn trace_run(
        &self,
        root: &Path,
        request: &GuestRequest,
        resumed: bool,
        started: Instant,
        outcome: &RunOutcome,
    ) {
        if !self.notify.tracing() {
            return;
        }
        let name = root
            .file_name()
            .unwrap_or(root.as_os_str())
            .to_string_lossy();
        let ending = match &outcome.ending {
            Ending::Exited(code) => format!("exit status {code}"),
            Ending::TimedOut => "timed out".to_string(),
            Ending::Trapped(trap) => format!("trapped: {trap}"),
        };
        self.notify.trace(&format!(
            "{name}: guest run ({}, {}, {} build requirements): {ending} in {} ms (waited {} ms for a slot)",
            if resumed { "from the snapshot" } else { "cold start" },
            request.setuptools_path.trim_start_matches("/site/"),
            request.paths.len(),
            started.elapsed().saturating_sub(outcome.waited).as_millis(),
            outcome.waited.as_millis(),
        ));
        for (what, captured) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
            let (text, total) = captured.snapshot();
            for line in text.lines() {
                self.notify.trace(&format!("{name}: guest {what} | {line}"));
            }
            if total > text.len() as u64 {
                self.notify.trace(&format!(
                    "{name}: guest {what} | ... ({total} bytes in all; the tail is shown)"
                ));
            }
        }
    }
}

/// Whether a run failed only because `pkg_resources` is missing.
fn needs_pkg_resources(result: &Option<GuestResult>) -> bool {
    const MISSING: &str = "No module named 'pkg_resources'";
    match result {
        Some(GuestResult::Failure(Error::SetupFailed { traceback, .. })) => {
            traceback.contains(MISSING)
        }
        Some(GuestResult::Built(b)) => b.outcome != "built" && b.message.contains(MISSING),
        _ => false,
    }
}
