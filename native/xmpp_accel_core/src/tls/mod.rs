//! TLS sessions for the fast_tls drop-in, on rustls (sans-IO).
//!
//! A [`Session`] is fast_tls's memory-BIO connection: the caller owns the
//! socket, feeds the ciphertext it read ([`Session::step`]) and writes the
//! ciphertext the session gives back. Plaintext to send before the handshake
//! ends is queued, as fast_tls does.
//!
//! - [`Options`]: the options of `fast_tls:tcp_to_tls/2` (RFC 8446 TLS 1.3 and
//!   RFC 5246 TLS 1.2 only; SSLv3, TLS 1.0/1.1, CBC suites and custom DH
//!   parameters do not exist in rustls and are ignored, see `ciphers`).
//! - [`certs`]: PEM loading and the per-domain certificate registry used for
//!   server-side SNI (`add_certfile/2`).
//! - [`verify`]: "verify later": peer certificates are never refused during
//!   the handshake (signatures are checked), and [`Session::verify_result`]
//!   gives OpenSSL's `X509_V_*` code afterwards.
//!
//! Crypto provider: aws-lc-rs (rustls's default). It builds with a C compiler
//! alone (no cmake, no Go), and its RSA and P-256 signing are OpenSSL-class,
//! which is what a server's handshake cost is made of.

pub mod cert_dir;
pub mod certs;
pub mod ciphers;
mod config;
mod der;
mod error;
mod exporter;
mod options;
mod session;
pub mod verify;

pub use config::{clear_cache, edge_server_config};
pub use der::subject_cn as der_subject_cn;
pub use error::TlsError;
pub use options::{Options, Role};
pub use session::{CipherSink, Session, Step, StepTag, DEFAULT_MAX_PENDING_INPUT};

/// The crypto provider every session uses (aws-lc-rs).
pub(crate) fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    use std::sync::{Arc, OnceLock};
    static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}
