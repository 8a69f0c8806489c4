//! `sdistill lock`: requirements and projects in, a hash-pinned lock out, no package code
//! on the host. Inputs are classified and read in [`super::lock_inputs`]; resolving and
//! rendering are the library's ([`crate::resolve`]). This file maps flags (and
//! `[tool.sdistill]`) to a request, and the outcome to output and an exit status:
//! 0 locked (or `--check`: up to date), 1 no solution / `--strict` refusal / a pin that
//! cannot be written safely, 2 usage, 3 index, output or directory unusable, 4 `--check`:
//! the lock is stale.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use super::lock_inputs::{self, Input, Selection};
use super::{check_dirs, shown, LimitArgs, EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::error::Error;
use crate::index::UploadTime;
use crate::inspect::{Options, SandboxMode};
use crate::resolve::config::LockConfig;
use crate::resolve::config::OneOrMany;
use crate::resolve::matrix::{Matrix, DEFAULT_PLATFORMS};
use crate::resolve::output::{self, check, Format, RenderOptions};
use crate::resolve::{requirements, IndexProvider, LockRequest, Resolution, Strategy, TargetEnv};
use crate::sandbox::{runtime, Notify, SandboxConfig, Target};
use std::str::FromStr;

/// Exit status of `--check` when the lock is stale.
pub const EXIT_STALE: u8 = 4;

#[derive(Debug, Args)]
pub(super) struct LockArgs {
    /// What to lock: requirements (`django==1.11.1`, `name @ URL`), project directories or
    /// their pyproject.toml / setup.cfg / setup.py, requirements files (.in, .txt), or `-`
    /// for requirements on standard input.
    inputs: Vec<String>,
    /// Read requirements from a file (repeatable; `-` is standard input; a pyproject.toml,
    /// setup.cfg or setup.py is read as its project).
    #[arg(short = 'r', long = "requirement", value_name = "FILE")]
    requirement_files: Vec<PathBuf>,
    /// Constrain versions with a file (repeatable).
    #[arg(short = 'c', long = "constraint", value_name = "FILE")]
    constraint_files: Vec<PathBuf>,
    /// Write the lock here (atomically; `-` is standard output); its current pins are kept
    /// where they still fit.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Output format: requirements-txt, pylock.toml or json [default: from -o
    /// (pylock*.toml, *.json), else requirements-txt].
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Do not write: compare a fresh lock with the -o file; exit 0 when it is up to date,
    /// 4 with the differences when it is stale.
    #[arg(long)]
    check: bool,
    /// Lock this extra of the project inputs (repeatable).
    #[arg(long, value_name = "NAME")]
    extra: Vec<String>,
    /// Lock every extra of the project inputs.
    #[arg(long)]
    all_extras: bool,
    /// Lock this PEP 735 dependency group of the project inputs (repeatable).
    #[arg(long, value_name = "NAME")]
    group: Vec<String>,
    /// Lock every dependency group of the project inputs.
    #[arg(long)]
    all_groups: bool,
    /// Leave out the groups `[tool.sdistill] default-groups` names.
    #[arg(long)]
    no_default_groups: bool,
    /// Package index (PEP 691 JSON, PEP 503 HTML fallback) [default: PyPI].
    #[arg(long, env = "SDISTILL_INDEX_URL")]
    index_url: Option<String>,
    /// More indexes; files of every index are considered (repeatable).
    #[arg(long)]
    extra_index_url: Vec<String>,
    /// The target Python version (3.12 or 3.12.4) [default: 3.12]. Repeat it for one lock
    /// valid on several (a universal lock, with markers).
    #[arg(long)]
    python_version: Vec<String>,
    /// The target platform: linux, macos or windows, optionally with an architecture
    /// (linux-aarch64, macos-arm64, windows-x86_64) [default: linux]. Repeat it for one
    /// lock valid on several (a universal lock, with markers).
    #[arg(long)]
    platform: Vec<String>,
    /// One lock for every platform (Linux, macOS and Windows on x86-64 and ARM64, unless
    /// --platform names some) and CPython version (3.10 to 3.14 as the projects'
    /// requires-python allows, unless --python-version names some), with markers; sdists
    /// whose dependencies come from their build are built as each platform.
    #[arg(long)]
    universal: bool,
    /// Use only wheels for these projects (comma-separated names, :all: or :none:).
    #[arg(long, value_name = "NAMES")]
    only_binary: Vec<String>,
    /// Use only sdists for these projects (comma-separated names, :all: or :none:).
    #[arg(long, value_name = "NAMES")]
    no_binary: Vec<String>,
    /// Allow pre-releases (otherwise used only where no final release fits).
    #[arg(long)]
    prerelease: bool,
    /// Which versions to try first: highest, lowest, or lowest-direct (lowest for the
    /// projects you name, highest for the rest) [default: highest].
    #[arg(long, value_name = "STRATEGY")]
    resolution: Option<String>,
    /// Only files uploaded before this date (2024-01-31, the start of that day in UTC) or
    /// time (2024-01-31T12:00:00Z), as the index states it (PEP 700): a lock that does not
    /// change when new releases appear. Files without an upload time are left out.
    #[arg(long, value_name = "DATE")]
    exclude_newer: Option<String>,
    /// Ignore the existing output's pins for this project (or pin it: NAME==VERSION).
    #[arg(short = 'P', long, value_name = "NAME")]
    upgrade_package: Vec<String>,
    /// Ignore every pin of the existing output.
    #[arg(short = 'U', long)]
    upgrade: bool,
    /// Resolve this project but leave it out of the output (repeatable).
    #[arg(long, value_name = "NAME")]
    no_emit_package: Vec<String>,
    /// Write `name==1.0` for a pin asked for with extras, not `name[extra]==1.0`.
    #[arg(long)]
    strip_extras: bool,
    /// No header (the command and target) in the output.
    #[arg(long)]
    no_header: bool,
    /// Refuse the lock (exit 4, nothing written) when the build code of any sdist it
    /// evaluated reached this behaviour level.
    #[arg(long, value_enum, value_name = "LEVEL")]
    fail_on: Option<super::FailOn>,
    /// No per-pin annotations (`# via`, build help) in the output.
    #[arg(long)]
    no_annotate: bool,
    /// Write the index URLs into the output (`--index-url` lines; credentials removed).
    #[arg(long)]
    emit_index_url: bool,
    /// Accepted for pip-compile compatibility: sdistill always pins pip, setuptools and
    /// the like when something requires them (leave one out with --no-emit-package).
    #[arg(long)]
    allow_unsafe: bool,
    /// Refuse the lock (exit 1) when a pin's metadata needed build help in the sandbox
    /// (compatibility shims, stand-ins, missing build requirements): its sdist will
    /// likely not build with pip or uv on the target.
    #[arg(long)]
    strict: bool,
    /// Use only dependency metadata whose bytes were checked against a sha256: the wheel
    /// itself (downloaded whole) or a PEP 658 file with the hash the index states. Without
    /// it, large wheels' METADATA is read with HTTP range requests where the server allows
    /// (faster; part of a file cannot be hash-checked; the JSON report marks which).
    #[arg(long)]
    verified_metadata_only: bool,
    /// Do not read `[tool.sdistill]` from pyproject.toml.
    #[arg(long)]
    no_config: bool,
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

pub(super) fn lock(args: LockArgs) -> u8 {
    if let Err(code) = check_dirs(args.cache_dir.as_deref(), args.work_dir.as_deref(), true) {
        return code;
    }
    match lock_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            // Multi-line explanations keep their lines; each line is still escaped.
            for line in e.to_string().lines() {
                eprintln!("sdistill: {}", shown(line));
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

/// The flags after `[tool.sdistill]` filled what the command line left out.
struct Settings {
    index_urls: Vec<String>,
    /// The platforms asked for (empty: the default, Linux x86-64, or every platform).
    platforms: Vec<Target>,
    /// The Python versions asked for (empty: the default, 3.12, or the supported ones).
    pythons: Vec<(u64, u64, u64)>,
    universal: bool,
    format: Format,
    selection: Selection,
    strategy: Strategy,
    exclude_newer: Option<UploadTime>,
    prerelease: bool,
    only_binary: Vec<String>,
    no_binary: Vec<String>,
    no_emit: crate::resolve::NameSet,
    strip_extras: bool,
    header: bool,
    annotate: bool,
    emit_index_url: bool,
    strict: bool,
    verified_only: bool,
}

fn usage(detail: String) -> Error {
    Error::Usage { detail }
}

fn settings(
    args: &LockArgs,
    config: &LockConfig,
    output: Option<&Path>,
) -> Result<Settings, Error> {
    let list = |cli: &[String], file: &Option<Vec<String>>| -> Vec<String> {
        let mut all = file.clone().unwrap_or_default();
        all.extend(cli.iter().cloned());
        all
    };
    let flag = |cli: bool, file: Option<bool>| cli || file.unwrap_or(false);
    let mut index_urls = vec![args
        .index_url
        .clone()
        .or_else(|| config.index_url.clone())
        .unwrap_or_else(|| runtime::DEFAULT_INDEX_URL.to_string())];
    index_urls.extend(list(&args.extra_index_url, &config.extra_index_url));
    // Repeatable flags on the command line replace the file's list (unlike additive
    // lists such as --extra): `--python-version 3.13` means that version only.
    let or_config = |cli: &[String], file: &Option<OneOrMany>| -> Vec<String> {
        if cli.is_empty() {
            file.as_ref().map(OneOrMany::to_vec).unwrap_or_default()
        } else {
            cli.to_vec()
        }
    };
    let pythons = or_config(&args.python_version, &config.python_version)
        .iter()
        .map(|p| TargetEnv::parse_python(p))
        .collect::<Result<Vec<_>, _>>()?;
    let platforms = or_config(&args.platform, &config.platform)
        .iter()
        .map(|p| TargetEnv::parse_platform(p))
        .collect::<Result<Vec<_>, _>>()?;
    let format = match args.format.as_deref().or(config.format.as_deref()) {
        Some(f) => Format::parse(f).ok_or_else(|| {
            usage(format!(
                "--format `{f}`: use requirements-txt, pylock.toml or json"
            ))
        })?,
        None => output
            .and_then(Format::infer)
            .unwrap_or(Format::RequirementsTxt),
    };
    let strategy = match args.resolution.as_deref().or(config.resolution.as_deref()) {
        Some(r) => Strategy::parse(r).ok_or_else(|| {
            usage(format!(
                "--resolution `{r}`: use highest, lowest or lowest-direct"
            ))
        })?,
        None => Strategy::Highest,
    };
    let exclude_newer = match args.exclude_newer.as_deref().or(config.exclude_newer.as_deref()) {
        Some(d) => Some(UploadTime::parse_cutoff(d).ok_or_else(|| {
            usage(format!(
                "--exclude-newer `{d}`: use a date (2024-01-31) or a UTC time (2024-01-31T12:00:00Z)"
            ))
        })?),
        None => None,
    };
    let mut no_emit = crate::resolve::NameSet::default();
    for n in list(&args.no_emit_package, &config.no_emit_package) {
        no_emit.add(&n);
    }
    let no_default_groups = flag(args.no_default_groups, config.no_default_groups);
    Ok(Settings {
        index_urls,
        platforms,
        pythons,
        universal: flag(args.universal, config.universal),
        format,
        selection: Selection {
            extras: list(&args.extra, &config.extra),
            all_extras: flag(args.all_extras, config.all_extras),
            groups: list(&args.group, &config.group),
            all_groups: flag(args.all_groups, config.all_groups),
            default_groups: if no_default_groups {
                Vec::new()
            } else {
                config.default_groups.clone().unwrap_or_default()
            },
        },
        strategy,
        exclude_newer,
        prerelease: flag(args.prerelease, config.prerelease),
        only_binary: list(&args.only_binary, &config.only_binary),
        no_binary: list(&args.no_binary, &config.no_binary),
        no_emit,
        strip_extras: flag(args.strip_extras, config.strip_extras),
        header: !flag(args.no_header, config.no_header),
        annotate: !flag(args.no_annotate, config.no_annotate),
        emit_index_url: flag(args.emit_index_url, config.emit_index_url),
        strict: flag(args.strict, config.strict),
        verified_only: flag(args.verified_metadata_only, config.verified_metadata_only),
    })
}

/// Where the lock goes: a file, or standard output (no `-o`, or `-o -`).
fn output_path(args: &LockArgs) -> Option<&Path> {
    args.output.as_deref().filter(|p| *p != Path::new("-"))
}

fn lock_inner(args: &LockArgs) -> Result<u8, Error> {
    let mut inputs = args
        .inputs
        .iter()
        .map(|a| lock_inputs::classify(a))
        .collect::<Result<Vec<_>, _>>()?;
    for f in &args.requirement_files {
        inputs.push(lock_inputs::classify_file(f)?);
    }
    let constraints = args
        .constraint_files
        .iter()
        .map(|f| match lock_inputs::classify_file(f)? {
            Input::Project(_) => Err(usage(format!(
                "-c {}: a constraints file, not a project",
                f.display()
            ))),
            other => Ok(other),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if inputs.is_empty() {
        return Err(usage(
            "nothing to lock: give requirements, a project directory or -r FILE".to_string(),
        ));
    }
    let config = if args.no_config {
        None
    } else {
        lock_inputs::find_config(&inputs)?
    };
    let output_file = output_path(args);
    let settings = settings(args, &config.unwrap_or_default(), output_file)?;
    if args.check && output_file.is_none() {
        return Err(usage(
            "--check compares with the lock file named by -o FILE".to_string(),
        ));
    }
    // The platforms are known before the inputs are read (a project's setup.py runs as
    // each); the Python versions of a universal lock may depend on its requires-python.
    let targets: Vec<Target> = match (settings.platforms.is_empty(), settings.universal) {
        (false, _) => settings.platforms.clone(),
        (true, true) => DEFAULT_PLATFORMS.to_vec(),
        (true, false) => vec![Target::default()],
    };

    // `-q`/`-v` are global flags (see `cli::Verbosity`).
    let quiet = super::level() == super::Level::Quiet;
    let verbose = super::level() == super::Level::Verbose;
    let progress = !quiet && (verbose || std::io::stderr().is_terminal());
    let notify = match (progress, verbose) {
        (false, _) => Notify::default(),
        (true, true) => super::stderr_notify(),
        (true, false) => Notify::to(|line| {
            let line: String = shown(line).chars().take(100).collect();
            eprint!("\r\x1b[Ksdistill: {line}");
        }),
    };
    let overwrite = progress && !verbose;
    let options = Options {
        limits: args.limits.to_limits(),
        sandbox: SandboxMode::Auto,
        sandbox_config: SandboxConfig {
            runtime_dir: args.runtime.clone(),
            cache_dir: args.cache_dir.clone(),
            index_url: settings.index_urls[0].clone(),
            auto_install: !args.offline,
            notify: notify.clone(),
        },
        target: targets[0],
        work_dir: args.work_dir.clone(),
        cache: !args.no_cache,
        observe: false,
    };
    let mut provider =
        IndexProvider::new(&settings.index_urls, options, args.offline, notify.clone())?;
    provider.set_verified_only(settings.verified_only);

    let mut set = requirements::RequirementSet::default();
    let read = lock_inputs::read_inputs(
        &inputs,
        &constraints,
        &settings.selection,
        &targets,
        provider.inspector(),
        &mut set,
    )?;
    let project_warnings = read.warnings;
    let matrix = lock_matrix(&settings, &targets, &read.requires_python)?;
    let env = matrix.envs()[0];
    let mut request = LockRequest {
        requirements: set.requirements,
        constraints: set.constraints,
        env,
        prerelease: settings.prerelease,
        strategy: settings.strategy,
        exclude_newer: settings.exclude_newer,
        ..LockRequest::default()
    };
    for n in &settings.no_binary {
        request.no_binary.add(n);
    }
    for n in &settings.only_binary {
        request.only_binary.add(n);
    }
    // The existing lock: its pins are kept unless asked to move them; `--check` compares.
    let existing = output_file.and_then(|p| std::fs::read_to_string(p).ok());
    if args.check && existing.is_none() {
        return Err(usage(format!(
            "--check: {} does not exist or cannot be read; lock once without --check",
            output_file
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )));
    }
    let previous = match &existing {
        Some(text) => match output::read_summary(settings.format, text) {
            Ok(summary) => Some(summary),
            Err(e) if args.check => return Err(e),
            Err(_) => None,
        },
        None => None,
    };
    if let Some(previous) = previous.as_ref().filter(|_| !args.upgrade) {
        for pin in previous.pins.values() {
            let name = crate::metadata::normalize_name(&pin.name);
            let Ok(v) = pin.version.parse() else {
                continue;
            };
            // A universal lock's pin holds where its marker does.
            let marker = pin.marker.as_deref().and_then(|m| {
                crate::metadata::guarded(|| pep508_rs::MarkerTree::from_str(m).ok()).flatten()
            });
            match marker {
                Some(m) if matrix.is_universal() => request.marked_preferences.push((name, v, m)),
                _ => {
                    request.preferences.insert(name, v);
                }
            }
        }
    }
    for p in &args.upgrade_package {
        let (name, pin) = p.split_once("==").unwrap_or((p.as_str(), ""));
        let name = crate::metadata::normalize_name(name);
        request.preferences.remove(&name);
        request.marked_preferences.retain(|(n, _, _)| *n != name);
        if let Ok(v) = pin.trim().parse() {
            request.preferences.insert(name, v);
        }
    }

    let outcome = crate::resolve::resolve_matrix(&request, &matrix, &provider, &notify);
    if overwrite {
        eprint!("\r\x1b[K");
    }
    if let Some(fail_on) = args.fail_on {
        // Whatever the resolution says: a lock computed by such code is not written.
        let flagged = provider.flagged(fail_on.level());
        for (file, b) in &flagged {
            eprintln!(
                "sdistill: {}: behaviour {} (--fail-on {}); no lock written",
                shown(file),
                b.verdict.as_str(),
                fail_on.level().as_str()
            );
            for line in crate::observe::text::lines(b, false, crate::report::sanitize) {
                eprintln!("sdistill: {line}");
            }
        }
        if !flagged.is_empty() {
            return Ok(super::EXIT_FLAGGED);
        }
    }
    let mut resolution = outcome?;
    if !quiet {
        for w in project_warnings.iter().chain(&resolution.warnings) {
            eprintln!("sdistill: warning: {}", shown(w));
        }
    }
    resolution
        .packages
        .retain(|p| !settings.no_emit.contains(p.name.as_ref()));
    if let Some(code) = report_build_help(&resolution, &matrix, settings.strict, quiet) {
        return Ok(code);
    }
    let command =
        header_command(std::iter::once("sdistill".to_string()).chain(super::command_args()));
    let no_urls: Vec<String> = Vec::new();
    let render_options = RenderOptions {
        env: &env,
        matrix: matrix.is_universal().then_some(&matrix),
        command: &command,
        header: settings.header,
        annotate: settings.annotate,
        strip_extras: settings.strip_extras,
        index_urls: if settings.emit_index_url {
            &settings.index_urls
        } else {
            &no_urls
        },
    };
    let text = output::render(settings.format, &resolution, &render_options)?;
    if args.check {
        let (Some(old), Some(path)) = (previous, output_file) else {
            return Ok(EXIT_FAILED);
        };
        let fresh = output::read_summary(settings.format, &text)?;
        let changes = check::diff(&old, &fresh);
        if changes.is_empty() {
            if !quiet {
                eprintln!(
                    "sdistill: {} is up to date",
                    shown(&path.display().to_string())
                );
            }
            return Ok(EXIT_OK);
        }
        eprintln!(
            "sdistill: {} is stale ({} change{}); lock again without --check to update it:",
            shown(&path.display().to_string()),
            changes.len(),
            if changes.len() == 1 { "" } else { "s" }
        );
        for c in &changes {
            eprintln!("  {}", shown(&c.to_string()));
        }
        return Ok(EXIT_STALE);
    }
    match output_file {
        Some(path) => {
            crate::atomic_file::write(path, text.as_bytes(), true).map_err(|e| Error::Io {
                path: path.to_path_buf(),
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
    let net = provider.net_stats();
    if !quiet {
        // Retries change nothing in the lock, but say the network was not well.
        for r in &net.retried {
            eprintln!("sdistill: warning: retried {}", shown(r));
        }
    }
    if progress {
        let s = provider.stats();
        eprintln!(
            "sdistill: locked {} packages for {} ({} index pages, {} metadata files, {} range reads, {} downloads, {} sandbox runs, {} from cache; {} requests, {} retried)",
            resolution.packages.len(),
            matrix.describe(),
            s.pages_fetched,
            s.metadata_files,
            net.range_reads,
            s.downloads,
            s.sandbox_runs,
            s.cache_hits,
            net.requests,
            net.retries
        );
    }
    Ok(EXIT_OK)
}

/// The environments of the lock: `--universal` (the projects' `requires-python` narrowing
/// the default Python versions), the platforms and versions named, or the default target.
/// Every project input must admit every environment's Python.
fn lock_matrix(
    settings: &Settings,
    targets: &[Target],
    requires_python: &[(String, String)],
) -> Result<Matrix, Error> {
    let specifiers: Vec<pep440_rs::VersionSpecifiers> = requires_python
        .iter()
        .filter_map(|(_, rp)| pep440_rs::VersionSpecifiers::from_str(rp).ok())
        .collect();
    let combined: pep440_rs::VersionSpecifiers =
        specifiers.iter().flat_map(|s| s.iter().cloned()).collect();
    let matrix = if settings.universal {
        Matrix::universal(targets, &settings.pythons, Some(&combined))?
    } else {
        let pythons = if settings.pythons.is_empty() {
            vec![TargetEnv::default().python]
        } else {
            settings.pythons.clone()
        };
        Matrix::new(targets, &pythons)?
    };
    for (origin, rp) in requires_python {
        for env in matrix.envs() {
            if !env.admits(rp) {
                return Err(usage(format!(
                    "{origin} requires Python {rp}; the lock is for {} (see --python-version)",
                    env.describe()
                )));
            }
        }
    }
    Ok(matrix)
}

/// Says which pins needed build help in the sandbox (their sdists will likely not build
/// with pip or uv on the target); with `strict`, refuses the lock: `Some(exit status)`.
fn report_build_help(
    resolution: &Resolution,
    matrix: &Matrix,
    strict: bool,
    quiet: bool,
) -> Option<u8> {
    let helped: Vec<_> = resolution
        .packages
        .iter()
        .filter(|p| !p.caveats.is_empty())
        .collect();
    if helped.is_empty() || (quiet && !strict) {
        return None;
    }
    let count = helped.len();
    eprintln!(
        "sdistill: {}: {count} pin{} needed build help in the sandbox; pip or uv will likely fail to build {} on {}:",
        if strict { "error" } else { "warning" },
        if count == 1 { "" } else { "s" },
        if count == 1 { "it" } else { "them" },
        matrix.describe()
    );
    for p in helped {
        eprintln!(
            "  {} {} ({}): {}",
            p.name,
            p.version,
            p.metadata_source
                .as_ref()
                .map(|m| shown(&m.file))
                .unwrap_or_default(),
            shown(&p.caveats.join("; "))
        );
    }
    if strict {
        eprintln!("sdistill: --strict: no lock written; pin versions that build on the target, or use wheels (--only-binary)");
        return Some(EXIT_FAILED);
    }
    None
}

/// The command line as the lock header records it: each argument with the credentials in
/// its URLs redacted (`--index-url=https://user:****@host/`), then quoted so that the line
/// can be pasted back into a POSIX shell.
fn header_command(args: impl IntoIterator<Item = String>) -> String {
    args.into_iter()
        .map(|arg| {
            let arg = crate::index::redact_urls(&arg);
            match shlex::try_quote(&arg) {
                Ok(quoted) => quoted.into_owned(),
                // Only a NUL byte is refused, and an argument cannot contain one.
                Err(_) => arg.escape_default().to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_command_is_quoted_and_redacted() {
        let args = [
            "sdistill",
            "lock",
            "--index-url=https://__token__:s3cret@host.invalid/simple/",
            "--extra-index-url",
            "https://tok3n@other.invalid/simple/",
            "util; python_version >= '3.10'",
            "-o",
            "my lock.txt",
        ]
        .map(String::from);
        let line = header_command(args);
        assert!(
            !line.contains("s3cret") && !line.contains("tok3n"),
            "{line}"
        );
        assert_eq!(
            shlex::split(&line).unwrap(),
            [
                "sdistill",
                "lock",
                "--index-url=https://__token__:****@host.invalid/simple/",
                "--extra-index-url",
                "https://****@other.invalid/simple/",
                "util; python_version >= '3.10'",
                "-o",
                "my lock.txt",
            ]
        );
    }
}
