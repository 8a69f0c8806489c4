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
//! granted. WASI has no disk quota either, so [`WriteMonitor`] enforces
//! [`crate::Limits::max_scratch`] from the host.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWrite;

use wasmtime::{Linker, ResourceLimiter};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::error::{Error, Result};

/// Per-store state: the WASI context and the memory cap.
pub struct GuestState {
    /// The WASI preview 1 context.
    pub wasi: WasiP1Ctx,
    /// The memory cap enforced by wasmtime.
    pub memory: MemoryCap,
}

impl GuestState {
    /// Creates the state for one run.
    pub fn new(wasi: WasiP1Ctx, memory_limit: u64) -> Self {
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

/// Builds the linker: WASI preview 1 and nothing else.
pub fn linker(engine: &wasmtime::Engine) -> Result<Linker<GuestState>> {
    let mut linker: Linker<GuestState> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut GuestState| &mut s.wasi).map_err(
        |e| Error::Sandbox {
            detail: format!("cannot link WASI: {e}"),
        },
    )?;
    Ok(linker)
}

/// What creating a file, directory or link is charged on top of its blocks (an inode).
const ENTRY_CHARGE: u64 = 4096;

/// Watches the guest's writable directories from a host thread and raises a flag once
/// they have grown by more than the budget; the epoch callback then stops the guest.
///
/// WASI has no quota, and wrapping the write imports would need wasmtime internals, so
/// this measures disk usage (allocated blocks, plus a charge per entry so that millions of
/// empty files count too). The scan interval adapts to the tree size (at least every
/// 100 ms); the overshoot is bounded by what the guest can write in one interval.
pub struct WriteMonitor {
    exceeded: Arc<AtomicBool>,
    /// Dropping it wakes the thread at once (a sleeping thread would delay every run's
    /// end by up to one scan interval).
    stop: Option<std::sync::mpsc::Sender<()>>,
    used: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WriteMonitor {
    /// Starts watching `dirs`; growth beyond `budget` bytes over their current usage trips.
    pub fn start(dirs: Vec<PathBuf>, budget: u64) -> Self {
        let exceeded = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let used = Arc::new(AtomicU64::new(0));
        let baseline: u64 = dirs.iter().map(|d| disk_usage(d)).sum();
        let (e2, u2) = (exceeded.clone(), used.clone());
        let thread = std::thread::Builder::new()
            .name("sdistill-writes".into())
            .spawn(move || {
                let mut interval = Duration::from_millis(100);
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(interval)
                {
                    let started = Instant::now();
                    let now: u64 = dirs.iter().map(|d| disk_usage(d)).sum();
                    let grown = now.saturating_sub(baseline);
                    u2.store(grown, Ordering::Relaxed);
                    if grown > budget {
                        e2.store(true, Ordering::Relaxed);
                        break;
                    }
                    interval = (started.elapsed() * 10).max(Duration::from_millis(100));
                }
            })
            .ok();
        Self {
            exceeded,
            stop: Some(stop),
            used,
            thread,
        }
    }

    /// The flag the epoch callback checks.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.exceeded.clone()
    }

    /// Stops the thread; returns whether the budget was exceeded and the last growth seen.
    pub fn finish(mut self) -> (bool, u64) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (
            self.exceeded.load(Ordering::Relaxed),
            self.used.load(Ordering::Relaxed),
        )
    }
}

impl Drop for WriteMonitor {
    fn drop(&mut self) {
        self.stop.take();
    }
}

/// Allocated bytes under `dir` (not following symlinks) plus a charge per entry.
fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            total = total
                .saturating_add(meta.blocks().saturating_mul(512))
                .saturating_add(ENTRY_CHARGE);
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    total
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
