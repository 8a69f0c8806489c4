//! Hints after "no solution": what the resolver left out that the user may have meant.
//!
//! pubgrub's explanation says *that* no version fits (`no version of torch in ...`); a
//! user also needs to know *why* the versions they expected
//! were not there. Every version the index lists but the target cannot install keeps a
//! reason ([`unusable`]): wheels for other Pythons or platforms only, a `Requires-Python`
//! that excludes the target, the binary policy, `--exclude-newer`. Hints only name
//! versions inside a range some requirement asked for, so a hint never suggests a version
//! that would not satisfy the requirement anyway.

use std::collections::BTreeSet;

use super::{DistFile, LockRequest, Solver, Version};

/// Versions named per hint, newest first.
const SHOWN: usize = 3;

impl Solver<'_> {
    /// What the resolver left out that a user may have meant, for the projects an
    /// explanation names: unknown or uninstallable projects, versions for other targets,
    /// yanked versions, pre-releases.
    pub(super) fn hints(&self, explanation: &str) -> Vec<String> {
        let mentioned = |name: &str| {
            explanation
                .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .any(|word| word == name)
        };
        let requested = self.requested.borrow();
        let excluded = self.excluded.borrow();
        let target = self.request.env.describe();
        let mut hints = Vec::new();
        for (name, candidates) in self.candidates.borrow().iter() {
            if !mentioned(name) {
                continue;
            }
            let asked = |v: &Version| requested.get(name).is_none_or(|r| r.contains(v));
            let unusable: Vec<&(Version, String)> = excluded
                .get(name)
                .map(|e| e.iter().filter(|(v, _)| asked(v)).take(SHOWN).collect())
                .unwrap_or_default();
            for (version, why) in &unusable {
                hints.push(format!("{name} {version} {why}; you target {target}"));
            }
            if candidates.is_empty() {
                if unusable.is_empty() {
                    hints.push(format!(
                        "{name}: no distribution on the index that {target} can install"
                    ));
                }
                continue;
            }
            let yanked: Vec<String> = candidates
                .iter()
                .filter(|c| c.yanked && asked(&c.version))
                .take(SHOWN)
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
                .filter(|c| c.version.any_prerelease() && asked(&c.version))
                .take(SHOWN)
                .map(|c| c.version.to_string())
                .collect();
            if !pre.is_empty() && !self.request.prerelease {
                hints.push(format!(
                    "{name} has pre-releases that fit ({}); --prerelease allows them everywhere",
                    pre.join(", ")
                ));
            }
        }
        hints
    }
}

/// Why a version with files on the index has none the target can use. `allowed` is what
/// the binary policy and `--exclude-newer` left of `listed`.
pub(super) fn unusable(
    listed: &[DistFile],
    allowed: &[&DistFile],
    request: &LockRequest,
    wheels_ok: bool,
    sdists_ok: bool,
) -> String {
    let env = &request.env;
    let by_policy: Vec<&DistFile> = listed
        .iter()
        .filter(|f| if f.is_wheel() { wheels_ok } else { sdists_ok })
        .collect();
    if by_policy.is_empty() {
        return if listed.iter().all(DistFile::is_wheel) {
            "has only wheels, which --no-binary excludes".to_string()
        } else if listed.iter().any(DistFile::is_wheel) {
            "has no file the binary policy (--only-binary, --no-binary) allows".to_string()
        } else {
            "has only an sdist, which --only-binary excludes".to_string()
        };
    }
    if allowed.is_empty() {
        let cutoff = request
            .exclude_newer
            .map(|c| c.to_string())
            .unwrap_or_default();
        return if by_policy.iter().all(|f| f.upload_time.is_none()) {
            format!("has no upload time on the index, so --exclude-newer {cutoff} leaves it out")
        } else {
            format!("was uploaded after --exclude-newer {cutoff}")
        };
    }
    let fits_python: Vec<&DistFile> = allowed
        .iter()
        .copied()
        .filter(|f| f.requires_python.as_deref().is_none_or(|r| env.admits(r)))
        .collect();
    if fits_python.is_empty() {
        let stated: BTreeSet<&str> = allowed
            .iter()
            .filter_map(|f| f.requires_python.as_deref())
            .collect();
        let stated: Vec<&str> = stated.into_iter().collect();
        return format!("requires Python {}", stated.join(" or "));
    }
    describe_wheels(&fits_python)
}

/// What the wheels of a version are for, when none of them is for the target: a range of
/// CPython versions when they are all version-specific, else their platforms.
fn describe_wheels(files: &[&DistFile]) -> String {
    let mut minors = BTreeSet::new();
    let mut version_specific = true;
    let mut platforms = BTreeSet::new();
    for f in files {
        let Some(tags) = f.filename.wheel_tags() else {
            continue;
        };
        for py in tags.python.split('.') {
            match py
                .strip_prefix("cp3")
                .and_then(|m| m.parse::<u64>().ok())
                .filter(|_| tags.abi != "abi3")
            {
                Some(minor) => {
                    minors.insert(minor);
                }
                None => version_specific = false,
            }
        }
        for p in tags.platform.split('.') {
            platforms.insert(p.to_string());
        }
    }
    match (minors.first(), minors.last()) {
        (Some(low), Some(high)) if version_specific && low == high => {
            format!("has wheels for CPython 3.{low} only")
        }
        (Some(low), Some(high)) if version_specific => {
            format!("has wheels for CPython 3.{low}\u{2013}3.{high} only")
        }
        _ => {
            let shown: Vec<String> = platforms.into_iter().take(4).collect();
            format!("has wheels for {} only", shown.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{DistFilename, Sha256Hex};
    use std::str::FromStr;

    fn file(name: &str) -> DistFile {
        let project = pep508_rs::PackageName::from_str("torch").unwrap();
        DistFile::new(
            DistFilename::parse(name, &project).unwrap(),
            String::new(),
            Sha256Hex::of(name.as_bytes()),
        )
    }

    fn refs(files: &[DistFile]) -> Vec<&DistFile> {
        files.iter().collect()
    }

    #[test]
    fn says_which_pythons_or_platforms_the_wheels_are_for() {
        let request = LockRequest::default();
        let wheels: Vec<DistFile> = (8..=11)
            .map(|m| file(&format!("torch-2.1.0-cp3{m}-cp3{m}-manylinux1_x86_64.whl")))
            .collect();
        assert_eq!(
            unusable(&wheels, &refs(&wheels), &request, true, true),
            "has wheels for CPython 3.8\u{2013}3.11 only"
        );
        let win = vec![file("torch-2.1.0-cp312-cp312-win_amd64.whl")];
        assert_eq!(
            unusable(&win, &refs(&win), &request, true, true),
            "has wheels for CPython 3.12 only"
        );
        let mixed = vec![
            file("torch-2.1.0-py3-none-win_amd64.whl"),
            file("torch-2.1.0-py3-none-macosx_11_0_arm64.whl"),
        ];
        assert_eq!(
            unusable(&mixed, &refs(&mixed), &request, true, true),
            "has wheels for macosx_11_0_arm64, win_amd64 only"
        );
        let mut newer = file("torch-2.1.0.tar.gz");
        newer.requires_python = Some(">=3.13".into());
        let listed = vec![newer];
        assert_eq!(
            unusable(&listed, &refs(&listed), &request, true, true),
            "requires Python >=3.13"
        );
        assert!(unusable(&listed, &[], &request, true, false).contains("--only-binary"));
    }
}
