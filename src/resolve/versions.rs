//! PEP 440 version sets for the resolver: requirement specifiers as `Ranges<Version>`,
//! with PEP 440's local-version rule, exact pins, and legacy requirement text.

use pep508_rs::{Requirement, VersionOrUrl};
use pubgrub::Ranges;

use crate::metadata::parse_requirement;

pub use pep440_rs::Version;

/// A set of versions.
pub(crate) type Set = Ranges<Version>;

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
pub(crate) fn specifier_range(spec: &pep440_rs::VersionSpecifier) -> Set {
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
pub(crate) fn local_span(version: &Version) -> Set {
    let above_locals = match (version.dev(), version.post()) {
        (Some(dev), _) => version.clone().with_dev(Some(dev + 1)),
        (None, Some(post)) => version.clone().with_post(Some(post + 1)).with_dev(Some(0)),
        (None, None) => version.clone().with_post(Some(0)).with_dev(Some(0)),
    };
    Ranges::from_range_bounds(version.clone()..above_locals)
}

/// The public version a range pins exactly (`==V`, possibly with its local versions).
pub(crate) fn pinned_version(range: &Set) -> Option<Version> {
    let (std::ops::Bound::Included(low), _) = range.bounding_range()? else {
        return None;
    };
    let low = low.clone().without_local();
    range.subset_of(&local_span(&low)).then_some(low)
}

/// The version set of a requirement's specifiers (everything when it has none).
pub(crate) fn specifier_set(req: &Requirement) -> std::result::Result<Set, String> {
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
