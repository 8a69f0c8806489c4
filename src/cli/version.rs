//! `sdistill --version`: this build, and the runtime it is pinned to.
//!
//! Two binaries of the same version can carry different runtime locks (the lock is
//! compiled in), and the lock decides which interpreter and setuptools produce sandbox
//! answers; so the version names it. `-V` prints one line, `--version` the details.

use std::sync::OnceLock;

use crate::sandbox::runtime::Lock;

/// `0.1.0 (runtime lock 675d1620a63cab1e)`.
pub(super) fn short() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{} (runtime lock {})",
            env!("CARGO_PKG_VERSION"),
            Lock::key()
        )
    })
}

/// The short line, then the interpreter and guest wheels of the lock with their sha256,
/// and the wasmtime version.
pub(super) fn long() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = format!("{}\n", short());
        match Lock::embedded() {
            Ok(lock) => {
                for a in &lock.artifacts {
                    text.push_str(&format!(
                        "{}: {} ({} bytes, sha256 {})\n",
                        if a.role == "interpreter" {
                            "runtime interpreter"
                        } else {
                            "runtime guest wheel"
                        },
                        a.name,
                        a.size,
                        a.sha256
                    ));
                }
            }
            Err(e) => text.push_str(&format!("runtime lock: {e}\n")),
        }
        text.push_str(&format!(
            "guest driver: sha256 {}\nwasmtime: {}",
            crate::sandbox::guest::driver_sha256(),
            crate::sandbox::engine::wasmtime_version()
        ));
        text
    })
}
