//! The one error type of the library, each variant carrying the context a user needs.
//!
//! Errors are values: the library never prints or exits. The CLI renders them once.
//! Every variant maps to a stable [`Error::kind`] string, which is what JSON consumers and
//! tests match on; the `Display` text is for people and may improve over time.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::limits::{LimitKind, Limits};

/// Why an archive was refused. Each variant names the offending member.
#[derive(Debug, Clone, Error)]
pub enum ArchiveProblem {
    /// A member path contains a `..` component.
    #[error("member `{entry}` climbs out of the archive with `..`")]
    Traversal {
        /// The member name as stored in the archive (lossily decoded).
        entry: String,
    },
    /// A member path is absolute or carries a drive/UNC prefix.
    #[error("member `{entry}` has an absolute path")]
    AbsolutePath {
        /// The member name.
        entry: String,
    },
    /// A symbolic or hard link whose target resolves outside the unpacked tree.
    #[error("link `{entry}` points outside the archive (to `{target}`)")]
    LinkEscape {
        /// The link member.
        entry: String,
        /// Its target as stored.
        target: String,
    },
    /// Symbolic links that resolve into each other without end.
    #[error("link `{entry}` is part of a symlink loop or chain that is too deep")]
    LinkLoop {
        /// The link member.
        entry: String,
    },
    /// A hard link whose target is not an earlier regular file of the archive.
    #[error("hard link `{entry}` targets `{target}`, which is not a regular file earlier in the archive")]
    BadHardLink {
        /// The link member.
        entry: String,
        /// Its target.
        target: String,
    },
    /// The same path appears twice, or one member would replace or pass through another.
    #[error("member `{entry}` duplicates or conflicts with an earlier member")]
    Conflict {
        /// The member name.
        entry: String,
    },
    /// A device node, FIFO, socket or other member that is not file, directory or link.
    #[error("member `{entry}` is a {what}, which sdists never contain")]
    SpecialFile {
        /// The member name.
        entry: String,
        /// What kind of member it is.
        what: &'static str,
    },
    /// A member name that is not valid UTF-8 or contains NUL.
    #[error("member name `{entry}` is not valid UTF-8 text")]
    BadName {
        /// The name, lossily decoded.
        entry: String,
    },
    /// More than [`Limits::MAX_TAR_EXTENSION`] bytes between two tar members: a pax or GNU
    /// extension record (read whole into memory) or skipped data that large.
    #[error("more than {} bytes of tar extension headers (pax, GNU long name or link) or skipped data after {after}", Limits::MAX_TAR_EXTENSION)]
    ExtensionHeaders {
        /// The previous member (quoted), or `the start of the archive`.
        after: String,
    },
    /// A member path or link target too long, too deep, or with a component too long.
    #[error("member `{entry}` has {detail}")]
    PathTooLong {
        /// The member name (its start, when long).
        entry: String,
        /// Which bound it exceeds.
        detail: String,
    },
    /// A zip central directory larger than [`Limits::MAX_ZIP_CENTRAL_DIRECTORY`], declared or
    /// found while reading it.
    #[error("zip central directory {detail}, more than {cap} bytes")]
    CentralDirectoryTooLarge {
        /// The declared size, or how it was found.
        detail: String,
        /// The cap.
        cap: u64,
    },
    /// A zip whose central directory lists one name twice: the zip crate keeps one of the
    /// records, other tools may take the other.
    #[error("the zip central directory lists a member name twice")]
    DuplicateZipName,
    /// A zip with other data before its first member. Zip readers tolerate a prefix (they
    /// find the archive from its end), so such a file can be another archive as well —
    /// a `.tar.gz` followed by a zip reads as an sdist under one name and as a wheel
    /// under another. No build tool writes one.
    #[error("the zip archive has {bytes} bytes of other data before it (a file that is two archives at once?)")]
    ZipPrefix {
        /// How many bytes precede the archive.
        bytes: u64,
    },
    /// The archive cannot be decoded: truncated, corrupt, or not the format its name says.
    #[error("corrupt or truncated archive: {detail}")]
    Corrupt {
        /// What the decoder reported.
        detail: String,
    },
}

/// Everything that can go wrong while inspecting one input.
#[derive(Debug, Error)]
pub enum Error {
    /// The input or a file needed to process it could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The input is neither a known archive kind, a wheel, nor a directory.
    #[error("{}: not a supported input (expected .tar.gz, .tgz, .tar.bz2, .tar.xz, .zip, .whl or a directory)", path.display())]
    UnsupportedInput {
        /// The input path.
        path: PathBuf,
    },
    /// The input names something other than a regular file (a FIFO, a device, a socket),
    /// or changed into one while it was being read.
    #[error("{}: {what}, not a regular file", path.display())]
    NotARegularFile {
        /// The input path.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// The archive is unsafe or unreadable; nothing from it was used.
    #[error("archive refused: {0}")]
    Archive(#[from] ArchiveProblem),
    /// A resource limit was exceeded.
    #[error("limit exceeded: {limit} ({detail}); raise it with {}", limit.flag())]
    Limit {
        /// Which limit.
        limit: LimitKind,
        /// What was observed.
        detail: String,
    },
    /// A metadata file exists but cannot be used (bad syntax, invalid name or version).
    #[error("invalid metadata in {file}: {detail}")]
    InvalidMetadata {
        /// Which file (`PKG-INFO`, `pyproject.toml`, `METADATA`, ...).
        file: String,
        /// What is wrong with it.
        detail: String,
    },
    /// No metadata could be found or produced at all.
    #[error("no metadata: {detail}")]
    NoMetadata {
        /// Why.
        detail: String,
    },
    /// Static metadata is not enough and the sandbox was disabled (or is unavailable).
    #[error("static metadata is incomplete ({reason}) and the sandbox is disabled")]
    NeedsSandbox {
        /// Which fields are dynamic or missing.
        reason: String,
    },
    /// The guest runtime is missing, corrupt or cannot be installed.
    #[error("runtime: {detail}")]
    Runtime {
        /// What is wrong and which command fixes it.
        detail: String,
    },
    /// Fetching from a package index failed (only `runtime install` and build requirements).
    #[error("index: {detail}")]
    Index {
        /// The URL and the failure.
        detail: String,
    },
    /// A build requirement the index offers only as an sdist could not be built into a
    /// wheel in the sandbox (its build failed, or hit a helper bound). Reported as a
    /// warning of the sdist that needed it, which is then flagged.
    #[error("it exists only as an sdist ({sdist}), which could not be built into a wheel in the sandbox: {detail}")]
    HelperBuild {
        /// The helper's sdist file name, as the index listed it (validated).
        sdist: String,
        /// Why: the failure or the bound reached.
        detail: String,
    },
    /// The sdist's own build code raised an exception inside the sandbox.
    #[error("setup failed inside the sandbox: {message}")]
    SetupFailed {
        /// The last line of the traceback.
        message: String,
        /// The tail of the guest traceback.
        traceback: String,
    },
    /// The sdist declares a build backend that cannot run in the sandbox.
    #[error("unsupported build backend `{backend}`: {detail}")]
    UnsupportedBackend {
        /// The backend named in `[build-system].build-backend`.
        backend: String,
        /// Why it cannot run.
        detail: String,
    },
    /// A command line or requirements file that cannot be used as given.
    #[error("{detail}")]
    Usage {
        /// What is wrong and where.
        detail: String,
    },
    /// A resolved requirement cannot be written into a lock file without changing what
    /// pip reads (a marker with ` #`, a line break, an option...): the lock is refused.
    #[error("refusing to write {package} into the lock: {reason}")]
    UnsafeOutput {
        /// The project whose line it would be.
        package: String,
        /// What in it pip would read otherwise.
        reason: String,
    },
    /// No set of versions satisfies the requirements; the explanation says why.
    #[error("no solution: {explanation}")]
    NoSolution {
        /// pubgrub's derivation, written for people.
        explanation: String,
    },
    /// A bug in sdistill (a panic) while processing this input; the batch continues.
    #[error("internal error (please report it with the input): {detail}")]
    Internal {
        /// The panic message.
        detail: String,
    },
    /// The sandbox itself failed (engine error, trap, protocol violation).
    #[error("sandbox: {detail}")]
    Sandbox {
        /// What failed.
        detail: String,
    },
    /// The metadata names another project or version than the input claims to be (its
    /// file name, or the sdist's own PKG-INFO): pip refuses such an sdist, and a tool that
    /// answered would hand out a quiet wrong version.
    #[error("inconsistent metadata: the {source_of_claim} says `{expected}`, but the metadata says `{got}`{}", if detail.is_empty() { String::new() } else { format!(" (what could not be provided: {})", detail.replace('\n', "; ")) })]
    InconsistentMetadata {
        /// `file name` or `PKG-INFO`.
        source_of_claim: String,
        /// `name version` as claimed.
        expected: String,
        /// `name version` as the metadata says.
        got: String,
        /// Setup-time helpers or build requirements that could not be provided, one per line.
        detail: String,
    },
    /// A line of a `--manifest` that cannot be used: not a JSON object, no input, a
    /// sha256 that is not 64 hex digits, a URL whose file name is not a distribution's...
    /// It is that line's result; the lines after it are read as usual.
    #[error("manifest entry refused: {detail}")]
    Manifest {
        /// What is wrong with the entry.
        detail: String,
    },
    /// A cache or work directory is not private to this user (or a runtime directory is
    /// writable by others): sdistill refuses to keep or load anything there.
    #[error("unsafe directory {}: {detail}", path.display())]
    UnsafeDirectory {
        /// The directory.
        path: PathBuf,
        /// Why it is refused and what to do.
        detail: String,
    },
}

/// An error is a value the resolver may hand out more than once: a background fetch's
/// failure is kept and returned to whoever asks for that fact, with the same variant (so
/// the same exit status) and the same text. An I/O error keeps its kind and message.
impl Clone for Error {
    fn clone(&self) -> Self {
        match self {
            Self::Io { path, source } => Self::Io {
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Self::UnsupportedInput { path } => Self::UnsupportedInput { path: path.clone() },
            Self::Archive(p) => Self::Archive(p.clone()),
            Self::Limit { limit, detail } => Self::Limit {
                limit: *limit,
                detail: detail.clone(),
            },
            Self::InvalidMetadata { file, detail } => Self::InvalidMetadata {
                file: file.clone(),
                detail: detail.clone(),
            },
            Self::NoMetadata { detail } => Self::NoMetadata {
                detail: detail.clone(),
            },
            Self::NeedsSandbox { reason } => Self::NeedsSandbox {
                reason: reason.clone(),
            },
            Self::Runtime { detail } => Self::Runtime {
                detail: detail.clone(),
            },
            Self::Index { detail } => Self::Index {
                detail: detail.clone(),
            },
            Self::SetupFailed { message, traceback } => Self::SetupFailed {
                message: message.clone(),
                traceback: traceback.clone(),
            },
            Self::UnsupportedBackend { backend, detail } => Self::UnsupportedBackend {
                backend: backend.clone(),
                detail: detail.clone(),
            },
            Self::Usage { detail } => Self::Usage {
                detail: detail.clone(),
            },
            Self::UnsafeOutput { package, reason } => Self::UnsafeOutput {
                package: package.clone(),
                reason: reason.clone(),
            },
            Self::NoSolution { explanation } => Self::NoSolution {
                explanation: explanation.clone(),
            },
            Self::Internal { detail } => Self::Internal {
                detail: detail.clone(),
            },
            Self::NotARegularFile { path, what } => Self::NotARegularFile {
                path: path.clone(),
                what,
            },
            Self::HelperBuild { sdist, detail } => Self::HelperBuild {
                sdist: sdist.clone(),
                detail: detail.clone(),
            },
            Self::Manifest { detail } => Self::Manifest {
                detail: detail.clone(),
            },
            Self::Sandbox { detail } => Self::Sandbox {
                detail: detail.clone(),
            },
            Self::InconsistentMetadata {
                source_of_claim,
                expected,
                got,
                detail,
            } => Self::InconsistentMetadata {
                source_of_claim: source_of_claim.clone(),
                expected: expected.clone(),
                got: got.clone(),
                detail: detail.clone(),
            },
            Self::UnsafeDirectory { path, detail } => Self::UnsafeDirectory {
                path: path.clone(),
                detail: detail.clone(),
            },
        }
    }
}

impl Error {
    /// The stable machine-readable kind, used as `error.kind` in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::UnsupportedInput { .. } | Self::NotARegularFile { .. } => "unsupported-input",
            Self::Archive(_) => "archive",
            Self::Limit { .. } => "limit",
            Self::InvalidMetadata { .. } => "invalid-metadata",
            Self::NoMetadata { .. } => "no-metadata",
            Self::NeedsSandbox { .. } => "needs-sandbox",
            Self::Runtime { .. } => "runtime",
            Self::Index { .. } => "index",
            Self::HelperBuild { .. } => "helper-build",
            Self::SetupFailed { .. } => "setup-failed",
            Self::UnsupportedBackend { .. } => "unsupported-backend",
            Self::Sandbox { .. } => "sandbox",
            Self::UnsafeDirectory { .. } => "unsafe-directory",
            Self::InconsistentMetadata { .. } => "inconsistent-metadata",
            Self::Internal { .. } => "internal",
            Self::Usage { .. } => "usage",
            Self::NoSolution { .. } => "no-solution",
            Self::UnsafeOutput { .. } => "unsafe-output",
            Self::Manifest { .. } => "manifest",
        }
    }

    /// The limit involved, for `limit` errors.
    pub fn limit(&self) -> Option<LimitKind> {
        match self {
            Self::Limit { limit, .. } => Some(*limit),
            _ => None,
        }
    }

    /// Extra detail worth keeping in machine output (the guest traceback tail).
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::SetupFailed { traceback, .. } => Some(traceback),
            Self::InconsistentMetadata { detail, .. } if !detail.is_empty() => Some(detail),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn limit_exceeded(limit: LimitKind, detail: impl Into<String>) -> Self {
        Self::Limit {
            limit,
            detail: detail.into(),
        }
    }
}

/// The start of `text` (at most `max` bytes, on a character boundary) for messages that
/// quote input which may be megabytes long.
pub(crate) fn excerpt(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let end = (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}... ({} bytes)", &text[..end], text.len()).into()
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
