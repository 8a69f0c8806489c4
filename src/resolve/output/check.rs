//! `--check`: is the committed lock still what a fresh lock would write?
//!
//! Both sides are compared as [`LockSummary`] values read by the same format's reader
//! (the existing file, and the text a fresh lock renders), so a difference is always in
//! what an installer would act on: a pin added or removed, a version, extras, marker or
//! URL changed, a hash added or dropped. Comments — the header with its command line,
//! `# via` lines — are not part of the comparison, so running `--check` with other flags
//! than the original command, or from another directory, does not make a lock stale.

use std::collections::BTreeSet;
use std::fmt;

use super::{LockSummary, PinSummary};

/// One difference between the existing lock and a fresh one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A pin the fresh lock has and the existing one lacks.
    Added(String, PinSummary),
    /// A pin the existing lock has and the fresh one does not.
    Removed(String, PinSummary),
    /// A pin in both whose version, extras, marker or URL differ.
    Changed {
        /// The project.
        name: String,
        /// As the existing lock states it.
        old: PinSummary,
        /// As a fresh lock states it.
        new: PinSummary,
    },
    /// The same pin with other hashes (files added to or removed from the index).
    Hashes {
        /// The project.
        name: String,
        /// Its version.
        version: String,
        /// Hashes only the fresh lock has.
        added: Vec<String>,
        /// Hashes only the existing lock has.
        removed: Vec<String>,
    },
}

/// Every difference from `old` (the existing file) to `new` (a fresh lock), by name.
pub fn diff(old: &LockSummary, new: &LockSummary) -> Vec<Change> {
    let names: BTreeSet<&String> = old.pins.keys().chain(new.pins.keys()).collect();
    let mut changes = Vec::new();
    for name in names {
        match (old.pins.get(name), new.pins.get(name)) {
            (None, Some(n)) => changes.push(Change::Added(name.clone(), n.clone())),
            (Some(o), None) => changes.push(Change::Removed(name.clone(), o.clone())),
            (Some(o), Some(n)) => {
                let same_pin = o.version == n.version
                    && o.extras == n.extras
                    && o.marker == n.marker
                    && o.url == n.url;
                if !same_pin {
                    changes.push(Change::Changed {
                        name: name.clone(),
                        old: o.clone(),
                        new: n.clone(),
                    });
                } else if o.hashes != n.hashes {
                    changes.push(Change::Hashes {
                        name: name.clone(),
                        version: n.version.clone(),
                        added: n.hashes.difference(&o.hashes).cloned().collect(),
                        removed: o.hashes.difference(&n.hashes).cloned().collect(),
                    });
                }
            }
            (None, None) => {}
        }
    }
    changes
}

/// `name[extras]==version ; marker` (or `@ url`), as a reader would write the pin.
fn pin(key: &str, p: &PinSummary) -> String {
    let name = if p.name.is_empty() { key } else { &p.name };
    let mut out = crate::metadata::normalize_name(name);
    if !p.extras.is_empty() {
        let extras: Vec<&str> = p.extras.iter().map(String::as_str).collect();
        out.push_str(&format!("[{}]", extras.join(",")));
    }
    match &p.url {
        Some(url) => out.push_str(&format!(" @ {url}")),
        None => out.push_str(&format!("=={}", p.version)),
    }
    if let Some(m) = &p.marker {
        out.push_str(&format!(" ; {m}"));
    }
    out
}

impl fmt::Display for Change {
    /// One line per change: `+ added`, `- removed`, `~ changed (old -> new)`, and
    /// `~ name==1.0: hashes +a... -b...` with each digest shortened to 16 digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |h: &String| format!("{}...", &h[..h.len().min(16)]);
        match self {
            Change::Added(name, p) => write!(f, "+ {}", pin(name, p)),
            Change::Removed(name, p) => write!(f, "- {}", pin(name, p)),
            Change::Changed { name, old, new } => {
                write!(f, "~ {} -> {}", pin(name, old), pin(name, new))
            }
            Change::Hashes {
                name,
                version,
                added,
                removed,
            } => {
                write!(f, "~ {name}=={version}: hashes changed")?;
                for h in added {
                    write!(f, " +{}", short(h))?;
                }
                for h in removed {
                    write!(f, " -{}", short(h))?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(version: &str, hashes: &[&str]) -> PinSummary {
        PinSummary {
            version: version.to_string(),
            hashes: hashes.iter().map(|h| h.to_string()).collect(),
            ..PinSummary::default()
        }
    }

    #[test]
    fn every_kind_of_change_is_named() {
        let mut old = LockSummary::default();
        old.pins.insert("same".into(), pin("1.0", &["aa"]));
        old.pins.insert("gone".into(), pin("1.0", &["bb"]));
        old.pins.insert("moved".into(), pin("1.0", &["cc"]));
        old.pins
            .insert("rehashed".into(), pin("2.0", &["dd", "ee"]));
        let mut new = old.clone();
        new.pins.remove("gone");
        new.pins.insert("fresh".into(), pin("3.0", &["ff"]));
        new.pins.insert("moved".into(), pin("1.1", &["c1"]));
        new.pins
            .insert("rehashed".into(), pin("2.0", &["dd", "ef"]));
        let lines: Vec<String> = diff(&old, &new).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "+ fresh==3.0",
                "- gone==1.0",
                "~ moved==1.0 -> moved==1.1",
                "~ rehashed==2.0: hashes changed +ef... -ee...",
            ]
        );
        assert!(diff(&old, &old).is_empty());
    }
}
