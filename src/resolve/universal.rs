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

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::index::{DistFilename, Sha256Hex};
    use crate::resolve::matrix::DEFAULT_PLATFORMS;
    use crate::resolve::DistFile;
    use crate::sandbox::TargetPlatform;

    fn pin(
        name: &str,
        version: &str,
        files: &[&str],
        deps: &[(&str, Option<&str>)],
    ) -> LockedPackage {
        let project = PackageName::from_str(name).unwrap();
        let files: Vec<DistFile> = files
            .iter()
            .map(|f| {
                DistFile::new(
                    DistFilename::parse(f, &project).unwrap(),
                    String::new(),
                    Sha256Hex::of(f.as_bytes()),
                )
            })
            .collect();
        LockedPackage {
            name: project,
            version: super::super::Version::from_str(version).unwrap(),
            extras: Vec::new(),
            hashes: files.iter().map(|f| f.sha256.clone()).collect(),
            files,
            direct: None,
            requires_python: None,
            via: vec!["command line".into()],
            marker: None,
            metadata_source: None,
            dependencies: deps
                .iter()
                .map(|(d, m)| LockedDependency {
                    name: PackageName::from_str(d).unwrap(),
                    extras: Vec::new(),
                    marker: m.map(|m| MarkerTree::from_str(m).unwrap()),
                })
                .collect(),
            caveats: Vec::new(),
            yanked: false,
            environments: Vec::new(),
            targets: Vec::new(),
        }
    }

    fn text(m: &Option<MarkerTree>) -> String {
        m.as_ref()
            .and_then(|m| m.try_to_string())
            .unwrap_or_default()
    }

    /// Per-environment results merge into one pin per (project, version) with the marker
    /// of exactly its environments, every environment's files, and its dependencies'
    /// markers joined.
    #[test]
    fn results_merge_into_pins_with_markers() {
        let linux = DEFAULT_PLATFORMS[0];
        let windows = DEFAULT_PLATFORMS
            .iter()
            .copied()
            .find(|t| t.platform == TargetPlatform::Windows)
            .unwrap();
        let matrix = Matrix::new(&[linux, windows], &[(3, 11, 0), (3, 12, 0)]).unwrap();
        let each: Vec<Resolution> = matrix
            .envs()
            .iter()
            .map(|env| {
                let win = env.target == windows;
                let (pyver, pyver_file) = if env.python.1 >= 12 {
                    ("2.0", "pyver-2.0-py3-none-any.whl")
                } else {
                    ("1.0", "pyver-1.0-py3-none-any.whl")
                };
                let mut packages = vec![
                    pin(
                        "app",
                        "1.0",
                        &["app-1.0.tar.gz"],
                        &[("pyver", None), ("native", Some("python_version >= '3'"))],
                    ),
                    pin("pyver", pyver, &[pyver_file], &[]),
                    pin(
                        "native",
                        "1.0",
                        &[if win {
                            "native-1.0-cp312-cp312-win_amd64.whl"
                        } else {
                            "native-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
                        }],
                        &[],
                    ),
                ];
                if win {
                    packages[0].dependencies.push(LockedDependency {
                        name: PackageName::from_str("win-only").unwrap(),
                        extras: Vec::new(),
                        marker: Some(MarkerTree::from_str("os_name == 'nt'").unwrap()),
                    });
                    let mut w = pin("win-only", "1.0", &["win_only-1.0-py3-none-any.whl"], &[]);
                    w.marker = Some(MarkerTree::from_str("os_name == 'nt'").unwrap());
                    packages.push(w);
                }
                packages.sort_by(|a, b| a.name.cmp(&b.name));
                Resolution {
                    packages,
                    warnings: vec![format!("note {win}")],
                }
            })
            .collect();
        let merged = merge(&matrix, &each);
        let lines: Vec<(String, String, String)> = merged
            .packages
            .iter()
            .map(|p| (p.name.to_string(), p.version.to_string(), text(&p.marker)))
            .collect();
        assert_eq!(
            lines,
            [
                ("app", "1.0", ""),
                ("native", "1.0", ""),
                ("pyver", "1.0", "python_full_version < '3.12'"),
                ("pyver", "2.0", "python_full_version >= '3.12'"),
                // The package's own marker says exactly its environments: kept.
                ("win-only", "1.0", "os_name == 'nt'"),
            ]
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())),
        );
        let by_name = |n: &str| {
            merged
                .packages
                .iter()
                .find(|p| p.name.as_ref() == n)
                .unwrap()
        };
        let native = by_name("native");
        assert_eq!(native.files.len(), 2);
        assert_eq!(native.hashes.len(), 2);
        assert!(native.hashes.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(native.environments.len(), 4);
        assert_eq!(by_name("win-only").environments.len(), 2);
        let app_deps: Vec<(String, String)> = by_name("app")
            .dependencies
            .iter()
            .map(|d| (d.name.to_string(), text(&d.marker)))
            .collect();
        assert_eq!(
            app_deps,
            [
                ("native", "python_full_version >= '3'"),
                ("pyver", ""),
                ("win-only", "os_name == 'nt'"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string())),
        );
        assert_eq!(merged.warnings, ["note false", "note true"]);
    }
}
