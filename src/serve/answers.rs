//! The metadata file of every distribution the server lists: computed on first request,
//! then remembered, and refused — never guessed — when sdistill cannot answer.
//!
//! Where an answer comes from, first match wins:
//! 1. memory: answers (and recent refusals) of this process;
//! 2. the metadata cache shared with `inspect` and `lock`, looked up by the sha256 the
//!    upstream lists — no download at all (several replicas sharing one cache directory
//!    compute each sdist once between them);
//! 3. a wheel's upstream metadata file (checked against its listed sha256);
//! 4. the file itself, downloaded and checked against its sha256, through the normal
//!    pipeline ([`Inspector`]): a wheel's `METADATA`, an sdist's static metadata, else the
//!    sandbox. At most `--jobs` sdists are inspected at once, however many clients wait.
//!
//! Concurrent requests for the same file share one computation. One failing file never
//! affects another request: each computation is its own task, and a panic in it is a
//! refusal of that file only.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{watch, Semaphore};

use crate::dist_cache::{DistCache, MAX_METADATA_FILE};
use crate::error::Error;
use crate::index::{IndexClient, MetadataFile, Sha256Hex};
use crate::inspect::{Inspector, Metadata};
use crate::metadata::CoreMetadata;

use super::access_log::Log;
use super::config::ServeLimits;
use super::copies::LocalCopy;
use super::core_metadata::ServedMetadata;
use super::disk_budget::DiskBudget;
use super::gate::Gate;
use super::refusal::Refusal;
use super::upstream::PageFile;

/// How long a refusal for a reason outside the sdist (the upstream, the host) is kept.
const TRANSIENT_TTL: Duration = Duration::from_secs(10);

/// A metadata file ready to send.
#[derive(Debug)]
pub struct Served {
    /// The core-metadata file, as rendered.
    pub body: Bytes,
    /// Its sha256.
    pub sha256: Sha256Hex,
    /// How it was obtained: `metadata-file` (the upstream's), or an sdistill method.
    pub method: String,
    /// Whether it came from the metadata cache (or this process's memory).
    pub cached: bool,
    /// Whether it depends on nothing but the file's bytes, so the same file always gets
    /// the same metadata file: only then is its sha256 declared on pages.
    pub stable: bool,
}

/// The answer for one file.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A metadata file.
    Served(Arc<Served>),
    /// No metadata file, and why.
    Refused(Arc<Refusal>),
}

/// Where a request's answer came from, for the access log and `X-Sdistill-Cached`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// This process's memory: no work for this request.
    Memory,
    /// Computed (or read from the metadata cache) for this request.
    Computed,
    /// Another request's computation, joined while it ran.
    Joined,
}

struct Remembered {
    outcome: Outcome,
    at: Instant,
}

/// What an answer is about: a file's bytes *and* the name they are served under. The same
/// bytes can be listed under two names (a file that is both a valid `.tar.gz` and a valid
/// wheel; an sdist listed under another project's name), and each name is read, checked
/// and gated as what it says it is, so one name's answer is never another's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AnswerKey {
    sha256: Sha256Hex,
    filename: String,
}

impl AnswerKey {
    fn new(sha256: &Sha256Hex, filename: &str) -> Self {
        Self {
            sha256: sha256.clone(),
            filename: filename.to_string(),
        }
    }

    fn of(file: &PageFile) -> Self {
        Self::new(&file.sha256, file.file.filename.as_str())
    }
}

/// Answers, in memory and in the making.
pub struct Answers {
    inspector: Arc<Inspector>,
    files: DistCache,
    budget: Arc<DiskBudget>,
    jobs: Arc<Semaphore>,
    gate: Gate,
    limits: ServeLimits,
    memory: Mutex<Memory>,
    in_flight: Mutex<HashMap<AnswerKey, watch::Receiver<Option<Outcome>>>>,
    log: Log,
}

/// Remembered outcomes, at most `cap`, the oldest forgotten first.
struct Memory {
    entries: HashMap<AnswerKey, Remembered>,
    order: VecDeque<AnswerKey>,
    cap: usize,
}

impl Memory {
    fn insert(&mut self, key: AnswerKey, outcome: Outcome) {
        let entry = Remembered {
            outcome,
            at: Instant::now(),
        };
        if self.entries.insert(key.clone(), entry).is_none() {
            self.order.push_back(key);
        }
        while self.entries.len() > self.cap {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
    }
}

impl Answers {
    /// Answers computed with `inspector` (its metadata cache on), files kept under
    /// `cache_root`, at most `jobs` sdist inspections at once.
    pub fn new(
        inspector: Arc<Inspector>,
        cache_root: PathBuf,
        jobs: usize,
        gate: Gate,
        limits: ServeLimits,
        log: Log,
    ) -> Self {
        let cap = limits.max_answers.max(1);
        let files = DistCache::new(cache_root);
        Self {
            inspector,
            budget: DiskBudget::new(files.clone(), limits.max_cache_size, log.clone()),
            files,
            jobs: Arc::new(Semaphore::new(jobs.max(1))),
            gate,
            limits,
            memory: Mutex::new(Memory {
                entries: HashMap::new(),
                order: VecDeque::new(),
                cap,
            }),
            in_flight: Mutex::new(HashMap::new()),
            log,
        }
    }

    /// The distribution files under the cache root.
    pub fn files(&self) -> &DistCache {
        &self.files
    }

    /// The budget the kept copies of distribution files stay within.
    pub fn budget(&self) -> &Arc<DiskBudget> {
        &self.budget
    }

    /// A local copy of `file` checked against its sha256 and listed size: the cached
    /// one, or a download checked before it is kept (room made for it in the budget as
    /// it arrives). The copy is not removed while the returned copy lives.
    pub async fn local_copy(
        &self,
        file: &PageFile,
        client: Arc<IndexClient>,
    ) -> Result<LocalCopy, Error> {
        let files = self.files.clone();
        let budget = self.budget.clone();
        let max = self.limits.max_file_size;
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            super::copies::local_copy(&files, &budget, &client, &file, max)
        })
        .await
        .map_err(|e| Error::Internal {
            detail: e.to_string(),
        })?
    }

    /// The sha256 of the metadata file of the distribution with sha256 `dist`, when this
    /// process has served a stable one: what pages declare.
    pub fn metadata_sha256(&self, dist: &Sha256Hex, filename: &str) -> Option<Sha256Hex> {
        let memory = self.memory.lock().ok()?;
        match &memory.entries.get(&AnswerKey::new(dist, filename))?.outcome {
            Outcome::Served(s) if s.stable => Some(s.sha256.clone()),
            _ => None,
        }
    }

    /// The outcome in memory, if any and still valid (refusals and degraded answers
    /// expire).
    fn remembered(&self, dist: &AnswerKey) -> Option<Outcome> {
        let mut memory = self
            .memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = memory.entries.get(dist)?;
        let ttl = match &entry.outcome {
            Outcome::Served(s) if s.stable => return Some(entry.outcome.clone()),
            // A degraded answer (a build requirement that could not be had, ...) is
            // computed again after a while, like a refusal: next time it may be whole.
            Outcome::Served(_) => self.limits.failure_ttl,
            Outcome::Refused(r) if r.transient => TRANSIENT_TTL,
            Outcome::Refused(_) => self.limits.failure_ttl,
        };
        if entry.at.elapsed() < ttl {
            return Some(entry.outcome.clone());
        }
        memory.entries.remove(dist);
        None
    }

    /// The answer for `file`, listed by the upstream `client` serves, and where it came
    /// from.
    pub async fn answer(
        self: &Arc<Self>,
        file: &PageFile,
        client: Arc<IndexClient>,
    ) -> (Outcome, Via) {
        let key = AnswerKey::of(file);
        if let Some(known) = self.remembered(&key) {
            return (known, Via::Memory);
        }
        let (mut waiting, via) = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match in_flight.get(&key) {
                Some(rx) => (rx.clone(), Via::Joined),
                None => {
                    let (tx, rx) = watch::channel(None);
                    in_flight.insert(key.clone(), rx.clone());
                    let this = self.clone();
                    let file = file.clone();
                    // Its own task: a client that hangs up does not cancel the work others
                    // wait for, and a panic in it costs only this file.
                    tokio::spawn(async move {
                        let outcome =
                            match tokio::spawn(this.clone().compute(file.clone(), client)).await {
                                Ok(outcome) => outcome,
                                Err(e) => Outcome::Refused(Arc::new(Refusal::new(
                                    file.file.filename.as_str(),
                                    "internal",
                                    format!("the computation failed: {e}"),
                                    true,
                                ))),
                            };
                        this.finish(&key, outcome, tx);
                    });
                    (rx, Via::Computed)
                }
            }
        };
        let outcome = match waiting.wait_for(Option::is_some).await {
            Ok(value) => value.clone(),
            Err(_) => None,
        };
        (outcome.unwrap_or_else(|| unreachable_refusal(file)), via)
    }

    fn finish(&self, dist: &AnswerKey, outcome: Outcome, tx: watch::Sender<Option<Outcome>>) {
        if let Ok(mut memory) = self.memory.lock() {
            memory.insert(dist.clone(), outcome.clone());
        }
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.remove(dist);
        }
        let _ = tx.send(Some(outcome));
    }

    async fn compute(self: Arc<Self>, file: PageFile, client: Arc<IndexClient>) -> Outcome {
        let name = file.file.filename.as_str().to_string();
        // The metadata cache, by the listed sha256: no download.
        let inspector = self.inspector.clone();
        let sha = file.sha256.clone();
        let listed_name = name.clone();
        if let Ok(Some((meta, warnings, behaviour))) =
            tokio::task::spawn_blocking(move || inspector.cached(sha.as_str(), &listed_name)).await
        {
            return self.serve_answer(&name, &meta, &warnings, behaviour.as_ref(), true, true);
        }
        if let (true, Some(listed)) = (file.file.filename.is_wheel(), &file.file.core_metadata) {
            match self.upstream_metadata(&file, listed, &client).await {
                Ok(served) => return Outcome::Served(Arc::new(served)),
                // The wheel itself has METADATA.
                Err(e) => self.log.event(&format!(
                    "{name}: the upstream's metadata file is unusable ({e}); reading the wheel"
                )),
            }
        }
        if let Some(size) = file.file.size.filter(|s| *s > self.limits.max_file_size) {
            return refused(Refusal::new(
                &name,
                "limit",
                format!(
                    "the file is {size} bytes, more than --max-file-size ({})",
                    self.limits.max_file_size
                ),
                false,
            ));
        }
        let (path, _in_use) = match self.local_copy(&file, client).await {
            Ok(copy) => (copy.path, copy.in_use),
            Err(e) => return refused(Refusal::from_error(&name, &e)),
        };
        // Only sdists may run a guest; a wheel's METADATA is read at once.
        let _permit = if file.file.filename.is_wheel() {
            None
        } else {
            self.jobs.clone().acquire_owned().await.ok()
        };
        let inspector = self.inspector.clone();
        let report =
            match tokio::task::spawn_blocking(move || inspector.inspect_report(&path)).await {
                Ok(report) => report,
                Err(e) => return refused(Refusal::new(&name, "internal", e.to_string(), true)),
            };
        match &report.outcome {
            Ok(meta) => self.serve_answer(
                &name,
                meta,
                &report.warnings,
                report.behaviour.as_ref(),
                report.cached,
                report.reusable,
            ),
            Err(e) => {
                let refusal = Refusal::from_error(&name, e);
                self.log.event(&format!("cannot answer for {name}: {e}"));
                refused(refusal)
            }
        }
    }

    /// A wheel's metadata file from its upstream, checked against the sha256 listed for
    /// it, cached under that sha256.
    async fn upstream_metadata(
        &self,
        file: &PageFile,
        listed: &MetadataFile,
        client: &Arc<IndexClient>,
    ) -> Result<Served, Error> {
        let files = self.files.clone();
        let client = client.clone();
        let url = format!("{}.metadata", file.file.url);
        let stated = listed.sha256.clone();
        let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, Error> {
            if let Some(bytes) = stated.as_ref().and_then(|s| files.cached_metadata(s)) {
                return Ok(bytes);
            }
            let bytes = client.fetch_small(&url, stated.as_ref(), MAX_METADATA_FILE)?;
            if let Some(sha) = &stated {
                files.store_metadata(sha, &bytes);
            }
            Ok(bytes)
        })
        .await
        .map_err(|e| Error::Internal {
            detail: e.to_string(),
        })??;
        let label = format!("{}.metadata", file.file.filename);
        let core = CoreMetadata::parse(&String::from_utf8_lossy(&bytes), &label)?;
        let mut warnings = core.validate(&label)?;
        let (served, more) = ServedMetadata::from_fields(
            &core.name,
            &core.version,
            &core.requires_dist,
            core.requires_python.as_deref(),
            &core.provides_extra,
        )
        .map_err(|e| Error::InvalidMetadata {
            file: label.clone(),
            detail: e.to_string(),
        })?;
        warnings.extend(more);
        for w in &warnings {
            self.log.event(&format!("{label}: {w}"));
        }
        let body = served.render().map_err(|e| Error::InvalidMetadata {
            file: label,
            detail: e.to_string(),
        })?;
        Ok(Served {
            sha256: Sha256Hex::of(body.as_bytes()),
            body: Bytes::from(body),
            method: "metadata-file".to_string(),
            cached: false,
            stable: listed.sha256.is_some(),
        })
    }

    /// Renders an answer of the pipeline, after the gate.
    fn serve_answer(
        &self,
        name: &str,
        meta: &Metadata,
        warnings: &[String],
        behaviour: Option<&crate::observe::Behaviour>,
        cached: bool,
        stable: bool,
    ) -> Outcome {
        if let Err(held) = self.gate.check(meta, warnings, behaviour) {
            return refused(Refusal::new(
                name,
                &format!("gate:{}", held.kind),
                held.reason,
                false,
            ));
        }
        let rendered = ServedMetadata::from_fields(
            &meta.name,
            &meta.version,
            &meta.requires_dist,
            meta.requires_python.as_deref(),
            &meta.provides_extra,
        )
        .and_then(|(served, notes)| served.render().map(|body| (body, notes)));
        let (body, notes) = match rendered {
            Ok(r) => r,
            Err(e) => {
                self.log.event(&format!("cannot answer for {name}: {e}"));
                return refused(Refusal::new(name, "invalid-metadata", e.to_string(), false));
            }
        };
        if !cached {
            for w in warnings.iter().chain(&notes) {
                self.log.event(&format!("{name}: warning: {w}"));
            }
        }
        Outcome::Served(Arc::new(Served {
            sha256: Sha256Hex::of(body.as_bytes()),
            body: Bytes::from(body),
            method: meta.method.as_str().to_string(),
            cached,
            stable,
        }))
    }
}

fn refused(refusal: Refusal) -> Outcome {
    Outcome::Refused(Arc::new(refusal))
}

/// What a waiter gets if the computation it waited for vanished (the runtime shutting
/// down): a refusal, never an answer.
fn unreachable_refusal(file: &PageFile) -> Outcome {
    refused(Refusal::new(
        file.file.filename.as_str(),
        "internal",
        "the computation ended without an answer (shutting down?)",
        true,
    ))
}
