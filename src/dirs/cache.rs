//! A directory handle rooted in the cache: what is written through it stays inside it.
//!
//! Cache paths are partly made of remote data (a file's sha256 from an index, a file name
//! from an index page). Those values are validated where they enter, and on top of that
//! every cache read and write goes through a [`CacheDir`] — a `cap_std` directory handle
//! — whose operations cannot name anything outside the directory: an absolute name, a
//! `..` or a symlink pointing out is refused by construction, not by a check someone
//! might forget. Names must also be single path components ([`super::tree::component`]),
//! so the layout stays what the code says it is.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, DirBuilder, OpenOptions};

use super::tree::component;

/// An open directory inside the cache (or the cache root itself).
#[derive(Debug)]
pub struct CacheDir {
    dir: Dir,
    path: PathBuf,
}

fn bad_name(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("`{}` is not a single path component", name.escape_default()),
    )
}

fn name(name: &str) -> io::Result<&str> {
    component(name).ok_or_else(|| bad_name(name))
}

impl CacheDir {
    /// Opens the cache root `path`, which must already be private ([`super::cache_root`]).
    pub fn open_root(path: &Path) -> io::Result<Self> {
        Ok(Self {
            dir: Dir::open_ambient_dir(path, ambient_authority())?,
            path: path.to_path_buf(),
        })
    }

    /// Host path of this directory: for messages, and for handing it to the sandbox as a
    /// preopen (made of validated components only).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The subdirectory `sub` (one component), created 0700 if missing.
    pub fn subdir(&self, sub: &str) -> io::Result<CacheDir> {
        let sub = name(sub)?;
        let mut builder = DirBuilder::new();
        cap_std::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match self.dir.create_dir_with(sub, &builder) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        Ok(CacheDir {
            dir: self.dir.open_dir(sub)?,
            path: self.path.join(sub),
        })
    }

    /// A nested subdirectory, one component per element (each created if missing).
    pub fn subdirs(&self, parts: &[&str]) -> io::Result<CacheDir> {
        let mut cur = self.subdir(parts.first().copied().unwrap_or(""))?;
        for part in &parts[1.min(parts.len())..] {
            cur = cur.subdir(part)?;
        }
        Ok(cur)
    }

    /// Whether `file` is a regular file here (symlinks are not followed out).
    pub fn is_file(&self, file: &str) -> bool {
        name(file).is_ok_and(|f| self.dir.symlink_metadata(f).is_ok_and(|m| m.is_file()))
    }

    /// Whether `sub` is a directory here.
    pub fn is_dir(&self, sub: &str) -> bool {
        name(sub).is_ok_and(|f| self.dir.symlink_metadata(f).is_ok_and(|m| m.is_dir()))
    }

    /// Reads a regular file, at most `cap` bytes (more is an error).
    pub fn read(&self, file: &str, cap: u64) -> io::Result<Vec<u8>> {
        let f = self.open(file)?;
        let mut bytes = Vec::new();
        f.take(cap + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > cap {
            return Err(io::Error::other(format!(
                "{} is larger than {cap} bytes",
                self.path.join(file).display()
            )));
        }
        Ok(bytes)
    }

    /// Opens a regular file for reading (a symlink or directory is refused).
    pub fn open(&self, file: &str) -> io::Result<File> {
        let file = name(file)?;
        if !self.dir.symlink_metadata(file)?.is_file() {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                self.path.join(file).display()
            )));
        }
        Ok(self.dir.open(file)?.into_std())
    }

    /// Writes `bytes` to `file` atomically: a temporary file in this directory, then a
    /// rename over the target, so a reader (or a crash) never sees half a file.
    pub fn write_atomic(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        let (tmp, mut out) = self.create_temp(file)?;
        let written = out.write_all(bytes).and_then(|_| out.flush());
        drop(out);
        match written.and_then(|_| self.dir.rename(&tmp, &self.dir, name(file)?)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.dir.remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Creates a fresh temporary file here named after `file` (`.<file>.<pid>.<random>`),
    /// for a caller that streams into it and then [`Self::rename`]s it into place.
    pub fn create_temp(&self, file: &str) -> io::Result<(String, File)> {
        let file = name(file)?;
        for _ in 0..16 {
            let mut random = [0u8; 6];
            getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
            let tmp = format!(
                ".{}.{}.{}",
                file.chars().take(100).collect::<String>(),
                std::process::id(),
                hex::encode(random)
            );
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            cap_std::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match self.dir.open_with(&tmp, &options) {
                Ok(f) => return Ok((tmp, f.into_std())),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("cannot create a temporary file"))
    }

    /// Renames `from` to `to` inside this directory (replacing `to`).
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.dir.rename(name(from)?, &self.dir, name(to)?)
    }

    /// Renames the subdirectory `from` to `to` unless `to` exists (then `from` is removed:
    /// another process finished the same work first). Returns whether `from` was used.
    pub fn rename_dir_unless_exists(&self, from: &str, to: &str) -> io::Result<bool> {
        if self.is_dir(to) {
            let _ = super::remove_tree(&self.path.join(name(from)?));
            return Ok(false);
        }
        match self.dir.rename(name(from)?, &self.dir, name(to)?) {
            Ok(()) => Ok(true),
            Err(_) if self.is_dir(to) => {
                let _ = super::remove_tree(&self.path.join(name(from)?));
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes a file (missing is fine).
    pub fn remove_file(&self, file: &str) -> io::Result<()> {
        match self.dir.remove_file(name(file)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Size and modification time of the regular file `file` (a symlink is refused).
    pub fn file_size_and_time(&self, file: &str) -> io::Result<(u64, std::time::SystemTime)> {
        let meta = self.dir.symlink_metadata(name(file)?)?;
        if !meta.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        Ok((meta.len(), meta.modified()?.into_std()))
    }

    /// Sets the modification time of `file` to now: how a cache in a budget marks a copy
    /// as just used, so that the least recently used go first.
    pub fn touch(&self, file: &str) -> io::Result<()> {
        self.open(file)?.set_modified(std::time::SystemTime::now())
    }

    /// Removes the subdirectory `sub` if it is empty (not empty or missing is fine).
    pub fn remove_empty_dir(&self, sub: &str) {
        let _ = self.dir.remove_dir(name(sub).unwrap_or("."));
    }

    /// Names of the entries here (non-UTF-8 names are skipped).
    pub fn entries(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in self.dir.entries()? {
            if let Some(n) = entry?.file_name().to_str() {
                out.push(n.to_string());
            }
        }
        Ok(out)
    }

    /// A fresh private temporary directory inside this one (`<prefix><pid>.XXXXXX`),
    /// removed on drop unless kept. Stale ones that killed processes left here are swept
    /// first.
    pub fn temp_tree(&self, prefix: &str) -> io::Result<super::TempTree> {
        self.sweep_stale();
        super::TempTree::new_in(
            &self.path,
            &format!("{}{}.", name(prefix)?, std::process::id()),
        )
    }

    /// Removes the temporary files and trees that processes which are gone left here
    /// (a download or an unpack interrupted by `kill -9`): only names this module makes
    /// (`.<file>.<pid>.<random>`, `<prefix><pid>.<random>`) whose pid no longer runs.
    pub fn sweep_stale(&self) {
        for entry in self.entries().unwrap_or_default() {
            let Some(pid) = temp_owner(&entry) else {
                continue;
            };
            if pid == std::process::id() || super::work::pid_alive(pid) {
                continue;
            }
            let _ = super::remove_tree(&self.path.join(&entry));
        }
    }
}

/// The pid in a temporary name this module made, if `entry` is one: `.<file>.<pid>.<12
/// hex>` (files) or `<prefix><pid>.<6 alphanumerics>` (trees).
fn temp_owner(entry: &str) -> Option<u32> {
    let (head, random) = entry.rsplit_once('.')?;
    let is_file = entry.starts_with('.')
        && random.len() == 12
        && random.bytes().all(|b| b.is_ascii_hexdigit());
    let is_tree = random.len() == 6 && random.bytes().all(|b| b.is_ascii_alphanumeric());
    if !is_file && !is_tree {
        return None;
    }
    let digits = if is_file {
        head.rsplit_once('.')?.1
    } else {
        let start = head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        &head[start..]
    };
    digits.parse().ok()
}

/// What identifies a file's current content without reading it: device, inode, size,
/// modification and status-change times. Any write, truncation or replacement changes
/// it, and the status-change time cannot be set back by anyone but root; so a file whose
/// identity is the one recorded when its bytes were last verified still has those bytes.
pub fn file_identity(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{}:{}:{}:{}.{}:{}.{}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    )
}

impl CacheDir {
    /// Whether the stamp `name` records `value` (see [`file_identity`]).
    pub fn stamp_matches(&self, name: &str, value: &str) -> bool {
        self.read(name, 4096)
            .is_ok_and(|recorded| recorded == value.as_bytes())
    }

    /// Records `value` under the stamp `name` (best effort: a stamp only saves work).
    pub fn write_stamp(&self, name: &str, value: &str) {
        let _ = self.write_atomic(name, value.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let root = tmp.path().join("cache");
        std::fs::create_dir(&root).unwrap();
        let cache = CacheDir::open_root(&root).unwrap();
        let files = cache.subdirs(&["files", "ab"]).unwrap();
        files.write_atomic("x.whl", b"1").unwrap();
        assert_eq!(files.read("x.whl", 10).unwrap(), b"1");
        assert!(files.read("x.whl", 0).is_err());
        for bad in ["../../outside/pwned", "/tmp/pwned", "..", "a/b"] {
            assert!(files.write_atomic(bad, b"x").is_err(), "{bad}");
            assert!(cache.subdir(bad).is_err(), "{bad}");
        }
        // A symlink planted inside does not lead out.
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let through = cache
            .subdir("link")
            .and_then(|d| d.write_atomic("pwned", b"x"));
        assert!(through.is_err());
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        assert_eq!(files.entries().unwrap(), vec!["x.whl".to_string()]);
    }

    #[test]
    fn sweeps_what_dead_processes_left() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CacheDir::open_root(tmp.path()).unwrap();
        // 4194305 is above the kernel's pid_max: never a live process.
        for name in [
            ".x.whl.4194305.0123456789ab",
            "unpack4194305.aB3dE9",
            "keep.whl",
        ] {
            std::fs::create_dir_all(tmp.path().join(name)).unwrap();
        }
        let mine = cache.temp_tree("unpack").unwrap();
        assert_eq!(temp_owner(".x.whl.4194305.0123456789ab"), Some(4194305));
        assert_eq!(temp_owner("unpack4194305.aB3dE9"), Some(4194305));
        assert_eq!(temp_owner("keep.whl"), None);
        let mut left = cache.entries().unwrap();
        left.sort();
        let own = mine
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(left, {
            let mut v = vec!["keep.whl".to_string(), own];
            v.sort();
            v
        });
    }
}
