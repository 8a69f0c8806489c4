//! PEP 751 `pylock.toml`: a single-use lock for one target.
//!
//! What sdistill writes, key by key (the specification's names):
//!
//! - `lock-version = "1.0"`, `created-by = "sdistill"`;
//! - `environments`: one marker that holds exactly on the target (`sys_platform`,
//!   `platform_machine`, `implementation_name`, the Python version), because markers
//!   were evaluated and wheels chosen for that target alone; for a universal lock, one
//!   marker per platform of its matrix with the Python versions locked for it;
//! - `requires-python`: the target's version (`==3.12.*`), or the matrix's range;
//! - one `[[packages]]` entry per pin: `name`, `version`, `marker` (when only some paths
//!   need it), `requires-python` (from its metadata), `index`, `dependencies` (names, for
//!   auditing), and its files: `sdist` and `wheels` with `name`, `url`, `size` and
//!   `upload-time` where the index states them, and `hashes = { sha256 = ... }`; a direct
//!   reference is an `archive` instead. Extras and dependency groups chosen for the lock are
//!   resolved into the pins (a single-use lock), so the `extras` and `dependency-groups`
//!   keys are left out;
//! - `[packages.tool.sdistill]`: how the pin's metadata was obtained and any build help it
//!   needed (disposable, as the specification requires of `tool` tables).
//!
//! The TOML is produced by the `toml` crate from typed structs, every string from a
//! validated value (name, version, marker tree, URL without credentials, file name,
//! digest, upload time), never by pasting text together.

use std::collections::BTreeSet;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{marker_text, LockSummary, PinSummary, RenderOptions};
use crate::error::{Error, Result};
use crate::resolve::{DistFile, LockedPackage, Resolution, TargetEnv};
use crate::sandbox::{TargetMachine, TargetPlatform};

/// Whether `name` is a PEP 751 lock file name: `pylock.toml` or `pylock.NAME.toml`.
pub fn is_lock_file_name(name: &str) -> bool {
    if name == "pylock.toml" {
        return true;
    }
    name.strip_prefix("pylock.")
        .and_then(|rest| rest.strip_suffix(".toml"))
        .is_some_and(|middle| !middle.is_empty() && !middle.contains('.'))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Document {
    lock_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    environments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requires_python: Option<String>,
    created_by: String,
    #[serde(default)]
    packages: Vec<Package>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tool: Option<Tool>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Package {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requires_python: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dependencies: Vec<Dependency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    archive: Option<Archive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sdist: Option<File>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    wheels: Vec<File>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tool: Option<PackageTool>,
}

#[derive(Serialize, Deserialize)]
struct Dependency {
    name: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Archive {
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    hashes: Hashes,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upload_time: Option<toml::value::Datetime>,
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    hashes: Hashes,
}

#[derive(Serialize, Deserialize)]
struct Hashes {
    sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Tool {
    sdistill: ToolSdistill,
}

#[derive(Serialize, Deserialize)]
struct ToolSdistill {
    target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct PackageTool {
    sdistill: PackageToolSdistill,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct PackageToolSdistill {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata_method: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    build_help: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    via: Vec<String>,
    /// A universal lock's environments this pin is for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    environments: Vec<String>,
}

/// Renders `resolution` as `pylock.toml`.
pub fn render(resolution: &Resolution, options: &RenderOptions) -> Result<String> {
    let packages = resolution
        .packages
        .iter()
        .map(|p| package(p, options.annotate))
        .collect::<Result<Vec<_>>>()?;
    let (environments, requires_python) = match options.matrix {
        Some(matrix) => (
            matrix
                .environment_markers()
                .iter()
                .map(|m| {
                    marker_text(m)
                        .ok()
                        .flatten()
                        .ok_or_else(|| Error::UnsafeOutput {
                            package: "pylock.toml".to_string(),
                            reason: "an environment's marker has no text".to_string(),
                        })
                })
                .collect::<Result<Vec<_>>>()?,
            matrix.requires_python(),
        ),
        None => (
            vec![environment(options.env)?],
            requires_python(options.env),
        ),
    };
    let document = Document {
        lock_version: "1.0".to_string(),
        environments,
        requires_python: Some(requires_python),
        created_by: "sdistill".to_string(),
        packages,
        tool: options.header.then(|| Tool {
            sdistill: ToolSdistill {
                target: options.describe_target(),
                command: Some(options.command.to_string()),
            },
        }),
    };
    toml::to_string(&document).map_err(|e| Error::UnsafeOutput {
        package: "pylock.toml".to_string(),
        reason: e.to_string(),
    })
}

/// The marker that holds exactly on the target.
fn environment(env: &TargetEnv) -> Result<String> {
    let (a, b, c) = env.python;
    let (sys_platform, machine) = match (env.target.platform, env.target.machine) {
        (TargetPlatform::Linux, TargetMachine::X86_64) => ("linux", "x86_64"),
        (TargetPlatform::Linux, TargetMachine::Aarch64) => ("linux", "aarch64"),
        (TargetPlatform::Macos, TargetMachine::X86_64) => ("darwin", "x86_64"),
        (TargetPlatform::Macos, TargetMachine::Aarch64) => ("darwin", "arm64"),
        (TargetPlatform::Windows, TargetMachine::X86_64) => ("win32", "AMD64"),
        (TargetPlatform::Windows, TargetMachine::Aarch64) => ("win32", "ARM64"),
    };
    let python = if c == 0 {
        format!("python_version == '{a}.{b}'")
    } else {
        format!("python_full_version == '{a}.{b}.{c}'")
    };
    let text = format!(
        "sys_platform == '{sys_platform}' and platform_machine == '{machine}' and implementation_name == 'cpython' and {python}"
    );
    let marker = pep508_rs::MarkerTree::from_str(&text).map_err(|e| Error::UnsafeOutput {
        package: "pylock.toml".to_string(),
        reason: format!("the target's marker: {e}"),
    })?;
    marker_text(&marker)
        .ok()
        .flatten()
        .ok_or_else(|| Error::UnsafeOutput {
            package: "pylock.toml".to_string(),
            reason: "the target's marker has no text".to_string(),
        })
}

/// `requires-python`: the target's version.
fn requires_python(env: &TargetEnv) -> String {
    let (a, b, c) = env.python;
    if c == 0 {
        format!("=={a}.{b}.*")
    } else {
        format!("=={a}.{b}.{c}")
    }
}

fn package(p: &LockedPackage, annotate: bool) -> Result<Package> {
    let refuse = |reason: String| Error::UnsafeOutput {
        package: format!("{} {}", p.name, p.version),
        reason,
    };
    let marker = match &p.marker {
        Some(m) => marker_text(m).map_err(|r| refuse(format!("its marker {r}")))?,
        None => None,
    };
    let mut out = Package {
        name: p.name.to_string(),
        version: Some(p.version.to_string()),
        marker,
        requires_python: p.requires_python.as_ref().map(ToString::to_string),
        index: None,
        dependencies: p
            .dependencies
            .iter()
            .map(|d| Dependency {
                name: d.name.to_string(),
            })
            .collect(),
        archive: None,
        sdist: None,
        wheels: Vec::new(),
        tool: None,
    };
    if let Some(d) = &p.direct {
        let sha = p
            .hashes
            .first()
            .ok_or_else(|| refuse("a direct reference without a hash".to_string()))?;
        out.archive = Some(Archive {
            url: d.url.to_string(),
            size: Some(d.size),
            hashes: Hashes {
                sha256: sha.to_string(),
            },
        });
    } else {
        if p.files.is_empty() {
            return Err(refuse(
                "no file to lock (the metadata provider listed none)".to_string(),
            ));
        }
        for f in &p.files {
            let entry = file(f).map_err(refuse)?;
            if f.is_wheel() {
                out.wheels.push(entry);
            } else if out.sdist.is_none() {
                out.sdist = Some(entry);
            }
        }
        out.index = p.files.iter().find_map(|f| f.index.clone());
    }
    if annotate {
        out.tool = Some(PackageTool {
            sdistill: PackageToolSdistill {
                metadata_file: p.metadata_source.as_ref().map(|m| m.file.clone()),
                metadata_method: p.metadata_source.as_ref().map(|m| m.method.clone()),
                build_help: p.caveats.clone(),
                via: p.via.clone(),
                environments: p.environments.clone(),
            },
        });
    }
    Ok(out)
}

/// One file entry: its validated name, its URL without credentials, what the index
/// states of its size and upload time, its sha256.
fn file(f: &DistFile) -> std::result::Result<File, String> {
    let url = crate::index::url_without_credentials(&f.url)
        .ok_or_else(|| format!("the URL of {} is not a URL", f.filename))?;
    Ok(File {
        name: f.filename.to_string(),
        upload_time: f.upload_time.map(|t| t.to_toml()),
        url: url.to_string(),
        size: f.size,
        hashes: Hashes {
            sha256: f.sha256.to_string(),
        },
    })
}

/// The pins of a `pylock.toml`: every package's version, marker, archive URL and sha256
/// hashes. Text that is not a lock file of version 1 is a usage error.
pub fn read_summary(text: &str) -> Result<LockSummary> {
    let bad = |why: String| Error::Usage {
        detail: format!("not a pylock.toml sdistill can read: {why}"),
    };
    let doc: Document = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
    if !doc.lock_version.starts_with("1.") && doc.lock_version != "1" {
        return Err(bad(format!("lock-version {}", doc.lock_version)));
    }
    let mut summary = LockSummary::default();
    for p in doc.packages {
        let mut hashes = BTreeSet::new();
        let files = p.sdist.iter().chain(p.wheels.iter());
        for f in files {
            hashes.insert(f.hashes.sha256.to_ascii_lowercase());
        }
        if let Some(a) = &p.archive {
            hashes.insert(a.hashes.sha256.to_ascii_lowercase());
        }
        summary.insert(PinSummary {
            name: p.name,
            version: p.version.unwrap_or_default(),
            extras: BTreeSet::new(),
            marker: p.marker,
            url: p.archive.map(|a| a.url),
            hashes,
        });
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_names() {
        assert!(is_lock_file_name("pylock.toml"));
        assert!(is_lock_file_name("pylock.dev.toml"));
        assert!(!is_lock_file_name("pylock.a.b.toml"));
        assert!(!is_lock_file_name("pylock..toml"));
        assert!(!is_lock_file_name("requirements.toml"));
    }

    #[test]
    fn the_environment_is_the_target() {
        let env = TargetEnv {
            python: (3, 11, 7),
            target: TargetEnv::parse_platform("windows").unwrap(),
        };
        let marker = environment(&env).unwrap();
        let tree = pep508_rs::MarkerTree::from_str(&marker).unwrap();
        assert!(tree.evaluate(&env.markers(), &[]), "{marker}");
        assert!(!tree.evaluate(&TargetEnv::default().markers(), &[]));
        assert_eq!(requires_python(&env), "==3.11.7");
        assert_eq!(requires_python(&TargetEnv::default()), "==3.12.*");
    }
}
