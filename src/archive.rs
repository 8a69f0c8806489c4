//! Safe unpacking of sdists (tar.gz, tgz, tar.bz2, tar.xz, zip) and copies of source trees.
//!
//! Everything is written through a [`cap_std::fs::Dir`] handle on a fresh private temporary
//! directory, so no path in an archive can name a host location, and the whole archive is
//! checked member by member before anything from it is used:
//!
//! - `..` components, absolute paths and drive prefixes are refused;
//! - duplicate members, and members that would replace or pass through an earlier file or
//!   link, are refused;
//! - symbolic links are created only after every file is written, and only if their target,
//!   resolved through the links already in the archive, stays inside the tree (loops are
//!   refused); hard links become copies of an earlier regular file in the archive;
//! - devices, FIFOs, sockets and sparse files are refused, never created;
//! - entry count, unpacked bytes and the compression ratio are capped ([`crate::Limits`]).
//!
//! The temporary directory is removed when the returned [`Unpacked`] is dropped, on every
//! path including errors.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};
use serde::Serialize;

use crate::error::{ArchiveProblem, Error, Result};
use crate::limits::{LimitKind, Limits};

/// What kind of input a path is, decided from its name (or being a directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// `.tar.gz` / `.tgz`.
    SdistTarGz,
    /// `.tar.bz2`.
    SdistTarBz2,
    /// `.tar.xz`.
    SdistTarXz,
    /// `.zip`.
    SdistZip,
    /// `.whl`.
    Wheel,
    /// An unpacked source tree.
    Directory,
}

impl InputKind {
    /// Classifies an input path; `None` for anything sdistill does not read.
    pub fn detect(path: &Path) -> Option<Self> {
        if path.is_dir() {
            return Some(Self::Directory);
        }
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        [
            (".tar.gz", Self::SdistTarGz),
            (".tgz", Self::SdistTarGz),
            (".tar.bz2", Self::SdistTarBz2),
            (".tbz2", Self::SdistTarBz2),
            (".tar.xz", Self::SdistTarXz),
            (".txz", Self::SdistTarXz),
            (".zip", Self::SdistZip),
            (".whl", Self::Wheel),
        ]
        .into_iter()
        .find(|(ext, _)| name.ends_with(ext))
        .map(|(_, kind)| kind)
    }
}

/// A private, unpacked copy of an sdist. Dropping it removes the files (without
/// recursion: the guest may have built a very deep tree in it, see [`crate::dirs::tree`]).
#[derive(Debug)]
pub struct Unpacked {
    temp: crate::dirs::TempTree,
    root: PathBuf,
}

impl Unpacked {
    /// A directory handle on the project root (the single top-level directory of the
    /// sdist, or the archive root when there is none). Reads through it cannot leave it.
    pub fn root_dir(&self) -> Result<Dir> {
        Dir::open_ambient_dir(self.root_path(), ambient_authority())
            .map_err(|e| Error::io(self.root_path(), e))
    }

    /// Host path of the project root; handed to the sandbox as a preopen.
    pub fn root_path(&self) -> PathBuf {
        self.temp.path().join(&self.root)
    }
}

/// Unpacks an sdist archive (or copies a source directory) into a fresh temporary directory
/// under `work_dir` (the system temp dir when `None`).
pub fn unpack(
    path: &Path,
    kind: InputKind,
    limits: &Limits,
    work_dir: Option<&Path>,
) -> Result<Unpacked> {
    let parent = work_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let temp =
        crate::dirs::TempTree::new_in(&parent, "sdist-").map_err(|e| Error::io(&parent, e))?;
    let dir = Dir::open_ambient_dir(temp.path(), ambient_authority())
        .map_err(|e| Error::io(temp.path(), e))?;
    let sink = unpack_into(path, kind, limits, dir)?;
    Ok(Unpacked {
        temp,
        root: sink.project_root(),
    })
}

/// Unpacks `path` into the (empty) directory `dest` with every check of [`unpack`].
/// Used to install guest wheels, whose members must obey the same rules.
pub fn unpack_to_dir(path: &Path, kind: InputKind, limits: &Limits, dest: &Path) -> Result<()> {
    let dir = Dir::open_ambient_dir(dest, ambient_authority()).map_err(|e| Error::io(dest, e))?;
    unpack_into(path, kind, limits, dir).map(|_| ())
}

fn unpack_into(path: &Path, kind: InputKind, limits: &Limits, dir: Dir) -> Result<TreeWriter> {
    let mut sink = TreeWriter::new(dir, *limits);
    match kind {
        InputKind::SdistTarGz | InputKind::SdistTarBz2 | InputKind::SdistTarXz => {
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            let compressed = file.metadata().map_err(|e| Error::io(path, e))?.len();
            let decoder: Box<dyn Read> = match kind {
                InputKind::SdistTarGz => Box::new(flate2::read::MultiGzDecoder::new(file)),
                InputKind::SdistTarBz2 => Box::new(bzip2::read::MultiBzDecoder::new(file)),
                _ => Box::new(liblzma::read::XzDecoder::new_multi_decoder(file)),
            };
            // The ratio is measured on the decompressed stream, before tar parses it.
            let meter = Meter::ratio(decoder, compressed, limits, sink.tripped.clone());
            read_tar(meter, &mut sink, meter_cap(compressed, limits))?;
        }
        InputKind::SdistZip | InputKind::Wheel => {
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            let compressed = file.metadata().map_err(|e| Error::io(path, e))?.len();
            read_zip(file, compressed, &mut sink)?;
        }
        InputKind::Directory => copy_tree(path, &mut sink)?,
    }
    sink.finish()?;
    Ok(sink)
}

// ---------------------------------------------------------------------------------------
// Metering: limits that must trip while data streams, not after it has been written.

/// Which limit tripped inside a reader, shared with the code that maps the I/O error back.
type Tripped = Rc<Cell<Option<LimitKind>>>;

/// Counts decompressed bytes and fails once `ratio x compressed size` is passed.
struct Meter<R> {
    inner: R,
    seen: u64,
    cap: u64,
    tripped: Tripped,
}

impl<R> Meter<R> {
    /// Caps the decompressed stream at `ratio x compressed` (never below the floor).
    fn ratio(inner: R, compressed: u64, limits: &Limits, tripped: Tripped) -> Self {
        let cap = meter_cap(compressed, limits);
        Self {
            inner,
            seen: 0,
            cap,
            tripped,
        }
    }
}

impl<R: Read> Read for Meter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen = self.seen.saturating_add(n as u64);
        if self.seen > self.cap {
            self.tripped.set(Some(LimitKind::CompressionRatio));
            return Err(io::Error::other("compression-ratio limit"));
        }
        Ok(n)
    }
}

/// Decompressed bytes allowed for an archive of `compressed` bytes.
fn meter_cap(compressed: u64, limits: &Limits) -> u64 {
    compressed
        .saturating_mul(limits.max_compression_ratio)
        .max(Limits::RATIO_FLOOR)
}

// ---------------------------------------------------------------------------------------
// The tree model and writer shared by every archive kind.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File,
    Symlink(Vec<String>, String),
}

/// Writes validated members into the private directory and remembers what it wrote.
struct TreeWriter {
    dir: Dir,
    limits: Limits,
    nodes: HashMap<Vec<String>, Node>,
    links: Vec<(Vec<String>, String, String)>,
    entries: u64,
    bytes: u64,
    tripped: Tripped,
}

impl TreeWriter {
    fn new(dir: Dir, limits: Limits) -> Self {
        Self {
            dir,
            limits,
            nodes: HashMap::new(),
            links: Vec::new(),
            entries: 0,
            bytes: 0,
            tripped: Rc::new(Cell::new(None)),
        }
    }

    /// Counts a member against the entry limit.
    fn count_entry(&mut self) -> Result<()> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(Error::limit_exceeded(
                LimitKind::Entries,
                format!("more than {} members", self.limits.max_entries),
            ));
        }
        Ok(())
    }

    /// Refuses a member whose declared size alone would exceed a limit.
    fn check_declared(&self, declared: u64, ratio_cap: u64) -> Result<()> {
        let total = self.bytes.saturating_add(declared);
        if total > self.limits.max_unpacked_size {
            return Err(Error::limit_exceeded(
                LimitKind::UnpackedSize,
                format!(
                    "a member declares {declared} bytes; more than {} in all",
                    self.limits.max_unpacked_size
                ),
            ));
        }
        if total > ratio_cap {
            return Err(Error::limit_exceeded(
                LimitKind::CompressionRatio,
                format!("a member declares {declared} bytes, beyond the ratio limit"),
            ));
        }
        Ok(())
    }

    /// Registers `path` as `node`, refusing duplicates and paths through files or links.
    fn claim(&mut self, path: &[String], node: Node, entry: &str) -> Result<()> {
        for i in 1..path.len() {
            match self.nodes.get(&path[..i]) {
                None => {
                    self.nodes.insert(path[..i].to_vec(), Node::Dir);
                }
                Some(Node::Dir) => {}
                Some(_) => return Err(conflict(entry)),
            }
        }
        match (self.nodes.get(path), &node) {
            (None, _) => {
                self.nodes.insert(path.to_vec(), node);
                Ok(())
            }
            (Some(Node::Dir), Node::Dir) => Ok(()),
            _ => Err(conflict(entry)),
        }
    }

    fn add_dir(&mut self, path: &[String], entry: &str) -> Result<()> {
        self.claim(path, Node::Dir, entry)?;
        if path.is_empty() {
            return Ok(());
        }
        self.dir
            .create_dir_all(join(path))
            .map_err(|e| Error::io(join(path), e))
    }

    fn add_file(&mut self, path: &[String], entry: &str, content: &mut dyn Read) -> Result<()> {
        if path.is_empty() {
            return Err(conflict(entry));
        }
        self.claim(path, Node::File, entry)?;
        let rel = join(path);
        if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.dir
                .create_dir_all(parent)
                .map_err(|e| Error::io(parent, e))?;
        }
        let mut out = self
            .dir
            .open_with(&rel, OpenOptions::new().write(true).create_new(true))
            .map_err(|e| Error::io(&rel, e))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(e)),
            };
            self.bytes += n as u64;
            if self.bytes > self.limits.max_unpacked_size {
                return Err(Error::limit_exceeded(
                    LimitKind::UnpackedSize,
                    format!("more than {} bytes of files", self.limits.max_unpacked_size),
                ));
            }
            out.write_all(&buf[..n]).map_err(|e| Error::io(&rel, e))?;
        }
        Ok(())
    }

    /// Records a symbolic link; it is checked and created in [`Self::finish`].
    fn add_symlink(&mut self, path: &[String], entry: &str, target: &str) -> Result<()> {
        if path.is_empty() || target.is_empty() || target.contains('\0') {
            return Err(ArchiveProblem::LinkEscape {
                entry: entry.to_string(),
                target: target.to_string(),
            }
            .into());
        }
        if is_absolute(target) {
            return Err(ArchiveProblem::LinkEscape {
                entry: entry.to_string(),
                target: target.to_string(),
            }
            .into());
        }
        let parent = path[..path.len() - 1].to_vec();
        self.claim(path, Node::Symlink(parent, target.to_string()), entry)?;
        self.links
            .push((path.to_vec(), entry.to_string(), target.to_string()));
        Ok(())
    }

    /// A hard link becomes a copy of an earlier regular file of the same archive.
    fn add_hardlink(&mut self, path: &[String], entry: &str, target: &str) -> Result<()> {
        let bad = || ArchiveProblem::BadHardLink {
            entry: entry.to_string(),
            target: target.to_string(),
        };
        let target_path = match sanitize(target.as_bytes(), false) {
            Ok(p) => p,
            Err(Error::Archive(ArchiveProblem::Traversal { .. }))
            | Err(Error::Archive(ArchiveProblem::AbsolutePath { .. })) => {
                return Err(ArchiveProblem::LinkEscape {
                    entry: entry.to_string(),
                    target: target.to_string(),
                }
                .into())
            }
            Err(_) => return Err(bad().into()),
        };
        if self.nodes.get(&target_path) != Some(&Node::File) {
            return Err(bad().into());
        }
        let mut src = self
            .dir
            .open(join(&target_path))
            .map_err(|e| Error::io(join(&target_path), e))?;
        self.add_file(path, entry, &mut src)
    }

    fn read_error(&self, e: io::Error) -> Error {
        match self.tripped.get() {
            Some(kind) => Error::limit_exceeded(kind, format!("while decompressing: {e}")),
            None => ArchiveProblem::Corrupt {
                detail: e.to_string(),
            }
            .into(),
        }
    }

    /// Validates and creates the deferred symlinks.
    fn finish(&mut self) -> Result<()> {
        let links = std::mem::take(&mut self.links);
        for (path, entry, target) in links {
            let parent = &path[..path.len() - 1];
            let mut joined: Vec<String> = parent.to_vec();
            joined.extend(target.split('/').map(str::to_string));
            self.resolve(&joined, 0).map_err(|p| match p {
                Resolve::Escape => Error::from(ArchiveProblem::LinkEscape {
                    entry: entry.clone(),
                    target: target.clone(),
                }),
                Resolve::Loop => ArchiveProblem::LinkLoop {
                    entry: entry.clone(),
                }
                .into(),
            })?;
            #[cfg(unix)]
            self.dir
                .symlink(&target, join(&path))
                .map_err(|e| Error::io(join(&path), e))?;
        }
        Ok(())
    }

    /// Resolves a path through the archive's own symlinks. Fails if it ever climbs above
    /// the root or follows more than 32 links.
    fn resolve(&self, path: &[String], depth: u32) -> std::result::Result<Vec<String>, Resolve> {
        if depth > 32 {
            return Err(Resolve::Loop);
        }
        let mut out: Vec<String> = Vec::new();
        for comp in path {
            match comp.as_str() {
                "" | "." => {}
                ".." => {
                    if out.pop().is_none() {
                        return Err(Resolve::Escape);
                    }
                }
                c => {
                    out.push(c.to_string());
                    if let Some(Node::Symlink(parent, target)) = self.nodes.get(&out) {
                        if is_absolute(target) {
                            return Err(Resolve::Escape);
                        }
                        let mut next = parent.clone();
                        next.extend(target.split('/').map(str::to_string));
                        out = self.resolve(&next, depth + 1)?;
                    }
                }
            }
        }
        Ok(out)
    }

    /// The single top-level directory, when the archive has exactly one (the sdist norm).
    fn project_root(&self) -> PathBuf {
        let mut tops = self.nodes.iter().filter(|(p, _)| p.len() == 1);
        match (tops.next(), tops.next()) {
            (Some((p, Node::Dir)), None) => PathBuf::from(&p[0]),
            _ => PathBuf::new(),
        }
    }
}

enum Resolve {
    Escape,
    Loop,
}

fn conflict(entry: &str) -> Error {
    ArchiveProblem::Conflict {
        entry: entry.to_string(),
    }
    .into()
}

fn join(path: &[String]) -> PathBuf {
    path.iter().collect()
}

fn is_absolute(name: &str) -> bool {
    let b = name.as_bytes();
    name.starts_with('/')
        || name.starts_with('\\')
        || (b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic())
}

/// Turns a member name into safe path components, or says why it is refused.
/// `backslash_separates`: zip tools on Windows write `\` as a separator.
fn sanitize(raw: &[u8], backslash_separates: bool) -> Result<Vec<String>> {
    let lossy = || String::from_utf8_lossy(raw).into_owned();
    let name = std::str::from_utf8(raw).map_err(|_| ArchiveProblem::BadName { entry: lossy() })?;
    if name.contains('\0') {
        return Err(ArchiveProblem::BadName { entry: lossy() }.into());
    }
    if is_absolute(name) {
        return Err(ArchiveProblem::AbsolutePath {
            entry: name.to_string(),
        }
        .into());
    }
    let mut parts = Vec::new();
    let split: Box<dyn Iterator<Item = &str>> = if backslash_separates {
        Box::new(name.split(['/', '\\']))
    } else {
        Box::new(name.split('/'))
    };
    for comp in split {
        match comp {
            "" | "." => {}
            ".." => {
                return Err(ArchiveProblem::Traversal {
                    entry: name.to_string(),
                }
                .into())
            }
            c if c.len() >= 2 && c.as_bytes()[1] == b':' => {
                return Err(ArchiveProblem::AbsolutePath {
                    entry: name.to_string(),
                }
                .into())
            }
            c => parts.push(c.to_string()),
        }
    }
    Ok(parts)
}

// ---------------------------------------------------------------------------------------
// Readers.

fn read_tar<R: Read>(reader: R, sink: &mut TreeWriter, ratio_cap: u64) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| sink.read_error(e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| sink.read_error(e))?;
        sink.count_entry()?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        use tar::EntryType as T;
        let kind = entry.header().entry_type();
        match kind {
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => continue,
            _ => {}
        }
        let path = sanitize(&raw, false)?;
        match kind {
            T::Regular | T::Continuous => {
                // Refuse on the declared size before writing a byte: a bomb's header
                // usually announces it.
                let declared = entry.header().size().unwrap_or(0);
                sink.check_declared(declared, ratio_cap)?;
                sink.add_file(&path, &name, &mut entry)?
            }
            T::Directory => sink.add_dir(&path, &name)?,
            T::Symlink | T::Link => {
                let target_raw = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target =
                    std::str::from_utf8(&target_raw).map_err(|_| ArchiveProblem::BadName {
                        entry: name.clone(),
                    })?;
                if kind == T::Symlink {
                    sink.add_symlink(&path, &name, target)?;
                } else {
                    sink.add_hardlink(&path, &name, target)?;
                }
            }
            other => {
                let what = match other {
                    T::Char => "character device",
                    T::Block => "block device",
                    T::Fifo => "FIFO",
                    T::GNUSparse => "sparse file",
                    _ => "member of unknown type",
                };
                return Err(ArchiveProblem::SpecialFile { entry: name, what }.into());
            }
        }
    }
    Ok(())
}

fn zip_error(e: zip::result::ZipError) -> Error {
    ArchiveProblem::Corrupt {
        detail: e.to_string(),
    }
    .into()
}

fn read_zip(file: File, compressed: u64, sink: &mut TreeWriter) -> Result<()> {
    let mut zip = zip::ZipArchive::new(file).map_err(zip_error)?;
    if zip.len() as u64 > sink.limits.max_entries {
        return Err(Error::limit_exceeded(
            LimitKind::Entries,
            format!(
                "{} members, more than {}",
                zip.len(),
                sink.limits.max_entries
            ),
        ));
    }
    let ratio_cap = meter_cap(compressed, &sink.limits);
    for i in 0..zip.len() {
        sink.count_entry()?;
        let mut member = zip.by_index(i).map_err(zip_error)?;
        let raw = member.name_raw().to_vec();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let path = sanitize(&raw, true)?;
        let mode = member.unix_mode().unwrap_or(0);
        const S_IFMT: u32 = 0o170000;
        let what = match mode & S_IFMT {
            0o010000 => Some("FIFO"),
            0o020000 => Some("character device"),
            0o060000 => Some("block device"),
            0o140000 => Some("socket"),
            _ => None,
        };
        if let Some(what) = what {
            return Err(ArchiveProblem::SpecialFile { entry: name, what }.into());
        }
        if member.is_dir() {
            sink.add_dir(&path, &name)?;
        } else if member.is_symlink() {
            let mut target = String::new();
            (&mut member)
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|e| sink.read_error(e))?;
            sink.add_symlink(&path, &name, &target)?;
        } else {
            sink.check_declared(member.size(), ratio_cap)?;
            // The ratio is checked over the whole archive: the total so far plus this member.
            let budget = ratio_cap.saturating_sub(sink.bytes);
            let mut limited = RatioGuard {
                inner: &mut member,
                left: budget,
                tripped: sink.tripped.clone(),
            };
            sink.add_file(&path, &name, &mut limited)?;
        }
    }
    Ok(())
}

/// Fails a zip member's stream once the archive-wide ratio budget is spent.
struct RatioGuard<'a, R> {
    inner: &'a mut R,
    left: u64,
    tripped: Tripped,
}

impl<R: Read> Read for RatioGuard<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.tripped.set(Some(LimitKind::CompressionRatio));
            return Err(io::Error::other("compression-ratio limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Copies a source directory with the same rules as an archive: regular files and
/// directories only, in-tree symlinks recreated, everything else refused.
fn copy_tree(src: &Path, sink: &mut TreeWriter) -> Result<()> {
    let root = Dir::open_ambient_dir(src, ambient_authority()).map_err(|e| Error::io(src, e))?;
    let mut stack: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(rel) = stack.pop() {
        let dir = if rel.is_empty() {
            root.try_clone().map_err(|e| Error::io(src, e))?
        } else {
            root.open_dir(join(&rel))
                .map_err(|e| Error::io(src.join(join(&rel)), e))?
        };
        for item in dir
            .entries()
            .map_err(|e| Error::io(src.join(join(&rel)), e))?
        {
            let item = item.map_err(|e| Error::io(src.join(join(&rel)), e))?;
            sink.count_entry()?;
            let os_name = item.file_name();
            let name = os_name.to_str().ok_or_else(|| ArchiveProblem::BadName {
                entry: os_name.to_string_lossy().into_owned(),
            })?;
            let mut path = rel.clone();
            path.push(name.to_string());
            let shown = path.join("/");
            let ft = item
                .file_type()
                .map_err(|e| Error::io(src.join(&shown), e))?;
            if ft.is_dir() {
                if skipped_dir(&dir, name) {
                    continue;
                }
                sink.add_dir(&path, &shown)?;
                stack.push(path);
            } else if ft.is_file() {
                let mut f = item.open().map_err(|e| Error::io(src.join(&shown), e))?;
                sink.add_file(&path, &shown, &mut f)?;
            } else if ft.is_symlink() {
                let target = dir
                    .read_link_contents(name)
                    .map_err(|e| Error::io(src.join(&shown), e))?;
                let target = target.to_str().ok_or_else(|| ArchiveProblem::BadName {
                    entry: shown.clone(),
                })?;
                sink.add_symlink(&path, &shown, target)?;
            } else {
                return Err(ArchiveProblem::SpecialFile {
                    entry: shown,
                    what: "special file",
                }
                .into());
            }
        }
    }
    Ok(())
}

/// Directories of a source tree that no sdist built from it contains and no build reads:
/// version-control data, virtual environments (any directory with a `pyvenv.cfg`), tool
/// caches. A project directory (`sdistill lock .`) often holds a `.venv` or `.git` far
/// larger than the limits; copying them would only cost time and trip the limits.
fn skipped_dir(parent: &Dir, name: &str) -> bool {
    const SKIPPED: &[&str] = &[
        ".git",
        ".hg",
        ".svn",
        ".venv",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "__pycache__",
        "node_modules",
    ];
    SKIPPED.contains(&name)
        || parent
            .open_dir(name)
            .is_ok_and(|d| d.metadata("pyvenv.cfg").is_ok_and(|m| m.is_file()))
}

/// Reads one member of a wheel (`*.dist-info/METADATA`) without unpacking anything.
///
/// Returns the member name and its text. Entry count and metadata size limits apply.
pub fn read_wheel_metadata(path: &Path, limits: &Limits) -> Result<(String, String)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(zip_error)?;
    if zip.len() as u64 > limits.max_entries {
        return Err(Error::limit_exceeded(
            LimitKind::Entries,
            format!("{} members, more than {}", zip.len(), limits.max_entries),
        ));
    }
    let candidates: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .filter(|n| {
            let mut parts = n.split('/');
            matches!(
                (parts.next(), parts.next(), parts.next()),
                (Some(d), Some("METADATA"), None) if d.ends_with(".dist-info")
            )
        })
        .collect();
    let name = match candidates.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(Error::NoMetadata {
                detail: "wheel has no *.dist-info/METADATA".to_string(),
            })
        }
        _ => {
            return Err(Error::InvalidMetadata {
                file: "*.dist-info/METADATA".to_string(),
                detail: "wheel has more than one .dist-info directory".to_string(),
            })
        }
    };
    let member = zip.by_name(&name).map_err(zip_error)?;
    let text = read_capped(member, limits.max_metadata_size, &name)?;
    Ok((name, text))
}

/// Reads a metadata file completely, refusing more than `cap` bytes. Invalid UTF-8 is
/// decoded lossily (old PKG-INFO files are sometimes Latin-1).
pub fn read_capped(reader: impl Read, cap: u64, what: &str) -> Result<String> {
    let mut bytes = Vec::new();
    reader.take(cap + 1).read_to_end(&mut bytes).map_err(|e| {
        Error::from(ArchiveProblem::Corrupt {
            detail: format!("{what}: {e}"),
        })
    })?;
    if bytes.len() as u64 > cap {
        return Err(Error::limit_exceeded(
            LimitKind::MetadataSize,
            format!("{what} is larger than {cap} bytes"),
        ));
    }
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_names() {
        assert_eq!(sanitize(b"a/./b//c", false).unwrap(), vec!["a", "b", "c"]);
        assert!(matches!(
            sanitize(b"a/../../x", false),
            Err(Error::Archive(ArchiveProblem::Traversal { .. }))
        ));
        assert!(matches!(
            sanitize(b"/etc/passwd", false),
            Err(Error::Archive(ArchiveProblem::AbsolutePath { .. }))
        ));
        assert!(matches!(
            sanitize(b"C:/x", true),
            Err(Error::Archive(ArchiveProblem::AbsolutePath { .. }))
        ));
        assert!(matches!(
            sanitize(b"a\\..\\..\\x", true),
            Err(Error::Archive(ArchiveProblem::Traversal { .. }))
        ));
        assert!(sanitize(b"\xff", false).is_err());
    }

    #[test]
    fn kinds() {
        assert_eq!(
            InputKind::detect(Path::new("x-1.0.tar.gz")),
            Some(InputKind::SdistTarGz)
        );
        assert_eq!(
            InputKind::detect(Path::new("x.TGZ")),
            Some(InputKind::SdistTarGz)
        );
        assert_eq!(InputKind::detect(Path::new("x.rar")), None);
    }
}
