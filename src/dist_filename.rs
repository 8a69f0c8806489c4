//! Distribution file names from a package index, parsed and validated once.
//!
//! An index page is written by whoever runs the index, and the file names on it end up as
//! path components in sdistill's cache, as the source of a version in a lock, and as the
//! wheel tags the resolver matches. So a name is used only after it parses as a wheel
//! (`{name}-{ver}(-{build})?-{py}-{abi}-{plat}.whl`, the binary distribution format) or
//! an sdist (`{name}-{ver}.tar.gz|.tgz|.tar.bz2|.tar.xz|.zip`) **of the project that was
//! asked for**, with a PEP 440 version. The characters allowed are the ones those grammars
//! use (ASCII letters, digits, `.`, `_`, `-`, `+`, `!`), so a [`DistFilename`] is one
//! path component by construction: no `/`, no `\`, no leading `.`, never `..`.

use std::fmt;
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::PackageName;

/// Longest file name accepted (the usual file-system limit for one component).
const MAX_LEN: usize = 255;

/// The sdist archive kinds sdistill reads, as they end a file name.
const SDIST_EXTENSIONS: &[&str] = &[".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip"];

/// Why a file name from an index was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidFilename {
    /// Empty, too long, or a character no wheel or sdist name contains (`/`, space, ...).
    #[error("not a distribution file name (characters or length)")]
    Characters,
    /// Neither `.whl` nor an sdist archive extension sdistill reads.
    #[error("not a wheel or an sdist sdistill reads")]
    Extension,
    /// A `.whl` name that is not `{name}-{ver}(-{build})?-{py}-{abi}-{plat}.whl`.
    #[error("not a valid wheel file name")]
    Wheel,
    /// The name part names another project (or is not a project name at all).
    #[error("not a file of `{project}`")]
    OtherProject {
        /// The project that was asked for.
        project: String,
    },
    /// The version part is not PEP 440.
    #[error("version `{0}` is not PEP 440")]
    Version(String),
}

/// A wheel's compatibility tags, each possibly a compressed set (`py2.py3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WheelTags {
    /// Python tag(s): `py3`, `cp312`, `py2.py3`.
    pub python: String,
    /// ABI tag(s): `none`, `abi3`, `cp312`.
    pub abi: String,
    /// Platform tag(s): `any`, `manylinux_2_17_x86_64.manylinux2014_x86_64`.
    pub platform: String,
}

/// A validated distribution file name belonging to one project.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DistFilename {
    text: String,
    project: PackageName,
    version: Version,
    wheel: Option<WheelTags>,
}

impl DistFilename {
    /// Parses `text` as a file of `project`; anything else is refused.
    pub fn parse(text: &str, project: &PackageName) -> Result<Self, InvalidFilename> {
        if text.is_empty() || text.len() > MAX_LEN || !text.chars().all(allowed_char) {
            return Err(InvalidFilename::Characters);
        }
        if let Some(stem) = text.strip_suffix(".whl") {
            let (version, wheel) = parse_wheel_stem(stem, project)?;
            return Ok(Self {
                text: text.to_string(),
                project: project.clone(),
                version,
                wheel: Some(wheel),
            });
        }
        let stem = SDIST_EXTENSIONS
            .iter()
            .find_map(|ext| text.strip_suffix(ext))
            .ok_or(InvalidFilename::Extension)?;
        let version = parse_sdist_stem(stem, project)?;
        Ok(Self {
            text: text.to_string(),
            project: project.clone(),
            version,
            wheel: None,
        })
    }

    /// The file name, as listed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The project it belongs to (normalized).
    pub fn project(&self) -> &PackageName {
        &self.project
    }

    /// The version it carries.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// Whether it is a wheel (otherwise an sdist).
    pub fn is_wheel(&self) -> bool {
        self.wheel.is_some()
    }

    /// A wheel's compatibility tags.
    pub fn wheel_tags(&self) -> Option<&WheelTags> {
        self.wheel.as_ref()
    }

    /// The name without its extension (`demo-1.0-py3-none-any` for a wheel).
    pub fn stem(&self) -> &str {
        let ext = if self.is_wheel() {
            ".whl"
        } else {
            SDIST_EXTENSIONS
                .iter()
                .copied()
                .find(|ext| self.text.ends_with(ext))
                .unwrap_or("")
        };
        &self.text[..self.text.len() - ext.len()]
    }
}

impl fmt::Display for DistFilename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Characters of wheel and sdist names: PEP 503 name characters, PEP 440 version
/// characters (`+` local versions, `!` epochs), tag characters.
fn allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '!')
}

/// A project name from untrusted text, checked and normalized; `None` unless it is one
/// (pep508_rs accepts an empty name, which no project has, and must never panic here).
pub(crate) fn project_name(text: &str) -> Option<PackageName> {
    if text.is_empty() {
        return None;
    }
    crate::metadata::guarded(|| PackageName::from_str(text).ok()).flatten()
}

/// A PEP 440 version, never panicking on hostile text.
fn parse_version(text: &str) -> Result<Version, InvalidFilename> {
    crate::metadata::guarded(|| Version::from_str(text).ok())
        .flatten()
        .ok_or_else(|| InvalidFilename::Version(text.to_string()))
}

/// `{name}-{ver}(-{build})?-{py}-{abi}-{plat}` (the binary distribution format; the
/// version's `-` is written `_` there, as pip reads it).
fn parse_wheel_stem(
    stem: &str,
    project: &PackageName,
) -> Result<(Version, WheelTags), InvalidFilename> {
    let parts: Vec<&str> = stem.split('-').collect();
    let (name, version, tags) = match parts.as_slice() {
        [name, version, tags @ ..] if tags.len() == 3 => (*name, *version, tags),
        [name, version, build, tags @ ..] if tags.len() == 3 => {
            if !build.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(InvalidFilename::Wheel);
            }
            (*name, *version, tags)
        }
        _ => return Err(InvalidFilename::Wheel),
    };
    let tag_ok = |t: &str| {
        t.split('.')
            .all(|s| !s.is_empty() && !s.contains(['+', '!']))
    };
    if !tags.iter().all(|t| tag_ok(t)) {
        return Err(InvalidFilename::Wheel);
    }
    if project_name(name).as_ref() != Some(project) {
        return Err(InvalidFilename::OtherProject {
            project: project.to_string(),
        });
    }
    let version = parse_version(&version.replace('_', "-"))?;
    Ok((
        version,
        WheelTags {
            python: tags[0].to_string(),
            abi: tags[1].to_string(),
            platform: tags[2].to_string(),
        },
    ))
}

/// `{name}-{ver}`, where a legacy name may itself contain `-`: the split is the one whose
/// name part is `project`.
fn parse_sdist_stem(stem: &str, project: &PackageName) -> Result<Version, InvalidFilename> {
    let (_, version) = stem
        .match_indices('-')
        .map(|(i, _)| (&stem[..i], &stem[i + 1..]))
        .find(|(name, _)| project_name(name).as_ref() == Some(project))
        .ok_or_else(|| InvalidFilename::OtherProject {
            project: project.to_string(),
        })?;
    parse_version(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(name: &str) -> PackageName {
        PackageName::from_str(name).unwrap()
    }

    fn version(file: &str, p: &str) -> Result<String, InvalidFilename> {
        DistFilename::parse(file, &project(p)).map(|f| f.version().to_string())
    }

    #[test]
    fn sdists_of_the_project() {
        assert_eq!(version("Django-1.11.1.tar.gz", "django").unwrap(), "1.11.1");
        assert_eq!(
            version("zope.interface-5.0.zip", "zope-interface").unwrap(),
            "5.0"
        );
        assert_eq!(version("my-pkg-2.0rc1.tar.gz", "my-pkg").unwrap(), "2.0rc1");
        assert_eq!(version("demo-1!2.0.tar.bz2", "demo").unwrap(), "1!2.0");
        let f = DistFilename::parse("demo-1.0.tgz", &project("demo")).unwrap();
        assert!(!f.is_wheel());
        assert_eq!(f.stem(), "demo-1.0");
        assert_eq!(f.project().as_ref(), "demo");
    }

    #[test]
    fn wheels_of_the_project() {
        assert_eq!(
            version("my_pkg-2.0-py3-none-any.whl", "my-pkg").unwrap(),
            "2.0"
        );
        assert_eq!(
            version("tv-2.1.0+cpu-py3-none-any.whl", "tv").unwrap(),
            "2.1.0+cpu"
        );
        let f = DistFilename::parse(
            "demo-1.0-1build-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            &project("demo"),
        )
        .unwrap();
        let tags = f.wheel_tags().unwrap();
        assert_eq!(
            (tags.python.as_str(), tags.abi.as_str()),
            ("cp312", "cp312")
        );
        assert_eq!(f.stem(), f.as_str().strip_suffix(".whl").unwrap());
    }

    #[test]
    fn refuses_other_projects_and_bad_grammar() {
        let refused = |file: &str| version(file, "demo").unwrap_err();
        assert!(matches!(
            refused("other-1.0.tar.gz"),
            InvalidFilename::OtherProject { .. }
        ));
        assert!(matches!(
            refused("demox-1.0.tar.gz"),
            InvalidFilename::OtherProject { .. }
        ));
        assert!(matches!(
            refused("other-1.0-py3-none-any.whl"),
            InvalidFilename::OtherProject { .. }
        ));
        assert!(matches!(
            refused("demo-1.0.exe"),
            InvalidFilename::Extension
        ));
        assert!(matches!(
            refused("demo-1.0-any.whl"),
            InvalidFilename::Wheel
        ));
        assert!(matches!(
            refused("demo-1.0-x-py3-none-any.whl"),
            InvalidFilename::Wheel
        ));
        assert!(matches!(
            refused("demo-1.0-1-2-py3-none-any.whl"),
            InvalidFilename::Wheel
        ));
        assert!(matches!(
            refused("demo-1.0-py3--any.whl"),
            InvalidFilename::Wheel
        ));
        assert!(matches!(
            refused("demo-latest.tar.gz"),
            InvalidFilename::Version(_)
        ));
        assert!(matches!(
            refused("-1.0.tar.gz"),
            InvalidFilename::OtherProject { .. }
        ));
    }

    #[test]
    fn a_file_name_is_one_path_component() {
        for hostile in [
            "/abs/demo-1.0.tar.gz",
            "../demo-1.0-py3-none-any.whl",
            "..",
            ".demo-1.0.tar.gz",
            "demo-1.0.tar.gz/",
            "dir/demo-1.0.tar.gz",
            "demo-1.0\\..\\x.tar.gz",
            "demo-1.0\n.tar.gz",
            "demo-1.0 .tar.gz",
            "demo-1.0.tar.gz\0",
            "",
        ] {
            assert!(
                DistFilename::parse(hostile, &project("demo")).is_err(),
                "{hostile:?} accepted"
            );
        }
        let long = format!("demo-1.{}.tar.gz", "0".repeat(300));
        assert_eq!(
            version(&long, "demo").unwrap_err(),
            InvalidFilename::Characters
        );
    }
}
