//! The behaviour report's types, as JSON (`behaviour` in `sdistill/1`) and the library
//! see them.

use serde::{Deserialize, Serialize};

/// What kind of thing the build code tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Sockets, name lookups, HTTP and other client protocols.
    Network,
    /// Running a program (every one is refused: the sandbox has no processes).
    Process,
    /// Opening or listing files outside the sdist's tree and the scratch dir.
    FileRead,
    /// Writing, deleting, renaming or chmod-ing files outside the sdist's tree and scratch.
    FileWrite,
    /// Reading environment variables, or the whole environment.
    Environment,
    /// Running code built at run time: `exec`/`eval`/`compile` of strings, `marshal`.
    DynamicCode,
    /// `ctypes`, `cffi` and modules that only exist as native code.
    NativeCode,
    /// Shell rc files, autostart entries, cron, registry run keys.
    Persistence,
    /// Attempts against the observer or the report itself.
    Tamper,
    /// How the `--observe` build went (a missing compiler, a failure, the deadline).
    Build,
    /// The observer's own state (events not listed because of the bounds).
    Observer,
}

impl Category {
    /// The stable name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Process => "process",
            Self::FileRead => "file-read",
            Self::FileWrite => "file-write",
            Self::Environment => "environment",
            Self::DynamicCode => "dynamic-code",
            Self::NativeCode => "native-code",
            Self::Persistence => "persistence",
            Self::Tamper => "tamper",
            Self::Build => "build",
            Self::Observer => "observer",
        }
    }
}

/// How much an event (or a whole input) deserves a reader's attention.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Nothing worth reporting.
    #[default]
    Clean,
    /// Things benign builds do too (a VCS query for the version, a compiler probe).
    Notice,
    /// Things builds have no reason to do (network, secrets, decoded code, persistence).
    Suspicious,
}

impl Severity {
    /// The stable name, as in JSON and `--fail-on`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Notice => "notice",
            Self::Suspicious => "suspicious",
        }
    }
}

/// How much of the build the observation covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Only the code that produces metadata ran (`egg_info` or
    /// `prepare_metadata_for_build_wheel`).
    #[default]
    Metadata,
    /// The build itself ran too (`--observe`: `bdist_wheel` or PEP 517 `build_wheel`).
    Build,
}

/// One group of identical events: same category, action, target and location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What kind of thing.
    pub category: Category,
    /// What exactly (`dns`, `connect`, `run`, `read`, `enumerate`, `exec`, ...).
    pub action: String,
    /// On what: a path, host, URL, command line, variable name or code excerpt (as the
    /// guest gave it; text output escapes it).
    pub target: String,
    /// How many times (the most seen in any one run of this input).
    pub count: u64,
    /// How the rules rate it.
    pub severity: Severity,
    /// `file:line` of the innermost frame in the sdist's own files, relative to its root;
    /// `None` when no sdist file was on the stack (setuptools or a build requirement).
    pub location: Option<String>,
    /// Why the rules rate it so.
    pub reason: String,
}

/// What an input's build code tried, and the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Behaviour {
    /// The highest severity of any event, including events the bounds left unlisted.
    pub verdict: Severity,
    /// Whether the build itself was observed, or only the metadata step.
    pub scope: Scope,
    /// The event groups, most severe first.
    pub events: Vec<Event>,
}

impl Behaviour {
    /// Whether the verdict reaches `level`.
    pub fn reaches(&self, level: Severity) -> bool {
        self.verdict >= level
    }
}
