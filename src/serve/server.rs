//! The server itself: the listening socket, hyper's HTTP/1.1 connections on a tokio
//! runtime, the bounds on connections and request heads, and graceful shutdown.
//!
//! Connections beyond `max_connections` wait in the kernel's listen backlog rather than
//! being accepted and starved. A client gets `header_timeout` to send its request head,
//! and a head larger than `max_request_head` is refused by hyper (431); a response the
//! client stops reading for `send_timeout` ends the connection ([`super::send_timeout`]). On shutdown the
//! listener closes at once, open connections finish their current request (keep-alive is
//! turned off for them) for up to `shutdown_grace`, and then the process stops running
//! guests and ends.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::Semaphore;
use tower::Service;

use crate::error::{Error, Result};
use crate::inspect::Inspector;

use super::access_log::{Log, Peer};
use super::answers::Answers;
use super::config::ServeConfig;
use super::send_timeout::SendTimeout;
use super::upstream::Upstreams;
use super::{routes, SharedState, State};

/// A bound server, ready to run.
pub struct Server {
    listener: std::net::TcpListener,
    state: SharedState,
}

impl Server {
    /// Binds the listening socket and prepares the shared state; the sandbox runtime is
    /// checked here (installed if missing and allowed), so a server that cannot answer
    /// sdists fails at start, not on its first request.
    pub fn bind(config: ServeConfig, log: Log) -> Result<Self> {
        let mut options = config.options.clone();
        options.cache = true;
        let cache_root = crate::sandbox::runtime::cache_root(&options.sandbox_config)?;
        let inspector = Arc::new(Inspector::new(options));
        // Before the port opens: clients are refused, not kept waiting, while a missing
        // runtime is installed.
        inspector.warm_up()?;
        let listener = std::net::TcpListener::bind(config.listen)
            .map_err(|e| Error::io(format!("listen address {}", config.listen), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("listening socket", e))?;
        crate::sandbox::descriptors::set_max_guests(config.jobs.max(1));
        let upstreams = Upstreams::new(&config.upstreams, config.limits.clone(), log.clone())?;
        let answers = Arc::new(Answers::new(
            inspector,
            cache_root,
            config.jobs,
            config.gate.clone(),
            config.limits.clone(),
            log.clone(),
        ));
        let state = Arc::new(State {
            config,
            upstreams,
            answers,
            log,
        });
        Ok(Self { listener, state })
    }

    /// The address the server listens on (the port the system chose for `:0`).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::io("listening socket", e))
    }

    /// The upstream URLs, credentials redacted.
    pub fn upstreams(&self) -> Vec<String> {
        self.state.upstreams.shown()
    }

    /// Serves until `shutdown` completes, then drains. Builds and owns its tokio runtime.
    pub fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let limits = &self.state.config.limits;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            // Blocking threads: one per streamed download (bounded by connections), one
            // per inspection (bounded by --jobs), page fetches, and slack.
            .max_blocking_threads(limits.max_connections + self.state.config.jobs + 64)
            .thread_name("sdistill-serve")
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        let served = runtime.block_on(self.serve(shutdown));
        // Blocking work still running (a download a client gave up on) is not waited for.
        runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        served
    }

    async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let Server { listener, state } = self;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| Error::io("listening socket", e))?;
        let limits = state.config.limits.clone();
        let router = routes::router(state.clone());
        let graceful = GracefulShutdown::new();
        let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(limits.max_request_head.max(8192))
            .keep_alive(true);
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = connections.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors, a connection reset before accept: wait a
                        // moment instead of spinning, and keep serving.
                        state.log.event(&format!("accept failed: {e}"));
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let router = router.clone();
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(Peer(peer));
                    let mut router = router.clone();
                    async move { router.call(request).await }
                },
            );
            // A client that stops reading is gone: what its response holds (a pinned copy,
            // room in the file cache, an upstream transfer) is given back.
            let log = state.log.clone();
            let timeout = limits.send_timeout;
            let stream = SendTimeout::new(stream, timeout, move || {
                log.event(&format!(
                    "client {peer}: nothing could be sent for {}s; connection closed (--send-timeout)",
                    timeout.as_secs()
                ));
            });
            let connection =
                graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                let _ = connection.await;
                drop(permit);
            });
        }
        drop(listener);
        state
            .log
            .event("shutting down: no new connections; finishing requests in progress");
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(limits.shutdown_grace) => {
                state.log.event(&format!(
                    "shutdown grace of {}s over; stopping what still runs",
                    limits.shutdown_grace.as_secs()
                ));
            }
        }
        crate::sandbox::shutdown();
        Ok(())
    }
}
