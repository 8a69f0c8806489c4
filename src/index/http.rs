//! The HTTP layer of the index client: one connection-reusing agent per index, per-phase
//! timeouts, and bounded retries of transient failures.
//!
//! A lock makes hundreds of requests; on a cold cache its wall time is their latency.
//! What this module guarantees:
//!
//! - **Connections are reused.** The agent keeps up to [`IDLE_PER_HOST`] idle connections
//!   per host, more than the resolver's worker threads, so a TLS handshake is paid once per
//!   connection, not once per request.
//! - **A stalled request ends.** Besides the connect timeout, the time to the response's
//!   head and every single read of its body are bounded ([`STALL_TIMEOUT`]): a connection that stops delivering fails within seconds instead
//!   of holding a worker for the 10-minute overall limit, and the request is retried.
//! - **Transient failures are retried, boundedly.** Connection resets, truncated bodies,
//!   timeouts, `5xx`, `408` and `429` are retried up to [`MAX_RETRIES`] times with
//!   exponential backoff, honouring `Retry-After` up to [`MAX_RETRY_AFTER`]; anything else
//!   (`404`, `403`, TLS errors, a body over its limit) fails at once. Every retry is
//!   counted and described ([`NetStats`]), so a lock reports what the network did.
//! - The request's own deadline (an sdist's `--timeout`, when a build requirement is
//!   fetched for it) bounds all attempts together.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::tls::{RootCerts, TlsConfig};
use ureq::Agent;

use super::redact_url;
use crate::error::{Error, Result};

/// Connection establishment (TCP and TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence while a response body is read (no byte for this long is a stall);
/// twice this from the request sent to the response's head. `SDISTILL_HTTP_TIMEOUT`
/// (seconds) changes it, for slow links and for tests.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// [`STALL_TIMEOUT`], or `SDISTILL_HTTP_TIMEOUT` when it is a number of seconds in
/// (0, 3600].
fn stall_timeout() -> Duration {
    std::env::var("SDISTILL_HTTP_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(STALL_TIMEOUT)
}
/// Everything one attempt may take (a multi-gigabyte wheel over a slow link).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(600);
/// Retries after the first attempt.
pub const MAX_RETRIES: u32 = 3;
/// The first backoff; it doubles with each retry.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest `Retry-After` honoured; a server asking for more fails the request.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Idle connections kept per host (the resolver runs 16 workers).
pub const IDLE_PER_HOST: usize = 32;

/// What one client did on the network: requests, retries and why, range reads.
#[derive(Debug, Default)]
pub struct NetStats {
    /// HTTP requests sent (every attempt).
    pub requests: AtomicUsize,
    /// Attempts that were retried.
    pub retries: AtomicUsize,
    /// Requests with a `Range` header.
    pub range_requests: AtomicUsize,
    /// Wheels whose METADATA was read with range requests.
    pub range_reads: AtomicUsize,
    /// Range reads given up for a full download (no range support, over a cap, a zip
    /// the range reader could not read).
    pub range_fallbacks: AtomicUsize,
    /// Body bytes received.
    pub bytes: AtomicU64,
    /// Why each retry happened (`url: reason`), in order, credentials redacted.
    pub retried: Mutex<Vec<String>>,
}

impl NetStats {
    /// A snapshot of the counters.
    pub fn snapshot(&self) -> NetSummary {
        NetSummary {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            range_requests: self.range_requests.load(Ordering::Relaxed),
            range_reads: self.range_reads.load(Ordering::Relaxed),
            range_fallbacks: self.range_fallbacks.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            retried: self.retried.lock().map(|r| r.clone()).unwrap_or_default(),
        }
    }
}

/// [`NetStats`] as plain values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetSummary {
    /// HTTP requests sent (every attempt).
    pub requests: usize,
    /// Attempts that were retried.
    pub retries: usize,
    /// Requests with a `Range` header.
    pub range_requests: usize,
    /// Wheels whose METADATA was read with range requests.
    pub range_reads: usize,
    /// Range reads given up for a full download.
    pub range_fallbacks: usize,
    /// Body bytes received.
    pub bytes: u64,
    /// Why each retry happened.
    pub retried: Vec<String>,
}

impl NetSummary {
    /// The sum of two summaries (several indexes).
    pub fn add(&mut self, other: &NetSummary) {
        self.requests += other.requests;
        self.retries += other.retries;
        self.range_requests += other.range_requests;
        self.range_reads += other.range_reads;
        self.range_fallbacks += other.range_fallbacks;
        self.bytes += other.bytes;
        self.retried.extend(other.retried.iter().cloned());
    }
}

/// How an attempt failed.
pub(crate) enum Failure {
    /// Worth another attempt (after at least the given delay, when the server said).
    Transient(String, Option<Duration>),
    /// Final.
    Permanent(Error),
}

impl Failure {
    /// A failure of the client (reading a response, a body) classified by its kind.
    pub(crate) fn from_ureq(url: &str, e: ureq::Error) -> Self {
        let text = super::redact_urls(&e.to_string());
        if transient_error(&e) {
            Failure::Transient(text, None)
        } else {
            Failure::Permanent(Error::Index {
                detail: format!("{}: {text}", redact_url(url)),
            })
        }
    }

    /// A failure while reading a body through `std::io::Read`.
    pub(crate) fn from_io(url: &str, e: io::Error) -> Self {
        let transient = match e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
            Some(inner) => transient_error(inner),
            None => transient_io(e.kind()),
        };
        let text = super::redact_urls(&e.to_string());
        if transient {
            Failure::Transient(text, None)
        } else {
            Failure::Permanent(Error::Index {
                detail: format!("{}: {text}", redact_url(url)),
            })
        }
    }
}

fn transient_io(kind: io::ErrorKind) -> bool {
    use io::ErrorKind::*;
    matches!(
        kind,
        ConnectionReset
            | ConnectionAborted
            | ConnectionRefused
            | BrokenPipe
            | UnexpectedEof
            | TimedOut
            | Interrupted
            | NotConnected
            | WouldBlock
    )
}

fn transient_error(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Io(io) => transient_io(io.kind()),
        // A whole attempt that ran out of time was not a glitch but a body trickling in
        // (a stall would have tripped the per-read timeout): another attempt would cost
        // as long again.
        ureq::Error::Timeout(ureq::Timeout::Global | ureq::Timeout::PerCall) => false,
        ureq::Error::Timeout(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::BodyStalled
        | ureq::Error::Protocol(_) => true,
        _ => false,
    }
}

/// Statuses worth another attempt: the server is overloaded, restarting or limiting us.
fn transient_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` as a delay, in its delay-seconds form (an HTTP-date, rare from package
/// indexes, leaves the exponential backoff in force).
fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// The agent and the counters of one index client.
pub(crate) struct Http {
    agent: Agent,
    pub(crate) stats: Arc<NetStats>,
}

impl Http {
    pub(crate) fn new() -> Self {
        let config = Agent::config_builder()
            .tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::PlatformVerifier)
                    .build(),
            )
            .http_status_as_error(false)
            .timeout_global(Some(ATTEMPT_TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(stall_timeout() * 2))
            .timeout_per_read(Some(stall_timeout()))
            .max_idle_connections(4 * IDLE_PER_HOST)
            .max_idle_connections_per_host(IDLE_PER_HOST)
            .user_agent(concat!("sdistill/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            super::SerialResolver,
        );
        Self {
            agent,
            stats: Arc::new(NetStats::default()),
        }
    }

    /// GETs `url` with `headers`, retrying transient failures; `read` consumes a response
    /// whose status is not retryable (any other status, 404 included, is its to judge)
    /// and says whether a failure reading it is transient. All attempts end by `deadline`.
    pub(crate) fn get<T>(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        deadline: Option<Instant>,
        mut read: impl FnMut(ureq::http::Response<ureq::Body>) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let mut attempt = 0u32;
        loop {
            let mut request = self.agent.get(url);
            for (k, v) in headers {
                request = request.header(*k, *v);
            }
            if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("range")) {
                self.stats.range_requests.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(at) = deadline {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Index {
                        detail: format!("{}: out of time", redact_url(url)),
                    });
                }
                request = request
                    .config()
                    .timeout_global(Some(left.min(ATTEMPT_TIMEOUT)))
                    .build();
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let failure = match request.call() {
                Ok(resp) if transient_status(resp.status().as_u16()) => {
                    let status = resp.status();
                    Failure::Transient(
                        format!(
                            "HTTP {} {}",
                            status.as_u16(),
                            status.canonical_reason().unwrap_or("")
                        ),
                        retry_after(resp.headers()),
                    )
                }
                Ok(resp) => match read(resp) {
                    Ok(value) => return Ok(value),
                    Err(f) => f,
                },
                Err(e) => Failure::from_ureq(url, e),
            };
            let (why, wait) = match failure {
                Failure::Permanent(e) => return Err(e),
                Failure::Transient(why, wait) => (why, wait),
            };
            let backoff = FIRST_BACKOFF * 2u32.pow(attempt);
            let wait = wait.unwrap_or(backoff).max(backoff);
            let give_up = |reason: String| Error::Index {
                detail: format!("{}: {why} ({reason})", redact_url(url)),
            };
            if attempt >= MAX_RETRIES {
                return Err(give_up(format!("{} attempts", attempt + 1)));
            }
            if wait > MAX_RETRY_AFTER {
                return Err(give_up(format!(
                    "the server asks to wait {} s, more than {} s",
                    wait.as_secs(),
                    MAX_RETRY_AFTER.as_secs()
                )));
            }
            if deadline.is_some_and(|at| Instant::now() + wait >= at) {
                return Err(give_up("out of time to retry".to_string()));
            }
            attempt += 1;
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut log) = self.stats.retried.lock() {
                log.push(format!(
                    "{}: {why}; attempt {} of {} after {} ms",
                    redact_url(url),
                    attempt + 1,
                    MAX_RETRIES + 1,
                    wait.as_millis()
                ));
            }
            std::thread::sleep(wait);
        }
    }

    /// Counts body bytes received.
    pub(crate) fn received(&self, n: usize) {
        self.stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A non-success status as a final failure of `url`.
pub(crate) fn status_error(url: &str, status: u16) -> Failure {
    Failure::Permanent(Error::Index {
        detail: format!("{}: http status: {status}", redact_url(url)),
    })
}
