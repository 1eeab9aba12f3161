//! Server CPU per full TLS handshake in the core alone (no BEAM): our client
//! against our server in memory, timing only the server's `Session::new`
//! and steps. `cargo run --release -p xmpp_accel_core --example tls_handshake`
//! (ECDSA P-256 and RSA 2048, TLS 1.3 and 1.2).

use std::time::{Duration, Instant};

use xmpp_accel_core::tls::{Options, Role, Session};

fn certfile(alg: &'static rcgen::SignatureAlgorithm, name: &str) -> String {
    let key = rcgen::KeyPair::generate_for(alg).expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let path =
        std::env::temp_dir().join(format!("xmpp-accel-hs-{name}-{}.pem", std::process::id()));
    std::fs::write(&path, format!("{}{}", cert.pem(), key.serialize_pem())).expect("write");
    path.to_string_lossy().into_owned()
}

fn handshake(client_opts: &Options, server_opts: &Options) -> Duration {
    let mut client = Session::new(client_opts).expect("client");
    let t = Instant::now();
    let mut server = Session::new(server_opts).expect("server");
    let mut spent = t.elapsed();
    let mut to_server = client.step(b"", b"", -1).to_write;
    while client.is_handshaking() || server.is_handshaking() {
        let t = Instant::now();
        let out = server.step(b"", &to_server, -1);
        spent += t.elapsed();
        to_server = client.step(b"", &out.to_write, -1).to_write;
        if to_server.is_empty() && out.to_write.is_empty() {
            break;
        }
    }
    if !to_server.is_empty() {
        let t = Instant::now();
        server.step(b"", &to_server, -1);
        spent += t.elapsed();
    }
    spent
}

fn main() {
    let n = 2000;
    for (alg, name) in [
        (&rcgen::PKCS_ECDSA_P256_SHA256, "ecdsa"),
        (&rcgen::PKCS_RSA_SHA256, "rsa"),
    ] {
        let file = certfile(alg, name);
        for proto in ["", "no_tlsv1_3"] {
            let sopts = Options {
                role: Some(Role::Server),
                certfile: file.clone(),
                verify_none: true,
                protocol_options: proto.into(),
                ..Default::default()
            };
            let copts = Options {
                role: Some(Role::Client),
                ..Default::default()
            };
            handshake(&copts, &sopts); // warm the config cache
            let total: Duration = (0..n).map(|_| handshake(&copts, &sopts)).sum();
            let version = if proto.is_empty() {
                "TLS 1.3"
            } else {
                "TLS 1.2"
            };
            println!(
                "{name:5} {version}: server {:.1} us per handshake",
                total.as_secs_f64() * 1e6 / n as f64
            );
        }
        let _ = std::fs::remove_file(file);
    }
}
