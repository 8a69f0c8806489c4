//! What a server is told: where to listen, which upstreams to proxy, how sdists are
//! inspected, and every limit, each with a default that is safe for a shared server.

use std::net::SocketAddr;
use std::time::Duration;

use crate::inspect::Options;

use super::gate::Gate;

/// The default listen address: loopback only. Listening elsewhere is the operator's
/// explicit choice (the server has no authentication of its own).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8658";

/// Whether sdist files are handed out at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SdistDownloads {
    /// Only sdists sdistill answered for (the default): the bytes of an sdist it cannot
    /// answer for never leave the server, so no client can build it instead.
    #[default]
    Answered,
    /// Never: resolution needs only metadata files; a client that downloads sdists anyway
    /// (pip before 25.3 at the end of `install --dry-run`, `pip download`, uv) gets a
    /// refusal instead of something it would build on the host.
    Never,
}

/// Every bound the server keeps.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// HTTP connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Largest request head (request line and headers); larger ones get 431.
    pub max_request_head: usize,
    /// Time a client has to send its request head.
    pub header_timeout: Duration,
    /// Time a write to a client may stay blocked (the client reads nothing) before the
    /// connection is closed and what its response held is given back.
    pub send_timeout: Duration,
    /// Largest distribution file proxied (as stated by the upstream and as counted).
    pub max_file_size: u64,
    /// Disk the kept copies of distribution files may take ([`super::disk_budget`]).
    pub max_cache_size: u64,
    /// Deadline for one upstream page request.
    pub upstream_timeout: Duration,
    /// How long an upstream project page is reused before it is fetched again.
    pub page_ttl: Duration,
    /// How long the upstream's project list is reused.
    pub project_list_ttl: Duration,
    /// Largest project list accepted from an upstream.
    pub max_project_list: u64,
    /// How long a refusal for an sdist whose build failed is remembered (a failure that
    /// may be transient — the upstream, the host — is remembered for a few seconds only).
    pub failure_ttl: Duration,
    /// Project pages kept in memory.
    pub max_pages: usize,
    /// Metadata answers kept in memory (the metadata cache on disk keeps all of them).
    pub max_answers: usize,
    /// How long in-flight requests may finish after SIGINT/SIGTERM.
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_request_head: 16 * 1024,
            header_timeout: Duration::from_secs(15),
            send_timeout: Duration::from_secs(60),
            max_file_size: crate::index::MAX_DOWNLOAD,
            max_cache_size: 16 * 1024 * 1024 * 1024,
            upstream_timeout: Duration::from_secs(60),
            page_ttl: Duration::from_secs(60),
            project_list_ttl: Duration::from_secs(600),
            max_project_list: 256 * 1024 * 1024,
            failure_ttl: Duration::from_secs(600),
            max_pages: 10_000,
            max_answers: 100_000,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Everything a [`super::Server`] needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Upstream indexes (PEP 691 JSON or PEP 503 HTML base URLs), in priority order:
    /// merged file by file as `lock` merges `--index-url` and `--extra-index-url`.
    pub upstreams: Vec<String>,
    /// How sdists are inspected: limits, target platform, runtime, work dir. The metadata
    /// cache is used (answers are shared with `inspect` and `lock`).
    pub options: Options,
    /// sdist inspections at once (each may run a sandbox guest).
    pub jobs: usize,
    /// The server's own limits.
    pub limits: ServeLimits,
    /// Whether sdist files are handed out.
    pub sdist_downloads: SdistDownloads,
    /// What an answer must pass before it is served.
    pub gate: Gate,
}

impl ServeConfig {
    /// A configuration with safe defaults for `upstreams`.
    pub fn new(upstreams: Vec<String>, options: Options) -> Self {
        Self {
            // A constant that parses: a literal socket address.
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8658))),
            upstreams,
            options,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            limits: ServeLimits::default(),
            sdist_downloads: SdistDownloads::default(),
            gate: Gate::default(),
        }
    }
}
