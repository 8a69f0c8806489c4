//! The answer must be about the file it came from.
//!
//! pip refuses an sdist whose built metadata names another project or version than its
//! file name ("Requested foo from foo-1.0.tar.gz has inconsistent version: expected '1.0',
//! but metadata has '0.0.0'"). A tool that answered anyway would hand a resolver a quiet
//! wrong version — typically `0.0.0` from a setup-time helper (setuptools_scm, pbr) that
//! could not run. So every answer is checked against what the input itself claims:
//! its file name (PEP 625 and legacy sdist names, wheel names) and, for an sdist built in
//! the sandbox, its own `PKG-INFO`. A disagreement is the `inconsistent-metadata` error,
//! naming both values and the helpers that could not be provided; never a success.
//!
//! Where pip is more lenient for a reason, so is this check (measured on real sdists,
//! `benches/sample`): a file name whose version is not PEP 440 claims nothing (pip
//! cannot read it either), and a stale `PKG-INFO` in an sdist whose file name agrees with
//! the answer (construct 2.0.6's says `2.06`) is a warning, not an error — pip goes by the
//! file name and the build.

use pep440_rs::Version;

use crate::dist_filename::{project_name, DistFilename, InvalidFilename};
use crate::error::{Error, Result};
use crate::metadata::guarded;

/// What the input claims about itself, and where the claim comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// `file name` or `PKG-INFO`.
    pub source: &'static str,
    /// The project name claimed (as written).
    pub name: String,
    /// The version claimed (as written).
    pub version: String,
}

/// Checks `name`/`version` (the answer) against the file name `filename` and the other
/// `claims`. `degraded` says what could not be provided while computing the answer, for
/// the error message. Returns warnings for claims that disagree where pip would not mind.
pub fn check(
    filename: Option<&str>,
    claims: &[Claim],
    name: &str,
    version: &str,
    degraded: &[String],
) -> Result<Vec<String>> {
    let mut named_by_file = false;
    if let Some(filename) = filename {
        match check_filename(filename, name, version) {
            FileClaim::Contradicts(mismatch) => {
                return Err(inconsistent(mismatch, name, version, degraded))
            }
            FileClaim::Agrees => named_by_file = true,
            FileClaim::None => {}
        }
    }
    let mut warnings = Vec::new();
    for claim in claims {
        if same_name(&claim.name, name) && same_version(&claim.version, version) {
            continue;
        }
        if !named_by_file {
            return Err(inconsistent(claim.clone(), name, version, degraded));
        }
        warnings.push(format!(
            "the sdist's {} says `{} {}`, but its file name and the build say `{name} {version}` (a stale {0}; pip goes by the file name)",
            claim.source, claim.name, claim.version
        ));
    }
    Ok(warnings)
}

/// What a file name says about the answer.
enum FileClaim {
    /// Not a distribution file name with a PEP 440 version: it claims nothing.
    None,
    /// It names the answer's project and version.
    Agrees,
    /// It names another project or version.
    Contradicts(Claim),
}

/// What `filename` claims, measured against the answer. A name that is not a
/// distribution file name at all (`download.tar.gz`), or whose version is not PEP 440
/// (`geopandas-0.1.0.dev-2d642e0`), claims nothing.
fn check_filename(filename: &str, name: &str, version: &str) -> FileClaim {
    let Some(project) = project_name(name) else {
        return FileClaim::None;
    };
    let claim = |name: &str, version: &str| Claim {
        source: "file name",
        name: name.to_string(),
        version: version.to_string(),
    };
    match DistFilename::parse(filename, &project) {
        Ok(file) => {
            if parse_version(version).is_some_and(|v| v == *file.version()) {
                FileClaim::Agrees
            } else {
                FileClaim::Contradicts(claim(name, &file.version().to_string()))
            }
        }
        Err(InvalidFilename::OtherProject { .. }) => match other_project(filename) {
            Some((other, other_version)) => FileClaim::Contradicts(claim(other, other_version)),
            None => FileClaim::None,
        },
        Err(_) => FileClaim::None,
    }
}

/// The `<name>-<version>` that a file name of another project claims, if it reads as one.
fn other_project(filename: &str) -> Option<(&str, &str)> {
    let stem = sdist_or_wheel_stem(filename)?;
    let (other, other_version) = stem
        .match_indices('-')
        .map(|(i, _)| (&stem[..i], &stem[i + 1..]))
        .find(|(n, v)| {
            project_name(n).is_some() && parse_version(v.split('-').next().unwrap_or(v)).is_some()
        })?;
    Some((
        other,
        other_version.split('-').next().unwrap_or(other_version),
    ))
}

fn sdist_or_wheel_stem(filename: &str) -> Option<&str> {
    [".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip"]
        .iter()
        .find_map(|ext| filename.strip_suffix(ext))
}

fn parse_version(text: &str) -> Option<Version> {
    guarded(|| text.trim().parse::<Version>().ok()).flatten()
}

fn same_name(a: &str, b: &str) -> bool {
    match (project_name(a), project_name(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
}

/// PEP 440 equality when both parse (`1.0` is `1.0.0`), the text otherwise.
fn same_version(a: &str, b: &str) -> bool {
    match (parse_version(a), parse_version(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
}

fn inconsistent(claim: Claim, name: &str, version: &str, degraded: &[String]) -> Error {
    Error::InconsistentMetadata {
        source_of_claim: claim.source.to_string(),
        expected: format!("{} {}", claim.name, claim.version),
        got: format!("{name} {version}"),
        detail: degraded.join("\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(filename: &str, name: &str, version: &str) -> bool {
        check(Some(filename), &[], name, version, &[]).is_ok()
    }

    fn pkg_info(name: &str, version: &str) -> Claim {
        Claim {
            source: "PKG-INFO",
            name: name.into(),
            version: version.into(),
        }
    }

    #[test]
    fn file_names() {
        assert!(ok("Django-1.11.1.tar.gz", "Django", "1.11.1"));
        assert!(ok("zope.interface-5.0.zip", "zope.interface", "5.0.0"));
        assert!(ok("my-pkg-2.0rc1.tar.gz", "my_pkg", "2.0rc1"));
        assert!(ok("pytz-2011k.tar.gz", "pytz", "2011k"));
        // Not PEP 440 in the file name: no claim (pip cannot read it either).
        assert!(ok(
            "geopandas-0.1.0.dev-2d642e0.tar.gz",
            "geopandas",
            "0.1.0.dev0"
        ));
        assert!(ok("demo-1.0-py3-none-any.whl", "demo", "1.0"));
        assert!(ok("download.tar.gz", "anything", "1.0"));
        assert!(!ok("demo-1.0.tar.gz", "demo", "0.0.0"));
        assert!(!ok("demo-1.0.tar.gz", "other", "1.0"));
        assert!(!ok("demo-1.0-py3-none-any.whl", "demo", "1.1"));
    }

    #[test]
    fn a_stale_pkg_info_is_a_warning_when_the_file_name_agrees() {
        let w = check(
            Some("construct-2.0.6.tar.gz"),
            &[pkg_info("construct", "2.06")],
            "construct",
            "2.0.6",
            &[],
        )
        .unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        // Without a file name that agrees, the sdist's own PKG-INFO decides.
        assert!(check(
            Some("download.tar.gz"),
            &[pkg_info("construct", "2.06")],
            "construct",
            "2.0.6",
            &[]
        )
        .is_err());
    }

    #[test]
    fn pkg_info_claims() {
        let claim = pkg_info("Demo", "1.0");
        assert!(check(None, std::slice::from_ref(&claim), "demo", "1.0.0", &[]).is_ok());
        let err = check(
            None,
            &[claim],
            "demo",
            "0.0.0",
            &["setuptools_scm missing".into()],
        )
        .unwrap_err();
        assert_eq!(err.kind(), "inconsistent-metadata");
        let text = err.to_string();
        assert!(
            text.contains("PKG-INFO") && text.contains("0.0.0") && text.contains("1.0"),
            "{text}"
        );
        assert!(err.detail().unwrap().contains("setuptools_scm"));
    }
}
