//! `sdistill inspect`: metadata of sdists, wheels and source directories.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{
    check_dirs, sandbox_config, target, FailOn, LimitArgs, MachineArg, PlatformArg, RuntimeArgs,
    EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_FLAGGED, EXIT_OK,
};
use crate::fetch::{Fetcher, Input, Prefer};
use crate::inspect::{Inspector, Options, SandboxMode};
use crate::report;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum Format {
    Text,
    Json,
    Jsonl,
}

#[derive(Debug, Args)]
pub(super) struct InspectArgs {
    /// sdists (.tar.gz, .tgz, .tar.bz2, .tar.xz, .zip), wheels (.whl) or source
    /// directories; or a project on the index (`django`, `django==1.11.1`) or an
    /// `https://` URL of an sdist or wheel, downloaded into the cache and checked against
    /// the index's sha256 (a URL's `#sha256=` fragment) first.
    #[arg(required_unless_present = "manifest")]
    inputs: Vec<PathBuf>,
    /// Read the inputs from a manifest of JSON lines instead (`-` for stdin):
    /// `{"url": URL, "sha256": HEX}` (downloaded, verified, inspected, deleted) or
    /// `{"path": FILE}`; other fields are copied into the result's `manifest.extra`.
    /// Writes one JSON line per entry as each finishes, and a summary on stderr.
    #[arg(long, value_name = "FILE|-", conflicts_with_all = ["inputs", "wheel"])]
    manifest: Option<PathBuf>,
    /// With --manifest: skip entries that already have a result line in this file (by
    /// sha256, or the path of a local entry), to resume a killed run or skip finished
    /// shards. Repeatable; a missing file counts as empty.
    #[arg(long, value_name = "RESULTS.jsonl", requires = "manifest")]
    skip_done: Vec<PathBuf>,
    /// With --manifest: the largest file an entry may make sdistill download. Up to two
    /// per job are spooled at once in the work dir (`/dev/shm`, memory, by default; point
    /// --work-dir at a disk for bigger files). PyPI's default upload limit is 100 MB.
    #[arg(long, value_parser = crate::limits::parse_size, default_value = "256MiB", requires = "manifest")]
    max_download_size: u64,
    /// For a project name: take a wheel (pure-Python first) instead of the sdist when
    /// the version has both.
    #[arg(long)]
    wheel: bool,
    /// Output format [default: text on a terminal, json otherwise].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the output to this file (atomically) instead of stdout. With --manifest:
    /// append each result as it finishes (a partial last line a killed run left is cut
    /// off first), so `-o R --skip-done R` resumes.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Inputs processed in parallel [default: number of cores].
    #[arg(short, long)]
    jobs: Option<usize>,
    /// Never run build code: dynamic sdists fail with `needs-sandbox`.
    #[arg(long)]
    no_sandbox: bool,
    /// Run the build code in the sandbox even when the metadata is static, and run the
    /// build itself (bdist_wheel / build_wheel, then install into a private root), to
    /// report everything it tries. The answer still comes from the static metadata when
    /// there is one.
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

pub(super) fn inspect(args: InspectArgs) -> u8 {
    if let Some(manifest) = &args.manifest {
        return inspect_manifest(&args, manifest);
    }
    if !args.skip_done.is_empty() {
        // clap's `requires` does not hold when positional inputs are given.
        eprintln!("sdistill: --skip-done goes with --manifest");
        return super::EXIT_USAGE;
    }
    let inputs: Vec<Input> = args.inputs.iter().map(|p| Input::parse(p)).collect();
    let remote = inputs.iter().any(|i| matches!(i, Input::Remote(_)));
    if let Err(code) = check_dirs(
        args.runtime_args.cache_dir.as_deref(),
        args.work_dir.as_deref(),
        remote || !(args.no_cache && args.no_sandbox),
    ) {
        return code;
    }
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Text
    } else {
        Format::Json
    });
    let options = options(&args);
    let fetcher = Fetcher::new(
        &args.runtime_args.index_url,
        args.runtime_args.cache_dir.as_deref(),
        if args.wheel {
            Prefer::Wheel
        } else {
            Prefer::Sdist
        },
        args.offline,
        options.sandbox_config.notify.clone(),
    );
    let inspector = Inspector::new(options);
    let jobs = jobs(&args);
    crate::sandbox::descriptors::set_max_guests(jobs);
    // Streamed output goes to stdout as inputs finish; with --output everything is written
    // at the end in one atomic rename, so a reader never sees a partial file.
    let stream = args.output.is_none() && !matches!(format, Format::Json);
    // Suspicious behaviour is highlighted only where a person reads it.
    let color = args.output.is_none() && std::io::stdout().is_terminal();
    let mut stdout = std::io::stdout().lock();
    let mut write_failed = false;
    let total = args.inputs.len();
    let progress =
        std::io::stderr().is_terminal() && total > 3 && super::level() == super::Level::Normal;
    let mut done = 0usize;
    let reports = crate::fetch::inspect_inputs(&inspector, &fetcher, &inputs, jobs, |_, report| {
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

/// What every input is inspected with.
fn options(args: &InspectArgs) -> Options {
    Options {
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
        target: target(args.target_platform, args.target_machine),
    }
}

/// `--jobs`, else the number of cores.
fn jobs(args: &InspectArgs) -> usize {
    args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// `--manifest`: the streaming bulk mode ([`crate::bulk`], [`super::manifest`]).
fn inspect_manifest(args: &InspectArgs, manifest: &std::path::Path) -> u8 {
    if matches!(args.format, Some(Format::Text | Format::Json)) {
        eprintln!("sdistill: --manifest writes JSON lines (--format jsonl)");
        return super::EXIT_USAGE;
    }
    if let Err(code) = check_dirs(
        args.runtime_args.cache_dir.as_deref(),
        args.work_dir.as_deref(),
        true,
    ) {
        return code;
    }
    let options = options(args);
    let jobs = jobs(args);
    let config = crate::bulk::Config {
        jobs,
        work_dir: args.work_dir.clone(),
        cache_dir: args.runtime_args.cache_dir.clone(),
        index_url: args.runtime_args.index_url.clone(),
        max_download: args.max_download_size.min(options.limits.max_unpacked_size),
        fail_on: args.fail_on.map(FailOn::level),
        offline: args.offline,
    };
    super::manifest::run(super::manifest::ManifestRun {
        manifest: manifest.to_path_buf(),
        skip_done: args.skip_done.clone(),
        output: args.output.clone(),
        options,
        config,
    })
}
