//! The disk the server's copies of distribution files may take (`--max-cache-size`).
//!
//! Every client can ask for any file its upstreams list, and a public index lists
//! terabytes: without a bound, the copies kept to serve files again (and to answer range
//! requests and inspect sdists) fill the disk the host and its other users share. Two
//! rules keep them within the budget:
//!
//! - room is reserved before a transfer writes anything: its listed size (or the largest
//!   file accepted when none is listed), counted with the copies already kept and the
//!   transfers in progress; the least recently used copies are removed to make room;
//! - a transfer that cannot have room is not kept: a streamed file still reaches its
//!   client (the cache is an optimisation), while a copy the server itself needs (a range
//!   request, an sdist to inspect) is refused as a `limit` that may pass.
//!
//! Copies in use (an sdist being inspected, a file about to be opened) are pinned and
//! never removed. The kept copies are counted from the directory itself, so replicas
//! sharing one cache directory see each other's files.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::dist_cache::DistCache;
use crate::error::{Error, Result};
use crate::index::Sha256Hex;
use crate::limits::LimitKind;

use super::access_log::Log;

/// The server's file-cache budget.
pub struct DiskBudget {
    files: DistCache,
    max: u64,
    state: Mutex<State>,
    log: Log,
}

#[derive(Default)]
struct State {
    /// Bytes reserved by transfers in progress.
    reserved: u64,
    /// Copies in use, by `<sha256>/<name>`, with how many users each.
    pinned: HashMap<String, usize>,
}

fn key(sha256: &Sha256Hex, name: &str) -> String {
    format!("{sha256}/{name}")
}

impl DiskBudget {
    /// A budget of `max` bytes for the distribution files under `files`.
    pub fn new(files: DistCache, max: u64, log: Log) -> Arc<Self> {
        Arc::new(Self {
            files,
            max,
            state: Mutex::new(State::default()),
            log,
        })
    }

    /// The budget in bytes.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The room to reserve for a file of `listed` size (as its index states it), at most
    /// `max_file` bytes: the listed size, else a quarter of the budget (an index without
    /// sizes, such as a PEP 503 HTML page, does not get to claim all of it at once).
    pub fn room_for(&self, listed: Option<u64>, max_file: u64) -> u64 {
        listed.unwrap_or(self.max / 4).min(max_file)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is two counters and a map; a panic elsewhere leaves them usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Room for a transfer of at most `bytes`, made by removing the least recently used
    /// copies that are not in use; `None` when even that leaves too little (the rest is
    /// held by transfers in progress or copies in use). Blocking: it reads the directory.
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        if bytes > self.max {
            return None;
        }
        let mut state = self.state();
        let mut copies = self.files.file_copies().unwrap_or_default();
        let mut kept: u64 = copies.iter().map(|c| c.size).sum();
        let fits = |kept: u64, reserved: u64| {
            kept.saturating_add(reserved).saturating_add(bytes) <= self.max
        };
        if !fits(kept, state.reserved) {
            copies.sort_by_key(|c| c.used);
            let (mut removed, mut freed) = (0usize, 0u64);
            for copy in &copies {
                if fits(kept, state.reserved) {
                    break;
                }
                if state.pinned.contains_key(&key(&copy.sha256, &copy.name)) {
                    continue;
                }
                if self.files.remove_copy(copy).is_ok() {
                    kept = kept.saturating_sub(copy.size);
                    removed += 1;
                    freed += copy.size;
                }
            }
            if removed > 0 {
                self.log.event(&format!(
                    "file cache: removed the {removed} least recently used copies ({freed} bytes) to stay within --max-cache-size ({} bytes)",
                    self.max
                ));
            }
        }
        if !fits(kept, state.reserved) {
            return None;
        }
        state.reserved += bytes;
        Some(Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// [`Self::reserve`], or the `limit` error a caller that needs the copy reports.
    pub fn reserve_or_refuse(self: &Arc<Self>, bytes: u64) -> Result<Reservation> {
        self.reserve(bytes).ok_or_else(|| Error::Limit {
            limit: LimitKind::FileCache,
            detail: format!(
                "no room for a {bytes}-byte copy in the server's file cache of {} bytes (transfers in progress and copies in use hold the rest)",
                self.max
            ),
        })
    }

    /// Keeps the copy `name` of the file with `sha256` from being removed while the
    /// returned pin lives.
    pub fn pin(self: &Arc<Self>, sha256: &Sha256Hex, name: &str) -> Pin {
        let key = key(sha256, name);
        *self.state().pinned.entry(key.clone()).or_default() += 1;
        Pin {
            budget: self.clone(),
            key,
        }
    }
}

/// Room held for one transfer; given back when dropped (by then the kept copy, if any,
/// is on disk and counted from there). A transfer writes at most this many bytes.
pub struct Reservation {
    budget: Arc<DiskBudget>,
    bytes: u64,
}

impl Reservation {
    /// The bytes held: the most the transfer may write.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut state = self.budget.state();
        state.reserved = state.reserved.saturating_sub(self.bytes);
    }
}

/// A copy in use: not removed while this lives.
pub struct Pin {
    budget: Arc<DiskBudget>,
    key: String,
}

impl Drop for Pin {
    fn drop(&mut self) {
        let mut state = self.budget.state();
        if let Some(n) = state.pinned.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                state.pinned.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn put(files: &DistCache, byte: u8, size: usize, age_secs: u64) -> (Sha256Hex, String) {
        let bytes = vec![byte; size];
        let sha = Sha256Hex::of(&bytes);
        let name = format!("p{byte}-1.0.tar.gz");
        let dir = files.file_dir(&sha).unwrap();
        dir.write_atomic(&name, &bytes).unwrap();
        let file = dir.open(&name).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age_secs))
            .unwrap();
        (sha, name)
    }

    fn budget(max: u64) -> (tempfile::TempDir, Arc<DiskBudget>) {
        let root = tempfile::tempdir().unwrap();
        let files = DistCache::new(root.path());
        (root, DiskBudget::new(files, max, Log::to(|_| {})))
    }

    #[test]
    fn least_recently_used_copies_go_first_and_pinned_ones_stay() {
        let (root, budget) = budget(300);
        let files = DistCache::new(root.path());
        let (old_sha, old) = put(&files, 1, 100, 300);
        let (pinned_sha, pinned) = put(&files, 2, 100, 200);
        let (new_sha, new) = put(&files, 3, 100, 100);
        let _pin = budget.pin(&pinned_sha, &pinned);
        let room = budget.reserve(150).expect("room after removing two copies");
        let left: Vec<String> = files
            .file_copies()
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert!(!left.contains(&old), "{left:?}");
        assert!(left.contains(&pinned), "a pinned copy stays: {left:?}");
        assert!(!left.contains(&new), "{left:?}");
        let _ = (old_sha, new_sha);
        // The reservation itself counts: nothing more fits until it is given back.
        assert!(budget.reserve(100).is_none());
        drop(room);
        assert!(budget.reserve(100).is_some());
    }

    #[test]
    fn a_transfer_larger_than_the_budget_is_refused_as_a_limit() {
        let (_root, budget) = budget(10);
        assert!(budget.reserve(11).is_none());
        match budget.reserve_or_refuse(11) {
            Err(Error::Limit {
                limit: LimitKind::FileCache,
                ..
            }) => {}
            other => panic!("{:?}", other.err()),
        }
    }
}
