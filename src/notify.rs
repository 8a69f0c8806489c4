//! Progress lines from the library, which never prints by itself.
//!
//! Long operations (installing the runtime, building the interpreter snapshot, fetching
//! build requirements, locking) report what they do through a [`Notify`] the caller
//! supplies; the CLI prints the lines on stderr, a library user may log them or drop them
//! (the default).

use std::sync::Arc;

/// A sink for progress lines.
#[derive(Clone, Default)]
pub struct Notify(Option<NotifyFn>);

/// The callback behind a [`Notify`].
type NotifyFn = Arc<dyn Fn(&str) + Send + Sync>;

impl Notify {
    /// Reports lines to `f`.
    pub fn to(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// Reports one line (no-op when silent).
    pub fn say(&self, line: &str) {
        if let Some(f) = &self.0 {
            f(line);
        }
    }
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Notify(..)"
        } else {
            "Notify(silent)"
        })
    }
}
