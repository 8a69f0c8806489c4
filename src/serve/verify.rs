//! Streaming a distribution file to a client while checking it against the sha256 the
//! upstream listed, so that a file which does not match is never delivered whole.
//!
//! The file is read in chunks and hashed as it goes; each chunk is handed on only once
//! the *next* one has been read, so the last chunk is still held when the end of the file
//! is reached. Only if the whole file then matches (size and sha256) does the last chunk
//! go out; otherwise the response body ends with an error, hyper breaks the connection,
//! and the client sees a truncated transfer (fewer bytes than `Content-Length`, or a
//! chunked body without its terminating chunk) — never a complete, wrong file. A file of
//! at most two chunks is checked before the response starts, so it gets a proper status.
//!
//! The same pump serves the upstream's bytes and the cache's: a cached copy could have
//! been damaged since it was written, and is checked the same way (and removed if bad).
//! Reading from the upstream, the pump also writes the bytes into the cache through a
//! temporary file that is renamed into place only when the file matched.

use std::io::{self, Read, Write};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::dirs::CacheDir;
use crate::index::Sha256Hex;

use super::disk_budget::{Reservation, GROWTH};

/// Bytes read and handed on at a time.
pub const CHUNK: usize = 64 * 1024;

/// Chunks buffered between the reading thread and the client.
pub const IN_FLIGHT: usize = 8;

/// What the response can start with.
#[derive(Debug)]
pub enum Head {
    /// The whole file (it was small), checked.
    Whole(Bytes),
    /// The first chunk; the rest follows on the body channel, the last one only after the
    /// whole file matched.
    Streaming {
        /// The first chunk.
        first: Bytes,
        /// The file's size, when known (the response's `Content-Length`).
        size: Option<u64>,
    },
    /// The file failed before anything was sent (mismatch, size, the upstream or disk).
    Failed(String),
}

/// Where a verified copy of the streamed file is kept: a temporary file in `dir`,
/// renamed to `name` once the file matched.
pub struct Tee {
    dir: CacheDir,
    sha256: Sha256Hex,
    tmp: String,
    file: std::fs::File,
    name: String,
    /// Room held in the file cache's budget while the copy is written, grown as bytes
    /// arrive when the size was not known: a copy that cannot have more room is given
    /// up (the client is served anyway).
    room: Reservation,
    written: u64,
}

impl Tee {
    /// A temporary file in `dir` for the file `name`; `None` when it cannot be made (the
    /// cache is best effort: the client is served anyway).
    pub fn new(dir: CacheDir, sha256: &Sha256Hex, name: &str, room: Reservation) -> Option<Self> {
        dir.sweep_stale();
        let (tmp, file) = dir.create_temp(name).ok()?;
        Some(Self {
            dir,
            sha256: sha256.clone(),
            tmp,
            file,
            name: name.to_string(),
            room,
            written: 0,
        })
    }

    fn discard(self) {
        let _ = self.dir.remove_file(&self.tmp);
    }

    fn keep(self) {
        if self.file.sync_all().is_err() || self.dir.rename(&self.tmp, &self.name).is_err() {
            let _ = self.dir.remove_file(&self.tmp);
            return;
        }
        // Counted at its actual size from now on; the room held for it is given back.
        self.room.kept(&self.sha256, &self.name, self.written);
    }

    /// Room for `more` bytes: what is held, else grown (by at least [`GROWTH`]).
    fn room_for(&mut self, more: u64) -> bool {
        let wanted = self.written.saturating_add(more);
        let held = self.room.bytes();
        wanted <= held || self.room.grow((wanted - held).max(GROWTH))
    }
}

/// What the stream is checked against.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The sha256 the upstream listed.
    pub sha256: Sha256Hex,
    /// The exact size, when known (then it is also the response's `Content-Length`).
    pub size: Option<u64>,
    /// The most bytes accepted.
    pub max: u64,
}

/// How a pump ended, for the caller (a bad cached copy is removed).
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The whole file went out and matched.
    Delivered,
    /// It did not match, or failed to read: the client got a broken transfer or an error.
    Failed(String),
    /// The client went away first.
    ClientGone,
}

/// Reads `source` to the end, checking it against `expected`; sends the [`Head`] on
/// `head` and the remaining chunks on `body`. Blocking: run it on a blocking thread.
pub fn pump(
    mut source: impl Read,
    expected: &Expected,
    mut tee: Option<Tee>,
    head: oneshot::Sender<Head>,
    body: mpsc::Sender<io::Result<Bytes>>,
) -> Ending {
    let mut state = Check {
        hasher: Sha256::new(),
        total: 0,
        expected,
    };
    // A temporary copy is removed before the client hears of the failure.
    let fail = |tee: Option<Tee>, reason: String| {
        if let Some(t) = tee {
            t.discard();
        }
        Ending::Failed(reason)
    };
    let gone = |tee: Option<Tee>| {
        if let Some(t) = tee {
            t.discard();
        }
        Ending::ClientGone
    };
    let first = match state.next(&mut source, &mut tee) {
        Ok(c) => c,
        Err(reason) => {
            let ending = fail(tee, reason.clone());
            let _ = head.send(Head::Failed(reason));
            return ending;
        }
    };
    let second = if first.len() < CHUNK {
        Bytes::new()
    } else {
        match state.next(&mut source, &mut tee) {
            Ok(c) => c,
            Err(reason) => {
                let ending = fail(tee, reason.clone());
                let _ = head.send(Head::Failed(reason));
                return ending;
            }
        }
    };
    // A chunk shorter than CHUNK is the end of the file.
    if second.len() < CHUNK {
        // At most two chunks: checked before anything is sent.
        return match state.finish() {
            Ok(()) => {
                let whole = if second.is_empty() {
                    first
                } else {
                    Bytes::from([first.as_ref(), second.as_ref()].concat())
                };
                if head.send(Head::Whole(whole)).is_err() {
                    return gone(tee);
                }
                if let Some(t) = tee {
                    t.keep();
                }
                Ending::Delivered
            }
            Err(reason) => {
                let ending = fail(tee, reason.clone());
                let _ = head.send(Head::Failed(reason));
                ending
            }
        };
    }
    let streaming = Head::Streaming {
        first,
        size: expected.size,
    };
    if head.send(streaming).is_err() {
        return gone(tee);
    }
    let mut held = second;
    loop {
        let next = match state.next(&mut source, &mut tee) {
            Ok(c) => c,
            Err(reason) => {
                let ending = fail(tee, reason.clone());
                let _ = body.blocking_send(Err(io::Error::other(reason)));
                return ending;
            }
        };
        if next.is_empty() {
            break;
        }
        if body.blocking_send(Ok(held)).is_err() {
            return gone(tee);
        }
        held = next;
    }
    match state.finish() {
        Ok(()) => {
            // Kept before the last chunk goes: a client that has the whole file can find
            // it in the cache.
            if let Some(t) = tee {
                t.keep();
            }
            if body.blocking_send(Ok(held)).is_err() {
                return Ending::ClientGone;
            }
            Ending::Delivered
        }
        Err(reason) => {
            let ending = fail(tee, reason.clone());
            let _ = body.blocking_send(Err(io::Error::other(reason)));
            ending
        }
    }
}

struct Check<'a> {
    hasher: Sha256,
    total: u64,
    expected: &'a Expected,
}

impl Check<'_> {
    /// The next chunk: `CHUNK` bytes, fewer only at the end of the file (empty at EOF).
    fn next(&mut self, source: &mut impl Read, tee: &mut Option<Tee>) -> Result<Bytes, String> {
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match source.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(format!(
                        "read failed: {}",
                        crate::index::redact_urls(&e.to_string())
                    ))
                }
            }
        }
        buf.truncate(filled);
        self.total += filled as u64;
        let limit = self
            .expected
            .size
            .unwrap_or(self.expected.max)
            .min(self.expected.max);
        if self.total > limit {
            return Err(format!("larger than {limit} bytes"));
        }
        self.hasher.update(&buf);
        if let Some(t) = tee.as_mut() {
            let fits = t.room_for(buf.len() as u64);
            t.written += buf.len() as u64;
            if !fits || t.file.write_all(&buf).is_err() {
                if let Some(t) = tee.take() {
                    t.discard();
                }
            }
        }
        Ok(Bytes::from(buf))
    }

    fn finish(&mut self) -> Result<(), String> {
        if let Some(size) = self.expected.size {
            if self.total != size {
                return Err(format!("got {} bytes, expected {size}", self.total));
            }
        }
        let got = Sha256Hex::from_digest(std::mem::take(&mut self.hasher).finalize().into());
        if got != self.expected.sha256 {
            return Err(format!(
                "sha256 mismatch: got {got}, the upstream lists {}",
                self.expected.sha256
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        data: Vec<u8>,
        sha256: Sha256Hex,
        size: Option<u64>,
    ) -> (Head, Vec<io::Result<Bytes>>, Ending) {
        let (head_tx, head_rx) = oneshot::channel();
        let (tx, mut rx) = mpsc::channel(1024);
        let expected = Expected {
            sha256,
            size,
            max: u64::MAX,
        };
        let ending = pump(io::Cursor::new(data), &expected, None, head_tx, tx);
        let head = head_rx.blocking_recv().unwrap();
        let mut rest = Vec::new();
        while let Ok(item) = rx.try_recv() {
            rest.push(item);
        }
        (head, rest, ending)
    }

    #[test]
    fn small_files_are_checked_before_the_response_starts() {
        let data = b"hello".to_vec();
        let (head, rest, ending) = run(data.clone(), Sha256Hex::of(&data), Some(5));
        assert!(
            matches!(head, Head::Whole(ref b) if b.as_ref() == b"hello"),
            "{head:?}"
        );
        assert!(rest.is_empty());
        assert_eq!(ending, Ending::Delivered);
        let (head, _, ending) = run(data, Sha256Hex::of(b"other"), None);
        assert!(
            matches!(head, Head::Failed(ref r) if r.contains("sha256 mismatch")),
            "{head:?}"
        );
        assert!(matches!(ending, Ending::Failed(_)));
        // Exactly two chunks, and two chunks and a byte.
        for len in [2 * CHUNK, 2 * CHUNK + 1, CHUNK, CHUNK + 1] {
            let data = vec![7u8; len];
            let (head, rest, ending) = run(data.clone(), Sha256Hex::of(&data), Some(len as u64));
            let mut got = match head {
                Head::Whole(b) | Head::Streaming { first: b, .. } => b.to_vec(),
                Head::Failed(r) => panic!("{r}"),
            };
            for c in rest {
                got.extend_from_slice(&c.unwrap());
            }
            assert_eq!(got, data, "{len}");
            assert_eq!(ending, Ending::Delivered);
        }
    }

    #[test]
    fn a_mismatch_withholds_the_last_chunk() {
        let mut data = vec![1u8; 5 * CHUNK + 100];
        let good = Sha256Hex::of(&data);
        data[5 * CHUNK + 99] = 2;
        let (head, rest, ending) = run(data.clone(), good, None);
        let mut got = match head {
            Head::Streaming { first, .. } => first.to_vec(),
            other => panic!("{other:?}"),
        };
        let mut broke = false;
        for item in rest {
            match item {
                Ok(b) => got.extend_from_slice(&b),
                Err(e) => {
                    assert!(e.to_string().contains("sha256 mismatch"), "{e}");
                    broke = true;
                }
            }
        }
        assert!(broke);
        assert!(got.len() < data.len(), "the last chunk must not be sent");
        assert_eq!(got, data[..got.len()]);
        assert!(matches!(ending, Ending::Failed(_)));
    }

    #[test]
    fn a_wrong_size_or_an_oversized_file_fails() {
        let data = vec![3u8; 3 * CHUNK];
        let (_, rest, ending) = run(
            data.clone(),
            Sha256Hex::of(&data),
            Some(3 * CHUNK as u64 - 1),
        );
        assert!(rest.iter().any(|r| r.is_err()));
        assert!(
            matches!(ending, Ending::Failed(ref r) if r.contains("larger than")),
            "{ending:?}"
        );
        let (head_tx, _head_rx) = oneshot::channel();
        let (tx, _rx) = mpsc::channel(1024);
        let expected = Expected {
            sha256: Sha256Hex::of(&data),
            size: None,
            max: 100,
        };
        let ending = pump(io::Cursor::new(data), &expected, None, head_tx, tx);
        assert!(
            matches!(ending, Ending::Failed(ref r) if r.contains("larger than 100")),
            "{ending:?}"
        );
    }
}
