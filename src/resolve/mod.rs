//! Locking: requirements in, exact hash-pinned versions out, for one target environment.
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
//! | `versions` | PEP 440 specifiers as version sets |
//! | [`types`] | the request and the [`Resolution`] |
//! | [`caveats`] | which answers needed help a real build will not get |
//! | [`output`] | requirements.txt, `pylock.toml`, a JSON report, and `--check`'s diff |
//!
//! The resolver is [`pubgrub`] over [`pep440_rs`] versions. Version sets are
//! `Ranges<Version>` built from PEP 440 specifiers, so `~=`, `!=1.*`, `===` and friends
//! keep their PEP 440 meaning. An extra `name[x]` is its own package that pins `name` to
//! the same version and adds the requirements `x` turns on, as uv models it. Markers are
//! evaluated for the target; a package that only some marker pulled in is written with
//! that marker (combined along every path that reaches it).

pub mod caveats;
pub mod config;
pub mod direct;
pub mod environment;
mod finish;
pub mod groups;
mod hints;
pub mod output;
pub mod project;
pub mod provider;
pub mod requirements;
pub mod types;
mod versions;

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;

use pep508_rs::{ExtraName, MarkerEnvironment, MarkerTree};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyConstraints, DependencyProvider,
    PackageResolutionStatistics, PubGrubError, Ranges, Reporter,
};

use crate::error::{Error, Result};
use crate::metadata::{normalize_name, parse_requirement};
use crate::sandbox::Notify;
use direct::{DirectDist, DirectRef};
use versions::{pinned_version, specifier_set, Set};

pub use environment::TargetEnv;
/// Re-exported so callers name the same PEP 440/508 types the resolver uses.
pub use pep440_rs::Version;
pub use pep508_rs::Requirement as Pep508Requirement;
pub use provider::{DistFile, DistMetadata, IndexProvider, MetadataProvider, ProjectVersion};
pub use types::{
    LockRequest, LockedDependency, LockedDirect, LockedPackage, NameSet, Resolution,
    RootRequirement, Strategy,
};
pub(crate) use versions::salvage;

/// Resolves `request` with facts from `provider`. Progress lines go to `notify`.
pub fn resolve(
    request: &LockRequest,
    provider: &dyn MetadataProvider,
    notify: &Notify,
) -> Result<Resolution> {
    let solver = Solver::new(request, provider, notify)?;
    let selected = match pubgrub::resolve(&solver, Node::Root, Version::new([0u64])) {
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
                .chain(provider.warnings())
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
    resolution.warnings.extend(provider.warnings());
    Ok(resolution)
}

/// A PubGrub package: the user's requirements, a project, or a project with one extra.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Node {
    Root,
    Base(String),
    Extra(String, String),
}

impl Node {
    fn project(&self) -> Option<&str> {
        match self {
            Node::Root => None,
            Node::Base(n) | Node::Extra(n, _) => Some(n),
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Root => f.write_str("your requirements"),
            Node::Base(n) => f.write_str(n),
            Node::Extra(n, e) => write!(f, "{n}[{e}]"),
        }
    }
}

/// A version's dependencies, or why they could not be read (which ends the lock).
type MetadataOutcome = std::result::Result<Rc<DistMetadata>, String>;

/// A version the target can install, and its files.
struct Candidate {
    version: Version,
    /// Files pip may pick on the target, best source of metadata first.
    usable: Vec<DistFile>,
    /// Every file of the version the binary policy allows: the lock's hashes.
    all: Vec<DistFile>,
    /// Every usable file is yanked.
    yanked: bool,
}

struct Edge {
    to: Node,
    marker: MarkerTree,
    origin: Option<String>,
}

struct Solver<'a> {
    request: &'a LockRequest,
    provider: &'a dyn MetadataProvider,
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
}

impl<'a> Solver<'a> {
    fn new(
        request: &'a LockRequest,
        provider: &'a dyn MetadataProvider,
        notify: &'a Notify,
    ) -> Result<Self> {
        let markers = request.env.markers();
        let mut constraints: BTreeMap<String, Set> = BTreeMap::new();
        for c in &request.constraints {
            if !c.requirement.marker.evaluate(&markers, &[]) {
                continue;
            }
            let set = specifier_set(&c.requirement).map_err(|detail| Error::Usage {
                detail: format!("{}: {detail}", c.origin),
            })?;
            let name = normalize_name(c.requirement.name.as_ref());
            let entry = constraints.entry(name).or_insert_with(Ranges::full);
            *entry = entry.intersection(&set);
        }
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
        let solver = Self {
            request,
            provider,
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
        let versions = self.provider.versions(name)?;
        Ok(self.store_candidates(name, versions))
    }

    /// Applies the target and the binary policy to what the provider listed.
    fn store_candidates(&self, name: &str, versions: Vec<ProjectVersion>) -> Rc<Vec<Candidate>> {
        let env = &self.request.env;
        let wheels_ok =
            !self.request.no_binary.contains(name) || self.request.only_binary.contains(name);
        let sdists_ok = !self.request.only_binary.contains(name);
        let mut out = Vec::new();
        let cutoff = self.request.exclude_newer;
        let mut excluded = Vec::new();
        for pv in versions {
            let listed = pv.files;
            let all: Vec<DistFile> = listed
                .iter()
                .filter(|f| if f.is_wheel() { wheels_ok } else { sdists_ok })
                .filter(|f| cutoff.is_none_or(|c| f.upload_time.is_some_and(|t| t < c)))
                .cloned()
                .collect();
            let fits = |f: &&DistFile| f.requires_python.as_deref().is_none_or(|r| env.admits(r));
            let mut usable: Vec<DistFile> = all
                .iter()
                .filter(fits)
                .filter(|f| !f.is_wheel() || env.wheel_compatible(f.filename.as_str()))
                .cloned()
                .collect();
            if usable.is_empty() {
                if !listed.is_empty() {
                    let why = hints::unusable(&listed, &all, self.request, wheels_ok, sdists_ok);
                    excluded.push((pv.version, why));
                }
                continue;
            }
            let yanked = usable.iter().all(|f| f.yanked);
            if !yanked {
                usable.retain(|f| !f.yanked);
            }
            // Best source of dependencies first: a wheel's metadata file, a wheel, an sdist.
            usable.sort_by_key(|f| (!f.is_wheel(), f.core_metadata.is_none()));
            out.push(Candidate {
                version: pv.version,
                usable,
                all,
                yanked,
            });
        }
        out.sort_by(|a, b| b.version.cmp(&a.version));
        excluded.sort_by(|a, b| b.0.cmp(&a.0));
        self.excluded
            .borrow_mut()
            .insert(name.to_string(), excluded);
        let out = Rc::new(out);
        self.candidates
            .borrow_mut()
            .insert(name.to_string(), out.clone());
        out
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
        let fetched = self.provider.metadata(name, version, &c.usable);
        let file = c.usable.first().map(|f| f.filename.as_str()).unwrap_or("?");
        self.record_metadata(name, version, file, fetched)
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

    /// Fetches, in parallel, what the resolver will most likely ask next: the versions of
    /// every new dependency and the metadata of the version it will probably pick. Index
    /// round trips and sandbox runs then overlap instead of queueing one by one. A wrong
    /// guess costs only the fetch; failures are left for the real request to report.
    fn prefetch(&self, deps: &BTreeMap<Node, Set>) {
        let names: Vec<&str> = deps
            .keys()
            .filter_map(Node::project)
            .filter(|n| !self.candidates.borrow().contains_key(*n) && !self.direct.contains_key(*n))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let provider = self.provider;
        let listed = parallel(&names, |name| provider.versions(name).ok());
        for (name, versions) in names.iter().zip(listed) {
            if let Some(v) = versions {
                self.store_candidates(name, v);
            }
        }
        let mut wanted: Vec<(String, Version, Vec<DistFile>)> = Vec::new();
        for (node, range) in deps {
            let Some(name) = node.project() else { continue };
            let Ok(Some(version)) = self.choose_version(node, range) else {
                continue;
            };
            let key = (name.to_string(), version.clone());
            if self.metadata.borrow().contains_key(&key)
                || wanted.iter().any(|w| w.0 == name && w.1 == version)
            {
                continue;
            }
            let candidates = self.candidates.borrow().get(name).cloned();
            if let Some(c) = candidates.and_then(|c| {
                c.iter()
                    .find(|c| c.version == version)
                    .map(|c| c.usable.clone())
            }) {
                wanted.push((name.to_string(), version, c));
            }
        }
        let fetched = parallel(&wanted, |(name, version, files)| {
            provider.metadata(name, version, files)
        });
        for ((name, version, files), result) in wanted.iter().zip(fetched) {
            if !matches!(result, Err(Error::Index { .. })) {
                let file = files.first().map(|f| f.filename.as_str()).unwrap_or("?");
                let _ = self.record_metadata(name, version, file, result);
            }
        }
    }

    fn constrained(&self, name: &str, set: Set) -> Set {
        match self.constraints.get(name) {
            Some(c) => set.intersection(c),
            None => set,
        }
    }

    /// The dependencies `requirements` add for `extras` (an empty slice: the base ones;
    /// otherwise only those the extras switch on).
    fn add_requirements(
        &self,
        from: (&Node, &Version),
        owner: &str,
        requirements: &[String],
        extra: Option<&str>,
        deps: &mut BTreeMap<Node, Set>,
        edges: &mut Vec<Edge>,
    ) {
        let extras: Vec<ExtraName> = extra
            .and_then(|e| ExtraName::from_str(e).ok())
            .into_iter()
            .collect();
        for text in requirements {
            let req = match parse_requirement(text) {
                Ok(r) => r,
                Err(e) => match salvage(text) {
                    // pip's and uv's parsers still take the project from legacy text such
                    // as `pytz (>dev)`; so does the lock, without the unusable version.
                    Some(r) => {
                        self.warn(format!(
                            "{owner} {}: requirement `{text}` is not PEP 508 ({e}); using `{r}` without its version constraint",
                            from.1
                        ));
                        r
                    }
                    None => {
                        self.warn(format!(
                            "{owner} {}: ignoring requirement `{text}` ({e})",
                            from.1
                        ));
                        continue;
                    }
                },
            };
            let wanted = req.marker.evaluate(&self.markers, &extras);
            let base = req.marker.evaluate(&self.markers, &[]);
            if !wanted || (extra.is_some() && base) {
                continue;
            }
            let set = match specifier_set(&req) {
                Ok(s) => s,
                Err(e) => {
                    self.warn(format!(
                        "{owner} {}: ignoring requirement `{text}` ({e})",
                        from.1
                    ));
                    continue;
                }
            };
            let name = normalize_name(req.name.as_ref());
            let marker = req.marker.clone().simplify_extras(&extras);
            let mut targets = Vec::new();
            if name != owner || !req.extras.is_empty() {
                if name != owner {
                    targets.push(Node::Base(name.clone()));
                }
                for e in &req.extras {
                    targets.push(Node::Extra(name.clone(), normalize_name(e.as_ref())));
                }
            }
            for node in targets {
                // An extra of the project itself is at the same version.
                let set = if name == owner {
                    Ranges::singleton(from.1.clone())
                } else {
                    self.constrained(&name, set.clone())
                };
                let slot = deps.entry(node.clone()).or_insert_with(Ranges::full);
                *slot = slot.intersection(&set);
                edges.push(Edge {
                    to: node,
                    marker: marker.clone(),
                    origin: None,
                });
            }
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
    type Priority = (bool, u32, Reverse<usize>);

    fn prioritize(
        &self,
        package: &Node,
        range: &Set,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        // Pinned packages first (they cannot branch), then the most conflicted, then the
        // ones with the fewest known versions.
        let known = package
            .project()
            .and_then(|n| self.candidates.borrow().get(n).map(|c| c.len()))
            .unwrap_or(usize::MAX);
        (
            pinned_version(range).is_some(),
            stats.conflict_count(),
            Reverse(known),
        )
    }

    fn choose_version(&self, package: &Node, range: &Set) -> Result<Option<Version>> {
        let Some(name) = package.project() else {
            return Ok(Some(Version::new([0u64])));
        };
        let candidates = self.candidates(name)?;
        // PEP 592: a yanked version only for an exact pin (`==V`, which covers `V+local`).
        let pinned = pinned_version(range);
        let lowest = match self.request.strategy {
            Strategy::Highest => false,
            Strategy::Lowest => true,
            Strategy::LowestDirect => self.root_names.contains(name),
        };
        // Candidates are newest first; the lowest strategies walk them the other way.
        let mut fits: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| range.contains(&c.version))
            .filter(|c| !c.yanked || pinned.as_ref() == Some(&c.version.clone().without_local()))
            .collect();
        if lowest {
            fits.reverse();
        }
        if let Some(preferred) = self.request.preferences.get(name) {
            if let Some(c) = fits.iter().find(|c| &c.version == preferred) {
                return Ok(Some(c.version.clone()));
            }
        }
        let chosen = if self.request.prerelease {
            fits.first()
        } else {
            // Pre-releases only where no final release fits (pip's rule).
            fits.iter()
                .find(|c| !c.version.any_prerelease())
                .or_else(|| fits.first())
        };
        Ok(chosen.map(|c| c.version.clone()))
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
            Node::Base(name) | Node::Extra(name, _) => {
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
                    Node::Extra(_, e) => {
                        if !meta.provides_extra.iter().any(|p| normalize_name(p) == *e) {
                            self.warn(format!("{name} {version} does not provide the extra `{e}`"));
                        }
                        deps.insert(Node::Base(name.clone()), Ranges::singleton(version.clone()));
                        edges.push(Edge {
                            to: Node::Base(name.clone()),
                            marker: MarkerTree::TRUE,
                            origin: None,
                        });
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
