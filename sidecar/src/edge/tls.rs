//! The edge's TLS configurations: certificates from `[tls] cert_dir` (the
//! core's [`CertStore`]), one rustls configuration per ALPN set, swapped as a
//! whole on reload (SIGHUP) so that open connections keep theirs.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use xmpp_accel_core::tls::cert_dir::CertStore;
use xmpp_accel_core::tls::edge_server_config;
use xmpp_accel_core::tls::verify::{roots_for, verify_code, Purpose};

use super::proxy::TlsFacts;
use crate::config::{self, Kind, TlsMode};

/// ALPN protocol ids of XEP-0368.
pub const ALPN_CLIENT: &[u8] = b"xmpp-client";
pub const ALPN_SERVER: &[u8] = b"xmpp-server";

/// The configurations every listener chooses from.
pub struct Configs {
    /// c2s: no client certificate asked.
    pub c2s_starttls: Arc<ServerConfig>,
    pub c2s_direct: Arc<ServerConfig>,
    /// c2s over WebSocket: ALPN http/1.1.
    pub c2s_websocket: Arc<ServerConfig>,
    /// s2s: a client certificate asked for (verified later, never required).
    pub s2s_starttls: Arc<ServerConfig>,
    pub s2s_direct: Arc<ServerConfig>,
    pub domains: Vec<String>,
}

impl Configs {
    pub fn for_listener(&self, kind: Kind, mode: TlsMode, websocket: bool) -> Arc<ServerConfig> {
        if websocket {
            return self.c2s_websocket.clone();
        }
        match (kind, mode) {
            (Kind::C2s, TlsMode::Starttls) => self.c2s_starttls.clone(),
            (Kind::C2s, TlsMode::Direct) => self.c2s_direct.clone(),
            (Kind::S2s, TlsMode::Starttls) => self.s2s_starttls.clone(),
            (Kind::S2s, TlsMode::Direct) => self.s2s_direct.clone(),
        }
    }
}

/// Loads the certificate directory and builds the configurations.
pub fn load(tls: &config::Tls) -> Result<Configs, String> {
    let dir = tls
        .cert_dir
        .as_ref()
        .ok_or_else(|| "[tls] cert_dir is not set".to_owned())?;
    let store = Arc::new(
        CertStore::load_dir(dir, tls.default_domain.as_deref()).map_err(|e| e.to_string())?,
    );
    let domains = store.domains().into_iter().map(str::to_owned).collect();
    let build = |alpn: &[&[u8]], ask: bool| {
        edge_server_config(
            store.clone(),
            alpn.iter().map(|a| a.to_vec()).collect(),
            ask,
            &tls.ciphers,
        )
        .map_err(|e| e.to_string())
    };
    Ok(Configs {
        // STARTTLS clients send no ALPN; XEP-0368 clients send xmpp-client
        c2s_starttls: build(&[], false)?,
        c2s_direct: build(&[ALPN_CLIENT], false)?,
        c2s_websocket: build(&[b"http/1.1"], false)?,
        s2s_starttls: build(&[], true)?,
        s2s_direct: build(&[ALPN_SERVER], true)?,
        domains,
    })
}

/// The current configurations, replaced whole on reload.
pub type Shared = Arc<ArcSwap<Configs>>;

/// What the handshake established, for the PROXY header and the logs.
pub fn facts<IO>(stream: &TlsStream<IO>, cafile: &str, check_client_cert: bool) -> TlsFacts {
    let (_, conn) = stream.get_ref();
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "unknown",
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|s| xmpp_accel_core::tls::ciphers::openssl_name(s.suite()).to_owned())
        .unwrap_or_default();
    let mut exporter = [0u8; 32];
    let exporter = conn
        .export_keying_material(&mut exporter, b"EXPORTER-Channel-Binding", None)
        .ok()
        .copied();
    let (client_cert_verify, client_cert_cn) = match conn.peer_certificates() {
        Some(chain) if check_client_cert && !chain.is_empty() => {
            let roots = roots_for(cafile);
            (
                Some(verify_code(chain, &roots, Purpose::Client)),
                xmpp_accel_core::tls::der_subject_cn(&chain[0]),
            )
        }
        _ => (None, None),
    };
    TlsFacts {
        version: version.to_owned(),
        cipher,
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        sni: conn.server_name().map(str::to_owned),
        client_cert_verify,
        client_cert_cn,
        exporter,
    }
}
