//! Certificates per domain from a directory, chosen by SNI (RFC 6066 §3), for
//! a server that owns its TLS configuration (the sidecar's edge).
//!
//! Two layouts are read, side by side in one directory:
//! - Let's Encrypt's (certbot's `live/`): `DOMAIN/fullchain.pem` and
//!   `DOMAIN/privkey.pem` (symbolic links are followed);
//! - flat files: `DOMAIN.crt` and `DOMAIN.key` (`DOMAIN.pem` holding both also works).
//!
//! `DOMAIN` may be a wildcard written `*.example.com` or `_.example.com`.
//! A server name is matched like the `add_certfile/2` registry: the exact
//! name, then `*.` + the name without its first label; then any loaded
//! certificate whose subject alternative names cover it (a Let's Encrypt
//! wildcard certificate lives in a directory named after the base domain);
//! then the default.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::certs::{read_certified_key, sni_candidates};
use super::TlsError;

/// One loaded domain certificate.
#[derive(Debug, Clone)]
pub struct DomainCert {
    /// The domain it was found under (lowercase, `*.` for a wildcard).
    pub domain: String,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub key: Arc<CertifiedKey>,
}

/// The certificates of one directory, by domain.
#[derive(Debug, Default)]
pub struct CertStore {
    by_domain: HashMap<String, DomainCert>,
    default: Option<String>,
}

impl CertStore {
    /// Loads every certificate of `dir`. `default_domain` is served when no
    /// name matches (the first domain in name order when `None`).
    ///
    /// Errors: the directory cannot be read, a pair cannot be loaded (the
    /// message names the file), no certificate at all, or an unknown default.
    pub fn load_dir(dir: &Path, default_domain: Option<&str>) -> Result<CertStore, TlsError> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| TlsError::Config(format!("{}: {e}", dir.display())))?;
        let mut pairs: Vec<(String, PathBuf, PathBuf)> = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if path.is_dir() {
                let (cert, key) = (path.join("fullchain.pem"), path.join("privkey.pem"));
                if cert.is_file() && key.is_file() {
                    pairs.push((name.to_owned(), cert, key));
                }
            } else if let Some(domain) = name.strip_suffix(".crt") {
                let key = dir.join(format!("{domain}.key"));
                if key.is_file() {
                    pairs.push((domain.to_owned(), path.clone(), key));
                }
            } else if let Some(domain) = name.strip_suffix(".pem") {
                if !dir.join(format!("{domain}.crt")).exists() {
                    pairs.push((domain.to_owned(), path.clone(), path.clone()));
                }
            }
        }
        let mut store = CertStore::default();
        for (domain, cert_file, key_file) in pairs {
            let domain = normalize_domain(&domain);
            let key = load_pair(&cert_file, &key_file)?;
            store.by_domain.insert(
                domain.clone(),
                DomainCert {
                    domain,
                    cert_file,
                    key_file,
                    key,
                },
            );
        }
        if store.by_domain.is_empty() {
            return Err(TlsError::Config(format!(
                "{}: no certificate (DOMAIN/fullchain.pem + DOMAIN/privkey.pem, or DOMAIN.crt + DOMAIN.key)",
                dir.display()
            )));
        }
        store.default = match default_domain {
            Some(d) => {
                let d = normalize_domain(d);
                if !store.by_domain.contains_key(&d) {
                    return Err(TlsError::Config(format!(
                        "default domain {d}: no certificate for it in {}",
                        dir.display()
                    )));
                }
                Some(d)
            }
            None => store.by_domain.keys().min().cloned(),
        };
        Ok(store)
    }

    /// The domains loaded, in name order.
    pub fn domains(&self) -> Vec<&str> {
        let mut d: Vec<&str> = self.by_domain.keys().map(String::as_str).collect();
        d.sort_unstable();
        d
    }

    /// The certificate for a server name (`None`: no SNI sent).
    pub fn select(&self, server_name: Option<&str>) -> Option<&DomainCert> {
        if let Some(name) = server_name {
            let name = name.to_ascii_lowercase();
            for candidate in sni_candidates(&name) {
                if let Some(c) = self.by_domain.get(candidate.as_ref()) {
                    return Some(c);
                }
            }
            if let Ok(dns) = rustls::pki_types::ServerName::try_from(name.as_str()) {
                let covering = self
                    .by_domain
                    .values()
                    .filter(|c| covers(&c.key.cert, &dns))
                    .min_by(|a, b| a.domain.cmp(&b.domain));
                if covering.is_some() {
                    return covering;
                }
            }
        }
        self.default.as_ref().and_then(|d| self.by_domain.get(d))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.select(hello.server_name()).map(|c| c.key.clone())
    }
}

fn normalize_domain(d: &str) -> String {
    let d = d.to_ascii_lowercase();
    match d.strip_prefix("_.") {
        Some(rest) => format!("*.{rest}"),
        None => d,
    }
}

fn load_pair(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let (c, k) = (cert.to_string_lossy(), key.to_string_lossy());
    let k = if c == k { "" } else { &k };
    // not the path-keyed cache: a reload must see renewed files
    read_certified_key(&c, k)
        .map(|l| l.certified)
        .map_err(|e| TlsError::Config(format!("{}: {e}", cert.display())))
}

/// Does the leaf of `chain` name `dns` (webpki's subject-name check)?
fn covers(chain: &[CertificateDer<'static>], dns: &rustls::pki_types::ServerName<'_>) -> bool {
    let Some(leaf) = chain.first() else {
        return false;
    };
    webpki::EndEntityCert::try_from(leaf)
        .map(|ee| ee.verify_is_valid_for_subject_name(dns).is_ok())
        .unwrap_or(false)
}
