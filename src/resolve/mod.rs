//! Locking: requirements in, exact hash-pinned versions out, for one target environment.
//!
//! | module | job |
//! |---|---|
//! | [`requirements`] | read `requirements.in`-style files (`-r`, `-c`, continuations) |
//! | [`environment`] | the target: marker environment, `Requires-Python`, wheel tags |
//! | [`provider`] | versions and dependencies: the [`MetadataProvider`] seam, [`IndexProvider`] |
//! | (this module) | the PubGrub adapter: PEP 440 version sets, extras, yanked, pre-releases |
//! | [`output`] | the `requirements.txt` a `pip install --require-hashes` accepts |
//!
//! The resolver is [`pubgrub`] over [`pep440_rs`] versions. Version sets are
//! `Ranges<Version>` built from PEP 440 specifiers, so `~=`, `!=1.*`, `===` and friends
//! keep their PEP 440 meaning. An extra `name[x]` is its own package that pins `name` to
//! the same version and adds the requirements `x` turns on, as uv models it. Markers are
//! evaluated for the target; a package that only some marker pulled in is written with
//! that marker (combined along every path that reaches it).

pub mod environment;
pub mod output;
pub mod provider;
pub mod requirements;

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;

use pep508_rs::{ExtraName, MarkerEnvironment, MarkerTree, PackageName, Requirement, VersionOrUrl};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyConstraints, DependencyProvider,
    PackageResolutionStatistics, PubGrubError, Ranges, Reporter,
};

use crate::error::{Error, Result};
use crate::index::Sha256Hex;
use crate::metadata::{normalize_name, parse_requirement};
use crate::sandbox::Notify;

pub use environment::TargetEnv;
/// Re-exported so callers name the same PEP 440/508 types the resolver uses.
pub use pep440_rs::Version;
pub use pep508_rs::Requirement as Pep508Requirement;
pub use provider::{DistFile, DistMetadata, IndexProvider, MetadataProvider, ProjectVersion};

/// A requirement the user asked for, and where it was written (for `# via`).
#[derive(Debug, Clone)]
pub struct RootRequirement {
    /// The parsed PEP 508 requirement.
    pub requirement: Requirement,
    /// `-r requirements.in`, `-c constraints.txt` or `command line`.
    pub origin: String,
}

/// A set of project names, or all of them (`:all:`), as pip's `--no-binary` takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSet {
    /// Every project.
    pub all: bool,
    /// These projects (normalized).
    pub names: BTreeSet<String>,
}

impl NameSet {
    /// Parses pip's syntax: comma-separated names, `:all:` or `:none:`; repeated flags add.
    pub fn add(&mut self, text: &str) {
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                ":all:" => self.all = true,
                ":none:" => {
                    self.all = false;
                    self.names.clear();
                }
                name => {
                    self.names.insert(normalize_name(name));
                }
            }
        }
    }

    /// Whether `name` (normalized) is in the set.
    pub fn contains(&self, name: &str) -> bool {
        self.all || self.names.contains(name)
    }
}

/// Everything a lock is asked to do.
#[derive(Debug, Clone, Default)]
pub struct LockRequest {
    /// What to install.
    pub requirements: Vec<RootRequirement>,
    /// Limits on versions that apply only if a project is required at all (`-c`).
    pub constraints: Vec<RootRequirement>,
    /// The target interpreter and platform.
    pub env: TargetEnv,
    /// Allow pre-releases everywhere (otherwise only where nothing else fits).
    pub prerelease: bool,
    /// Never use wheels of these projects (`--no-binary`).
    pub no_binary: NameSet,
    /// Never use sdists of these projects (`--only-binary`); wins over `no_binary`.
    pub only_binary: NameSet,
    /// Versions to keep when they still fit (the previous lock's pins).
    pub preferences: BTreeMap<String, Version>,
}

/// One pinned project of a lock. Everything [`output`] writes from it is a parsed,
/// validated value (name, version, digests, marker tree), re-serialized there.
#[derive(Debug, Clone)]
pub struct LockedPackage {
    /// Project name (normalized).
    pub name: PackageName,
    /// The chosen version.
    pub version: Version,
    /// sha256 of every file of that version pip may pick (sorted).
    pub hashes: Vec<Sha256Hex>,
    /// Who asked for it: `-r file` / `command line` for the user, project names otherwise.
    pub via: Vec<String>,
    /// The marker under which it is needed, when only some environments need it.
    pub marker: Option<MarkerTree>,
    /// Which file answered its dependencies, and how (`metadata-file`, `sandbox-egg-info`, ...).
    pub metadata_source: Option<(String, String)>,
    /// The chosen version is yanked (selected only because it was pinned with `==`).
    pub yanked: bool,
}

/// A successful lock.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// Pinned projects, sorted by name.
    pub packages: Vec<LockedPackage>,
    /// Everything worth a reader's attention (skipped requirements, missing extras).
    pub warnings: Vec<String>,
}

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

type Set = Ranges<Version>;

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
        for r in &request.requirements {
            specifier_set(&r.requirement).map_err(|detail| Error::Usage {
                detail: format!("{}: {detail}", r.origin),
            })?;
        }
        Ok(Self {
            request,
            provider,
            notify,
            markers,
            constraints,
            candidates: RefCell::new(BTreeMap::new()),
            metadata: RefCell::new(BTreeMap::new()),
            edges: RefCell::new(BTreeMap::new()),
            warnings: RefCell::new(BTreeSet::new()),
        })
    }

    fn warn(&self, text: String) {
        self.warnings.borrow_mut().insert(text);
    }

    /// The installable versions of `name`, newest first.
    fn candidates(&self, name: &str) -> Result<Rc<Vec<Candidate>>> {
        if let Some(c) = self.candidates.borrow().get(name) {
            return Ok(c.clone());
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
        for pv in versions {
            let all: Vec<DistFile> = pv
                .files
                .into_iter()
                .filter(|f| if f.is_wheel() { wheels_ok } else { sdists_ok })
                .collect();
            let fits = |f: &&DistFile| f.requires_python.as_deref().is_none_or(|r| env.admits(r));
            let mut usable: Vec<DistFile> = all
                .iter()
                .filter(fits)
                .filter(|f| !f.is_wheel() || env.wheel_compatible(f.filename.as_str()))
                .cloned()
                .collect();
            if usable.is_empty() {
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
            .filter(|n| !self.candidates.borrow().contains_key(*n))
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

    /// What the resolver left out that a user may have meant, for the projects an
    /// explanation names: unknown projects, yanked versions, pre-releases.
    fn hints(&self, explanation: &str) -> Vec<String> {
        let mentioned = |name: &str| {
            explanation
                .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .any(|word| word == name)
        };
        let mut hints = Vec::new();
        for (name, candidates) in self.candidates.borrow().iter() {
            if !mentioned(name) {
                continue;
            }
            if candidates.is_empty() {
                hints.push(format!(
                    "{name}: no distribution on the index that {} can install",
                    self.request.env.describe()
                ));
                continue;
            }
            let yanked: Vec<String> = candidates
                .iter()
                .filter(|c| c.yanked)
                .take(3)
                .map(|c| c.version.to_string())
                .collect();
            if !yanked.is_empty() {
                hints.push(format!(
                    "{name} {} yanked: only an exact == pin selects a yanked version",
                    if yanked.len() == 1 {
                        format!("{} is", yanked[0])
                    } else {
                        format!("{} are", yanked.join(", "))
                    }
                ));
            }
            let pre: Vec<String> = candidates
                .iter()
                .filter(|c| c.version.any_prerelease())
                .take(3)
                .map(|c| c.version.to_string())
                .collect();
            if !pre.is_empty() && !self.request.prerelease {
                hints.push(format!(
                    "{name} has pre-releases ({}); an exclusive `<V` excludes V's pre-releases, and --prerelease allows them everywhere",
                    pre.join(", ")
                ));
            }
        }
        hints
    }

    /// Pins, hashes, `# via` and markers of a solution.
    fn finish(&self, selected: &BTreeMap<Node, Version>) -> Result<Resolution> {
        let edges = self.edges.borrow();
        let out_edges = |node: &Node| -> &[Edge] {
            selected
                .get(node)
                .and_then(|v| edges.get(&(node.clone(), v.clone())))
                .map(Vec::as_slice)
                .unwrap_or(&[])
        };
        // The marker under which each node is needed: OR over the paths reaching it.
        let mut needed: BTreeMap<Node, MarkerTree> = BTreeMap::new();
        needed.insert(Node::Root, MarkerTree::TRUE);
        for _ in 0..64 {
            let mut changed = false;
            for node in selected.keys() {
                let Some(from) = needed.get(node).cloned() else {
                    continue;
                };
                for edge in out_edges(node) {
                    if !selected.contains_key(&edge.to) {
                        continue;
                    }
                    let mut path = from.clone();
                    path.and(edge.marker.clone());
                    let slot = needed.entry(edge.to.clone()).or_insert(MarkerTree::FALSE);
                    let mut merged = slot.clone();
                    merged.or(path);
                    if merged != *slot {
                        *slot = merged;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut via: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for node in selected.keys() {
            for edge in out_edges(node) {
                let Some(to) = edge.to.project() else {
                    continue;
                };
                let label = match (node, &edge.origin) {
                    (Node::Root, Some(origin)) => origin.clone(),
                    (Node::Root, None) => "command line".to_string(),
                    (n, _) => n.project().unwrap_or_default().to_string(),
                };
                if Some(to) != node.project() {
                    via.entry(to.to_string()).or_default().insert(label);
                }
            }
        }
        let mut packages = Vec::new();
        for (node, version) in selected {
            let Node::Base(name) = node else { continue };
            let candidates = self.candidates.borrow();
            let candidate = candidates
                .get(name)
                .and_then(|c| c.iter().find(|c| &c.version == version));
            let mut hashes: Vec<Sha256Hex> = candidate
                .map(|c| c.all.iter().map(|f| f.sha256.clone()).collect())
                .unwrap_or_default();
            hashes.sort();
            hashes.dedup();
            let marker = needed.get(node).filter(|m| !m.is_true()).cloned();
            let metadata_source = self
                .metadata
                .borrow()
                .get(&(name.clone(), version.clone()))
                .and_then(|m| {
                    m.as_ref()
                        .ok()
                        .map(|m| (m.filename.clone(), m.method.clone()))
                });
            let project = PackageName::from_str(name).map_err(|e| Error::UnsafeOutput {
                package: name.clone(),
                reason: format!("not a project name ({e})"),
            })?;
            packages.push(LockedPackage {
                name: project,
                version: version.clone(),
                hashes,
                via: via.remove(name).unwrap_or_default().into_iter().collect(),
                marker,
                metadata_source,
                yanked: candidate.is_some_and(|c| c.yanked),
            });
        }
        let mut warnings: Vec<String> = self.warnings.borrow().iter().cloned().collect();
        for p in packages.iter().filter(|p| p.yanked) {
            warnings.push(format!(
                "{} {} is yanked; it is pinned because it was asked for with ==",
                p.name, p.version
            ));
        }
        Ok(Resolution { packages, warnings })
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

/// The project, extras and marker of a requirement whose version part is not PEP 440
/// (`pytz (>dev)`, `foo >= 1.0-beta`); `None` when even the name is unreadable.
pub(crate) fn salvage(text: &str) -> Option<Requirement> {
    let (head, marker) = match text.split_once(';') {
        Some((h, m)) => (h, Some(m)),
        None => (text, None),
    };
    let head = head.trim_start();
    let name_len = head
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(head.len());
    let name = &head[..name_len];
    let rest = head[name_len..].trim_start();
    let extras = rest
        .strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .map(|(e, _)| format!("[{e}]"))
        .unwrap_or_default();
    let rebuilt = match marker {
        Some(m) => format!("{name}{extras} ; {m}"),
        None => format!("{name}{extras}"),
    };
    parse_requirement(&rebuilt).ok()
}

/// One specifier as a version set: pep440_rs's conversion, except that a public version
/// in `==`, `!=` and `<=` also covers its local versions, as PEP 440 says (`torch==2.1.0`
/// matches `2.1.0+cpu`; pep440_rs makes `==V` the single point `V`).
fn specifier_range(spec: &pep440_rs::VersionSpecifier) -> Set {
    use pep440_rs::Operator;
    let version = spec.version();
    if !version.local().is_empty() {
        return Ranges::from(spec.clone());
    }
    let with_locals = local_span(version);
    match spec.operator() {
        Operator::Equal => with_locals,
        Operator::NotEqual => with_locals.complement(),
        Operator::LessThanEqual => Ranges::lower_than(version.clone()).union(&with_locals),
        _ => Ranges::from(spec.clone()),
    }
}

/// `version` and all its local versions (`1.0`, `1.0+cpu`, ...): from `version` up to the
/// first version above them, the next dev release of a dev release, else the first dev
/// release of the next post-release.
fn local_span(version: &Version) -> Set {
    let above_locals = match (version.dev(), version.post()) {
        (Some(dev), _) => version.clone().with_dev(Some(dev + 1)),
        (None, Some(post)) => version.clone().with_post(Some(post + 1)).with_dev(Some(0)),
        (None, None) => version.clone().with_post(Some(0)).with_dev(Some(0)),
    };
    Ranges::from_range_bounds(version.clone()..above_locals)
}

/// The public version a range pins exactly (`==V`, possibly with its local versions).
fn pinned_version(range: &Set) -> Option<Version> {
    let (std::ops::Bound::Included(low), _) = range.bounding_range()? else {
        return None;
    };
    let low = low.clone().without_local();
    range.subset_of(&local_span(&low)).then_some(low)
}

/// The version set of a requirement's specifiers (everything when it has none).
fn specifier_set(req: &Requirement) -> std::result::Result<Set, String> {
    match &req.version_or_url {
        None => Ok(Ranges::full()),
        Some(VersionOrUrl::VersionSpecifier(specs)) => Ok(specs
            .iter()
            .fold(Ranges::full(), |set, spec| set.intersection(&specifier_range(spec)))),
        Some(VersionOrUrl::Url(_)) => Err(format!(
            "`{}` is a direct URL requirement, which a hash-pinned lock from an index cannot express",
            req.name
        )),
    }
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
        let fits: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| range.contains(&c.version))
            .filter(|c| !c.yanked || pinned.as_ref() == Some(&c.version.clone().without_local()))
            .collect();
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
                    let set = specifier_set(req).map_err(|detail| Error::Usage { detail })?;
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
        self.prefetch(&deps);
        self.edges
            .borrow_mut()
            .insert((package.clone(), version.clone()), edges);
        Ok(Dependencies::Available(
            deps.into_iter().collect::<DependencyConstraints<_, _>>(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(spec: &str) -> Set {
        specifier_set(&parse_requirement(&format!("x{spec}")).unwrap()).unwrap()
    }

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    #[test]
    fn version_sets_follow_pep_440() {
        // Local versions match a public `==`, `!=`, `<=`, but not `>` or `<`.
        assert!(set("==1.0").contains(&v("1.0+cpu")));
        assert!(set("==1.0").contains(&v("1.0")));
        assert!(!set("==1.0").contains(&v("1.0.post0")));
        assert!(!set("==1.0").contains(&v("1.0.1")));
        assert!(!set("!=1.0").contains(&v("1.0+cpu")));
        assert!(set("!=1.0").contains(&v("1.0.post1")));
        assert!(set("<=1.0").contains(&v("1.0+cpu")));
        assert!(!set("<=1.0").contains(&v("1.0.post1")));
        assert!(!set(">1.0").contains(&v("1.0+cpu")));
        assert!(set("==1.0+cpu").contains(&v("1.0+cpu")));
        assert!(!set("==1.0+cpu").contains(&v("1.0+cu121")));
        assert!(set("==1.0.post1").contains(&v("1.0.post1+x")));
        assert!(!set("==1.0.post1").contains(&v("1.0.post2.dev0")));
        assert!(set("==1.0.dev1").contains(&v("1.0.dev1+x")));
        assert!(!set("==1.0.dev1").contains(&v("1.0.dev2")));
        assert!(set("==2.0a1").contains(&v("2.0a1+x")));
        assert!(!set("==2.0a1").contains(&v("2.0a2")));
        // Wildcards, compatible release, arbitrary equality, pre-release ordering.
        assert!(!set("!=1.*").contains(&v("1.9")));
        assert!(set("!=1.*").contains(&v("2.0")));
        assert!(set("==1.*").contains(&v("1.4.2")));
        assert!(set("~=2.2").contains(&v("2.9")));
        assert!(!set("~=2.2").contains(&v("3.0")));
        assert!(!set("~=2.2.1").contains(&v("2.3")));
        assert!(set("===1.0").contains(&v("1.0")));
        assert!(!set("<2").contains(&v("2.0b1")));
        assert!(set(">=2.0b1").contains(&v("2.0b2")));
        // What counts as an exact pin (yanked versions, priority).
        assert_eq!(pinned_version(&set("==1.0")), Some(v("1.0")));
        assert_eq!(pinned_version(&set("==1.0+cpu")), Some(v("1.0")));
        assert_eq!(pinned_version(&set(">=1.0,<=1.0")), Some(v("1.0")));
        assert_eq!(pinned_version(&set(">=1.0")), None);
        assert_eq!(pinned_version(&set("==1.*")), None);
    }

    #[test]
    fn salvages_legacy_requirements() {
        assert_eq!(salvage("pytz (>dev)").unwrap().to_string(), "pytz");
        let r = salvage("foo[bar] >= 1.0-beta ; python_version < '4'").unwrap();
        assert_eq!(r.name.as_ref(), "foo");
        assert_eq!(r.extras.len(), 1);
        assert!(!r.marker.is_true());
        assert!(salvage("(((").is_none());
    }
}
