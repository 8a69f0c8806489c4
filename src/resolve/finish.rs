//! From PubGrub's selection to a [`Resolution`]: pins, hashes, `# via` and markers.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use pep440_rs::VersionSpecifiers;
use pep508_rs::{ExtraName, MarkerTree, PackageName};

use super::{
    DistFile, Edge, LockedDependency, LockedDirect, LockedPackage, MetadataSource, Node,
    Resolution, Solver, Version,
};
use crate::error::{Error, Result};
use crate::index::Sha256Hex;

impl Solver<'_> {
    /// Pins, hashes, `# via` and markers of a solution.
    pub(super) fn finish(&self, selected: &BTreeMap<Node, Version>) -> Result<Resolution> {
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
        let mut extras: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for node in selected.keys() {
            if let Node::Extra(name, extra) = node {
                extras.entry(name).or_default().insert(extra);
            }
        }
        let mut packages = Vec::new();
        for (node, version) in selected {
            let Node::Base(name) = node else { continue };
            let candidates = self.candidates.borrow();
            let candidate = candidates
                .get(name)
                .and_then(|c| c.iter().find(|c| &c.version == version));
            let mut files: Vec<DistFile> = candidate.map(|c| c.all.clone()).unwrap_or_default();
            files.sort_by(|a, b| a.filename.as_str().cmp(b.filename.as_str()));
            let direct = self.direct.get(name);
            let mut hashes: Vec<Sha256Hex> = match direct {
                Some(d) => vec![d.sha256.clone()],
                None => files.iter().map(|f| f.sha256.clone()).collect(),
            };
            hashes.sort();
            hashes.dedup();
            let marker = needed.get(node).filter(|m| !m.is_true()).cloned();
            let metadata = self
                .metadata
                .borrow()
                .get(&(name.clone(), version.clone()))
                .and_then(|m| m.as_ref().ok().cloned());
            let refuse = |what: &str, e: String| Error::UnsafeOutput {
                package: format!("{name} {version}"),
                reason: format!("{what} ({e})"),
            };
            let project = PackageName::from_str(name)
                .map_err(|e| refuse("not a project name", e.to_string()))?;
            let extras = extras
                .get(name.as_str())
                .into_iter()
                .flatten()
                .map(|e| {
                    ExtraName::from_str(e).map_err(|x| refuse("not an extra name", x.to_string()))
                })
                .collect::<Result<Vec<_>>>()?;
            packages.push(LockedPackage {
                name: project,
                version: version.clone(),
                extras,
                hashes,
                files,
                direct: direct.map(|d| LockedDirect {
                    url: d.reference.url.clone(),
                    filename: d.reference.filename.clone(),
                    size: d.size,
                }),
                requires_python: metadata
                    .as_ref()
                    .and_then(|m| m.requires_python.as_deref())
                    .and_then(parse_specifiers),
                via: via.remove(name).unwrap_or_default().into_iter().collect(),
                marker,
                metadata_source: metadata.as_ref().map(|m| MetadataSource {
                    file: m.filename.clone(),
                    method: m.method.clone(),
                    integrity: m.integrity,
                }),
                dependencies: dependencies(name, selected, &out_edges)?,
                caveats: metadata
                    .as_ref()
                    .map(|m| super::caveats::caveats(&m.method, &m.warnings))
                    .unwrap_or_default(),
                yanked: candidate.is_some_and(|c| c.yanked),
                environments: Vec::new(),
                targets: Vec::new(),
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

/// A `Requires-Python` value as parsed specifiers; `None` for text that is not PEP 440
/// (it is then not written anywhere).
fn parse_specifiers(text: &str) -> Option<VersionSpecifiers> {
    crate::metadata::guarded(|| VersionSpecifiers::from_str(text).ok()).flatten()
}

/// The pinned projects `name` depends on (through its base node and its extras), each
/// with the extras asked of it and the marker under which (OR over the edges).
fn dependencies<'e>(
    name: &str,
    selected: &BTreeMap<Node, Version>,
    out_edges: &impl Fn(&Node) -> &'e [Edge],
) -> Result<Vec<LockedDependency>> {
    let mut found: BTreeMap<&str, (BTreeSet<&str>, Option<MarkerTree>)> = BTreeMap::new();
    for node in selected.keys().filter(|n| n.project() == Some(name)) {
        for edge in out_edges(node) {
            let Some(to) = edge.to.project().filter(|t| *t != name) else {
                continue;
            };
            if !selected.contains_key(&edge.to) {
                continue;
            }
            let slot = found
                .entry(to)
                .or_insert((BTreeSet::new(), Some(MarkerTree::FALSE)));
            if let Node::Extra(_, extra) = &edge.to {
                slot.0.insert(extra);
            }
            slot.1 = match (slot.1.take(), edge.marker.is_true()) {
                (Some(_), true) | (None, _) => None,
                (Some(mut m), false) => {
                    m.or(edge.marker.clone());
                    Some(m)
                }
            };
        }
    }
    found
        .into_iter()
        .map(|(to, (extras, marker))| {
            let bad = |e: String| Error::UnsafeOutput {
                package: to.to_string(),
                reason: e,
            };
            Ok(LockedDependency {
                name: PackageName::from_str(to).map_err(|e| bad(e.to_string()))?,
                extras: extras
                    .into_iter()
                    .map(|e| ExtraName::from_str(e).map_err(|x| bad(x.to_string())))
                    .collect::<Result<_>>()?,
                marker: marker.filter(|m| !m.is_true()),
            })
        })
        .collect()
}
