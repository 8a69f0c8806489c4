//! Where sdistill keeps things on the host, and who may touch them.
//!
//! Everything sdistill writes lives in directories that belong to the user running it:
//! the cache (runtime, compiled interpreter and snapshots, metadata answers, downloads)
//! and the work dirs (unpacked trees, guest scratch dirs). Another local user who could
//! write there could serve forged metadata, a forged guest site dir or a forged compiled
//! module — native code that wasmtime loads — so a directory that is not the user's own
//! is refused, never used.
//!
//! | concern | where |
//! |---|---|
//! | private directories: owned by this user, mode 0700, not another user's symlink | [`ensure_private`] |
//! | the cache root, and a directory handle that writes cannot leave | [`cache_root`], [`cache::CacheDir`] |
//! | work dirs per user and per process; what a killed process left is swept | [`work`] |
//! | removing trees without recursion (guest-made trees can be 30,000 levels deep) | [`tree`] |

pub mod cache;
pub mod tree;
pub mod work;

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use cache::CacheDir;
pub use tree::{remove_tree, TempTree};

/// The uid sdistill runs as: the owner every private directory must have.
pub fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn unsafe_dir(path: &Path, detail: impl Into<String>) -> Error {
    Error::UnsafeDirectory {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Makes sure `path` is a directory private to this user, creating it (mode 0700, with
/// any missing parents) if needed.
///
/// Refused: a directory owned by another user (or a symlink owned by another user, the
/// classic `/tmp` squat), or anything that is not a directory. A directory of this user's
/// that others can read or write is tightened to 0700: it is ours, and what it holds
/// (what the user inspected, answers sdistill will trust) is nobody else's business.
pub fn ensure_private(path: &Path) -> Result<()> {
    let uid = current_uid();
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(path) {
                Ok(()) => {}
                // Created concurrently (another sdistill, or an attacker): check it below.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        Err(e) => return Err(Error::io(path, e)),
        Ok(link) if link.file_type().is_symlink() && link.uid() != uid && link.uid() != 0 => {
            return Err(unsafe_dir(
                path,
                format!(
                    "is a symbolic link owned by uid {}, not by this user (uid {uid}); refusing to use it",
                    link.uid()
                ),
            ));
        }
        Ok(_) => {}
    }
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_dir() {
        return Err(unsafe_dir(path, "is not a directory"));
    }
    if meta.uid() != uid {
        return Err(unsafe_dir(
            path,
            format!(
                "is owned by uid {}, not by this user (uid {uid}); another user could plant forged answers or code there. Remove it, or choose another directory (--cache-dir / SDISTILL_CACHE_DIR, --work-dir / SDISTILL_WORK_DIR)",
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// Makes sure `path` can be trusted for reading: owned by this user or by root, and
/// writable by nobody else. For directories sdistill reads but did not necessarily make
/// (a pre-provisioned `--runtime`, installed by an administrator).
pub fn ensure_trusted(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let uid = current_uid();
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(unsafe_dir(
            path,
            format!(
                "is owned by uid {}, neither this user (uid {uid}) nor root",
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unsafe_dir(
            path,
            format!(
                "is writable by other users (mode {:o}); refusing to load code from it",
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// The cache root: `explicit` (`--cache-dir`), else `SDISTILL_CACHE_DIR`, else the user's
/// XDG cache dir (`$XDG_CACHE_HOME/sdistill`, or `~/.cache/sdistill` with the home dir
/// from `HOME` or the password database), else `$TMPDIR/sdistill-<uid>/cache`. Not
/// checked; [`cache_root`] checks it.
pub fn cache_root_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("SDISTILL_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    use etcetera::BaseStrategy;
    match etcetera::choose_base_strategy() {
        Ok(base) => base.cache_dir().join("sdistill"),
        Err(_) => std::env::temp_dir()
            .join(format!("sdistill-{}", current_uid()))
            .join("cache"),
    }
}

/// The cache root ([`cache_root_path`]), made private to this user or refused.
pub fn cache_root(explicit: Option<&Path>) -> Result<PathBuf> {
    let root = cache_root_path(explicit);
    if let Some(parent) = root.parent().filter(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("sdistill-"))
    }) {
        // The temp-dir fallback: its per-user parent must be private too.
        ensure_private(parent)?;
    }
    ensure_private(&root)?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_and_tightens_our_own() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_private(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        std::fs::write(tmp.path().join("file"), b"").unwrap();
        assert!(ensure_private(&tmp.path().join("file")).is_err());
    }

    #[test]
    fn refuses_another_users_directory() {
        if current_uid() != 0 {
            eprintln!("skipped: needs root to make a directory owned by another user");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("theirs");
        std::fs::create_dir(&dir).unwrap();
        rustix::fs::chown(
            &dir,
            Some(rustix::process::Uid::from_raw(65534)),
            Some(rustix::process::Gid::from_raw(65534)),
        )
        .unwrap();
        let err = ensure_private(&dir).unwrap_err();
        assert_eq!(err.kind(), "unsafe-directory");
        assert!(err.to_string().contains("65534"), "{err}");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(ensure_private(&link).is_err());
    }
}
