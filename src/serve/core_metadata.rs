//! The core-metadata files the server hands out, written from validated values only.
//!
//! Whatever an sdist's build, a wheel's `METADATA` or an upstream's metadata file says
//! is parsed first — the name as a project name, the version as PEP 440, each requirement
//! as PEP 508, `Requires-Python` as PEP 440 specifiers, each extra as an extra name — and
//! the file is written field by field from those values, so no document from an upstream
//! or a guest reaches a client: no header smuggled in through a line break, no
//! description, no field a resolver reads that sdistill did not check.
//!
//! A requirement is written as it was declared once it parsed (and is one line of
//! printable text), not as pep508_rs would render it: pip 26 checks, requirement by
//! requirement, that a wheel's metadata file matches the `METADATA` in the wheel it
//! downloads later, and packaging compares markers by their text — pep508_rs writes
//! `python_version < "3.10"` as `python_full_version < '3.10'`, and pip would refuse the
//! wheel. The other fields are written from their parsed values, which packaging compares
//! by value.
//!
//! Requirement text that is not PEP 508 is treated exactly as `sdistill lock` treats it
//! (the project without its unusable version, as pip's legacy parser did; or left out
//! when not even a project can be read), so a resolver behind the server sees the same
//! dependencies `lock` resolves with. Each such case is a warning in the access log.

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, PackageName, Requirement};

use crate::metadata::{guarded, parse_requirement};

/// The fields a resolver reads, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedMetadata {
    /// The name as declared (a valid project name, so safe to write as is).
    pub name: String,
    /// The version, parsed.
    pub version: Version,
    /// Requirements: parsed, and the text to write (the declaration, trimmed, when it
    /// parsed; the salvaged requirement otherwise).
    pub requires_dist: Vec<(Requirement, String)>,
    /// `Requires-Python`, parsed.
    pub requires_python: Option<VersionSpecifiers>,
    /// Extras, normalized.
    pub provides_extra: Vec<ExtraName>,
}

/// Why metadata cannot be served at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unservable {
    /// The name is not a project name.
    #[error("Name `{0}` is not a valid project name")]
    Name(String),
    /// The version is not PEP 440.
    #[error("Version `{0}` is not a PEP 440 version")]
    Version(String),
    /// A value would not stay on one header line.
    #[error("`{0}` cannot be written as one core-metadata line")]
    Line(String),
}

impl ServedMetadata {
    /// Validates the declared fields; returns the metadata and one warning per value that
    /// was changed or left out (as `lock` would).
    pub fn from_fields(
        name: &str,
        version: &str,
        requires_dist: &[String],
        requires_python: Option<&str>,
        provides_extra: &[String],
    ) -> Result<(Self, Vec<String>), Unservable> {
        let shown = |s: &str| s.escape_default().to_string();
        crate::dist_filename::project_name(name).ok_or_else(|| Unservable::Name(shown(name)))?;
        let version = guarded(|| Version::from_str(version.trim()).ok())
            .flatten()
            .ok_or_else(|| Unservable::Version(shown(version)))?;
        let mut warnings = Vec::new();
        let mut requirements = Vec::new();
        for text in requires_dist {
            match parse_requirement(text) {
                Ok(r) => requirements.push((r, text.trim().to_string())),
                Err(e) => match crate::resolve::salvage(text) {
                    Some(r) => {
                        warnings.push(format!(
                            "Requires-Dist `{}` is not PEP 508 ({e}); served as `{r}`, as `lock` reads it",
                            shown(text)
                        ));
                        let written = r.to_string();
                        requirements.push((r, written));
                    }
                    None => warnings.push(format!(
                        "Requires-Dist `{}` is not PEP 508 ({e}); left out, as `lock` leaves it out",
                        shown(text)
                    )),
                },
            }
        }
        let requires_python = match requires_python.map(str::trim).filter(|r| !r.is_empty()) {
            None => None,
            Some(text) => match guarded(|| VersionSpecifiers::from_str(text).ok()).flatten() {
                Some(specs) => Some(specs),
                None => {
                    warnings.push(format!(
                        "Requires-Python `{}` is not PEP 440; left out (pip and `lock` ignore it)",
                        shown(text)
                    ));
                    None
                }
            },
        };
        let mut extras: Vec<ExtraName> = Vec::new();
        for text in provides_extra {
            match ExtraName::from_str(text.trim()) {
                Ok(e) if !extras.contains(&e) => extras.push(e),
                Ok(_) => {}
                Err(_) => warnings.push(format!(
                    "Provides-Extra `{}` is not an extra name; left out",
                    shown(text)
                )),
            }
        }
        let served = Self {
            name: name.to_string(),
            version,
            requires_dist: requirements,
            requires_python,
            provides_extra: extras,
        };
        served.render()?;
        Ok((served, warnings))
    }

    /// The metadata file: `Metadata-Version: 2.1` and the fields a resolver reads, each
    /// value on one line.
    pub fn render(&self) -> Result<String, Unservable> {
        let mut out = String::from("Metadata-Version: 2.1\n");
        let mut field = |key: &str, value: String| -> Result<(), Unservable> {
            if value.chars().any(char::is_control) || value.trim() != value {
                return Err(Unservable::Line(value.escape_default().to_string()));
            }
            out.push_str(key);
            out.push_str(": ");
            out.push_str(&value);
            out.push('\n');
            Ok(())
        };
        field("Name", self.name.clone())?;
        field("Version", self.version.to_string())?;
        if let Some(rp) = &self.requires_python {
            field("Requires-Python", rp.to_string())?;
        }
        for extra in &self.provides_extra {
            field("Provides-Extra", extra.to_string())?;
        }
        for (_, text) in &self.requires_dist {
            field("Requires-Dist", text.clone())?;
        }
        Ok(out)
    }

    /// The normalized project name.
    pub fn project(&self) -> Option<PackageName> {
        crate::dist_filename::project_name(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn renders_parsed_values() {
        let (m, warnings) = ServedMetadata::from_fields(
            "Demo_Pkg",
            "1.0-beta",
            &strings(&[
                "requests >= 2.0",
                "tomli; python_version < \"3.11\"",
                "pytest; extra == \"Test_Extra\"",
                "pytz (>dev)",
                "(((",
            ]),
            Some(">= 3.8"),
            &strings(&["Test_Extra", "test-extra", "!bad"]),
        )
        .unwrap();
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert_eq!(
            m.render().unwrap(),
            "Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: 1.0b0\nRequires-Python: >=3.8\n\
             Provides-Extra: test-extra\nRequires-Dist: requests >= 2.0\n\
             Requires-Dist: tomli; python_version < \"3.11\"\n\
             Requires-Dist: pytest; extra == \"Test_Extra\"\nRequires-Dist: pytz\n"
        );
    }

    #[test]
    fn refuses_what_cannot_be_written() {
        assert!(matches!(
            ServedMetadata::from_fields("x\nName: evil", "1", &[], None, &[]),
            Err(Unservable::Name(_))
        ));
        assert!(matches!(
            ServedMetadata::from_fields("x", "1.0\nRequires-Dist: evil", &[], None, &[]),
            Err(Unservable::Version(_))
        ));
        // A marker string may hold a line break (RFC 822 continuation lines); written
        // as is it would add a header.
        let sneaky = strings(&["a ; platform_version == 'x\nRequires-Dist: evil'"]);
        match ServedMetadata::from_fields("x", "1", &sneaky, None, &[]) {
            Err(Unservable::Line(_)) => {}
            Ok((m, _)) => assert!(!m.render().unwrap().contains("\nRequires-Dist: evil")),
            Err(e) => panic!("{e}"),
        }
        let (m, w) =
            ServedMetadata::from_fields("x", "1", &[], Some(">=3.8\nRequires-Dist: evil"), &[])
                .unwrap();
        assert!(m.requires_python.is_none() && w.len() == 1);
    }
}
