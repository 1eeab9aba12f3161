//! Our sessions (rustls's unbuffered API, exporters computed by us) against
//! rustls's own buffered connections as the reference peer: the RFC 9266
//! tls-exporter channel binding must equal the peer's
//! `export_keying_material` for every TLS 1.3 and TLS 1.2 suite, on both
//! sides, and data and TLS 1.3 key updates must pass both ways.

#![cfg(feature = "tls")]

#[allow(dead_code)]
mod tls_pki;

use std::sync::Arc;

use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    CipherSuite, ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection,
};
use tls_pki::Pki;
use xmpp_accel_core::tls::{Options, Role, Session, StepTag};

fn pki() -> &'static Pki {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| Pki::new("exporter"))
}

const LABEL: &[u8] = b"EXPORTER-Channel-Binding";

const SUITES: [(CipherSuite, &str); 6] = [
    (CipherSuite::TLS13_AES_128_GCM_SHA256, "TLSv1.3"),
    (CipherSuite::TLS13_AES_256_GCM_SHA384, "TLSv1.3"),
    (CipherSuite::TLS13_CHACHA20_POLY1305_SHA256, "TLSv1.3"),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLSv1.2",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLSv1.2",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        "TLSv1.2",
    ),
];

/// aws-lc-rs with one suite only.
fn provider(suite: CipherSuite) -> Arc<CryptoProvider> {
    let base = aws_lc_rs::default_provider();
    let cipher_suites = base
        .cipher_suites
        .iter()
        .copied()
        .filter(|s| s.suite() == suite)
        .collect();
    Arc::new(CryptoProvider {
        cipher_suites,
        ..base
    })
}

fn reference_client(suite: CipherSuite) -> Connection {
    // rustls's own webpki verification against the test CA
    let pem = std::fs::read(&pki().ca).expect("ca pem");
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&pem) {
        roots.add(ca.expect("ca")).expect("root");
    }
    let cfg = ClientConfig::builder_with_provider(provider(suite))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("name");
    ClientConnection::new(Arc::new(cfg), name)
        .expect("client")
        .into()
}

fn reference_server(suite: CipherSuite) -> Connection {
    let pem = std::fs::read(&pki().server).expect("server pem");
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_slice(&pem).expect("key");
    let cfg = ServerConfig::builder_with_provider(provider(suite))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("cert");
    ServerConnection::new(Arc::new(cfg)).expect("server").into()
}

/// Moves bytes between our session and the reference peer until both are
/// quiet, in chunks of at most `chunk` bytes; returns the plaintext each
/// received (ours, the peer's).
fn pump(ours: &mut Session, peer: &mut Connection, chunk: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut at_ours, mut at_peer) = (Vec::new(), Vec::new());
    let mut to_ours = Vec::new();
    let mut to_peer = ours.step(b"", b"", -1).to_write;
    for _ in 0..10_000 {
        while peer.wants_write() {
            peer.write_tls(&mut to_ours).expect("peer write");
        }
        if to_ours.is_empty() && to_peer.is_empty() {
            return (at_ours, at_peer);
        }
        let n = to_ours.len().min(chunk);
        let step = ours.step(b"", &to_ours[..n], -1);
        to_ours.drain(..n);
        assert!(!matches!(step.tag, StepTag::Error(_)), "{:?}", step.tag);
        to_peer.extend(step.to_write);
        at_ours.extend(step.plaintext);
        let n = to_peer.len().min(chunk);
        let mut rd = &to_peer[..n];
        while !rd.is_empty() {
            peer.read_tls(&mut rd).expect("peer read");
            peer.process_new_packets().expect("peer process");
        }
        to_peer.drain(..n);
        let mut buf = [0u8; 4096];
        loop {
            match std::io::Read::read(&mut peer.reader(), &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => at_peer.extend_from_slice(&buf[..k]),
            }
        }
    }
    panic!("no progress")
}

fn check(ours: &mut Session, peer: &mut Connection, version: &str, what: &str) {
    pump(ours, peer, 5);
    assert!(!ours.is_handshaking() && !peer.is_handshaking(), "{what}");
    let cipher = ours.negotiated_cipher().expect("cipher");
    assert!(cipher.starts_with(version), "{what}: {cipher}");
    let expected = peer
        .export_keying_material([0u8; 32], LABEL, Some(b""))
        .expect("reference exporter");
    assert_eq!(ours.channel_binding_exporter(), Some(expected), "{what}");

    // data both ways, then (TLS 1.3) a key update from the peer
    let step = ours.step(b"<stream:stream>", b"", -1);
    assert_eq!(step.tag, StepTag::Ok);
    let mut rd = &step.to_write[..];
    while !rd.is_empty() {
        peer.read_tls(&mut rd).expect("read");
    }
    peer.process_new_packets().expect("process");
    let mut got = Vec::new();
    let _ = std::io::Read::read_to_end(&mut peer.reader(), &mut got);
    assert_eq!(got, b"<stream:stream>", "{what}");
    if version == "TLSv1.3" {
        peer.refresh_traffic_keys().expect("key update");
    }
    std::io::Write::write_all(&mut peer.writer(), b"<features/>").expect("write");
    let (at_ours, _) = pump(ours, peer, 7);
    assert_eq!(at_ours, b"<features/>", "{what}");
    // and still both ways after the key update
    let step = ours.step(b"<iq/>", b"", -1);
    let mut rd = &step.to_write[..];
    while !rd.is_empty() {
        peer.read_tls(&mut rd).expect("read");
    }
    peer.process_new_packets()
        .expect("process after key update");
    let mut got = Vec::new();
    let _ = std::io::Read::read_to_end(&mut peer.reader(), &mut got);
    assert_eq!(got, b"<iq/>", "{what}");
}

#[test]
fn our_server_exports_what_rustls_exports() {
    for (suite, version) in SUITES {
        for chunk in [usize::MAX, 1, 13] {
            let mut ours = Session::new(&Options {
                role: Some(Role::Server),
                certfile: pki().server.clone(),
                ..Default::default()
            })
            .expect("server");
            let mut peer = reference_client(suite);
            // the peer speaks first: move its ClientHello in `chunk` pieces
            let mut hello = Vec::new();
            peer.write_tls(&mut hello).expect("hello");
            let mut to_peer = Vec::new();
            for piece in hello.chunks(chunk.min(hello.len())) {
                let step = ours.step(b"", piece, -1);
                assert!(!matches!(step.tag, StepTag::Error(_)), "{:?}", step.tag);
                to_peer.extend(step.to_write);
            }
            let mut rd = &to_peer[..];
            while !rd.is_empty() {
                peer.read_tls(&mut rd).expect("read");
                peer.process_new_packets().expect("process");
            }
            check(
                &mut ours,
                &mut peer,
                version,
                &format!("server {suite:?} chunk {chunk}"),
            );
        }
    }
}

#[test]
fn our_client_exports_what_rustls_exports() {
    for (suite, version) in SUITES {
        let mut ours = Session::new(&Options {
            role: Some(Role::Client),
            ..Default::default()
        })
        .expect("client");
        let mut peer = reference_server(suite);
        check(&mut ours, &mut peer, version, &format!("client {suite:?}"));
    }
}
