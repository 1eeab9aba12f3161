//! Certificates for the TLS tests, made at test time with rcgen (PEM files in
//! a temporary directory: certificate then key in one file, as fast_tls's
//! `certfile` takes them). The directory is left in the temp dir: the tests
//! share one `Pki` in a static, which is never dropped.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SignatureAlgorithm,
};

pub struct Pki {
    pub ca: String,
    pub server: String,
    pub server_rsa: String,
    pub client: String,
    pub self_signed: String,
    pub expired: String,
    pub not_yet_valid: String,
    pub unknown_ca_client: String,
    pub sni_a: String,
    pub sni_wild: String,
}

fn params(cn: &str, names: &[&str]) -> CertificateParams {
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p
}

fn ca(cn: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = params(cn, &[]);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(p, KeyPair::generate().expect("key")).expect("ca")
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("xmpp-accel-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write pem");
            path.to_string_lossy().into_owned()
        };
        let root = ca("Test CA");
        let other_root = ca("Other CA");
        let leaf = |cn: &str,
                    names: &[&str],
                    eku: ExtendedKeyUsagePurpose,
                    issuer: &CertifiedIssuer<'static, KeyPair>,
                    alg: &'static SignatureAlgorithm,
                    validity: Option<(i32, i32)>| {
            let mut p = params(cn, names);
            p.extended_key_usages = vec![eku];
            if let Some((from, to)) = validity {
                p.not_before = rcgen::date_time_ymd(from, 1, 1);
                p.not_after = rcgen::date_time_ymd(to, 1, 1);
            }
            let key = KeyPair::generate_for(alg).expect("key");
            let cert = p.signed_by(&key, issuer).expect("sign");
            format!("{}{}", cert.pem(), key.serialize_pem())
        };
        let ecdsa = &rcgen::PKCS_ECDSA_P256_SHA256;
        let server_eku = ExtendedKeyUsagePurpose::ServerAuth;
        let client_eku = ExtendedKeyUsagePurpose::ClientAuth;
        let self_signed = {
            let key = KeyPair::generate().expect("key");
            let cert = params("self", &["self.example"])
                .self_signed(&key)
                .expect("self");
            format!("{}{}", cert.pem(), key.serialize_pem())
        };
        Pki {
            ca: write("ca.pem", root.pem()),
            server: write(
                "server.pem",
                leaf(
                    "server",
                    &["localhost"],
                    server_eku.clone(),
                    &root,
                    ecdsa,
                    None,
                ),
            ),
            server_rsa: write(
                "server_rsa.pem",
                leaf(
                    "server-rsa",
                    &["localhost"],
                    server_eku.clone(),
                    &root,
                    &rcgen::PKCS_RSA_SHA256,
                    None,
                ),
            ),
            client: write(
                "client.pem",
                leaf(
                    "client",
                    &["client.example"],
                    client_eku.clone(),
                    &root,
                    ecdsa,
                    None,
                ),
            ),
            self_signed: write("self.pem", self_signed),
            expired: write(
                "expired.pem",
                leaf(
                    "expired",
                    &["client.example"],
                    client_eku.clone(),
                    &root,
                    ecdsa,
                    Some((2000, 2001)),
                ),
            ),
            not_yet_valid: write(
                "future.pem",
                leaf(
                    "future",
                    &["client.example"],
                    client_eku.clone(),
                    &root,
                    ecdsa,
                    Some((2090, 2091)),
                ),
            ),
            unknown_ca_client: write(
                "unknown.pem",
                leaf(
                    "unknown",
                    &["client.example"],
                    client_eku,
                    &other_root,
                    ecdsa,
                    None,
                ),
            ),
            sni_a: write(
                "a.pem",
                leaf("a", &["a.example"], server_eku.clone(), &root, ecdsa, None),
            ),
            sni_wild: write(
                "wild.pem",
                leaf("wild", &["*.wild.example"], server_eku, &root, ecdsa, None),
            ),
        }
    }
}
