//! The edge: listeners that terminate TLS, validate every client byte with
//! the core's stream framer, and forward to the server's plaintext listener
//! with a PROXY header (linkerd2-proxy's layering: accept, PROXY in, TLS,
//! framing, backend, PROXY out, copy).

pub mod conn;
pub mod io;
pub mod proxy;
pub mod shaper;
pub mod tls;
pub mod websocket;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Limits, Listener};
use crate::metrics::ListenerMetrics;

/// Where the process is in its life (SIGTERM moves it on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Not accepting; open connections go on.
    Draining,
    /// Every connection ends now with `<system-shutdown/>`.
    Stop,
}

/// What every connection of one listener shares.
pub struct Ctx {
    pub listener: Listener,
    /// Reloaded on SIGHUP.
    pub limits: ArcSwap<Limits>,
    pub tls: tls::Shared,
    pub cafile: String,
    pub metrics: ListenerMetrics,
    pub shutdown: watch::Receiver<Phase>,
    /// Open connections per client address.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Ctx {
    pub fn new(
        listener: Listener,
        limits: Limits,
        tls: tls::Shared,
        cafile: String,
        metrics: ListenerMetrics,
        shutdown: watch::Receiver<Phase>,
    ) -> Arc<Ctx> {
        Arc::new(Ctx {
            listener,
            limits: ArcSwap::from_pointee(limits),
            tls,
            cafile,
            metrics,
            shutdown,
            per_ip: Mutex::new(HashMap::new()),
        })
    }
}

/// Counts a connection while it lives.
struct Slot {
    ctx: Arc<Ctx>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.ctx.metrics.connections_open.dec();
        let mut map = self.ctx.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Ctx {
    /// Takes a slot, or names the limit that refuses it.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, &'static str> {
        let limits = self.limits.load();
        if limits.max_connections > 0
            && self.metrics.connections_open.get() as usize >= limits.max_connections
        {
            return Err("max_connections");
        }
        let mut map = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if limits.max_connections_per_ip > 0 && *n >= limits.max_connections_per_ip {
            return Err("max_connections_per_ip");
        }
        *n += 1;
        drop(map);
        self.metrics.connections_open.inc();
        Ok(Slot {
            ctx: self.clone(),
            ip,
        })
    }
}

/// Accepts until the phase leaves `Running`, then waits for the open
/// connections (which end by themselves, or at `Phase::Stop`).
pub async fn run_listener(ctx: Arc<Ctx>, listener: TcpListener) {
    let mut shutdown = ctx.shutdown.clone();
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => {
                if *shutdown.borrow() != Phase::Running { break; }
                continue;
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE/ENFILE and friends: refuse by waiting, never stop
                // the listener or touch live connections
                ctx.metrics.refused("accept_error");
                tracing::warn!(listener = %ctx.metrics.name, error = %e, "accept failed; pausing 100 ms");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        ctx.metrics.connections.inc();
        let slot = match ctx.admit(peer.ip()) {
            Ok(s) => s,
            Err(limit) => {
                ctx.metrics.refused(limit);
                tracing::info!(listener = %ctx.metrics.name, %peer, limit, "connection refused");
                drop(tcp);
                continue;
            }
        };
        let c = ctx.clone();
        conns.spawn(async move {
            tracing::info!(listener = %c.metrics.name, %peer, "open");
            let started = tokio::time::Instant::now();
            let reason = conn::serve(c.clone(), tcp, peer).await;
            tracing::info!(listener = %c.metrics.name, %peer, secs = started.elapsed().as_secs_f32(), reason = %reason, "close");
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!(listener = %ctx.metrics.name, open = conns.len(), "stopped accepting; draining");
    while conns.join_next().await.is_some() {}
}
