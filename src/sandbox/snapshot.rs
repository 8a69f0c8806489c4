//! A pre-initialized interpreter: CPython started, the driver loaded, setuptools imported,
//! frozen once, so that every sdist starts from there instead of paying ~0.5 s of start-up.
//!
//! How it is made (once, at `runtime install` or on first need), without any sdist:
//! 1. wasmtime's own pre-initializer ([`wasmtime_wizer`]) instruments the pinned
//!    interpreter so its memory and globals can be read from outside (the compiled module
//!    every run uses is this instrumented one, so no second compile is needed).
//! 2. The instrumented interpreter runs the driver in *snapshot mode* in the sandbox, with
//!    the same WASI layout every real run has (an empty `/sdist`, `/site`, `/scratch`,
//!    `/out` and [`DEP_SLOTS`] empty `/deps/N` slots, so the file-descriptor numbers the
//!    guest's libc recorded stay valid). The driver imports what every run needs, creates
//!    a resume object, writes the addresses of `builtins.repr` and that object to
//!    `/out/snapshot.json`, flushes, and calls `os._exit(SNAPSHOT_EXIT)`.
//! 3. `os._exit` does not release the GIL; the host's `proc_exit` sees the magic status and
//!    copies linear memory and globals at that instant. Wizer rewrites the module with that
//!    state as its initial data, and the function table is exported.
//! 4. The host reads `builtins.repr`'s `PyMethodDef` in the captured memory and checks it
//!    (its name is `repr`, its flags `METH_O`); its `ml_meth` is the table index of the C
//!    function `builtin_repr(module, obj)`.
//!
//! Each run then instantiates a **fresh instance** of the snapshot module (copy-on-write
//! from the mmapped image, so no state is shared between sdists) and calls
//! `builtin_repr(NULL, resume_obj)`; the resume object's `__repr__` reads the request from
//! `/out/request.json` and continues exactly where a normal run would after its imports.
//! Nothing from any sdist is ever in a snapshot. The snapshot is cached next to the
//! compiled interpreter, keyed by the interpreter's sha256, the driver's sha256, the
//! runtime lock, the wasmtime version and the engine's compatibility hash, with the sha256
//! of its bytes recorded when it was made and checked before every load (it is native
//! code, see [`super::engine`]); any failure while building or loading it falls back to
//! the ordinary start.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::{Caller, InstancePre, Module};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use crate::dirs::CacheDir;
use crate::error::{Error, Result};
use crate::sandbox::engine::{wasmtime_version, GuestEngine};
use crate::sandbox::wasi::{self, GuestState};

/// Build-requirement directories a snapshot run can mount (`/deps/0` ..). A run that needs
/// more starts the ordinary way.
pub const DEP_SLOTS: usize = 16;

/// The `os._exit` status with which the driver asks to be frozen.
pub const SNAPSHOT_EXIT: i32 = 0x0053_4453;

/// The exported name of the guest's function table in a snapshot module.
pub const TABLE_EXPORT: &str = "__sdistill_table";

/// Where a run enters a snapshot.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ResumePoint {
    /// Table index of CPython's `builtin_repr(module, obj)`.
    pub entry: u32,
    /// Address of the driver's resume object.
    pub resume_obj: u32,
}

/// A loaded snapshot: a linked module and where to enter it.
pub struct Snapshot {
    /// The pre-linked snapshot module (instantiate once per run).
    pub pre: InstancePre<GuestState>,
    /// The entry.
    pub point: ResumePoint,
}

/// Cache key of the snapshot for this interpreter, setuptools tree, driver, runtime lock
/// (`lock_key`) and engine.
pub fn key(
    wasm_sha256: &str,
    setuptools_tree: &str,
    lock_key: &str,
    engine: &GuestEngine,
) -> String {
    let mut h = Sha256::new();
    for part in [
        "sdistill-snapshot/2",
        wasm_sha256,
        setuptools_tree,
        &super::guest::driver_sha256(),
        lock_key,
        wasmtime_version(),
        &engine.compatibility(),
    ] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    hex::encode(&h.finalize()[..16])
}

fn names(key: &str) -> (String, String) {
    (
        format!("snapshot-{key}.cwasm"),
        format!("snapshot-{key}.json"),
    )
}

/// Loads a cached snapshot, if there is one whose bytes match their recorded digest and
/// that links.
pub fn load(engine: &GuestEngine, modules: &CacheDir, key: &str) -> Option<Snapshot> {
    let (module_name, point_name) = names(key);
    let point: ResumePoint = serde_json::from_slice(&modules.read(&point_name, 4096).ok()?).ok()?;
    let module = engine.load_artifact(modules, &module_name)?;
    let pre = wasi::linker(&engine.engine)
        .ok()?
        .instantiate_pre(&module)
        .ok()?;
    Some(Snapshot { pre, point })
}

/// The memory and globals captured at the snapshot point.
#[derive(Default)]
struct Captured {
    memory: Vec<u8>,
    globals: HashMap<String, SnapshotVal>,
}

impl InstanceState for Captured {
    fn global_get(
        &mut self,
        name: &str,
        _: ValType,
    ) -> impl std::future::Future<Output = SnapshotVal> + Send {
        let value = match self.globals.get(name) {
            Some(SnapshotVal::I32(v)) => SnapshotVal::I32(*v),
            Some(SnapshotVal::I64(v)) => SnapshotVal::I64(*v),
            Some(SnapshotVal::F32(v)) => SnapshotVal::F32(*v),
            Some(SnapshotVal::F64(v)) => SnapshotVal::F64(*v),
            Some(SnapshotVal::V128(v)) => SnapshotVal::V128(*v),
            None => SnapshotVal::I32(0),
        };
        async move { value }
    }

    fn memory_contents(
        &mut self,
        _: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) -> impl std::future::Future<Output = ()> + Send {
        contents(&self.memory);
        async {}
    }
}

/// What the host needs from one run of the guest, supplied by the sandbox (which owns
/// the WASI layout and limits).
pub type RunGuest<'a> = dyn Fn(&InstancePre<GuestState>, &Path) -> Result<i32> + 'a;

/// Builds the snapshot and caches it. `module` is the compiled, instrumented interpreter
/// (see `engine`), `wasm` the verified original it was made from; `run` runs the driver in
/// snapshot mode on the given linked module with `/out` at the given host dir, returning
/// the exit status.
pub fn build(
    engine: &GuestEngine,
    module: &Module,
    wasm: &[u8],
    modules: &CacheDir,
    key: &str,
    out_dir: &Path,
    run: &RunGuest<'_>,
) -> Result<()> {
    let fail = |detail: String| Error::Sandbox {
        detail: format!("interpreter snapshot: {detail}"),
    };
    let wizer = Wizer::new();
    // The same deterministic instrumentation `module` was compiled from; only its
    // description of the module is needed here.
    let (cx, _) = wizer
        .instrument(wasm)
        .map_err(|e| fail(format!("cannot instrument the interpreter: {e}")))?;
    let captured: Arc<Mutex<Option<Captured>>> = Arc::default();
    let mut linker = wasi::linker(&engine.engine)?;
    linker.allow_shadowing(true);
    let sink = captured.clone();
    linker
        .func_wrap(
            "wasi_snapshot_preview1",
            "proc_exit",
            move |mut caller: Caller<'_, GuestState>, code: i32| -> wasmtime::Result<()> {
                if code == SNAPSHOT_EXIT {
                    let mut state = Captured::default();
                    if let Some(memory) = caller
                        .get_export("__wizer_memory_0")
                        .and_then(|e| e.into_memory())
                    {
                        state.memory = memory.data(&caller).to_vec();
                    }
                    for i in 0..256 {
                        let name = format!("__wizer_global_{i}");
                        if let Some(global) = caller.get_export(&name).and_then(|e| e.into_global())
                        {
                            if let wasmtime::Val::I32(v) = global.get(&mut caller) {
                                state.globals.insert(name, SnapshotVal::I32(v));
                            } else if let wasmtime::Val::I64(v) = global.get(&mut caller) {
                                state.globals.insert(name, SnapshotVal::I64(v));
                            }
                        }
                    }
                    if let Ok(mut slot) = sink.lock() {
                        *slot = Some(state);
                    }
                }
                Err(wasmtime::Error::new(wasmtime_wasi::I32Exit(code)))
            },
        )
        .map_err(|e| fail(format!("cannot link: {e}")))?;
    let pre = linker
        .instantiate_pre(module)
        .map_err(|e| fail(format!("cannot link: {e}")))?;
    let status = run(&pre, out_dir)?;
    let mut state = captured
        .lock()
        .ok()
        .and_then(|mut s| s.take())
        .ok_or_else(|| {
            fail(format!(
                "the driver exited with status {status} before the snapshot point"
            ))
        })?;
    let addresses: serde_json::Value = std::fs::read(out_dir.join("snapshot.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| fail("the driver wrote no snapshot.json".into()))?;
    let addr = |k: &str| {
        addresses
            .get(k)
            .and_then(|v| v.as_u64())
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| fail(format!("snapshot.json has no `{k}`")))
    };
    let point = ResumePoint {
        entry: repr_entry(&state.memory, addr("repr")?).map_err(fail)?,
        resume_obj: addr("resume")?,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| fail(format!("cannot start the async runtime: {e}")))?;
    let rewritten = rt
        .block_on(wizer.snapshot(&cx, &mut state))
        .map_err(|e| fail(format!("cannot rewrite the interpreter: {e}")))?;
    drop(state);
    let final_wasm = add_export(&rewritten, TABLE_EXPORT, 1, 0).map_err(fail)?;
    let snapshot_module = Module::new(&engine.engine, &final_wasm)
        .map_err(|e| fail(format!("cannot compile the snapshot: {e}")))?;
    let bytes = snapshot_module
        .serialize()
        .map_err(|e| fail(format!("cannot serialize the snapshot: {e}")))?;
    let (module_name, point_name) = names(key);
    let point_json = serde_json::to_vec(&point).map_err(|e| fail(e.to_string()))?;
    modules
        .write_atomic(&point_name, &point_json)
        .and_then(|_| GuestEngine::store_artifact(modules, &module_name, &bytes))
        .map_err(|e| Error::io(modules.path().join(&module_name), e))?;
    Ok(())
}

/// The table index of `builtin_repr`, read from `builtins.repr`'s method definition in
/// the captured memory and checked (wasm32 CPython 3.12 layout: `PyCFunctionObject.m_ml`
/// at offset 8; `PyMethodDef` is `{ml_name, ml_meth, ml_flags, ml_doc}`).
fn repr_entry(memory: &[u8], repr_obj: u32) -> std::result::Result<u32, String> {
    let word = |at: u32| -> std::result::Result<u32, String> {
        let at = at as usize;
        memory
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| format!("address {at:#x} is outside the captured memory"))
    };
    let method_def = word(repr_obj + 8)?;
    let name_ptr = word(method_def)? as usize;
    let name = memory
        .get(name_ptr..name_ptr + 5)
        .ok_or("method name outside memory")?;
    if name != b"repr\0" {
        return Err("builtins.repr's method definition is not where CPython 3.12 keeps it".into());
    }
    const METH_O: u32 = 0x0008;
    if word(method_def + 8)? != METH_O {
        return Err("builtins.repr is not METH_O".into());
    }
    word(method_def + 4)
}

/// Appends an export (`kind`: 0 function, 1 table, 2 memory, 3 global) to a module.
fn add_export(
    wasm: &[u8],
    name: &str,
    kind: u8,
    index: u32,
) -> std::result::Result<Vec<u8>, String> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err("not a wasm module".into());
    }
    let mut out = wasm[..8].to_vec();
    let mut pos = 8;
    let mut done = false;
    while pos < wasm.len() {
        let id = wasm[pos];
        let (size, len_bytes) = read_leb(&wasm[pos + 1..]).ok_or("bad section size")?;
        let body_start = pos + 1 + len_bytes;
        let body_end = body_start
            .checked_add(size as usize)
            .filter(|e| *e <= wasm.len())
            .ok_or("section overruns the module")?;
        let body = &wasm[body_start..body_end];
        if id == 7 {
            let (count, n) = read_leb(body).ok_or("bad export count")?;
            let mut new_body = Vec::new();
            write_leb(&mut new_body, count + 1);
            new_body.extend_from_slice(&body[n..]);
            write_leb(&mut new_body, name.len() as u32);
            new_body.extend_from_slice(name.as_bytes());
            new_body.push(kind);
            write_leb(&mut new_body, index);
            out.push(7);
            write_leb(&mut out, new_body.len() as u32);
            out.extend_from_slice(&new_body);
            done = true;
        } else {
            out.extend_from_slice(&wasm[pos..body_end]);
        }
        pos = body_end;
    }
    if done {
        Ok(out)
    } else {
        Err("the module has no export section".into())
    }
}

fn read_leb(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut result: u64 = 0;
    for (i, b) in bytes.iter().take(5).enumerate() {
        result |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return u32::try_from(result).ok().map(|r| (r, i + 1));
        }
    }
    None
}

fn write_leb(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb_round_trip_and_export_append() {
        for v in [0u32, 1, 127, 128, 300, 16384, u32::MAX] {
            let mut b = Vec::new();
            write_leb(&mut b, v);
            assert_eq!(read_leb(&b), Some((v, b.len())));
        }
        // (module (table 1 funcref) (export "t" (table 0)))
        let wasm = [
            0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, // header
            4, 4, 1, 0x70, 0, 1, // table section
            7, 5, 1, 1, b't', 1, 0, // export section
        ];
        let out = add_export(&wasm, "u", 1, 0).unwrap();
        assert_eq!(&out[14..], &[7, 9, 2, 1, b't', 1, 0, 1, b'u', 1, 0]);
        assert!(add_export(b"nope", "u", 1, 0).is_err());
    }

    #[test]
    fn repr_entry_checks_the_method_definition() {
        let mut mem = vec![0u8; 256];
        let put =
            |m: &mut Vec<u8>, at: usize, v: u32| m[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put(&mut mem, 16 + 8, 64); // repr object at 16: m_ml -> 64
        put(&mut mem, 64, 128); // ml_name -> 128
        put(&mut mem, 68, 4242); // ml_meth
        put(&mut mem, 72, 8); // METH_O
        mem[128..133].copy_from_slice(b"repr\0");
        assert_eq!(repr_entry(&mem, 16), Ok(4242));
        mem[128] = b'x';
        assert!(repr_entry(&mem, 16).is_err());
        assert!(repr_entry(&mem, 250).is_err());
    }
}
