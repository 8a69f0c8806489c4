//! `--send-timeout`: a connection whose client stops reading is closed.
//!
//! A response body is produced by a thread that waits for the client to take each chunk
//! (the bytes are checked as they stream, [`super::verify`]); meanwhile it holds what the
//! transfer needs — a pinned copy, room reserved in the file cache, a temporary copy, an
//! upstream connection. A client that never reads would hold them forever, and keep the
//! cache full for everyone (503s that never clear). So every write to a client must make
//! progress within the timeout: one that stays blocked that long means the client went
//! away; the connection fails, hyper drops the response body, and the thread producing it
//! ends at its next send, giving everything back.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// An I/O stream whose writes fail after `timeout` without progress; `on_timeout` runs
/// once then (to log it).
pub struct SendTimeout<S> {
    inner: S,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    on_timeout: Option<Box<dyn FnOnce() + Send>>,
}

impl<S> SendTimeout<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, timeout: Duration, on_timeout: impl FnOnce() + Send + 'static) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
            on_timeout: Some(Box::new(on_timeout)),
        }
    }

    /// What a write that returned `polled` means: progress resets the clock; a blocked
    /// write starts it, and fails once it ran out.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let timeout = self.timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if let Some(report) = self.on_timeout.take() {
            report();
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing for --send-timeout",
        )))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SendTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SendTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_write_blocked_past_the_timeout_fails_and_is_reported() {
        // A pipe nobody reads: writes block once its buffer is full.
        let (near, _far) = tokio::io::duplex(1024);
        let reported = Arc::new(AtomicBool::new(false));
        let flag = reported.clone();
        let mut stream = SendTimeout::new(near, Duration::from_millis(50), move || {
            flag.store(true, Ordering::SeqCst)
        });
        let written =
            tokio::time::timeout(Duration::from_secs(30), stream.write_all(&[0u8; 64 * 1024]))
                .await
                .expect("the write must fail, not hang");
        assert_eq!(written.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(reported.load(Ordering::SeqCst));
    }
}
