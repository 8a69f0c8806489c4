//! Writing a file so that a reader sees the old content or the new, never half of it.
//!
//! Every file sdistill writes whole — command output, cache entries, index pages, the
//! compiled interpreter and its snapshots — goes through [`write`]: the bytes go to a
//! temporary file in the same directory, which is then renamed over the target. A crash,
//! a full disk or a concurrent sdistill process therefore never leaves a truncated file
//! that a later run would trust. (Downloads stream into their own temporary file in
//! `index`, because they are hash-checked before the rename.)

use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically, creating missing parent directories. With
/// `durable`, the data is flushed to the device before the rename (for output a user
/// relies on; caches skip it, losing an entry costs only a recomputation).
pub fn write(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_whole_files_and_their_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.txt");
        super::write(&path, b"one", false).unwrap();
        super::write(&path, b"two", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
