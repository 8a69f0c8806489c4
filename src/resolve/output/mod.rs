//! The lock file formats, one module each, all rendered from the typed [`Resolution`]:
//!
//! | module | format |
//! |---|---|
//! | [`requirements_txt`] | pip's requirements format with hashes (`pip install --require-hashes`) |
//! | [`pylock`] | PEP 751 `pylock.toml` (`pip install -r`, `uv pip install -r`) |
//! | [`json`] | a resolution report: pins, files, where each pin's metadata came from, edges |
//! | [`check`] | `--check`: an existing lock against a fresh resolution, as a readable diff |
//!
//! Each format also reads its own text back into a [`LockSummary`] (the pins, their
//! extras, markers, sources and hashes): that is what `--check` compares and where the
//! previous lock's pins come from. No format reads another's text.

pub mod check;
pub mod json;
pub mod pylock;
pub mod requirements_txt;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::Result;
use crate::resolve::matrix::Matrix;
use crate::resolve::{Resolution, TargetEnv};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `requirements.txt` with `--hash` options (the default).
    RequirementsTxt,
    /// PEP 751 `pylock.toml`.
    Pylock,
    /// The JSON resolution report.
    Json,
}

impl Format {
    /// Parses `--format`: `requirements-txt` (or `requirements.txt`), `pylock.toml` (or
    /// `pylock`), `json`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "requirements-txt" | "requirements.txt" => Some(Self::RequirementsTxt),
            "pylock.toml" | "pylock" => Some(Self::Pylock),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// The format an output path implies where that is unambiguous: `pylock*.toml` (PEP
    /// 751 names are `pylock.toml` and `pylock.NAME.toml`) and `.json`.
    pub fn infer(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?;
        if pylock::is_lock_file_name(name)
            || (name.starts_with("pylock") && name.ends_with(".toml"))
        {
            Some(Self::Pylock)
        } else if name.ends_with(".json") {
            Some(Self::Json)
        } else {
            None
        }
    }

    /// The name `--format` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequirementsTxt => "requirements-txt",
            Self::Pylock => "pylock.toml",
            Self::Json => "json",
        }
    }
}

/// What shapes the text besides the resolution.
#[derive(Debug, Clone)]
pub struct RenderOptions<'a> {
    /// The target, for the header and `pylock.toml`'s `environments`.
    pub env: &'a TargetEnv,
    /// The environments of a universal lock (`None`: the single target `env`).
    pub matrix: Option<&'a Matrix>,
    /// The command line as the header shows it (quoted, credentials redacted).
    pub command: &'a str,
    /// Write the header (`--no-header` turns it off).
    pub header: bool,
    /// Write per-pin annotations: `# via`, build help (`--no-annotate` turns them off).
    pub annotate: bool,
    /// Write `name==1.0` even for a pin asked for with extras (`--strip-extras`).
    pub strip_extras: bool,
    /// Index URLs to write as `--index-url`/`--extra-index-url` (`--emit-index-url`);
    /// empty for none. Their credentials are removed before writing.
    pub index_urls: &'a [String],
}

impl<'a> RenderOptions<'a> {
    /// Header and annotations on, extras kept, no index URLs.
    pub fn new(env: &'a TargetEnv, command: &'a str) -> Self {
        Self {
            env,
            matrix: None,
            command,
            header: true,
            annotate: true,
            strip_extras: false,
            index_urls: &[],
        }
    }
}

impl RenderOptions<'_> {
    /// What the lock is for, in one line: the target, or the matrix.
    pub fn describe_target(&self) -> String {
        match self.matrix {
            Some(m) => m.describe(),
            None => self.env.describe(),
        }
    }
}

/// Renders `resolution` in `format`. Fails, naming the package, if something cannot be
/// written so that the tool reading the file reads exactly it.
pub fn render(format: Format, resolution: &Resolution, options: &RenderOptions) -> Result<String> {
    match format {
        Format::RequirementsTxt => requirements_txt::render(resolution, options),
        Format::Pylock => pylock::render(resolution, options),
        Format::Json => json::render(resolution, options),
    }
}

/// One pin as a lock file states it, in the terms every format shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinSummary {
    /// The project, as written.
    pub name: String,
    /// The pinned version.
    pub version: String,
    /// Extras written on the pin.
    pub extras: BTreeSet<String>,
    /// Its marker, as written.
    pub marker: Option<String>,
    /// The URL of a direct reference.
    pub url: Option<String>,
    /// Its sha256 hashes.
    pub hashes: BTreeSet<String>,
}

/// The pins of a lock file by normalized name: what `--check` compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockSummary {
    /// Pins by project name; by `name ; marker` for a project a universal lock pins at
    /// several versions (one per set of environments).
    pub pins: BTreeMap<String, PinSummary>,
}

impl LockSummary {
    /// Adds a pin of `pin.name`, keyed by its normalized name while it is the only pin of
    /// its project, else every pin of the project by `name ; marker`.
    pub fn insert(&mut self, pin: PinSummary) {
        let name = crate::metadata::normalize_name(&pin.name);
        let keyed = |p: &PinSummary| format!("{name} ; {}", p.marker.as_deref().unwrap_or(""));
        if let Some(only) = self.pins.remove(&name) {
            self.pins.insert(keyed(&only), only);
            self.pins.insert(keyed(&pin), pin);
        } else if self
            .pins
            .keys()
            .any(|k| k.strip_prefix(&name).is_some_and(|r| r.starts_with(" ; ")))
        {
            self.pins.insert(keyed(&pin), pin);
        } else {
            self.pins.insert(name, pin);
        }
    }
}

/// Reads a lock file of `format` back into its pins. Text the format cannot read is a
/// usage error naming the format.
pub fn read_summary(format: Format, text: &str) -> Result<LockSummary> {
    match format {
        Format::RequirementsTxt => Ok(requirements_txt::read_summary(text)),
        Format::Pylock => pylock::read_summary(text),
        Format::Json => json::read_summary(text),
    }
}

/// Text inside a comment line: every control character and bidi override escaped (as on a
/// terminal), and the two line separators Python's `splitlines()` breaks at that are not
/// control characters (U+2028, U+2029), so the comment cannot end early.
pub(crate) fn comment_text(text: &str) -> String {
    crate::report::sanitize(text)
        .replace('\u{2028}', "\\u{2028}")
        .replace('\u{2029}', "\\u{2029}")
}

/// The marker as pep508_rs renders it, if it reads back as the same tree. `Ok(None)` for
/// a marker that has no text (never true).
pub(crate) fn marker_text(
    marker: &pep508_rs::MarkerTree,
) -> std::result::Result<Option<String>, String> {
    use std::str::FromStr;
    let Some(text) = crate::metadata::guarded(|| marker.try_to_string()).flatten() else {
        return Ok(None);
    };
    let reread = crate::metadata::guarded(|| pep508_rs::MarkerTree::from_str(&text).ok()).flatten();
    if reread.as_ref() != Some(marker) {
        return Err(format!(
            "`{}` does not read back as the same marker (a quote inside a value)",
            crate::report::sanitize(&text)
        ));
    }
    Ok(Some(text))
}
