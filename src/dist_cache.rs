//! Distribution files and PEP 658 metadata files kept under the cache root, shared by
//! everything that fetches them from an index (`lock`'s provider, `serve`), so a file one
//! of them downloaded is there for the other.
//!
//! Layout: `files/<sha256>/<file name>` and `metadata-files/<sha256>.metadata`. Both path
//! parts are validated types (hex digits; a wheel or sdist name, one path component by
//! construction), and every access goes through a directory handle rooted in the cache
//! ([`CacheDir`]). A distribution file is re-hashed before every use, because whatever is
//! in the cache was written by some earlier process; a metadata file is kept only under
//! the sha256 an index stated for it, and checked against it when read back.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::dirs::CacheDir;
use crate::error::{Error, Result};
use crate::index::{DistFilename, IndexClient, Sha256Hex};
use crate::inspect::hash_file;

/// Largest PEP 658 metadata file accepted.
pub const MAX_METADATA_FILE: u64 = 16 * 1024 * 1024;

/// One kept distribution file (`files/<sha256>/<name>`).
#[derive(Debug, Clone)]
pub struct FileCopy {
    /// The directory it is kept in: the sha256 its bytes had when kept.
    pub sha256: Sha256Hex,
    /// Its file name there.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last used (kept or served).
    pub used: std::time::SystemTime,
}

/// The cache root's distribution and metadata files.
#[derive(Debug, Clone)]
pub struct DistCache {
    root: PathBuf,
}

impl DistCache {
    /// The files under the (private) cache root `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn sub(&self, parts: &[&str]) -> Result<CacheDir> {
        let root = CacheDir::open_root(&self.root).map_err(|e| Error::io(&self.root, e))?;
        root.subdirs(parts)
            .map_err(|e| Error::io(self.root.join(parts.join("/")), e))
    }

    /// The directory holding copies of the file with this sha256 (`files/<sha256>`),
    /// created if missing: for a caller that streams a download into it.
    pub fn file_dir(&self, sha256: &Sha256Hex) -> Result<CacheDir> {
        self.sub(&["files", sha256.as_str()])
    }

    /// The cached copy of `filename` if its bytes still hash to `sha256`; a copy that does
    /// not is removed (it is never used).
    pub fn verified_file(
        &self,
        sha256: &Sha256Hex,
        filename: &DistFilename,
    ) -> Result<Option<PathBuf>> {
        let dir = self.file_dir(sha256)?;
        let name = filename.as_str();
        if !dir.is_file(name) {
            return Ok(None);
        }
        let path = dir.path().join(name);
        let (got, _) = hash_file(&path)?;
        if got == sha256.as_str() {
            return Ok(Some(path));
        }
        let _ = dir.remove_file(name);
        Ok(None)
    }

    /// [`Self::verified_file`] for a caller that only looks: no directory is created
    /// (a scan that asks about millions of files must not leave a directory per file)
    /// and nothing is removed. `None` when there is no copy or it does not verify.
    pub fn existing_verified_file(
        &self,
        sha256: &Sha256Hex,
        filename: &DistFilename,
    ) -> Option<PathBuf> {
        let root = CacheDir::open_root(&self.root).ok()?;
        let name = filename.as_str();
        if !root.is_dir("files") {
            return None;
        }
        let files = root.subdir("files").ok()?;
        if !files.is_dir(sha256.as_str()) {
            return None;
        }
        let dir = files.subdir(sha256.as_str()).ok()?;
        if !dir.is_file(name) {
            return None;
        }
        let path = dir.path().join(name);
        let (got, _) = hash_file(&path).ok()?;
        (got == sha256.as_str()).then_some(path)
    }

    /// A verified local copy of the file at `url`: the cached one, or a download checked
    /// against `sha256` (and refused past `max` bytes) before it is moved into place.
    pub fn fetch_file(
        &self,
        client: &IndexClient,
        url: &str,
        sha256: &Sha256Hex,
        filename: &DistFilename,
        max: u64,
        deadline: Option<Instant>,
    ) -> Result<PathBuf> {
        if let Some(path) = self.verified_file(sha256, filename)? {
            return Ok(path);
        }
        let dir = self.file_dir(sha256)?;
        let name = filename.as_str();
        client.download_limited(url, sha256, None, max, &dir, name, deadline)?;
        Ok(dir.path().join(name))
    }

    /// Every kept distribution file, with its size and when it was last used (its
    /// modification time, see [`Self::touch`]); temporary files of transfers in progress
    /// and anything not laid out as this module lays files out are left out.
    pub fn file_copies(&self) -> Result<Vec<FileCopy>> {
        let files = self.sub(&["files"])?;
        let mut out = Vec::new();
        let hashes = files.entries().map_err(|e| Error::io(files.path(), e))?;
        for hash in hashes {
            let Ok(sha256) = Sha256Hex::parse(&hash) else {
                continue;
            };
            let Ok(dir) = files.subdir(&hash) else {
                continue;
            };
            for name in dir.entries().unwrap_or_default() {
                if name.starts_with('.') {
                    continue;
                }
                if let Ok((size, used)) = dir.file_size_and_time(&name) {
                    out.push(FileCopy {
                        sha256: sha256.clone(),
                        name,
                        size,
                        used,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Removes a kept copy (and its directory once empty).
    pub fn remove_copy(&self, copy: &FileCopy) -> Result<()> {
        let dir = self.file_dir(&copy.sha256)?;
        dir.remove_file(&copy.name)
            .map_err(|e| Error::io(dir.path().join(&copy.name), e))?;
        if let Ok(files) = self.sub(&["files"]) {
            files.remove_empty_dir(copy.sha256.as_str());
        }
        Ok(())
    }

    /// Marks a kept copy as used now (best effort), for a caller keeping the cache in a
    /// budget by removing the least recently used copies first.
    pub fn touch(&self, sha256: &Sha256Hex, filename: &str) {
        if let Ok(dir) = self.file_dir(sha256) {
            let _ = dir.touch(filename);
        }
    }

    /// A metadata file cached under the sha256 an index stated for it, if its bytes still
    /// hash to it.
    pub fn cached_metadata(&self, sha256: &Sha256Hex) -> Option<Vec<u8>> {
        let dir = self.sub(&["metadata-files"]).ok()?;
        let bytes = dir
            .read(&format!("{sha256}.metadata"), MAX_METADATA_FILE)
            .ok()?;
        (Sha256Hex::of(&bytes) == *sha256).then_some(bytes)
    }

    /// Keeps a metadata file under the sha256 an index stated for it, if it matches.
    /// Best effort: a cache that cannot be written costs a download next time.
    pub fn store_metadata(&self, sha256: &Sha256Hex, bytes: &[u8]) {
        if Sha256Hex::of(bytes) != *sha256 {
            return;
        }
        if let Ok(dir) = self.sub(&["metadata-files"]) {
            let _ = dir.write_atomic(&format!("{sha256}.metadata"), bytes);
        }
    }
}
