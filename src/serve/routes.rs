//! The URL space, and what each route answers.
//!
//! | route | answer |
//! |---|---|
//! | `/simple/` | the project list of every upstream |
//! | `/simple/<project>/` | the merged project page (JSON or HTML); a non-normalized name redirects |
//! | `/files/<project>/<sha256>/<file>` | the file, if an upstream lists exactly it |
//! | `/files/<project>/<sha256>/<file>.metadata` | its metadata file, or a refusal (422) |
//! | `/health` | `200` and a JSON status, for orchestrators |
//!
//! Every part of a path is validated before it is used (a project name, 64 hex digits, a
//! distribution file name of that project), and the file is looked up on the merged page
//! by name and sha256: no request can make the server fetch anything an upstream does
//! not list. GET and HEAD only; anything else is 405.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use axum::routing::get;
use axum::Router;

use crate::index::Sha256Hex;

use super::access_log::{self, Note};
use super::answers::{Outcome, Via};
use super::files::{self, plain};
use super::negotiate;
use super::pages;
use super::refusal::{hide_urls, Refusal};
use super::SharedState;

/// The server's routes, with the access log around them.
pub fn router(state: SharedState) -> Router {
    let log = state.log.clone();
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/simple", get(root))
        .route("/simple/", get(project_list))
        .route("/simple/{project}", get(project_without_slash))
        .route("/simple/{project}/", get(project_page))
        .route("/files/{project}/{sha256}/{filename}", get(file))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            log,
            access_log::middleware,
        ))
}

async fn root() -> Response<Body> {
    redirect("/simple/")
}

async fn not_found() -> Response<Body> {
    plain(StatusCode::NOT_FOUND, "not found\n")
}

async fn health(State(state): State<SharedState>) -> Response<Body> {
    let body = serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "upstreams": state.upstreams.shown(),
        "jobs": state.config.jobs,
        "sdist_downloads": match state.config.sdist_downloads {
            super::SdistDownloads::Answered => "answered",
            super::SdistDownloads::Never => "never",
        },
    });
    let mut response = Response::new(Body::from(body.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A redirect to `location` (a relative reference, so it works behind a proxy's prefix).
fn redirect(location: &str) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn negotiated(headers: &HeaderMap, uri: &Uri) -> Option<negotiate::Format> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    negotiate::choose(accept, uri.query())
}

fn page_response(format: negotiate::Format, body: impl Into<Body>, max_age: u64) -> Response<Body> {
    let mut response = Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    if let Ok(v) = HeaderValue::from_str(&format!("max-age={max_age}")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    response
}

fn not_acceptable() -> Response<Body> {
    plain(
        StatusCode::NOT_ACCEPTABLE,
        "acceptable: application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html, text/html\n",
    )
}

fn upstream_failed(what: &str, e: &crate::Error) -> Response<Body> {
    let mut response = plain(
        StatusCode::BAD_GATEWAY,
        &format!("{what}: {}\n", hide_urls(&e.to_string())),
    );
    response
        .extensions_mut()
        .insert(Note(format!("upstream failed: {e}")));
    response
}

async fn project_list(
    State(state): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
) -> Response<Body> {
    let Some(format) = negotiated(&headers, &uri) else {
        return not_acceptable();
    };
    match state.upstreams.project_list().await {
        Ok(projects) => page_response(
            format,
            projects.written(format.index(), |names| pages::project_list(names, format)),
            state.config.limits.project_list_ttl.as_secs(),
        ),
        Err(e) => upstream_failed("the project list", &e),
    }
}

async fn project_without_slash(Path(project): Path<String>) -> Response<Body> {
    match crate::dist_filename::project_name(&project) {
        Some(name) => redirect(&format!("/simple/{name}/")),
        None => not_found().await,
    }
}

async fn project_page(
    State(state): State<SharedState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response<Body> {
    let Some(name) = crate::dist_filename::project_name(&project) else {
        return not_found().await;
    };
    if name.as_ref() != project {
        // PEP 503: the normalized name is the one URL of a project.
        return redirect(&format!("../{name}/"));
    }
    let Some(format) = negotiated(&headers, &uri) else {
        return not_acceptable();
    };
    let page = match state.upstreams.page(&name).await {
        Ok(page) => page,
        Err(e) => return upstream_failed(&format!("the page of {name}"), &e),
    };
    if page.files.is_empty() {
        return plain(
            StatusCode::NOT_FOUND,
            &format!("no upstream lists a usable file of {name}\n"),
        );
    }
    let body = pages::project_page(&page, format, |f| {
        state
            .answers
            .metadata_sha256(&f.sha256, f.file.filename.as_str())
    });
    page_response(format, body, state.config.limits.page_ttl.as_secs())
}

async fn file(
    State(state): State<SharedState>,
    Path((project, sha256, filename)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response<Body> {
    let (wanted, metadata) = match filename.strip_suffix(".metadata") {
        Some(dist) => (dist.to_string(), true),
        None => (filename.clone(), false),
    };
    // A metadata request is refused (never 404), so no client takes it for "no metadata
    // file" and builds the sdist instead.
    let refuse = |kind: &str, message: String, transient: bool| {
        let r = Refusal::new(&shown_name(&wanted), kind, message, transient);
        if metadata {
            r.metadata_response(&shown_name(&project), "0")
        } else {
            r.file_response()
        }
    };
    let (Some(name), Ok(sha256)) = (
        crate::dist_filename::project_name(&project).filter(|n| n.as_ref() == project),
        Sha256Hex::parse(&sha256),
    ) else {
        if !metadata {
            return not_found().await;
        }
        return refuse(
            "not-listed",
            "not a file URL this server hands out".into(),
            false,
        );
    };
    let listed = match state.upstreams.find(&name, &sha256, &wanted).await {
        Ok(Some(listed)) => listed,
        Ok(None) if metadata => {
            return refuse(
                "not-listed",
                "no upstream lists this file with this sha256".into(),
                false,
            )
        }
        Ok(None) => return not_found().await,
        Err(e) if metadata => return refuse(e.kind(), hide_urls(&e.to_string()), true),
        Err(e) => return upstream_failed(&format!("the page of {name}"), &e),
    };
    if !metadata {
        return files::serve(&state, listed, &method, &headers).await;
    }
    let Some(client) = state.upstreams.client(listed.upstream) else {
        return refuse("internal", "no such upstream".into(), true);
    };
    let version = listed.file.filename.version().to_string();
    let (outcome, via) = state.answers.answer(&listed, client).await;
    match outcome {
        Outcome::Served(served) => {
            let cached = served.cached || via == Via::Memory;
            let etag = format!("\"{}\"", served.sha256);
            let matches = headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
            let mut response = if matches {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::NOT_MODIFIED;
                r
            } else {
                Response::new(Body::from(served.body.clone()))
            };
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            // The answer may change with sdistill's runtime: revalidate, by ETag.
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            if let Ok(v) = HeaderValue::from_str(&etag) {
                h.insert(header::ETAG, v);
            }
            if let Ok(v) = HeaderValue::from_str(&served.method) {
                h.insert("x-sdistill-method", v);
            }
            h.insert(
                "x-sdistill-cached",
                HeaderValue::from_static(if cached { "true" } else { "false" }),
            );
            response.extensions_mut().insert(Note(format!(
                "metadata {}{}",
                served.method,
                match (via, served.cached) {
                    (Via::Memory, _) => " cached (memory)",
                    (Via::Joined, _) => " (joined)",
                    (Via::Computed, true) => " cached",
                    (Via::Computed, false) => "",
                }
            )));
            response
        }
        Outcome::Refused(refusal) => refusal.metadata_response(
            &shown_name(listed.file.filename.project().as_ref()),
            &version,
        ),
    }
}

/// A name from a request path as it may appear in a refusal: only the characters of
/// distribution file names, cut short.
fn shown_name(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '!'))
        .take(200)
        .collect();
    if kept.is_empty() {
        "unknown".to_string()
    } else {
        kept
    }
}
