//! The disk the server's copies of distribution files may take (`--max-cache-size`).
//!
//! Every client can ask for any file its upstreams list, and a public index lists
//! terabytes: without a bound, the copies kept to serve files again (and to answer range
//! requests and inspect sdists) fill the disk the host and its other users share. Three
//! rules keep them within the budget:
//!
//! - room is reserved before a transfer writes anything: its listed size, counted with
//!   the copies already kept and the transfers in progress; a transfer whose size is not
//!   listed (a PEP 503 HTML upstream) reserves a step at a time as its bytes arrive, so it
//!   claims only what it writes. The least recently used copies are removed to make room,
//!   but only once the copies that may go are known to free enough: a reservation that
//!   cannot succeed removes nothing;
//! - a transfer that cannot have room is not kept: a streamed file still reaches its
//!   client (the cache is an optimisation), while a copy the server itself needs (a range
//!   request, an sdist to inspect) is refused as a `limit` that may pass;
//! - copies in use (an sdist being inspected, a file being streamed to a client) are
//!   pinned and never removed, so no removed-but-still-open copy takes disk the budget
//!   does not see. A stream ends when its client stops reading for `--send-timeout`
//!   ([`super::server`]), so a pin cannot be held forever.
//!
//! The kept copies are known from an in-memory index (size and last use of each), built
//! from the directory on first use and rebuilt every [`RESCAN`] — replicas sharing one
//! cache directory see each other's files then — so a reservation costs no directory scan.
//! The lock guarding the index is never held across file I/O: copies are removed after
//! it is released.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::dist_cache::{DistCache, FileCopy};
use crate::error::{Error, Result};
use crate::index::Sha256Hex;
use crate::limits::LimitKind;

use super::access_log::Log;

/// How often the index of kept copies is rebuilt from the directory: other processes
/// sharing the cache directory add and remove copies the index does not hear of.
pub const RESCAN: Duration = Duration::from_secs(60);

/// The step a reservation for a file of unknown size grows by.
pub const GROWTH: u64 = 1024 * 1024;

/// The server's file-cache budget.
pub struct DiskBudget {
    files: DistCache,
    max: u64,
    state: Mutex<State>,
    /// Held by the one thread rebuilding the index (outside `state`'s lock).
    scanning: Mutex<()>,
    log: Log,
}

/// One kept copy, as the index knows it.
#[derive(Debug, Clone)]
struct Copy {
    sha256: Sha256Hex,
    name: String,
    size: u64,
    used: SystemTime,
    /// When this process added it (a rebuild keeps copies added while it scanned).
    noted: Instant,
}

#[derive(Default)]
struct State {
    /// Kept copies by `<sha256>/<name>`.
    copies: HashMap<String, Copy>,
    /// The same copies, least recently used first.
    order: BTreeSet<(SystemTime, String)>,
    /// Bytes of all kept copies.
    kept: u64,
    /// Bytes reserved by transfers in progress.
    reserved: u64,
    /// Copies in use, by `<sha256>/<name>`, with how many users each.
    pinned: HashMap<String, usize>,
    /// When the index was last rebuilt from the directory.
    scanned: Option<Instant>,
}

fn key(sha256: &Sha256Hex, name: &str) -> String {
    format!("{sha256}/{name}")
}

impl State {
    fn insert(&mut self, copy: Copy) {
        let k = key(&copy.sha256, &copy.name);
        self.remove(&k);
        self.kept = self.kept.saturating_add(copy.size);
        self.order.insert((copy.used, k.clone()));
        self.copies.insert(k, copy);
    }

    fn remove(&mut self, k: &str) -> Option<Copy> {
        let old = self.copies.remove(k)?;
        self.order.remove(&(old.used, k.to_string()));
        self.kept = self.kept.saturating_sub(old.size);
        Some(old)
    }

    /// The least recently used unpinned copies whose removal makes room for `bytes` more
    /// within `max`, taken out of the index; `None` (and nothing taken) when even all of
    /// them would not be enough.
    fn make_room(&mut self, max: u64, bytes: u64) -> Option<Vec<Copy>> {
        let total = self
            .kept
            .saturating_add(self.reserved)
            .saturating_add(bytes);
        let need = total.saturating_sub(max);
        if need == 0 {
            return Some(Vec::new());
        }
        let mut chosen = Vec::new();
        let mut freed = 0u64;
        for (_, k) in &self.order {
            if freed >= need {
                break;
            }
            if self.pinned.contains_key(k) {
                continue;
            }
            if let Some(copy) = self.copies.get(k) {
                freed = freed.saturating_add(copy.size);
                chosen.push(k.clone());
            }
        }
        if freed < need {
            return None;
        }
        Some(chosen.iter().filter_map(|k| self.remove(k)).collect())
    }
}

impl DiskBudget {
    /// A budget of `max` bytes for the distribution files under `files`.
    pub fn new(files: DistCache, max: u64, log: Log) -> Arc<Self> {
        Arc::new(Self {
            files,
            max,
            state: Mutex::new(State::default()),
            scanning: Mutex::new(()),
            log,
        })
    }

    /// The budget in bytes.
    pub fn max(&self) -> u64 {
        self.max
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is counters and maps kept consistent by each method before it
        // unlocks; a panic elsewhere leaves them usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rebuilds the index from the directory when it was never built or is older than
    /// [`RESCAN`]. The scan runs outside the state's lock; while one thread scans, the
    /// others go on with the index they have (or wait for the first one).
    fn refresh_if_due(&self) {
        let due = |s: &State| s.scanned.is_none_or(|t| t.elapsed() >= RESCAN);
        let never = {
            let s = self.state();
            if !due(&s) {
                return;
            }
            s.scanned.is_none()
        };
        let _scanning = if never {
            self.scanning.lock().unwrap_or_else(|p| p.into_inner())
        } else {
            match self.scanning.try_lock() {
                Ok(g) => g,
                Err(_) => return,
            }
        };
        if !due(&self.state()) {
            return;
        }
        let started = Instant::now();
        let found = self.files.file_copies().unwrap_or_default();
        let mut s = self.state();
        // Copies this process kept while the scan ran may be missing from it.
        let recent: Vec<Copy> = s
            .copies
            .values()
            .filter(|c| c.noted >= started)
            .cloned()
            .collect();
        s.copies.clear();
        s.order.clear();
        s.kept = 0;
        for c in found {
            s.insert(Copy {
                sha256: c.sha256,
                name: c.name,
                size: c.size,
                used: c.used,
                noted: started,
            });
        }
        for c in recent {
            s.insert(c);
        }
        s.scanned = Some(Instant::now());
    }

    /// Room for a transfer of at most `bytes`, made by removing the least recently used
    /// copies that are not in use; `None` when even that leaves too little (the rest is
    /// held by transfers in progress or copies in use), and then nothing is removed.
    /// Blocking: it may read the directory and remove files.
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        let mut room = Reservation {
            budget: self.clone(),
            bytes: 0,
        };
        room.grow(bytes).then_some(room)
    }

    /// [`Self::reserve`], or the `limit` error a caller that needs the copy reports.
    pub fn reserve_or_refuse(self: &Arc<Self>, bytes: u64) -> Result<Reservation> {
        self.reserve(bytes).ok_or_else(|| self.refusal(bytes))
    }

    /// Why a copy of `bytes` cannot be made: the local budget, not the upstream.
    fn refusal(&self, bytes: u64) -> Error {
        Error::Limit {
            limit: LimitKind::FileCache,
            detail: format!(
                "no room for a {bytes}-byte copy in the server's file cache of {} bytes (transfers in progress and copies in use hold the rest)",
                self.max
            ),
        }
    }

    /// Adds `bytes` to the reservation `held`, removing copies if need be; false (and
    /// nothing removed, nothing added) when there is not room.
    fn add(&self, held: u64, bytes: u64) -> bool {
        if held.saturating_add(bytes) > self.max {
            return false;
        }
        self.refresh_if_due();
        let victims = {
            let mut s = self.state();
            let Some(victims) = s.make_room(self.max, bytes) else {
                return false;
            };
            s.reserved = s.reserved.saturating_add(bytes);
            victims
        };
        self.remove(victims);
        true
    }

    /// Removes copies already taken out of the index, outside the lock. A copy pinned
    /// since it was chosen stays (and is counted again): its user needs it.
    fn remove(&self, victims: Vec<Copy>) {
        if victims.is_empty() {
            return;
        }
        let (mut removed, mut freed) = (0usize, 0u64);
        for copy in victims {
            {
                let mut s = self.state();
                if s.pinned.contains_key(&key(&copy.sha256, &copy.name)) {
                    s.insert(copy);
                    continue;
                }
            }
            let listed = FileCopy {
                sha256: copy.sha256,
                name: copy.name,
                size: copy.size,
                used: copy.used,
            };
            // Gone already (another replica removed it) is as good as removed.
            let _ = self.files.remove_copy(&listed);
            removed += 1;
            freed = freed.saturating_add(copy.size);
        }
        if removed > 0 {
            self.log.event(&format!(
                "file cache: removed the {removed} least recently used copies ({freed} bytes) to stay within --max-cache-size ({} bytes)",
                self.max
            ));
        }
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

    /// Marks a kept copy as used now: the last the budget would remove. Best effort (the
    /// file's time is what other replicas and the next rebuild see).
    pub fn touch(&self, sha256: &Sha256Hex, name: &str) {
        let now = SystemTime::now();
        {
            let mut s = self.state();
            if let Some(mut copy) = s.remove(&key(sha256, name)) {
                copy.used = now;
                s.insert(copy);
            }
        }
        self.files.touch(sha256, name);
    }

    /// Forgets a copy removed by its user (a damaged one).
    pub fn forget(&self, sha256: &Sha256Hex, name: &str) {
        self.state().remove(&key(sha256, name));
    }
}

/// Room held for one transfer; given back when dropped, or turned into the kept copy's
/// actual size by [`Reservation::kept`]. A transfer writes at most this many bytes.
pub struct Reservation {
    budget: Arc<DiskBudget>,
    bytes: u64,
}

impl Reservation {
    /// The bytes held: the most the transfer may write.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Holds `more` bytes too (removing copies if need be); false when there is no room,
    /// and then the reservation is unchanged.
    pub fn grow(&mut self, more: u64) -> bool {
        if more == 0 {
            return true;
        }
        if !self.budget.add(self.bytes, more) {
            return false;
        }
        self.bytes += more;
        true
    }

    /// [`Self::grow`], or the `limit` error of a caller that needs the copy.
    pub fn grow_or_refuse(&mut self, more: u64) -> Result<()> {
        if self.grow(more) {
            Ok(())
        } else {
            Err(self.budget.refusal(self.bytes.saturating_add(more)))
        }
    }

    /// The transfer was kept as the copy `name` of `sha256`, of `size` bytes: counted
    /// at its actual size from now on, and the room held for it given back.
    pub fn kept(self, sha256: &Sha256Hex, name: &str, size: u64) {
        let mut s = self.budget.state();
        s.insert(Copy {
            sha256: sha256.clone(),
            name: name.to_string(),
            size,
            used: SystemTime::now(),
            noted: Instant::now(),
        });
        // Dropped under the same lock would deadlock: given back here, and the drop
        // below finds nothing left.
        s.reserved = s.reserved.saturating_sub(self.bytes);
        drop(s);
        let mut this = self;
        this.bytes = 0;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
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

    #[test]
    fn a_reservation_that_cannot_succeed_removes_nothing() {
        let (root, budget) = budget(300);
        let files = DistCache::new(root.path());
        let (a_sha, a) = put(&files, 1, 100, 300);
        let (b_sha, b) = put(&files, 2, 100, 200);
        put(&files, 3, 100, 100);
        let _pins = (budget.pin(&a_sha, &a), budget.pin(&b_sha, &b));
        // 200 bytes are pinned: 150 more cannot fit even with the third copy gone.
        assert!(budget.reserve(150).is_none());
        assert_eq!(files.file_copies().unwrap().len(), 3, "nothing removed");
        assert!(budget.reserve(100).is_some(), "the third copy makes room");
        assert_eq!(files.file_copies().unwrap().len(), 2);
    }

    #[test]
    fn reservations_grow_and_settle_at_the_kept_size() {
        let (root, budget) = budget(300);
        let files = DistCache::new(root.path());
        let (old_sha, old) = put(&files, 1, 100, 300);
        let mut room = budget.reserve(100).unwrap();
        assert!(
            room.grow(100),
            "room for 200 of 300 bytes next to the old copy"
        );
        assert_eq!(files.file_copies().unwrap().len(), 1);
        assert!(room.grow(100), "the old copy goes");
        assert!(files.file_copies().unwrap().is_empty());
        assert!(!room.grow(1), "never past the budget");
        assert_eq!(room.bytes(), 300);
        // Kept at 50 bytes: the other 250 are free again.
        room.kept(&old_sha, &old, 50);
        let _in_use = budget.pin(&old_sha, &old);
        assert!(budget.reserve(250).is_some());
        assert!(budget.reserve(251).is_none());
    }

    #[test]
    fn the_index_is_built_once_not_on_every_reservation() {
        let (root, budget) = budget(1000);
        let files = DistCache::new(root.path());
        assert!(budget.reserve(10).is_some());
        // A copy another process adds is seen at the next rebuild, not before.
        put(&files, 1, 600, 10);
        assert!(
            budget.reserve(600).is_some(),
            "the index does not know it yet"
        );
        budget.state().scanned = None;
        assert!(
            budget.reserve(600).is_some(),
            "after a rebuild it is removed"
        );
        assert!(files.file_copies().unwrap().is_empty());
    }

    /// Measures a reservation among many small copies (run with `--ignored --nocapture`).
    #[test]
    #[ignore]
    fn reservation_time_with_many_copies() {
        let n: usize = std::env::var("COPIES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let (root, budget) = budget(n as u64 * 8);
        let files = DistCache::new(root.path());
        for i in 0..n {
            let bytes = (i as u64).to_le_bytes();
            let sha = Sha256Hex::of(&bytes);
            files
                .file_dir(&sha)
                .unwrap()
                .write_atomic("f-1.0.tar.gz", &bytes)
                .unwrap();
        }
        let t = std::time::Instant::now();
        drop(budget.reserve(1));
        eprintln!("first reservation (builds the index): {:?}", t.elapsed());
        let t = std::time::Instant::now();
        for _ in 0..100 {
            drop(budget.reserve(8));
        }
        eprintln!(
            "reservation evicting one copy: {:?} each",
            t.elapsed() / 100
        );
        let t = std::time::Instant::now();
        let pinned = budget.pin(&Sha256Hex::of(b"x"), "x");
        assert!(budget.reserve(n as u64 * 8 + 1).is_none());
        eprintln!("impossible reservation: {:?}", t.elapsed());
        drop(pinned);
        // Meanwhile another request pins a copy, over and over: how long does it wait?
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (b, d) = (budget.clone(), done.clone());
        let other = std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            while !d.load(std::sync::atomic::Ordering::Relaxed) {
                let t = std::time::Instant::now();
                drop(b.pin(&Sha256Hex::of(b"y"), "y"));
                worst = worst.max(t.elapsed());
                std::thread::sleep(Duration::from_micros(100));
            }
            worst
        });
        let t = std::time::Instant::now();
        let all = budget.reserve(n as u64 * 8);
        eprintln!("reservation evicting every copy: {:?}", t.elapsed());
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        eprintln!(
            "longest wait for the lock meanwhile: {:?}",
            other.join().unwrap()
        );
        drop(all);
    }
}
