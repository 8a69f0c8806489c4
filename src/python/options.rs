//! The keyword arguments of `sdistill.inspect`, as the Python layer passes them (one JSON
//! object), turned into [`Options`] the way the CLI's flags are.
//!
//! JSON rather than a dozen PyO3 arguments: the Python wrapper owns the signature (typed,
//! documented, in the stubs), and this side stays one `serde` struct whose defaults are
//! the library's.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::fetch::Prefer;
use crate::inspect::{Options, SandboxMode};
use crate::limits::{parse_size, Limits};
use crate::sandbox::{Notify, SandboxConfig, Target, TargetMachine, TargetPlatform};

/// A size: bytes, or text such as `"512MiB"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Size {
    Bytes(u64),
    Text(String),
}

impl Size {
    fn bytes(&self) -> Result<u64, String> {
        match self {
            Size::Bytes(n) => Ok(*n),
            Size::Text(t) => parse_size(t),
        }
    }
}

/// Everything `sdistill.inspect` accepts besides the inputs; `None` means the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PyOptions {
    pub jobs: Option<usize>,
    pub target_platform: Option<TargetPlatform>,
    pub target_machine: Option<TargetMachine>,
    #[serde(default)]
    pub no_sandbox: bool,
    #[serde(default)]
    pub offline: bool,
    #[serde(default)]
    pub no_cache: bool,
    #[serde(default)]
    pub prefer_wheel: bool,
    /// Seconds.
    pub timeout: Option<f64>,
    pub memory_limit: Option<Size>,
    pub max_unpacked_size: Option<Size>,
    pub max_entries: Option<u64>,
    pub max_compression_ratio: Option<u64>,
    pub max_output: Option<Size>,
    pub max_scratch: Option<Size>,
    pub max_open_files: Option<u64>,
    pub max_helper_depth: Option<u32>,
    pub max_helper_builds: Option<u32>,
    pub cache_dir: Option<PathBuf>,
    pub runtime: Option<PathBuf>,
    pub work_dir: Option<PathBuf>,
    pub index_url: Option<String>,
    /// Produce trace lines (the Python side asks when its logger shows DEBUG).
    #[serde(default)]
    pub trace: bool,
}

impl PyOptions {
    /// The library options, with `notify` receiving progress (and trace lines when
    /// asked). The environment variables the CLI honours (`SDISTILL_CACHE_DIR`,
    /// `SDISTILL_WORK_DIR`, `SDISTILL_RUNTIME`, `SDISTILL_INDEX_URL`) apply here too.
    pub fn to_options(&self, notify: Notify) -> Result<Options, String> {
        let defaults = Limits::default();
        let size = |s: &Option<Size>, default: u64| s.as_ref().map_or(Ok(default), Size::bytes);
        let timeout = match self.timeout {
            None => defaults.timeout,
            Some(t) if t.is_finite() && t > 0.0 => Duration::from_secs_f64(t),
            Some(t) => {
                return Err(format!(
                    "timeout must be a positive number of seconds, not {t}"
                ))
            }
        };
        let limits = Limits {
            max_unpacked_size: size(&self.max_unpacked_size, defaults.max_unpacked_size)?,
            max_entries: self.max_entries.unwrap_or(defaults.max_entries),
            max_compression_ratio: self
                .max_compression_ratio
                .unwrap_or(defaults.max_compression_ratio)
                .max(1),
            timeout,
            memory_limit: size(&self.memory_limit, defaults.memory_limit)?,
            max_output: size(&self.max_output, defaults.max_output)?,
            max_scratch: size(&self.max_scratch, defaults.max_scratch)?,
            max_open_files: self
                .max_open_files
                .unwrap_or(defaults.max_open_files)
                .max(8),
            max_helper_depth: self.max_helper_depth.unwrap_or(defaults.max_helper_depth),
            max_helper_builds: self.max_helper_builds.unwrap_or(defaults.max_helper_builds),
            ..defaults
        };
        let index_url = self.index_url();
        Ok(Options {
            limits,
            sandbox: if self.no_sandbox {
                SandboxMode::Off
            } else {
                SandboxMode::Auto
            },
            sandbox_config: SandboxConfig {
                runtime_dir: self
                    .runtime
                    .clone()
                    .or_else(|| env_path("SDISTILL_RUNTIME")),
                cache_dir: self.cache_dir(),
                index_url,
                auto_install: !self.offline,
                notify,
            },
            target: Target {
                platform: self.target_platform.unwrap_or_default(),
                machine: self.target_machine.unwrap_or_default(),
            },
            // Unset: the library reads SDISTILL_WORK_DIR, then picks a tmpfs or the temp dir.
            work_dir: self.work_dir.clone(),
            cache: !self.no_cache,
            // The Python API has no --observe (yet): metadata only.
            observe: false,
        })
    }

    /// `index_url`, else `SDISTILL_INDEX_URL`, else PyPI (as the CLI).
    pub fn index_url(&self) -> String {
        self.index_url
            .clone()
            .or_else(|| std::env::var("SDISTILL_INDEX_URL").ok())
            .unwrap_or_else(|| crate::sandbox::runtime::DEFAULT_INDEX_URL.to_string())
    }

    /// `cache_dir`; when unset the library reads `SDISTILL_CACHE_DIR`, then the user's
    /// cache directory.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        self.cache_dir.clone()
    }

    /// Which file a project name fetches.
    pub fn prefer(&self) -> Prefer {
        if self.prefer_wheel {
            Prefer::Wheel
        } else {
            Prefer::Sdist
        }
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
