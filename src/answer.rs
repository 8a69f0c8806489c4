//! The answer for one input, as every consumer sees it: its identity ([`Source`]), its
//! metadata ([`Metadata`]) and the full [`Report`] with warnings and the error, if any.
//!
//! These types sit below the pipeline ([`crate::inspect`]) and the stores and renderers
//! built on it ([`crate::cache`], [`crate::report`]), so none of those imports another.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::archive::InputKind;
use crate::error::Result;
use crate::metadata::CoreMetadata;
use crate::observe::Behaviour;
use crate::sandbox::Target;
use crate::static_meta::{BuildSystem, Method};

/// Identity of the input: what a lock pins and hashes.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// The path as given.
    pub path: String,
    /// Its file name.
    pub filename: String,
    /// sha256 of the file's bytes (`None` for directories).
    pub sha256: Option<String>,
    /// Size in bytes (`None` for directories).
    pub size: Option<u64>,
    /// What kind of input it is.
    pub kind: InputKind,
}

/// The answer for one input: core metadata plus how it was obtained.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Metadata {
    /// Distribution name as declared.
    pub name: String,
    /// Version as declared.
    pub version: String,
    /// `Metadata-Version` of the source, when it had one.
    pub metadata_version: Option<String>,
    /// `Requires-Dist`, as core metadata writes them.
    pub requires_dist: Vec<String>,
    /// `Requires-Python`.
    pub requires_python: Option<String>,
    /// `Provides-Extra`.
    pub provides_extra: Vec<String>,
    /// `[build-system].requires` (or the PEP 518 default).
    pub build_requires: Vec<String>,
    /// `[build-system].build-backend`, when declared.
    pub build_backend: Option<String>,
    /// `pyproject` or `default`: where `build_requires` came from.
    pub build_requires_source: String,
    /// How the core metadata was obtained.
    pub method: Method,
    /// A pip requirement line pinning this exact file, when it has a hash.
    pub pin: Option<String>,
    /// The platform the build code ran as (sandbox answers only): setup.py may branch on it.
    pub target: Option<Target>,
}

impl Metadata {
    pub(crate) fn from_core(
        core: CoreMetadata,
        method: Method,
        build: BuildSystem,
        source: &Source,
    ) -> Self {
        let pin = source
            .sha256
            .as_ref()
            .filter(|_| !core.version.is_empty())
            .map(|h| format!("{}=={} --hash=sha256:{h}", core.name, core.version));
        Self {
            name: core.name,
            version: core.version,
            metadata_version: core.metadata_version,
            requires_dist: core.requires_dist,
            requires_python: core.requires_python,
            provides_extra: core.provides_extra,
            build_requires: build.requires,
            build_backend: build.backend,
            build_requires_source: build.source.to_string(),
            method,
            pin,
            target: None,
        }
    }
}

/// The full result for one input: its identity, the metadata or the error, and warnings.
#[derive(Debug)]
pub struct Report {
    /// The input path as given.
    pub input: PathBuf,
    /// Identity, when the input could be read at all.
    pub source: Option<Source>,
    /// The metadata, or why there is none.
    pub outcome: Result<Metadata>,
    /// Everything worth a reader's attention, even on success. A non-empty list means
    /// the answer is not clean.
    pub warnings: Vec<String>,
    /// Wall time spent on this input.
    pub elapsed: Duration,
    /// Whether the answer came from the metadata cache.
    pub cached: bool,
    /// What the build code tried to do, and the verdict; `None` when no build code ran.
    /// Present on failures too: a build that tried something and then crashed still did.
    pub behaviour: Option<Behaviour>,
}
