//! Progress lines from the library, which never prints by itself.
//!
//! Long operations (installing the runtime, building the interpreter snapshot, fetching
//! build requirements, locking) report what they do through a [`Notify`] the caller
//! supplies; the CLI prints the lines on stderr, a library user may log them or drop them
//! (the default).
//!
//! A second, optional sink takes *trace* lines: each step's timing and what a guest
//! printed. They cost formatting and can be long (a build's whole stdout), so they are
//! only produced when someone listens ([`Notify::tracing`]); the CLI's `--verbose` does.

use std::sync::Arc;

/// A sink for progress lines, and optionally for trace lines.
#[derive(Clone, Default)]
pub struct Notify {
    say: Option<NotifyFn>,
    trace: Option<NotifyFn>,
}

/// The callback behind a [`Notify`].
type NotifyFn = Arc<dyn Fn(&str) + Send + Sync>;

impl Notify {
    /// Reports lines to `f`.
    pub fn to(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            say: Some(Arc::new(f)),
            trace: None,
        }
    }

    /// Also reports trace lines (step timings, guest output) to `f`.
    pub fn with_trace(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.trace = Some(Arc::new(f));
        self
    }

    /// Reports one line (no-op when silent).
    pub fn say(&self, line: &str) {
        if let Some(f) = &self.say {
            f(line);
        }
    }

    /// Whether trace lines are wanted: build them only then.
    pub fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    /// Reports one trace line (no-op unless [`Self::with_trace`] was given a sink).
    pub fn trace(&self, line: &str) {
        if let Some(f) = &self.trace {
            f(line);
        }
    }
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match (self.say.is_some(), self.trace.is_some()) {
            (false, false) => "Notify(silent)",
            (true, false) => "Notify(..)",
            (_, true) => "Notify(.., trace)",
        })
    }
}
