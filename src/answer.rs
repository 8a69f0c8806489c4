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
        warnings: &mut Vec<String>,
    ) -> Self {
        let pin = source
            .sha256
            .as_deref()
            .filter(|_| !core.version.is_empty())
            .and_then(|h| {
                let pin = pin_line(&core.name, &core.version, h);
                if pin.is_none() {
                    warnings.push(format!(
                        "no pin: `{}` `{}` is not a project name and a PEP 440 version",
                        core.name.escape_default(),
                        core.version.escape_default()
                    ));
                }
                pin
            });
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

/// `name==version --hash=sha256:<hash>` built from validated values only: the declared
/// name if it is a project name, the version as PEP 440 renders it. A declared value can
/// be anything (a `Version` with RFC 822 continuation lines carries newlines), and `pin`
/// is pasted into requirement files.
fn pin_line(name: &str, version: &str, sha256: &str) -> Option<String> {
    crate::dist_filename::project_name(name)?;
    let version = crate::metadata::guarded(|| version.parse::<pep440_rs::Version>().ok())??;
    let sha256 = crate::index::Sha256Hex::parse(sha256).ok()?;
    Some(format!("{name}=={version} --hash=sha256:{sha256}"))
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
    /// Whether the answer depends on nothing but the input's bytes (and sdistill's runtime,
    /// target and limits): it came from the metadata cache or was stored there. A degraded
    /// answer (a build requirement or helper missing, a host failure) is not, and neither
    /// is an error: computing it again may give another result.
    pub reusable: bool,
    /// What the build code tried to do, and the verdict; `None` when no build code ran.
    /// Present on failures too: a build that tried something and then crashed still did.
    pub behaviour: Option<Behaviour>,
}
