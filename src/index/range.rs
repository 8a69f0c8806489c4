//! A wheel's METADATA read with HTTP range requests, without downloading the wheel.
//!
//! An index without PEP 658 metadata files makes a lock download every wheel it considers,
//! only to read one small member of it. Where the server answers `Range` requests, the
//! zip's tail (end records, usually the central directory, often the dist-info members
//! themselves) comes in one request, and whatever else the zip reader asks for in a few
//! more. The bytes go through the *same* zip code as a wheel on disk
//! ([`crate::archive::read_wheel_metadata_from`]): end records checked before anything is
//! allocated for them, the central directory bounded while read, duplicate names and too
//! many members refused, one `*.dist-info/METADATA`, its size capped.
//!
//! What this cannot do is check the bytes against the wheel's sha256: that needs the whole
//! file. Metadata read this way is therefore *unverified* (the JSON report says so, and
//! `--verified-metadata-only` never reads it); nothing read this way is ever stored where
//! the wheel goes in the cache. The reader is bounded in requests and bytes
//! ([`MAX_REQUESTS`], [`MAX_BYTES`]); a server without range support, or a read over a
//! bound, makes the caller download the wheel instead.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::Ordering;

use super::http::{self, Failure};
use super::{redact_url, IndexClient};
use crate::error::{Error, Result};
use crate::limits::Limits;

/// The first request: the end of the file, enough for the zip end records and their
/// comment (the zip reader searches the last 64 KiB), usually the central directory and
/// often the dist-info members written just before it.
pub const TAIL: u64 = 96 * 1024;
/// Requests one wheel may take before the read is given up for a download.
pub const MAX_REQUESTS: usize = 12;
/// Bytes one wheel may fetch: the largest central directory and metadata file accepted,
/// and some slack.
pub const MAX_BYTES: u64 = Limits::MAX_ZIP_CENTRAL_DIRECTORY + 16 * 1024 * 1024 + TAIL;
/// The read-ahead after a miss starts here and doubles with each further miss.
const FIRST_CHUNK: u64 = 64 * 1024;
const MAX_CHUNK: u64 = 4 * 1024 * 1024;

/// What a range read gave.
#[derive(Debug)]
pub enum RangeRead {
    /// The METADATA member (its name in the zip) and its text: unverified, unless the
    /// requests happened to cover the whole file (a small wheel), whose sha256 is then
    /// known.
    Read {
        /// `name-1.0.dist-info/METADATA`.
        member: String,
        /// The member's text.
        text: String,
        /// The sha256 of the whole file, when every byte of it was fetched.
        whole: Option<super::Sha256Hex>,
    },
    /// The read was given up (why): download the wheel instead.
    Declined(String),
}

impl IndexClient {
    /// Reads the METADATA of the wheel at `url` with range requests. `size` is the size
    /// the index states, when it does (otherwise the first answer's `Content-Range`
    /// says). Declines — never fails — when the server does not serve ranges, a bound is
    /// reached, or the bytes are not a wheel the archive rules accept.
    pub fn wheel_metadata_by_range(
        &self,
        url: &str,
        size: Option<u64>,
        limits: &Limits,
    ) -> RangeRead {
        let mut remote = RemoteFile {
            client: self,
            url,
            len: size,
            pos: 0,
            chunks: BTreeMap::new(),
            fetched: 0,
            requests: 0,
            chunk: FIRST_CHUNK,
            declined: None,
        };
        let outcome = remote.open().and_then(|()| {
            crate::archive::read_wheel_metadata_from(&mut remote, limits, &|e| Error::Index {
                detail: e.to_string(),
            })
        });
        let stats = &self.http.stats;
        match outcome {
            Ok((member, text)) => {
                stats.range_reads.fetch_add(1, Ordering::Relaxed);
                RangeRead::Read {
                    member,
                    text,
                    whole: remote.whole_sha256(),
                }
            }
            Err(e) => {
                stats.range_fallbacks.fetch_add(1, Ordering::Relaxed);
                RangeRead::Declined(remote.declined.unwrap_or_else(|| e.to_string()))
            }
        }
    }
}

/// A remote file as a seekable reader: each read that misses the bytes fetched so far
/// fetches a range, within the bounds.
struct RemoteFile<'a> {
    client: &'a IndexClient,
    url: &'a str,
    /// The file's length once known.
    len: Option<u64>,
    pos: u64,
    /// Fetched ranges by start offset.
    chunks: BTreeMap<u64, Vec<u8>>,
    fetched: u64,
    requests: usize,
    /// The next read-ahead.
    chunk: u64,
    /// Why the read cannot go on (no range support, a bound), once that is known.
    declined: Option<String>,
}

/// One answer to a range request.
enum Answer {
    /// `206`: the bytes from `start`, and the file's length.
    Part {
        start: u64,
        data: Vec<u8>,
        total: u64,
    },
    /// Anything but a partial answer (a `200` with the whole file: no range support).
    NoRanges(String),
}

impl RemoteFile<'_> {
    /// Fetches the tail, learning the length when the index did not state it.
    fn open(&mut self) -> Result<()> {
        let want = match self.len {
            Some(len) => Want::Span(len.saturating_sub(TAIL), len.saturating_sub(1)),
            None => Want::Suffix(TAIL),
        };
        if self.len == Some(0) {
            return Err(self.decline("the index says the file is empty".to_string()));
        }
        let (start, data, total) = self.request(want).map_err(|e| self.give_up(e))?;
        if let Some(len) = self.len {
            if total != len {
                return Err(self.decline(format!(
                    "the server says the file has {total} bytes, the index {len}"
                )));
            }
        }
        if start + data.len() as u64 != total {
            return Err(self.decline("the tail does not reach the end of the file".to_string()));
        }
        self.len = Some(total);
        self.chunks.insert(start, data);
        Ok(())
    }

    fn decline(&mut self, why: String) -> Error {
        self.declined = Some(why.clone());
        Error::Index { detail: why }
    }

    fn give_up(&mut self, e: io::Error) -> Error {
        let why = e.to_string();
        self.decline(why)
    }

    /// Sends one range request and checks the answer: exactly the bytes asked for, never
    /// more or others. (A server that answers a wider or shifted range could make the
    /// bytes the zip reader parses differ from the bytes [`Self::whole_sha256`] hashes.)
    fn request(&mut self, want: Want) -> io::Result<(u64, Vec<u8>, u64)> {
        if self.requests >= MAX_REQUESTS {
            return Err(io::Error::other(format!(
                "more than {MAX_REQUESTS} range requests"
            )));
        }
        self.requests += 1;
        let url = self.url;
        let budget = MAX_BYTES.saturating_sub(self.fetched);
        let http = &self.client.http;
        let header = want.header();
        let answer = http.get(url, &[("Range", header.as_str())], None, |mut resp| {
            let status = resp.status().as_u16();
            if status != 206 {
                return Ok(Answer::NoRanges(match status {
                    200 => "the server does not serve byte ranges".to_string(),
                    other => format!("the server answered a range request with HTTP {other}"),
                }));
            }
            let range = resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .and_then(content_range);
            let Some((start, end, total)) = range else {
                return Ok(Answer::NoRanges(
                    "a partial answer without a usable Content-Range".to_string(),
                ));
            };
            if !want.answered_by(start, end, total) {
                return Ok(Answer::NoRanges(format!(
                    "the server answered bytes {start}-{end}/{total} to `{header}`"
                )));
            }
            let want = end - start + 1;
            if want > budget {
                return Ok(Answer::NoRanges(format!(
                    "more than {MAX_BYTES} bytes in range requests"
                )));
            }
            let data = resp
                .body_mut()
                .with_config()
                .limit(want + 1)
                .read_to_vec()
                .map_err(|e| Failure::from_ureq(url, e))?;
            http.received(data.len());
            if data.len() as u64 != want {
                return Err(http::status_error(url, 206));
            }
            Ok(Answer::Part { start, data, total })
        });
        match answer {
            Ok(Answer::Part { start, data, total }) => {
                self.fetched += data.len() as u64;
                Ok((start, data, total))
            }
            Ok(Answer::NoRanges(why)) => Err(io::Error::other(why)),
            Err(e) => Err(io::Error::other(format!("{}: {e}", redact_url(url)))),
        }
    }

    /// The sha256 of the file when the fetched chunks cover all of it.
    fn whole_sha256(&self) -> Option<super::Sha256Hex> {
        use sha2::{Digest, Sha256};
        let len = self.len?;
        let mut hasher = Sha256::new();
        let mut at = 0u64;
        // Chunks are exactly the ranges asked for, which never overlap; anything but a
        // gapless, overlap-free cover is not hashed (the bytes hashed must be the bytes
        // the zip reader read, every one once).
        for (start, data) in &self.chunks {
            if *start != at {
                return None;
            }
            hasher.update(data);
            at = start + data.len() as u64;
        }
        (at == len).then(|| super::Sha256Hex::from_digest(hasher.finalize().into()))
    }

    /// Copies what the fetched chunks hold at the position; `None` on a miss.
    fn copy(&self, buf: &mut [u8]) -> Option<usize> {
        let (start, data) = self.chunks.range(..=self.pos).next_back()?;
        let offset = usize::try_from(self.pos - start).ok()?;
        if offset >= data.len() {
            return None;
        }
        let n = buf.len().min(data.len() - offset);
        buf[..n].copy_from_slice(&data[offset..offset + n]);
        Some(n)
    }
}

impl Read for RemoteFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.len.unwrap_or(0);
        if buf.is_empty() || self.pos >= len {
            return Ok(0);
        }
        if let Some(n) = self.copy(buf) {
            self.pos += n as u64;
            return Ok(n);
        }
        // A miss: fetch from here, with read-ahead, up to the next fetched chunk.
        let mut end = (self.pos + (buf.len() as u64).max(self.chunk)).min(len);
        if let Some((next, _)) = self.chunks.range(self.pos + 1..).next() {
            end = end.min(*next);
        }
        let (start, data, total) = self.request(Want::Span(self.pos, end - 1))?;
        if start != self.pos || total != len || data.is_empty() {
            return Err(io::Error::other(
                "the server answered another range than asked".to_string(),
            ));
        }
        self.chunks.insert(start, data);
        self.chunk = (self.chunk * 2).min(MAX_CHUNK);
        let n = self.copy(buf).unwrap_or(0);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RemoteFile<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.len.unwrap_or(0);
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let Some(target) = target else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            ));
        };
        self.pos = target;
        Ok(target)
    }
}

/// What one range request asks for.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// `bytes=START-END` (inclusive).
    Span(u64, u64),
    /// `bytes=-N`: the last N bytes (the file's length not yet known).
    Suffix(u64),
}

impl Want {
    fn header(self) -> String {
        match self {
            Want::Span(start, end) => format!("bytes={start}-{end}"),
            Want::Suffix(n) => format!("bytes=-{n}"),
        }
    }

    /// Whether `bytes START-END/TOTAL` is exactly this request's answer.
    fn answered_by(self, start: u64, end: u64, total: u64) -> bool {
        match self {
            Want::Span(s, e) => start == s && end == e.min(total.saturating_sub(1)),
            Want::Suffix(n) => end + 1 == total && start == total.saturating_sub(n),
        }
    }
}

/// `bytes START-END/TOTAL` as numbers, when consistent (`START <= END < TOTAL`).
fn content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let (start, end, total): (u64, u64, u64) = (
        start.trim().parse().ok()?,
        end.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (start <= end && end < total).then_some((start, end, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_are_read_strictly() {
        assert_eq!(content_range("bytes 0-99/1000"), Some((0, 99, 1000)));
        assert_eq!(content_range("bytes 900-999/1000"), Some((900, 999, 1000)));
        assert_eq!(content_range("bytes 0-1000/1000"), None);
        assert_eq!(content_range("bytes 10-5/1000"), None);
        assert_eq!(content_range("bytes */1000"), None);
        assert_eq!(content_range("bytes 0-99/*"), None);
        assert_eq!(content_range("items 0-99/1000"), None);
    }

    /// Only the range asked for is an answer: not a wider one, not a shifted one.
    #[test]
    fn an_answer_must_be_the_range_asked_for() {
        assert!(Want::Span(0, 99).answered_by(0, 99, 1000));
        assert!(!Want::Span(0, 0).answered_by(0, 999, 1000));
        assert!(!Want::Span(900, 999).answered_by(1, 999, 1000));
        assert!(Want::Suffix(100).answered_by(900, 999, 1000));
        assert!(Want::Suffix(2000).answered_by(0, 999, 1000));
        assert!(!Want::Suffix(100).answered_by(1, 999, 1000));
        assert!(!Want::Suffix(100).answered_by(900, 998, 1000));
    }
}
