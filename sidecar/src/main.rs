//! `xmpp-accel-sidecar`: xmpp-accel's core for servers that do not run on
//! the BEAM (Prosody, Openfire, Tigase, MongooseIM without fast_tls...).
//!
//! Today: the edge, which terminates TLS (c2s and s2s, STARTTLS and
//! XEP-0368 direct TLS), validates every client byte as a strict XMPP
//! stream, and forwards to the server's plaintext listener with a PROXY
//! header. See `sidecar/examples/sidecar.toml` and the README.
//!
//! Signals: SIGHUP reloads certificates and limits (open connections keep
//! theirs); SIGTERM stops accepting, lets connections drain for
//! `[shutdown] drain_timeout_secs`, then ends each with `<system-shutdown/>`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use clap::Parser;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use xmpp_accel_sidecar::component;
use xmpp_accel_sidecar::config;
use xmpp_accel_sidecar::edge::{self, Phase};
use xmpp_accel_sidecar::index_api;
use xmpp_accel_sidecar::metrics::{self, ListenerMetrics, Metrics};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "xmpp-accel sidecar: a TLS-terminating, stream-validating XMPP edge"
)]
struct Cli {
    /// The TOML configuration file.
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    /// Check the configuration (and load its certificates), then exit: 0 if
    /// it is good, 1 with `FILE:LINE: reason` if not.
    #[arg(long)]
    check_config: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    let cfg = match config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // a component alone needs no certificates
    let tls = if cfg.listeners.is_empty() && cfg.tls.cert_dir.is_none() {
        None
    } else {
        match edge::tls::load(&cfg.tls) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("{}: [tls]: {e}", cli.config.display());
                return std::process::ExitCode::FAILURE;
            }
        }
    };
    if cli.check_config {
        println!(
            "{}: ok: {} listener(s), certificates for {}{}",
            cli.config.display(),
            cfg.listeners.len(),
            tls.as_ref()
                .map(|t| t.domains.join(", "))
                .unwrap_or_else(|| "none".into()),
            cfg.component
                .as_ref()
                .map(|c| format!(", component {} on {}", c.domain, c.server))
                .unwrap_or_default()
                + &cfg
                    .index
                    .as_ref()
                    .map(|i| format!(", index API on {}", i.address))
                    .unwrap_or_default()
        );
        return std::process::ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.config, cfg, tls)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(
    file: PathBuf,
    cfg: config::Config,
    tls: Option<edge::tls::Configs>,
) -> Result<(), String> {
    let (all, mut registry) = Metrics::new();
    let component_metrics = cfg
        .component
        .as_ref()
        .map(|_| metrics::ComponentMetrics::register(&mut registry));
    let tls: Option<edge::tls::Shared> = tls.map(|t| Arc::new(ArcSwap::from_pointee(t)));
    let (phase_tx, phase_rx) = watch::channel(Phase::Running);
    let metrics_listener = TcpListener::bind(cfg.metrics.address)
        .await
        .map_err(|e| format!("metrics address {}: {e}", cfg.metrics.address))?;
    tokio::spawn(async move {
        if let Err(e) = metrics::serve(metrics_listener, registry).await {
            tracing::error!("metrics endpoint stopped: {e}");
        }
    });
    let mut ctxs = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for l in &cfg.listeners {
        let Some(tls) = &tls else {
            return Err("listeners need [tls]".into());
        };
        let socket = TcpListener::bind(l.address)
            .await
            .map_err(|e| format!("listener {}: bind {}: {e}", l.label(), l.address))?;
        let ctx = edge::Ctx::new(
            l.clone(),
            l.limits.over(&cfg.limits),
            tls.clone(),
            cfg.tls.cafile.clone(),
            ListenerMetrics::new(&all, &l.label()),
            phase_rx.clone(),
        );
        tracing::info!(listener = %l.label(), address = %l.address, backend = %l.backend, kind = ?l.kind, tls = ?l.tls, "listening");
        ctxs.push(ctx.clone());
        tasks.spawn(edge::run_listener(ctx, socket));
    }
    let (component_stop, component_stopped) = watch::channel(false);
    let mut component = None;
    if let (Some(c), Some(m)) = (cfg.component.clone(), component_metrics) {
        tracing::info!(domain = %c.domain, server = %c.server, storage = %c.storage.display(), "starting the MUC Light component");
        component = Some(tokio::spawn(component::run(c, m, component_stopped)));
    }
    let (index_stop, index_stopped) = watch::channel(false);
    let mut index_task = None;
    if let Some(ix) = cfg.index.clone() {
        let listener = TcpListener::bind(ix.address)
            .await
            .map_err(|e| format!("[index] address {}: {e}", ix.address))?;
        let dir = ix.directory.clone();
        let api = tokio::task::spawn_blocking(move || index_api::Api::open(&ix))
            .await
            .map_err(|e| e.to_string())??;
        tracing::info!(address = %cfg.index.as_ref().map(|i| i.address.to_string()).unwrap_or_default(), directory = %dir.display(), "serving the full-text index API");
        index_task = Some(tokio::spawn(index_api::serve(listener, api, index_stopped)));
    }
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = hup.recv() => if let Some(tls) = &tls { reload(&file, &ctxs, tls) },
            _ = term.recv() => break,
            _ = int.recv() => break,
            r = async { component.as_mut().expect("guarded").await }, if component.is_some() => {
                component = None;
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(format!("component: {e}")),
                    Err(e) => return Err(format!("component: {e}")),
                }
            }
        }
    }
    let _ = component_stop.send(true);
    let _ = index_stop.send(true);
    let drain = Duration::from_secs(cfg.shutdown.drain_timeout_secs);
    tracing::info!(
        drain_secs = drain.as_secs(),
        "shutting down: no new connections"
    );
    let _ = phase_tx.send(Phase::Draining);
    let all_done = async { while tasks.join_next().await.is_some() {} };
    tokio::pin!(all_done);
    if tokio::time::timeout(drain, &mut all_done).await.is_err() {
        tracing::info!("drain deadline: ending open streams with system-shutdown");
        let _ = phase_tx.send(Phase::Stop);
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut all_done).await;
    }
    if let Some(c) = component {
        match c.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("component: {e}"),
            Err(e) => tracing::error!("component: {e}"),
        }
    }
    if let Some(t) = index_task {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("index API: {e}"),
            Err(e) => tracing::error!("index API: {e}"),
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP: certificates and limits from the file again. A bad file or a
/// certificate that does not load changes nothing (and says why).
fn reload(file: &std::path::Path, ctxs: &[Arc<edge::Ctx>], tls: &edge::tls::Shared) {
    let cfg = match config::load(file) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("reload refused: {e}");
            return;
        }
    };
    match edge::tls::load(&cfg.tls) {
        Ok(t) => {
            let domains = t.domains.join(", ");
            tls.store(Arc::new(t));
            tracing::info!(%domains, "reloaded certificates");
        }
        Err(e) => {
            tracing::error!("reload: certificates not changed: {e}");
            return;
        }
    }
    for ctx in ctxs {
        let label = ctx.listener.label();
        if let Some(l) = cfg.listeners.iter().find(|l| l.label() == label) {
            ctx.limits.store(Arc::new(l.limits.over(&cfg.limits)));
        }
    }
    tracing::info!(
        "reloaded limits (new connections; address, backend and TLS mode changes need a restart)"
    );
}
