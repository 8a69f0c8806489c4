//! sdistill reads the dependency metadata of Python distributions without running their
//! code on the host.
//!
//! The data flow is one-way, and the modules follow it:
//!
//! | step | module | job |
//! |---|---|---|
//! | 1 | [`archive`] | unpack an sdist safely into a private directory (limits, no escapes) |
//! | 2 | [`static_meta`] | answer from PKG-INFO (PEP 643) or `[project]` (PEP 621) when trustworthy |
//! | 3 | [`sandbox`] | otherwise run the build code in WASI CPython under wasmtime |
//! | 3' | [`observe`] | what that build code tried to do, and a verdict (the behaviour report) |
//! | 4 | [`metadata`] | the core-metadata model, RFC 822 parsing, PEP 508/440 validation |
//! | 5 | [`report`] | JSON (`sdistill/1`) and text output |
//!
//! [`inspect`] ties the steps together for one input or a batch and [`resolve`] locks
//! requirements on top of it. Below them all: [`answer`] (the types of one input's
//! answer), [`limits`] (every limit and its default), [`error`] (the one error type),
//! [`dirs`] (where files go on the host and who may touch them), [`notify`] (progress
//! lines), [`cache`] (verified answers by sha256 and file name), [`atomic_file`] (whole-file writes of
//! outputs), [`index`] (the package-index client), [`fetch`] (inputs named by project or
//! URL, downloaded into the cache) and [`build_deps`] (build requirements for the guest).
//! [`bulk`] streams a manifest of many inputs through [`inspect`] with bounded memory
//! (`inspect --manifest`: scans at scale, resumable and shardable), and [`serve`] is a
//! package index that adds PEP 658 metadata files computed by [`inspect`] for pip and
//! friends. Smaller helpers: [`identity`] (an answer must name the file it came from),
//! [`dist_filename`] (wheel and sdist file names), [`dist_cache`] (verified distribution
//! files kept by sha256) and [`upload_time`] (PEP 700 times).
//! With the `python` feature, `python` is the `sdistill._native` extension module that the
//! Python distribution (`pyproject.toml`, `python/sdistill/`) is built around.
//!
//! ```no_run
//! use sdistill::{Inspector, Options};
//! let inspector = Inspector::new(Options::default());
//! let meta = inspector.inspect(std::path::Path::new("demo-1.0.tar.gz"))?;
//! println!("{} {} needs {:?}", meta.name, meta.version, meta.requires_dist);
//! # Ok::<(), sdistill::Error>(())
//! ```

#![deny(missing_docs)]

pub mod answer;
pub mod archive;
pub mod atomic_file;
pub mod build_deps;
pub mod bulk;
pub mod cache;
pub mod cli;
pub mod dirs;
pub mod dist_cache;
pub mod dist_filename;
pub mod error;
pub mod fetch;
pub mod identity;
pub mod index;
pub mod inspect;
pub mod limits;
pub mod metadata;
pub mod notify;
pub mod observe;
#[cfg(feature = "python")]
mod python;
pub mod report;
pub mod resolve;
pub mod sandbox;
pub mod serve;
pub mod static_meta;
pub mod upload_time;

pub use error::{ArchiveProblem, Error, Result};
pub use inspect::{Inspector, Metadata, Options, Report, SandboxMode, Source};
pub use limits::{LimitKind, Limits};
pub use static_meta::Method;
