//! One lock for every environment of a [`Matrix`]: each environment resolved on its own,
//! then the results merged into pins with markers.
//!
//! Each environment is an ordinary single-target resolution — the same code path as
//! `--platform windows --python-version 3.11` alone, with its own markers, wheel tags,
//! `Requires-Python` and sandbox runs as that platform — so filtering the universal lock
//! to one environment gives exactly the pins a single-target lock for it gives. The
//! environments share one provider, so an index page, a wheel's metadata or a sandbox
//! answer is fetched or computed once (a sandbox answer once per platform: the guest
//! imitates the platform, and its Python is always 3.12, so the target Python version is
//! invisible to build code).
//!
//! Merging: a pin `(name, version)` found in the set S of environments is written with the
//! marker of S ([`super::matrix::marker_for`]: the package's own marker when it says
//! exactly S, else the fewest dimensions that decide S); a project at different versions in
//! different environments gets one line per version, with disjoint markers by
//! construction; hashes are every file of the version the binary policy allows. The merge
//! depends only on the per-environment results, in the matrix's order.

use std::collections::{BTreeMap, BTreeSet};

use pep508_rs::{ExtraName, MarkerTree, PackageName};

use super::matrix::{marker_for, Matrix};
use super::types::{LockedDependency, TargetAnswer};
use super::{resolve, LockRequest, LockedPackage, MetadataProvider, Resolution, TargetEnv};
use crate::error::{Error, Result};
use crate::sandbox::Notify;

/// Resolves `request` for every environment of `matrix` and merges the results; for a
/// matrix of one environment, an ordinary lock for it.
pub fn resolve_matrix(
    request: &LockRequest,
    matrix: &Matrix,
    provider: &dyn MetadataProvider,
    notify: &Notify,
) -> Result<Resolution> {
    if let [env] = matrix.envs() {
        return resolve(&request.for_env(*env), provider, notify);
    }
    let mut each = Vec::new();
    for env in matrix.envs() {
        notify.say(&format!("resolving for {}", env.describe()));
        let resolution =
            resolve(&request.for_env(*env), provider, notify).map_err(|e| match e {
                Error::NoSolution { explanation } => Error::NoSolution {
                    explanation: format!("on {}: {explanation}", env.describe()),
                },
                other => other,
            })?;
        each.push(resolution);
    }
    Ok(merge(matrix, &each))
}

impl LockRequest {
    /// This request for one environment: `env` as the target, and the previous lock's
    /// pins whose markers hold there as preferences.
    pub fn for_env(&self, env: TargetEnv) -> LockRequest {
        let mut out = self.clone();
        out.env = env;
        let markers = env.markers();
        for (name, version, marker) in &self.marked_preferences {
            if marker.evaluate(&markers, &[]) {
                out.preferences.insert(name.clone(), version.clone());
            }
        }
        out
    }
}

/// One pin of the merged lock while it is assembled.
struct Merged {
    first: LockedPackage,
    envs: BTreeSet<usize>,
    /// The package's own marker: OR over its environments (`None`: always).
    own: Option<MarkerTree>,
    extras: BTreeSet<ExtraName>,
    via: BTreeSet<String>,
    caveats: BTreeSet<String>,
    files: BTreeMap<String, super::DistFile>,
    dependencies: BTreeMap<PackageName, (BTreeSet<ExtraName>, Option<MarkerTree>)>,
    answers: Vec<(usize, LockedPackage)>,
    yanked: bool,
}

/// Merges per-environment resolutions (in the matrix's order) into one.
pub fn merge(matrix: &Matrix, each: &[Resolution]) -> Resolution {
    let mut pins: BTreeMap<(PackageName, super::Version), Merged> = BTreeMap::new();
    for (i, resolution) in each.iter().enumerate() {
        for p in &resolution.packages {
            let key = (p.name.clone(), p.version.clone());
            let m = pins.entry(key).or_insert_with(|| Merged {
                first: p.clone(),
                envs: BTreeSet::new(),
                own: Some(MarkerTree::FALSE),
                extras: BTreeSet::new(),
                via: BTreeSet::new(),
                caveats: BTreeSet::new(),
                files: BTreeMap::new(),
                dependencies: BTreeMap::new(),
                answers: Vec::new(),
                yanked: false,
            });
            m.envs.insert(i);
            m.own = match (m.own.take(), &p.marker) {
                (None, _) | (_, None) => None,
                (Some(mut acc), Some(marker)) => {
                    acc.or(marker.clone());
                    Some(acc)
                }
            };
            m.extras.extend(p.extras.iter().cloned());
            m.via.extend(p.via.iter().cloned());
            m.caveats.extend(p.caveats.iter().cloned());
            for f in &p.files {
                m.files.insert(f.filename.to_string(), f.clone());
            }
            for d in &p.dependencies {
                let slot = m
                    .dependencies
                    .entry(d.name.clone())
                    .or_insert_with(|| (BTreeSet::new(), Some(MarkerTree::FALSE)));
                slot.0.extend(d.extras.iter().cloned());
                slot.1 = match (slot.1.take(), &d.marker) {
                    (None, _) | (_, None) => None,
                    (Some(mut acc), Some(marker)) => {
                        acc.or(marker.clone());
                        Some(acc)
                    }
                };
            }
            m.yanked |= p.yanked;
            m.answers.push((i, p.clone()));
        }
    }
    let labels: Vec<String> = matrix.envs().iter().map(Matrix::env_label).collect();
    let mut packages = Vec::new();
    for (_, m) in pins {
        let mut p = m.first;
        p.marker = marker_for(&m.envs, matrix, m.own.as_ref());
        p.extras = m.extras.into_iter().collect();
        p.via = m.via.into_iter().collect();
        p.caveats = m.caveats.into_iter().collect();
        p.files = m.files.into_values().collect();
        let mut hashes: Vec<_> = p.files.iter().map(|f| f.sha256.clone()).collect();
        if let Some(d) = p.hashes.first().filter(|_| p.direct.is_some()) {
            hashes = vec![d.clone()];
        }
        hashes.sort();
        hashes.dedup();
        p.hashes = hashes;
        p.dependencies = m
            .dependencies
            .into_iter()
            .map(|(name, (extras, marker))| LockedDependency {
                name,
                extras: extras.into_iter().collect(),
                marker: marker.filter(|m| !m.is_true()),
            })
            .collect();
        p.yanked = m.yanked;
        p.environments = m.envs.iter().map(|i| labels[*i].clone()).collect();
        p.targets = target_answers(&m.answers, &labels);
        packages.push(p);
    }
    let mut warnings: BTreeSet<String> = BTreeSet::new();
    for r in each {
        warnings.extend(r.warnings.iter().cloned());
    }
    Resolution {
        packages,
        warnings: warnings.into_iter().collect(),
    }
}

/// The answers of one pin grouped by what they were (file, method, check and the
/// dependencies they gave), each with the environments it held in.
fn target_answers(answers: &[(usize, LockedPackage)], labels: &[String]) -> Vec<TargetAnswer> {
    let mut out: Vec<TargetAnswer> = Vec::new();
    for (i, p) in answers {
        let Some(source) = p.metadata_source.clone() else {
            continue;
        };
        let dependencies: Vec<PackageName> =
            p.dependencies.iter().map(|d| d.name.clone()).collect();
        match out
            .iter_mut()
            .find(|a| a.source == source && a.dependencies == dependencies)
        {
            Some(a) => a.environments.push(labels[*i].clone()),
            None => out.push(TargetAnswer {
                environments: vec![labels[*i].clone()],
                source,
                dependencies,
            }),
        }
    }
    out
}
