//! Local copies of distribution files the server needs itself: to answer a range
//! request, or to inspect an sdist. A copy is checked against the sha256 *and* the size
//! the upstream lists, the same checks a streamed file gets ([`super::verify`]), so a
//! page that lies about a size is refused the same way whatever the request.
//!
//! Room in the file cache ([`super::disk_budget`]) is reserved before the download
//! writes anything: the listed size, or — when the page lists none (PEP 503 HTML) — a
//! step at a time as bytes arrive, up to `--max-file-size`. A copy that cannot have room
//! is a `limit` of the local cache (`--max-cache-size`), never blamed on the upstream.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::dist_cache::DistCache;
use crate::error::{Error, Result};
use crate::index::{redact_urls, IndexClient, Sha256Hex};

use super::disk_budget::{DiskBudget, Pin, GROWTH};
use super::upstream::PageFile;

/// A verified copy, open, and pinned in the cache while this lives.
pub struct LocalCopy {
    /// Where it is (an sdist is inspected from its path).
    pub path: PathBuf,
    /// The copy, opened while pinned, at offset 0.
    pub file: File,
    /// Its size in bytes.
    pub size: u64,
    /// Keeps the copy from being removed while it is used.
    pub in_use: Pin,
}

/// A verified local copy of `file`: the cached one, else downloaded from `client`.
/// Blocking.
pub fn local_copy(
    files: &DistCache,
    budget: &Arc<DiskBudget>,
    client: &IndexClient,
    file: &PageFile,
    max_file: u64,
) -> Result<LocalCopy> {
    let name = file.file.filename.as_str();
    let in_use = budget.pin(&file.sha256, name);
    let dir = files.file_dir(&file.sha256)?;
    let path = dir.path().join(name);
    if let Ok(mut cached) = dir.open(name) {
        let (sha, size) = hash(&mut cached).map_err(|e| Error::io(&path, e))?;
        if sha == file.sha256 {
            check_listed(file, size)?;
            cached
                .seek(SeekFrom::Start(0))
                .map_err(|e| Error::io(&path, e))?;
            budget.touch(&file.sha256, name);
            return Ok(LocalCopy {
                path,
                file: cached,
                size,
                in_use,
            });
        }
        // A damaged copy is replaced.
        let _ = dir.remove_file(name);
        budget.forget(&file.sha256, name);
    }
    let size = download(files, budget, client, file, max_file)?;
    let opened = dir.open(name).map_err(|e| Error::io(&path, e))?;
    Ok(LocalCopy {
        path,
        file: opened,
        size,
        in_use,
    })
}

/// A listed size that is not the file's: the page is wrong, as a streamed file would
/// find (502 for the file, a refusal for its metadata).
fn check_listed(file: &PageFile, actual: u64) -> Result<()> {
    match file.file.size {
        Some(listed) if listed != actual => Err(Error::Index {
            detail: format!(
                "{}: the file is {actual} bytes, its page lists {listed}",
                file.file.filename
            ),
        }),
        _ => Ok(()),
    }
}

fn hash(source: &mut impl Read) -> io::Result<(Sha256Hex, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = source.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((Sha256Hex::from_digest(hasher.finalize().into()), total))
}

/// Downloads `file` into the cache, checked, within the budget; its size.
fn download(
    files: &DistCache,
    budget: &Arc<DiskBudget>,
    client: &IndexClient,
    file: &PageFile,
    max_file: u64,
) -> Result<u64> {
    let name = file.file.filename.as_str();
    let listed = file.file.size;
    let too_large = || Error::Index {
        detail: format!("{name}: larger than --max-file-size ({max_file} bytes)"),
    };
    if listed.is_some_and(|n| n > max_file) {
        return Err(too_large());
    }
    let mut room = budget.reserve_or_refuse(listed.unwrap_or(GROWTH).min(max_file))?;
    let mut source = client.open(&file.file.url, None)?;
    let announced = source.length;
    if let (Some(listed), Some(sent)) = (listed, announced) {
        if listed != sent {
            return Err(Error::Index {
                detail: format!("{name}: the upstream sends {sent} bytes, its page lists {listed}"),
            });
        }
    }
    if let Some(sent) = announced.filter(|_| listed.is_none()) {
        if sent > max_file {
            return Err(too_large());
        }
        room.grow_or_refuse(sent.saturating_sub(room.bytes()))?;
    }
    let dir = files.file_dir(&file.sha256)?;
    dir.sweep_stale();
    let (tmp, mut out) = dir
        .create_temp(name)
        .map_err(|e| Error::io(dir.path().join(name), e))?;
    let written = (|| -> Result<u64> {
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = source.read(&mut buf).map_err(|e| Error::Index {
                detail: format!("{name}: {}", redact_urls(&e.to_string())),
            })?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if let Some(listed) = listed.filter(|l| total > *l) {
                return Err(Error::Index {
                    detail: format!(
                        "{name}: the upstream sends more than the {listed} bytes its page lists"
                    ),
                });
            }
            if total > max_file {
                return Err(too_large());
            }
            if total > room.bytes() {
                let more = (total - room.bytes())
                    .max(GROWTH)
                    .min(max_file - room.bytes());
                room.grow_or_refuse(more)?;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| Error::io(dir.path().join(&tmp), e))?;
        }
        check_listed(file, total)?;
        let got = Sha256Hex::from_digest(hasher.finalize().into());
        if got != file.sha256 {
            return Err(Error::Index {
                detail: format!(
                    "{name}: sha256 mismatch: got {got}, the upstream lists {}",
                    file.sha256
                ),
            });
        }
        out.sync_all()
            .map_err(|e| Error::io(dir.path().join(&tmp), e))?;
        dir.rename(&tmp, name)
            .map_err(|e| Error::io(dir.path().join(name), e))?;
        Ok(total)
    })();
    match written {
        Ok(size) => {
            // Counted at its actual size from now on.
            room.kept(&file.sha256, name, size);
            Ok(size)
        }
        Err(e) => {
            let _ = dir.remove_file(&tmp);
            Err(e)
        }
    }
}
