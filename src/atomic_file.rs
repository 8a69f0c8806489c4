//! Writing a file so that a reader sees the old content or the new, never half of it.
//!
//! Every output file sdistill writes for the user (`-o` of `inspect` and `lock`) goes
//! through [`write`]: the bytes go to a temporary file in the same directory, which is
//! then renamed over the target. A crash, a full disk or a concurrent sdistill process
//! therefore never leaves a truncated file. (Cache files are written the same atomic way,
//! but through a directory handle that cannot leave the cache: [`crate::dirs::CacheDir`].)
//!
//! Apart from being atomic, the result is what a plain write would give, because `-o`
//! output is used by other tools and other users (a `requirements.txt` read by a non-root
//! `pip install` in a container):
//! - **mode**: a replaced file keeps its permission bits; a new file gets `0666` minus the
//!   umask, applied by the kernel when the temporary file is created (never by calling
//!   `umask()`, which is process-wide and racy). A temporary file alone would be `0600`.
//! - **symlinks** are written through: the link's final target is replaced (the temporary
//!   file goes in the target's directory, so the rename stays on one file system), and a
//!   dangling link gets its target created. Replacing the link itself would silently
//!   detach the file the user pointed at.
//! - **devices, FIFOs and sockets** (`-o /dev/null`, `-o /dev/stdout`, a named pipe) are
//!   written to, not replaced: renaming a file over `/dev/null` as root would turn the
//!   machine's null device into a regular file that every later `> /dev/null` fills.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Most symbolic links followed to the file (Linux's own limit, after which `ELOOP`).
const MAX_LINKS: usize = 40;

/// Writes `bytes` to `path` atomically, creating missing parent directories. With
/// `durable`, the data is flushed to the device before the rename (for output a user
/// relies on).
pub fn write(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let target = final_target(path)?;
    if let Ok(meta) = std::fs::metadata(&target) {
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{} is a directory", target.display()),
            ));
        }
        if !meta.is_file() {
            // Not a file to replace: write to it as a plain write would.
            let mut out = std::fs::OpenOptions::new().write(true).open(&target)?;
            out.write_all(bytes)?;
            return out.flush();
        }
    }
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let existing = existing_permissions(&target)?;
    let mut tmp = temp_file(dir, existing.as_ref())?;
    if let Some(permissions) = existing {
        // Exactly the old bits: the creation mode above went through the umask.
        tmp.as_file().set_permissions(permissions)?;
    }
    tmp.write_all(bytes)?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// The file a plain write to `path` would change: `path` itself, or the end of the chain
/// of symbolic links it starts (which need not exist yet).
fn final_target(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)?;
                // A relative link is relative to the link's directory; `join` keeps an
                // absolute one as it is.
                current = match current.parent() {
                    Some(dir) => dir.join(link),
                    None => link,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{}: too many levels of symbolic links", path.display()),
    ))
}

/// The permission bits of the file being replaced, if there is one. Set-id bits are not
/// kept (the kernel clears them on a write too).
#[cfg(unix)]
fn existing_permissions(target: &Path) -> io::Result<Option<std::fs::Permissions>> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(target) {
        Ok(meta) => Ok(Some(std::fs::Permissions::from_mode(
            meta.permissions().mode() & 0o777,
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn existing_permissions(target: &Path) -> io::Result<Option<std::fs::Permissions>> {
    match std::fs::metadata(target) {
        Ok(meta) => Ok(Some(meta.permissions())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A temporary file in `dir`, created with the mode a new file gets (`0666` minus the
/// umask), or, when replacing a file, with its bits (minus the umask: never wider than
/// the file it replaces, even before they are set exactly).
#[cfg(unix)]
fn temp_file(
    dir: &Path,
    existing: Option<&std::fs::Permissions>,
) -> io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    let mode = existing
        .cloned()
        .unwrap_or_else(|| std::fs::Permissions::from_mode(0o666));
    tempfile::Builder::new()
        .prefix(".tmp")
        .permissions(mode)
        .tempfile_in(dir)
}

#[cfg(not(unix))]
fn temp_file(
    dir: &Path,
    _existing: Option<&std::fs::Permissions>,
) -> io::Result<tempfile::NamedTempFile> {
    tempfile::NamedTempFile::new_in(dir)
}

#[cfg(test)]
mod tests {
    use super::write;

    #[test]
    fn writes_whole_files_and_their_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.txt");
        write(&path, b"one", false).unwrap();
        write(&path, b"two", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[cfg(unix)]
    fn mode(path: &std::path::Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_gets_the_mode_a_plain_write_gives() {
        let dir = tempfile::tempdir().unwrap();
        // What the kernel makes of 0666 with this process's umask, without reading it.
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let ours = dir.path().join("ours");
        write(&ours, b"x", true).unwrap();
        assert_eq!(mode(&ours), mode(&plain));
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permission_bits() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock.txt");
        for bits in [0o640, 0o664, 0o600, 0o755] {
            std::fs::write(&path, b"old").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bits)).unwrap();
            write(&path, b"new", true).unwrap();
            assert_eq!(mode(&path), bits);
            assert_eq!(std::fs::read(&path).unwrap(), b"new");
        }
    }

    #[cfg(unix)]
    /// A FIFO (like `/dev/null` or `/dev/stdout`, not a file to replace) is written to and
    /// stays what it was.
    #[test]
    fn a_fifo_is_written_to_not_replaced() {
        use std::io::Read;
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut text = String::new();
                std::fs::File::open(&fifo)
                    .unwrap()
                    .read_to_string(&mut text)
                    .unwrap();
                text
            })
        };
        write(&fifo, b"lock\n", true).unwrap();
        assert_eq!(reader.join().unwrap(), "lock\n");
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "{kind:?}");
    }

    #[test]
    fn symlinks_are_written_through() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("real");
        let link_dir = dir.path().join("links");
        std::fs::create_dir_all(&real_dir).unwrap();
        std::fs::create_dir_all(&link_dir).unwrap();
        let target = real_dir.join("requirements.txt");
        std::fs::write(&target, b"old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        // A relative link to a relative link.
        let hop = link_dir.join("hop");
        symlink("../real/requirements.txt", &hop).unwrap();
        let link = link_dir.join("requirements.txt");
        symlink("hop", &link).unwrap();

        write(&link, b"new", true).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(std::fs::symlink_metadata(&hop)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(mode(&target), 0o644);
        // No temporary file left behind in either directory.
        assert_eq!(std::fs::read_dir(&real_dir).unwrap().count(), 1);
        assert_eq!(std::fs::read_dir(&link_dir).unwrap().count(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_gets_its_target_and_a_loop_is_an_error() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("made/by/write.txt");
        let link = dir.path().join("out.txt");
        symlink(&target, &link).unwrap();
        write(&link, b"x", false).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"x");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());

        let a = dir.path().join("a");
        let b = dir.path().join("b");
        symlink(&b, &a).unwrap();
        symlink(&a, &b).unwrap();
        assert!(write(&a, b"x", false).is_err());
        assert!(std::fs::symlink_metadata(&a)
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
