//! `--observe`: the build itself (`bdist_wheel` then `install` into a private root for
//! setup.py, a PEP 517 backend's `build_wheel` otherwise), run in the sandbox only to be
//! observed.
//!
//! A malicious `setup.py` usually keeps its payload where metadata does not reach it: in
//! `cmdclass={"install": ...}`, in `build_ext`, in a backend's `build_wheel`. This runs
//! that code with the same WASI world, limits and deadline as the metadata step. Its
//! result is never an answer; how it ended (built, a compiler the sandbox lacks, a
//! failure, the deadline, a limit) becomes a `build` event, because what the build would
//! have done after that point was not observed. The guest adds bait here that the metadata
//! step never has (an HTTP client and TLS, threads and fork, and on a Windows target its
//! environment and a registry): nothing of this run reaches an answer.
//!
//! Without `--observe`, one such run also follows a metadata step whose code reached for
//! an HTTP client library the guest does not have (`import requests` in `setup.py`): the
//! same step again, with a stand-in for it, shows what the code would have sent. Honest
//! builds almost never import one, so the default path pays for it only then.

use std::path::Path;
use std::time::Instant;

use super::build::{Budget, PhaseEnd};
use super::guest::{GuestResult, Phase, Target};
use super::instance::{self, Ending};
use super::{native_backend, Sandbox};
use crate::limits::Limits;
use crate::observe::Observation;
use crate::static_meta::StaticFindings;

impl Sandbox {
    /// After the metadata step (or in its place, when the metadata is static): with
    /// `build`, the build itself (`--observe`); otherwise, when the metadata step's code
    /// reached for a network module the guest lacks, that step again with bait. Records in
    /// `seen` what the code tried and, for the build, how it ended. Never fails the input:
    /// whatever stops the build is itself a `build` event.
    #[allow(clippy::too_many_arguments)]
    pub fn observe_further(
        &self,
        root: &Path,
        findings: &StaticFindings,
        limits: &Limits,
        work_dir: &Path,
        target: Target,
        deadline: Instant,
        build: bool,
        seen: &mut Observation,
    ) {
        let phase = match (build, seen.wants_bait()) {
            (true, _) => Phase::Build,
            (false, true) => Phase::Bait,
            (false, false) => return,
        };
        if let Some(why) = findings.build.backend.as_deref().and_then(native_backend) {
            if build {
                seen.build_outcome("failed", why);
            }
            return;
        }
        if Instant::now() >= deadline {
            if build {
                seen.build_outcome(
                    "timeout",
                    "no time was left for the build after the metadata step",
                );
            }
            return;
        }
        let mut deadline = Budget::new(deadline);
        let end = self.run_phase(
            root,
            findings,
            limits,
            work_dir,
            (target, phase),
            &mut deadline,
            seen,
        );
        match end {
            Ok(end) if build => Self::build_ended(end, limits, seen),
            Err(e) if build => {
                seen.build_outcome("failed", &format!("the build could not run: {e}"))
            }
            _ => {} // the bait run's result is never an answer, nor news
        }
    }

    /// How the `--observe` build ended, as a `build` event when it did not succeed.
    fn build_ended(end: PhaseEnd, limits: &Limits, seen: &mut Observation) {
        let PhaseEnd {
            result, outcome, ..
        } = end;
        let guard = &outcome.guard;
        let stderr = || instance::tail_note(&outcome.stderr.snapshot().0);
        match (result, &outcome.ending) {
            (_, Ending::TimedOut) => seen.build_outcome(
                "timeout",
                &format!("the build ran longer than {:?}", limits.timeout),
            ),
            _ if guard.writes_exceeded || guard.open_files_exceeded || outcome.memory_denied => {
                let which = if guard.writes_exceeded {
                    "--max-scratch"
                } else if guard.open_files_exceeded {
                    "--max-open-files"
                } else {
                    "--memory-limit"
                };
                seen.build_outcome("limit", &format!("the build hit {which}"))
            }
            (Some(GuestResult::Built(b)), _) => match b.outcome.as_str() {
                "built" => {}
                "no-compiler" => seen.build_outcome("no-compiler", &b.message),
                _ if b.message.starts_with("the build exited with status") => {
                    // What it printed says why (pg_config not found, ...).
                    seen.build_outcome("failed", &format!("{}{}", b.message, stderr()))
                }
                _ => seen.build_outcome("failed", &b.message),
            },
            (Some(GuestResult::Failure(e) | GuestResult::NeedsFallback { failure: e, .. }), _) => {
                seen.build_outcome("failed", &e.to_string())
            }
            (Some(GuestResult::NeedsBuildRequires(reqs)), _) => seen.build_outcome(
                "failed",
                &format!("setup_requires could not be provided: {}", reqs.join(", ")),
            ),
            (Some(GuestResult::Metadata { .. } | GuestResult::Wheel { .. }), _) => seen
                .build_outcome(
                    "failed",
                    "the driver answered something else in the build step",
                ),
            (None, Ending::Exited(code)) => seen.build_outcome(
                "failed",
                &format!("the build exited with status {code}{}", stderr()),
            ),
            (None, Ending::Trapped(trap)) => {
                seen.build_outcome("failed", &format!("the guest trapped: {trap}{}", stderr()))
            }
        }
    }
}
