//! Scanning at scale: `sdistill inspect --manifest FILE|-`, a streaming worker for the
//! distributed engines people already run (Spark's `RDD.pipe`, a shell loop over shards).
//!
//! A manifest is JSON lines, one entry each: `{"url": ..., "sha256": ...}` (downloaded,
//! checked against the sha256, inspected, deleted) or `{"path": ...}` (a local sdist or
//! wheel); any other field is copied into that entry's result. Out comes one `sdistill/1`
//! object per entry, one line each, as each finishes, with a `manifest` object naming the
//! entry. The design follows from running for days over millions of entries:
//!
//! - **Bounded memory.** Lines are read with a cap, results are written as they finish
//!   and never collected, and the stages are joined by bounded channels, so memory
//!   depends on `--jobs`, not on the manifest's length ([`pipeline`]). `--skip-done`
//!   keeps 32 bytes per done entry ([`done`]).
//! - **Backpressure.** A consumer that reads slowly blocks the writer, then the workers,
//!   then the reader: no more of the manifest is read than can be worked on.
//! - **Errors are values.** A malformed line, a failed download, a sha256 mismatch or a
//!   failed build is that entry's result (`error.kind` `manifest`, `index`, ...); the
//!   stream goes on. The run ends early only when the manifest cannot be read or the
//!   output cannot be written.
//! - **Answers already known cost a lookup.** A remote entry whose sha256 has an answer in
//!   the metadata cache is answered from it without any download.
//! - **Bounded disk.** A download goes through the same verified path as every other
//!   ([`crate::index::IndexClient::download_limited`]: into a directory handle, checked
//!   against the sha256 before it is visible under its name), but into a spool inside
//!   this process's private work dir rather than the cache's `files/`, and is deleted as
//!   soon as its entry is done: at most one file per worker exists at once, however long
//!   the manifest. The content-addressed `files/` would keep every file for ever, and
//!   several workers sharing one cache could delete a file another is still reading;
//!   a copy already there (from `lock`, `serve`, `inspect NAME`) is used and left alone.
//!   What a killed worker leaves in its spool is swept by the next run, as all work dirs.
//! - **Resumable, shardable, deterministic.** A result depends on the entry and on
//!   (sdistill, runtime, driver, target, limits) only; `elapsed_ms` and `cached` say how
//!   this run got it and are not part of the answer. So `--skip-done` can skip by key
//!   (sha256, or the path of a local entry), and any sharding of a manifest gives the
//!   same union of results.
//!
//! Manifest lines are untrusted: [`manifest`] parses them into types before anything is
//! done with them, and passes the caller's own fields through as JSON values it never
//! reads.

pub mod done;
pub mod manifest;
pub mod pipeline;

pub use done::{DoneSet, DoneStats, Key};
pub use manifest::{parse_line, EntryInput, Line, LineError, RemoteFile, MAX_LINE};
pub use pipeline::{run, Config, Stop, Summary};
