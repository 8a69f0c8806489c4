//! Static metadata: answers that need no code run at all.
//!
//! Three sources, tried in this order:
//! 1. a wheel's `*.dist-info/METADATA` (always static);
//! 2. an sdist's `PKG-INFO` when `Metadata-Version` >= 2.2 and none of the reported fields
//!    is `Dynamic` (PEP 643);
//! 3. a `pyproject.toml` `[project]` table whose reported fields are not listed in
//!    `project.dynamic` (PEP 621).
//!
//! When none applies, [`read_sdist`] says why, and the caller decides whether to run the
//! sandbox. `[build-system]` is always read, because a resolver needs the build
//! requirements whichever way the metadata was obtained.

use std::io::Read;

use cap_std::fs::Dir;
use serde::Serialize;

use crate::archive::read_capped;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::metadata::CoreMetadata;

/// How an answer was obtained; `method` in the JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Method {
    /// A wheel's METADATA.
    #[serde(rename = "wheel")]
    Wheel,
    /// An sdist's PKG-INFO (PEP 643).
    #[serde(rename = "pkg-info")]
    PkgInfo,
    /// `pyproject.toml` `[project]` (PEP 621).
    #[serde(rename = "pyproject")]
    Pyproject,
    /// setuptools `egg_info` inside the sandbox.
    #[serde(rename = "sandbox-egg-info")]
    SandboxEggInfo,
    /// A PEP 517 backend's `prepare_metadata_for_build_wheel` inside the sandbox.
    #[serde(rename = "sandbox-pep517")]
    SandboxPep517,
    /// The keyword arguments `setup()` was called with, captured inside the sandbox.
    #[serde(rename = "sandbox-setup-kwargs")]
    SandboxSetupKwargs,
}

impl Method {
    /// The stable name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wheel => "wheel",
            Self::PkgInfo => "pkg-info",
            Self::Pyproject => "pyproject",
            Self::SandboxEggInfo => "sandbox-egg-info",
            Self::SandboxPep517 => "sandbox-pep517",
            Self::SandboxSetupKwargs => "sandbox-setup-kwargs",
        }
    }
}

/// The `[build-system]` table, or the PEP 518 fallback pip uses when there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildSystem {
    /// `requires`, as written.
    pub requires: Vec<String>,
    /// `build-backend`, or `None` for the legacy `setup.py` path.
    pub backend: Option<String>,
    /// `backend-path`, for in-tree backends.
    pub backend_path: Vec<String>,
    /// Where this came from: `pyproject` or `default` (no `[build-system]` table).
    pub source: &'static str,
}

impl BuildSystem {
    /// What pip assumes for a project without `[build-system]` (PEP 518).
    pub fn legacy_default() -> Self {
        Self {
            requires: vec!["setuptools>=40.8.0".to_string()],
            backend: None,
            backend_path: Vec::new(),
            source: "default",
        }
    }
}

/// What the static reader found in an unpacked sdist.
#[derive(Debug)]
pub struct StaticFindings {
    /// Usable static metadata and how it was obtained, if any.
    pub metadata: Option<(CoreMetadata, Method)>,
    /// Why static metadata is not enough, when `metadata` is `None`.
    pub reason: Option<String>,
    /// The build system (always present).
    pub build: BuildSystem,
    /// The parsed `[project]` table, kept for the sandbox (name, version hints).
    pub project_name: Option<String>,
    /// `Name` and `Version` of the sdist's own PKG-INFO, whatever its Metadata-Version:
    /// what a sandbox answer must agree with ([`crate::identity`]).
    pub pkg_info_identity: Option<(String, String)>,
    /// Non-fatal observations.
    pub warnings: Vec<String>,
}

/// Reads what can be trusted without running code from an unpacked sdist root.
pub fn read_sdist(root: &Dir, limits: &Limits) -> Result<StaticFindings> {
    let mut warnings = Vec::new();
    let pyproject = match read_file(root, "pyproject.toml", limits)? {
        Some(text) => Some(parse_pyproject(&text)?),
        None => None,
    };
    let build = pyproject
        .as_ref()
        .and_then(|p| p.build.clone())
        .unwrap_or_else(BuildSystem::legacy_default);
    let project_name = pyproject
        .as_ref()
        .and_then(|p| p.project.as_ref())
        .and_then(|p| p.name.clone());

    let mut reasons = Vec::new();
    let mut pkg_info_identity = None;
    if let Some(text) = read_file(root, "PKG-INFO", limits)? {
        match CoreMetadata::parse(&text, "PKG-INFO") {
            Ok(meta) => match meta.is_static() {
                Ok(()) => {
                    return Ok(StaticFindings {
                        metadata: Some((meta, Method::PkgInfo)),
                        reason: None,
                        build,
                        project_name,
                        pkg_info_identity: None,
                        warnings,
                    })
                }
                Err(why) => {
                    if !meta.version.is_empty() {
                        pkg_info_identity = Some((meta.name.clone(), meta.version.clone()));
                    }
                    reasons.push(why)
                }
            },
            Err(e) => {
                warnings.push(format!("PKG-INFO ignored: {e}"));
                reasons.push("PKG-INFO is unusable".to_string());
            }
        }
    } else {
        reasons.push("no PKG-INFO".to_string());
    }

    match pyproject.as_ref().and_then(|p| p.project.as_ref()) {
        Some(project) => match project.to_metadata() {
            Ok(meta) => {
                return Ok(StaticFindings {
                    metadata: Some((meta, Method::Pyproject)),
                    reason: None,
                    build,
                    project_name,
                    pkg_info_identity,
                    warnings,
                })
            }
            Err(why) => reasons.push(why),
        },
        None if pyproject.is_some() => reasons.push("pyproject.toml has no [project] table".into()),
        None => reasons.push("no pyproject.toml".to_string()),
    }
    Ok(StaticFindings {
        metadata: None,
        reason: Some(reasons.join("; ")),
        build,
        project_name,
        pkg_info_identity,
        warnings,
    })
}

/// Reads a file at the project root if it is a regular file; symlinks inside the tree are
/// followed by cap-std, never out of it.
fn read_file(root: &Dir, name: &str, limits: &Limits) -> Result<Option<String>> {
    match root.metadata(name) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(name, e)),
    }
    let file = root.open(name).map_err(|e| Error::io(name, e))?;
    read_capped(file.take(u64::MAX), limits.max_metadata_size, name).map(Some)
}

/// The parts of `pyproject.toml` sdistill reads.
#[derive(Debug, Clone)]
pub struct Pyproject {
    /// `[project]`, if present.
    pub project: Option<ProjectTable>,
    /// `[build-system]`, if present.
    pub build: Option<BuildSystem>,
}

/// The `[project]` table fields that determine dependency metadata.
#[derive(Debug, Clone, Default)]
pub struct ProjectTable {
    /// `name`.
    pub name: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `requires-python`.
    pub requires_python: Option<String>,
    /// `dependencies`.
    pub dependencies: Vec<String>,
    /// `optional-dependencies`, in file order.
    pub optional_dependencies: Vec<(String, Vec<String>)>,
    /// `dynamic`, lower-cased.
    pub dynamic: Vec<String>,
}

fn invalid(detail: impl Into<String>) -> Error {
    Error::InvalidMetadata {
        file: "pyproject.toml".to_string(),
        detail: detail.into(),
    }
}

fn string_list(value: Option<&toml::Value>, what: &str) -> Result<Vec<String>> {
    match value {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid(format!("{what} must be a list of strings")))
            })
            .collect(),
        Some(_) => Err(invalid(format!("{what} must be a list of strings"))),
    }
}

fn opt_string(value: Option<&toml::Value>, what: &str) -> Result<Option<String>> {
    match value {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{what} must be a string"))),
    }
}

/// Parses `pyproject.toml` text. Syntax errors and wrong types are `invalid-metadata`.
pub fn parse_pyproject(text: &str) -> Result<Pyproject> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
    let build = match doc.get("build-system") {
        None => None,
        Some(toml::Value::Table(t)) => Some(BuildSystem {
            requires: string_list(t.get("requires"), "build-system.requires")?,
            backend: opt_string(t.get("build-backend"), "build-system.build-backend")?,
            backend_path: string_list(t.get("backend-path"), "build-system.backend-path")?,
            source: "pyproject",
        }),
        Some(_) => return Err(invalid("[build-system] must be a table")),
    };
    let project = match doc.get("project") {
        None => None,
        Some(toml::Value::Table(t)) => {
            let mut optional = Vec::new();
            match t.get("optional-dependencies") {
                None => {}
                Some(toml::Value::Table(extras)) => {
                    for (extra, reqs) in extras {
                        optional.push((
                            extra.clone(),
                            string_list(Some(reqs), "project.optional-dependencies")?,
                        ));
                    }
                }
                Some(_) => return Err(invalid("project.optional-dependencies must be a table")),
            }
            Some(ProjectTable {
                name: opt_string(t.get("name"), "project.name")?,
                version: opt_string(t.get("version"), "project.version")?,
                requires_python: opt_string(t.get("requires-python"), "project.requires-python")?,
                dependencies: string_list(t.get("dependencies"), "project.dependencies")?,
                optional_dependencies: optional,
                dynamic: string_list(t.get("dynamic"), "project.dynamic")?
                    .into_iter()
                    .map(|d| d.to_ascii_lowercase())
                    .collect(),
            })
        }
        Some(_) => return Err(invalid("[project] must be a table")),
    };
    Ok(Pyproject { project, build })
}

impl ProjectTable {
    /// Converts a fully static `[project]` table to core metadata, the way build backends
    /// write it (`Requires-Dist: dep; extra == "name"` for optional dependencies).
    /// Returns why not when a reported field is dynamic or missing.
    pub fn to_metadata(&self) -> std::result::Result<CoreMetadata, String> {
        let dynamic: Vec<&str> = self
            .dynamic
            .iter()
            .map(String::as_str)
            .filter(|d| {
                matches!(
                    *d,
                    "version" | "dependencies" | "optional-dependencies" | "requires-python"
                )
            })
            .collect();
        if !dynamic.is_empty() {
            return Err(format!(
                "pyproject.toml marks {} as dynamic",
                dynamic.join(", ")
            ));
        }
        let name = self
            .name
            .clone()
            .ok_or("pyproject.toml [project] has no name")?;
        let version = self
            .version
            .clone()
            .ok_or("pyproject.toml [project] has no version and does not mark it dynamic")?;
        let mut requires_dist = self
            .dependencies
            .iter()
            .map(|d| d.trim().to_string())
            .collect::<Vec<_>>();
        let mut provides_extra = Vec::new();
        for (extra, reqs) in &self.optional_dependencies {
            let normalized = normalize_extra(extra);
            provides_extra.push(normalized.clone());
            for req in reqs {
                requires_dist.push(with_extra_marker(req.trim(), &normalized));
            }
        }
        Ok(CoreMetadata {
            metadata_version: None,
            name,
            version,
            requires_dist,
            requires_python: self.requires_python.clone(),
            provides_extra,
            dynamic: Vec::new(),
        })
    }
}

/// PEP 685 extra normalization: the same rule as PEP 503 names.
pub fn normalize_extra(extra: &str) -> String {
    crate::metadata::normalize_name(extra)
}

/// Normalizes the extras of an answer as pip compares them (PEP 685): `Provides-Extra`
/// names normalized and deduplicated (an sdist listing both `all_non_platform` and
/// `all-non-platform` provides one extra), and the value of every `extra == "..."` /
/// `extra != "..."` comparison in `Requires-Dist` markers normalized the same way. Nothing
/// else in a requirement's text changes.
pub fn normalize_extras(core: &mut CoreMetadata) {
    let mut seen = std::collections::BTreeSet::new();
    core.provides_extra = core
        .provides_extra
        .iter()
        .map(|e| normalize_extra(e))
        .filter(|e| !e.is_empty() && seen.insert(e.clone()))
        .collect();
    for req in &mut core.requires_dist {
        *req = normalize_extra_markers(req);
    }
}

/// `req` with the value of each `extra` comparison in its marker normalized (PEP 685).
pub fn normalize_extra_markers(req: &str) -> String {
    if !req.contains("extra") {
        return req.to_string();
    }
    // String literals of the marker (values never contain their own quote: PEP 508).
    let bytes = req.as_bytes();
    let mut out = String::with_capacity(req.len());
    let mut last = 0;
    let mut i = 0;
    let marker_start = req.find(';').unwrap_or(req.len());
    while i < bytes.len() {
        let quote = bytes[i];
        if i < marker_start || (quote != b'"' && quote != b'\'') {
            i += 1;
            continue;
        }
        let Some(len) = req[i + 1..].find(quote as char) else {
            break;
        };
        let (start, end) = (i + 1, i + 1 + len);
        let before = req[..i].trim_end();
        let after = req[end + 1..].trim_start();
        let compares_extra = |side: &str, other: &str| {
            (side.ends_with("==") || side.ends_with("!=")) && other.trim_end().ends_with("extra")
        };
        let left = before.len() >= 2
            && compares_extra(before, &before[..before.len() - 2])
            && is_word_end(&before[..before.len() - 2], "extra");
        let right = (after.starts_with("==") || after.starts_with("!="))
            && after[2..].trim_start().starts_with("extra")
            && !after[2..]
                .trim_start()
                .as_bytes()
                .get(5)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if left || right {
            out.push_str(&req[last..start]);
            out.push_str(&normalize_extra(&req[start..end]));
            last = end;
        }
        i = end + 1;
    }
    out.push_str(&req[last..]);
    out
}

/// Whether `text` (right-trimmed) ends with the identifier `word` (not `xextra`).
fn is_word_end(text: &str, word: &str) -> bool {
    let text = text.trim_end();
    text.strip_suffix(word).is_some_and(|head| {
        !head
            .as_bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    })
}

/// Appends `extra == "name"` to a requirement, combining with an existing marker the way
/// setuptools and other backends write it.
pub fn with_extra_marker(req: &str, extra: &str) -> String {
    let extra_marker = format!("extra == \"{extra}\"");
    // A URL requirement's marker must be separated by whitespace before `;`.
    let is_url = crate::metadata::parse_requirement(req)
        .map(|r| matches!(r.version_or_url, Some(pep508_rs::VersionOrUrl::Url(_))))
        .unwrap_or(false);
    let split = if is_url {
        req.find(" ;")
    } else {
        req.find(';')
    };
    match split {
        Some(i) => {
            let (head, marker) = req.split_at(i);
            let marker = marker.trim_start().trim_start_matches(';').trim();
            format!("{}; ({marker}) and {extra_marker}", head.trim_end())
        }
        None => format!("{req}; {extra_marker}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_table_to_metadata() {
        let p = parse_pyproject(
            r#"
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[project]
name = "demo"
version = "1.2"
requires-python = ">=3.8"
dependencies = ["requests>=2", "tomli; python_version < '3.11'"]
[project.optional-dependencies]
Dev_Tools = ["pytest", "black; sys_platform == 'linux'"]
"#,
        )
        .unwrap();
        let m = p.project.unwrap().to_metadata().unwrap();
        assert_eq!(m.provides_extra, vec!["dev-tools"]);
        assert_eq!(
            m.requires_dist,
            vec![
                "requests>=2",
                "tomli; python_version < '3.11'",
                "pytest; extra == \"dev-tools\"",
                "black; (sys_platform == 'linux') and extra == \"dev-tools\"",
            ]
        );
        assert_eq!(p.build.unwrap().backend.as_deref(), Some("hatchling.build"));
    }

    #[test]
    fn extras_are_normalized_as_pip_compares_them() {
        let mut m = CoreMetadata {
            provides_extra: vec![
                "all_non_platform".into(),
                "All-Non-Platform".into(),
                "x".into(),
            ],
            requires_dist: vec![
                "a; extra == \"all_non_platform\"".into(),
                "b; python_version < '3' and 'Dev.Tools' == extra".into(),
                "c; extra != 'X_Y'".into(),
                "d; platform_release == 'a_b'".into(),
                "e; myextra == 'a_b'".into(),
            ],
            ..CoreMetadata::default()
        };
        normalize_extras(&mut m);
        assert_eq!(m.provides_extra, vec!["all-non-platform", "x"]);
        assert_eq!(
            m.requires_dist,
            vec![
                "a; extra == \"all-non-platform\"",
                "b; python_version < '3' and 'dev-tools' == extra",
                "c; extra != 'x-y'",
                "d; platform_release == 'a_b'",
                "e; myextra == 'a_b'",
            ]
        );
    }

    #[test]
    fn dynamic_fields_are_not_static() {
        let p = parse_pyproject("[project]\nname='x'\ndynamic=['Version']\n").unwrap();
        assert!(p.project.unwrap().to_metadata().is_err());
    }

    #[test]
    fn bad_types_are_errors() {
        assert!(parse_pyproject("[project]\ndependencies = 'x'\n").is_err());
        assert!(parse_pyproject("[[[").is_err());
    }
}
