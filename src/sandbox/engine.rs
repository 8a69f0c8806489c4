//! The wasmtime engine, the compiled-module cache, and the epoch ticker.
//!
//! Compiling the 26 MB interpreter takes seconds; loading a compiled artifact with
//! `Module::deserialize_file` (mmap) takes under a millisecond. The artifact is cached on
//! disk keyed by the interpreter's sha256, the wasmtime version and the engine's
//! compatibility hash (which covers CPU features and settings), so a stale or foreign
//! artifact is never loaded. The artifact is only ever produced by this code from bytes
//! whose sha256 was just verified.
//!
//! Deserializing is `unsafe` by wasmtime's contract: a compiled artifact is native code.
//! So an artifact is loaded only from the user's private cache ([`crate::dirs`]) and only
//! after its bytes match the sha256 recorded beside it when it was made
//! ([`GuestEngine::load_artifact`]); anything else is recompiled, never loaded.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, Module};

use crate::dirs::CacheDir;
use crate::error::{Error, Result};

/// Interval of the epoch ticker: the granularity of deadline checks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// An engine with async support and epoch interruption, plus its ticker thread.
pub struct GuestEngine {
    /// The engine.
    pub engine: Engine,
    stop: Arc<AtomicBool>,
}

impl GuestEngine {
    /// Builds the engine and starts its epoch ticker.
    pub fn new() -> Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(|e| Error::Sandbox {
            detail: format!("cannot create the wasmtime engine: {e}"),
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let stop2 = stop.clone();
        std::thread::Builder::new()
            .name("sdistill-epoch".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| Error::Sandbox {
                detail: format!("cannot start the epoch thread: {e}"),
            })?;
        Ok(Self { engine, stop })
    }

    /// Loads the compiled interpreter from the module cache, compiling and caching it
    /// first if needed. `wasm` must be the verified interpreter bytes, `sha256` their hash.
    pub fn load_module(&self, wasm: &[u8], sha256: &str, modules: &CacheDir) -> Result<Module> {
        let name = self.artifact_name(sha256);
        if let Some(module) = self.load_artifact(modules, &name) {
            return Ok(module);
        }
        self.compile_and_cache(wasm, modules, &name)
    }

    /// The compiled interpreter from the module cache, if it is there and verifies; no
    /// interpreter bytes are needed (nor read) for that.
    pub fn load_module_cached(&self, sha256: &str, modules: &CacheDir) -> Option<Module> {
        self.load_artifact(modules, &self.artifact_name(sha256))
    }

    /// The compatibility hash of this engine (CPU features, settings), for cache names.
    pub fn compatibility(&self) -> String {
        let mut h = DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        format!("{:016x}", h.finish())
    }

    fn artifact_name(&self, sha256: &str) -> String {
        format!(
            "python-{}-instrumented-wasmtime-{}-{}.cwasm",
            &sha256[..16.min(sha256.len())],
            wasmtime_version(),
            self.compatibility()
        )
    }

    /// Loads the artifact `name` from the module cache if its bytes match the sha256
    /// recorded beside it (`<name>.sha256`) when it was made; `None` otherwise. The bytes
    /// are hashed again whenever the file's identity ([`crate::dirs::cache::file_identity`])
    /// differs from the one recorded at the last successful check (`<name>.verified`), so
    /// an unchanged artifact costs a `stat`, a changed one a full check.
    pub fn load_artifact(&self, modules: &CacheDir, name: &str) -> Option<Module> {
        let recorded = modules.read(&format!("{name}.sha256"), 64).ok()?;
        let file = modules.open(name).ok()?;
        let identity = crate::dirs::cache::file_identity(&file.metadata().ok()?);
        let stamp = format!("{identity} {}", String::from_utf8_lossy(&recorded));
        let stamp_name = format!("{name}.verified");
        if !modules.stamp_matches(&stamp_name, &stamp) {
            if sha256_of(file)?.as_bytes() != recorded.as_slice() {
                return None;
            }
            modules.write_stamp(&stamp_name, &stamp);
        }
        // SAFETY: the artifact lives in the user's private cache, was written by
        // `store_artifact` from a module this engine compiled, under a name bound to this
        // interpreter, wasmtime version and engine settings, and its bytes were just
        // checked against the digest recorded when it was written.
        unsafe { Module::deserialize_file(&self.engine, modules.path().join(name)) }.ok()
    }

    /// Writes a compiled artifact and, after it, its digest (a reader that finds the
    /// digest finds the whole artifact).
    pub fn store_artifact(modules: &CacheDir, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        modules.write_atomic(name, bytes)?;
        let digest = hex::encode(Sha256::digest(bytes));
        modules.write_atomic(&format!("{name}.sha256"), digest.as_bytes())
    }

    fn compile_and_cache(&self, wasm: &[u8], modules: &CacheDir, name: &str) -> Result<Module> {
        // The interpreter as wasmtime's pre-initializer instruments it: the same code, with
        // its memory and globals also exported, so this one compiled module serves both
        // ordinary runs and building the snapshot (see `snapshot`).
        let (_, instrumented) =
            wasmtime_wizer::Wizer::new()
                .instrument(wasm)
                .map_err(|e| Error::Sandbox {
                    detail: format!("cannot instrument the runtime: {e}"),
                })?;
        let module = Module::new(&self.engine, &instrumented).map_err(|e| Error::Sandbox {
            detail: format!("cannot compile the runtime: {e}"),
        })?;
        // Caching is an optimisation: failure to write is not an error.
        if let Ok(bytes) = module.serialize() {
            let _ = Self::store_artifact(modules, name, &bytes);
        }
        Ok(module)
    }
}

impl Drop for GuestEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// sha256 of a file's bytes, streamed.
pub fn sha256_of(file: std::fs::File) -> Option<String> {
    let mut hasher = Sha256::new();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Some(hex::encode(hasher.finalize()))
}

/// The wasmtime version this binary links, part of every cache key.
pub fn wasmtime_version() -> &'static str {
    "48.0.8"
}
