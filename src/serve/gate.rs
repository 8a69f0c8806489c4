//! What an sdist's answer must pass before the server hands out its metadata (and its
//! bytes).
//!
//! Today the only condition is that sdistill produced an answer at all; a failed
//! inspection never reaches here. This is the seam for the behaviour report: when
//! `inspect` records what an sdist's build code tried (`--fail-on suspicious`), its verdict
//! is checked here, and a refusal is served like any other — a status every client stops
//! on, naming the file and the reason ([`super::refusal`]). Nothing else in the server
//! needs to change.

use crate::inspect::Metadata;

/// The conditions an answer must meet. `Default` serves every answer sdistill produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gate {}

/// Why the gate held an answer back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// A stable machine-readable kind (`suspicious`, ...), used in the error header.
    pub kind: &'static str,
    /// What the build did that the gate refuses, for people.
    pub reason: String,
}

impl Gate {
    /// Checks one answer (computed now or read from the metadata cache) and its warnings.
    pub fn check(&self, metadata: &Metadata, warnings: &[String]) -> Result<(), Held> {
        // The behaviour report's verdict (when it lands) is checked here.
        let _ = (metadata, warnings);
        Ok(())
    }
}
