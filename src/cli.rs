//! The command-line interface: argument parsing, output, exit codes.
//!
//! The only module that prints or decides the process exit status. Exit codes:
//! `0` every input produced metadata, `1` at least one input failed (its object carries
//! `error`), `2` usage error, `3` the command could not run at all (runtime missing and
//! not installable, output not writable), `4` an input's behaviour reached `--fail-on`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::Error;
use crate::inspect::{Inspector, Options, SandboxMode};
use crate::limits::{parse_size, Limits};
use crate::observe::Severity;
use crate::report;
use crate::sandbox::{runtime, Notify, SandboxConfig, Target, TargetMachine, TargetPlatform};

/// Exit status when every input produced metadata.
pub const EXIT_OK: u8 = 0;
/// Exit status when at least one input failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status for usage errors (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the command could not run at all.
pub const EXIT_ENVIRONMENT: u8 = 3;
/// Exit status when an input's behaviour reached the `--fail-on` level (after every
/// result was printed); it wins over [`EXIT_FAILED`].
pub const EXIT_FLAGGED: u8 = 4;

/// Read the dependency metadata of Python sdists without running their code on the host.
#[derive(Debug, Parser)]
#[command(name = "sdistill", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the metadata of sdists, wheels or source directories.
    Inspect(InspectArgs),
    /// Resolve requirements into a hash-pinned requirements.txt, running no package code
    /// on the host.
    Lock(LockArgs),
    /// Manage the pinned WASI CPython runtime the sandbox runs.
    Runtime {
        #[command(subcommand)]
        command: RuntimeCommand,
    },
}

#[derive(Debug, Subcommand)]
enum RuntimeCommand {
    /// Download every artifact of python-wasm/runtime.lock, verify and install it.
    Install(RuntimeArgs),
    /// Show what is installed, where, and its hashes.
    Info(RuntimeArgs),
}

#[derive(Debug, Args)]
struct RuntimeArgs {
    /// Package index to fetch from (PEP 691 JSON, PEP 503 HTML fallback).
    #[arg(long, env = "SDISTILL_INDEX_URL", default_value = runtime::DEFAULT_INDEX_URL)]
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

/// The behaviour level that fails the command (`--fail-on`).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FailOn {
    Notice,
    Suspicious,
}

impl FailOn {
    fn level(self) -> Severity {
        match self {
            Self::Notice => Severity::Notice,
            Self::Suspicious => Severity::Suspicious,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Jsonl,
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// sdists (.tar.gz, .tgz, .tar.bz2, .tar.xz, .zip), wheels (.whl) or source directories.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output format [default: text on a terminal, json otherwise].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the output to this file (atomically) instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Inputs processed in parallel [default: number of cores].
    #[arg(short, long)]
    jobs: Option<usize>,
    /// Never run build code: dynamic sdists fail with `needs-sandbox`.
    #[arg(long)]
    no_sandbox: bool,
    /// Run the build code in the sandbox even when the metadata is static, and run the
    /// build itself (bdist_wheel / build_wheel), to report everything it tries. The
    /// answer still comes from the static metadata when there is one.
    #[arg(long, conflicts_with = "no_sandbox")]
    observe: bool,
    /// Exit with status 4 when any input's behaviour reaches this level (after printing
    /// every result).
    #[arg(long, value_enum, value_name = "LEVEL")]
    fail_on: Option<FailOn>,
    /// Do not download the runtime if it is missing.
    #[arg(long)]
    offline: bool,
    /// Neither read nor write the metadata cache (answers keyed by the file's sha256 and
    /// the runtime, driver, target and limits).
    #[arg(long, env = "SDISTILL_NO_CACHE", value_parser = clap::builder::FalseyValueParser::new())]
    no_cache: bool,
    /// Directory for unpacked trees and scratch dirs [default: /dev/shm when writable,
    /// else the system temp dir].
    #[arg(long, env = "SDISTILL_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// The platform setup.py should see (sys.platform, os.name, platform.system()).
    #[arg(long, value_enum, default_value = "linux")]
    target_platform: PlatformArg,
    /// The CPU architecture setup.py should see (platform.machine()).
    #[arg(long, value_enum, default_value = "x86_64")]
    target_machine: MachineArg,
    /// A pre-provisioned runtime directory (as made by `runtime install`).
    #[arg(long, env = "SDISTILL_RUNTIME")]
    runtime: Option<PathBuf>,
    #[command(flatten)]
    runtime_args: RuntimeArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Debug, Args)]
struct LockArgs {
    /// Requirements (PEP 508), e.g. `django==1.11.1` or `requests[socks]>=2`.
    requirements: Vec<String>,
    /// Read requirements from a file (repeatable; `-r`/`-c` lines inside are followed).
    #[arg(short = 'r', long = "requirement", value_name = "FILE")]
    requirement_files: Vec<PathBuf>,
    /// Constrain versions with a file (repeatable).
    #[arg(short = 'c', long = "constraint", value_name = "FILE")]
    constraint_files: Vec<PathBuf>,
    /// Write the lock here (atomically); its current pins are kept where they still fit.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Package index (PEP 691 JSON, PEP 503 HTML fallback).
    #[arg(long, env = "SDISTILL_INDEX_URL", default_value = runtime::DEFAULT_INDEX_URL)]
    index_url: String,
    /// More indexes; files of every index are considered (repeatable).
    #[arg(long)]
    extra_index_url: Vec<String>,
    /// The target Python version (3.12 or 3.12.4).
    #[arg(long, default_value = "3.12")]
    python_version: String,
    /// The target platform: linux, macos or windows, optionally with an architecture
    /// (linux-aarch64, macos-arm64, windows-x86_64).
    #[arg(long, default_value = "linux")]
    platform: String,
    /// Use only wheels for these projects (comma-separated names, :all: or :none:).
    #[arg(long, value_name = "NAMES")]
    only_binary: Vec<String>,
    /// Use only sdists for these projects (comma-separated names, :all: or :none:).
    #[arg(long, value_name = "NAMES")]
    no_binary: Vec<String>,
    /// Allow pre-releases (otherwise used only where no final release fits).
    #[arg(long)]
    prerelease: bool,
    /// Ignore the existing output's pins for this project (or pin it: NAME==VERSION).
    #[arg(short = 'P', long, value_name = "NAME")]
    upgrade_package: Vec<String>,
    /// Ignore every pin of the existing output.
    #[arg(short = 'U', long)]
    upgrade: bool,
    /// Refuse the lock (exit 4, nothing written) when the build code of any sdist it
    /// evaluated reached this behaviour level.
    #[arg(long, value_enum, value_name = "LEVEL")]
    fail_on: Option<FailOn>,
    /// No network: index pages, metadata and distributions come from the cache only.
    #[arg(long)]
    offline: bool,
    /// Do not read or write the sdist metadata cache.
    #[arg(long, env = "SDISTILL_NO_CACHE", value_parser = clap::builder::FalseyValueParser::new())]
    no_cache: bool,
    /// Directory holding sdistill's caches (default: the user cache dir).
    #[arg(long, env = "SDISTILL_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// A pre-provisioned runtime directory (as made by `runtime install`).
    #[arg(long, env = "SDISTILL_RUNTIME")]
    runtime: Option<PathBuf>,
    /// Directory for unpacked trees and scratch dirs.
    #[arg(long, env = "SDISTILL_WORK_DIR")]
    work_dir: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
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
            ..Limits::default()
        }
    }
}

/// Parses arguments, runs the command, and returns the exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    crate::sandbox::descriptors::raise_process_limit();
    install_signal_cleanup();
    let code = match cli.command {
        Command::Inspect(args) => inspect(args),
        Command::Lock(args) => lock(args),
        Command::Runtime { command } => match command {
            RuntimeCommand::Install(args) => runtime_install(args),
            RuntimeCommand::Info(args) => runtime_info(args),
        },
    };
    crate::dirs::work::cleanup();
    ExitCode::from(code)
}

/// On SIGINT, SIGTERM or SIGHUP: stop running guests, remove every work dir this process
/// made (unpacked trees live in RAM under /dev/shm by default), and exit with 128 + the
/// signal, as a shell reports it. What a `kill -9` leaves is swept by the next run.
fn install_signal_cleanup() {
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
        notify: Notify::to(|line| eprintln!("sdistill: {}", report::sanitize(line))),
    }
}

fn inspect(args: InspectArgs) -> u8 {
    if let Err(code) = check_dirs(
        args.runtime_args.cache_dir.as_deref(),
        args.work_dir.as_deref(),
        !(args.no_cache && args.no_sandbox),
    ) {
        return code;
    }
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Text
    } else {
        Format::Json
    });
    let options = Options {
        limits: args.limits.to_limits(),
        sandbox: if args.no_sandbox {
            SandboxMode::Off
        } else {
            SandboxMode::Auto
        },
        sandbox_config: sandbox_config(&args.runtime_args, args.runtime.clone(), args.offline),
        work_dir: args.work_dir.clone(),
        cache: !args.no_cache,
        observe: args.observe,
        target: Target {
            platform: match args.target_platform {
                PlatformArg::Linux => TargetPlatform::Linux,
                PlatformArg::Macos => TargetPlatform::Macos,
                PlatformArg::Windows => TargetPlatform::Windows,
            },
            machine: match args.target_machine {
                MachineArg::X86_64 => TargetMachine::X86_64,
                MachineArg::Aarch64 => TargetMachine::Aarch64,
            },
        },
    };
    let inspector = Inspector::new(options);
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    crate::sandbox::descriptors::set_max_guests(jobs);
    // Streamed output goes to stdout as inputs finish; with --output everything is written
    // at the end in one atomic rename, so a reader never sees a partial file.
    let stream = args.output.is_none() && !matches!(format, Format::Json);
    // Suspicious behaviour is highlighted only where a person reads it.
    let color = args.output.is_none() && std::io::stdout().is_terminal();
    let mut stdout = std::io::stdout().lock();
    let mut write_failed = false;
    let total = args.inputs.len();
    let progress = std::io::stderr().is_terminal() && total > 3;
    let mut done = 0usize;
    let reports = inspector.inspect_batch(&args.inputs, jobs, |_, report| {
        done += 1;
        if progress {
            eprint!("\r[{done}/{total}] inspected\x1b[K");
            if done == total {
                eprintln!();
            }
        }
        if stream && !write_failed {
            let text = match format {
                Format::Jsonl => report::to_json_line(report) + "\n",
                _ => report::to_text_with(report, color),
            };
            write_failed = stdout
                .write_all(text.as_bytes())
                .and_then(|_| stdout.flush())
                .is_err();
        }
    });
    if !stream {
        let text = match format {
            Format::Json => report::to_json_array(&reports) + "\n",
            Format::Jsonl => reports
                .iter()
                .map(|r| report::to_json_line(r) + "\n")
                .collect(),
            Format::Text => reports
                .iter()
                .map(|r| report::to_text_with(r, color))
                .collect(),
        };
        let result = match &args.output {
            Some(path) => crate::atomic_file::write(path, text.as_bytes(), true),
            None => stdout
                .write_all(text.as_bytes())
                .and_then(|_| stdout.flush()),
        };
        if let Err(e) = result {
            eprintln!("sdistill: cannot write output: {e}");
            return EXIT_ENVIRONMENT;
        }
    }
    if write_failed {
        return EXIT_ENVIRONMENT;
    }
    if let Some(fail_on) = args.fail_on {
        let flagged: Vec<_> = reports
            .iter()
            .filter_map(|r| r.behaviour.as_ref().map(|b| (r, b)))
            .filter(|(_, b)| b.reaches(fail_on.level()))
            .collect();
        for (r, b) in &flagged {
            eprintln!(
                "sdistill: {}: behaviour {} (--fail-on {})",
                report::sanitize(&r.input.display().to_string()),
                b.verdict.as_str(),
                fail_on.level().as_str()
            );
        }
        if !flagged.is_empty() {
            return EXIT_FLAGGED;
        }
    }
    if reports.iter().all(|r| r.outcome.is_ok()) {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

fn lock(args: LockArgs) -> u8 {
    if let Err(code) = check_dirs(args.cache_dir.as_deref(), args.work_dir.as_deref(), true) {
        return code;
    }
    match lock_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            // Multi-line explanations keep their lines; each line is still escaped.
            for line in e.to_string().lines() {
                eprintln!("sdistill: {}", report::sanitize(line));
            }
            match e {
                Error::Usage { .. } => EXIT_USAGE,
                Error::NoSolution { .. } => EXIT_FAILED,
                Error::Index { .. }
                | Error::Io { .. }
                | Error::Runtime { .. }
                | Error::UnsafeDirectory { .. } => EXIT_ENVIRONMENT,
                _ => EXIT_FAILED,
            }
        }
    }
}

fn lock_inner(args: &LockArgs) -> Result<u8, Error> {
    use crate::resolve::{self, requirements, IndexProvider, LockRequest, TargetEnv};

    let env = TargetEnv {
        python: TargetEnv::parse_python(&args.python_version)?,
        target: TargetEnv::parse_platform(&args.platform)?,
    };
    let mut set = requirements::RequirementSet::default();
    for r in &args.requirements {
        set.requirements.push(requirements::parse_arg(r)?);
    }
    for f in &args.requirement_files {
        set.read(f, false)?;
    }
    for f in &args.constraint_files {
        set.read(f, true)?;
    }
    if set.requirements.is_empty() {
        return Err(Error::Usage {
            detail: "nothing to lock: give requirements or -r FILE".to_string(),
        });
    }
    let mut request = LockRequest {
        requirements: set.requirements,
        constraints: set.constraints,
        env,
        prerelease: args.prerelease,
        ..LockRequest::default()
    };
    for n in &args.no_binary {
        request.no_binary.add(n);
    }
    for n in &args.only_binary {
        request.only_binary.add(n);
    }
    // Keep the previous lock's pins unless asked to move them.
    if let Some(previous) = args
        .output
        .as_ref()
        .filter(|_| !args.upgrade)
        .and_then(|p| std::fs::read_to_string(p).ok())
    {
        for (name, version) in requirements::read_pins(&previous) {
            if let Ok(v) = version.parse() {
                request.preferences.insert(name, v);
            }
        }
    }
    for p in &args.upgrade_package {
        let (name, pin) = p.split_once("==").unwrap_or((p.as_str(), ""));
        let name = crate::metadata::normalize_name(name);
        request.preferences.remove(&name);
        if let Ok(v) = pin.trim().parse() {
            request.preferences.insert(name, v);
        }
    }

    let progress = std::io::stderr().is_terminal();
    let notify = if progress {
        Notify::to(|line| {
            let line: String = report::sanitize(line).chars().take(100).collect();
            eprint!("\r\x1b[Ksdistill: {line}");
        })
    } else {
        Notify::default()
    };
    let options = Options {
        limits: args.limits.to_limits(),
        sandbox: SandboxMode::Auto,
        sandbox_config: SandboxConfig {
            runtime_dir: args.runtime.clone(),
            cache_dir: args.cache_dir.clone(),
            index_url: args.index_url.clone(),
            auto_install: !args.offline,
            notify: notify.clone(),
        },
        target: env.target,
        work_dir: args.work_dir.clone(),
        cache: !args.no_cache,
        observe: false,
    };
    let mut indexes = vec![args.index_url.clone()];
    indexes.extend(args.extra_index_url.iter().cloned());
    let provider = IndexProvider::new(&indexes, options, args.offline, notify.clone())?;
    let outcome = resolve::resolve(&request, &provider, &notify);
    if progress {
        eprint!("\r\x1b[K");
    }
    if let Some(fail_on) = args.fail_on {
        // Whatever the resolution says: a lock computed by such code is not written.
        let flagged = provider.flagged(fail_on.level());
        for (file, b) in &flagged {
            eprintln!(
                "sdistill: {}: behaviour {} (--fail-on {}); no lock written",
                report::sanitize(file),
                b.verdict.as_str(),
                fail_on.level().as_str()
            );
            for line in crate::observe::text::lines(b, false, report::sanitize) {
                eprintln!("sdistill: {line}");
            }
        }
        if !flagged.is_empty() {
            return Ok(EXIT_FLAGGED);
        }
    }
    let resolution = outcome?;
    for w in &resolution.warnings {
        eprintln!("sdistill: warning: {}", report::sanitize(w));
    }
    let command = std::iter::once("sdistill".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let text = resolve::output::render(&resolution, &env, &command);
    match &args.output {
        Some(path) => {
            crate::atomic_file::write(path, text.as_bytes(), true).map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| Error::Io {
                    path: "<stdout>".into(),
                    source: e,
                })?;
        }
    }
    if progress {
        let s = provider.stats();
        eprintln!(
            "sdistill: locked {} packages for {} ({} index pages, {} metadata files, {} downloads, {} sandbox runs, {} from cache)",
            resolution.packages.len(),
            env.describe(),
            s.pages_fetched,
            s.metadata_files,
            s.downloads,
            s.sandbox_runs,
            s.cache_hits
        );
    }
    Ok(EXIT_OK)
}

fn runtime_install(args: RuntimeArgs) -> u8 {
    let config = sandbox_config(&args, None, false);
    match runtime::install(&config, &mut |msg| eprintln!("{}", report::sanitize(msg))) {
        Ok(installed) => {
            println!("runtime installed in {}", installed.dir.display());
            EXIT_OK
        }
        Err(e) => {
            eprintln!("sdistill: {}", report::sanitize(&e.to_string()));
            EXIT_ENVIRONMENT
        }
    }
}

fn runtime_info(args: RuntimeArgs) -> u8 {
    let config = sandbox_config(&args, None, true);
    match runtime::info(&config) {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("sdistill: {}", report::sanitize(&e.to_string()));
            EXIT_ENVIRONMENT
        }
    }
}
