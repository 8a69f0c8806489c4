//! What a lock is asked ([`LockRequest`]) and what it answers ([`Resolution`]).
//!
//! Everything an output format writes comes from these types, and every field that reaches
//! a file another tool parses is a parsed, validated value: [`PackageName`], [`Version`],
//! [`ExtraName`], [`MarkerTree`], [`Sha256Hex`], URLs re-serialized by the `url` crate
//! without credentials, file names validated as one path component.

use std::collections::{BTreeMap, BTreeSet};

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerTree, PackageName, Requirement};

use super::direct::ArchiveName;
use super::provider::DistFile;
use super::TargetEnv;
use crate::index::{Sha256Hex, UploadTime};
use crate::metadata::normalize_name;

/// A requirement the user asked for, and where it was written (for `# via`).
#[derive(Debug, Clone)]
pub struct RootRequirement {
    /// The parsed PEP 508 requirement.
    pub requirement: Requirement,
    /// `-r requirements.in`, `-c constraints.txt`, `command line`, `demo (pyproject.toml)`.
    pub origin: String,
}

/// A set of project names, or all of them (`:all:`), as pip's `--no-binary` takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSet {
    /// Every project.
    pub all: bool,
    /// These projects (normalized).
    pub names: BTreeSet<String>,
}

impl NameSet {
    /// Parses pip's syntax: comma-separated names, `:all:` or `:none:`; repeated flags add.
    pub fn add(&mut self, text: &str) {
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                ":all:" => self.all = true,
                ":none:" => {
                    self.all = false;
                    self.names.clear();
                }
                name => {
                    self.names.insert(normalize_name(name));
                }
            }
        }
    }

    /// Whether `name` (normalized) is in the set.
    pub fn contains(&self, name: &str) -> bool {
        self.all || self.names.contains(name)
    }
}

/// Which version of a project the resolver tries first (`--resolution`, uv's spelling).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strategy {
    /// The newest that fits (pip's and pip-compile's only choice).
    #[default]
    Highest,
    /// The oldest that fits, everywhere: tests that the lower bounds still work.
    Lowest,
    /// The oldest for the projects the user names, the newest for everything else.
    LowestDirect,
}

impl Strategy {
    /// Parses `highest`, `lowest` or `lowest-direct`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "highest" => Some(Self::Highest),
            "lowest" => Some(Self::Lowest),
            "lowest-direct" => Some(Self::LowestDirect),
            _ => None,
        }
    }
}

/// Everything a lock is asked to do.
#[derive(Debug, Clone, Default)]
pub struct LockRequest {
    /// What to install. A `name @ URL` requirement pins that file ([`super::direct`]).
    pub requirements: Vec<RootRequirement>,
    /// Limits on versions that apply only if a project is required at all (`-c`).
    pub constraints: Vec<RootRequirement>,
    /// The target interpreter and platform.
    pub env: TargetEnv,
    /// Allow pre-releases everywhere (otherwise only where nothing else fits).
    pub prerelease: bool,
    /// Never use wheels of these projects (`--no-binary`).
    pub no_binary: NameSet,
    /// Never use sdists of these projects (`--only-binary`); wins over `no_binary`.
    pub only_binary: NameSet,
    /// Versions to keep when they still fit (the previous lock's pins).
    pub preferences: BTreeMap<String, Version>,
    /// Versions to keep where their marker holds (a previous universal lock's pins, which
    /// may pin a project at several versions for different environments); where one holds
    /// it wins over [`LockRequest::preferences`].
    pub marked_preferences: Vec<(String, Version, MarkerTree)>,
    /// Newest or oldest versions first.
    pub strategy: Strategy,
    /// Only files uploaded before this instant (`--exclude-newer`); a file whose upload
    /// time the index does not state is left out too, since it cannot be shown older.
    pub exclude_newer: Option<UploadTime>,
}

/// The file of a pin that came from a direct reference (`name @ URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedDirect {
    /// The URL without credentials or fragment (`file://` for a local file).
    pub url: url::Url,
    /// The file name it ends with.
    pub filename: ArchiveName,
    /// Its size in bytes.
    pub size: u64,
}

/// One dependency edge of a pin, for the JSON report and `pylock.toml`'s
/// `packages.dependencies` (informational: installers do not use it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedDependency {
    /// The pinned project it leads to.
    pub name: PackageName,
    /// The extras it asks for.
    pub extras: Vec<ExtraName>,
    /// The marker under which it applies (`None`: always on the target).
    pub marker: Option<MarkerTree>,
}

/// One pinned project of a lock. Everything [`super::output`] writes from it is a parsed,
/// validated value, re-serialized there.
#[derive(Debug, Clone)]
pub struct LockedPackage {
    /// Project name (normalized).
    pub name: PackageName,
    /// The chosen version.
    pub version: Version,
    /// The extras it was asked with (`connexion[flask]`): pip-compile writes them on the
    /// pin, and pip before 23.3 refuses `--require-hashes` locks that leave them off.
    pub extras: Vec<ExtraName>,
    /// sha256 of every file of that version pip may pick (sorted).
    pub hashes: Vec<Sha256Hex>,
    /// Those files, sorted by name (empty for a direct reference).
    pub files: Vec<DistFile>,
    /// The file of a direct reference, when the pin is one.
    pub direct: Option<LockedDirect>,
    /// `Requires-Python` of the version's metadata, when it states a valid one.
    pub requires_python: Option<VersionSpecifiers>,
    /// Who asked for it: `-r file` / `command line` for the user, project names otherwise.
    pub via: Vec<String>,
    /// The marker under which it is needed, when only some environments need it.
    pub marker: Option<MarkerTree>,
    /// Which file answered its dependencies, how, and how far its bytes were checked.
    pub metadata_source: Option<MetadataSource>,
    /// The pinned projects it depends on.
    pub dependencies: Vec<LockedDependency>,
    /// Why its metadata may not be what a build on the target gives: compatibility help,
    /// stand-ins or missing build requirements the sandbox needed ([`super::caveats`]).
    /// Such a pin's sdist will likely not build with pip or uv on the target.
    pub caveats: Vec<String>,
    /// The chosen version is yanked (selected only because it was pinned with `==`).
    pub yanked: bool,
    /// In a universal lock: the environments ([`super::matrix::Matrix::env_label`]) this
    /// pin is for. Empty in a single-target lock.
    pub environments: Vec<String>,
    /// In a universal lock: where the dependencies came from in each group of
    /// environments (an sdist's build runs once per platform, and may answer differently).
    pub targets: Vec<TargetAnswer>,
}

/// One answer for a pin's dependencies in a universal lock, and where it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetAnswer {
    /// The environments whose resolution used this answer.
    pub environments: Vec<String>,
    /// The file, method and check.
    pub source: MetadataSource,
    /// The pinned projects it made this pin depend on there.
    pub dependencies: Vec<PackageName>,
}

/// Where a pin's dependencies were read: the file, the method, the check its bytes passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataSource {
    /// The file name (validated) whose metadata answered.
    pub file: String,
    /// How: `metadata-file` (PEP 658), `wheel`, `wheel-range` (HTTP range requests), or an
    /// sdistill method (`pkg-info`, `sandbox-egg-info`, ...).
    pub method: String,
    /// How far its bytes were checked against a hash.
    pub integrity: super::Integrity,
}

/// A successful lock.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// Pinned projects, sorted by name (and version: a universal lock may pin a project at
    /// several versions, for disjoint sets of environments).
    pub packages: Vec<LockedPackage>,
    /// Everything worth a reader's attention (skipped requirements, missing extras).
    pub warnings: Vec<String>,
}
