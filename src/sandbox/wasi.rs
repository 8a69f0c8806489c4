//! The guest's whole world: WASI context, output capture, and write accounting.
//!
//! What the guest gets, and nothing else:
//! - `/sdist` — the private unpacked copy of the sdist, writable (writes are harmless);
//! - `/site` — the pinned guest wheels, read-only;
//! - `/scratch` — a fresh writable directory (HOME, TMPDIR);
//! - `/out` — where the driver writes its one result file;
//! - `/deps/N` — each build requirement (an unpacked wheel or stand-in), read-only;
//! - a fixed environment (no host variable is inherited), no stdin, captured stdout/stderr.
//!
//! WASI preview 1 has no socket creation and no processes, and no network capability is
//! granted. WASI has no quotas either: every call passes through [`super::guard`], which
//! counts the descriptors and bytes each guest uses.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

use wasmtime::{Linker, ResourceLimiter};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::guard::GuardedWasi;
use crate::error::{Error, Result};

/// Per-store state: the guarded WASI context and the memory cap.
pub struct GuestState {
    /// WASI preview 1, behind the per-guest accounting.
    pub wasi: GuardedWasi,
    /// The memory cap enforced by wasmtime.
    pub memory: MemoryCap,
}

impl GuestState {
    /// Creates the state for one run.
    pub fn new(wasi: GuardedWasi, memory_limit: u64) -> Self {
        Self {
            wasi,
            memory: MemoryCap {
                max: usize::try_from(memory_limit).unwrap_or(usize::MAX),
                denied: false,
            },
        }
    }
}

/// Caps linear memory and remembers whether a growth was refused, so that a guest that
/// dies of a refused allocation is reported as the `memory` limit, not a crash.
pub struct MemoryCap {
    max: usize,
    /// Set when a growth past the cap was refused.
    pub denied: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Builds the linker: WASI preview 1 (through the guard) and nothing else.
pub fn linker(engine: &wasmtime::Engine) -> Result<Linker<GuestState>> {
    let mut linker: Linker<GuestState> = Linker::new(engine);
    wasmtime_wasi::p1::wasi_snapshot_preview1::add_to_linker(&mut linker, |s: &mut GuestState| {
        &mut s.wasi
    })
    .map_err(|e| Error::Sandbox {
        detail: format!("cannot link WASI: {e}"),
    })?;
    Ok(linker)
}

/// Keeps the last `cap` bytes a guest stream wrote and counts the rest as discarded.
#[derive(Clone)]
pub struct CapturedOutput {
    inner: Arc<Mutex<Captured>>,
}

struct Captured {
    cap: usize,
    tail: VecDeque<u8>,
    total: u64,
}

impl CapturedOutput {
    /// A capture keeping at most `cap` bytes.
    pub fn new(cap: u64) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Captured {
                cap: usize::try_from(cap).unwrap_or(usize::MAX),
                tail: VecDeque::new(),
                total: 0,
            })),
        }
    }

    /// The kept tail, lossily decoded, and the total number of bytes written.
    pub fn snapshot(&self) -> (String, u64) {
        match self.inner.lock() {
            Ok(c) => {
                let bytes: Vec<u8> = c.tail.iter().copied().collect();
                (String::from_utf8_lossy(&bytes).into_owned(), c.total)
            }
            Err(_) => (String::new(), 0),
        }
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Ok(mut c) = self.inner.lock() {
            c.total = c.total.saturating_add(buf.len() as u64);
            let cap = c.cap;
            let keep = buf.len().min(cap);
            c.tail.extend(&buf[buf.len() - keep..]);
            let excess = c.tail.len().saturating_sub(cap);
            c.tail.drain(..excess);
        }
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
