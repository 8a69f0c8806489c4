//! The JSON resolution report (`sdistill-lock/1`): every pin with its files and hashes,
//! where its dependencies were read from and how (a PEP 658 metadata file, a wheel's
//! METADATA, an sdist's static metadata, or the sandbox), the build help the sandbox gave
//! it, and the dependency edges with their markers. For review and for other tools: it
//! says what the lock rests on.
//!
//! Rendered with serde from the typed resolution (strings are escaped by the serializer);
//! URLs carry no credentials.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{marker_text, LockSummary, PinSummary, RenderOptions};
use crate::error::{Error, Result};
use crate::resolve::matrix::Matrix;
use crate::resolve::{LockedPackage, Resolution};

/// The schema name of the report.
pub const SCHEMA: &str = "sdistill-lock/1";

#[derive(Serialize, Deserialize)]
struct Report {
    schema: String,
    sdistill: String,
    target: String,
    /// A universal lock's environments (`linux-x86_64-3.12`...); empty for one target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    environments: Vec<String>,
    #[serde(default)]
    command: Option<String>,
    packages: Vec<Package>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Package {
    name: String,
    version: String,
    #[serde(default)]
    extras: Vec<String>,
    #[serde(default)]
    marker: Option<String>,
    #[serde(default)]
    requires_python: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    hashes: Vec<String>,
    #[serde(default)]
    files: Vec<File>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    build_help: Vec<String>,
    #[serde(default)]
    yanked: bool,
    #[serde(default)]
    via: Vec<String>,
    #[serde(default)]
    dependencies: Vec<Dependency>,
    /// A universal lock's environments this pin is for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    environments: Vec<String>,
    /// A universal lock: where the dependencies came from in each group of environments
    /// (an sdist built as each platform may answer differently).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    targets: Vec<Target>,
}

#[derive(Serialize, Deserialize)]
struct Target {
    environments: Vec<String>,
    #[serde(flatten)]
    metadata: Metadata,
    /// The pinned projects this answer made the pin depend on there.
    dependencies: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct File {
    filename: String,
    kind: String,
    url: String,
    sha256: String,
    size: Option<u64>,
    upload_time: Option<String>,
    index: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Metadata {
    /// The file whose metadata answered.
    file: String,
    /// sdistill's method name (`metadata-file`, `wheel`, `wheel-range`, `pkg-info`,
    /// `sandbox-egg-info`...).
    method: String,
    /// The kind of source: `pep658`, `wheel`, `wheel-range`, `static-sdist` or `sandbox`.
    source: String,
    /// Whether the bytes it was read from were checked against a stated sha256.
    #[serde(default)]
    verified: bool,
    /// Which check: `file-sha256` (the pinned file itself), `metadata-file-sha256` (a PEP
    /// 658 file against the hash the index states), `unhashed-metadata-file`, or
    /// `range-read` (part of a wheel read with HTTP range requests, which no hash covers).
    #[serde(default)]
    integrity: String,
}

#[derive(Serialize, Deserialize)]
struct Dependency {
    name: String,
    extras: Vec<String>,
    marker: Option<String>,
}

/// Renders `resolution` as the JSON report.
pub fn render(resolution: &Resolution, options: &RenderOptions) -> Result<String> {
    let report = Report {
        schema: SCHEMA.to_string(),
        sdistill: env!("CARGO_PKG_VERSION").to_string(),
        target: options.describe_target(),
        environments: options
            .matrix
            .map(|m| m.envs().iter().map(Matrix::env_label).collect())
            .unwrap_or_default(),
        command: options.header.then(|| options.command.to_string()),
        packages: resolution
            .packages
            .iter()
            .map(package)
            .collect::<Result<_>>()?,
        warnings: resolution.warnings.clone(),
    };
    let mut text = serde_json::to_string_pretty(&report).map_err(|e| Error::UnsafeOutput {
        package: "json".to_string(),
        reason: e.to_string(),
    })?;
    text.push('\n');
    Ok(text)
}

fn metadata(m: &crate::resolve::MetadataSource) -> Metadata {
    Metadata {
        file: m.file.clone(),
        method: m.method.clone(),
        source: source_kind(&m.method).to_string(),
        verified: m.integrity.verified(),
        integrity: m.integrity.as_str().to_string(),
    }
}

/// The kind of source a method name stands for.
fn source_kind(method: &str) -> &'static str {
    match method {
        "metadata-file" => "pep658",
        "wheel" => "wheel",
        "wheel-range" => "wheel-range",
        m if m.starts_with("sandbox") => "sandbox",
        _ => "static-sdist",
    }
}

fn marker(m: Option<&pep508_rs::MarkerTree>, what: &str) -> Result<Option<String>> {
    match m {
        None => Ok(None),
        Some(m) => marker_text(m).map_err(|r| Error::UnsafeOutput {
            package: what.to_string(),
            reason: format!("its marker {r}"),
        }),
    }
}

fn package(p: &LockedPackage) -> Result<Package> {
    let what = format!("{} {}", p.name, p.version);
    Ok(Package {
        name: p.name.to_string(),
        version: p.version.to_string(),
        extras: p.extras.iter().map(ToString::to_string).collect(),
        marker: marker(p.marker.as_ref(), &what)?,
        requires_python: p.requires_python.as_ref().map(ToString::to_string),
        url: p.direct.as_ref().map(|d| d.url.to_string()),
        hashes: p.hashes.iter().map(ToString::to_string).collect(),
        files: p
            .files
            .iter()
            .map(|f| File {
                filename: f.filename.to_string(),
                kind: if f.is_wheel() { "wheel" } else { "sdist" }.to_string(),
                url: crate::index::url_without_credentials(&f.url)
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
                sha256: f.sha256.to_string(),
                size: f.size,
                upload_time: f.upload_time.map(|t| t.to_string()),
                index: f.index.clone(),
            })
            .collect(),
        metadata: p.metadata_source.as_ref().map(metadata),
        build_help: p.caveats.clone(),
        yanked: p.yanked,
        via: p.via.clone(),
        dependencies: p
            .dependencies
            .iter()
            .map(|d| {
                Ok(Dependency {
                    name: d.name.to_string(),
                    extras: d.extras.iter().map(ToString::to_string).collect(),
                    marker: marker(d.marker.as_ref(), &what)?,
                })
            })
            .collect::<Result<_>>()?,
        environments: p.environments.clone(),
        targets: p
            .targets
            .iter()
            .map(|t| Target {
                environments: t.environments.clone(),
                metadata: metadata(&t.source),
                dependencies: t.dependencies.iter().map(ToString::to_string).collect(),
            })
            .collect(),
    })
}

/// The pins of a report this module wrote. Anything else is a usage error.
pub fn read_summary(text: &str) -> Result<LockSummary> {
    let report: Report = serde_json::from_str(text).map_err(|e| Error::Usage {
        detail: format!("not an sdistill JSON lock report: {e}"),
    })?;
    if report.schema != SCHEMA {
        return Err(Error::Usage {
            detail: format!(
                "not an sdistill JSON lock report: schema `{}`",
                crate::report::sanitize(&report.schema)
            ),
        });
    }
    let mut summary = LockSummary::default();
    for p in report.packages {
        summary.insert(PinSummary {
            name: p.name,
            version: p.version,
            extras: p.extras.into_iter().collect(),
            marker: p.marker,
            url: p.url,
            hashes: p.hashes.into_iter().collect::<BTreeSet<_>>(),
        });
    }
    Ok(summary)
}
