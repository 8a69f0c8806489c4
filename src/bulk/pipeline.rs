//! The streaming run: manifest lines in, one result line per entry out, as each finishes.
//!
//! Three stages joined by bounded channels, so memory is bounded by the channels and the
//! entries in flight, never by the length of the manifest:
//!
//! ```text
//! reader thread ──(2×jobs)──▶ 2×jobs workers ──(2×jobs)──▶ writer (the caller's thread)
//!  parse, skip done            cache lookup, download,      one line per result,
//!                              inspect (jobs at once),      flushed; the summary
//!                              delete, render
//! ```
//!
//! A slow consumer blocks the writer; then the workers block on the full output
//! channel, the reader on the full job channel, and no more of the manifest is read:
//! backpressure reaches the producer of the manifest. Twice as many workers as
//! inspection permits let one download per job proceed while the jobs inspect.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::done::{DoneSet, Key};
use super::manifest::{self, EntryInput, Line, LineError, RemoteFile};
use crate::answer::{Report, Source};
use crate::archive::InputKind;
use crate::dirs::CacheDir;
use crate::dist_cache::DistCache;
use crate::error::Error;
use crate::index::IndexClient;
use crate::inspect::Inspector;
use crate::observe::Severity;

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Inspections at once (and twice as many entries in flight).
    pub jobs: usize,
    /// The work dir base ([`crate::dirs::work`]): downloads are spooled in this process's
    /// private work dir, removed after each entry and swept after a crash.
    pub work_dir: Option<PathBuf>,
    /// The cache root: a verified copy of a remote file already in its `files/` (put
    /// there by `lock`, `serve` or `inspect NAME`) is used instead of a download.
    pub cache_dir: Option<PathBuf>,
    /// The index URL the HTTP client is configured for (downloads use each entry's own
    /// URL; the client's TLS and timeout settings are the index client's).
    pub index_url: String,
    /// Largest download accepted (bytes).
    pub max_download: u64,
    /// `--fail-on`: results whose behaviour reaches this level are counted as flagged.
    pub fail_on: Option<Severity>,
    /// `--offline`: no downloads; a remote entry is answered from the metadata cache or a
    /// copy in the cache, else it fails (`index`).
    pub offline: bool,
}

/// Why a run ended before the end of its manifest.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    /// Reading the manifest failed.
    #[error("cannot read the manifest: {0}")]
    Manifest(io::Error),
    /// Writing a result failed (the consumer went away, the disk is full).
    #[error("cannot write results: {0}")]
    Output(io::Error),
}

/// What a run did, for the summary on stderr.
#[derive(Debug, Default)]
pub struct Summary {
    /// Manifest lines read (blank ones included).
    pub lines: u64,
    /// Entries skipped because they already have a result (`--skip-done`).
    pub skipped: u64,
    /// Result lines written.
    pub results: u64,
    /// Results with metadata.
    pub ok: u64,
    /// Results with an error (malformed lines included).
    pub failed: u64,
    /// Failures by `error.kind`.
    pub failed_by_kind: BTreeMap<&'static str, u64>,
    /// Answers from the metadata cache (for remote entries: with no download).
    pub cached: u64,
    /// Files downloaded.
    pub downloads: u64,
    /// Bytes downloaded.
    pub downloaded_bytes: u64,
    /// Remote entries answered from a verified copy already in the cache's `files/`.
    pub local_copies: u64,
    /// Results whose behaviour reached the `--fail-on` level.
    pub flagged: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Why the run ended early, if it did.
    pub stopped: Option<Stop>,
}

/// One manifest line on its way to a worker.
struct Job {
    number: u64,
    line: Line,
}

/// One finished entry on its way to the writer.
struct Finished {
    text: String,
    error: Option<&'static str>,
    cached: bool,
    downloaded: Option<u64>,
    local_copy: bool,
    flagged: bool,
}

/// Counting semaphore: at most `jobs` inspections at once, whatever the worker count.
struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

struct Permit<'a>(&'a Permits);

impl Permits {
    fn new(n: usize) -> Self {
        Self {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|p| p.into_inner());
        *free += 1;
        self.0.freed.notify_one();
    }
}

/// Runs every entry of `manifest` not in `done`, writing one JSON line per entry to `out`
/// as each finishes (completion order). Never fails for an entry: a failure is that
/// entry's line. Ends early only when the manifest cannot be read or `out` cannot be
/// written ([`Summary::stopped`]).
pub fn run(
    inspector: &Inspector,
    config: &Config,
    manifest: Box<dyn BufRead + Send>,
    done: DoneSet,
    out: &mut dyn Write,
) -> Summary {
    let started = Instant::now();
    let jobs = config.jobs.max(1);
    let lines = Arc::new(AtomicU64::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let (job_tx, job_rx) = sync_channel::<Job>(2 * jobs);
    let (out_tx, out_rx) = sync_channel::<Finished>(2 * jobs);
    // Not scoped: a reader blocked on a manifest that never ends (stdin) must not keep a
    // run whose output has failed from returning.
    let reader = {
        let (lines, skipped) = (lines.clone(), skipped.clone());
        std::thread::Builder::new()
            .name("sdistill-manifest".into())
            .spawn(move || read_manifest(manifest, &done, &job_tx, &lines, &skipped))
    };
    let mut summary = Summary::default();
    let reader = match reader {
        Ok(handle) => handle,
        Err(e) => {
            summary.stopped = Some(Stop::Manifest(e));
            return summary;
        }
    };
    let worker = Worker::new(inspector, config);
    let permits = Permits::new(jobs);
    let stop = AtomicBool::new(false);
    let job_rx = Arc::new(Mutex::new(job_rx));
    std::thread::scope(|scope| {
        for _ in 0..2 * jobs {
            let (job_rx, out_tx) = (job_rx.clone(), out_tx.clone());
            let (worker, permits, stop) = (&worker, &permits, &stop);
            scope.spawn(move || worker.work(&job_rx, &out_tx, permits, stop));
        }
        // The workers hold the only receivers and senders now: when they end, the
        // reader's sends fail and the writer's loop ends.
        drop(job_rx);
        drop(out_tx);
        write_results(out_rx, out, &mut summary, &stop);
    });
    if summary.stopped.is_none() {
        match reader.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => summary.stopped = Some(Stop::Manifest(e)),
            Err(_) => {
                summary.stopped = Some(Stop::Manifest(io::Error::other(
                    "the manifest reader panicked",
                )))
            }
        }
    }
    summary.lines = lines.load(Ordering::Relaxed);
    summary.skipped = skipped.load(Ordering::Relaxed);
    summary.elapsed = started.elapsed();
    summary
}

/// The writer: one line per result, flushed, so a consumer reading the stream sees each
/// result as it finishes; counts for the summary.
fn write_results(
    results: Receiver<Finished>,
    out: &mut dyn Write,
    summary: &mut Summary,
    stop: &AtomicBool,
) {
    for finished in results.iter() {
        let written = out
            .write_all(finished.text.as_bytes())
            .and_then(|()| out.flush());
        if let Err(e) = written {
            summary.stopped = Some(Stop::Output(e));
            stop.store(true, Ordering::Relaxed);
            break;
        }
        summary.results += 1;
        match finished.error {
            None => summary.ok += 1,
            Some(kind) => {
                summary.failed += 1;
                *summary.failed_by_kind.entry(kind).or_default() += 1;
            }
        }
        summary.cached += u64::from(finished.cached);
        summary.local_copies += u64::from(finished.local_copy);
        summary.flagged += u64::from(finished.flagged);
        if let Some(bytes) = finished.downloaded {
            summary.downloads += 1;
            summary.downloaded_bytes += bytes;
        }
    }
    // Dropping the receiver here (a failed write) makes every worker's next send fail.
}

/// The reader: numbers, parses and filters lines; blocks when the workers are behind.
fn read_manifest(
    mut manifest: Box<dyn BufRead + Send>,
    done: &DoneSet,
    jobs: &SyncSender<Job>,
    lines: &AtomicU64,
    skipped: &AtomicU64,
) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut number = 0u64;
    while let Some(read) = manifest::read_line(&mut manifest, &mut buf, manifest::MAX_LINE)? {
        number += 1;
        lines.store(number, Ordering::Relaxed);
        let line = if read.too_long {
            Line {
                extra: Map::new(),
                input: Err(LineError::TooLong {
                    max: manifest::MAX_LINE,
                }),
            }
        } else if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        } else {
            manifest::parse_line(&buf)
        };
        if let Ok(input) = &line.input {
            if done.contains(key(input).0) {
                skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        if jobs.send(Job { number, line }).is_err() {
            // The workers are gone: the output failed.
            break;
        }
    }
    Ok(())
}

/// An entry's `--skip-done` key, and the path text of a local one.
fn key(input: &EntryInput) -> (Key<'_>, Option<&str>) {
    match input {
        EntryInput::Remote(r) => (Key::Sha256(&r.sha256), None),
        EntryInput::Local { path, .. } => {
            // A path from a manifest came from a JSON string: always UTF-8.
            let text = path.to_str().unwrap_or_default();
            (Key::Path(text), Some(text))
        }
    }
}

/// What the workers share.
struct Worker<'a> {
    inspector: &'a Inspector,
    config: &'a Config,
    client: std::result::Result<IndexClient, String>,
    /// This process's spool for downloads (inside its private work dir).
    spool: std::result::Result<CacheDir, String>,
    /// Verified copies already in the cache, when there is a cache root.
    files: Option<DistCache>,
}

/// How an entry's file was obtained.
#[derive(Default)]
struct Obtained {
    downloaded: Option<u64>,
    local_copy: bool,
}

impl<'a> Worker<'a> {
    fn new(inspector: &'a Inspector, config: &'a Config) -> Self {
        let spool = crate::dirs::work::process_dir(config.work_dir.as_deref())
            .map_err(|e| e.to_string())
            .and_then(|dir| {
                CacheDir::open_root(&dir)
                    .and_then(|d| d.subdir("downloads"))
                    .map_err(|e| format!("{}: {e}", dir.display()))
            });
        let files = crate::dirs::cache_root(config.cache_dir.as_deref())
            .ok()
            .map(DistCache::new);
        Self {
            inspector,
            config,
            client: IndexClient::new(&config.index_url).map_err(|e| e.to_string()),
            spool,
            files,
        }
    }

    fn work(
        &self,
        jobs: &Mutex<Receiver<Job>>,
        out: &SyncSender<Finished>,
        permits: &Permits,
        stop: &AtomicBool,
    ) {
        loop {
            let job = match jobs.lock() {
                Ok(rx) => rx.recv(),
                Err(_) => return,
            };
            let Ok(job) = job else { return };
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.process(&job, permits)
            }))
            .unwrap_or_else(|_| {
                let report = failed(
                    PathBuf::from(format!("<manifest line {}>", job.number)),
                    None,
                    Error::Internal {
                        detail: "panic while processing a manifest entry".to_string(),
                    },
                );
                self.finish(&report, &job, Obtained::default())
            });
            if out.send(finished).is_err() {
                return;
            }
        }
    }

    fn process(&self, job: &Job, permits: &Permits) -> Finished {
        let started = Instant::now();
        let (report, obtained) = match &job.line.input {
            Err(e) => (
                failed(
                    PathBuf::from(format!("<manifest line {}>", job.number)),
                    None,
                    Error::Manifest {
                        detail: e.to_string(),
                    },
                ),
                Obtained::default(),
            ),
            Ok(EntryInput::Local { path, sha256 }) => (
                self.local(path, sha256.as_ref(), permits),
                Obtained::default(),
            ),
            Ok(EntryInput::Remote(remote)) => self.remote(remote, permits),
        };
        let mut report = report;
        report.elapsed = started.elapsed();
        self.finish(&report, job, obtained)
    }

    /// A local file: inspected where it is (directories are refused: a manifest entry
    /// should not be able to have a copy of an arbitrary directory built).
    fn local(
        &self,
        path: &Path,
        sha256: Option<&crate::index::Sha256Hex>,
        permits: &Permits,
    ) -> Report {
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return failed(
                path.to_path_buf(),
                None,
                Error::Manifest {
                    detail: format!(
                        "{} is a directory; manifest entries name sdists or wheels",
                        crate::report::sanitize(&path.display().to_string())
                    ),
                },
            );
        }
        let mut report = {
            let _permit = permits.acquire();
            self.inspector.inspect_file_report(path)
        };
        if let Some(expected) = sha256 {
            let got = report.source.as_ref().and_then(|s| s.sha256.as_deref());
            if got.is_some_and(|got| got != expected.as_str()) {
                report.outcome = Err(Error::Manifest {
                    detail: format!(
                        "the file's sha256 is {}, the entry says {expected}",
                        got.unwrap_or_default()
                    ),
                });
                report.cached = false;
            }
        }
        report
    }

    /// A remote file: the metadata cache (no download), else a verified copy in the
    /// cache, else a download into the spool, checked against the entry's sha256 before
    /// it is visible under its name, inspected, and deleted.
    fn remote(&self, remote: &RemoteFile, permits: &Permits) -> (Report, Obtained) {
        let shown = remote.shown();
        let Some(kind) = InputKind::from_file_name(remote.filename.as_str()) else {
            let error = Error::UnsupportedInput {
                path: PathBuf::from(&shown),
            };
            return (failed(shown.into(), None, error), Obtained::default());
        };
        let source = |size| Source {
            path: shown.clone(),
            filename: remote.filename.as_str().to_string(),
            sha256: Some(remote.sha256.as_str().to_string()),
            size,
            kind,
        };
        // An answer stored without the file's size (by an older sdistill) could not
        // report the same `source` as a fresh one: then the file is fetched after all.
        if let Some(stored) = self
            .inspector
            .cached_entry(remote.sha256.as_str(), remote.filename.as_str())
            .filter(|s| s.size.is_some())
        {
            let report = Report {
                input: PathBuf::from(&shown),
                source: Some(source(stored.size)),
                outcome: Ok(stored.metadata),
                warnings: stored.warnings,
                elapsed: Duration::ZERO,
                cached: true,
                reusable: true,
                behaviour: stored.behaviour,
            };
            return (report, Obtained::default());
        }
        let mut obtained = Obtained::default();
        let file = match self.obtain(remote, &mut obtained) {
            Ok(file) => file,
            Err(e) => {
                return (
                    failed(PathBuf::from(&shown), Some(source(None)), e),
                    obtained,
                )
            }
        };
        let mut report = {
            let _permit = permits.acquire();
            self.inspector.inspect_report(file.path())
        };
        // The spooled copy goes now (`file` is dropped at the end of this function).
        report.input = PathBuf::from(&shown);
        match &mut report.source {
            Some(s) => s.path = shown.clone(),
            None => report.source = Some(source(None)),
        }
        drop(file);
        (report, obtained)
    }

    /// A verified local copy of a remote entry's file.
    fn obtain(&self, remote: &RemoteFile, obtained: &mut Obtained) -> crate::Result<FileRef> {
        if let Some(files) = &self.files {
            if let Some(path) = files.existing_verified_file(&remote.sha256, &remote.filename) {
                obtained.local_copy = true;
                return Ok(FileRef::Cached(path));
            }
        }
        if self.config.offline {
            return Err(Error::Index {
                detail: format!(
                    "offline: {} is not in the cache, and fetching it needs the network",
                    remote.shown()
                ),
            });
        }
        let client = self.client.as_ref().map_err(|detail| Error::Index {
            detail: detail.clone(),
        })?;
        let spool = self.spool.as_ref().map_err(|detail| Error::Io {
            path: PathBuf::from("<download spool>"),
            source: io::Error::other(detail.clone()),
        })?;
        let tree = spool
            .temp_tree("dl")
            .map_err(|e| Error::io(spool.path(), e))?;
        let dir = CacheDir::open_root(tree.path()).map_err(|e| Error::io(tree.path(), e))?;
        let name = remote.filename.as_str();
        client.download_limited(
            remote.url(),
            &remote.sha256,
            None,
            self.config.max_download,
            &dir,
            name,
            None,
        )?;
        let path = tree.path().join(name);
        obtained.downloaded = std::fs::metadata(&path).ok().map(|m| m.len());
        Ok(FileRef::Spooled { _tree: tree, path })
    }

    /// The result line for a report: the `sdistill/1` object and the entry's `manifest`
    /// object (its key, the line number of a malformed line, the passed-through fields).
    fn finish(&self, report: &Report, job: &Job, obtained: Obtained) -> Finished {
        let (sha256, path) = match &job.line.input {
            Ok(input @ EntryInput::Remote(r)) => (Some(r.sha256.as_str()), key(input).1),
            Ok(input) => (None, key(input).1),
            Err(_) => (None, None),
        };
        let mut value = crate::report::to_json(report);
        // Only a malformed line carries its number: it has no other identity, while a
        // well-formed entry's line must not depend on where a shard put it.
        let line = job.line.input.is_err().then_some(job.number);
        value["manifest"] = json!({
            "sha256": sha256,
            "path": path,
            "line": line,
            "extra": Value::Object(job.line.extra.clone()),
        });
        let mut text = render_line(&value);
        if text.len() > super::done::MAX_RESULT_LINE {
            // `--skip-done` reads lines up to this size: a longer one would be done again
            // by every resumed run, and held whole by whoever reads the stream.
            value = crate::report::to_json(&Report {
                input: report.input.clone(),
                source: report.source.clone(),
                outcome: Err(Error::limit_exceeded(
                    crate::limits::LimitKind::MetadataSize,
                    format!(
                        "the result is {} bytes, more than a result line may have ({} bytes)",
                        text.len(),
                        super::done::MAX_RESULT_LINE
                    ),
                )),
                warnings: Vec::new(),
                elapsed: report.elapsed,
                cached: false,
                reusable: false,
                behaviour: None,
            });
            value["manifest"] = json!({
                "sha256": sha256,
                "path": path,
                "line": line,
                "extra": Value::Object(job.line.extra.clone()),
            });
            text = render_line(&value);
        }
        let flagged = match (self.config.fail_on, &report.behaviour) {
            (Some(level), Some(b)) => b.reaches(level),
            _ => false,
        };
        Finished {
            text,
            error: report.outcome.as_ref().err().map(Error::kind),
            cached: report.cached,
            downloaded: obtained.downloaded,
            local_copy: obtained.local_copy,
            flagged,
        }
    }
}

/// One result line: JSON and a newline, with the three characters that serde_json leaves
/// raw in strings but that line splitters (Python's `splitlines`, some JSON-lines
/// readers) take for line ends — U+0085, U+2028, U+2029 — escaped, so one result is
/// always one line however its passed-through fields or an sdist's strings are made.
fn render_line(value: &Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string());
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        match c {
            '\u{85}' => out.push_str("\\u0085"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// A remote entry's file on this machine: a verified copy in the cache (left there), or
/// a download in the spool (removed when this is dropped).
enum FileRef {
    Cached(PathBuf),
    Spooled {
        /// Removed on drop, with the file in it.
        _tree: crate::dirs::TempTree,
        path: PathBuf,
    },
}

impl FileRef {
    fn path(&self) -> &Path {
        match self {
            FileRef::Cached(path) | FileRef::Spooled { path, .. } => path,
        }
    }
}

fn failed(input: PathBuf, source: Option<Source>, error: Error) -> Report {
    Report {
        input,
        source,
        outcome: Err(error),
        warnings: Vec::new(),
        elapsed: Duration::ZERO,
        cached: false,
        reusable: false,
        behaviour: None,
    }
}

#[cfg(test)]
mod tests {
    use super::render_line;

    /// One result is one line for every line splitter, whatever its strings hold.
    #[test]
    fn result_lines_escape_what_line_splitters_take_for_line_ends() {
        let value = serde_json::json!({"extra": "a\u{2028}b\u{2029}c\u{85}d\ne"});
        let line = render_line(&value);
        assert_eq!(line.lines().count(), 1);
        assert!(!line.contains(['\u{2028}', '\u{2029}', '\u{85}']));
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, value);
    }
}
