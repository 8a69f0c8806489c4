//! One guest run: a fresh instance with its WASI world, budgets and deadline.

use std::path::Path;
use std::time::{Duration, Instant};

use wasmtime::{InstancePre, Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use super::guard::{Budgets, GuardReport, GuardedWasi};
use super::wasi::{CapturedOutput, GuestState};
use super::{descriptors, guest, snapshot, Sandbox};
use crate::error::{Error, Result};
use crate::limits::Limits;

/// One directory the guest sees.
#[derive(Debug)]
pub(super) struct Preopen<'a> {
    pub host: &'a Path,
    pub guest: String,
    pub perms: FsPerms,
}

/// How a guest run is entered.
#[derive(Clone, Copy)]
pub(super) enum Entry {
    /// `_start`: interpreter start-up, then the driver.
    Start,
    /// A snapshot's resume point.
    Resume(snapshot::ResumePoint),
}

/// How a guest run ended.
pub(super) enum Ending {
    Exited(i32),
    TimedOut,
    Trapped(String),
}

/// Everything a run produced besides its result file.
pub(super) struct RunOutcome {
    pub ending: Ending,
    pub stderr: CapturedOutput,
    pub stdout: CapturedOutput,
    pub memory_denied: bool,
    /// What the WASI guard counted and saw.
    pub guard: GuardReport,
    /// Time spent waiting for descriptors before the run could start (not the guest's).
    pub waited: Duration,
}

/// Descriptors a run needs besides what the guest opens: stdio, and slack for what the
/// host opens transiently on the guest's behalf (reading a directory opens one).
const HOST_SIDE_DESCRIPTORS: usize = 8;

/// Another process-wide flag: set when the process is shutting down (a signal), so that
/// running guests stop at their next epoch check instead of finishing their builds.
static SHUTDOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks every running guest to stop (see [`SHUTDOWN`]); for signal handlers.
pub fn shutdown() {
    SHUTDOWN.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Creates the HOME and TMPDIR directories inside a scratch dir.
pub(super) fn make_scratch(scratch: &Path) -> Result<()> {
    for sub in ["home", "tmp"] {
        let dir = scratch.join(sub);
        std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    Ok(())
}

impl Sandbox {
    /// Runs the guest once: instantiates `pre` in a fresh store, enters it at `entry`, and
    /// stops it at `deadline` (pushed back by however long the run waited for
    /// descriptors), at a refused memory growth, or when the process shuts down.
    pub(super) fn run_guest(
        &self,
        pre: &InstancePre<GuestState>,
        entry: Entry,
        preopens: &[Preopen<'_>],
        argv: &[String],
        limits: &Limits,
        deadline: Instant,
    ) -> Result<RunOutcome> {
        let wanted = usize::try_from(limits.max_open_files).unwrap_or(usize::MAX);
        let lease = descriptors::lease(wanted.saturating_add(HOST_SIDE_DESCRIPTORS));
        let deadline = deadline + lease.waited;
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
        let budgets = Budgets {
            open_files: lease
                .count()
                .saturating_sub(HOST_SIDE_DESCRIPTORS)
                .max(preopens.len() + 3 + 1),
            write_bytes: limits.max_scratch,
        };
        let fresh_start = matches!(entry, Entry::Start);
        let wasi = GuardedWasi::new(builder.build_p1(), preopens.len(), budgets, fresh_start);
        let state = GuestState::new(wasi, limits.memory_limit);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .max_blocking_threads(1)
            .build()
            .map_err(|e| Error::Sandbox {
                detail: format!("cannot start the async runtime: {e}"),
            })?;
        rt.block_on(async {
            let mut store = Store::new(&self.engine.engine, state);
            store.limiter(|s| &mut s.memory);
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(move |_| {
                if Instant::now() >= deadline || SHUTDOWN.load(std::sync::atomic::Ordering::Relaxed)
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
            let guard = store.data().wasi.report().clone();
            drop(store);
            Ok(RunOutcome {
                ending,
                stderr,
                stdout,
                memory_denied,
                guard,
                waited: lease.waited,
            })
        })
    }
}

/// The root cause of a trap, without the wasm backtrace.
fn trap_message(e: &wasmtime::Error) -> String {
    let root = e.root_cause().to_string();
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("{trap}"),
        None => root,
    }
}

/// The last lines of the guest's stderr, for an error message.
pub(super) fn tail_note(stderr: &str) -> String {
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
