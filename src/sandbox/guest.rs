//! The protocol between the host and `python-wasm/driver.py`.
//!
//! The host passes one JSON argument (what to run) on the guest's argv; the driver writes
//! one JSON document to `/out/result.json` and exits. The guest's stdout and stderr are
//! never parsed: an sdist that prints a fake result changes nothing. The host reads the
//! result through a directory handle, refuses anything but a regular file, caps its size,
//! and validates every field it takes from it.

use cap_std::fs::Dir;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::archive::read_capped;
use crate::error::{Error, Result};
use crate::metadata::CoreMetadata;
use crate::static_meta::{normalize_extra, with_extra_marker, Method};

/// The guest program, embedded so that the binary and its driver always match: the
/// observer (`python-wasm/observe.py`, whose audit hook the driver installs before anything
/// else) followed by the driver itself, as one module.
pub const DRIVER: &str = concat!(
    include_str!("../../python-wasm/observe.py"),
    "\n",
    include_str!("../../python-wasm/driver.py")
);

/// Name of the result file inside the guest's `/out`.
pub const RESULT_FILE: &str = "result.json";

/// sha256 of the embedded driver, shown by `runtime info`: with the lock it identifies
/// everything that shapes a sandbox answer.
pub fn driver_sha256() -> String {
    hex::encode(Sha256::digest(DRIVER.as_bytes()))
}

/// What the driver should do for one sdist.
#[derive(Debug, Clone, Default)]
pub struct GuestRequest {
    /// `[build-system].build-backend`, if declared.
    pub backend: Option<String>,
    /// `[build-system].backend-path`.
    pub backend_path: Vec<String>,
    /// Guest paths of build-requirement directories, added to `sys.path` after `/site`.
    pub paths: Vec<String>,
    /// Whether the driver may stop and ask for missing `setup_requires`.
    pub allow_build_retry: bool,
    /// Compiler probes (`try_compile`, `has_function`...) answer yes instead of failing
    /// as they do without a compiler: the run after a build stopped on a failed probe.
    pub probes_succeed: bool,
    /// distutils' 2to3 helpers are provided: the run after a build that looked for them
    /// failed.
    pub provide_2to3: bool,
    /// The driver's stand-ins for Cython, `ctypes` and `ssl` are served: the run after a
    /// build that imported one of them (missing) failed.
    pub provide_stand_ins: bool,
    /// Guest path of the setuptools tree to use.
    pub setuptools_path: String,
    /// The platform the guest pretends to be.
    pub target: Target,
    /// Run the driver in snapshot mode: import, freeze, no sdist (see `snapshot`).
    pub snapshot: bool,
    /// Which phase to run: the metadata (the answer) or, with `--observe`, the build.
    pub phase: Phase,
}

/// What a guest run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// `egg_info` or `prepare_metadata_for_build_wheel`: the answer.
    #[default]
    Metadata,
    /// `bdist_wheel` or `build_wheel`, run only to be observed (`--observe`).
    Build,
    /// The metadata step again with bait (stand-ins for what a payload waits for, such as
    /// an HTTP client library), run only to be observed.
    Bait,
    /// `bdist_wheel` or `build_wheel` of a build requirement published only as an sdist:
    /// the wheel (`/out/helper.whl`) becomes a build requirement of another sdist.
    Wheel,
}

/// A second way to run a build that failed on the sandbox's default path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Compiler probes answer yes, as on a machine with a C compiler.
    CompilerProbes,
    /// distutils' 2to3 helpers (`build_py_2to3`, ...) are provided.
    TwoToThree,
    /// The driver's stand-ins for modules the guest lacks (Cython, `ctypes`, `ssl`).
    StandIns,
}

/// The machine a user resolves for; the guest imitates it (`--target-platform`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Target {
    /// Operating system.
    pub platform: TargetPlatform,
    /// CPU architecture.
    pub machine: TargetMachine,
}

/// Operating systems a target can be.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TargetPlatform {
    /// `sys.platform == "linux"`.
    #[default]
    Linux,
    /// `sys.platform == "darwin"`.
    Macos,
    /// `sys.platform == "win32"`.
    Windows,
}

/// CPU architectures a target can be.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum TargetMachine {
    /// x86-64 (`AMD64` on Windows).
    #[default]
    #[serde(rename = "x86_64")]
    X86_64,
    /// 64-bit ARM (`arm64` on macOS, `aarch64` on Linux).
    #[serde(rename = "aarch64")]
    Aarch64,
}

impl Target {
    /// `platform.machine()` as that OS spells it.
    pub fn machine_name(self) -> &'static str {
        match (self.platform, self.machine) {
            (TargetPlatform::Windows, TargetMachine::X86_64) => "AMD64",
            (TargetPlatform::Windows, TargetMachine::Aarch64) => "ARM64",
            (TargetPlatform::Macos, TargetMachine::Aarch64) => "arm64",
            (_, TargetMachine::Aarch64) => "aarch64",
            (_, TargetMachine::X86_64) => "x86_64",
        }
    }
}

/// The guest argv: the interpreter with site disabled, no bytecode writes, and the driver.
pub fn argv(request: &GuestRequest) -> Vec<String> {
    vec![
        "python".to_string(),
        "-S".to_string(),
        "-B".to_string(),
        "-c".to_string(),
        DRIVER.to_string(),
        config_json(request),
    ]
}

/// The driver's configuration for one run, as JSON: its argument on an ordinary start,
/// `/out/request.json` when resuming a snapshot.
pub fn config_json(request: &GuestRequest) -> String {
    json!({
        "mode": if request.snapshot { "snapshot" } else { "run" },
        "project": "/sdist",
        "backend": request.backend,
        "backend_path": request.backend_path,
        "paths": request.paths,
        "allow_build_retry": request.allow_build_retry,
        "compiler_probes": if request.probes_succeed { "succeed" } else { "fail" },
        "provide_2to3": request.provide_2to3,
        "provide_stand_ins": request.provide_stand_ins,
        "setuptools_path": request.setuptools_path,
        "phase": match request.phase {
            Phase::Metadata => "metadata",
            Phase::Build => "build",
            Phase::Bait => "bait",
            Phase::Wheel => "wheel",
        },
        "target": {
            "platform": match request.target.platform {
                TargetPlatform::Linux => "linux",
                TargetPlatform::Macos => "macos",
                TargetPlatform::Windows => "windows",
            },
            "machine": request.target.machine_name(),
        },
    })
    .to_string()
}

/// The fixed guest environment. Nothing of the host's environment is passed.
pub fn env() -> Vec<(String, String)> {
    [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", "/scratch/home"),
        ("TMPDIR", "/scratch/tmp"),
        ("TEMP", "/scratch/tmp"),
        ("LANG", "C.UTF-8"),
        ("PYTHONHASHSEED", "0"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("PYTHONUTF8", "1"),
        ("SETUPTOOLS_USE_DISTUTILS", "local"),
        ("SOURCE_DATE_EPOCH", "315532800"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[derive(Debug, Deserialize)]
struct RawResult {
    ok: bool,
    method: Option<String>,
    metadata: Option<String>,
    kwargs: Option<serde_json::Value>,
    kind: Option<String>,
    message: Option<String>,
    traceback: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    probes: Vec<String>,
    #[serde(default)]
    wanted: Vec<String>,
    outcome: Option<String>,
    filename: Option<String>,
}

/// What the driver reported.
#[derive(Debug)]
pub enum GuestResult {
    /// Metadata and how it was obtained.
    Metadata {
        /// The parsed metadata.
        metadata: CoreMetadata,
        /// The path that produced it.
        method: Method,
        /// Driver warnings.
        warnings: Vec<String>,
    },
    /// The build needs `setup_requires` that were not provided.
    NeedsBuildRequires(Vec<String>),
    /// The build failed after taking a path the sandbox takes by default but pip's
    /// machine does not (a compiler probe failing, distutils' 2to3 helpers missing): the
    /// host may run it once more the other way.
    NeedsFallback {
        /// Which.
        fallback: Fallback,
        /// What the build looked for (probe methods, helper names): known names only.
        names: Vec<String>,
        /// How the build then failed.
        failure: Error,
    },
    /// The driver reported a failure of the sdist's code.
    Failure(Error),
    /// How an `--observe` build ended (never an answer).
    Built(BuildOutcome),
    /// A helper's wheel: the name the guest gave it (validated by the caller) and its
    /// bytes (unpacked by the caller with the rules for any wheel).
    Wheel {
        /// The file name, as the guest reported it: untrusted.
        filename: String,
        /// The wheel, at most [`MAX_HELPER_WHEEL`] bytes.
        bytes: Vec<u8>,
    },
}

/// The guest's file name for a helper's wheel inside `/out`.
pub const HELPER_WHEEL: &str = "helper.whl";

/// Largest helper wheel read back from the guest. Helpers are small pure-Python
/// packages (vcversioner's wheel is 6 KiB); the cap keeps a hostile build from handing
/// the host an arbitrary amount to hold in memory.
pub const MAX_HELPER_WHEEL: u64 = 64 * 1024 * 1024;

/// How an `--observe` build ended, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOutcome {
    /// `built`, `no-compiler` or `failed`.
    pub outcome: String,
    /// The failure's message, if any.
    pub message: String,
}

/// Reads and validates `/out/result.json`. `Ok(None)` when the driver wrote none.
pub fn read_result(out: &Dir, cap: u64) -> Result<Option<GuestResult>> {
    let meta = match out.symlink_metadata(RESULT_FILE) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(RESULT_FILE, e)),
    };
    if !meta.is_file() {
        return Err(protocol("result is not a regular file"));
    }
    let file = out
        .open(RESULT_FILE)
        .map_err(|e| Error::io(RESULT_FILE, e))?;
    let text = read_capped(file, cap, "guest result")?;
    let raw: RawResult =
        serde_json::from_str(&text).map_err(|e| protocol(&format!("bad result JSON: {e}")))?;
    if !raw.ok && raw.kind.as_deref() == Some("needs-build-requires") {
        return Ok(Some(GuestResult::NeedsBuildRequires(raw.requires)));
    }
    let fallback = match raw.kind.as_deref() {
        Some("needs-compiler-probes") if !raw.ok => Some((Fallback::CompilerProbes, raw.probes)),
        Some("needs-2to3") if !raw.ok => Some((Fallback::TwoToThree, raw.wanted)),
        Some("needs-stand-ins") if !raw.ok => Some((Fallback::StandIns, raw.wanted)),
        _ => None,
    };
    if let Some((fallback, names)) = fallback {
        // Names are guest text: only the known ones are kept, for a message.
        const KNOWN: &[&str] = &[
            "try_cpp",
            "try_compile",
            "try_link",
            "try_run",
            "check_func",
            "check_lib",
            "check_header",
            "search_cpp",
            "has_function",
            "build_py_2to3",
            "run_2to3",
            "copydir_run_2to3",
            "Mixin2to3",
            "Cython",
            "ctypes",
            "ssl",
        ];
        let names = names
            .into_iter()
            .filter(|p| KNOWN.contains(&p.as_str()))
            .collect();
        return Ok(Some(GuestResult::NeedsFallback {
            fallback,
            names,
            failure: Error::SetupFailed {
                message: raw.message.unwrap_or_default(),
                traceback: raw.traceback.unwrap_or_default(),
            },
        }));
    }
    if !raw.ok {
        let message = raw.message.unwrap_or_default();
        let err = match raw.kind.as_deref() {
            Some("unsupported-backend") => Error::UnsupportedBackend {
                backend: String::new(),
                detail: message,
            },
            Some("no-metadata") => Error::NoMetadata { detail: message },
            Some("memory") => Error::limit_exceeded(
                crate::limits::LimitKind::Memory,
                format!("the guest ran out of memory: {message}"),
            ),
            _ => Error::SetupFailed {
                message,
                traceback: raw.traceback.unwrap_or_default(),
            },
        };
        return Ok(Some(GuestResult::Failure(err)));
    }
    if raw.method.as_deref() == Some("wheel") {
        return Ok(Some(GuestResult::Wheel {
            filename: raw.filename.unwrap_or_default(),
            bytes: read_helper_wheel(out)?,
        }));
    }
    if raw.method.as_deref() == Some("build") {
        return Ok(Some(GuestResult::Built(BuildOutcome {
            outcome: raw.outcome.unwrap_or_default(),
            message: raw.message.unwrap_or_default(),
        })));
    }
    let method = match raw.method.as_deref() {
        Some("sandbox-egg-info") => Method::SandboxEggInfo,
        Some("sandbox-pep517") => Method::SandboxPep517,
        Some("sandbox-setup-kwargs") => Method::SandboxSetupKwargs,
        other => return Err(protocol(&format!("unknown method {other:?}"))),
    };
    let metadata = match (method, raw.metadata, raw.kwargs) {
        (Method::SandboxSetupKwargs, _, Some(kwargs)) => from_kwargs(&kwargs)?,
        (_, Some(text), _) => CoreMetadata::parse(&text, "sandbox metadata")?,
        _ => return Err(protocol("result carries no metadata")),
    };
    Ok(Some(GuestResult::Metadata {
        metadata,
        method,
        warnings: raw.warnings,
    }))
}

/// Reads `/out/helper.whl`: a regular file of at most [`MAX_HELPER_WHEEL`] bytes.
fn read_helper_wheel(out: &Dir) -> Result<Vec<u8>> {
    use std::io::Read;
    let meta = out
        .symlink_metadata(HELPER_WHEEL)
        .map_err(|e| Error::io(HELPER_WHEEL, e))?;
    if !meta.is_file() {
        return Err(protocol("the helper wheel is not a regular file"));
    }
    if meta.len() > MAX_HELPER_WHEEL {
        return Err(protocol(&format!(
            "the helper wheel is larger than {MAX_HELPER_WHEEL} bytes"
        )));
    }
    let file = out
        .open(HELPER_WHEEL)
        .map_err(|e| Error::io(HELPER_WHEEL, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_HELPER_WHEEL + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(HELPER_WHEEL, e))?;
    if bytes.len() as u64 > MAX_HELPER_WHEEL {
        return Err(protocol("the helper wheel grew while it was read"));
    }
    Ok(bytes)
}

fn protocol(detail: &str) -> Error {
    Error::Sandbox {
        detail: format!("guest protocol: {detail}"),
    }
}

/// Builds metadata from the captured `setup()` keyword arguments, the way setuptools
/// would write it (`extras_require` keys may carry `:marker` suffixes).
fn from_kwargs(kwargs: &serde_json::Value) -> Result<CoreMetadata> {
    let text = |key: &str| kwargs.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let list = |v: Option<&serde_json::Value>| -> Vec<String> {
        v.and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let name = text("name").ok_or_else(|| Error::NoMetadata {
        detail: "setup() was called without a name".to_string(),
    })?;
    let mut requires_dist = list(kwargs.get("install_requires"));
    let mut provides_extra = Vec::new();
    if let Some(extras) = kwargs.get("extras_require").and_then(|e| e.as_object()) {
        for (key, reqs) in extras {
            let (extra, marker) = match key.split_once(':') {
                Some((e, m)) => (e.trim(), Some(m.trim())),
                None => (key.trim(), None),
            };
            let extra = normalize_extra(extra);
            if !extra.is_empty() && !provides_extra.contains(&extra) {
                provides_extra.push(extra.clone());
            }
            for req in list(Some(reqs)) {
                let req = match marker {
                    Some(m) if !m.is_empty() => format!("{req}; {m}"),
                    _ => req,
                };
                requires_dist.push(if extra.is_empty() {
                    req
                } else {
                    with_extra_marker(&req, &extra)
                });
            }
        }
    }
    Ok(CoreMetadata {
        metadata_version: None,
        name,
        version: text("version").unwrap_or_else(|| "0.0.0".to_string()),
        requires_dist,
        requires_python: text("python_requires"),
        provides_extra,
        dynamic: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_dir(json: &str) -> (tempfile::TempDir, Dir) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(RESULT_FILE), json).unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
        (tmp, dir)
    }

    /// What setup() returns is guest-controlled: JSON nested 100,000 deep is refused by
    /// serde_json's recursion limit (a protocol error), not followed down the stack.
    #[test]
    fn deeply_nested_result_json_is_a_protocol_error() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let json = format!(r#"{{"ok": true, "method": "sandbox-setup-kwargs", "kwargs": {deep}}}"#);
        let (_tmp, dir) = result_dir(&json);
        let err = read_result(&dir, 16 << 20).unwrap_err();
        assert_eq!(err.kind(), "sandbox", "{err}");
    }

    /// A deeply nested marker in what setup() returns (install_requires, or an
    /// extras_require key) is kept as written and flagged, never parsed.
    #[test]
    fn deeply_nested_markers_from_setup_kwargs_are_flagged() {
        let nest = |n: usize| format!("{}python_version > '3'{}", "(".repeat(n), ")".repeat(n));
        let kwargs = json!({
            "name": "deep",
            "version": "1.0",
            "install_requires": [format!("a; {}", nest(5000))],
            "extras_require": { format!("x:{}", nest(5000)): ["b"] },
        });
        let json = json!({"ok": true, "method": "sandbox-setup-kwargs", "kwargs": kwargs});
        let (_tmp, dir) = result_dir(&json.to_string());
        let Some(GuestResult::Metadata { metadata, .. }) = read_result(&dir, 16 << 20).unwrap()
        else {
            panic!("expected metadata");
        };
        assert_eq!(metadata.requires_dist.len(), 2);
        assert!(metadata.requires_dist[1].starts_with("b; ("));
        let warnings = metadata.validate("sandbox metadata").unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().all(|w| w.contains("too complex")));
    }
}
