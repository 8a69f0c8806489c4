//! The core-metadata model and its RFC 822 parser.
//!
//! Core metadata (PKG-INFO, METADATA, what `egg_info` writes) is an email-header format:
//! repeated fields, continuation lines that start with whitespace, a blank line before an
//! optional body, CRLF or LF line ends. This module parses it faithfully and validates the
//! fields a resolver depends on with maintained PEP 508 / PEP 440 parsers, so that a value
//! sdistill reports is either valid or explicitly flagged — never silently dropped.

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{PackageName, Requirement};
use serde::Serialize;

use crate::error::{excerpt, Error, Result};
use crate::limits::Limits;

/// Parsed RFC 822 headers in file order, keeping repeats.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    /// Parses the header block of a core-metadata file. The body (long description) is
    /// ignored. Never fails: malformed lines are skipped, since validation happens per field.
    pub fn parse(text: &str) -> Self {
        let mut fields: Vec<(String, String)> = Vec::new();
        for raw in text.split('\n') {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() {
                break; // end of headers, start of body
            }
            if line.starts_with([' ', '\t']) {
                // Continuation of the previous field (RFC 822 folding).
                if let Some((_, value)) = fields.last_mut() {
                    value.push('\n');
                    value.push_str(line.trim_start_matches([' ', '\t']));
                }
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                fields.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        Self { fields }
    }

    /// The first value of a field, compared case-insensitively as RFC 822 requires.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated field, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The dependency-relevant subset of core metadata, as sdistill reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CoreMetadata {
    /// `Metadata-Version`, when the source had one.
    pub metadata_version: Option<String>,
    /// The distribution name as declared (not normalized).
    pub name: String,
    /// The version as declared.
    pub version: String,
    /// `Requires-Dist` entries, as the metadata writes them.
    pub requires_dist: Vec<String>,
    /// `Requires-Python`.
    pub requires_python: Option<String>,
    /// `Provides-Extra` entries.
    pub provides_extra: Vec<String>,
    /// `Dynamic` entries (PEP 643), lower-cased.
    pub dynamic: Vec<String>,
}

impl CoreMetadata {
    /// Reads the fields sdistill reports from parsed headers.
    ///
    /// `file` names the source for error messages. Missing `Name` is an error: without
    /// it nothing can be pinned.
    pub fn from_headers(headers: &Headers, file: &str) -> Result<Self> {
        let name = headers
            .get("Name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::InvalidMetadata {
                file: file.to_string(),
                detail: "no Name field".to_string(),
            })?;
        Ok(Self {
            metadata_version: headers.get("Metadata-Version").map(str::to_string),
            name: name.to_string(),
            version: headers.get("Version").unwrap_or_default().to_string(),
            requires_dist: headers
                .get_all("Requires-Dist")
                .map(str::to_string)
                .collect(),
            requires_python: headers
                .get("Requires-Python")
                .filter(|v| !v.is_empty())
                .map(str::to_string),
            provides_extra: headers
                .get_all("Provides-Extra")
                .map(str::to_string)
                .collect(),
            dynamic: headers
                .get_all("Dynamic")
                .map(|d| d.trim().to_ascii_lowercase())
                .collect(),
        })
    }

    /// Parses a whole core-metadata document.
    pub fn parse(text: &str, file: &str) -> Result<Self> {
        Self::from_headers(&Headers::parse(text), file)
    }

    /// Validates name, version, requirements and Requires-Python with PEP 508/440
    /// parsers. Returns one warning per invalid value; values are kept as written so that
    /// nothing is dropped silently. A name that is not a valid project name is an error.
    pub fn validate(&self, file: &str) -> Result<Vec<String>> {
        let name_ok = guarded(|| PackageName::from_str(&self.name).map_err(|e| e.to_string()))
            .unwrap_or_else(|| Err("unparsable name".to_string()));
        if let Err(e) = name_ok {
            return Err(Error::InvalidMetadata {
                file: file.to_string(),
                detail: format!("Name `{}` is not a valid project name: {e}", self.name),
            });
        }
        let mut warnings = Vec::new();
        if self.version.is_empty() {
            warnings.push(format!("{file}: no Version field"));
        } else if let Err(e) = parse_pep440(|| Version::from_str(&self.version).map(|_| ())) {
            warnings.push(format!(
                "{file}: Version `{}` is not PEP 440 ({e}); reported as written",
                self.version
            ));
        }
        for req in &self.requires_dist {
            if let Err(why) = check_requirement_complexity(req) {
                warnings.push(format!(
                    "{file}: Requires-Dist `{}` is not PEP 508 as sdistill parses it (too complex to parse safely: {why}); kept as written, not checked",
                    excerpt(req, 200)
                ));
            } else if let Err(e) = parse_requirement(req) {
                warnings.push(format!(
                    "{file}: Requires-Dist `{req}` is not PEP 508 ({}); kept as written, pip would refuse it",
                    first_line(&e)
                ));
            }
        }
        if let Some(rp) = &self.requires_python {
            if let Err(e) = parse_pep440(|| VersionSpecifiers::from_str(rp).map(|_| ())) {
                warnings.push(format!(
                    "{file}: Requires-Python `{rp}` is not PEP 440 ({e}); kept as written"
                ));
            }
        }
        Ok(warnings)
    }

    /// True if PEP 643 lets us trust the fields sdistill reports without a build.
    ///
    /// Requires Metadata-Version >= 2.2 and none of the reported fields in `Dynamic`.
    pub fn is_static(&self) -> Result<(), String> {
        let mv = self.metadata_version.as_deref().unwrap_or("");
        if !metadata_version_at_least(mv, (2, 2)) {
            return Err(format!(
                "PKG-INFO Metadata-Version `{mv}` predates PEP 643 (2.2), so its Requires-Dist cannot be trusted"
            ));
        }
        let dynamic: Vec<&str> = self
            .dynamic
            .iter()
            .map(String::as_str)
            .filter(|d| REPORTED_FIELDS.contains(d))
            .collect();
        if dynamic.is_empty() {
            Ok(())
        } else {
            Err(format!("PKG-INFO marks {} as Dynamic", dynamic.join(", ")))
        }
    }
}

/// The core-metadata fields sdistill reports, lower-cased as `Dynamic` is compared.
const REPORTED_FIELDS: &[&str] = &[
    "name",
    "version",
    "requires-dist",
    "requires-python",
    "provides-extra",
];

/// Runs a third-party parser on input-derived text, turning a panic into `None`.
///
/// pep508_rs 0.9.2 panics on some inputs (found by fuzzing: a name ending in `.`, `-` or
/// `_` followed by more text, e.g. `a.>=1`; byte-slicing inside multi-byte characters).
/// Input must never crash sdistill, so every parse of untrusted text goes through here.
/// The panic message is suppressed for these calls only (a thread-local flag consulted by
/// a panic hook installed once), so real bugs elsewhere still print.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    use std::cell::Cell;
    use std::sync::Once;
    thread_local! {
        static QUIET: Cell<bool> = const { Cell::new(false) };
    }
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    QUIET.with(|q| q.set(false));
    result
}

/// Why requirement text is not handed to the PEP 508 parser at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TooComplex {
    /// Longer than [`Limits::MAX_REQUIREMENT_BYTES`].
    #[error("longer than {} bytes", Limits::MAX_REQUIREMENT_BYTES)]
    Length,
    /// More `(` than [`Limits::MAX_REQUIREMENT_PARENS`].
    #[error("more than {} parentheses", Limits::MAX_REQUIREMENT_PARENS)]
    Parentheses,
    /// More comparisons than [`Limits::MAX_REQUIREMENT_COMPARISONS`].
    #[error("more than {} comparisons", Limits::MAX_REQUIREMENT_COMPARISONS)]
    Comparisons,
    /// More `extra` / `in` comparisons than [`Limits::MAX_REQUIREMENT_FREE_VARIABLES`].
    #[error(
        "more than {} comparisons on `extra` or with `in`",
        Limits::MAX_REQUIREMENT_FREE_VARIABLES
    )]
    FreeVariables,
}

/// Refuses requirement text that could make pep508_rs overflow the stack, run for minutes
/// or exhaust memory, in one linear pass over the bytes and before any parser sees them.
///
/// Every count is an upper bound of what the parser would see (quotes are not tracked, so
/// text inside a string or URL counts too): an adversary cannot hide a level or a
/// comparison from it, and honest requirements are far below every cap.
pub fn check_requirement_complexity(text: &str) -> std::result::Result<(), TooComplex> {
    if text.len() > Limits::MAX_REQUIREMENT_BYTES {
        return Err(TooComplex::Length);
    }
    if text.bytes().filter(|&b| b == b'(').count() > Limits::MAX_REQUIREMENT_PARENS {
        return Err(TooComplex::Parentheses);
    }
    let in_operators = count_word_starts(text, "in");
    if operator_runs(text) + in_operators > Limits::MAX_REQUIREMENT_COMPARISONS {
        return Err(TooComplex::Comparisons);
    }
    if count_word_starts(text, "extra") + in_operators > Limits::MAX_REQUIREMENT_FREE_VARIABLES {
        return Err(TooComplex::FreeVariables);
    }
    Ok(())
}

/// Runs of operator characters (`==`, `!=`, `~=`, `<`, `===`, ...): each comparison has one.
fn operator_runs(text: &str) -> usize {
    let is_op = |b: &u8| matches!(b, b'=' | b'<' | b'>' | b'!' | b'~');
    let bytes = text.as_bytes();
    (0..bytes.len())
        .filter(|&i| is_op(&bytes[i]) && (i == 0 || !is_op(&bytes[i - 1])))
        .count()
}

/// Occurrences of `word` not preceded by a letter or digit. pep508_rs takes `in` right
/// after `not ` without looking at what follows, so only the preceding byte is checked:
/// words that merely start with `in` (`intel`) are counted too, which only overestimates.
fn count_word_starts(text: &str, word: &str) -> usize {
    text.match_indices(word)
        .filter(|&(i, _)| i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric())
        .count()
}

/// Parses a PEP 508 requirement without ever panicking; the error is a one-line message.
///
/// Text that fails [`check_requirement_complexity`] never reaches the parser. Every parse
/// of untrusted requirement text in sdistill goes through here.
pub fn parse_requirement(text: &str) -> std::result::Result<Requirement, String> {
    check_requirement_complexity(text)
        .map_err(|why| format!("too complex to parse safely: {why}"))?;
    match guarded(|| Requirement::<pep508_rs::VerbatimUrl>::from_str(text)) {
        // Only the message: the error's full `Display` can itself panic (see above).
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(guarded(|| e.message.to_string())
            .unwrap_or_else(|| "unparsable requirement".to_string())),
        None => Err("unparsable requirement".to_string()),
    }
}

/// Runs a PEP 440 parse under [`guarded`], rendering any error as text.
fn parse_pep440<E: std::fmt::Display>(
    f: impl FnOnce() -> std::result::Result<(), E>,
) -> std::result::Result<(), String> {
    match guarded(|| f().map_err(|e| e.to_string())) {
        Some(r) => r,
        None => Err("unparsable".to_string()),
    }
}

/// PEP 503 name (and PEP 685 extra) normalization: lower-case, runs of `-_.` become `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Compares a `Metadata-Version` such as `2.1` or `2.5` against a minimum.
pub fn metadata_version_at_least(text: &str, min: (u64, u64)) -> bool {
    let mut parts = text.trim().split('.');
    let major = parts.next().and_then(|p| p.parse::<u64>().ok());
    let minor = parts
        .next()
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0);
    match major {
        Some(major) => (major, minor) >= min,
        None => false,
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Metadata-Version: 2.2\r\nName: demo\r\nVersion: 1.0\r\nRequires-Dist: a>=1\r\nRequires-Dist: b; extra == \"x\"\r\nProvides-Extra: x\r\nDescription: first\r\n  second\r\nDynamic: Requires-Python\r\n\r\nBody: not a header\r\n";

    #[test]
    fn parses_repeats_crlf_and_continuations() {
        let h = Headers::parse(SAMPLE);
        assert_eq!(h.get("description"), Some("first\nsecond"));
        assert_eq!(h.get("body"), None);
        let m = CoreMetadata::from_headers(&h, "PKG-INFO").unwrap();
        assert_eq!(m.requires_dist, vec!["a>=1", "b; extra == \"x\""]);
        assert_eq!(m.dynamic, vec!["requires-python"]);
        assert!(m.is_static().is_err());
        assert!(m.validate("PKG-INFO").unwrap().is_empty());
    }

    #[test]
    fn metadata_versions() {
        assert!(metadata_version_at_least("2.2", (2, 2)));
        assert!(metadata_version_at_least("2.5", (2, 2)));
        assert!(metadata_version_at_least("3.0", (2, 2)));
        assert!(!metadata_version_at_least("2.1", (2, 2)));
        assert!(!metadata_version_at_least("1.0", (2, 2)));
        assert!(!metadata_version_at_least("", (2, 2)));
    }

    /// Regression (fuzzing): pep508_rs panicked formatting this error.
    #[test]
    fn non_ascii_requirement_error_does_not_panic() {
        let raw: &[u8] = b"Name: demo\r\nVersion: 1.0\r\nRequires-Dist: a>=1; extra == \"x\"Dy\ramic: Lic\x9d\x91\x8c\x9a\xf2\xf5\xbb\x9ascri\r\n";
        let m = CoreMetadata::parse(&String::from_utf8_lossy(raw), "PKG-INFO").unwrap();
        let w = m.validate("PKG-INFO").unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
    }

    /// Regression (fuzzing): inputs on which pep508_rs 0.9.2 panics are flagged instead.
    #[test]
    fn requirements_that_panic_the_parser_are_flagged() {
        for req in ["a.>=1", "a- ", "a_\t", "a.[x]", "Sbuis.\u{1}"] {
            assert!(parse_requirement(req).is_err(), "{req:?}");
        }
        let raw: &[u8] = b"a>=0; extra == \"x\"Requ\xa5\x9b\xf4\xd2\xaf\xc3hon: >=3.8";
        let _ = parse_requirement(&String::from_utf8_lossy(raw));
    }

    /// A marker nested 10,000 deep overflowed pep508_rs's recursive descent and aborted the
    /// process. It must be flagged without reaching the parser: this runs on a 256 KiB
    /// stack, which holds the 32 levels allowed but not the 10,000 refused.
    #[test]
    fn deeply_nested_markers_are_flagged_not_parsed() {
        let nest = |n: usize| format!("a; {}python_version > '3'{}", "(".repeat(n), ")".repeat(n));
        let (deep, allowed) = (nest(10_000), nest(Limits::MAX_REQUIREMENT_PARENS - 1));
        let text = format!(
            "Metadata-Version: 2.2\nName: deep\nVersion: 1\nRequires-Dist: {deep}\nRequires-Dist: {allowed}\n"
        );
        let (meta, warnings) = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let m = CoreMetadata::parse(&text, "PKG-INFO").unwrap();
                let w = m.validate("PKG-INFO").unwrap();
                (m, w)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(meta.requires_dist, vec![deep.clone(), allowed]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("too complex to parse safely"),
            "{warnings:?}"
        );
        assert!(warnings[0].len() < 1000, "the warning quotes an excerpt");
        let e = parse_requirement(&deep).unwrap_err();
        assert!(e.contains("parentheses"), "{e}");
    }

    /// Flat markers that cost the parser a stack overflow (3,000 extras), seconds (a long
    /// `or` on one variable) or gigabytes (pairs of extras) are refused in microseconds;
    /// the worst shapes within the caps parse quickly; honest large markers still parse.
    #[test]
    fn complex_flat_markers_are_refused_quickly() {
        let join = |n: usize, f: &dyn Fn(usize) -> String, op: &str| {
            let terms: Vec<String> = (0..n).map(f).collect();
            format!("a; {}", terms.join(op))
        };
        let extras = |i: usize| format!("extra == 'e{i}'");
        let platforms = |i: usize| format!("sys_platform == 'p{i}'");
        let pairs = |i: usize| format!("(extra == 'a{i:03}' and extra == 'b{i:03}')");
        let refused = [
            (join(3000, &extras, " and "), TooComplex::Comparisons),
            (join(2000, &platforms, " or "), TooComplex::Comparisons),
            (join(20, &pairs, " or "), TooComplex::FreeVariables),
            (join(17, &extras, " or "), TooComplex::FreeVariables),
            (
                format!(
                    "a @ https://x/{}",
                    "y".repeat(Limits::MAX_REQUIREMENT_BYTES)
                ),
                TooComplex::Length,
            ),
        ];
        for (text, why) in &refused {
            assert_eq!(check_requirement_complexity(text), Err(*why));
            assert!(parse_requirement(text).is_err());
        }
        let within = [
            join(8, &pairs, " or "),
            join(16, &extras, " or "),
            join(Limits::MAX_REQUIREMENT_COMPARISONS, &platforms, " or "),
            "greenlet>=1; platform_python_implementation == 'CPython' and (platform_machine == 'aarch64' or platform_machine == 'ppc64le' or platform_machine == 'x86_64' or platform_machine == 'amd64' or platform_machine == 'AMD64' or platform_machine == 'win32' or platform_machine == 'WIN32') and extra == \"asyncio\"".to_string(),
            "pywin32 (>=1.0,<2,!=1.5) ; sys_platform == 'win32' and 'arm' not in platform_machine".to_string(),
        ];
        for text in &within {
            let started = std::time::Instant::now();
            assert!(parse_requirement(text).is_ok(), "{text}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(2),
                "{text}: {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn legacy_specifier_is_flagged_not_dropped() {
        let m = CoreMetadata::parse("Name: x\nVersion: 1\nRequires-Dist: pytz>dev\n", "PKG-INFO")
            .unwrap();
        let w = m.validate("PKG-INFO").unwrap();
        assert_eq!(m.requires_dist, vec!["pytz>dev"]);
        assert_eq!(w.len(), 1, "{w:?}");
    }
}
/// Documents the upstream bug worked around in `validate`; when it starts failing, the
/// dependency is fixed and the workaround may go.
#[cfg(test)]
mod upstream {
    #[test]
    fn pep508_full_display_panics_on_this_input() {
        use std::str::FromStr;
        let raw: &[u8] = b"a>=1; extra == \"x\"Dy\ramic: Lic\x9d\x91\x8c\x9a\xf2\xf5\xbb\x9ascri";
        let text = String::from_utf8_lossy(raw);
        let e = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(&text).unwrap_err();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.to_string()));
        assert!(r.is_err(), "no panic: {:?}", r);
    }
}
