//! `sdistill serve`: a package index in front of other indexes that adds a PEP 658/714
//! metadata file next to every sdist and wheel, so that pip, pip-compile, Poetry and PDM
//! learn an sdist's dependencies from sdistill's sandbox instead of building it on the host.
//!
//! The server is a proxy with opinions:
//!
//! | concern | module |
//! |---|---|
//! | what the operator configures: upstreams, listen address, every limit | [`config`] |
//! | the upstream indexes: pages fetched, validated, merged as `lock` merges them, kept briefly | [`upstream`] |
//! | PEP 503 HTML and PEP 691 JSON pages, chosen by content negotiation | [`negotiate`], [`pages`] |
//! | `.metadata`: an sdist through the normal pipeline, a wheel from its metadata file | [`answers`], [`core_metadata`] |
//! | refusing to answer, in a way every client stops on | [`refusal`], [`gate`] |
//! | files: streamed from the upstream, hash-checked before the last byte leaves | [`files`], [`verify`], [`range`] |
//! | the disk kept copies of files may take, least recently used removed first; local copies checked like streams | [`disk_budget`], [`copies`] |
//! | routes, the access log, the accept loop, clients that stop reading, graceful shutdown | [`routes`], [`access_log`], [`server`], [`send_timeout`] |
//!
//! Two rules hold everywhere. **Only configured upstreams are proxied**: a file URL the
//! server hands out names a project, a sha256 and a file name, and is served only if a
//! configured upstream lists exactly that file right now; no URL is ever taken from a
//! request. **Fail closed**: an sdist sdistill cannot answer for gets neither a metadata
//! file nor its bytes, so no client can fall back to building it on the host.

pub mod access_log;
pub mod answers;
pub mod config;
pub mod copies;
pub mod core_metadata;
pub mod disk_budget;
pub mod files;
pub mod gate;
pub mod negotiate;
pub mod pages;
pub mod range;
pub mod refusal;
pub mod routes;
pub mod send_timeout;
pub mod server;
pub mod upstream;
pub mod verify;

use std::sync::Arc;

pub use config::{SdistDownloads, ServeConfig, ServeLimits};
pub use server::Server;

/// What every request handler shares.
pub struct State {
    /// The configuration the server started with.
    pub config: ServeConfig,
    /// The upstream indexes and their pages.
    pub upstreams: upstream::Upstreams,
    /// Metadata answers: computed, remembered, refused.
    pub answers: Arc<answers::Answers>,
    /// Where access-log and event lines go.
    pub log: access_log::Log,
}

/// Shared state, as handlers hold it.
pub type SharedState = Arc<State>;
