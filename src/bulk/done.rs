//! `--skip-done`: which entries already have a result, read from earlier output.
//!
//! A result line counts for its entry's key: the `sha256` of a remote entry, or the
//! `path` of a local one, exactly as the manifest wrote it (both are in the line's
//! `manifest` object). Every result counts, a failure too: "done" means "has a line",
//! so a resumed run never writes a second line for an entry and the union of all runs
//! has exactly one line per entry. Retrying failures is the caller's choice: drop their
//! lines from the file first (README, "Scan at scale").
//!
//! The set must hold every key of a long scan, so a key is kept as a 32-byte digest
//! (of `sha256:<hex>` or `path:<text>`) in a sorted vector: 32 bytes per done entry,
//! about 32 MB per million, whatever the length of the lines it came from.
//!
//! The file is read as data: a line that is not a result (a partial line a killed run
//! left, garbage) is counted and ignored — its entry is simply done again.

use std::io::{self, BufRead};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::index::Sha256Hex;

/// Longest result line read back; a longer one is ignored (its entry is done again).
/// Result lines are a few KB; the pipeline writes no longer one (a larger answer becomes a
/// `limit` error line), so every line it wrote is read back.
pub(crate) const MAX_RESULT_LINE: usize = 16 * 1024 * 1024;

/// An entry's identity for `--skip-done`.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    /// A remote entry: its sha256.
    Sha256(&'a Sha256Hex),
    /// A local entry: its path as the manifest wrote it.
    Path(&'a str),
}

impl Key<'_> {
    fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        match self {
            Key::Sha256(sha) => {
                h.update(b"sha256:");
                h.update(sha.as_str().as_bytes());
            }
            Key::Path(path) => {
                h.update(b"path:");
                h.update(path.as_bytes());
            }
        }
        h.finalize().into()
    }
}

/// The keys of the entries that have a result.
#[derive(Debug, Default)]
pub struct DoneSet {
    keys: Vec<[u8; 32]>,
    sorted: bool,
    /// How many keys there were after the last deduplication.
    compacted: usize,
}

/// What reading one results file found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DoneStats {
    /// Result lines that named an entry.
    pub results: u64,
    /// Lines that were not results of a manifest entry (ignored).
    pub ignored: u64,
    /// Whether the file ended in the middle of a line (a run killed while writing).
    pub partial_last_line: bool,
}

/// The part of a result line `--skip-done` reads.
#[derive(Deserialize)]
struct ResultLine {
    manifest: Option<ManifestPart>,
}

#[derive(Deserialize)]
struct ManifestPart {
    sha256: Option<String>,
    path: Option<String>,
}

impl DoneSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the keys of every result line in `reader`.
    pub fn read_results(&mut self, mut reader: impl BufRead) -> io::Result<DoneStats> {
        let mut stats = DoneStats::default();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            // `read_until` would hold a line of any length; lines past the cap are read
            // in bounded steps and dropped.
            let read = super::manifest::read_line(&mut reader, &mut buf, MAX_RESULT_LINE)?;
            let Some(read) = read else { break };
            stats.partial_last_line = !read.terminated;
            if read.too_long {
                stats.ignored += 1;
                continue;
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            // A partial last line may still parse (a line cut exactly before its
            // newline): it is whole, and counts.
            match self.add_line(&buf) {
                true => stats.results += 1,
                false => stats.ignored += 1,
            }
        }
        self.sorted = false;
        Ok(stats)
    }

    /// Adds the key of one result line; whether it named an entry.
    fn add_line(&mut self, line: &[u8]) -> bool {
        let Ok(parsed) = serde_json::from_slice::<ResultLine>(line) else {
            return false;
        };
        let Some(part) = parsed.manifest else {
            return false;
        };
        let digest = match (part.sha256.as_deref(), part.path.as_deref()) {
            (Some(sha), _) => match Sha256Hex::parse(sha) {
                Ok(sha) => Key::Sha256(&sha).digest(),
                Err(_) => return false,
            },
            (None, Some(path)) => Key::Path(path).digest(),
            (None, None) => return false,
        };
        self.keys.push(digest);
        // A file of many copies of one line must not cost memory per line: duplicates
        // go whenever the keys have doubled since the last time.
        if self.keys.len() >= 2 * self.compacted.max(1024) {
            self.keys.sort_unstable();
            self.keys.dedup();
            self.compacted = self.keys.len();
        }
        true
    }

    /// Sorts the keys for lookups (done once after reading).
    pub fn finish(&mut self) {
        self.keys.sort_unstable();
        self.keys.dedup();
        self.keys.shrink_to_fit();
        self.sorted = true;
    }

    /// Whether `key` has a result. [`Self::finish`] must have run since the last read.
    pub fn contains(&self, key: Key<'_>) -> bool {
        debug_assert!(self.sorted || self.keys.is_empty());
        self.keys.binary_search(&key.digest()).is_ok()
    }

    /// How many distinct entries have a result.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no entry has a result.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9c443e7324ba5b85070c4a818ade28bfabedf16ea10206da1132edaa6dda237e";

    #[test]
    fn keys_come_from_the_manifest_object() {
        let text = format!(
            concat!(
                r#"{{"input": "x", "manifest": {{"sha256": "{}", "path": null, "line": null, "extra": {{}}}}}}"#,
                "\n",
                r#"{{"manifest": {{"sha256": null, "path": "dist/a-1.0.tar.gz"}}}}"#,
                "\n\n",
                "garbage\n",
                r#"{{"source": {{"sha256": "{}"}}}}"#,
                "\n",
                r#"{{"manifest": {{"sha256": null, "path": "dist/b-1"#,
            ),
            SHA.to_uppercase(),
            SHA
        );
        let mut done = DoneSet::new();
        let stats = done.read_results(text.as_bytes()).unwrap();
        done.finish();
        assert_eq!(
            stats,
            DoneStats {
                results: 2,
                ignored: 3,
                partial_last_line: true
            }
        );
        let sha = Sha256Hex::parse(SHA).unwrap();
        assert!(done.contains(Key::Sha256(&sha)));
        assert!(done.contains(Key::Path("dist/a-1.0.tar.gz")));
        assert!(!done.contains(Key::Path("./dist/a-1.0.tar.gz")));
        assert!(!done.contains(Key::Path(SHA)));
        assert_eq!(done.len(), 2);
    }

    /// Many copies of one result line cost one key, not one per line.
    #[test]
    fn repeated_lines_do_not_grow_the_set() {
        let line = format!("{{\"manifest\": {{\"sha256\": \"{SHA}\", \"path\": null}}}}\n");
        let mut done = DoneSet::new();
        done.read_results(line.repeat(100_000).as_bytes()).unwrap();
        assert!(done.keys.len() <= 2048, "{}", done.keys.len());
        done.finish();
        assert_eq!(done.len(), 1);
    }
}
