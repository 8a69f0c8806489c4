//! Locking: requirements in, exact hash-pinned versions out, for one target environment
//! (or, through [`universal`], for every environment of a matrix).
//!
//! | module | job |
//! |---|---|
//! | [`requirements`] | read `requirements.in`-style files (`-r`, `-c`, continuations, stdin) |
//! | [`project`], [`groups`] | a project's own dependencies, extras and PEP 735 groups |
//! | [`config`] | `[tool.sdistill]`: a project's lock settings |
//! | [`direct`] | `name @ URL` requirements: what can be hash-pinned, validated |
//! | [`environment`] | the target: marker environment, `Requires-Python`, wheel tags |
//! | [`provider`] | versions and dependencies: the [`MetadataProvider`] seam, [`IndexProvider`] |
//! | (this module) | the PubGrub adapter: extras, yanked, pre-releases, direct references |
//! | `candidates` | which versions the target can install, and which one to try first |
//! | `fetch` | the provider's answers, shared with worker threads that fetch ahead |
//! | `requires` | what a version's metadata makes it depend on, extras tied to projects |
//! | [`matrix`] | the environments of a universal lock, and the markers that pick them |
//! | [`universal`] | one resolution per environment, merged into pins with markers |
//! | `versions` | PEP 440 specifiers as version sets |
//! | [`types`] | the request and the [`Resolution`] |
//! | [`caveats`] | which answers needed help a real build will not get |
//! | [`output`] | requirements.txt, `pylock.toml`, a JSON report, and `--check`'s diff |
//!
//! The resolver is [`pubgrub`] over [`pep440_rs`] versions. Version sets are
//! `Ranges<Version>` built from PEP 440 specifiers, so `~=`, `!=1.*`, `===` and friends
//! keep their PEP 440 meaning. An extra `name[x]` is its own package that pins `name` to
//! the same version and adds the requirements `x` turns on (see [`Node`] for why it is two
//! packages, and `tie_extras_to_bases` for the ranges it inherits). Decisions depend only
//! on the inputs and the index's contents: PubGrub's priorities use the order in which
//! packages were met, never how fast their answers came back. Markers are
//! evaluated for the target; a package that only some marker pulled in is written with
//! that marker (combined along every path that reaches it).

mod candidates;
pub mod caveats;
pub mod config;
pub mod direct;
pub mod environment;
mod fetch;
mod finish;
pub mod groups;
mod hints;
pub mod matrix;
pub mod output;
pub mod project;
pub mod provider;
pub mod requirements;
mod requires;
pub mod types;
pub mod universal;
mod versions;

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use pep508_rs::{MarkerEnvironment, MarkerTree};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyConstraints, DependencyProvider,
    PackageResolutionStatistics, PubGrubError, Ranges, Reporter,
};

use crate::error::{Error, Result};
use crate::metadata::normalize_name;
use crate::sandbox::Notify;
use candidates::Candidate;
use direct::{DirectDist, DirectRef};
use fetch::Fetcher;
use requires::tie_extras_to_bases;
use versions::{pinned_version, specifier_set, Set};

pub use environment::TargetEnv;
/// Re-exported so callers name the same PEP 440/508 types the resolver uses.
pub use pep440_rs::Version;
pub use pep508_rs::Requirement as Pep508Requirement;
pub use provider::{
    DistFile, DistMetadata, IndexProvider, Integrity, MetadataProvider, ProjectVersion,
};
pub use types::{
    LockRequest, LockedDependency, LockedDirect, LockedPackage, MetadataSource, NameSet,
    Resolution, RootRequirement, Strategy, TargetAnswer,
};
pub use universal::resolve_matrix;
pub(crate) use versions::salvage;

/// Resolves `request` with facts from `provider`. Progress lines go to `notify`.
pub fn resolve(
    request: &LockRequest,
    provider: &dyn MetadataProvider,
    notify: &Notify,
) -> Result<Resolution> {
    let markers = request.env.markers();
    let constraints = constraint_sets(request, &markers)?;
    let root_names = request
        .requirements
        .iter()
        .map(|r| normalize_name(r.requirement.name.as_ref()))
        .collect();
    let fetcher = Fetcher::new(
        provider,
        request,
        markers.clone(),
        constraints.clone(),
        root_names,
    );
    std::thread::scope(|scope| {
        for _ in 0..fetch::WORKERS {
            scope.spawn(|| fetcher.work());
        }
        // The workers stop when the resolution ends, however it ends.
        let _closer = fetcher.closer();
        let solver = Solver::new(request, provider, &fetcher, notify, markers, constraints)?;
        loop {
            match solve(&solver, provider) {
                Err(_) if solver.restart_needed() => continue,
                outcome => return outcome,
            }
        }
    })
}

/// Distinct versions of one project the resolver may try before it starts over with that
/// project decided early and what kept rejecting it decided late (see [`Solver::early`]).
const WALK_LIMIT: usize = 5;
/// How many start-overs one resolution may take.
const MAX_RESTARTS: usize = 8;

/// The versions `-c` constraint files allow, by project (only those whose marker holds on
/// the target).
fn constraint_sets(
    request: &LockRequest,
    markers: &MarkerEnvironment,
) -> Result<BTreeMap<String, Set>> {
    let mut constraints: BTreeMap<String, Set> = BTreeMap::new();
    for c in &request.constraints {
        if !c.requirement.marker.evaluate(markers, &[]) {
            continue;
        }
        let set = specifier_set(&c.requirement).map_err(|detail| Error::Usage {
            detail: format!("{}: {detail}", c.origin),
        })?;
        let name = normalize_name(c.requirement.name.as_ref());
        let entry = constraints.entry(name).or_insert_with(Ranges::full);
        *entry = entry.intersection(&set);
    }
    Ok(constraints)
}

/// Runs PubGrub and turns its answer into a [`Resolution`] or an explained failure.
fn solve(solver: &Solver<'_>, provider: &dyn MetadataProvider) -> Result<Resolution> {
    let selected = match pubgrub::resolve(solver, Node::Root, Version::new([0u64])) {
        Ok(selected) => selected,
        Err(PubGrubError::NoSolution(tree)) => {
            // The root is a made-up package at a made-up version: say "you" instead.
            let mut explanation = DefaultStringReporter::report(&tree)
                .replace("your requirements 0 depends on", "you require")
                .replace(
                    "your requirements 0 is forbidden",
                    "your requirements cannot all be met",
                )
                .replace("your requirements 0", "your requirements");
            for hint in solver
                .hints(&explanation)
                .into_iter()
                .chain(solver.provider_warnings())
            {
                explanation.push_str("\nhint: ");
                explanation.push_str(&hint);
            }
            return Err(Error::NoSolution { explanation });
        }
        Err(PubGrubError::ErrorRetrievingDependencies { source, .. })
        | Err(PubGrubError::ErrorChoosingVersion { source, .. })
        | Err(PubGrubError::ErrorInShouldCancel(source)) => return Err(source),
    };
    let selected: BTreeMap<Node, Version> = selected.into_iter().collect();
    let mut resolution = solver.finish(&selected)?;
    resolution.warnings.extend(solver.provider_warnings());
    let _ = provider;
    Ok(resolution)
}

/// A PubGrub package: the user's requirements, a project, or a project with one extra.
///
/// An extra is two packages. `Extra(name, x)` at version V only ties the project and
/// the extra's own requirements to V (no metadata needed to say so); `ExtraDeps(name, x)`
/// at V holds what the extra adds, read from V's metadata. When the project is decided at
/// a version the extra cannot take (its requirements conflict), PubGrub then runs through
/// the extra's other versions without fetching anything, each one failing at once on the
/// tie, instead of reading the metadata of every release of the project.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Node {
    Root,
    Base(String),
    Extra(String, String),
    ExtraDeps(String, String),
}

impl Node {
    fn project(&self) -> Option<&str> {
        match self {
            Node::Root => None,
            Node::Base(n) | Node::Extra(n, _) | Node::ExtraDeps(n, _) => Some(n),
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Root => f.write_str("your requirements"),
            Node::Base(n) => f.write_str(n),
            Node::Extra(n, e) | Node::ExtraDeps(n, e) => write!(f, "{n}[{e}]"),
        }
    }
}

/// A version's dependencies, or why they could not be read (which ends the lock).
type MetadataOutcome = std::result::Result<Rc<DistMetadata>, String>;

struct Edge {
    to: Node,
    marker: MarkerTree,
    origin: Option<String>,
}

struct Solver<'a> {
    request: &'a LockRequest,
    provider: &'a dyn MetadataProvider,
    /// Every answer from the provider goes through it (shared with the workers).
    fetcher: &'a Fetcher<'a>,
    notify: &'a Notify,
    markers: MarkerEnvironment,
    constraints: BTreeMap<String, Set>,
    candidates: RefCell<BTreeMap<String, Rc<Vec<Candidate>>>>,
    metadata: RefCell<BTreeMap<(String, Version), MetadataOutcome>>,
    edges: RefCell<BTreeMap<(Node, Version), Vec<Edge>>>,
    warnings: RefCell<BTreeSet<String>>,
    /// Projects pinned to a file by a direct reference: their only candidate.
    direct: BTreeMap<String, DirectDist>,
    /// The projects the user's requirements name (`--resolution lowest-direct`).
    root_names: BTreeSet<String>,
    /// Versions listed but not installable on the target, and why (for hints).
    excluded: RefCell<BTreeMap<String, Vec<(Version, String)>>>,
    /// Every range any requirement asked of a project (hints only suggest versions in it).
    requested: RefCell<BTreeMap<String, Set>>,
    /// When each project was first met (the root's requirements first, then in the order
    /// PubGrub asked for dependencies): the order of [`Solver::prioritize`], which must not
    /// depend on how fast anything was fetched.
    discovered: RefCell<BTreeMap<String, usize>>,
    /// The version each project was last decided at: an extra takes the same one.
    decided: RefCell<BTreeMap<String, Version>>,
    /// The versions chosen so far for each project (walking back through its history
    /// makes the fetcher fetch ahead).
    tries: RefCell<BTreeMap<String, BTreeSet<Version>>>,
    /// Projects decided before the others: each was walked back through more than
    /// [`WALK_LIMIT`] releases in an earlier attempt (kombu, rejected again and again by
    /// the packaging version decided before it), so the resolution started over deciding
    /// it early — at its newest version that fits — and what kept rejecting it
    /// ([`Solver::late`]) after everything else, to adapt. This is uv's "conflict early /
    /// conflict late", and gives the answers pip and uv give; it depends only on the
    /// inputs.
    early: RefCell<BTreeSet<String>>,
    /// Projects decided after every other: what kept rejecting a walked project — a
    /// decided project whose requirement excluded the versions tried, or one whose decided
    /// version the tried versions' requirements excluded (the culprits).
    late: RefCell<BTreeSet<String>>,
    /// The ranges each (package, version) required, to find the culprits of a walk.
    required: RefCell<BTreeMap<(Node, Version), BTreeMap<Node, Set>>>,
    /// Start-overs so far.
    restarts: std::cell::Cell<usize>,
    /// The project whose walk asked for a start-over.
    restart: RefCell<Option<String>>,
}

impl<'a> Solver<'a> {
    fn new(
        request: &'a LockRequest,
        provider: &'a dyn MetadataProvider,
        fetcher: &'a Fetcher<'a>,
        notify: &'a Notify,
        markers: MarkerEnvironment,
        constraints: BTreeMap<String, Set>,
    ) -> Result<Self> {
        let mut references: BTreeMap<String, DirectRef> = BTreeMap::new();
        let mut root_names = BTreeSet::new();
        for r in &request.requirements {
            let name = normalize_name(r.requirement.name.as_ref());
            root_names.insert(name.clone());
            let Some(reference) = DirectRef::from_requirement(&r.requirement, &r.origin)? else {
                specifier_set(&r.requirement).map_err(|detail| Error::Usage {
                    detail: format!("{}: {detail}", r.origin),
                })?;
                continue;
            };
            if !r.requirement.marker.evaluate(&markers, &[]) {
                continue;
            }
            if let Some(other) = references.get(&name).filter(|o| **o != reference) {
                return Err(Error::Usage {
                    detail: format!(
                        "{}: {name} is asked for at two URLs ({} and {}); a lock holds one",
                        r.origin, other.url, reference.url
                    ),
                });
            }
            references.insert(name, reference);
        }
        fetcher.skip(references.keys().cloned());
        let solver = Self {
            request,
            provider,
            fetcher,
            notify,
            markers,
            constraints,
            candidates: RefCell::new(BTreeMap::new()),
            metadata: RefCell::new(BTreeMap::new()),
            edges: RefCell::new(BTreeMap::new()),
            warnings: RefCell::new(BTreeSet::new()),
            direct: BTreeMap::new(),
            root_names,
            excluded: RefCell::new(BTreeMap::new()),
            requested: RefCell::new(BTreeMap::new()),
            discovered: RefCell::new(BTreeMap::new()),
            decided: RefCell::new(BTreeMap::new()),
            tries: RefCell::new(BTreeMap::new()),
            early: RefCell::new(BTreeSet::new()),
            late: RefCell::new(BTreeSet::new()),
            required: RefCell::new(BTreeMap::new()),
            restarts: std::cell::Cell::new(0),
            restart: RefCell::new(None),
        };
        solver.fetch_direct(references)
    }

    /// Fetches every direct reference (in parallel) and keeps its answer: the only
    /// candidate of its project, with its dependencies already known.
    fn fetch_direct(mut self, references: BTreeMap<String, DirectRef>) -> Result<Self> {
        let refs: Vec<DirectRef> = references.into_values().collect();
        let provider = self.provider;
        for fetched in parallel(&refs, |r| provider.direct(r)) {
            let dist = fetched?;
            let name = dist.reference.name.to_string();
            if dist.reference.filename.is_wheel()
                && !self
                    .request
                    .env
                    .wheel_compatible(dist.reference.filename.as_str())
            {
                return Err(Error::Usage {
                    detail: format!(
                        "{name} @ {}: the wheel is not installable on {}",
                        dist.reference.url,
                        self.request.env.describe()
                    ),
                });
            }
            let file = dist.reference.filename.to_string();
            let _known =
                self.record_metadata(&name, &dist.version, &file, Ok(dist.metadata.clone()))?;
            self.direct.insert(name, dist);
        }
        Ok(self)
    }

    /// Whether the last attempt stopped to start over (a project walked too far); if so,
    /// that project now comes last and the per-attempt state is reset. Answers, edges and
    /// warnings are kept: they depend only on the project and version.
    fn restart_needed(&self) -> bool {
        let Some(name) = self.restart.borrow_mut().take() else {
            return false;
        };
        let culprits = self.culprits(&name);
        self.notify.say(&format!(
            "{name}: tried more than {WALK_LIMIT} versions; starting over with it decided early and {} late",
            if culprits.is_empty() { "nothing".to_string() } else { culprits.join(", ") }
        ));
        self.late.borrow_mut().remove(&name);
        self.late.borrow_mut().extend(culprits);
        self.early.borrow_mut().insert(name);
        self.restarts.set(self.restarts.get() + 1);
        self.discovered.borrow_mut().clear();
        self.decided.borrow_mut().clear();
        self.tries.borrow_mut().clear();
        true
    }

    /// What kept rejecting the versions of `walked` tried in this attempt: decided projects
    /// whose requirement on it excluded them (celery 5.7.0 requires kombu>=5.7.0), and
    /// projects at a version that the tried versions' requirements (their extras' too)
    /// excluded (kombu[redis] 5.7.0 requires packaging==26.3, packaging was at 26.4).
    fn culprits(&self, walked: &str) -> Vec<String> {
        let tries = self.tries.borrow();
        let decided = self.decided.borrow();
        let required = self.required.borrow();
        let early = self.early.borrow();
        let Some(tried) = tries.get(walked) else {
            return Vec::new();
        };
        let mut out = BTreeSet::new();
        for (p, v) in decided.iter().filter(|(p, _)| *p != walked) {
            let asks = required
                .iter()
                .filter(|((node, version), _)| node.project() == Some(p.as_str()) && version == v)
                .filter_map(|(_, deps)| deps.get(&Node::Base(walked.to_string())));
            for range in asks {
                if tried.iter().any(|t| !range.contains(t)) {
                    out.insert(p.clone());
                }
            }
        }
        for ((node, version), deps) in required.iter() {
            if node.project() != Some(walked) || !tried.contains(version) {
                continue;
            }
            for (dep, range) in deps {
                let Node::Base(d) = dep else { continue };
                if d != walked && decided.get(d).is_some_and(|at| !range.contains(at)) {
                    out.insert(d.clone());
                }
            }
        }
        out.into_iter().filter(|c| !early.contains(c)).collect()
    }

    /// Records a warning, cut to a readable length: warnings quote requirement text from
    /// metadata, which may be megabytes long.
    fn warn(&self, text: String) {
        const MAX: usize = 1000;
        let text = match text.char_indices().nth(MAX) {
            Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
            None => text,
        };
        self.warnings.borrow_mut().insert(text);
    }

    /// The installable versions of `name`, newest first.
    fn candidates(&self, name: &str) -> Result<Rc<Vec<Candidate>>> {
        if let Some(c) = self.candidates.borrow().get(name) {
            return Ok(c.clone());
        }
        if let Some(d) = self.direct.get(name) {
            let only = Rc::new(vec![Candidate {
                version: d.version.clone(),
                usable: Vec::new(),
                all: Vec::new(),
                yanked: false,
            }]);
            self.candidates
                .borrow_mut()
                .insert(name.to_string(), only.clone());
            return Ok(only);
        }
        let versions = self.fetcher.versions(name)?;
        let (candidates, excluded) = candidates::installable(self.request, name, &versions);
        self.excluded
            .borrow_mut()
            .insert(name.to_string(), excluded);
        let candidates = Rc::new(candidates);
        self.candidates
            .borrow_mut()
            .insert(name.to_string(), candidates.clone());
        Ok(candidates)
    }

    fn metadata(&self, name: &str, version: &Version) -> Result<MetadataOutcome> {
        let key = (name.to_string(), version.clone());
        if let Some(m) = self.metadata.borrow().get(&key) {
            return Ok(m.clone());
        }
        let candidates = self.candidates(name)?;
        let Some(c) = candidates.iter().find(|c| &c.version == version) else {
            return Ok(Err("no usable file".to_string()));
        };
        let fetched = self.fetcher.metadata(name, version, &c.usable);
        let file = c.usable.first().map(|f| f.filename.as_str()).unwrap_or("?");
        self.record_metadata(name, version, file, fetched.map(Arc::unwrap_or_clone))
    }

    /// What the provider refused on the index pages of the projects this resolution read
    /// (not of pages the fetcher read ahead for nothing, which would depend on timing).
    fn provider_warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self.provider.warnings();
        for name in self.candidates.borrow().keys() {
            out.extend(self.provider.project_warnings(name));
        }
        out.sort();
        out.dedup();
        out
    }

    /// Keeps a provider answer: dependencies, or why they could not be read.
    fn record_metadata(
        &self,
        name: &str,
        version: &Version,
        file: &str,
        fetched: Result<DistMetadata>,
    ) -> Result<MetadataOutcome> {
        let key = (name.to_string(), version.clone());
        let result = match fetched {
            Ok(m) => {
                self.notify.say(&format!(
                    "{name} {version}: dependencies from {} ({})",
                    m.filename, m.method
                ));
                for w in &m.warnings {
                    self.warn(format!("{name} {version}: {w}"));
                }
                Ok(Rc::new(m))
            }
            Err(e @ Error::Index { .. }) => return Err(e),
            // Like pip and uv, a build that fails ends the lock with the reason: quietly
            // backtracking to an older version that happens to build would hand the user
            // a lock they did not ask for (and could mean hundreds of sandbox runs).
            Err(e) => Err(format!(
                "cannot read the dependencies of {name} {version} from {file}: {e} (pin another version of {name}, or use --only-binary {name} if it has wheels)"
            )),
        };
        self.metadata.borrow_mut().insert(key, result.clone());
        Ok(result)
    }

    /// Tells the fetcher what the resolver will most likely ask next: every dependency
    /// just learnt, with the range and extras asked (it fetches their versions, the likely
    /// version's metadata, and so on down the graph, on its workers). Returns at once.
    fn prefetch(&self, deps: &BTreeMap<Node, Set>) {
        for (node, range) in deps {
            let extras = match node {
                Node::Extra(_, e) => BTreeSet::from([e.clone()]),
                _ => BTreeSet::new(),
            };
            if let Some(name) = node.project() {
                if !self.direct.contains_key(name) {
                    self.fetcher.hint(name, range, extras);
                }
            }
        }
    }

    fn constrained(&self, name: &str, set: Set) -> Set {
        match self.constraints.get(name) {
            Some(c) => set.intersection(c),
            None => set,
        }
    }
}

/// Runs `f` over `items` on up to 8 threads (the work is network round trips and sandbox
/// runs); results are in input order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..items.len().min(8) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|s| s.into_inner().ok().flatten())
        .collect()
}

impl DependencyProvider for Solver<'_> {
    type P = Node;
    type V = Version;
    type VS = Set;
    type M = String;
    type Err = Error;
    type Priority = (bool, bool, bool, Reverse<usize>, bool);

    fn prioritize(
        &self,
        package: &Node,
        range: &Set,
        _stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        // Pinned packages first (they cannot branch); then projects an earlier attempt had
        // to walk (`early`), and what kept rejecting them after all others (`late`); then
        // the order projects were met, breadth-first from your requirements, as pip and uv
        // go; a project before its own extras, so an extra finds its project decided and
        // takes that version (see `choose_version`). Only the inputs and the index's
        // contents shape this, never how fast an answer came back.
        let discovered = package
            .project()
            .and_then(|n| self.discovered.borrow().get(n).copied())
            .unwrap_or(usize::MAX);
        let late = package
            .project()
            .is_some_and(|n| self.late.borrow().contains(n));
        let early = package
            .project()
            .is_some_and(|n| self.early.borrow().contains(n));
        (
            pinned_version(range).is_some(),
            early,
            !late,
            Reverse(discovered),
            !matches!(package, Node::Extra(..)),
        )
    }

    fn choose_version(&self, package: &Node, range: &Set) -> Result<Option<Version>> {
        let Some(name) = package.project() else {
            return Ok(Some(Version::new([0u64])));
        };
        let candidates = self.candidates(name)?;
        let lowest = candidates::lowest_first(self.request, name, &self.root_names);
        // An extra is its project at the same version: take the version the project was
        // decided at. Choosing on its own, an extra would try the newest version, learn
        // that only its base's version fits, and try the next, walking through the whole
        // history one metadata fetch at a time.
        let decided = match package {
            Node::Extra(..) => self.decided.borrow().get(name).cloned(),
            _ => None,
        };
        let mut prefer: Vec<&Version> = decided.iter().collect();
        prefer.extend(self.request.preferences.get(name));
        let chosen = candidates::pick(&candidates, range, self.request, lowest, &prefer)
            .map(|c| c.version.clone());
        if let (Node::Base(_), Some(version)) = (package, &chosen) {
            self.decided
                .borrow_mut()
                .insert(name.to_string(), version.clone());
            let tries = {
                let mut tries = self.tries.borrow_mut();
                let slot = tries.entry(name.to_string()).or_default();
                slot.insert(version.clone());
                slot.len()
            };
            let fits = candidates::fitting(&candidates, range, lowest);
            self.fetcher.batch(name, &fits, version, tries);
            let early = self.early.borrow().contains(name);
            if tries > WALK_LIMIT && !early && self.restarts.get() < MAX_RESTARTS {
                *self.restart.borrow_mut() = Some(name.to_string());
                return Err(Error::Internal {
                    detail: format!("start over with {name} early"),
                });
            }
        }
        Ok(chosen)
    }

    fn get_dependencies(
        &self,
        package: &Node,
        version: &Version,
    ) -> Result<Dependencies<Node, Set, String>> {
        let mut deps: BTreeMap<Node, Set> = BTreeMap::new();
        let mut edges = Vec::new();
        match package {
            Node::Root => {
                for r in &self.request.requirements {
                    let req = &r.requirement;
                    if !req.marker.evaluate(&self.markers, &[]) {
                        continue;
                    }
                    let name = normalize_name(req.name.as_ref());
                    // A direct reference's project has one candidate: its file's version.
                    let set = if self.direct.contains_key(&name) {
                        Ranges::full()
                    } else {
                        specifier_set(req).map_err(|detail| Error::Usage { detail })?
                    };
                    let set = self.constrained(&name, set);
                    let mut nodes = vec![Node::Base(name.clone())];
                    nodes.extend(
                        req.extras
                            .iter()
                            .map(|e| Node::Extra(name.clone(), normalize_name(e.as_ref()))),
                    );
                    for node in nodes {
                        let slot = deps.entry(node.clone()).or_insert_with(Ranges::full);
                        *slot = slot.intersection(&set);
                        edges.push(Edge {
                            to: node,
                            marker: req.marker.clone(),
                            origin: Some(r.origin.clone()),
                        });
                    }
                }
            }
            Node::Extra(name, e) => {
                for to in [
                    Node::Base(name.clone()),
                    Node::ExtraDeps(name.clone(), e.clone()),
                ] {
                    deps.insert(to.clone(), Ranges::singleton(version.clone()));
                    edges.push(Edge {
                        to,
                        marker: MarkerTree::TRUE,
                        origin: None,
                    });
                }
            }
            Node::Base(name) | Node::ExtraDeps(name, _) => {
                let meta = match self.metadata(name, version)? {
                    Ok(m) => m,
                    Err(detail) => return Err(Error::NoMetadata { detail }),
                };
                if let Some(rp) = &meta.requires_python {
                    if !self.request.env.admits(rp) {
                        return Ok(Dependencies::Unavailable(format!(
                            "it requires Python {rp}"
                        )));
                    }
                }
                let extra = match package {
                    Node::ExtraDeps(_, e) => {
                        if !meta.provides_extra.iter().any(|p| normalize_name(p) == *e) {
                            self.warn(format!("{name} {version} does not provide the extra `{e}`"));
                        }
                        Some(e.as_str())
                    }
                    _ => None,
                };
                self.add_requirements(
                    (package, version),
                    name,
                    &meta.requires_dist,
                    extra,
                    &mut deps,
                    &mut edges,
                );
                // What the project itself requires holds for its extras too.
                let mut implied = BTreeMap::new();
                if extra.is_some() {
                    let base = (&Node::Base(name.clone()), version);
                    let mut unused = Vec::new();
                    self.add_requirements(
                        base,
                        name,
                        &meta.requires_dist,
                        None,
                        &mut implied,
                        &mut unused,
                    );
                }
                tie_extras_to_bases(&mut deps, &implied);
            }
        }
        self.required
            .borrow_mut()
            .insert((package.clone(), version.clone()), deps.clone());
        {
            let mut discovered = self.discovered.borrow_mut();
            for name in deps.keys().filter_map(Node::project) {
                let next = discovered.len();
                discovered.entry(name.to_string()).or_insert(next);
            }
        }
        {
            let mut requested = self.requested.borrow_mut();
            for (node, set) in &deps {
                if let Some(name) = node.project() {
                    let slot = requested
                        .entry(name.to_string())
                        .or_insert_with(Ranges::empty);
                    *slot = slot.union(set);
                }
            }
        }
        self.prefetch(&deps);
        self.edges
            .borrow_mut()
            .insert((package.clone(), version.clone()), edges);
        Ok(Dependencies::Available(
            deps.into_iter().collect::<DependencyConstraints<_, _>>(),
        ))
    }
}
