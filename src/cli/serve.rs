//! `sdistill serve`: a package index that adds sandbox-made metadata files for sdists.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{
    check_dirs, shown, target, LimitArgs, MachineArg, PlatformArg, EXIT_ENVIRONMENT, EXIT_OK,
};
use crate::inspect::{Options, SandboxMode};
use crate::limits::parse_size;
use crate::sandbox::{runtime, Notify, SandboxConfig};
use crate::serve::{access_log::Log, SdistDownloads, ServeConfig, ServeLimits, Server};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SdistDownloadsArg {
    /// Only sdists sdistill answered for.
    Answered,
    /// None: resolution needs only their metadata files.
    Never,
}

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Upstream index (PEP 691 JSON or PEP 503 HTML), repeatable: files of every upstream
    /// are listed; where two list the same file name, the first one's wins [default: PyPI].
    #[arg(long = "upstream", value_name = "URL")]
    upstreams: Vec<String>,
    /// Address to listen on. Anything but loopback exposes the server to the network
    /// (it has no authentication of its own).
    #[arg(long, default_value = crate::serve::config::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// sdists inspected at once (each may run a sandbox guest) [default: number of cores].
    #[arg(short, long)]
    jobs: Option<usize>,
    /// Whether sdist files are handed out: `answered` (only those sdistill answered for) or
    /// `never` (clients resolve from metadata files alone).
    #[arg(long, value_enum, default_value = "answered")]
    sdist_downloads: SdistDownloadsArg,
    /// HTTP connections served at once.
    #[arg(long, default_value_t = ServeLimits::default().max_connections)]
    max_connections: usize,
    /// Largest distribution file proxied.
    #[arg(long, value_parser = parse_size, default_value = "4GiB")]
    max_file_size: u64,
    /// Disk the server's copies of distribution files may take; the least recently used
    /// are removed to make room, and a transfer that cannot have room is not kept.
    #[arg(long, value_parser = parse_size, default_value = "16GiB")]
    max_cache_size: u64,
    /// Seconds a response may wait for its client to read before the connection is closed
    /// (a client that stops reading would hold a copy and room in the file cache).
    #[arg(long, default_value_t = ServeLimits::default().send_timeout.as_secs())]
    send_timeout: u64,
    /// Seconds an upstream project page is reused.
    #[arg(long, default_value_t = ServeLimits::default().page_ttl.as_secs())]
    page_ttl: u64,
    /// Seconds a refusal for an sdist whose build failed is remembered.
    #[arg(long, default_value_t = ServeLimits::default().failure_ttl.as_secs())]
    failure_ttl: u64,
    /// Refuse the metadata (and the file) of an sdist whose build code reached this
    /// behaviour level, naming what it tried: clients stop instead of resolving it.
    #[arg(long, value_enum, value_name = "LEVEL")]
    fail_on: Option<super::FailOn>,
    /// Seconds requests in progress may finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = ServeLimits::default().shutdown_grace.as_secs())]
    shutdown_grace: u64,
    /// The platform setup.py should see (sys.platform, os.name, platform.system()).
    #[arg(long, value_enum, default_value = "linux")]
    target_platform: PlatformArg,
    /// The CPU architecture setup.py should see (platform.machine()).
    #[arg(long, value_enum, default_value = "x86_64")]
    target_machine: MachineArg,
    /// Do not download the runtime if it is missing (build requirements come from the
    /// cache only).
    #[arg(long)]
    offline: bool,
    /// Index for the runtime and for build requirements [default: the first upstream].
    #[arg(long, env = "SDISTILL_INDEX_URL")]
    index_url: Option<String>,
    /// Directory holding sdistill's caches (default: the user cache dir); several servers
    /// may share one.
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

pub(super) fn serve(args: ServeArgs) -> u8 {
    if let Err(code) = check_dirs(args.cache_dir.as_deref(), args.work_dir.as_deref(), true) {
        return code;
    }
    let upstreams = if args.upstreams.is_empty() {
        vec![runtime::DEFAULT_INDEX_URL.to_string()]
    } else {
        args.upstreams.clone()
    };
    let log = Log::stderr();
    let options = Options {
        limits: args.limits.to_limits(),
        sandbox: SandboxMode::Auto,
        sandbox_config: SandboxConfig {
            runtime_dir: args.runtime.clone(),
            cache_dir: args.cache_dir.clone(),
            index_url: args
                .index_url
                .clone()
                .unwrap_or_else(|| upstreams[0].clone()),
            auto_install: !args.offline,
            notify: Notify::to(|line| eprintln!("sdistill: {}", shown(line))),
        },
        target: target(args.target_platform, args.target_machine),
        work_dir: args.work_dir.clone(),
        cache: true,
        observe: false,
    };
    let mut config = ServeConfig::new(upstreams, options);
    config.listen = args.listen;
    config.gate.fail_on = args.fail_on.map(|f| f.level());
    if let Some(jobs) = args.jobs {
        config.jobs = jobs.max(1);
    }
    config.sdist_downloads = match args.sdist_downloads {
        SdistDownloadsArg::Answered => SdistDownloads::Answered,
        SdistDownloadsArg::Never => SdistDownloads::Never,
    };
    config.limits = ServeLimits {
        max_connections: args.max_connections.max(1),
        max_file_size: args.max_file_size,
        max_cache_size: args.max_cache_size,
        page_ttl: Duration::from_secs(args.page_ttl),
        send_timeout: Duration::from_secs(args.send_timeout.max(1)),
        failure_ttl: Duration::from_secs(args.failure_ttl),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        ..ServeLimits::default()
    };
    if !args.listen.ip().is_loopback() {
        log.event(&format!(
            "warning: listening on {}, beyond this machine; the server has no authentication (put it behind a proxy that has)",
            args.listen
        ));
    }
    let server = match Server::bind(config, log.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sdistill: {}", shown(&e.to_string()));
            return EXIT_ENVIRONMENT;
        }
    };
    let addr = match server.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sdistill: {}", shown(&e.to_string()));
            return EXIT_ENVIRONMENT;
        }
    };
    log.event(&format!(
        "serving http://{addr}/simple/ (upstreams: {}; sdists inspected at once: {})",
        server.upstreams().join(", "),
        args.jobs.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |j| j.max(1)
        )
    ));
    match server.run(shutdown_signal(log.clone())) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("sdistill: {}", shown(&e.to_string()));
            EXIT_ENVIRONMENT
        }
    }
}

/// Completes on the first SIGINT, SIGTERM or SIGHUP. A second signal during the drain
/// stops the process at once (after removing its work dirs), as a user pressing Ctrl-C
/// twice expects.
async fn shutdown_signal(log: Log) {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::interrupt(), 2),
        (SignalKind::terminate(), 15),
        (SignalKind::hangup(), 1),
    ];
    let mut streams = Vec::new();
    for (kind, number) in kinds {
        match signal(kind) {
            Ok(s) => streams.push((s, number)),
            Err(e) => log.event(&format!("cannot watch signal {number}: {e}")),
        }
    }
    let (number, _, _) = any_signal(&mut streams).await;
    log.event(&format!("signal {number} received"));
    tokio::spawn(async move {
        let (again, _, _) = any_signal(&mut streams).await;
        crate::sandbox::shutdown();
        crate::dirs::work::cleanup();
        std::process::exit(128 + again);
    });
}

type Watched = Vec<(tokio::signal::unix::Signal, i32)>;

/// The first of `streams` to deliver a signal, and its number.
fn any_signal(
    streams: &mut Watched,
) -> futures_util::future::SelectAll<
    std::pin::Pin<Box<dyn std::future::Future<Output = i32> + Send + '_>>,
> {
    let futures: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = i32> + Send + '_>>> =
        streams
            .iter_mut()
            .map(|(s, n)| {
                let n = *n;
                Box::pin(async move {
                    s.recv().await;
                    n
                })
                    as std::pin::Pin<Box<dyn std::future::Future<Output = i32> + Send + '_>>
            })
            .collect();
    futures_util::future::select_all(futures)
}
