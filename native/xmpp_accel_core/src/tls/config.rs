//! rustls configurations built from [`Options`], cached per distinct
//! options (fast_tls caches its `SSL_CTX`s the same way) until
//! [`clear_cache`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::server::NoServerSessionStorage;
use rustls::{ClientConfig, ServerConfig, SupportedProtocolVersion};

use super::certs::{self, SniResolver};
use super::verify::VerifyLater;
use super::{Options, Role, TlsError};

#[derive(Clone)]
pub(crate) enum Kind {
    Client(Arc<ClientConfig>),
    Server(Arc<ServerConfig>),
}

/// A configuration and what the scheduling decision needs to know of it.
#[derive(Clone)]
pub(crate) struct Config {
    pub kind: Kind,
    /// Its own key is slow to sign with (see `certs::SLOW_SIGNATURE`).
    pub slow_to_sign: bool,
}

type Cache = Mutex<HashMap<Options, Config>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// `clear_cache/0`: forget cached configurations, keys and CA roots read
/// from files (call after changing certificate or CA files).
pub fn clear_cache() {
    cache().lock().unwrap_or_else(|e| e.into_inner()).clear();
    certs::clear_key_cache();
}

fn cache_key(opts: &Options) -> Options {
    // the SNI name is per session, not part of the configuration
    Options {
        sni: String::new(),
        ..opts.clone()
    }
}

/// The cached configuration for these options, if there is one (no file
/// is read: cheap enough for a normal scheduler).
pub(crate) fn cached(opts: &Options) -> Option<Config> {
    let cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    if opts.sni.is_empty() {
        cache.get(opts).cloned() // servers, most clients: no key to build
    } else {
        cache.get(&cache_key(opts)).cloned()
    }
}

/// The configuration for these options, built (files read) if not cached.
pub(crate) fn config_for(opts: &Options) -> Result<Config, TlsError> {
    if let Some(c) = cached(opts) {
        return Ok(c);
    }
    let key = cache_key(opts);
    let config = build(&key)?;
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, config.clone());
    Ok(config)
}

fn versions(opts: &Options) -> Vec<&'static SupportedProtocolVersion> {
    let flags = opts.protocol_flags();
    let mut v = Vec::new();
    if flags.tls13 {
        v.push(&rustls::version::TLS13);
    }
    if flags.tls12 {
        v.push(&rustls::version::TLS12);
    }
    if v.is_empty() {
        // no version left: the session refuses every handshake (see Session)
        v.push(&rustls::version::TLS13);
    }
    v
}

fn build(opts: &Options) -> Result<Config, TlsError> {
    if !opts.dhfile.is_empty() && std::fs::metadata(&opts.dhfile).is_err() {
        return Err(TlsError::Config("Setting DH parameters failed".into()));
    }
    let base = super::provider();
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: super::ciphers::suites_for(&opts.ciphers, &base.cipher_suites),
        ..(*base).clone()
    };
    let own_key = if opts.certfile.is_empty() {
        None
    } else {
        Some(certs::load_certified_key(&opts.certfile, &opts.keyfile)?)
    };
    let slow_to_sign = own_key.as_ref().is_some_and(|k| k.slow_to_sign);
    let own_key = own_key.map(|k| k.certified);
    let err = |e: rustls::Error| TlsError::Config(e.to_string());
    let kind = match opts.role() {
        Role::Server => {
            let verifier = VerifyLater::new(!opts.verify_none);
            let mut cfg = ServerConfig::builder_with_provider(Arc::new(provider))
                .with_protocol_versions(&versions(opts))
                .map_err(err)?
                .with_client_cert_verifier(verifier)
                .with_cert_resolver(Arc::new(SniResolver {
                    default: own_key,
                    default_file: opts.certfile.clone(),
                }));
            cfg.ignore_client_order = opts.protocol_flags().server_preference;
            cfg.alpn_protocols = opts.alpn.clone();
            // fast_tls: SSL_OP_NO_TICKET and no session cache
            cfg.session_storage = Arc::new(NoServerSessionStorage {});
            cfg.send_tls13_tickets = 0;
            cfg.key_log = Arc::new(super::exporter::CaptureExporterSecret);
            Kind::Server(Arc::new(cfg))
        }
        Role::Client => {
            let builder = ClientConfig::builder_with_provider(Arc::new(provider))
                .with_protocol_versions(&versions(opts))
                .map_err(err)?
                .dangerous()
                .with_custom_certificate_verifier(VerifyLater::new(false));
            let mut cfg = match own_key {
                Some(ck) => builder.with_client_cert_resolver(Arc::new(certs::ClientCert(ck))),
                None => builder.with_no_client_auth(),
            };
            cfg.alpn_protocols = opts.alpn.clone();
            cfg.resumption = rustls::client::Resumption::disabled();
            cfg.key_log = Arc::new(super::exporter::CaptureExporterSecret);
            Kind::Client(Arc::new(cfg))
        }
    };
    Ok(Config { kind, slow_to_sign })
}

/// A server configuration for an edge that owns its sockets (the sidecar):
/// TLS 1.2 and 1.3, certificates chosen by `resolver` (for example a
/// [`super::cert_dir::CertStore`]), the given ALPN protocols (RFC 7301;
/// `xmpp-client` / `xmpp-server` for XEP-0368), and, with
/// `ask_client_cert`, a client certificate requested and verified later
/// (see [`super::verify`]; the handshake never fails on it). `ciphers` is
/// an OpenSSL cipher string for the TLS 1.2 suites (empty: the defaults).
pub fn edge_server_config(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    alpn: Vec<Vec<u8>>,
    ask_client_cert: bool,
    ciphers: &str,
) -> Result<Arc<ServerConfig>, TlsError> {
    let base = super::provider();
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: super::ciphers::suites_for(ciphers, &base.cipher_suites),
        ..(*base).clone()
    };
    let mut cfg = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(VerifyLater::new(ask_client_cert))
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = alpn;
    Ok(Arc::new(cfg))
}
