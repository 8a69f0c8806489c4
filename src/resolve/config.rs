//! `[tool.sdistill]` in `pyproject.toml`: the lock's flags, kept with the project.
//!
//! Keys are the long flag names of `sdistill lock` (`index-url`, `extra`, `group`,
//! `default-groups`, `no-emit-package`, `exclude-newer`, ...); repeatable flags take
//! lists, switches take booleans. The command line wins over the file, the file over the
//! defaults. An unknown key or a wrong type is a usage error naming it: a misspelt
//! `exclude-newr` must not silently produce a different lock.

use serde::Deserialize;

use crate::error::{Error, Result};

/// The settings `[tool.sdistill]` may hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LockConfig {
    /// `--index-url`.
    pub index_url: Option<String>,
    /// `--extra-index-url`.
    pub extra_index_url: Option<Vec<String>>,
    /// `--python-version`: one version, or a list (a universal lock's Pythons).
    pub python_version: Option<OneOrMany>,
    /// `--platform`: one platform, or a list (a universal lock's platforms).
    pub platform: Option<OneOrMany>,
    /// `--universal`.
    pub universal: Option<bool>,
    /// `--only-binary`.
    pub only_binary: Option<Vec<String>>,
    /// `--no-binary`.
    pub no_binary: Option<Vec<String>>,
    /// `--prerelease`.
    pub prerelease: Option<bool>,
    /// `--extra`.
    pub extra: Option<Vec<String>>,
    /// `--all-extras`.
    pub all_extras: Option<bool>,
    /// `--group`.
    pub group: Option<Vec<String>>,
    /// `--all-groups`.
    pub all_groups: Option<bool>,
    /// The groups locked unless `--no-default-groups` (PEP 735 groups of this project).
    pub default_groups: Option<Vec<String>>,
    /// `--no-default-groups`.
    pub no_default_groups: Option<bool>,
    /// `--format`.
    pub format: Option<String>,
    /// `--strip-extras`.
    pub strip_extras: Option<bool>,
    /// `--no-header`.
    pub no_header: Option<bool>,
    /// `--no-annotate`.
    pub no_annotate: Option<bool>,
    /// `--emit-index-url`.
    pub emit_index_url: Option<bool>,
    /// `--allow-unsafe` (accepted; sdistill always pins pip and setuptools).
    pub allow_unsafe: Option<bool>,
    /// `--resolution`.
    pub resolution: Option<String>,
    /// `--exclude-newer`.
    pub exclude_newer: Option<String>,
    /// `--no-emit-package`.
    pub no_emit_package: Option<Vec<String>>,
    /// `--strict`.
    pub strict: Option<bool>,
    /// `--verified-metadata-only`.
    pub verified_metadata_only: Option<bool>,
}

/// A key that takes one value or a list (`python-version = "3.12"` or `["3.11", "3.12"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Self::One(v) => vec![v.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

impl LockConfig {
    /// The `[tool.sdistill]` table of a parsed `pyproject.toml`, if it has one; `file`
    /// names it in errors.
    pub fn from_pyproject(doc: &toml::Table, file: &str) -> Result<Option<Self>> {
        let Some(value) = doc.get("tool").and_then(|t| t.get("sdistill")) else {
            return Ok(None);
        };
        Self::deserialize(value.clone())
            .map(Some)
            .map_err(|e| Error::Usage {
                detail: format!("{file}: [tool.sdistill]: {}", e.message()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<Option<LockConfig>> {
        let doc: toml::Table = toml::from_str(text).unwrap();
        LockConfig::from_pyproject(&doc, "pyproject.toml")
    }

    #[test]
    fn reads_flags_and_refuses_unknown_keys() {
        let c = config(
            "[tool.sdistill]\nextra = ['web']\nno-header = true\nexclude-newer = '2024-01-01'\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.extra.as_deref(), Some(&["web".to_string()][..]));
        assert_eq!(c.no_header, Some(true));
        assert_eq!(config("[project]\nname = 'x'\n").unwrap(), None);
        let err = config("[tool.sdistill]\nexclude-newr = '2024'\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("exclude-newr"), "{err}");
        assert!(config("[tool.sdistill]\nextra = 'web'\n").is_err());
    }
}
