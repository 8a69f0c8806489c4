//! What an sdist's answer must pass before the server hands out its metadata (and its
//! bytes).
//!
//! Without `--fail-on`, every answer sdistill produced is served (a failed inspection
//! never reaches here). With `--fail-on suspicious` (or `notice`), an sdist whose build
//! code reached that level in the behaviour report ([`crate::observe`]) — computed now or
//! read back from the metadata cache, where the report is stored with the answer — is
//! held back: the refusal is served like any other, a status every client stops on,
//! naming the file and what the build code tried ([`super::refusal`]). A client then
//! never resolves (nor downloads) a package whose build code tried to phone home.

use crate::inspect::Metadata;
use crate::observe::{Behaviour, Severity};

/// The conditions an answer must meet. `Default` serves every answer sdistill produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gate {
    /// Hold back answers whose build code reached this behaviour level.
    pub fail_on: Option<Severity>,
}

/// Why the gate held an answer back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// A stable machine-readable kind (`suspicious`, ...), used in the error header.
    pub kind: &'static str,
    /// What the build did that the gate refuses, for people.
    pub reason: String,
}

/// Events named in a refusal's reason (the status line must stay short).
const NAMED_EVENTS: usize = 3;

impl Gate {
    /// Checks one answer (computed now or read from the metadata cache), its warnings
    /// and what its build code tried.
    pub fn check(
        &self,
        metadata: &Metadata,
        warnings: &[String],
        behaviour: Option<&Behaviour>,
    ) -> Result<(), Held> {
        let _ = (metadata, warnings);
        let (Some(level), Some(seen)) = (self.fail_on, behaviour) else {
            return Ok(());
        };
        if !seen.reaches(level) {
            return Ok(());
        }
        let named: Vec<String> = seen
            .events
            .iter()
            .filter(|e| e.severity >= level)
            .take(NAMED_EVENTS)
            .map(|e| {
                let at = e.location.as_deref().unwrap_or("build code");
                format!(
                    "{} {} `{}` at {at}",
                    e.category.as_str(),
                    e.action,
                    e.target
                )
            })
            .collect();
        Err(Held {
            kind: seen.verdict.as_str(),
            reason: format!(
                "its build code's behaviour is {} (--fail-on {}): {}",
                seen.verdict.as_str(),
                level.as_str(),
                named.join("; ")
            ),
        })
    }
}
