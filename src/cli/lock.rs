//! `sdistill lock`: requirements in, a hash-pinned lock out, no package code on the host.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::{check_dirs, shown, LimitArgs, EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::error::Error;
use crate::inspect::{Options, SandboxMode};
use crate::sandbox::{runtime, Notify, SandboxConfig};

#[derive(Debug, Args)]
pub(super) struct LockArgs {
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
        Ok(()) => EXIT_OK,
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

fn lock_inner(args: &LockArgs) -> Result<(), Error> {
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

    let progress = std::io::stderr().is_terminal() && super::level() == super::Level::Normal;
    let notify = if super::level() != super::Level::Normal {
        super::stderr_notify()
    } else if progress {
        Notify::to(|line| {
            let line: String = shown(line).chars().take(100).collect();
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
    };
    let mut indexes = vec![args.index_url.clone()];
    indexes.extend(args.extra_index_url.iter().cloned());
    let provider = IndexProvider::new(&indexes, options, args.offline, notify.clone())?;
    let outcome = resolve::resolve(&request, &provider, &notify);
    if progress {
        eprint!("\r\x1b[K");
    }
    let resolution = outcome?;
    for w in resolution
        .warnings
        .iter()
        .filter(|_| super::level() != super::Level::Quiet)
    {
        eprintln!("sdistill: warning: {}", shown(w));
    }
    let command =
        header_command(std::iter::once("sdistill".to_string()).chain(super::command_args()));
    let text = resolve::output::render(&resolution, &env, &command)?;
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
    Ok(())
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
