//! What the host keeps of one guest run's event channel: a bounded aggregation, fed call
//! by call by the sandbox's WASI guard.
//!
//! Every record is rated the moment it arrives, so the verdict counts all of them; what
//! is bounded is what is *kept*: at most [`MAX_GROUPS`] distinct event groups per run,
//! each with its count. Events past that are counted with the worst severity among them
//! and reported as one `observer`/`overflow` line, so a flood of noise can neither blow
//! up the output nor push a suspicious event out of the verdict.

use std::collections::HashMap;

use super::model::Severity;
use super::record::{self, Fact, Record};
use super::rules::{self, Rating};

/// Distinct event groups kept per run (and per input).
pub const MAX_GROUPS: usize = 200;

/// One group of identical facts.
#[derive(Debug, Clone)]
pub struct Group {
    /// The fact.
    pub fact: Fact,
    /// How many times it was seen.
    pub count: u64,
    /// How the rules rate it.
    pub rating: Rating,
}

/// Events rated but not listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unlisted {
    /// How many.
    pub events: u64,
    /// The worst severity among them (it counts in the verdict).
    pub worst: Severity,
}

impl Unlisted {
    pub(super) fn add(&mut self, count: u64, severity: Severity) {
        self.events = self.events.saturating_add(count);
        self.worst = self.worst.max(severity);
    }
}

/// Groups with an index, bounded.
#[derive(Debug, Clone, Default)]
pub(super) struct Groups {
    pub list: Vec<Group>,
    index: HashMap<Fact, usize>,
    pub unlisted: Unlisted,
}

impl Groups {
    /// Adds `count` occurrences; `merge_max` keeps the larger count instead of summing
    /// (the same event seen again in a retry of the same build is the same event).
    pub fn add(&mut self, fact: Fact, rating: Rating, count: u64, merge_max: bool) {
        if let Some(&i) = self.index.get(&fact) {
            let group = &mut self.list[i];
            group.count = if merge_max {
                group.count.max(count)
            } else {
                group.count.saturating_add(count)
            };
            return;
        }
        if self.list.len() >= MAX_GROUPS {
            self.unlisted.add(count, rating.severity);
            return;
        }
        self.index.insert(fact.clone(), self.list.len());
        self.list.push(Group {
            fact,
            count,
            rating,
        });
    }
}

/// One run's capture.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub(super) groups: Groups,
    /// Times the observer said it is running (the driver sends it before any sdist code).
    pub(super) ready: u64,
    /// Records received, and their bytes.
    records: u64,
    bytes: u64,
}

impl Recorder {
    /// One `fd_write` on the event channel (at most [`record::MAX_RECORD`] bytes).
    pub fn capture(&mut self, bytes: &[u8]) {
        self.records = self.records.saturating_add(1);
        self.bytes = self.bytes.saturating_add(bytes.len() as u64);
        match record::parse(bytes) {
            Record::Ready => self.ready = self.ready.saturating_add(1),
            Record::Fact(fact) => self.add(fact),
        }
    }

    /// A write on the event channel too large to be one of the observer's records; it is
    /// not read.
    pub fn oversized(&mut self, len: u64) {
        self.records = self.records.saturating_add(1);
        self.bytes = self.bytes.saturating_add(len);
        let mut fact = record::channel_tamper(&format!("a {len}-byte write"));
        fact.action = "forged-record";
        fact.refused = false;
        self.add(fact);
    }

    /// Something the host itself saw the guest do to the event channel (closing,
    /// renumbering, seeking it): refused, and recorded.
    pub fn channel_tamper(&mut self, what: &str) {
        self.add(record::channel_tamper(what));
    }

    /// Records received and their total size.
    pub fn volume(&self) -> (u64, u64) {
        (self.records, self.bytes)
    }

    /// The worst severity seen so far (listed or not).
    pub fn worst(&self) -> Severity {
        self.groups
            .list
            .iter()
            .map(|g| g.rating.severity)
            .chain([self.groups.unlisted.worst])
            .max()
            .unwrap_or_default()
    }

    fn add(&mut self, fact: Fact) {
        if let Some(rating) = rules::rate(&fact) {
            self.groups.add(fact, rating, 1, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_bounded_and_cannot_hide_the_verdict() {
        let mut r = Recorder::default();
        r.capture(br#"{"e":"sdistill.ready"}"#);
        for i in 0..10_000 {
            r.capture(format!(r#"{{"e":"open","t":"/etc/noise{i}","b":"s"}}"#).as_bytes());
        }
        // The one that matters arrives last, after the group list is full.
        r.capture(br#"{"e":"socket.getaddrinfo","t":"evil.example","b":"s"}"#);
        assert_eq!(r.groups.list.len(), MAX_GROUPS);
        assert_eq!(r.groups.unlisted.events, 10_001 - MAX_GROUPS as u64);
        assert_eq!(r.groups.unlisted.worst, Severity::Suspicious);
        assert_eq!(r.worst(), Severity::Suspicious);
        assert_eq!(r.ready, 1);
        assert_eq!(r.volume().0, 10_002);
    }

    #[test]
    fn repeats_are_counted_in_one_group() {
        let mut r = Recorder::default();
        for _ in 0..3 {
            r.capture(br#"{"e":"sdistill.environ.get","t":"CC","b":"s","l":"setup.py:4"}"#);
        }
        assert_eq!(r.groups.list.len(), 1);
        assert_eq!(r.groups.list[0].count, 3);
        r.oversized(1 << 20);
        r.channel_tamper("fd_close");
        assert_eq!(r.worst(), Severity::Suspicious);
    }
}
