//! One line on stderr per request, written when its response has been sent (or given up),
//! and event lines for what an operator should know (refused upstream files, sdists that
//! could not be answered).
//!
//! Every line passes through the same filter as the rest of sdistill's stderr: URLs have
//! their credentials redacted, control characters and bidi overrides are escaped, so a
//! request path or an upstream's file name cannot forge log lines or drive a terminal.
//! Request headers (where credentials travel) are never logged.
//!
//! Format: `sdistill: ACCESS <peer> "<method> <path>" <status> <bytes>B <ms>ms[ <note>]`
//! (milliseconds with two decimals, from the request to the end of its body),
//! where bytes are the body bytes the client was sent and the note says what the server
//! did (`metadata sandbox-egg-info cached`, `refused FILE (setup-failed)`, `file from
//! cache`), then `broken: REASON` when the server broke a transfer off (a file that did
//! not match its sha256) or `aborted` when the client went away first.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, Response};
use axum::middleware::Next;
use http_body::{Frame, SizeHint};

/// Where lines go.
#[derive(Clone)]
pub struct Log {
    sink: Arc<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Log")
    }
}

impl Log {
    /// Lines to stderr, prefixed `sdistill: `.
    pub fn stderr() -> Self {
        Self::to(|line| eprintln!("sdistill: {line}"))
    }

    /// Lines to `sink` (tests collect them).
    pub fn to(sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            sink: Arc::new(sink),
        }
    }

    /// An event line, sanitized.
    pub fn event(&self, line: &str) {
        (self.sink)(&shown(line));
    }
}

/// A line as it may be written: credentials redacted, control characters escaped.
fn shown(line: &str) -> String {
    crate::report::sanitize(&crate::index::redact_urls(line))
}

/// What the server did for a request, attached to its response for the access log.
#[derive(Debug, Clone)]
pub struct Note(pub String);

/// The peer of a connection, attached to each of its requests.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Logs one line per request once its body is done; see the module docs.
pub async fn middleware(
    axum::extract::State(log): axum::extract::State<Log>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let started = Instant::now();
    let peer = request
        .extensions()
        .get::<Peer>()
        .map_or_else(|| "-".to_string(), |p| p.0.to_string());
    let target = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_string(),
        |p| p.as_str().to_string(),
    );
    let method = request.method().clone();
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let note = parts.extensions.get::<Note>().map(|n| n.0.clone());
    let line = Line {
        log,
        started,
        head: format!("{peer} \"{method} {target}\" {}", parts.status.as_u16()),
        note,
        sent: AtomicU64::new(0),
        failed: std::sync::Mutex::new(None),
        // hyper never polls the body of a response to HEAD.
        finished: std::sync::atomic::AtomicBool::new(method == Method::HEAD),
    };
    Response::from_parts(parts, Body::new(Logged { inner: body, line }))
}

/// The pending access-log line of one request, written on drop.
struct Line {
    log: Log,
    started: Instant,
    head: String,
    note: Option<String>,
    sent: AtomicU64,
    failed: std::sync::Mutex<Option<String>>,
    finished: std::sync::atomic::AtomicBool,
}

impl Drop for Line {
    fn drop(&mut self) {
        let mut line = format!(
            "ACCESS {} {}B {:.2}ms",
            self.head,
            self.sent.load(Ordering::Relaxed),
            self.started.elapsed().as_secs_f64() * 1000.0
        );
        if let Some(note) = &self.note {
            line.push(' ');
            line.push_str(note);
        }
        let failed = self.failed.lock().map(|f| f.clone()).unwrap_or_default();
        if let Some(reason) = failed {
            line.push_str(&format!(" broken: {reason}"));
        } else if !self.finished.load(Ordering::Relaxed) {
            line.push_str(" aborted");
        }
        self.log.event(&line);
    }
}

/// A response body that counts what it sends and logs the request when it ends.
struct Logged {
    inner: Body,
    line: Line,
}

impl http_body::Body for Logged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.line
                        .sent
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                if let Ok(mut failed) = self.line.failed.lock() {
                    *failed = Some(e.to_string());
                }
            }
            Poll::Ready(None) => self.line.finished.store(true, Ordering::Relaxed),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            self.line.finished.store(true, Ordering::Relaxed);
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
