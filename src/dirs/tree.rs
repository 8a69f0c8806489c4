//! Removing a directory tree without recursion, and temporary trees that remove
//! themselves that way.
//!
//! A guest can build a directory chain tens of thousands of levels deep (and longer than
//! `PATH_MAX`) in its scratch dir. `std::fs::remove_dir_all` recurses once per level, so
//! such a tree overflows the stack of the thread cleaning up and aborts the process with
//! every other input's answer. [`remove_tree`] walks the tree with a constant number of
//! open descriptors, relative to directory handles (`openat`/`unlinkat`, never a full
//! path), going up through `..` and checking that `..` is the directory it came from;
//! memory grows only with the names on the current branch.

use std::ffi::{CStr, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, CWD};

/// Identity of an open directory: `(device, inode)`.
type Ident = (u64, u64);

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

fn ident(fd: &OwnedFd) -> io::Result<Ident> {
    let st = rustix::fs::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// Removes `path` and everything below it, however deep, without recursion and without
/// following symbolic links. A missing path is not an error.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return std::fs::remove_file(path);
    }
    let top = rustix::fs::openat(CWD, path, dir_flags(), Mode::empty())?;
    if ident(&top)? != (meta.dev(), meta.ino()) {
        return Err(io::Error::other(
            "directory replaced while it was being removed",
        ));
    }
    empty_tree(top)?;
    std::fs::remove_dir(path)
}

/// Empties the directory `top` (an open handle) of everything below it.
fn empty_tree(top: OwnedFd) -> io::Result<()> {
    let mut cur = top;
    // The names leading from `top` to `cur`, each with the identity of its parent.
    let mut branch: Vec<(Vec<u8>, Ident)> = Vec::new();
    loop {
        match clear_files(&cur)? {
            Some(child) => {
                let next = rustix::fs::openat(&cur, child.as_slice(), dir_flags(), Mode::empty())?;
                branch.push((child, ident(&cur)?));
                cur = next;
            }
            None => {
                let Some((name, parent_id)) = branch.pop() else {
                    return Ok(());
                };
                let parent = rustix::fs::openat(&cur, c"..", dir_flags(), Mode::empty())?;
                if ident(&parent)? != parent_id {
                    return Err(io::Error::other(
                        "directory moved while it was being removed",
                    ));
                }
                drop(cur);
                rustix::fs::unlinkat(&parent, name.as_slice(), AtFlags::REMOVEDIR)?;
                cur = parent;
            }
        }
    }
}

/// Unlinks every non-directory entry of `dir` until it meets a subdirectory, whose name
/// it returns (the caller descends into it); `None` when only `.` and `..` are left.
fn clear_files(dir: &OwnedFd) -> io::Result<Option<Vec<u8>>> {
    let reader = rustix::fs::openat(dir, c".", dir_flags(), Mode::empty())?;
    let mut entries = Dir::new(reader)?;
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let name: &CStr = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            FileType::Directory => true,
            FileType::Unknown => rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)?,
            _ => false,
        };
        if is_dir {
            return Ok(Some(bytes.to_vec()));
        }
        match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// A directory that is removed (with [`remove_tree`]) when dropped, on every path
/// including errors and panics. Created 0700 (the `tempfile` crate's default on Unix).
#[derive(Debug)]
pub struct TempTree {
    path: Option<PathBuf>,
}

impl TempTree {
    /// A fresh, uniquely named directory `<prefix>XXXXXX` inside `parent`.
    pub fn new_in(parent: &Path, prefix: &str) -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
        Ok(Self {
            path: Some(dir.keep()),
        })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Keeps the directory (it is no longer removed on drop) and returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.path.take().unwrap_or_default()
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = remove_tree(&path);
        }
    }
}

/// `name` as one path component, or `None` if it is not one (empty, `.`, `..`, or
/// containing `/` or NUL). Names derived from remote data go through this before they
/// touch a directory handle.
pub fn component(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0'])
        && OsStr::new(name).as_bytes().len() <= 255;
    ok.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_a_tree_deeper_than_the_stack_and_path_max() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("deep");
        std::fs::create_dir(&root).unwrap();
        // 5,000 levels of 10-byte names: 50,000 bytes of path, far past PATH_MAX.
        let mut fd = rustix::fs::openat(CWD, &root, dir_flags(), Mode::empty()).unwrap();
        for i in 0..5000 {
            let name = format!("level{i:05}");
            rustix::fs::mkdirat(&fd, name.as_str(), Mode::from_raw_mode(0o700)).unwrap();
            if i % 100 == 0 {
                rustix::fs::openat(
                    &fd,
                    "file",
                    OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .unwrap();
                rustix::fs::symlinkat("/etc/passwd", &fd, "link").unwrap();
            }
            fd = rustix::fs::openat(&fd, name.as_str(), dir_flags(), Mode::empty()).unwrap();
        }
        drop(fd);
        // Run it on a thread with a small stack: recursion would overflow it.
        let path = root.clone();
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || remove_tree(&path).unwrap())
            .unwrap()
            .join()
            .unwrap();
        assert!(!root.exists());
        assert!(Path::new("/etc/passwd").exists());
    }

    #[test]
    fn never_follows_links_out_of_the_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"x").unwrap();
        let root = tmp.path().join("tree");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("a/link")).unwrap();
        remove_tree(&root).unwrap();
        assert!(outside.join("keep").exists());
        assert!(!root.exists());
        remove_tree(&root).unwrap(); // missing: fine
    }

    #[test]
    fn temp_trees_remove_themselves() {
        let tmp = tempfile::tempdir().unwrap();
        let t = TempTree::new_in(tmp.path(), "x-").unwrap();
        let p = t.path().to_path_buf();
        std::fs::write(p.join("f"), b"1").unwrap();
        drop(t);
        assert!(!p.exists());
        let kept = TempTree::new_in(tmp.path(), "y-").unwrap().keep();
        assert!(kept.is_dir());
    }

    #[test]
    fn components() {
        assert_eq!(component("a.whl"), Some("a.whl"));
        for bad in ["", ".", "..", "a/b", "/a", "a\0"] {
            assert_eq!(component(bad), None, "{bad:?}");
        }
    }
}
