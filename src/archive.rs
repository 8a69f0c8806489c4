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
//! - entry count, unpacked bytes and the compression ratio are capped ([`crate::Limits`]);
//! - so is what the archive crates hold in memory on their own: tar extension records
//!   (pax, GNU long names) and skipped data between two members, and a zip's central
//!   directory, checked from its end records before the zip crate reads it;
//! - member paths and link targets are bounded in length and depth, and nothing recurses
//!   on a depth the input chooses;
//! - the tree is private: directories 0700, files 0600.
//!
//! The temporary directory is removed when the returned [`Unpacked`] is dropped, on every
//! path including errors.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, DirBuilder, OpenOptions};
use serde::Serialize;

use crate::error::{excerpt, ArchiveProblem, Error, Result};
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
        Self::from_file_name(&path.file_name()?.to_string_lossy())
    }

    /// The kind a file of this name is, by its ending alone (nothing on disk is looked
    /// at): for a file known only by name, such as a manifest URL's.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
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

/// An input archive opened once: the hash, the unpacking and every read of the input are
/// of the bytes behind this one descriptor. Opening a path again for each step would let
/// whoever can replace the file between two steps (a shared directory, a symlink flipped
/// in a loop) have one file's answer cached under another file's sha256; and opening a
/// FIFO or a device by name would hang or read without end.
#[derive(Debug)]
pub struct InputFile {
    file: File,
    path: PathBuf,
    len: u64,
}

impl InputFile {
    /// Opens `path` without blocking (a FIFO does not wait for a writer) and keeps it only
    /// if the descriptor is a regular file.
    pub fn open(path: &Path) -> Result<Self> {
        use rustix::fs::{Mode, OFlags};
        let file: File = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| Error::io(path, e.into()))?
        .into();
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Err(Error::NotARegularFile {
                path: path.to_path_buf(),
                what: file_type_name(&meta.file_type()),
            });
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
            len: meta.len(),
        })
    }

    /// The path it was opened by, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its size when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it was empty when it was opened.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A reader at its start. (Duplicated descriptors share one offset: readers are used
    /// one after another, never at once.)
    pub fn reader(&self) -> Result<File> {
        let mut file = self
            .file
            .try_clone()
            .map_err(|e| Error::io(&self.path, e))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(file)
    }
}

/// What a non-regular file is, for the refusal.
fn file_type_name(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
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
    match kind {
        InputKind::Directory => unpack_in_temp(Input::Tree(path), kind, limits, work_dir),
        _ => unpack_in_temp(Input::File(&InputFile::open(path)?), kind, limits, work_dir),
    }
}

/// [`unpack`] of an archive already opened: its bytes are the ones that were hashed.
pub fn unpack_opened(
    input: &InputFile,
    kind: InputKind,
    limits: &Limits,
    work_dir: Option<&Path>,
) -> Result<Unpacked> {
    unpack_in_temp(Input::File(input), kind, limits, work_dir)
}

/// Unpacks `input` into a fresh temporary directory under `work_dir` (the system temp
/// dir when `None`).
fn unpack_in_temp(
    input: Input<'_>,
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
    let sink = unpack_into(input, kind, limits, dir)?;
    Ok(Unpacked {
        temp,
        root: sink.project_root(),
    })
}

/// What is unpacked: an opened archive, or a source tree copied by path.
enum Input<'a> {
    File(&'a InputFile),
    Tree(&'a Path),
}

/// Unpacks `path` into the (empty) directory `dest` with every check of [`unpack`].
/// Used to install guest wheels, whose members must obey the same rules.
pub fn unpack_to_dir(path: &Path, kind: InputKind, limits: &Limits, dest: &Path) -> Result<()> {
    let dir = Dir::open_ambient_dir(dest, ambient_authority()).map_err(|e| Error::io(dest, e))?;
    match kind {
        InputKind::Directory => unpack_into(Input::Tree(path), kind, limits, dir),
        _ => unpack_into(Input::File(&InputFile::open(path)?), kind, limits, dir),
    }
    .map(|_| ())
}

fn unpack_into(input: Input<'_>, kind: InputKind, limits: &Limits, dir: Dir) -> Result<TreeWriter> {
    let mut sink = TreeWriter::new(dir, *limits);
    match (input, kind) {
        (Input::Tree(path), _) => copy_tree(path, &mut sink)?,
        (Input::File(input), InputKind::SdistZip | InputKind::Wheel) => read_zip(input, &mut sink)?,
        (Input::File(input), InputKind::Directory) => {
            return Err(Error::NotARegularFile {
                path: input.path().to_path_buf(),
                what: "a file where a directory was expected",
            })
        }
        (Input::File(input), _) => {
            let file = input.reader()?;
            let compressed = input.len();
            let decoder: Box<dyn Read> = match kind {
                InputKind::SdistTarGz => Box::new(flate2::read::MultiGzDecoder::new(file)),
                InputKind::SdistTarBz2 => Box::new(bzip2::read::MultiBzDecoder::new(file)),
                _ => Box::new(liblzma::read::XzDecoder::new_multi_decoder(file)),
            };
            // The ratio is measured on the decompressed stream, before tar parses it; the
            // window caps what the tar crate reads on its own between two members.
            let ratio_cap = meter_cap(compressed, limits);
            let meter = Meter::new(decoder, ratio_cap, sink.tripped.clone());
            let window = Window::default();
            let stream = Windowed::new(meter, window.clone(), sink.tripped.clone());
            read_tar(stream, &window, &mut sink, ratio_cap)?;
        }
    }
    sink.finish()?;
    Ok(sink)
}

// ---------------------------------------------------------------------------------------
// Metering: limits that must trip while data streams, not after it has been written.

/// Which limit tripped inside a reader, shared with the code that maps the I/O error back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    /// A configured limit.
    Limit(LimitKind),
    /// A [`Window`] closed: the reader read more than its window allowed.
    Window,
}

type Tripped = Rc<Cell<Option<Trip>>>;

/// Counts decompressed bytes and fails once `ratio x compressed size` is passed.
struct Meter<R> {
    inner: R,
    seen: u64,
    cap: u64,
    tripped: Tripped,
}

impl<R> Meter<R> {
    /// Caps the decompressed stream at `cap` bytes (see [`meter_cap`]).
    fn new(inner: R, cap: u64, tripped: Tripped) -> Self {
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
            self.tripped
                .set(Some(Trip::Limit(LimitKind::CompressionRatio)));
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

/// Bytes a [`Windowed`] reader may still pass, or `None` while no window is open. The
/// archive crates own their reader, so the code that drives them opens and lifts the
/// window through this shared cell around the calls that read on their own.
#[derive(Clone, Default)]
struct Window(Rc<Cell<Option<u64>>>);

impl Window {
    /// Allows `bytes` more bytes, until [`Self::lift`].
    fn open(&self, bytes: u64) {
        self.0.set(Some(bytes));
    }

    /// Lets every byte through (member data, which is metered by the writer).
    fn lift(&self) {
        self.0.set(None);
    }
}

/// Fails a read once the open [`Window`] is spent. What an archive crate reads inside one
/// call, it holds in memory (tar extension records, a zip central directory): this is
/// what bounds that memory.
struct Windowed<R> {
    inner: R,
    window: Window,
    tripped: Tripped,
}

impl<R> Windowed<R> {
    fn new(inner: R, window: Window, tripped: Tripped) -> Self {
        Self {
            inner,
            window,
            tripped,
        }
    }
}

impl<R: Read> Read for Windowed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(left) = self.window.0.get() else {
            return self.inner.read(buf);
        };
        // Never ask for more than the window allows, plus one byte to see it overflow.
        let want = buf.len().min(
            usize::try_from(left)
                .unwrap_or(usize::MAX)
                .saturating_add(1),
        );
        let n = self.inner.read(&mut buf[..want])?;
        match left.checked_sub(n as u64) {
            Some(rest) => {
                self.window.0.set(Some(rest));
                Ok(n)
            }
            None => {
                self.tripped.set(Some(Trip::Window));
                Err(io::Error::other("read window exceeded"))
            }
        }
    }
}

impl<R: Seek> Seek for Windowed<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

// ---------------------------------------------------------------------------------------
// The tree model and writer shared by every archive kind.

/// What a path in the unpacked tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File,
    /// A symbolic link and its target, created in [`TreeWriter::finish`].
    Symlink(String),
}

/// Index of a [`TreeNode`] in [`TreeWriter::tree`]; the root is [`ROOT`].
type NodeId = usize;
const ROOT: NodeId = 0;

/// One path of the unpacked tree. The tree is kept as a trie so that registering a member
/// costs one lookup per component and one small node per new component: keying every
/// prefix by its full path made a deep member cost memory quadratic in its depth.
#[derive(Debug)]
struct TreeNode {
    node: Node,
    /// The containing directory (the root is its own parent).
    parent: NodeId,
    /// The last path component (empty for the root).
    name: String,
    children: HashMap<String, NodeId>,
}

/// A position reached while resolving a link: a node of the tree, and how many components
/// past it the path went into names the archive does not have.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    at: NodeId,
    beyond: usize,
}

/// Why a link cannot be created.
#[derive(Debug, Clone, Copy)]
enum Resolve {
    Escape,
    Loop,
}

/// A link's resolution: where it leads and how many links that followed (itself
/// included); `None` while it is being resolved, so that meeting it again is a loop.
type LinkMemo = HashMap<NodeId, Option<Result<(Cursor, u32), Resolve>>>;

/// Symbolic links followed in all to resolve one link, as Linux allows (`MAXSYMLINKS`).
const MAX_LINK_FOLLOWS: u32 = 40;

/// Writes validated members into the private directory and remembers what it wrote.
struct TreeWriter {
    dir: Dir,
    limits: Limits,
    tree: Vec<TreeNode>,
    links: Vec<NodeId>,
    /// Bytes of the link targets held until [`Self::finish`].
    link_bytes: u64,
    entries: u64,
    bytes: u64,
    tripped: Tripped,
}

impl TreeWriter {
    fn new(dir: Dir, limits: Limits) -> Self {
        let root = TreeNode {
            node: Node::Dir,
            parent: ROOT,
            name: String::new(),
            children: HashMap::new(),
        };
        Self {
            dir,
            limits,
            tree: vec![root],
            links: Vec::new(),
            link_bytes: 0,
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

    /// The child of `at` named `name`, if the tree has it.
    fn child(&self, at: NodeId, name: &str) -> Option<NodeId> {
        self.tree[at].children.get(name).copied()
    }

    /// The node at `path`, without following links.
    fn lookup(&self, path: &[String]) -> Option<NodeId> {
        path.iter().try_fold(ROOT, |at, name| self.child(at, name))
    }

    /// The path of `id` from the root.
    fn path_of(&self, mut id: NodeId) -> Vec<String> {
        let mut path = Vec::new();
        while id != ROOT {
            path.push(self.tree[id].name.clone());
            id = self.tree[id].parent;
        }
        path.reverse();
        path
    }

    /// Adds a node; the tree (directories implied by member paths included) is capped
    /// by the entry limit, as each node is a file, directory or link on disk.
    fn insert(&mut self, parent: NodeId, name: &str, node: Node) -> Result<NodeId> {
        if self.tree.len() as u64 > self.limits.max_entries {
            return Err(Error::limit_exceeded(
                LimitKind::Entries,
                format!(
                    "more than {} files, directories and links (members and the directories their paths imply)",
                    self.limits.max_entries
                ),
            ));
        }
        let id = self.tree.len();
        self.tree.push(TreeNode {
            node,
            parent,
            name: name.to_string(),
            children: HashMap::new(),
        });
        self.tree[parent].children.insert(name.to_string(), id);
        Ok(id)
    }

    /// Registers `path` as `node`, refusing duplicates and paths through files or links.
    /// Returns the node and the index of the first component that is new (whose
    /// directories the caller creates); `path.len()` when nothing is new.
    fn claim(&mut self, path: &[String], node: Node, entry: &str) -> Result<(NodeId, usize)> {
        check_path_shape(path, entry)?;
        let Some((last, parents)) = path.split_last() else {
            return match node {
                Node::Dir => Ok((ROOT, 0)),
                _ => Err(conflict(entry)),
            };
        };
        let mut at = ROOT;
        let mut first_new = path.len();
        for (i, name) in parents.iter().enumerate() {
            at = match self.child(at, name) {
                Some(id) if self.tree[id].node == Node::Dir => id,
                Some(_) => return Err(conflict(entry)),
                None => {
                    first_new = first_new.min(i);
                    self.insert(at, name, Node::Dir)?
                }
            };
        }
        match self.child(at, last) {
            Some(id) if self.tree[id].node == Node::Dir && node == Node::Dir => Ok((id, first_new)),
            Some(_) => Err(conflict(entry)),
            None => {
                let id = self.insert(at, last, node)?;
                Ok((id, first_new.min(path.len() - 1)))
            }
        }
    }

    /// Creates the directories `path[..=j]` for `j` in `from..to`, one level at a time
    /// (nothing recurses on the depth), private to the user.
    fn make_dirs(&self, path: &[String], from: usize, to: usize) -> Result<()> {
        let builder = private_dir_builder();
        for j in from..to {
            let rel = join(&path[..=j]);
            self.dir
                .create_dir_with(&rel, &builder)
                .map_err(|e| Error::io(rel, e))?;
        }
        Ok(())
    }

    fn add_dir(&mut self, path: &[String], entry: &str) -> Result<NodeId> {
        let (id, first_new) = self.claim(path, Node::Dir, entry)?;
        self.make_dirs(path, first_new, path.len())?;
        Ok(id)
    }

    fn add_file(&mut self, path: &[String], entry: &str, content: &mut dyn Read) -> Result<()> {
        if path.is_empty() {
            return Err(conflict(entry));
        }
        let (_, first_new) = self.claim(path, Node::File, entry)?;
        self.make_dirs(path, first_new, path.len() - 1)?;
        let rel = join(path);
        let mut out = self
            .dir
            .open_with(&rel, &private_file_options())
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
        let escape = || ArchiveProblem::LinkEscape {
            entry: entry.to_string(),
            target: excerpt(target, 200).into_owned(),
        };
        if path.is_empty() || target.is_empty() || target.contains('\0') || is_absolute(target) {
            return Err(escape().into());
        }
        check_target_shape(target, entry)?;
        self.link_bytes += target.len() as u64;
        if self.link_bytes > Limits::MAX_LINK_TARGETS {
            return Err(path_too_long(
                entry,
                format!(
                    "a link target past {} bytes of link targets in all",
                    Limits::MAX_LINK_TARGETS
                ),
            ));
        }
        let (id, first_new) = self.claim(path, Node::Symlink(target.to_string()), entry)?;
        self.make_dirs(path, first_new, path.len() - 1)?;
        self.links.push(id);
        Ok(())
    }

    /// A hard link becomes a copy of an earlier regular file of the same archive.
    fn add_hardlink(&mut self, path: &[String], entry: &str, target: &str) -> Result<()> {
        let bad = || ArchiveProblem::BadHardLink {
            entry: entry.to_string(),
            target: excerpt(target, 200).into_owned(),
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
            Err(Error::Archive(problem @ ArchiveProblem::PathTooLong { .. })) => {
                return Err(problem.into())
            }
            Err(_) => return Err(bad().into()),
        };
        match self.lookup(&target_path) {
            Some(id) if self.tree[id].node == Node::File => {}
            _ => return Err(bad().into()),
        }
        let mut src = self
            .dir
            .open(join(&target_path))
            .map_err(|e| Error::io(join(&target_path), e))?;
        self.add_file(path, entry, &mut src)
    }

    fn read_error(&self, e: io::Error) -> Error {
        match self.tripped.get() {
            Some(Trip::Limit(kind)) => {
                Error::limit_exceeded(kind, format!("while decompressing: {e}"))
            }
            Some(Trip::Window) | None => ArchiveProblem::Corrupt {
                detail: e.to_string(),
            }
            .into(),
        }
    }

    /// Validates and creates the deferred symlinks.
    fn finish(&mut self) -> Result<()> {
        let links = std::mem::take(&mut self.links);
        let mut memo = LinkMemo::new();
        for id in links {
            let Node::Symlink(target) = &self.tree[id].node else {
                continue;
            };
            let path = self.path_of(id);
            self.follow(id, &mut memo, 0).map_err(|p| {
                let entry = path.join("/");
                match p {
                    Resolve::Escape => Error::from(ArchiveProblem::LinkEscape {
                        entry,
                        target: target.clone(),
                    }),
                    Resolve::Loop => ArchiveProblem::LinkLoop { entry }.into(),
                }
            })?;
            #[cfg(unix)]
            self.dir
                .symlink(target, join(&path))
                .map_err(|e| Error::io(join(&path), e))?;
        }
        Ok(())
    }

    /// Resolves link `id` through the archive's own links: where it leads and how many
    /// links that followed. Each link is resolved once (`memo`), so the work is linear in
    /// the links and their targets; `depth` (links being resolved above this one) bounds
    /// the recursion, as more than [`MAX_LINK_FOLLOWS`] would fail anyway.
    fn follow(
        &self,
        id: NodeId,
        memo: &mut LinkMemo,
        depth: u32,
    ) -> std::result::Result<(Cursor, u32), Resolve> {
        match memo.get(&id) {
            Some(Some(done)) => return *done,
            Some(None) => return Err(Resolve::Loop),
            None if depth > MAX_LINK_FOLLOWS => return Err(Resolve::Loop),
            None => {}
        }
        memo.insert(id, None);
        let result = self.walk_target(id, memo, depth);
        memo.insert(id, Some(result));
        result
    }

    /// Walks link `id`'s target from the link's directory. Fails if it ever climbs above
    /// the root or, counting every link on the way, follows more than
    /// [`MAX_LINK_FOLLOWS`].
    fn walk_target(
        &self,
        id: NodeId,
        memo: &mut LinkMemo,
        depth: u32,
    ) -> std::result::Result<(Cursor, u32), Resolve> {
        let Node::Symlink(target) = &self.tree[id].node else {
            return Ok((Cursor { at: id, beyond: 0 }, 0));
        };
        if is_absolute(target) {
            return Err(Resolve::Escape);
        }
        let mut cursor = Cursor {
            at: self.tree[id].parent,
            beyond: 0,
        };
        let mut follows = 1u32;
        for comp in target.split('/') {
            match comp {
                "" | "." => {}
                ".." if cursor.beyond > 0 => cursor.beyond -= 1,
                ".." if cursor.at == ROOT => return Err(Resolve::Escape),
                ".." => cursor.at = self.tree[cursor.at].parent,
                _ if cursor.beyond > 0 => cursor.beyond += 1,
                name => match self.child(cursor.at, name) {
                    None => cursor.beyond = 1,
                    Some(child) if matches!(self.tree[child].node, Node::Symlink(_)) => {
                        let (to, n) = self.follow(child, memo, depth + 1)?;
                        follows = follows.saturating_add(n);
                        if follows > MAX_LINK_FOLLOWS {
                            return Err(Resolve::Loop);
                        }
                        cursor = to;
                    }
                    Some(child) => cursor.at = child,
                },
            }
        }
        Ok((cursor, follows))
    }

    /// The single top-level directory, when the archive has exactly one (the sdist norm).
    fn project_root(&self) -> PathBuf {
        let mut tops = self.tree[ROOT].children.iter();
        match (tops.next(), tops.next()) {
            (Some((name, &id)), None) if self.tree[id].node == Node::Dir => PathBuf::from(name),
            _ => PathBuf::new(),
        }
    }
}

/// Directories of the unpacked tree: private to the user (the guest runs as the same
/// user, so installed guest wheels stay usable).
fn private_dir_builder() -> DirBuilder {
    let mut builder = DirBuilder::new();
    #[cfg(unix)]
    {
        use cap_std::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
}

/// Files of the unpacked tree: new, and private to the user.
fn private_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use cap_std::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn conflict(entry: &str) -> Error {
    ArchiveProblem::Conflict {
        entry: entry.to_string(),
    }
    .into()
}

fn path_too_long(entry: &str, detail: String) -> Error {
    ArchiveProblem::PathTooLong {
        entry: excerpt(entry, 200).into_owned(),
        detail,
    }
    .into()
}

/// Refuses a path too deep, too long, or with a component no filesystem could create.
/// Every path of the tree passes here ([`TreeWriter::claim`]), whatever its source.
fn check_path_shape(path: &[String], entry: &str) -> Result<()> {
    if path.len() > Limits::MAX_PATH_DEPTH {
        return Err(path_too_long(
            entry,
            format!(
                "{} path components, more than {}",
                path.len(),
                Limits::MAX_PATH_DEPTH
            ),
        ));
    }
    let bytes = path.iter().map(|c| c.len() + 1).sum::<usize>();
    if bytes > Limits::MAX_PATH_BYTES {
        return Err(path_too_long(
            entry,
            format!(
                "a path of {bytes} bytes, more than {}",
                Limits::MAX_PATH_BYTES
            ),
        ));
    }
    match path.iter().find(|c| c.len() > Limits::MAX_NAME_BYTES) {
        Some(c) => Err(path_too_long(
            entry,
            format!(
                "a name of {} bytes, more than {}",
                c.len(),
                Limits::MAX_NAME_BYTES
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses a link target too long or too deep to be one a real tree needs.
fn check_target_shape(target: &str, entry: &str) -> Result<()> {
    if target.len() > Limits::MAX_PATH_BYTES {
        return Err(path_too_long(
            entry,
            format!(
                "a link target of {} bytes, more than {}",
                target.len(),
                Limits::MAX_PATH_BYTES
            ),
        ));
    }
    let depth = target.split('/').count();
    if depth > Limits::MAX_PATH_DEPTH {
        return Err(path_too_long(
            entry,
            format!(
                "a link target of {depth} components, more than {}",
                Limits::MAX_PATH_DEPTH
            ),
        ));
    }
    Ok(())
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
    // Before anything is split or copied: a tar name can be a megabyte long.
    if raw.len() > Limits::MAX_PATH_BYTES {
        return Err(path_too_long(
            &lossy(),
            format!(
                "a path of {} bytes, more than {}",
                raw.len(),
                Limits::MAX_PATH_BYTES
            ),
        ));
    }
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

/// Reads a tar stream member by member. The window is open while the tar crate looks for
/// the next member (reading extension records into memory, skipping what the previous
/// member left unread) and lifted while a member's data is written.
fn read_tar<R: Read>(
    reader: R,
    window: &Window,
    sink: &mut TreeWriter,
    ratio_cap: u64,
) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive.entries().map_err(|e| sink.read_error(e))?;
    let mut after = "the start of the archive".to_string();
    loop {
        window.open(Limits::MAX_TAR_EXTENSION);
        let next = entries.next();
        window.lift();
        let Some(entry) = next else {
            return Ok(());
        };
        let mut entry = entry.map_err(|e| match sink.tripped.get() {
            Some(Trip::Window) => ArchiveProblem::ExtensionHeaders {
                after: after.clone(),
            }
            .into(),
            _ => sink.read_error(e),
        })?;
        sink.count_entry()?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        after = format!("member `{}`", excerpt(&name, 200));
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
            T::Directory => {
                sink.add_dir(&path, &name)?;
            }
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
}

fn zip_error(e: zip::result::ZipError) -> Error {
    ArchiveProblem::Corrupt {
        detail: e.to_string(),
    }
    .into()
}

/// How far from its end a zip's end-of-central-directory record can start: the record
/// (22 bytes), its signature and a comment of up to 64 KiB, as the zip crate searches.
const EOCD_SEARCH: u64 = 22 + 4 + (1 << 16);

/// Opens a zip (sdist or wheel) for reading, having bounded what the zip crate reads into
/// memory first: the declared entry count and central-directory size of every end record
/// it could use ([`check_zip_end_records`]), then, as a backstop whatever it finds, the
/// bytes it may read while it parses the central directory.
fn open_zip(input: &InputFile, limits: &Limits) -> Result<zip::ZipArchive<Windowed<File>>> {
    open_zip_capped(input, limits, Limits::MAX_ZIP_CENTRAL_DIRECTORY)
}

/// [`open_zip`] with the central-directory cap as a parameter, for tests.
fn open_zip_capped(
    input: &InputFile,
    limits: &Limits,
    cap: u64,
) -> Result<zip::ZipArchive<Windowed<File>>> {
    let path = input.path();
    open_zip_reader(input.reader()?, limits, cap, &|e| Error::io(path, e))
}

/// [`open_zip_capped`] for any seekable reader (a file, or a wheel read over HTTP range
/// requests): the same end-record checks, central-directory window and member checks.
/// `io_error` turns a failure of the reader itself into the caller's error.
fn open_zip_reader<R: Read + Seek>(
    mut file: R,
    limits: &Limits,
    cap: u64,
    io_error: &dyn Fn(io::Error) -> Error,
) -> Result<zip::ZipArchive<Windowed<R>>> {
    check_zip_end_records(&mut file, limits, cap).map_err(|e| match e {
        ZipEndError::Io(e) => io_error(e),
        ZipEndError::Refused(e) => e,
    })?;
    let window = Window::default();
    let tripped: Tripped = Rc::new(Cell::new(None));
    window.open(cap + 2 * EOCD_SEARCH);
    let reader = Windowed::new(file, window.clone(), tripped.clone());
    let zip = zip::ZipArchive::new(reader).map_err(|e| match tripped.get() {
        Some(Trip::Window) => ArchiveProblem::CentralDirectoryTooLarge {
            detail: "found larger while reading it".to_string(),
            cap,
        }
        .into(),
        _ => zip_error(e),
    })?;
    window.lift();
    // The zip crate keys members by name: a second record of a name silently replaces
    // the first, where other tools may read the first. Refused like tar duplicates.
    if zip.has_duplicate_names() {
        return Err(ArchiveProblem::DuplicateZipName.into());
    }
    if zip.offset() != 0 {
        return Err(ArchiveProblem::ZipPrefix {
            bytes: zip.offset(),
        }
        .into());
    }
    if zip.len() as u64 > limits.max_entries {
        return Err(Error::limit_exceeded(
            LimitKind::Entries,
            format!("{} members, more than {}", zip.len(), limits.max_entries),
        ));
    }
    Ok(zip)
}

/// What reading a zip's end records found wrong.
enum ZipEndError {
    Io(io::Error),
    Refused(Error),
}

impl From<io::Error> for ZipEndError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// What an end record declares.
#[derive(Debug, Clone, Copy)]
struct ZipEnd {
    entries: u64,
    directory_size: u64,
}

/// Refuses a zip whose end-of-central-directory records (classic and zip64) declare more
/// entries than the limit or a central directory above [`Limits::MAX_ZIP_CENTRAL_DIRECTORY`],
/// before the zip crate allocates for them. Every plausible record in the search area is
/// checked, as the zip crate falls back from the last to earlier ones.
fn check_zip_end_records<R: Read + Seek>(
    file: &mut R,
    limits: &Limits,
    cap: u64,
) -> Result<(), ZipEndError> {
    let len = file.seek(SeekFrom::End(0))?;
    let start = len.saturating_sub(EOCD_SEARCH);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    (&mut *file).take(EOCD_SEARCH).read_to_end(&mut tail)?;
    for i in (0..tail.len().saturating_sub(21)).rev() {
        if tail[i..i + 4] != [0x50, 0x4b, 0x05, 0x06] {
            continue;
        }
        let position = start + i as u64;
        let Some((end, zip64)) = classic_end(&tail[i..i + 22], position, len) else {
            continue;
        };
        let end = match zip64 {
            true => zip64_end(file, position)?.unwrap_or(end),
            false => end,
        };
        if end.entries > limits.max_entries {
            return Err(ZipEndError::Refused(Error::limit_exceeded(
                LimitKind::Entries,
                format!(
                    "the zip declares {} members, more than {}",
                    end.entries, limits.max_entries
                ),
            )));
        }
        if end.directory_size > cap {
            return Err(ZipEndError::Refused(
                ArchiveProblem::CentralDirectoryTooLarge {
                    detail: format!("declared as {} bytes", end.directory_size),
                    cap,
                }
                .into(),
            ));
        }
    }
    Ok(())
}

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// Reads a classic end record at `position` of a file of `len` bytes, with the zip crate's
/// own plausibility checks (a stray signature in data or a comment is skipped). The bool
/// says a field is saturated, so that the zip64 record holds the real value.
fn classic_end(record: &[u8], position: u64, len: u64) -> Option<(ZipEnd, bool)> {
    let entries = le16(record, 8).max(le16(record, 10));
    let directory_size = le32(record, 12);
    let offset = le32(record, 16);
    let comment = le16(record, 20);
    if position + 22 + comment > len {
        return None;
    }
    let zip64 = entries == 0xffff || directory_size == 0xffff_ffff || offset == 0xffff_ffff;
    if !zip64 && offset > position {
        return None;
    }
    Some((
        ZipEnd {
            entries,
            directory_size,
        },
        zip64,
    ))
}

/// The zip64 end record that the locator before the classic record at `position` points
/// to, or that sits right before the locator (where writers put it). `None` when there is
/// none: the saturated classic values then stand, and are refused.
fn zip64_end<R: Read + Seek>(file: &mut R, position: u64) -> Result<Option<ZipEnd>, ZipEndError> {
    let Some(locator_at) = position.checked_sub(20) else {
        return Ok(None);
    };
    let mut locator = [0u8; 20];
    file.seek(SeekFrom::Start(locator_at))?;
    file.read_exact(&mut locator)?;
    if locator[..4] != [0x50, 0x4b, 0x06, 0x07] {
        return Ok(None);
    }
    let candidates = [le64(&locator, 8), locator_at.saturating_sub(56)];
    for at in candidates {
        if at.saturating_add(56) > locator_at {
            continue;
        }
        let mut record = [0u8; 56];
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut record)?;
        if record[..4] == [0x50, 0x4b, 0x06, 0x06] {
            return Ok(Some(ZipEnd {
                entries: le64(&record, 24).max(le64(&record, 32)),
                directory_size: le64(&record, 40),
            }));
        }
    }
    Ok(None)
}

fn read_zip(input: &InputFile, sink: &mut TreeWriter) -> Result<()> {
    let compressed = input.len();
    let mut zip = open_zip(input, &sink.limits)?;
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
            // One byte more than a target may have, so that a longer one is refused
            // rather than cut to a different link.
            let mut target = String::new();
            (&mut member)
                .take(Limits::MAX_PATH_BYTES as u64 + 1)
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
            self.tripped
                .set(Some(Trip::Limit(LimitKind::CompressionRatio)));
            return Err(io::Error::other("compression-ratio limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Copies a source directory with the same rules as an archive: regular files and
/// directories only, in-tree symlinks recreated, everything else refused. The walk keeps
/// a stack of tree nodes, not paths, and every path passes [`check_path_shape`], so
/// neither memory nor recursion grows with the source's depth.
fn copy_tree(src: &Path, sink: &mut TreeWriter) -> Result<()> {
    let root = Dir::open_ambient_dir(src, ambient_authority()).map_err(|e| Error::io(src, e))?;
    let mut stack: Vec<NodeId> = vec![ROOT];
    while let Some(id) = stack.pop() {
        let rel = sink.path_of(id);
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
                stack.push(sink.add_dir(&path, &shown)?);
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
/// Returns the member name and its text. Entry count and metadata size limits apply, and
/// the central directory is bounded before it is read ([`open_zip`]).
pub fn read_wheel_metadata(path: &Path, limits: &Limits) -> Result<(String, String)> {
    read_wheel_metadata_opened(&InputFile::open(path)?, limits)
}

/// [`read_wheel_metadata`] of a wheel already opened: its bytes are the ones that were
/// hashed.
pub fn read_wheel_metadata_opened(input: &InputFile, limits: &Limits) -> Result<(String, String)> {
    wheel_metadata_of(open_zip(input, limits)?, limits)
}

/// [`read_wheel_metadata`] from any seekable reader: a wheel read over HTTP range requests
/// goes through the same end-record checks, central-directory bounds, duplicate-name and
/// entry-count refusals, member choice and size cap as a wheel on disk. `io_error` turns
/// a failure of the reader itself into the caller's error (a network failure, a cap on
/// what may be fetched).
pub fn read_wheel_metadata_from<R: Read + Seek>(
    reader: R,
    limits: &Limits,
    io_error: &dyn Fn(io::Error) -> Error,
) -> Result<(String, String)> {
    let zip = open_zip_reader(reader, limits, Limits::MAX_ZIP_CENTRAL_DIRECTORY, io_error)?;
    wheel_metadata_of(zip, limits)
}

fn wheel_metadata_of<R: Read + Seek>(
    mut zip: zip::ZipArchive<Windowed<R>>,
    limits: &Limits,
) -> Result<(String, String)> {
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

    fn writer() -> (tempfile::TempDir, TreeWriter) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), ambient_authority()).unwrap();
        (tmp, TreeWriter::new(dir, Limits::default()))
    }

    fn parts(path: &str) -> Vec<String> {
        path.split('/').map(str::to_string).collect()
    }

    /// Links are resolved once each and every link on the way counts, as the kernel
    /// counts them: `L0 -> L1/../L1/../...`, `L1 -> L2/../L2/..`, ... was exponential in
    /// the chain's length (each level re-resolved every reference) and is now refused at
    /// once; a chain of 30 links and links into names the archive lacks still resolve.
    #[test]
    fn link_resolution_is_linear_and_counts_every_link() {
        let (_tmp, mut w) = writer();
        w.add_dir(&parts("p/d"), "p/d").unwrap();
        for i in 0..30 {
            let target = format!("l{}", i + 1);
            w.add_symlink(&parts(&format!("p/l{i}")), "link", &target)
                .unwrap();
        }
        w.add_symlink(&parts("p/l30"), "link", "d/missing/../../d")
            .unwrap();
        assert!(w.finish().is_ok());

        let (_tmp, mut w) = writer();
        w.add_dir(&parts("p"), "p").unwrap();
        for i in 0..30 {
            let target = vec![format!("f{}", i + 1); 60].join("/../");
            w.add_symlink(&parts(&format!("p/f{i}")), "fan", &target)
                .unwrap();
        }
        w.add_dir(&parts("p/f30"), "p/f30").unwrap();
        assert!(matches!(
            w.finish(),
            Err(Error::Archive(ArchiveProblem::LinkLoop { .. }))
        ));

        let (_tmp, mut w) = writer();
        w.add_symlink(&parts("p/a"), "a", "b").unwrap();
        w.add_symlink(&parts("p/b"), "b", "a/x").unwrap();
        assert!(matches!(
            w.finish(),
            Err(Error::Archive(ArchiveProblem::LinkLoop { .. }))
        ));

        let (_tmp, mut w) = writer();
        w.add_symlink(&parts("p/up"), "up", "missing/../../..")
            .unwrap();
        assert!(matches!(
            w.finish(),
            Err(Error::Archive(ArchiveProblem::LinkEscape { .. }))
        ));
    }

    /// Implied directories count against the entry limit: 1,000 members each 256 deep in
    /// a tree of their own are 256,000 directories, not 1,000.
    #[test]
    fn implied_directories_count_as_entries() {
        let (_tmp, mut w) = writer();
        w.limits.max_entries = 2000;
        let mut result = Ok(());
        for i in 0..1000 {
            let path = format!("t{i}/{}f", "d/".repeat(200));
            result = w.add_file(&parts(&path), "deep", &mut io::empty());
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(
            result,
            Err(Error::Limit {
                limit: LimitKind::Entries,
                ..
            })
        ));
        assert!(w.tree.len() <= 2001);
    }

    /// Link targets wait in memory until every file is written: 16 MiB of them in all.
    #[test]
    fn link_targets_are_capped_in_all() {
        let (_tmp, mut w) = writer();
        let target = format!("{}x", "abcdefghijklmno/".repeat(250));
        let result =
            (0..5000).try_for_each(|i| w.add_symlink(&parts(&format!("p/l{i}")), "l", &target));
        assert!(matches!(
            result,
            Err(Error::Archive(ArchiveProblem::PathTooLong { .. }))
        ));
        assert!(w.link_bytes <= Limits::MAX_LINK_TARGETS + target.len() as u64);
    }

    /// A zip whose central directory is larger than it declares is still bounded: what
    /// the zip crate reads while parsing it is capped (here at 4 KiB plus the end-record
    /// search area, for one of ~400 KiB).
    #[test]
    fn zip_central_directory_is_bounded_while_read() {
        use std::io::Cursor;
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let long = "n".repeat(250);
        for i in 0..400 {
            let name = format!("p-1/{long}/{long}/{long}/{i:04}.txt");
            w.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
        }
        let mut bytes = w.finish().unwrap().into_inner();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("p-1.zip");
        std::fs::write(&path, &bytes).unwrap();
        let limits = Limits::default();
        assert!(open_zip_capped(
            &InputFile::open(&path).unwrap(),
            &limits,
            Limits::MAX_ZIP_CENTRAL_DIRECTORY
        )
        .is_ok());
        let refused = |path: &Path| match InputFile::open(path)
            .and_then(|input| open_zip_capped(&input, &limits, 4096))
        {
            Err(Error::Archive(ArchiveProblem::CentralDirectoryTooLarge { detail, .. })) => detail,
            other => panic!("{:?}", other.map(|z| z.len())),
        };
        assert!(refused(&path).starts_with("declared"));
        let end = bytes.len() - 22;
        bytes[end + 12..end + 16].copy_from_slice(&100u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        assert!(refused(&path).contains("while reading"));
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
