//! Fetching ahead of the resolver, on worker threads.
//!
//! PubGrub asks one question at a time (the versions of a project, the dependencies of
//! one version), and on a cold cache each answer is a network round trip or a sandbox
//! run. The [`Fetcher`] keeps every answer in one place and computes the likely next ones
//! in the background: when the resolver learns of a dependency it *hints* it, and the
//! workers fetch its versions, pick the version the resolver would pick for that range
//! ([`super::candidates::pick`], the same function the resolver uses), fetch that
//! version's metadata and hint its dependencies in turn — a speculative walk of the
//! likely graph, one version per project, while the resolver works through it in its own
//! order. A question the resolver asks is answered from the shared slot: already there,
//! being fetched (it waits), or not yet started (the resolver's thread runs it itself,
//! ahead of the queue).
//!
//! Nothing the resolver decides depends on timing: answers are keyed by project and
//! version, each is computed by the same call whoever runs it, and the resolver only ever
//! reads answers it asked for. What the walk fetched but the resolver never asked about
//! changes nothing but the time (and the caches).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use pep440_rs::Version;
use pep508_rs::{ExtraName, MarkerEnvironment};
use std::str::FromStr;

use super::candidates::{installable, lowest_first, pick};
use super::provider::{DistFile, DistMetadata, MetadataProvider, ProjectVersion};
use super::types::LockRequest;
use super::versions::{salvage, specifier_set, Set};
use crate::error::Result;
use crate::metadata::{normalize_name, parse_requirement};

/// How many worker threads fetch ahead. The work is index round trips (and sandbox runs,
/// which the sandbox bounds by its own guest slots), so more threads than cores.
pub(crate) const WORKERS: usize = 16;

/// How many more versions of a project are fetched ahead once the resolver has tried
/// several of its versions (it is walking back through its history).
const BATCH: usize = 8;

enum Slot<T> {
    /// In the queue, not started: whoever needs it first runs it.
    Queued,
    /// Someone is computing it.
    Running,
    Done(Result<T>),
}

enum Job {
    Versions(String),
    Metadata(String, Version, Vec<DistFile>),
}

/// What the speculative walk knows of one project.
struct Walk {
    /// The range the first hint asked for (and later hints, intersected).
    range: Set,
    /// Extras any hint asked for.
    extras: BTreeSet<String>,
    /// The version picked for it, once its versions are known.
    picked: Option<Version>,
    /// The extras (`None`: the base) whose dependencies were hinted already.
    followed: BTreeSet<Option<String>>,
}

#[derive(Default)]
struct State {
    versions: HashMap<String, Slot<Arc<Vec<ProjectVersion>>>>,
    metadata: HashMap<(String, Version), Slot<Arc<DistMetadata>>>,
    queue: VecDeque<Job>,
    walk: HashMap<String, Walk>,
    /// Projects never fetched from the provider (direct references).
    skip: BTreeSet<String>,
    closed: bool,
}

/// The shared answers of one resolution and the workers' queue. See the module docs.
pub(crate) struct Fetcher<'a> {
    provider: &'a dyn MetadataProvider,
    request: &'a LockRequest,
    markers: MarkerEnvironment,
    constraints: std::collections::BTreeMap<String, Set>,
    root_names: BTreeSet<String>,
    state: Mutex<State>,
    /// Signalled when an answer is stored.
    answered: Condvar,
    /// Signalled when a job is queued or the fetcher closes.
    queued: Condvar,
}

impl<'a> Fetcher<'a> {
    pub(crate) fn new(
        provider: &'a dyn MetadataProvider,
        request: &'a LockRequest,
        markers: MarkerEnvironment,
        constraints: std::collections::BTreeMap<String, Set>,
        root_names: BTreeSet<String>,
    ) -> Self {
        Self {
            provider,
            request,
            markers,
            constraints,
            root_names,
            state: Mutex::new(State::default()),
            answered: Condvar::new(),
            queued: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked left consistent slots behind (it only ever replaces one
        // whole slot), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Projects the fetcher must never ask the provider about (direct references).
    pub(crate) fn skip(&self, names: impl IntoIterator<Item = String>) {
        self.lock().skip.extend(names);
    }

    /// Stops the workers once their current job is done; queued jobs are dropped.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.queue.clear();
        drop(st);
        self.queued.notify_all();
    }

    /// A guard that closes the fetcher when the resolution ends, however it ends (the
    /// workers are scoped threads: the scope waits for them).
    pub(crate) fn closer(&self) -> Closer<'_, 'a> {
        Closer(self)
    }

    /// A worker: runs queued jobs until the fetcher closes.
    pub(crate) fn work(&self) {
        loop {
            let job = {
                let mut st = self.lock();
                loop {
                    if st.closed {
                        return;
                    }
                    match st.queue.pop_front() {
                        Some(job) if claim(&mut st, &job) => break job,
                        Some(_) => continue,
                        None => st = self.queued.wait(st).unwrap_or_else(|p| p.into_inner()),
                    }
                }
            };
            match job {
                Job::Versions(name) => {
                    let result = self.provider.versions_shared(&name);
                    self.store_versions(&name, result);
                }
                Job::Metadata(name, version, files) => {
                    let result = self.fetch_metadata(&name, &version, &files);
                    self.store_metadata(&name, &version, result);
                }
            }
        }
    }

    /// The versions of `name`, from the shared slot or fetched on this thread.
    pub(crate) fn versions(&self, name: &str) -> Result<Arc<Vec<ProjectVersion>>> {
        {
            let mut st = self.lock();
            loop {
                match st.versions.get(name) {
                    Some(Slot::Done(r)) => return r.clone(),
                    Some(Slot::Running) => {
                        st = self.answered.wait(st).unwrap_or_else(|p| p.into_inner())
                    }
                    Some(Slot::Queued) | None => {
                        st.versions.insert(name.to_string(), Slot::Running);
                        break;
                    }
                }
            }
        }
        let result = self.provider.versions_shared(name);
        self.store_versions(name, result.clone());
        result
    }

    /// The dependencies of `name` `version` read from `files`, from the shared slot or
    /// fetched on this thread.
    pub(crate) fn metadata(
        &self,
        name: &str,
        version: &Version,
        files: &[DistFile],
    ) -> Result<Arc<DistMetadata>> {
        let key = (name.to_string(), version.clone());
        {
            let mut st = self.lock();
            loop {
                match st.metadata.get(&key) {
                    Some(Slot::Done(r)) => return r.clone(),
                    Some(Slot::Running) => {
                        st = self.answered.wait(st).unwrap_or_else(|p| p.into_inner())
                    }
                    Some(Slot::Queued) | None => {
                        st.metadata.insert(key.clone(), Slot::Running);
                        break;
                    }
                }
            }
        }
        let result = self.fetch_metadata(name, version, files);
        self.store_metadata(name, version, result.clone());
        result
    }

    fn fetch_metadata(
        &self,
        name: &str,
        version: &Version,
        files: &[DistFile],
    ) -> Result<Arc<DistMetadata>> {
        self.provider
            .metadata(name, version, files, &self.request.env)
            .map(Arc::new)
    }

    /// Queues the metadata of `name` `version` unless it is known or on its way.
    pub(crate) fn prefetch_metadata(&self, name: &str, version: &Version, files: Vec<DistFile>) {
        let mut st = self.lock();
        if st.closed || st.skip.contains(name) {
            return;
        }
        let key = (name.to_string(), version.clone());
        if st.metadata.contains_key(&key) {
            return;
        }
        st.metadata.insert(key, Slot::Queued);
        st.queue
            .push_back(Job::Metadata(name.to_string(), version.clone(), files));
        drop(st);
        self.queued.notify_one();
    }

    /// Tells the walk that `name` is needed in `range`, with `extras`: its versions, the
    /// likely version's metadata and, in turn, its dependencies are fetched ahead.
    pub(crate) fn hint(&self, name: &str, range: &Set, extras: BTreeSet<String>) {
        let mut st = self.lock();
        if st.closed || st.skip.contains(name) {
            return;
        }
        let follow = match st.walk.get_mut(name) {
            Some(walk) => {
                let before = walk.extras.len();
                walk.extras.extend(extras);
                (walk.extras.len() > before)
                    .then(|| walk.picked.clone())
                    .flatten()
            }
            None => {
                st.walk.insert(
                    name.to_string(),
                    Walk {
                        range: range.clone(),
                        extras,
                        picked: None,
                        followed: BTreeSet::new(),
                    },
                );
                match st.versions.get(name) {
                    None => {
                        st.versions.insert(name.to_string(), Slot::Queued);
                        st.queue.push_back(Job::Versions(name.to_string()));
                        drop(st);
                        self.queued.notify_one();
                        return;
                    }
                    Some(Slot::Done(Ok(_))) => {
                        drop(st);
                        self.after_versions(name);
                        return;
                    }
                    _ => None,
                }
            }
        };
        drop(st);
        if let Some(version) = follow {
            self.after_metadata(name, &version);
        }
    }

    fn store_versions(&self, name: &str, result: Result<Arc<Vec<ProjectVersion>>>) {
        let ok = result.is_ok();
        self.lock()
            .versions
            .insert(name.to_string(), Slot::Done(result));
        self.answered.notify_all();
        if ok {
            self.after_versions(name);
        }
    }

    fn store_metadata(&self, name: &str, version: &Version, result: Result<Arc<DistMetadata>>) {
        let ok = result.is_ok();
        self.lock()
            .metadata
            .insert((name.to_string(), version.clone()), Slot::Done(result));
        self.answered.notify_all();
        if ok {
            self.after_metadata(name, version);
        }
    }

    /// The walk's next step once `name`'s versions are known: queue the metadata of the
    /// version the resolver would pick for the hinted range.
    fn after_versions(&self, name: &str) {
        let (range, versions) = {
            let st = self.lock();
            let Some(walk) = st.walk.get(name).filter(|w| w.picked.is_none()) else {
                return;
            };
            let Some(Slot::Done(Ok(versions))) = st.versions.get(name) else {
                return;
            };
            (walk.range.clone(), versions.clone())
        };
        let (candidates, _) = installable(self.request, name, &versions);
        let range = match self.constraints.get(name) {
            Some(c) => range.intersection(c),
            None => range,
        };
        let lowest = lowest_first(self.request, name, &self.root_names);
        let prefer: Vec<&Version> = self.request.preferences.get(name).into_iter().collect();
        let Some(chosen) = pick(&candidates, &range, self.request, lowest, &prefer) else {
            return;
        };
        let version = chosen.version.clone();
        if let Some(walk) = self.lock().walk.get_mut(name) {
            walk.picked = Some(version.clone());
        }
        self.prefetch_metadata(name, &version, chosen.usable.clone());
        // Already known (the resolver asked first): go on to its dependencies.
        let known = matches!(
            self.lock()
                .metadata
                .get(&(name.to_string(), version.clone())),
            Some(Slot::Done(Ok(_)))
        );
        if known {
            self.after_metadata(name, &version);
        }
    }

    /// The walk's next step once the picked version's metadata is known: hint every
    /// dependency the target needs (for the base and each hinted extra not followed yet).
    fn after_metadata(&self, name: &str, version: &Version) {
        let (meta, todo) = {
            let mut st = self.lock();
            let meta = match st.metadata.get(&(name.to_string(), version.clone())) {
                Some(Slot::Done(Ok(m))) => m.clone(),
                _ => return,
            };
            let Some(walk) = st.walk.get_mut(name) else {
                return;
            };
            if walk.picked.as_ref() != Some(version) {
                return;
            }
            let wanted: Vec<Option<String>> = std::iter::once(None)
                .chain(walk.extras.iter().cloned().map(Some))
                .filter(|e| !walk.followed.contains(e))
                .collect();
            walk.followed.extend(wanted.iter().cloned());
            (meta, wanted)
        };
        for extra in todo {
            for (dep, range, extras) in self.dependencies(name, &meta, extra.as_deref()) {
                self.hint(&dep, &range, extras);
            }
        }
    }

    /// The dependencies `meta` adds on the target for `extra` (`None`: the base ones), as
    /// the resolver reads them; text it cannot read is skipped (the resolver warns).
    fn dependencies(
        &self,
        owner: &str,
        meta: &DistMetadata,
        extra: Option<&str>,
    ) -> Vec<(String, Set, BTreeSet<String>)> {
        let extras: Vec<ExtraName> = extra
            .and_then(|e| ExtraName::from_str(e).ok())
            .into_iter()
            .collect();
        let mut out = Vec::new();
        for text in &meta.requires_dist {
            let Some(req) = parse_requirement(text).ok().or_else(|| salvage(text)) else {
                continue;
            };
            let wanted = req.marker.evaluate(&self.markers, &extras);
            let base = req.marker.evaluate(&self.markers, &[]);
            if !wanted || (extra.is_some() && base) {
                continue;
            }
            let name = normalize_name(req.name.as_ref());
            if name == owner {
                continue;
            }
            let range = specifier_set(&req).unwrap_or_else(|_| Set::full());
            let extras = req
                .extras
                .iter()
                .map(|e| normalize_name(e.as_ref()))
                .collect();
            out.push((name, range, extras));
        }
        out
    }

    /// Fetches ahead the next versions the resolver will try for `name` after `chosen`,
    /// when it is walking back through `name`'s history (`tries` choices so far).
    pub(crate) fn batch(
        &self,
        name: &str,
        fits: &[&super::candidates::Candidate],
        chosen: &Version,
        tries: usize,
    ) {
        if tries < 3 {
            return;
        }
        let after = fits
            .iter()
            .skip_while(|c| &c.version != chosen)
            .skip(1)
            .take(BATCH);
        for c in after {
            self.prefetch_metadata(name, &c.version, c.usable.clone());
        }
    }
}

/// Marks a queued job as running; false if someone else has it already.
fn claim(st: &mut State, job: &Job) -> bool {
    match job {
        Job::Versions(name) => take_queued(st.versions.get_mut(name)),
        Job::Metadata(name, version, _) => {
            take_queued(st.metadata.get_mut(&(name.clone(), version.clone())))
        }
    }
}

fn take_queued<T>(slot: Option<&mut Slot<T>>) -> bool {
    match slot {
        Some(s @ Slot::Queued) => {
            *s = Slot::Running;
            true
        }
        _ => false,
    }
}

/// Closes its [`Fetcher`] when dropped.
pub(crate) struct Closer<'f, 'a>(&'f Fetcher<'a>);

impl Drop for Closer<'_, '_> {
    fn drop(&mut self) {
        self.0.close();
    }
}
