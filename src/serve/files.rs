//! Distribution files: from the cache when a verified copy is there, else streamed from
//! the upstream that lists them — checked against the listed sha256 before the last byte
//! reaches the client ([`super::verify`]) and kept in the cache once they matched.
//!
//! An sdist is handed out only after sdistill answered for it (or never, with
//! `--sdist-downloads never`): a client that ignores metadata files (uv) or falls back to
//! building when one is refused (Poetry) cannot get the bytes of an sdist sdistill could
//! not answer for, so it cannot build it on the host either.
//!
//! A `Range` request is served from a local copy whose sha256 was checked first
//! (downloaded whole if need be), so no part of a file that does not match is ever sent.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::access_log::Note;
use super::answers::Outcome;
use super::config::SdistDownloads;
use super::disk_budget::GROWTH;
use super::range::{self, Ranged};
use super::refusal::{hide_urls, Refusal};
use super::upstream::PageFile;
use super::verify::{self, Expected, Head, Tee, CHUNK, IN_FLIGHT};
use super::SharedState;

/// Answers a request for one listed file.
pub async fn serve(
    state: &SharedState,
    file: PageFile,
    method: &Method,
    headers: &HeaderMap,
) -> Response<Body> {
    let name = file.file.filename.as_str().to_string();
    let Some(client) = state.upstreams.client(file.upstream) else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "no such upstream\n");
    };
    if !file.file.filename.is_wheel() {
        if state.config.sdist_downloads == SdistDownloads::Never {
            return Refusal::new(
                &name,
                "sdist-downloads",
                "this server hands out no sdists (--sdist-downloads never); resolvers read their metadata files",
                false,
            )
            .file_response();
        }
        if let (Outcome::Refused(refusal), _) = state.answers.answer(&file, client.clone()).await {
            return refusal.file_response();
        }
    }
    let expected = Expected {
        sha256: file.sha256.clone(),
        size: file.file.size,
        max: state.config.limits.max_file_size,
    };
    if let Some(size) = expected.size.filter(|s| *s > expected.max) {
        return Refusal::new(
            &name,
            "limit",
            format!(
                "the file is {size} bytes, more than --max-file-size ({})",
                expected.max
            ),
            false,
        )
        .file_response();
    }
    if *method == Method::HEAD {
        return head_only(&file);
    }
    let wants_range = headers.contains_key(header::RANGE) && if_range_matches(headers, &file);
    if wants_range {
        return ranged(state, file, client, headers).await;
    }
    let files = state.answers.files().clone();
    let dir = match files.file_dir(&file.sha256) {
        Ok(dir) => dir,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("cache: {e}\n")),
    };
    let (head_tx, head_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let url = file.file.url.clone();
    let budget = state.answers.budget().clone();
    // Pinned, then opened once, here: the copy is not removed while it streams (a
    // removed copy still open would take disk the budget no longer counts), and the
    // stream ends at the latest when the client stops reading for --send-timeout.
    let in_use = budget.pin(&file.sha256, &name);
    let cached = dir.open(&name).ok();
    let note = if cached.is_some() {
        "file from cache"
    } else {
        "file from upstream"
    };
    let sha256 = file.sha256.clone();
    tokio::task::spawn_blocking(move || {
        if let Some(source) = cached {
            let _in_use = in_use;
            // Most recently used now: the last the budget would remove.
            budget.touch(&sha256, &name);
            // The copy's own size: its sha256 is what was checked when it was kept, and
            // is checked again as it streams.
            let size = source.metadata().ok().map(|m| m.len());
            let expected = Expected {
                size: size.or(expected.size),
                ..expected
            };
            if let verify::Ending::Failed(_) = verify::pump(source, &expected, None, head_tx, tx) {
                // A damaged copy is never served twice.
                let _ = dir.remove_file(&name);
                budget.forget(&sha256, &name);
            }
            return;
        }
        drop(in_use);
        match client.open(&url, None) {
            Ok(download) => {
                if let (Some(listed), Some(sent)) = (expected.size, download.length) {
                    if listed != sent {
                        let _ = head_tx.send(Head::Failed(format!(
                            "the upstream sends {sent} bytes, its page lists {listed}"
                        )));
                        return;
                    }
                }
                let expected = Expected {
                    size: expected.size.or(download.length),
                    ..expected
                };
                // Kept only if the budget has room for it; the client is served anyway.
                // Without a size, room is reserved a step at a time as bytes arrive.
                let first = expected.size.unwrap_or(GROWTH).min(expected.max);
                let tee = budget
                    .reserve(first)
                    .and_then(|room| Tee::new(dir, &sha256, &name, room));
                verify::pump(download, &expected, tee, head_tx, tx);
            }
            Err(e) => {
                let _ = head_tx.send(Head::Failed(format!("upstream: {e}")));
            }
        }
    });
    let mut response = match head_rx.await {
        Ok(Head::Whole(bytes)) => file_response(
            StatusCode::OK,
            &file,
            Some(bytes.len() as u64),
            Body::from(bytes),
        ),
        Ok(Head::Streaming { first, size }) => {
            let rest = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            let stream = futures_util::stream::once(async move { Ok::<Bytes, io::Error>(first) })
                .chain(rest);
            file_response(StatusCode::OK, &file, size, Body::from_stream(stream))
        }
        Ok(Head::Failed(reason)) => {
            return with_note(
                plain(
                    StatusCode::BAD_GATEWAY,
                    &format!("{}: {}\n", file.file.filename, hide_urls(&reason)),
                ),
                format!("file {}: {reason}", file.file.filename),
            )
        }
        Err(_) => {
            return plain(
                StatusCode::BAD_GATEWAY,
                "the transfer ended before it began\n",
            )
        }
    };
    response.extensions_mut().insert(Note(note.to_string()));
    response
}

/// Whether an `If-Range` header (if any) names this file: its ETag is its sha256.
fn if_range_matches(headers: &HeaderMap, file: &PageFile) -> bool {
    match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(tag) => tag.trim().trim_start_matches("W/").trim_matches('"') == file.sha256.as_str(),
    }
}

/// A `Range` request: from a local copy verified first.
async fn ranged(
    state: &SharedState,
    file: PageFile,
    client: Arc<crate::index::IndexClient>,
    headers: &HeaderMap,
) -> Response<Body> {
    let copy = match state.answers.local_copy(&file, client).await {
        Ok(copy) => copy,
        Err(e) => {
            // A full file cache is the server's own state, and passes; anything else
            // is the upstream's.
            let status = match e {
                crate::error::Error::Limit { .. } => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_GATEWAY,
            };
            return with_note(
                plain(
                    status,
                    &format!("{}: {}\n", file.file.filename, hide_urls(&e.to_string())),
                ),
                format!("file {}: {e}", file.file.filename),
            );
        }
    };
    let len = copy.size;
    let header_value = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (start, end) = match range::resolve(header_value, len) {
        Ranged::Part { start, end } => (start, end),
        Ranged::Full => (0, len.saturating_sub(1)),
        Ranged::Unsatisfiable => {
            let mut r = plain(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let partial = !(start == 0 && end + 1 == len);
    let count = if len == 0 { 0 } else { end - start + 1 };
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        // Pinned until the slice is sent or the client is gone (at the latest after
        // --send-timeout without progress: the connection is closed, and `tx` fails).
        let _in_use = copy.in_use;
        send_slice(copy.file, start, count, tx)
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let status = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = file_response(status, &file, Some(count), Body::from_stream(stream));
    if partial {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    response
        .extensions_mut()
        .insert(Note(format!("range {start}-{end}/{len} from cache")));
    response
}

/// Sends `count` bytes of the open copy `file` from `start`.
fn send_slice(
    mut file: std::fs::File,
    start: u64,
    count: u64,
    tx: mpsc::Sender<io::Result<Bytes>>,
) {
    let opened = file.seek(SeekFrom::Start(start)).map(|_| file);
    let mut source = match opened {
        Ok(f) => f.take(count),
        Err(e) => {
            let _ = tx.blocking_send(Err(e));
            return;
        }
    };
    loop {
        let mut buf = vec![0u8; CHUNK];
        match source.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
}

/// The headers of a file response, without a body (HEAD): nothing is downloaded.
fn head_only(file: &PageFile) -> Response<Body> {
    file_response(StatusCode::OK, file, file.file.size, Body::empty())
}

fn file_response(
    status: StatusCode,
    file: &PageFile,
    length: Option<u64>,
    body: Body,
) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // The URL names the sha256: its content never changes.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", file.sha256)) {
        headers.insert(header::ETAG, v);
    }
    if let Some(len) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    response
}

/// A short text response.
pub fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(text.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn with_note(mut response: Response<Body>, note: String) -> Response<Body> {
    response.extensions_mut().insert(Note(note));
    response
}
