//! Which versions of a project a target can install, and which one to try: the policy
//! the resolver applies to what a [`MetadataProvider`](super::MetadataProvider) lists.
//!
//! Both the resolver (PubGrub's `choose_version`) and the background fetcher (guessing
//! what the resolver will ask next) call these pure functions, so a guess is the choice
//! the resolver would make with the same range, and nothing here depends on timing.

use std::collections::BTreeSet;

use pep440_rs::Version;

use super::hints;
use super::provider::{DistFile, ProjectVersion};
use super::types::{LockRequest, Strategy};
use super::versions::{pinned_version, Set};

/// A version the target can install, and its files.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) version: Version,
    /// Files pip may pick on the target, best source of metadata first.
    pub(crate) usable: Vec<DistFile>,
    /// Every file of the version the binary policy allows: the lock's hashes.
    pub(crate) all: Vec<DistFile>,
    /// Every usable file is yanked.
    pub(crate) yanked: bool,
}

/// The installable versions of `name` (newest first), and the listed versions the target
/// cannot use with the reason (for hints, newest first).
pub(crate) fn installable(
    request: &LockRequest,
    name: &str,
    versions: &[ProjectVersion],
) -> (Vec<Candidate>, Vec<(Version, String)>) {
    let env = &request.env;
    let wheels_ok = !request.no_binary.contains(name) || request.only_binary.contains(name);
    let sdists_ok = !request.only_binary.contains(name);
    let cutoff = request.exclude_newer;
    let mut out = Vec::new();
    let mut excluded = Vec::new();
    for pv in versions {
        let listed = &pv.files;
        // References first: most versions of a long-lived project are not installable on
        // the target, and only those that are need their files copied.
        let all: Vec<&DistFile> = listed
            .iter()
            .filter(|f| if f.is_wheel() { wheels_ok } else { sdists_ok })
            .filter(|f| cutoff.is_none_or(|c| f.upload_time.is_some_and(|t| t < c)))
            .collect();
        let fits = |f: &&&DistFile| f.requires_python.as_deref().is_none_or(|r| env.admits(r));
        let mut usable: Vec<DistFile> = all
            .iter()
            .filter(fits)
            .filter(|f| !f.is_wheel() || env.wheel_compatible(f.filename.as_str()))
            .map(|f| (*f).clone())
            .collect();
        if usable.is_empty() {
            if !listed.is_empty() {
                let why = hints::unusable(listed, &all, request, wheels_ok, sdists_ok);
                excluded.push((pv.version.clone(), why));
            }
            continue;
        }
        let all: Vec<DistFile> = all.into_iter().cloned().collect();
        let yanked = usable.iter().all(|f| f.yanked);
        if !yanked {
            usable.retain(|f| !f.yanked);
        }
        usable.sort_by(|a, b| metadata_order(a).cmp(&metadata_order(b)));
        out.push(Candidate {
            version: pv.version.clone(),
            usable,
            all,
            yanked,
        });
    }
    out.sort_by(|a, b| b.version.cmp(&a.version));
    excluded.sort_by(|a, b| b.0.cmp(&a.0));
    (out, excluded)
}

/// Which usable file answers a version's dependencies, best first: a wheel with a PEP 658
/// metadata file (one small request), another wheel (its METADATA), then the sdist (static
/// metadata or the sandbox). Among wheels the most widely installable come first (pure
/// Python, then the stable ABI), then by name, so that the environments of a universal
/// lock mostly read the same file, and the choice never depends on the index's order.
fn metadata_order(f: &DistFile) -> (bool, bool, u8, &str) {
    let name = f.filename.as_str();
    let breadth = if name.ends_with("-none-any.whl") {
        0
    } else if name.contains("-abi3-") {
        1
    } else {
        2
    };
    (!f.is_wheel(), f.core_metadata.is_none(), breadth, name)
}

/// Whether the lowest versions come first for `name` (`--resolution`).
pub(crate) fn lowest_first(
    request: &LockRequest,
    name: &str,
    root_names: &BTreeSet<String>,
) -> bool {
    match request.strategy {
        Strategy::Highest => false,
        Strategy::Lowest => true,
        Strategy::LowestDirect => root_names.contains(name),
    }
}

/// The versions of `candidates` in `range` the resolver may select, in the order it tries
/// them: newest first (oldest with `lowest`), yanked ones only for an exact pin (PEP 592:
/// `==V`, which covers `V+local`).
pub(crate) fn fitting<'c>(
    candidates: &'c [Candidate],
    range: &Set,
    lowest: bool,
) -> Vec<&'c Candidate> {
    let pinned = pinned_version(range);
    let mut fits: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| range.contains(&c.version))
        .filter(|c| !c.yanked || pinned.as_ref() == Some(&c.version.clone().without_local()))
        .collect();
    if lowest {
        fits.reverse();
    }
    fits
}

/// The version to try for `name` in `range`: a preferred version when it fits (`prefer`,
/// in order: the version its base was decided at for an extra, the previous lock's pin),
/// else the first that fits, pre-releases only where no final release fits (pip's rule)
/// unless `request.prerelease`.
pub(crate) fn pick<'c>(
    candidates: &'c [Candidate],
    range: &Set,
    request: &LockRequest,
    lowest: bool,
    prefer: &[&Version],
) -> Option<&'c Candidate> {
    let fits = fitting(candidates, range, lowest);
    for preferred in prefer {
        if let Some(c) = fits.iter().find(|c| &c.version == *preferred) {
            return Some(c);
        }
    }
    if request.prerelease {
        fits.first().copied()
    } else {
        fits.iter()
            .find(|c| !c.version.any_prerelease())
            .or_else(|| fits.first())
            .copied()
    }
}
