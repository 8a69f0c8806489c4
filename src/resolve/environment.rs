//! The environment a lock is for: a Python version and a platform.
//!
//! A lock answers "what would `pip install` pick on *that* machine", which is rarely the
//! machine running sdistill. Markers are evaluated against [`TargetEnv::markers`], files are
//! filtered by `Requires-Python` against [`TargetEnv::python`], and wheels by their tags
//! ([`TargetEnv::wheel_compatible`]); sdists that must run in the sandbox see the same
//! platform through [`Target`].

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder};

use crate::error::{Error, Result};
use crate::sandbox::{Target, TargetMachine, TargetPlatform};

/// A target interpreter and platform. `Default` is CPython 3.12 on Linux x86-64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetEnv {
    /// `(major, minor, micro)` of the target CPython.
    pub python: (u64, u64, u64),
    /// Operating system and CPU.
    pub target: Target,
}

impl Default for TargetEnv {
    fn default() -> Self {
        Self {
            python: (3, 12, 0),
            target: Target::default(),
        }
    }
}

impl TargetEnv {
    /// Parses `--python-version` (`3.12` or `3.12.4`; a missing micro is 0, as uv does).
    pub fn parse_python(text: &str) -> Result<(u64, u64, u64)> {
        let bad = || Error::Usage {
            detail: format!("`{text}` is not a Python version like 3.12 or 3.12.4"),
        };
        let parts: Vec<u64> = text
            .trim()
            .split('.')
            .map(|p| p.parse::<u64>().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        match parts.as_slice() {
            [3, minor] => Ok((3, *minor, 0)),
            [3, minor, micro] => Ok((3, *minor, *micro)),
            _ => Err(bad()),
        }
    }

    /// Parses `--platform`: `linux`, `macos` or `windows`, optionally with an architecture
    /// (`linux-aarch64`, `macos-arm64`, `windows-x86_64`); x86-64 when none is given.
    pub fn parse_platform(text: &str) -> Result<Target> {
        let bad = || {
            Error::Usage {
            detail: format!(
                "`{text}` is not a platform: use linux, macos or windows, optionally with -x86_64 or -aarch64"
            ),
        }
        };
        let lower = text.trim().to_ascii_lowercase();
        let (os, arch) = lower.split_once(['-', '_']).unwrap_or((lower.as_str(), ""));
        let platform = match os {
            "linux" => TargetPlatform::Linux,
            "macos" | "darwin" | "macosx" => TargetPlatform::Macos,
            "windows" | "win" | "win32" => TargetPlatform::Windows,
            _ => return Err(bad()),
        };
        let machine = match arch {
            "" | "x86_64" | "x86-64" | "amd64" => TargetMachine::X86_64,
            "aarch64" | "arm64" => TargetMachine::Aarch64,
            _ => return Err(bad()),
        };
        Ok(Target { platform, machine })
    }

    /// The full Python version as a PEP 440 version.
    pub fn python_version(&self) -> Version {
        let (a, b, c) = self.python;
        Version::new([a, b, c])
    }

    /// Whether a `Requires-Python` value admits the target. Text that is not a PEP 440
    /// specifier set is ignored (admits), as pip does.
    pub fn admits(&self, requires_python: &str) -> bool {
        match VersionSpecifiers::from_str(requires_python) {
            Ok(specs) => specs.contains(&self.python_version()),
            Err(_) => true,
        }
    }

    /// The PEP 508 marker environment of the target.
    pub fn markers(&self) -> MarkerEnvironment {
        let (a, b, c) = self.python;
        let full = format!("{a}.{b}.{c}");
        let short = format!("{a}.{b}");
        let (sys_platform, system, os_name) = match self.target.platform {
            TargetPlatform::Linux => ("linux", "Linux", "posix"),
            TargetPlatform::Macos => ("darwin", "Darwin", "posix"),
            TargetPlatform::Windows => ("win32", "Windows", "nt"),
        };
        let builder = MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full,
            os_name,
            platform_machine: self.target.machine_name(),
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system: system,
            platform_version: "",
            python_full_version: &full,
            python_version: &short,
            sys_platform,
        };
        // Only numeric versions go in, so this cannot fail; fall back rather than panic.
        let fallback = MarkerEnvironmentBuilder {
            implementation_version: "3.12.0",
            python_full_version: "3.12.0",
            python_version: "3.12",
            ..builder.clone()
        };
        MarkerEnvironment::try_from(builder).unwrap_or_else(|_| {
            MarkerEnvironment::try_from(fallback).expect("constant marker environment parses")
        })
    }

    /// One line for the lock header: `CPython 3.12 on linux x86_64`.
    pub fn describe(&self) -> String {
        let (a, b, c) = self.python;
        let os = match self.target.platform {
            TargetPlatform::Linux => "linux",
            TargetPlatform::Macos => "macos",
            TargetPlatform::Windows => "windows",
        };
        let arch = match self.target.machine {
            TargetMachine::X86_64 => "x86_64",
            TargetMachine::Aarch64 => "aarch64",
        };
        let version = if c == 0 {
            format!("{a}.{b}")
        } else {
            format!("{a}.{b}.{c}")
        };
        format!("CPython {version} on {os} {arch}")
    }

    /// Whether pip on the target would install a wheel with this file name (its
    /// compatibility tags: `name-ver[-build]-python-abi-platform.whl`).
    pub fn wheel_compatible(&self, filename: &str) -> bool {
        let Some(stem) = filename.strip_suffix(".whl") else {
            return false;
        };
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.len() < 5 {
            return false;
        }
        let n = parts.len();
        let (pythons, abis, platforms) = (parts[n - 3], parts[n - 2], parts[n - 1]);
        let python_ok = pythons.split('.').any(|py| {
            abis.split('.')
                .any(|abi| self.python_abi_compatible(py, abi))
        });
        python_ok && platforms.split('.').any(|p| self.platform_compatible(p))
    }

    fn python_abi_compatible(&self, py: &str, abi: &str) -> bool {
        let (_, minor, _) = self.python;
        let cp = format!("cp3{minor}");
        if let Some(v) = py.strip_prefix("py") {
            // py3, py2.py3, py312 (and older py3x): pure Python, any ABI-free build.
            let ok = v == "3"
                || v.strip_prefix('3')
                    .and_then(|m| m.parse::<u64>().ok())
                    .is_some_and(|m| m <= minor);
            return ok && abi == "none";
        }
        let Some(m) = py.strip_prefix("cp3").and_then(|m| m.parse::<u64>().ok()) else {
            return false;
        };
        match abi {
            "abi3" => m <= minor,
            "none" => m == minor,
            _ => m == minor && (abi == cp || abi == format!("{cp}m")),
        }
    }

    fn platform_compatible(&self, tag: &str) -> bool {
        if tag == "any" {
            return true;
        }
        let arch = self.target.machine;
        match self.target.platform {
            TargetPlatform::Linux => {
                let want = match arch {
                    TargetMachine::X86_64 => "x86_64",
                    TargetMachine::Aarch64 => "aarch64",
                };
                let Some(rest) = tag
                    .strip_prefix("manylinux")
                    .or_else(|| tag.strip_prefix("linux"))
                else {
                    return false;
                };
                rest.ends_with(&format!("_{want}")) && manylinux_glibc_ok(rest)
            }
            TargetPlatform::Macos => {
                let Some(rest) = tag.strip_prefix("macosx_") else {
                    return false;
                };
                let fits = match arch {
                    TargetMachine::X86_64 => {
                        ["x86_64", "intel", "universal2", "universal", "fat64"]
                            .iter()
                            .any(|a| rest.ends_with(&format!("_{a}")))
                    }
                    TargetMachine::Aarch64 => ["arm64", "universal2"]
                        .iter()
                        .any(|a| rest.ends_with(&format!("_{a}"))),
                };
                // Any macOS release up to 15 (a current machine).
                let major = rest.split('_').next().and_then(|m| m.parse::<u64>().ok());
                fits && major.is_some_and(|m| m <= 15)
            }
            TargetPlatform::Windows => match arch {
                TargetMachine::X86_64 => tag == "win_amd64",
                TargetMachine::Aarch64 => tag == "win_arm64",
            },
        }
    }
}

/// `manylinux_2_N_arch`: accept glibc up to 2.39 (a current distribution); the legacy
/// aliases (`manylinux1`, `2010`, `2014`) and plain `linux_arch` are older than that.
fn manylinux_glibc_ok(rest: &str) -> bool {
    let Some(glibc) = rest.strip_prefix("_2_") else {
        return true;
    };
    glibc
        .split('_')
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n <= 39)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_tags() {
        let linux = TargetEnv::default();
        assert!(linux.wheel_compatible("a-1.0-py3-none-any.whl"));
        assert!(linux.wheel_compatible("a-1.0-py2.py3-none-any.whl"));
        assert!(linux
            .wheel_compatible("a-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"));
        assert!(linux.wheel_compatible("a-1.0-cp38-abi3-manylinux2014_x86_64.whl"));
        assert!(!linux.wheel_compatible("a-1.0-cp313-cp313-manylinux2014_x86_64.whl"));
        assert!(!linux.wheel_compatible("a-1.0-cp312-cp312-win_amd64.whl"));
        assert!(!linux.wheel_compatible("a-1.0-cp312-cp312-manylinux2014_aarch64.whl"));
        assert!(!linux.wheel_compatible("a-1.0-py2-none-any.whl"));
        let win = TargetEnv {
            target: TargetEnv::parse_platform("windows").unwrap(),
            ..TargetEnv::default()
        };
        assert!(win.wheel_compatible("a-1.0-cp312-cp312-win_amd64.whl"));
        let mac = TargetEnv {
            target: TargetEnv::parse_platform("macos-arm64").unwrap(),
            ..TargetEnv::default()
        };
        assert!(mac.wheel_compatible("a-1.0-cp312-cp312-macosx_11_0_arm64.whl"));
        assert!(!mac.wheel_compatible("a-1.0-cp312-cp312-macosx_10_9_x86_64.whl"));
    }

    #[test]
    fn markers_and_requires_python() {
        let env = TargetEnv {
            python: TargetEnv::parse_python("3.11").unwrap(),
            target: TargetEnv::parse_platform("windows").unwrap(),
        };
        let m = env.markers();
        assert_eq!(m.sys_platform(), "win32");
        assert_eq!(m.platform_machine(), "AMD64");
        assert!(env.admits(">=3.8"));
        assert!(!env.admits(">=3.12"));
        assert!(env.admits("not a specifier"));
        assert!(TargetEnv::parse_python("2").is_err());
        assert!(TargetEnv::parse_platform("beos").is_err());
    }
}
