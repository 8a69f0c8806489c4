//! Where a piece of run-time code came from: one of the sdist's own files, or nowhere.
//!
//! `exec(open('pkg/version.py').read())` and `exec(base64.b64decode(...))` look the same to
//! an audit hook: a string compiled at run time. What tells them apart is whether the text
//! is in the sdist. The guest cannot be asked (it can rewrite its copy of the tree before
//! it runs the text), so the host looks, after the run, in the files of the unpacked tree
//! that the guest did not touch: a file whose inode change time is before the first run
//! started was unpacked by sdistill and never written, renamed, linked or chmod-ed by the
//! guest (none of which can set a change time back). Symlinks and special files are
//! skipped, and the walk is bounded in files and bytes; text it cannot check is treated as
//! not found.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::record::SourceDigest;

/// Largest file read.
const MAX_FILE: u64 = 4 * 1024 * 1024;
/// Total bytes read per input.
const MAX_TOTAL: u64 = 64 * 1024 * 1024;
/// Files looked at per input.
const MAX_FILES: usize = 50_000;

/// The untouched files of an unpacked tree.
pub struct Tree {
    root: PathBuf,
    cutoff: (i64, i64),
}

impl Tree {
    /// The tree at `root`; files changed at or after `cutoff` are not the sdist's.
    pub fn new(root: &Path, cutoff: SystemTime) -> Self {
        let since = cutoff.duration_since(UNIX_EPOCH).unwrap_or_default();
        Self {
            root: root.to_path_buf(),
            cutoff: (
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
                i64::from(since.subsec_nanos()),
            ),
        }
    }

    /// For each piece of code, the sdist file (relative path) that contains it, if any.
    /// One pass over the tree, one file in memory at a time, stopping when all are found.
    pub fn find_all(&self, codes: &[&SourceDigest]) -> Vec<Option<String>> {
        let mut found: Vec<Option<String>> = vec![None; codes.len()];
        if codes.is_empty() {
            return found;
        }
        let finders: Vec<Option<memchr::memmem::Finder<'_>>> = codes
            .iter()
            .map(|c| {
                c.text
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .map(|t| memchr::memmem::Finder::new(t.as_bytes()))
            })
            .collect();
        self.each_file(|name, body| {
            let mut digest = None;
            for (i, code) in codes.iter().enumerate() {
                if found[i].is_some() {
                    continue;
                }
                let hit = match &finders[i] {
                    Some(finder) => finder.find(body).is_some(),
                    None if body.len() as u64 >= code.len => digest
                        .get_or_insert_with(|| hex::encode(Sha256::digest(trim(body))))
                        .eq_ignore_ascii_case(&code.sha256),
                    None => false,
                };
                if hit {
                    found[i] = Some(name.to_string());
                }
            }
            found.iter().any(Option::is_none)
        });
        found
    }

    /// The sdist file that contains one piece of code, if any.
    pub fn find(&self, code: &SourceDigest) -> Option<String> {
        self.find_all(&[code]).pop().flatten()
    }

    /// Calls `visit` with every untouched regular file (relative name, content with `\r`
    /// removed) within the bounds, until it returns false; no recursion.
    fn each_file(&self, mut visit: impl FnMut(&str, &[u8]) -> bool) {
        let mut total = 0u64;
        let mut seen = 0usize;
        let mut todo = vec![self.root.clone()];
        while let Some(dir) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                seen += 1;
                if seen > MAX_FILES {
                    return;
                }
                let path = entry.path();
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.is_dir() {
                    todo.push(path);
                    continue;
                }
                let untouched = (meta.ctime(), meta.ctime_nsec()) < self.cutoff;
                if !meta.is_file() || !untouched || meta.len() > MAX_FILE {
                    continue;
                }
                if total + meta.len() > MAX_TOTAL {
                    return;
                }
                let Some(mut body) = read_no_follow(&path, meta.len()) else {
                    continue;
                };
                total += body.len() as u64;
                body.retain(|b| *b != b'\r');
                let name = path
                    .strip_prefix(&self.root)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                if !visit(&name, &body) {
                    return;
                }
            }
        }
    }
}

fn read_no_follow(path: &Path, len: u64) -> Option<Vec<u8>> {
    let file = File::options()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .ok()?;
    let mut body = Vec::with_capacity(usize::try_from(len).ok()?);
    file.take(MAX_FILE).read_to_end(&mut body).ok()?;
    Some(body)
}

/// Whitespace trimmed from both ends, as Python's `str.strip()` does.
fn trim(body: &[u8]) -> &[u8] {
    let text = std::str::from_utf8(body).unwrap_or_default();
    if text.is_empty() && !body.is_empty() {
        return body;
    }
    text.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
        .as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(text: &str, send_whole: bool) -> SourceDigest {
        let norm = text.replace('\r', "");
        let norm = norm.trim();
        SourceDigest {
            sha256: hex::encode(Sha256::digest(norm.as_bytes())),
            len: norm.len() as u64,
            text: send_whole.then(|| norm.to_string()),
        }
    }

    #[test]
    fn finds_text_in_untouched_files_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pkg")).unwrap();
        let version = "# v\r\n__version__ = '1.0'\r\n";
        std::fs::write(dir.path().join("pkg/version.py"), version).unwrap();
        let big = "x = 1\n".repeat(2000);
        std::fs::write(dir.path().join("big.py"), format!("\n{big}\n")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let cutoff = SystemTime::now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Written "by the guest" after the cutoff: not the sdist's.
        std::fs::write(dir.path().join("payload.py"), "import socket").unwrap();
        let tree = Tree::new(dir.path(), cutoff);
        assert_eq!(
            tree.find(&digest("__version__ = '1.0'", true)).as_deref(),
            Some("pkg/version.py")
        );
        assert_eq!(
            tree.find(&digest(version, true)).as_deref(),
            Some("pkg/version.py")
        );
        assert_eq!(tree.find(&digest(&big, false)).as_deref(), Some("big.py"));
        assert_eq!(tree.find(&digest("import socket", true)), None);
        assert_eq!(tree.find(&digest("import os", true)), None);
        let (a, b) = (digest("x = 1", true), digest("nowhere", true));
        assert_eq!(
            tree.find_all(&[&a, &b]),
            vec![Some("big.py".to_string()), None]
        );
    }
}
