//! The command-line interface: argument parsing, output, exit codes.
//!
//! The only module that prints or decides the process exit status. Exit codes:
//! `0` every input produced metadata, `1` at least one input failed (its object carries
//! `error`), `2` usage error, `3` the command could not run at all (runtime missing and
//! not installable, output not writable, a cache or work dir not private to the user);
//! `lock --check` adds `4`: the lock file is stale.
//!
//! One file per subcommand: [`inspect`] (its `--manifest` bulk mode in [`manifest`]), [`lock`], [`serve`], [`runtime`],
//! [`completions`] (also `man`); `--version` in [`version`]. What they share (limits,
//! the runtime and cache flags, the target, `-q`/`-v`, signals, directory checks) is here.
//!
//! [`run`] takes the argument list instead of reading the process's, so the Python
//! distribution's `sdistill` command (a console script calling into this module) behaves
//! exactly like the binary.

mod completions;
mod inspect;
mod lock;
mod lock_inputs;
mod manifest;
mod runtime;
mod serve;
mod version;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::Error;
use crate::limits::{parse_size, Limits};
use crate::report;
use crate::sandbox::{Notify, SandboxConfig, Target, TargetMachine, TargetPlatform};
use completions::{CompletionsArgs, ManArgs};
use inspect::InspectArgs;
use lock::LockArgs;
use runtime::RuntimeCommand;
use serve::ServeArgs;

/// Exit status when every input produced metadata.
pub const EXIT_OK: u8 = 0;
/// Exit status when at least one input failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status for usage errors (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the command could not run at all.
pub const EXIT_ENVIRONMENT: u8 = 3;
/// Exit status when an input's behaviour reached the `--fail-on` level (after every
/// result was printed); it wins over [`EXIT_FAILED`]. (`lock --check` uses 4 for a stale
/// lock: both mean "CI should stop here".)
pub const EXIT_FLAGGED: u8 = 4;

/// The behaviour level that fails the command (`--fail-on`).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FailOn {
    Notice,
    Suspicious,
}

impl FailOn {
    fn level(self) -> crate::observe::Severity {
        match self {
            Self::Notice => crate::observe::Severity::Notice,
            Self::Suspicious => crate::observe::Severity::Suspicious,
        }
    }
}

/// Read the dependency metadata of Python sdists without running their code on the host.
#[derive(Debug, Parser)]
#[command(name = "sdistill", version = version::short(), long_version = version::long(), about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    verbosity: Verbosity,
    #[command(subcommand)]
    command: Command,
}

/// `-q` and `-v`, accepted before or after any subcommand.
#[derive(Debug, Clone, Copy, Args)]
struct Verbosity {
    /// Print only results and errors: no progress, download, install or lock-warning
    /// lines.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print on stderr each step's timing and what the build printed inside the
    /// sandbox (its captured stdout and stderr).
    #[arg(short, long, global = true)]
    verbose: bool,
}

/// How much goes to stderr besides results and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Quiet = 0,
    Normal = 1,
    Verbose = 2,
}

/// The level of the command being run (one command per process, or one at a time from
/// Python).
static LEVEL: AtomicU8 = AtomicU8::new(Level::Normal as u8);

fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        0 => Level::Quiet,
        2 => Level::Verbose,
        _ => Level::Normal,
    }
}

/// The arguments of the command being run, for the lock header (not `std::env::args`:
/// under Python those are the interpreter's).
static ARGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The command's arguments after the program name, lossily decoded.
fn command_args() -> Vec<String> {
    ARGS.lock()
        .map(|a| a.iter().skip(1).cloned().collect())
        .unwrap_or_default()
}

/// The stderr sink for library progress at this command's level: nothing when quiet;
/// with `-v`, every line stamped with the time since start, plus trace lines (step
/// timings, guest output).
fn stderr_notify() -> Notify {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    let stamped = move |line: &str| {
        eprintln!(
            "sdistill: [{:>8.3}s] {}",
            start.elapsed().as_secs_f64(),
            shown(line)
        )
    };
    match level() {
        Level::Quiet => Notify::default(),
        Level::Normal => Notify::to(|line| eprintln!("sdistill: {}", shown(line))),
        Level::Verbose => Notify::to(stamped).with_trace(stamped),
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the metadata of sdists, wheels or source directories.
    Inspect(InspectArgs),
    /// Resolve requirements into a hash-pinned requirements.txt, running no package code
    /// on the host.
    Lock(Box<LockArgs>),
    /// Serve a package index that adds sandbox-made metadata files (PEP 658) for sdists,
    /// so pip, pip-compile, Poetry and PDM resolve without building them on the host.
    Serve(ServeArgs),
    /// Manage the pinned WASI CPython runtime the sandbox runs.
    Runtime {
        #[command(subcommand)]
        command: RuntimeCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write every page into a directory.
    Man(ManArgs),
}

#[derive(Debug, Args)]
struct RuntimeArgs {
    /// Package index to fetch from (PEP 691 JSON, PEP 503 HTML fallback).
    #[arg(long, env = "SDISTILL_INDEX_URL", default_value = crate::sandbox::runtime::DEFAULT_INDEX_URL)]
    index_url: String,
    /// Directory holding sdistill's caches (default: the user cache dir).
    #[arg(long, env = "SDISTILL_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PlatformArg {
    Linux,
    Macos,
    Windows,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MachineArg {
    #[value(name = "x86_64", alias = "amd64")]
    X86_64,
    #[value(name = "aarch64", alias = "arm64")]
    Aarch64,
}

/// The machine `--target-platform` and `--target-machine` name.
fn target(platform: PlatformArg, machine: MachineArg) -> Target {
    Target {
        platform: match platform {
            PlatformArg::Linux => TargetPlatform::Linux,
            PlatformArg::Macos => TargetPlatform::Macos,
            PlatformArg::Windows => TargetPlatform::Windows,
        },
        machine: match machine {
            MachineArg::X86_64 => TargetMachine::X86_64,
            MachineArg::Aarch64 => TargetMachine::Aarch64,
        },
    }
}

#[derive(Debug, Args)]
struct LimitArgs {
    /// Max bytes an archive may unpack to.
    #[arg(long, value_parser = parse_size, default_value = "1GiB")]
    max_unpacked_size: u64,
    /// Max members in an archive.
    #[arg(long, default_value_t = Limits::default().max_entries)]
    max_entries: u64,
    /// Max decompressed:compressed ratio over a whole archive.
    #[arg(long, default_value_t = Limits::default().max_compression_ratio)]
    max_compression_ratio: u64,
    /// Wall-clock seconds one sandbox run may take.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Memory the guest interpreter may use.
    #[arg(long, value_parser = parse_size, default_value = "1024MiB")]
    memory_limit: u64,
    /// Guest output kept (the rest is discarded).
    #[arg(long, value_parser = parse_size, default_value = "1MiB")]
    max_output: u64,
    /// Bytes the guest may write to its scratch dir and sdist copy (counted per write;
    /// each file, directory or link it creates counts 4 KiB).
    #[arg(long, value_parser = parse_size, default_value = "256MiB")]
    max_scratch: u64,
    /// Files the guest may hold open at once.
    #[arg(long, default_value_t = Limits::default().max_open_files)]
    max_open_files: u64,
    /// How deep build requirements published only as sdists are built into wheels in
    /// the sandbox (0: never; each gets a flagged stand-in).
    #[arg(long, default_value_t = Limits::default().max_helper_depth)]
    max_helper_depth: u32,
    /// How many such helper sdists one input may have built in the sandbox.
    #[arg(long, default_value_t = Limits::default().max_helper_builds)]
    max_helper_builds: u32,
}

impl LimitArgs {
    fn to_limits(&self) -> Limits {
        Limits {
            max_unpacked_size: self.max_unpacked_size,
            max_entries: self.max_entries,
            max_compression_ratio: self.max_compression_ratio.max(1),
            timeout: Duration::from_secs(self.timeout.max(1)),
            memory_limit: self.memory_limit,
            max_output: self.max_output,
            max_scratch: self.max_scratch,
            max_open_files: self.max_open_files.max(8),
            max_helper_depth: self.max_helper_depth,
            max_helper_builds: self.max_helper_builds,
            ..Limits::default()
        }
    }
}

/// Parses the process's arguments, runs the command, and returns the exit status.
pub fn main() -> ExitCode {
    ExitCode::from(run(std::env::args_os()))
}

/// Parses `args` (the program name first), runs the command, removes this process's
/// work dirs, and returns the exit status. For a process that ends with the command.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let code = run_embedded(args);
    crate::dirs::work::cleanup();
    code
}

/// [`run`] for a host process that goes on afterwards (the Python module's `sdistill`
/// command): the work dirs stay usable, for the host to remove at its exit
/// ([`crate::dirs::work::cleanup`] makes no new one once it ran). Signals are handled as
/// by the binary: SIGINT, SIGTERM or SIGHUP stop the guests, clean up and end the process.
pub fn run_embedded<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    if let Ok(mut stored) = ARGS.lock() {
        *stored = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
    }
    let level = match cli.verbosity {
        Verbosity { quiet: true, .. } => Level::Quiet,
        Verbosity { verbose: true, .. } => Level::Verbose,
        _ => Level::Normal,
    };
    LEVEL.store(level as u8, Ordering::Relaxed);
    crate::sandbox::descriptors::raise_process_limit();
    // The server drains on a signal instead of exiting at once (it watches them itself).
    if !matches!(cli.command, Command::Serve(_)) {
        install_signal_cleanup();
    }
    match cli.command {
        Command::Inspect(args) => inspect::inspect(args),
        Command::Lock(args) => lock::lock(*args),
        Command::Serve(args) => serve::serve(args),
        Command::Runtime { command } => command.run(),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
    }
}

/// On SIGINT, SIGTERM or SIGHUP: stop running guests, remove every work dir this process
/// made (unpacked trees live in RAM under /dev/shm by default), and exit with 128 + the
/// signal, as a shell reports it. What a `kill -9` leaves is swept by the next run.
fn install_signal_cleanup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(install_signal_thread);
}

fn install_signal_thread() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("sdistill-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                crate::sandbox::shutdown();
                crate::dirs::work::cleanup();
                std::process::exit(128 + signal);
            }
        });
}

/// Checks, before any work, that the directories this command will use are private to
/// the user; an unsafe one ends the command (exit 3) with the reason.
fn check_dirs(
    cache_dir: Option<&std::path::Path>,
    work_dir: Option<&std::path::Path>,
    needs_cache: bool,
) -> Result<(), u8> {
    let mut checks: Vec<Result<std::path::PathBuf, Error>> =
        vec![crate::dirs::work::process_dir(work_dir)];
    if needs_cache {
        checks.push(crate::dirs::cache_root(cache_dir));
    }
    for check in checks {
        if let Err(e) = check {
            eprintln!("sdistill: {}", report::sanitize(&e.to_string()));
            return Err(EXIT_ENVIRONMENT);
        }
    }
    Ok(())
}

fn sandbox_config(args: &RuntimeArgs, runtime: Option<PathBuf>, offline: bool) -> SandboxConfig {
    SandboxConfig {
        runtime_dir: runtime,
        cache_dir: args.cache_dir.clone(),
        index_url: args.index_url.clone(),
        auto_install: !offline,
        notify: stderr_notify(),
    }
}

/// A line for stderr: credentials in URLs redacted, control characters escaped.
fn shown(line: &str) -> String {
    report::sanitize(&crate::index::redact_urls(line))
}
