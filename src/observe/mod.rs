//! The behaviour report: what an sdist's build code tried to do inside the sandbox, and a
//! verdict.
//!
//! | module | job |
//! |---|---|
//! | [`model`] | the report's types: categories, severities, events, the behaviour |
//! | [`record`] | one captured record → a fact (the guest's raw observation, normalized) |
//! | [`rules`] | the one table that rates facts: `notice`, `suspicious`, or ignored |
//! | [`patterns`] | the word lists the rules match (secret paths, commands, names) |
//! | [`recorder`] | one run's capture, bounded, fed by the sandbox's WASI guard |
//! | [`provenance`] | whether run-time code is text of the sdist's own files |
//! | [`text`] | the report as lines for people |
//!
//! How an event gets here, and why the sdist cannot make the report cleaner:
//!
//! 1. `python-wasm/observe.py` installs a PEP 578 audit hook before any sdist code runs
//!    (in the interpreter snapshot too, so every resumed run has it). Audit hooks cannot
//!    be removed. The hook holds no mutable state and looks up no global name: everything
//!    it calls is bound when it is installed, and what could rebind it (assigning its
//!    `__code__` or `__defaults__`, `gc.get_objects`, `sys.settrace`...) raises audit
//!    events of its own, which the hook refuses and records first.
//! 2. The hook writes each event at once as one JSON record in one `fd_write` on
//!    [`EVENT_FD`], a descriptor that exists only in the host's WASI guard
//!    (`sandbox::guard`; the observer gets it by opening [`EVENT_PATH`] once). The guard copies the bytes of every such call into a
//!    [`recorder::Recorder`] and nowhere else; closing, renumbering, seeking or
//!    truncating that descriptor is refused and recorded by the host itself. The sdist
//!    can write records of its own (noise, only ever more events), but it cannot take back
//!    or rewrite a record once written: the host has it.
//! 3. The host rates every record as it arrives ([`rules`]) and computes the verdict
//!    itself; nothing of the verdict is read from the guest.

pub mod model;
pub mod patterns;
pub mod provenance;
pub mod record;
pub mod recorder;
pub mod rules;
pub mod text;

use std::path::Path;
use std::time::SystemTime;

pub use model::{Behaviour, Category, Event, Scope, Severity};
pub use recorder::Recorder;

use record::{Fact, Provenance, Who};
use recorder::{Groups, Unlisted};

/// The host descriptor number of the event channel. It is never a real descriptor: the
/// WASI guard answers every call on it, and wasmtime allocates descriptors from the
/// lowest free number, far below it.
pub const EVENT_FD: u32 = 0x5D15_0B5E;

/// The name the observer opens (in `/out`) to get the event channel; the guard answers
/// that `path_open` with [`EVENT_FD`] once per interpreter start. Must equal the path in
/// `python-wasm/observe.py`.
pub const EVENT_PATH: &str = ".sdistill-events";

/// What one input's runs showed, merged: the same event seen again in a retry of the
/// same build counts once.
pub struct Observation {
    scope: Scope,
    groups: Groups,
    runs: u32,
    silent_runs: u32,
    cutoff: SystemTime,
}

impl Observation {
    /// An observation starting now: files of the tree changed from now on are not the
    /// sdist's (see [`provenance`]).
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            groups: Groups::default(),
            runs: 0,
            silent_runs: 0,
            cutoff: SystemTime::now(),
        }
    }

    /// Whether any run was absorbed (build code ran).
    pub fn ran(&self) -> bool {
        self.runs > 0
    }

    /// Whether the sdist's code reached for an HTTP client library (which the guest has
    /// only if it is a build requirement): then a run with a stand-in for it shows what
    /// the code would send.
    pub fn wants_bait(&self) -> bool {
        self.groups.list.iter().any(|g| {
            g.fact.category == Category::Network
                && g.fact.action == "import"
                && g.fact.who.is_build_code()
                && patterns::BAITED_MODULES
                    .contains(&g.fact.target.split('.').next().unwrap_or_default())
        })
    }

    /// Adds one run's capture; `tree` is the unpacked sdist the run saw as `/sdist`.
    pub fn absorb(&mut self, run: Recorder, tree: &Path) {
        self.runs += 1;
        if run.ready == 0 {
            self.silent_runs += 1;
        }
        let Groups { list, unlisted, .. } = run.groups;
        self.groups.unlisted.add(unlisted.events, unlisted.worst);
        let pending: Vec<&record::SourceDigest> = list
            .iter()
            .filter_map(|g| match &g.fact.provenance {
                Provenance::Pending(code) => Some(code),
                _ => None,
            })
            .collect();
        let found = provenance::Tree::new(tree, self.cutoff).find_all(&pending);
        let mut found = found.into_iter();
        for mut group in list {
            if matches!(group.fact.provenance, Provenance::Pending(_)) {
                match found.next().flatten() {
                    Some(file) => {
                        group.fact.target = format!("{} (text of {file})", group.fact.target);
                        group.fact.provenance = Provenance::Found(file);
                    }
                    None => group.fact.provenance = Provenance::NotFound,
                }
                match rules::rate(&group.fact) {
                    Some(rating) => group.rating = rating,
                    None => continue,
                }
            }
            self.groups.add(group.fact, group.rating, group.count, true);
        }
    }

    /// Records how the `--observe` build ended when it did not succeed (`no-compiler`,
    /// `failed`, `timeout`, `limit`) with a short detail.
    pub fn build_outcome(&mut self, action: &'static str, detail: &str) {
        let fact = Fact {
            category: Category::Build,
            action,
            target: record::cut(detail.trim(), 300),
            subject: String::new(),
            who: Who::Driver,
            location: None,
            refused: false,
            provenance: Provenance::NotApplicable,
        };
        if let Some(rating) = rules::rate(&fact) {
            self.groups.add(fact, rating, 1, true);
        }
    }

    /// The report; `None` when no build code ran and there is nothing to say (an
    /// `--observe` build that could not start at all says why).
    pub fn finish(mut self) -> Option<Behaviour> {
        if self.runs == 0 && self.groups.list.is_empty() {
            return None;
        }
        if self.silent_runs > 0 {
            self.add_observer(
                "not-running",
                format!("{} of {} runs", self.silent_runs, self.runs),
                1,
                Severity::Notice,
            );
        }
        let Unlisted { events, worst } = self.groups.unlisted;
        let mut list = std::mem::take(&mut self.groups.list);
        fold_enumerations(&mut list);
        if events > 0 {
            let fact = observer_fact("overflow", format!("{events} more events not listed"));
            let severity = worst.max(Severity::Notice);
            if let Some(mut rating) = rules::rate(&fact) {
                rating.severity = severity;
                list.push(recorder::Group {
                    fact,
                    count: events,
                    rating,
                });
            }
        }
        list.sort_by_key(|g| std::cmp::Reverse(g.rating.severity));
        let events: Vec<Event> = list
            .into_iter()
            .map(|g| Event {
                category: g.rating.category,
                action: g.fact.action.to_string(),
                target: g.fact.target,
                count: g.count,
                severity: g.rating.severity,
                location: g.fact.location,
                reason: g.rating.why.to_string(),
            })
            .collect();
        let verdict = events
            .iter()
            .map(|e| e.severity)
            .max()
            .unwrap_or(Severity::Clean);
        Some(Behaviour {
            verdict,
            scope: self.scope,
            events,
        })
    }

    fn add_observer(&mut self, action: &'static str, target: String, count: u64, at: Severity) {
        let fact = observer_fact(action, target);
        if let Some(mut rating) = rules::rate(&fact) {
            rating.severity = rating.severity.max(at);
            self.groups.add(fact, rating, count, true);
        }
    }
}

/// `dict(os.environ)` reads every variable after listing them: those reads are the
/// enumeration, not news of their own. Reads at the location of an enumeration are
/// dropped unless a rule found them worse than a notice.
fn fold_enumerations(list: &mut Vec<recorder::Group>) {
    let places: Vec<Option<String>> = list
        .iter()
        .filter(|g| g.fact.category == Category::Environment && g.fact.action == "enumerate")
        .map(|g| g.fact.location.clone())
        .collect();
    list.retain(|g| {
        !(g.fact.category == Category::Environment
            && g.fact.action == "read"
            && g.rating.severity == Severity::Notice
            && places.contains(&g.fact.location))
    });
}

fn observer_fact(action: &'static str, target: String) -> Fact {
    Fact {
        category: Category::Observer,
        action,
        target,
        subject: String::new(),
        who: Who::Driver,
        location: None,
        refused: false,
        provenance: Provenance::NotApplicable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_and_provenance_decides_decoded_code() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("version.py"), "__version__ = '2.0'\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut seen = Observation::new(Scope::Metadata);
        let code = |text: &str| {
            use sha2::Digest;
            format!(
                r#"{{"e":"compile","x":{},"h":"{}","n":{},"b":"s","l":"setup.py:3"}}"#,
                serde_json::json!(text),
                hex::encode(sha2::Sha256::digest(text.as_bytes())),
                text.len()
            )
        };
        for _ in 0..2 {
            let mut run = Recorder::default();
            run.capture(br#"{"e":"sdistill.ready"}"#);
            run.capture(code("__version__ = '2.0'").as_bytes());
            run.capture(br#"{"e":"sdistill.environ.get","t":"CC","b":"s"}"#);
            seen.absorb(run, dir.path());
        }
        let b = seen.finish().unwrap();
        assert_eq!(b.verdict, Severity::Notice);
        assert_eq!(b.events.len(), 2, "{b:?}");
        assert!(b.events.iter().all(|e| e.count == 1));
        assert!(b.events[0].target.contains("(text of version.py)"));

        let mut seen = Observation::new(Scope::Build);
        let mut run = Recorder::default();
        run.capture(br#"{"e":"sdistill.ready"}"#);
        run.capture(code("import os; os.system('id')").as_bytes());
        seen.absorb(run, dir.path());
        seen.build_outcome("no-compiler", "error: command 'gcc' failed");
        let b = seen.finish().unwrap();
        assert_eq!(b.verdict, Severity::Suspicious);
        assert_eq!(b.events[0].category, Category::DynamicCode);
        assert_eq!(b.events[1].category, Category::Build);
    }

    #[test]
    fn nothing_ran_is_null_and_a_silent_run_is_said() {
        assert!(Observation::new(Scope::Metadata).finish().is_none());
        let mut seen = Observation::new(Scope::Metadata);
        seen.absorb(Recorder::default(), Path::new("/nonexistent"));
        let b = seen.finish().unwrap();
        assert_eq!(b.verdict, Severity::Notice);
        assert_eq!(b.events[0].action, "not-running");
    }
}
