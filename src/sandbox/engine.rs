//! The wasmtime engine, the compiled-module cache, and the epoch ticker.
//!
//! Compiling the 26 MB interpreter takes seconds; loading a compiled artifact with
//! `Module::deserialize_file` (mmap) takes under a millisecond. The artifact is cached on
//! disk keyed by the interpreter's sha256, the wasmtime version and the engine's
//! compatibility hash (which covers CPU features and settings), so a stale or foreign
//! artifact is never loaded. The artifact is only ever produced by this code from bytes
//! whose sha256 was just verified.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Config, Engine, Module};

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

    /// Loads the compiled interpreter from `cache_dir`, compiling and caching it first if
    /// needed. `wasm` must be the verified interpreter bytes, `sha256` their hash.
    pub fn load_module(&self, wasm: &[u8], sha256: &str, cache_dir: &Path) -> Result<Module> {
        let path = self.artifact_path(sha256, cache_dir);
        if path.is_file() {
            // SAFETY: the artifact was written by `compile_and_cache` below from verified
            // bytes, under a name that binds it to this wasmtime version and engine config.
            if let Ok(module) = unsafe { Module::deserialize_file(&self.engine, &path) } {
                return Ok(module);
            }
        }
        self.compile_and_cache(wasm, &path)
    }

    fn artifact_path(&self, sha256: &str, cache_dir: &Path) -> PathBuf {
        let mut h = DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        cache_dir.join(format!(
            "python-{}-instrumented-wasmtime-{}-{:016x}.cwasm",
            &sha256[..16.min(sha256.len())],
            wasmtime_version(),
            h.finish()
        ))
    }

    fn compile_and_cache(&self, wasm: &[u8], path: &Path) -> Result<Module> {
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
            let _ = crate::atomic_file::write(path, &bytes, false);
        }
        Ok(module)
    }
}

impl Drop for GuestEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The wasmtime version this binary links, part of every cache key.
pub fn wasmtime_version() -> &'static str {
    "48.0.8"
}
