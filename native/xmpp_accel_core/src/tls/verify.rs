//! Verify later, as fast_tls does: a peer certificate never fails the
//! handshake (the handshake signature is still checked, so the peer holds
//! the key), and [`verify_code`] tells afterwards what OpenSSL's
//! `SSL_get_verify_result` would: an `X509_V_*` code (0 ok, 9 not yet valid,
//! 10 expired, 18 self-signed, 19 self-signed in chain, 20 unknown issuer
//! of a chain, 21 unknown issuer of a lone certificate,
//! 26 wrong purpose, 7 bad signature, 50 anything else). Host names are not
//! checked (fast_tls does not either; XMPP checks the JID itself).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::der::is_self_issued;

/// The handshake signature checks both verifier traits ask for: real
/// checks with the provider's algorithms (the peer must hold its key).
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algs.supported_schemes()
        }
    };
}

/// `X509_V_OK`.
pub const X509_V_OK: i64 = 0;

/// Trusted CA certificates: the `cafile`, or the system's roots.
#[derive(Debug, Default)]
pub struct Roots {
    anchors: Vec<TrustAnchor<'static>>,
    ders: Vec<CertificateDer<'static>>,
}

impl Roots {
    fn from_ders(ders: Vec<CertificateDer<'static>>) -> Roots {
        let anchors = ders
            .iter()
            .filter_map(|d| {
                webpki::anchor_from_trusted_cert(d)
                    .ok()
                    .map(|a| a.to_owned())
            })
            .collect();
        Roots { anchors, ders }
    }
}

/// The roots for a `cafile` (empty = the system's), loaded once per file
/// until `clear_cache`. An unreadable file gives no roots (OpenSSL's
/// `SSL_CTX_load_verify_locations` failure is ignored by fast_tls too).
pub fn roots_for(cafile: &str) -> Arc<Roots> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Roots>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(r) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(cafile) {
        return r.clone();
    }
    let ders = if cafile.is_empty() {
        rustls_native_certs::load_native_certs().certs
    } else {
        super::certs::read_certs(cafile).unwrap_or_default()
    };
    let roots = Arc::new(Roots::from_ders(ders));
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(cafile.to_owned(), roots.clone());
    roots
}

/// Which extended key usage a peer's certificate is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// TLS server (what a client checks; also `override_cert_purpose`).
    Server,
    /// TLS client (what a server checks).
    Client,
}

/// OpenSSL's verify code for a peer chain (leaf first).
pub fn verify_code(chain: &[CertificateDer<'_>], roots: &Roots, purpose: Purpose) -> i64 {
    let Some(leaf) = chain.first() else {
        return X509_V_OK;
    };
    if is_self_issued(leaf) {
        return if roots.ders.iter().any(|r| r.as_ref() == leaf.as_ref()) {
            X509_V_OK
        } else {
            18
        };
    }
    let Ok(ee) = webpki::EndEntityCert::try_from(leaf) else {
        return 50;
    };
    let usage = match purpose {
        Purpose::Server => webpki::KeyUsage::server_auth(),
        Purpose::Client => webpki::KeyUsage::client_auth(),
    };
    let algs = super::provider().signature_verification_algorithms.all;
    let res = ee.verify_for_usage(
        algs,
        &roots.anchors,
        &chain[1..],
        UnixTime::now(),
        usage,
        None,
        None,
    );
    match res {
        Ok(_) => X509_V_OK,
        // OpenSSL (whose verify callback fast_tls makes accept everything)
        // ends a lone certificate of an unknown issuer on 21, a chain on 20,
        // and a chain ending in a self-signed root on 19
        Err(webpki::Error::UnknownIssuer) => match chain.last() {
            _ if chain.len() == 1 => 21,
            Some(root) if is_self_issued(root) => 19,
            _ => 20,
        },
        Err(webpki::Error::CertExpired { .. }) => 10,
        Err(webpki::Error::CertNotValidYet { .. }) => 9,
        Err(webpki::Error::RequiredEkuNotFoundContext(_)) => 26,
        Err(
            webpki::Error::InvalidSignatureForPublicKey
            | webpki::Error::UnsupportedSignatureAlgorithmContext(_)
            | webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_),
        ) => 7,
        Err(_) => 50,
    }
}

/// The verifier of both ends: accepts any chain, checks handshake signatures.
#[derive(Debug)]
pub(crate) struct VerifyLater {
    /// Server side: ask for a client certificate (not `verify_none`).
    pub ask_client_cert: bool,
    pub algs: WebPkiSupportedAlgorithms,
}

impl VerifyLater {
    pub(crate) fn new(ask_client_cert: bool) -> Arc<Self> {
        Arc::new(VerifyLater {
            ask_client_cert,
            algs: super::provider().signature_verification_algorithms,
        })
    }
}

impl ServerCertVerifier for VerifyLater {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

impl ClientCertVerifier for VerifyLater {
    fn offer_client_auth(&self) -> bool {
        self.ask_client_cert
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    handshake_signatures!();
}
