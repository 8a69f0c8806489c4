//! The metadata cache: an answer already computed for the same bytes is a lookup.
//!
//! An entry is keyed by everything that could change the answer: the input's sha256, the
//! sdistill version, the runtime lock, the guest driver, the target platform, the limits
//! and the sandbox mode. A new runtime or driver therefore never serves an old answer.
//! Entries are verified on every read (their recorded key, the input hash and a checksum
//! of the payload) and a bad entry is ignored and replaced, never trusted. Only successful
//! answers are stored: a failure is always recomputed, so raising a limit takes effect.
//! Writes are atomic (temporary file, then rename), so concurrent processes never see
//! half an entry, and go through a directory handle rooted in the user's private cache
//! ([`crate::dirs::CacheDir`]).
//!
//! What is stored is decided by the caller ([`crate::inspect`]): an answer whose
//! computation was degraded (a build requirement or helper that could not be provided, a
//! host failure) is never stored, so it is recomputed next time instead of served.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::answer::Metadata;
use crate::dirs::CacheDir;
use crate::error::{Error, Result};
use crate::observe::Behaviour;

/// Largest cache entry read back.
const MAX_ENTRY: u64 = 64 * 1024 * 1024;

/// A directory of verified metadata entries.
#[derive(Debug)]
pub struct MetadataCache {
    dir: CacheDir,
}

/// What a cache key is computed from. Every field changes the key.
#[derive(Debug, Clone, Serialize)]
pub struct CacheKey<'a> {
    /// sha256 of the input file.
    pub file_sha256: &'a str,
    /// The input's file name, exactly as given. The same bytes can be read as different
    /// things (a file that is both a valid `.tar.gz` and a valid wheel; an sdist renamed
    /// to another project's name), and the answer, its identity check and its behaviour
    /// report depend on which: an answer is only ever reused for the same name.
    pub file_name: &'a str,
    /// Everything else that shapes the answer (versions, target, limits), as text.
    pub context: &'a str,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    key: String,
    file_sha256: String,
    checksum: String,
    payload: Payload,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    metadata: Metadata,
    warnings: Vec<String>,
    /// The behaviour report of the run that computed the answer.
    #[serde(default)]
    behaviour: Option<Behaviour>,
    /// The input file's size: with it, a caller that looks an answer up by sha256 alone
    /// (a manifest entry, never downloaded) reports the same `source` as one that read
    /// the file. Absent in entries written before it existed (they serialize as they did,
    /// so their checksums still verify), which such callers treat as a miss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
}

/// A verified cache entry: the answer and what was stored with it.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The answer.
    pub metadata: Metadata,
    /// Its warnings (the answer is not clean when there are any).
    pub warnings: Vec<String>,
    /// The behaviour report of the run that computed it.
    pub behaviour: Option<Behaviour>,
    /// The input file's size, when the entry recorded it.
    pub size: Option<u64>,
}

impl CacheKey<'_> {
    fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"sdistill-metadata-cache/2\0");
        h.update(self.file_sha256.as_bytes());
        h.update(b"\0");
        h.update(self.file_name.as_bytes());
        h.update(b"\0");
        h.update(self.context.as_bytes());
        hex::encode(h.finalize())
    }
}

impl MetadataCache {
    /// The metadata cache under the (private) cache root `root`.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = CacheDir::open_root(root)
            .and_then(|r| r.subdir("metadata"))
            .map_err(|e| Error::io(root, e))?;
        Ok(Self { dir })
    }

    /// The directory entries live in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The shard directory and file name of an entry.
    fn entry(&self, digest: &str, create: bool) -> Option<(CacheDir, String)> {
        let shard = &digest[..2];
        let dir = if create || self.dir.is_dir(shard) {
            self.dir.subdir(shard).ok()?
        } else {
            return None;
        };
        Some((dir, format!("{digest}.json")))
    }

    /// The stored answer for `key` (metadata, warnings, behaviour report), if there is
    /// one and it verifies.
    pub fn load(&self, key: &CacheKey) -> Option<(Metadata, Vec<String>, Option<Behaviour>)> {
        self.load_entry(key)
            .map(|s| (s.metadata, s.warnings, s.behaviour))
    }

    /// [`Self::load`], with the input's size when the entry recorded it.
    pub fn load_entry(&self, key: &CacheKey) -> Option<Stored> {
        let digest = key.digest();
        let (dir, name) = self.entry(&digest, false)?;
        let text = dir.read(&name, MAX_ENTRY).ok()?;
        let entry: Entry = serde_json::from_slice(&text).ok()?;
        if entry.key != digest || entry.file_sha256 != key.file_sha256 {
            return None;
        }
        if checksum(&entry.payload)? != entry.checksum {
            return None;
        }
        let Payload {
            metadata,
            warnings,
            behaviour,
            size,
        } = entry.payload;
        Some(Stored {
            metadata,
            warnings,
            behaviour,
            size,
        })
    }

    /// Stores an answer with its warnings, behaviour report and the input's size.
    /// Failures to write are ignored: the cache is an optimisation.
    pub fn store(
        &self,
        key: &CacheKey,
        metadata: &Metadata,
        warnings: &[String],
        behaviour: Option<&Behaviour>,
        size: Option<u64>,
    ) {
        let digest = key.digest();
        let payload = Payload {
            metadata: metadata.clone(),
            warnings: warnings.to_vec(),
            behaviour: behaviour.cloned(),
            size,
        };
        let Some(sum) = checksum(&payload) else {
            return;
        };
        let entry = Entry {
            key: digest.clone(),
            file_sha256: key.file_sha256.to_string(),
            checksum: sum,
            payload,
        };
        if let (Ok(bytes), Some((dir, name))) =
            (serde_json::to_vec(&entry), self.entry(&digest, true))
        {
            let _ = dir.write_atomic(&name, &bytes);
        }
    }
}

fn checksum(payload: &Payload) -> Option<String> {
    let bytes = serde_json::to_vec(payload).ok()?;
    Some(hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::static_meta::Method;

    fn sample() -> Metadata {
        Metadata {
            name: "demo".into(),
            version: "1.0".into(),
            metadata_version: None,
            requires_dist: vec!["six".into()],
            requires_python: None,
            provides_extra: vec![],
            build_requires: vec![],
            build_backend: None,
            build_requires_source: "default".into(),
            method: Method::SandboxEggInfo,
            pin: None,
            target: None,
        }
    }

    #[test]
    fn round_trips_and_rejects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let cache = MetadataCache::open(dir.path()).unwrap();
        let key = CacheKey {
            file_sha256: "ab12",
            file_name: "a-1.0.tar.gz",
            context: "ctx",
        };
        assert!(cache.load(&key).is_none());
        let seen = Behaviour {
            verdict: crate::observe::Severity::Notice,
            scope: crate::observe::Scope::Metadata,
            events: Vec::new(),
        };
        cache.store(&key, &sample(), &["w".into()], Some(&seen), Some(1234));
        let (meta, warnings, behaviour) = cache.load(&key).unwrap();
        assert_eq!(meta.requires_dist, vec!["six"]);
        assert_eq!(warnings, vec!["w"]);
        assert_eq!(behaviour, Some(seen));
        assert_eq!(cache.load_entry(&key).unwrap().size, Some(1234));
        // Another context is another entry.
        let other = CacheKey {
            file_sha256: "ab12",
            file_name: "a-1.0.tar.gz",
            context: "other",
        };
        assert!(cache.load(&other).is_none());
        // The same bytes under another name are another entry.
        let renamed = CacheKey {
            file_name: "a-1.0-py3-none-any.whl",
            ..key.clone()
        };
        assert!(cache.load(&renamed).is_none());
        // A tampered payload no longer verifies.
        let digest = key.digest();
        let path = cache
            .dir()
            .join(&digest[..2])
            .join(format!("{digest}.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("six", "evil")).unwrap();
        assert!(cache.load(&key).is_none());
    }

    /// An entry written before sizes were stored still verifies (and has no size).
    #[test]
    fn entries_without_a_size_still_verify() {
        let dir = tempfile::tempdir().unwrap();
        let cache = MetadataCache::open(dir.path()).unwrap();
        let key = CacheKey {
            file_sha256: "cd34",
            file_name: "a-1.0.tar.gz",
            context: "ctx",
        };
        cache.store(&key, &sample(), &[], None, None);
        let digest = key.digest();
        let path = cache
            .dir()
            .join(&digest[..2])
            .join(format!("{digest}.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("\"size\""), "{text}");
        let stored = cache.load_entry(&key).unwrap();
        assert_eq!(stored.size, None);
    }
}
