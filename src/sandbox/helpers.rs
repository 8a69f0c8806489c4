//! Build requirements that the index offers only as sdists (`setup_requires=
//! ["vcversioner"]`, a `[build-system].requires` entry without a wheel), built into wheels
//! inside the sandbox.
//!
//! Before this, such a requirement got an inert stand-in and the sdist that needed it
//! reported version `0.0.0` (flagged, but wrong). A helper's build is untrusted code like
//! any sdist's, so it runs the same way: downloaded sha256-checked against the index,
//! unpacked with the sdist rules, built (`bdist_wheel` or the backend's `build_wheel`) in
//! a fresh guest with the same WASI world and limits, within the *input's* deadline; what
//! it tries goes into the input's behaviour report. Its own build requirements are
//! provided the same way, one level deeper: the chain is bounded by
//! [`Limits::max_helper_depth`] and the number of builds per input by
//! [`Limits::max_helper_builds`], and reaching either is reported naming the requirement.
//!
//! The wheel the guest hands back is hostile data: its file name must parse as a
//! pure-Python wheel of the project and version of the sdist it was built from (and its
//! METADATA must say the same, checked before it is kept), and it is unpacked with the rules
//! for any wheel. Only a clean build is kept, under `helper-wheels/<digest of the sdist's
//! sha256 and the build-requirement index>/`: one
//! whose own requirements were all provided; a helper that could not be built leaves
//! nothing in the cache, so a later run tries again.

use std::path::{Path, PathBuf};

use super::build::Budget;
use super::guest::{GuestResult, Phase, Target, HELPER_WHEEL};
use super::instance::{self, Ending};
use super::{native_backend, Sandbox};
use crate::archive::{self, InputKind};
use crate::build_deps::{pure_for_guest, BuildDeps, HelperBuilder};
use crate::dirs::CacheDir;
use crate::error::{Error, Result};
use crate::index::{DistFilename, IndexFile};
use crate::limits::{LimitKind, Limits};
use crate::observe::Observation;
use crate::static_meta;

/// The sandbox as a [`HelperBuilder`] for one build of one input.
pub(super) struct Helpers<'a> {
    pub sandbox: &'a Sandbox,
    pub limits: &'a Limits,
    pub work_dir: &'a Path,
    pub budget: &'a mut Budget,
    pub seen: &'a mut Observation,
}

/// The cache name of a helper's wheel: a digest of the sdist's sha256 *and* the index its
/// own build requirements came from (without credentials). The wheel is the product of
/// both — a helper whose setup.py copies a value from one of its build requirements
/// builds differently against another index — so one index's build is never used for
/// another's.
fn helper_key(index_url: &str, sdist_sha256: &str) -> String {
    use sha2::{Digest, Sha256};
    let index = crate::index::url_without_credentials(index_url)
        .map(|u| u.to_string())
        .unwrap_or_else(|| index_url.to_string());
    let mut h = Sha256::new();
    h.update(b"sdistill-helper-wheel/1\0");
    h.update(index.as_bytes());
    h.update(b"\0");
    h.update(sdist_sha256.as_bytes());
    hex::encode(h.finalize())
}

/// Whether a helper's failure is the helper's own (remembered for the process) or this
/// input's (a bound, the deadline, or a helper of its own that could not be provided
/// within the bounds): only the former says anything about the next input.
fn helpers_own(e: &Error, env_complete: bool) -> bool {
    env_complete && !matches!(e, Error::Limit { .. })
}

impl HelperBuilder for Helpers<'_> {
    fn build(&mut self, deps: &BuildDeps, requirement: &str, sdist: &IndexFile) -> Result<PathBuf> {
        let sha = sdist.sha256.as_ref().ok_or_else(|| Error::Index {
            detail: format!(
                "{}: the index gives no sha256; refusing to use it",
                sdist.filename
            ),
        })?;
        let root = deps.cache_root();
        let cache = CacheDir::open_root(root).map_err(|e| Error::io(root, e))?;
        let io = |e| Error::io(cache.path(), e);
        let trees = cache.subdir("helper-wheels").map_err(io)?;
        let key = helper_key(deps.index_url(), sha.as_str());
        if trees.is_dir(&key) && trees.subdir(&key).is_ok_and(|t| t.is_file(".complete")) {
            return Ok(trees.path().join(&key));
        }
        if let Some(why) = deps.failed_helper(sha.as_str()) {
            return Err(Error::SetupFailed {
                message: format!("{why} (its build already failed in this process)"),
                traceback: String::new(),
            });
        }
        let depth = self.budget.helper_depth + 1;
        if depth > self.limits.max_helper_depth {
            return Err(Error::limit_exceeded(
                LimitKind::HelperDepth,
                format!(
                    "building `{requirement}` from its sdist would be helper level {depth}; at most {} allowed",
                    self.limits.max_helper_depth
                ),
            ));
        }
        if self.budget.helpers_built >= self.limits.max_helper_builds {
            return Err(Error::limit_exceeded(
                LimitKind::HelperBuilds,
                format!(
                    "building `{requirement}` from its sdist would be helper build {} for this input; at most {} allowed",
                    self.budget.helpers_built + 1,
                    self.limits.max_helper_builds
                ),
            ));
        }
        self.budget.helpers_built += 1;
        let archive_path = deps.fetch_sdist(sdist, Some(self.budget.at))?;
        let mut env_complete = true;
        let built = self
            .build_wheel(&archive_path, depth, &mut env_complete)
            .and_then(|wheel| self.keep(&trees, &key, sdist, wheel));
        if let Err(e) = &built {
            if helpers_own(e, env_complete) {
                deps.note_failed_helper(sha.as_str(), e.to_string());
            }
        }
        built
    }
}

impl Helpers<'_> {
    /// Unpacks the helper sdist at `archive_path` and builds it into a wheel in the guest,
    /// at helper level `depth`; returns the guest's file name for it and its bytes.
    /// `env_complete` is cleared when the helper's own build requirements could not all
    /// be provided.
    fn build_wheel(
        &mut self,
        archive_path: &Path,
        depth: u32,
        env_complete: &mut bool,
    ) -> Result<(String, Vec<u8>)> {
        let kind = InputKind::detect(archive_path).ok_or_else(|| Error::UnsupportedInput {
            path: archive_path.to_path_buf(),
        })?;
        let unpacked = archive::unpack(archive_path, kind, self.limits, Some(self.work_dir))?;
        let findings = static_meta::read_sdist(&unpacked.root_dir()?, self.limits)?;
        if let Some(backend) = findings.build.backend.as_deref() {
            if let Some(why) = native_backend(backend) {
                return Err(Error::UnsupportedBackend {
                    backend: backend.to_string(),
                    detail: why.to_string(),
                });
            }
        }
        let mut child = Budget {
            at: self.budget.at,
            helper_depth: depth,
            helpers_built: self.budget.helpers_built,
        };
        let end = self.sandbox.run_phase(
            &unpacked.root_path(),
            &findings,
            self.limits,
            self.work_dir,
            (Target::default(), Phase::Wheel),
            &mut child,
            self.seen,
        );
        // Time and builds spent on the helper are the input's.
        self.budget.at = child.at;
        self.budget.helpers_built = child.helpers_built;
        let end = end?;
        if let Some(failure) = end.outcome.guard.host_failure.as_deref() {
            return Err(Error::Sandbox {
                detail: format!(
                    "the host failed a file operation of the helper's build ({failure})"
                ),
            });
        }
        if end.env.incomplete {
            *env_complete = false;
            // Built without one of its own requirements: its version or contents may be
            // wrong, so it is not used (nor cached).
            return Err(Error::SetupFailed {
                message: format!(
                    "its own build requirements could not all be provided: {}",
                    end.env.warnings.join("; ")
                ),
                traceback: String::new(),
            });
        }
        let outcome = &end.outcome;
        if outcome.guard.writes_exceeded {
            return Err(Error::limit_exceeded(
                LimitKind::Scratch,
                "the helper's build wrote too much",
            ));
        }
        if outcome.guard.open_files_exceeded {
            return Err(Error::limit_exceeded(
                LimitKind::OpenFiles,
                "the helper's build held too many files open",
            ));
        }
        let stderr = || instance::tail_note(&outcome.stderr.snapshot().0);
        match (end.result, &outcome.ending) {
            (_, Ending::TimedOut) => Err(Error::limit_exceeded(
                LimitKind::Timeout,
                format!(
                    "the helper's build ran past the input's deadline ({:?} for every run of the input together)",
                    self.limits.timeout
                ),
            )),
            (Some(GuestResult::Wheel { filename, bytes }), _) => Ok((filename, bytes)),
            _ if outcome.memory_denied => Err(Error::limit_exceeded(
                LimitKind::Memory,
                "the helper's build needed more memory",
            )),
            (Some(GuestResult::Failure(e)), _) => Err(e),
            (Some(GuestResult::NeedsBuildRequires(reqs)), _) => Err(Error::SetupFailed {
                message: format!("its setup_requires could not be provided: {}", reqs.join(", ")),
                traceback: String::new(),
            }),
            (Some(_), _) => Err(Error::Sandbox {
                detail: "guest protocol: no wheel from the helper's build".to_string(),
            }),
            (None, Ending::Exited(code)) => Err(Error::SetupFailed {
                message: format!("the helper's build exited with status {code}{}", stderr()),
                traceback: String::new(),
            }),
            (None, Ending::Trapped(trap)) => Err(Error::Sandbox {
                detail: format!("the guest trapped: {trap}{}", stderr()),
            }),
        }
    }

    /// Checks the guest's wheel against the sdist it was built from, unpacks it with the
    /// rules for any wheel, and keeps it as `helper-wheels/<key>/` ([`helper_key`]).
    fn keep(
        &self,
        trees: &CacheDir,
        sha: &str,
        sdist: &IndexFile,
        (filename, bytes): (String, Vec<u8>),
    ) -> Result<PathBuf> {
        let parsed = DistFilename::parse(&filename, sdist.filename.project()).map_err(|e| {
            Error::Sandbox {
                detail: format!("the helper's build produced a wheel named {filename:?}: {e}"),
            }
        })?;
        if !pure_for_guest(&parsed) || parsed.version() != sdist.filename.version() {
            return Err(Error::Sandbox {
                detail: format!(
                    "the helper's build produced {filename:?}, not a pure-Python wheel of {} {}",
                    sdist.filename.project(),
                    sdist.filename.version()
                ),
            });
        }
        let io = |e| Error::io(trees.path(), e);
        let download = trees.temp_tree("wheel").map_err(io)?;
        let wheel_path = download.path().join(HELPER_WHEEL);
        std::fs::write(&wheel_path, &bytes).map_err(|e| Error::io(&wheel_path, e))?;
        // The wheel's own METADATA must name the sdist's project and version too, before
        // anything is kept: a wheel refused later must not sit in the cache as complete.
        let (member, text) = archive::read_wheel_metadata(&wheel_path, &Limits::default())?;
        let core = crate::metadata::CoreMetadata::parse(&text, &member)?;
        crate::identity::check(Some(&filename), &[], &core.name, &core.version, &[]).map_err(
            |e| Error::Sandbox {
                detail: format!(
                    "the helper's build produced a wheel whose METADATA disagrees: {e}"
                ),
            },
        )?;
        let staging = trees.temp_tree("unpack").map_err(io)?;
        archive::unpack_to_dir(
            &wheel_path,
            InputKind::Wheel,
            &Limits::default(),
            staging.path(),
        )?;
        std::fs::write(staging.path().join(".complete"), b"")
            .map_err(|e| Error::io(staging.path(), e))?;
        let staged = staging.keep();
        let staged_name = staged
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        // Another process may have finished first; then theirs is used.
        trees
            .rename_dir_unless_exists(&staged_name, sha)
            .map_err(io)?;
        Ok(trees.path().join(sha))
    }
}
