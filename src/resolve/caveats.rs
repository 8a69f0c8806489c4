//! Which answers a lock should warn about: metadata the sandbox could only produce with
//! help that a real build on the target will not get.
//!
//! sdistill answers for sdists pip and uv can no longer build (MarkupSafe 1.0's setup.py
//! needs `setuptools.Feature` and regex flags CPython 3.11 refuses): the metadata is
//! right, but a lock pinning such an sdist is a trap, since installing it will fail. The
//! sandbox reports every kind of help it gave as a warning with a stable form (the
//! driver's `compatibility: ...` notes, stand-ins and build requirements it could not
//! provide, a `0.0.0` version, `setup()` arguments read because setuptools refused to
//! write metadata); this module picks those out, so the lock can say so per pin and
//! `--strict` can refuse them.

/// The warnings of one answer that mean "a build on the target needs more than it will
/// get", given how the answer was obtained (`method`). Only sandbox answers qualify: a
/// wheel or static metadata involves no build.
pub fn caveats(method: &str, warnings: &[String]) -> Vec<String> {
    if !method.starts_with("sandbox") {
        return Vec::new();
    }
    let mut out: Vec<String> = warnings
        .iter()
        .filter(|w| is_build_help(w))
        .cloned()
        .collect();
    if method == "sandbox-setup-kwargs" {
        out.push(
            "setuptools refused to write its metadata; the arguments of setup() were read instead"
                .to_string(),
        );
    }
    out.sort();
    out.dedup();
    out
}

/// A warning that records help a real build would not have.
fn is_build_help(warning: &str) -> bool {
    warning.starts_with("compatibility:")
        || warning.contains("stand-in")
        || warning.contains("could not be provided")
        || warning.contains("not provided")
        || warning.contains("is a URL; not fetched")
        || warning.starts_with("version 0.0.0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sandbox_help_counts() {
        let warnings = vec![
            "compatibility: moved inline regex flags (?m) after the start of a pattern to the start (Python 3.11 refuses them elsewhere)".to_string(),
            "build requirement `numpy` has no pure-Python wheel; an inert stand-in was used, so the result may be incomplete".to_string(),
            "Requires-Dist `pytz (>dev)` is not PEP 508".to_string(),
        ];
        assert_eq!(caveats("sandbox-egg-info", &warnings).len(), 2);
        assert!(caveats("metadata-file", &warnings).is_empty());
        assert!(caveats("pkg-info", &warnings).is_empty());
        assert_eq!(caveats("sandbox-setup-kwargs", &[]).len(), 1);
    }
}
