//! Saying "no" so that every client stops, and says why.
//!
//! What clients do with a failed `.metadata` request decides whether a refusal protects
//! anyone (measured with `benches/serve_clients.py`; README, "What each client does"):
//!
//! - pip (23.2 to 26.3, `install`, `download`, and pip-compile on it) stops on any 4xx
//!   and prints the status line's reason phrase and the URL; it retries 500, 502 (26.x),
//!   503 for ~9 s and then prints only "too many 5xx error responses".
//! - Poetry (2.5) treats any error status as "no metadata file" and downloads the sdist to
//!   build it; it stops only when the sdist download fails too (and then prints the reason).
//! - PDM (2.29) ignores the status and parses the body as metadata: a plain-text error
//!   body becomes a package with no dependencies, silently.
//! - uv (0.13) ignores sdist metadata files; it builds every sdist it needs unless the
//!   download fails.
//!
//! Hence a refusal is a 422 (no client retries it or asks for credentials) whose reason
//! phrase carries the file and the reason; its body is shaped as core metadata whose only
//! requirement can never parse (PDM rejects the candidate: "Invalid metadata in ...");
//! and the sdist's own download is refused the same way (Poetry and uv stop there).

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};

use crate::error::Error;

/// The status of every refusal.
pub const STATUS: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// Longest reason phrase sent (clients print it on one line).
const MAX_REASON: usize = 400;

/// Why the server will not answer for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The file it is about (a validated distribution file name).
    pub filename: String,
    /// A stable machine-readable kind: an [`Error::kind`], `gate:<kind>`, `not-listed`,
    /// `sdist-downloads`.
    pub kind: String,
    /// What went wrong, for people (one line, untrusted parts escaped).
    pub message: String,
    /// Whether asking again soon may give another result (the upstream or the host
    /// failed, not the sdist).
    pub transient: bool,
}

impl Refusal {
    /// A refusal for `filename` because inspecting it failed with `error`.
    pub fn from_error(filename: &str, error: &Error) -> Self {
        let transient = matches!(
            error,
            Error::Index { .. }
                | Error::Io { .. }
                | Error::Runtime { .. }
                | Error::Sandbox { .. }
                | Error::Internal { .. }
                | Error::UnsafeDirectory { .. }
                | Error::Limit {
                    limit: crate::limits::LimitKind::FileCache,
                    ..
                }
        );
        Self {
            filename: filename.to_string(),
            kind: error.kind().to_string(),
            message: hide_urls(&error.to_string()),
            transient,
        }
    }

    /// A refusal of another kind.
    pub fn new(filename: &str, kind: &str, message: impl Into<String>, transient: bool) -> Self {
        Self {
            filename: filename.to_string(),
            kind: kind.to_string(),
            message: message.into(),
            transient,
        }
    }

    /// The one line a client shows: `sdistill cannot answer for FILE (KIND): MESSAGE`,
    /// printable ASCII only (an HTTP/1.1 reason phrase allows nothing else safely), cut
    /// to a few hundred characters.
    pub fn line(&self) -> String {
        let full = format!(
            "sdistill cannot answer for {} ({}): {}",
            self.filename, self.kind, self.message
        );
        let mut out: String = full
            .chars()
            .map(|c| match c {
                c if c.is_whitespace() => ' ',
                c if c.is_ascii_graphic() => c,
                _ => '?',
            })
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if out.len() > MAX_REASON {
            out.truncate(MAX_REASON - 3);
            out.push_str("...");
        }
        out
    }

    /// The answer to a `.metadata` request: 422 with the reason phrase, and a body shaped
    /// as core metadata of `name` `version` whose only requirement is the reason with a
    /// leading `!`, which no requirement parser accepts — a client that ignores the status
    /// and parses the body (PDM) rejects it instead of reading "no dependencies".
    pub fn metadata_response(&self, name: &str, version: &str) -> Response<Body> {
        let body = format!(
            "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Dist: !{}\n",
            self.line()
        );
        self.response(body)
    }

    /// The answer to a file request: 422 with the reason phrase and the reason as text.
    pub fn file_response(&self) -> Response<Body> {
        self.response(format!("{}\n", self.line()))
    }

    fn response(&self, body: String) -> Response<Body> {
        let line = self.line();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = STATUS;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(kind) = HeaderValue::from_str(&ascii_token(&self.kind)) {
            headers.insert("x-sdistill-error", kind);
        }
        if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(line.into_bytes()) {
            response.extensions_mut().insert(reason);
        }
        response
            .extensions_mut()
            .insert(super::access_log::Note(format!(
                "refused {} ({})",
                self.filename,
                ascii_token(&self.kind)
            )));
        response
    }
}

/// `text` with every URL in it replaced by `<upstream>`: messages for clients never name
/// an upstream's URLs (a private index may carry a token in its path, not only in its
/// user info). The access log keeps them, with credentials redacted.
pub fn hide_urls(text: &str) -> String {
    crate::index::replace_urls(text, |_| "<upstream>".to_string())
}

/// `text` reduced to the characters of an HTTP token (a kind name is one already).
fn ascii_token(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '_' | '.'))
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_printable_ascii_and_short() {
        let r = Refusal::new(
            "demo-1.0.tar.gz",
            "setup-failed",
            "boom\r\nX-Evil: 1\u{1b}[31m\u{202e} é".repeat(40),
            false,
        );
        let line = r.line();
        assert!(line.len() <= MAX_REASON, "{}", line.len());
        assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b)), "{line}");
        assert!(line
            .starts_with("sdistill cannot answer for demo-1.0.tar.gz (setup-failed): boom X-Evil"));
        assert!(hyper::ext::ReasonPhrase::try_from(line.into_bytes()).is_ok());
    }

    #[test]
    fn messages_name_no_upstream_url() {
        assert_eq!(
            hide_urls("index: https://u:p@h.invalid/tok3n/simple/x/: status 500"),
            "index: <upstream> status 500"
        );
        assert_eq!(hide_urls("no url here"), "no url here");
    }

    #[test]
    fn the_metadata_body_never_parses_as_a_requirement() {
        let r = Refusal::new("demo-1.0.tar.gz", "setup-failed", "requests>=2", false);
        let response = r.metadata_response("demo", "1.0");
        assert_eq!(response.status(), STATUS);
        assert!(response
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .is_some());
        let line = format!("!{}", r.line());
        assert!(crate::metadata::parse_requirement(&line).is_err());
    }
}
