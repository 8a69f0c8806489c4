//! Every resource limit sdistill enforces, its safe default and the flag that changes it.
//!
//! A limit is defined here once and threaded through [`crate::Options`]; no other module
//! carries a magic number. Each limit has a [`LimitKind`] so that exceeding it is reported
//! by name (error kind `limit`), never as a generic failure.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// One MiB, the unit most limits are expressed in.
pub const MIB: u64 = 1024 * 1024;

/// The limits applied to one input. Cheap to copy; the same value is shared by a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of file content an archive may unpack to (`--max-unpacked-size`).
    pub max_unpacked_size: u64,
    /// Number of members an archive may hold, directories included (`--max-entries`);
    /// also the number of files, directories and links in the unpacked tree, counting the
    /// directories that member paths only imply.
    pub max_entries: u64,
    /// Decompressed bytes per compressed byte over the whole archive
    /// (`--max-compression-ratio`); catches bombs long before the size limit would.
    pub max_compression_ratio: u64,
    /// Size of one metadata file (PKG-INFO, METADATA, pyproject.toml) that is parsed.
    pub max_metadata_size: u64,
    /// Wall-clock deadline for one sandbox run (`--timeout`).
    pub timeout: Duration,
    /// Linear memory the guest interpreter may grow to (`--memory-limit`).
    pub memory_limit: u64,
    /// Guest stdout + stderr kept by the host; the rest is discarded (`--max-output`).
    pub max_output: u64,
    /// Bytes the guest may write into its scratch dir and sdist copy (`--max-scratch`),
    /// counted call by call; each file, directory or link it creates counts 4 KiB.
    pub max_scratch: u64,
    /// Files and directories the guest may hold open at once (`--max-open-files`); the
    /// process's descriptors are shared by every guest, so one must not take them all.
    pub max_open_files: u64,
    /// How deep build requirements that exist only as sdists may be built in the sandbox
    /// (`--max-helper-depth`): 1 builds the sdist's own helpers, 2 also theirs. A helper's
    /// build is untrusted code that may ask for further helpers, so the chain is bounded;
    /// 0 builds none (every sdist-only helper gets a flagged stand-in).
    pub max_helper_depth: u32,
    /// How many helper sdists one input may have built in the sandbox, all depths
    /// together (`--max-helper-builds`); wheels already built from the same sdist bytes
    /// come from the cache and do not count.
    pub max_helper_builds: u32,
}

impl Limits {
    /// Below this many decompressed bytes the ratio is not checked: tiny archives of
    /// repetitive text legitimately compress far better than 200:1.
    pub const RATIO_FLOOR: u64 = 4 * MIB;
    /// Bytes a tar stream may carry between two members: the next member's header blocks
    /// and its pax (`x`, `g`) or GNU long-name/long-link extension records, which the tar
    /// crate reads whole into memory, plus the skipped data of the previous member. Real
    /// extension records are a few hundred bytes.
    pub const MAX_TAR_EXTENSION: u64 = MIB;
    /// Size of a zip's central directory, which the zip crate reads whole into memory
    /// before any member can be checked. A wheel of 100,000 files needs about 15 MiB.
    pub const MAX_ZIP_CENTRAL_DIRECTORY: u64 = 64 * MIB;
    /// Longest member path or link target, in bytes (Linux's `PATH_MAX`).
    pub const MAX_PATH_BYTES: usize = 4096;
    /// Most components in a member path or link target. Real sdists nest a few dozen deep;
    /// deeper paths only cost memory and directory creation per component.
    pub const MAX_PATH_DEPTH: usize = 256;
    /// Longest path component (`NAME_MAX` on Linux and macOS): a longer one could never be
    /// created, so it is refused before it is stored.
    pub const MAX_NAME_BYTES: usize = 255;
    /// Symbolic-link targets of one archive, in all. Links are created only once every file
    /// is written, so their targets are held in memory until then; real sdists have a few
    /// short ones.
    pub const MAX_LINK_TARGETS: u64 = 16 * MIB;
    /// Longest requirement text handed to the PEP 508 parser, in bytes. Real requirements,
    /// URLs included, are a few hundred bytes; the cap keeps every check and parse linear
    /// in something small.
    pub const MAX_REQUIREMENT_BYTES: usize = 64 * 1024;
    /// Most `(` in one requirement. pep508_rs parses markers by recursive descent, a few
    /// hundred bytes of stack per level: some 2,500 levels overflow a 2 MiB worker stack,
    /// which aborts the process (a stack overflow cannot be caught). Counting every `(`,
    /// not only unbalanced ones, bounds the depth whatever quotes or URLs surround them.
    pub const MAX_REQUIREMENT_PARENS: usize = 32;
    /// Most comparisons (`==`, `<`, `in`, ...) in one requirement. pep508_rs builds a
    /// decision diagram as it parses; its recursion is as deep as the number of variables,
    /// and a flat `or` of comparisons on one variable costs quadratic time (3,000: 5 s).
    pub const MAX_REQUIREMENT_COMPARISONS: usize = 64;
    /// Most comparisons on `extra` or with `in` / `not in` in one requirement. Each
    /// distinct extra or `in` operand is a variable of its own in the decision diagram,
    /// which can grow exponentially with them: `(extra == "a1" and extra == "b1") or ...`
    /// with 20 pairs (819 bytes) took 14 s and 3.9 GB, held for the life of the process by
    /// pep508_rs's global interner. Real markers name one to a few extras.
    pub const MAX_REQUIREMENT_FREE_VARIABLES: usize = 16;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_unpacked_size: 1024 * MIB,
            max_entries: 100_000,
            max_compression_ratio: 200,
            max_metadata_size: 16 * MIB,
            timeout: Duration::from_secs(60),
            memory_limit: 1024 * MIB,
            max_output: MIB,
            max_scratch: 256 * MIB,
            max_open_files: 256,
            max_helper_depth: 2,
            max_helper_builds: 8,
        }
    }
}

/// Which limit was exceeded; rendered with the flag that raises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitKind {
    /// [`Limits::max_unpacked_size`].
    UnpackedSize,
    /// [`Limits::max_entries`].
    Entries,
    /// [`Limits::max_compression_ratio`].
    CompressionRatio,
    /// [`Limits::max_metadata_size`].
    MetadataSize,
    /// [`Limits::timeout`].
    Timeout,
    /// [`Limits::memory_limit`].
    Memory,
    /// [`Limits::max_output`].
    Output,
    /// [`Limits::max_scratch`].
    Scratch,
    /// [`Limits::max_open_files`].
    OpenFiles,
    /// The disk `serve` keeps copies of distribution files in (its `--max-cache-size`).
    FileCache,
    /// [`Limits::max_helper_depth`].
    HelperDepth,
    /// [`Limits::max_helper_builds`].
    HelperBuilds,
}

impl LimitKind {
    /// The command-line flag that raises this limit, so an error can say how to proceed.
    pub fn flag(self) -> &'static str {
        match self {
            Self::UnpackedSize => "--max-unpacked-size",
            Self::Entries => "--max-entries",
            Self::CompressionRatio => "--max-compression-ratio",
            Self::MetadataSize => "(fixed) metadata file size",
            Self::Timeout => "--timeout",
            Self::Memory => "--memory-limit",
            Self::Output => "--max-output",
            Self::Scratch => "--max-scratch",
            Self::OpenFiles => "--max-open-files",
            Self::FileCache => "--max-cache-size",
            Self::HelperDepth => "--max-helper-depth",
            Self::HelperBuilds => "--max-helper-builds",
        }
    }

    /// Stable machine name, as used in JSON (`error.limit`).
    pub fn name(self) -> &'static str {
        match self {
            Self::UnpackedSize => "unpacked-size",
            Self::Entries => "entries",
            Self::CompressionRatio => "compression-ratio",
            Self::MetadataSize => "metadata-size",
            Self::Timeout => "timeout",
            Self::Memory => "memory",
            Self::Output => "output",
            Self::Scratch => "scratch",
            Self::OpenFiles => "open-files",
            Self::FileCache => "file-cache",
            Self::HelperDepth => "helper-depth",
            Self::HelperBuilds => "helper-builds",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses a human size such as `1GiB`, `512M`, `1.5G`, `300k` or `1048576` into bytes.
///
/// Used by the CLI so that every size flag accepts the same spelling. Units are binary
/// whichever way they are written (`M`, `MB` and `MiB` all mean 2^20), as they always
/// were here: a limit that silently shrank by 5 % on an upgrade would be a surprise.
pub fn parse_size(text: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(text.trim())
        .map_err(|e| format!("`{text}` is not a size ({e}; examples: 1GiB, 512MiB, 300k)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GiB"), Ok(1024 * MIB));
        assert_eq!(parse_size("512M"), Ok(512 * MIB));
        assert_eq!(parse_size("10"), Ok(10));
        assert!(parse_size("x").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }
}
