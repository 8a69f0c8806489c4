//! Manifest lines: untrusted JSON text in, typed entries out.
//!
//! A manifest is written by whoever feeds the scan — a listing of an index, another
//! team's export, a shard a distributed engine cut out of either — so nothing in it is
//! believed until it has been parsed into a type: the `sha256` is a [`Sha256Hex`], the
//! URL a [`url::Url`] with an `http`/`https` scheme whose last path segment is a valid
//! distribution file name ([`DistFilename`], one path component by construction), a path
//! a [`PathBuf`]. Every other field is copied into the result as the JSON value it is and
//! never looked at.
//!
//! A line that cannot be used is a [`LineError`] for that line; the reader goes on with the
//! next one. Lines are read with a length cap ([`MAX_LINE`]) so a manifest without
//! newlines cannot make the reader hold it whole.

use std::io::{self, BufRead};
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::dist_filename::DistFilename;
use crate::index::{redact_url, InvalidSha256, Sha256Hex};

/// Longest manifest line accepted (bytes, without the newline). A URL, a digest and a
/// few fields of the caller's own fit many times over; a longer line is refused without
/// being held in memory.
pub const MAX_LINE: usize = 64 * 1024;

/// The fields sdistill reads; every other field is passed through.
const RESERVED: [&str; 3] = ["url", "sha256", "path"];

/// One manifest line, as far as it could be read: the caller's own fields (passed
/// through even when the entry is refused, so the caller can tell which of its records
/// failed) and the input it names, or why it names none.
#[derive(Debug, Clone)]
pub struct Line {
    /// Every field but `url`, `sha256` and `path`, as JSON values (in key order).
    pub extra: Map<String, Value>,
    /// The input, or why the line gives none.
    pub input: Result<EntryInput, LineError>,
}

/// What one manifest entry asks to inspect.
#[derive(Debug, Clone)]
pub enum EntryInput {
    /// A file to download, verify against `sha256`, inspect and delete.
    Remote(RemoteFile),
    /// A local sdist or wheel (directories are refused: see [`crate::bulk`]).
    Local {
        /// The path as written in the manifest (relative to the working directory).
        path: PathBuf,
        /// A sha256 the file must have, when the entry states one.
        sha256: Option<Sha256Hex>,
    },
}

/// A validated remote entry.
#[derive(Debug, Clone)]
pub struct RemoteFile {
    url: url::Url,
    /// The digest the downloaded bytes must have (and the entry's identity).
    pub sha256: Sha256Hex,
    /// The distribution file name the URL ends with, validated.
    pub filename: DistFilename,
}

impl RemoteFile {
    /// The URL to download (credentials included, for the request only; without any
    /// `#sha256=` fragment).
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The URL as it may be shown or written: credentials redacted.
    pub fn shown(&self) -> String {
        redact_url(self.url.as_str())
    }
}

/// Why a manifest line names no usable input. Messages quote at most an excerpt of the
/// offending value, with control characters escaped and credentials redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line is longer than [`MAX_LINE`] bytes.
    #[error("the line is longer than {max} bytes")]
    TooLong {
        /// The cap.
        max: usize,
    },
    /// The line is not UTF-8 text.
    #[error("the line is not UTF-8 text")]
    NotUtf8,
    /// The line is not JSON.
    #[error("the line is not JSON: {0}")]
    Json(String),
    /// The line is JSON but not an object.
    #[error("the line is not a JSON object")]
    NotObject,
    /// Neither `url` nor `path`.
    #[error("the entry has neither `url` nor `path`")]
    NoInput,
    /// Both `url` and `path`.
    #[error("the entry has both `url` and `path`; one entry names one input")]
    BothInputs,
    /// A reserved field that is not a string.
    #[error("`{0}` must be a string")]
    NotAString(&'static str),
    /// A URL entry without `sha256`: nothing could verify the download.
    #[error(
        "a `url` entry needs `sha256` (64 hex digits): nothing else could verify the download"
    )]
    MissingSha256,
    /// `sha256` is not 64 hex digits.
    #[error("`sha256`: {0}")]
    Sha256(#[from] InvalidSha256),
    /// `url` does not parse.
    #[error("`url` `{url}` is not a URL: {reason}")]
    BadUrl {
        /// The URL, redacted and shortened.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// A URL scheme other than `https`/`http`.
    #[error("`url` must be https:// or http://, not `{0}:`")]
    Scheme(String),
    /// The URL's last segment is not a wheel or sdist file name.
    #[error("the URL's file name `{0}` is not a wheel or sdist file name")]
    FileName(String),
    /// The URL's `#sha256=` fragment names another digest than `sha256`.
    #[error("the URL's #sha256= fragment disagrees with `sha256`")]
    FragmentMismatch,
    /// `path` is empty.
    #[error("`path` is empty")]
    EmptyPath,
}

/// A short, printable excerpt of untrusted text for a message.
fn quoted(text: &str) -> String {
    crate::report::sanitize(&crate::error::excerpt(text, 200))
}

/// Parses one manifest line (without its newline).
pub fn parse_line(bytes: &[u8]) -> Line {
    let no_extra = |e| Line {
        extra: Map::new(),
        input: Err(e),
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return no_extra(LineError::NotUtf8);
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return no_extra(LineError::Json(e.to_string())),
    };
    let Value::Object(mut fields) = value else {
        return no_extra(LineError::NotObject);
    };
    let url = fields.remove("url");
    let sha256 = fields.remove("sha256");
    let path = fields.remove("path");
    debug_assert!(RESERVED.iter().all(|k| !fields.contains_key(*k)));
    Line {
        input: entry_input(url, sha256, path),
        extra: fields,
    }
}

fn string(value: Option<Value>, field: &'static str) -> Result<Option<String>, LineError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(LineError::NotAString(field)),
    }
}

fn entry_input(
    url: Option<Value>,
    sha256: Option<Value>,
    path: Option<Value>,
) -> Result<EntryInput, LineError> {
    let url = string(url, "url")?;
    let path = string(path, "path")?;
    let sha256 = string(sha256, "sha256")?
        .map(|s| Sha256Hex::parse(&s))
        .transpose()?;
    match (url, path) {
        (Some(_), Some(_)) => Err(LineError::BothInputs),
        (None, None) => Err(LineError::NoInput),
        (None, Some(path)) if path.is_empty() => Err(LineError::EmptyPath),
        (None, Some(path)) => Ok(EntryInput::Local {
            path: PathBuf::from(path),
            sha256,
        }),
        (Some(url), None) => {
            let sha256 = sha256.ok_or(LineError::MissingSha256)?;
            remote(&url, sha256).map(EntryInput::Remote)
        }
    }
}

fn remote(text: &str, sha256: Sha256Hex) -> Result<RemoteFile, LineError> {
    let mut url = url::Url::parse(text).map_err(|e| LineError::BadUrl {
        url: quoted(&redact_url(text)),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(LineError::Scheme(quoted(url.scheme())));
    }
    if let Some(fragment) = url.fragment() {
        // pip's `#sha256=` convention: fine when it agrees, refused when it does not
        // (which of the two would be right?). Any other fragment means nothing to a
        // download and is dropped.
        if let Some(hex) = fragment.strip_prefix("sha256=") {
            if Sha256Hex::parse(hex).ok().as_ref() != Some(&sha256) {
                return Err(LineError::FragmentMismatch);
            }
        }
        url.set_fragment(None);
    }
    let last = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let filename =
        crate::fetch::filename_from_url(&last).ok_or_else(|| LineError::FileName(quoted(&last)))?;
    Ok(RemoteFile {
        url,
        sha256,
        filename,
    })
}

/// What one [`read_line`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// The line was longer than the cap: it was consumed, and `buf` is empty.
    pub too_long: bool,
    /// The line ended with a newline (only the last line of an input may not: a writer
    /// killed in the middle of it, or a file that just ends so).
    pub terminated: bool,
}

/// Reads the next line into `buf` (cleared first; without the `\n` or `\r\n`), holding at
/// most `max` bytes of it; `None` at the end of the input.
pub fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<Read>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    let mut terminated = false;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        reader.consume(if done { take + 1 } else { take });
        if done {
            terminated = true;
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if !too_long && buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(Read {
        too_long,
        terminated,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "bbcefdf822eeef2cd04718ebcc24dd2ecf47407258cfcde2b4f95df57ce33a8c";

    fn err(line: &str) -> LineError {
        parse_line(line.as_bytes()).input.unwrap_err()
    }

    #[test]
    fn reads_remote_and_local_entries_and_passes_the_rest_through() {
        let line = format!(
            r#"{{"url": "https://u:secret@files.example/p/Django-1.11.1.tar.gz#sha256={SHA}", "sha256": "{}", "id": 7, "meta": {{"a": [1, null]}}}}"#,
            SHA.to_uppercase()
        );
        let parsed = parse_line(line.as_bytes());
        assert_eq!(parsed.extra.len(), 2);
        assert_eq!(parsed.extra["id"], 7);
        assert_eq!(parsed.extra["meta"]["a"][1], Value::Null);
        let Ok(EntryInput::Remote(r)) = parsed.input else {
            panic!("{parsed:?}")
        };
        assert_eq!(r.sha256.as_str(), SHA);
        assert_eq!(r.filename.as_str(), "Django-1.11.1.tar.gz");
        assert!(!r.url().contains('#'));
        assert!(!r.shown().contains("secret"));
        let local = parse_line(br#"{"path": "dist/x-1.0.tar.gz", "run": "a"}"#);
        assert!(matches!(
            local.input,
            Ok(EntryInput::Local { sha256: None, .. })
        ));
        assert_eq!(local.extra["run"], "a");
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        assert_eq!(err("not json"), err("not json"));
        assert!(matches!(err("not json"), LineError::Json(_)));
        assert_eq!(err("[1]"), LineError::NotObject);
        assert_eq!(err("{}"), LineError::NoInput);
        assert_eq!(err(r#"{"id": 1}"#), LineError::NoInput);
        assert_eq!(
            err(r#"{"url": "https://x/x-1.0.tar.gz", "path": "x"}"#),
            LineError::BothInputs
        );
        assert_eq!(err(r#"{"url": 5}"#), LineError::NotAString("url"));
        assert_eq!(
            err(r#"{"url": "https://x/x-1.0.tar.gz"}"#),
            LineError::MissingSha256
        );
        assert!(matches!(
            err(r#"{"url": "https://x/x-1.0.tar.gz", "sha256": "abc"}"#),
            LineError::Sha256(_)
        ));
        let bad = |url: &str| err(&format!(r#"{{"url": "{url}", "sha256": "{SHA}"}}"#));
        assert!(matches!(
            bad("file:///etc/x-1.0.tar.gz"),
            LineError::Scheme(_)
        ));
        assert!(matches!(bad("ftp://h/x-1.0.tar.gz"), LineError::Scheme(_)));
        assert!(matches!(bad("not a url"), LineError::BadUrl { .. }));
        for name in [
            "x.exe",
            "..",
            "%2e%2e",
            "x-1.0.tar.gz%2f..%2f..",
            "setup.py",
            "",
        ] {
            assert!(
                matches!(bad(&format!("https://h/d/{name}")), LineError::FileName(_)),
                "{name}"
            );
        }
        let other = "0".repeat(64);
        assert_eq!(
            bad(&format!("https://h/x-1.0.tar.gz#sha256={other}")),
            LineError::FragmentMismatch
        );
        assert_eq!(err(r#"{"path": ""}"#), LineError::EmptyPath);
        assert_eq!(
            parse_line(&[0xff, b'{']).input.unwrap_err(),
            LineError::NotUtf8
        );
        // The caller's fields survive a refusal.
        assert_eq!(parse_line(br#"{"id": 3}"#).extra["id"], 3);
        // Credentials never reach a message.
        let msg = bad("https://user:hunter2@h/nothing.txt").to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn lines_are_read_with_a_cap() {
        let text = format!("a\r\n{}\nb\nlast", "x".repeat(100));
        let mut reader = io::BufReader::with_capacity(7, text.as_bytes());
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while let Some(read) = read_line(&mut reader, &mut buf, 10).unwrap() {
            got.push((
                read.too_long,
                read.terminated,
                String::from_utf8(buf.clone()).unwrap(),
            ));
            assert!(buf.len() <= 10);
        }
        let line = |l: bool, t: bool, s: &str| (l, t, s.to_string());
        assert_eq!(
            got,
            vec![
                line(false, true, "a"),
                line(true, true, ""),
                line(false, true, "b"),
                line(false, false, "last"),
            ]
        );
    }
}
