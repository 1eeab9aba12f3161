//! Certificates and keys from PEM files, cached per (certfile, keyfile), and
//! the per-domain certificate registry of `fast_tls:add_certfile/2` that a
//! server consults for SNI (RFC 6066 §3): exact name first, then the name
//! with its first label replaced by `*`, then the session's own certfile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::TlsError;

type KeyCache = Mutex<HashMap<(String, String), LoadedKey>>;

/// A certificate chain with its key, as loaded from files.
#[derive(Clone, Debug)]
pub struct LoadedKey {
    pub certified: Arc<CertifiedKey>,
    /// One signature with this key took over [`SLOW_SIGNATURE`] when
    /// measured at load time (RSA on a slow machine): handshake steps that
    /// sign with it go to a dirty scheduler.
    pub slow_to_sign: bool,
}

/// A signature slower than this makes a handshake step a dirty-scheduler
/// job (the rest of a step takes well under 100 us).
pub const SLOW_SIGNATURE: std::time::Duration = std::time::Duration::from_micros(400);

/// Times a few signatures and keeps the fastest (load on the machine only
/// makes a signature slower, never faster).
fn measure_slow_to_sign(ck: &CertifiedKey) -> bool {
    use rustls::SignatureScheme as S;
    let schemes = [
        S::ECDSA_NISTP256_SHA256,
        S::ECDSA_NISTP384_SHA384,
        S::ED25519,
        S::RSA_PSS_SHA256,
    ];
    let Some(signer) = ck.key.choose_scheme(&schemes) else {
        return true;
    };
    let fastest = (0..3)
        .filter_map(|_| {
            let t = std::time::Instant::now();
            signer.sign(&[0x5a; 32]).ok().map(|_| t.elapsed())
        })
        .min();
    fastest.is_none_or(|d| d > SLOW_SIGNATURE)
}

fn key_cache() -> &'static KeyCache {
    static CACHE: OnceLock<KeyCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn registry() -> &'static RwLock<HashMap<String, String>> {
    static REGISTRY: OnceLock<RwLock<HashMap<String, String>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Reads every certificate of a PEM file, in file order.
pub fn read_certs(file: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no certificate in file".into());
    }
    Ok(certs)
}

/// The certificate chain of `certfile` with the key of `keyfile` (or of
/// `certfile` when `keyfile` is empty), checked to belong together. Errors
/// carry fast_tls's texts (`SSL_CTX_use_certificate_file failed`, ...).
pub fn load_certified_key(certfile: &str, keyfile: &str) -> Result<LoadedKey, TlsError> {
    let cache_key = (certfile.to_owned(), keyfile.to_owned());
    if let Some(ck) = key_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&cache_key)
    {
        return Ok(ck.clone());
    }
    let loaded = read_certified_key(certfile, keyfile)?;
    key_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(cache_key, loaded.clone());
    refresh_registry_speed();
    Ok(loaded)
}

/// The signing key of a private key, whatever PEM label its bytes came
/// under: OpenSSL reads a PKCS#8 key labelled `RSA PRIVATE KEY` (ejabberd's
/// pkix writes such files), so the other encodings are tried too.
fn signing_key(
    key: PrivateKeyDer<'static>,
) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
    use rustls::pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
    let provider = super::provider();
    let first_error = match provider.key_provider.load_private_key(key.clone_key()) {
        Ok(k) => return Ok(k),
        Err(e) => e,
    };
    let bytes = key.secret_der().to_vec();
    let others: [PrivateKeyDer<'static>; 3] = [
        PrivatePkcs8KeyDer::from(bytes.clone()).into(),
        PrivatePkcs1KeyDer::from(bytes.clone()).into(),
        PrivateSec1KeyDer::from(bytes).into(),
    ];
    others
        .into_iter()
        .find_map(|k| provider.key_provider.load_private_key(k).ok())
        .ok_or(first_error)
}

/// [`load_certified_key`] without the cache: reads the files every time
/// (a reload after a certificate renewal must see the new files).
pub fn read_certified_key(certfile: &str, keyfile: &str) -> Result<LoadedKey, TlsError> {
    let certs = read_certs(certfile)
        .map_err(|e| TlsError::Config(format!("SSL_CTX_use_certificate_file failed: {e}")))?;
    let key_file = if keyfile.is_empty() {
        certfile
    } else {
        keyfile
    };
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| TlsError::Config(format!("SSL_CTX_use_PrivateKey_file failed: {e}")))?;
    let signing_key = signing_key(key)
        .map_err(|e| TlsError::Config(format!("SSL_CTX_use_PrivateKey_file failed: {e}")))?;
    let ck = CertifiedKey::new(certs, signing_key);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => {
            return Err(TlsError::Config(format!(
                "SSL_CTX_check_private_key failed: {e}"
            )))
        }
    }
    Ok(LoadedKey {
        slow_to_sign: measure_slow_to_sign(&ck),
        certified: Arc::new(ck),
    })
}

pub(crate) fn clear_key_cache() {
    key_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    refresh_registry_speed();
}

/// `add_certfile(Domain, File)`: replaces any earlier file for the domain.
/// Domains are matched without regard to ASCII case.
pub fn add_certfile(domain: &str, file: &str) {
    registry()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(domain.to_ascii_lowercase(), file.to_owned());
    refresh_registry_speed();
}

/// `delete_certfile(Domain)`: true when the domain had a file.
pub fn delete_certfile(domain: &str) -> bool {
    let removed = registry()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&domain.to_ascii_lowercase())
        .is_some();
    refresh_registry_speed();
    removed
}

/// `get_certfile(Domain)`: the file registered for exactly this domain.
pub fn get_certfile(domain: &str) -> Option<String> {
    registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&domain.to_ascii_lowercase())
        .cloned()
}

/// The answer of [`registry_may_sign_slowly`], kept up to date when the
/// registry changes or a key is loaded (not computed per handshake).
static REGISTRY_MAY_SIGN_SLOWLY: AtomicBool = AtomicBool::new(false);

/// Could a registered certificate be slow to sign with? True when one is,
/// or when one was not loaded yet (its key is not known).
pub fn registry_may_sign_slowly() -> bool {
    REGISTRY_MAY_SIGN_SLOWLY.load(Ordering::Acquire)
}

/// Recomputes [`registry_may_sign_slowly`]. The answer is stored under the
/// registry's read lock, so an `add_certfile` (write lock) is never lost;
/// a racing key load can only leave it `true` for longer (an extra dirty
/// step), never `false` wrongly.
fn refresh_registry_speed() {
    let map = registry().read().unwrap_or_else(|e| e.into_inner());
    let keys = key_cache().lock().unwrap_or_else(|e| e.into_inner());
    let slow = map
        .values()
        .any(|file| match keys.get(&(file.clone(), String::new())) {
            Some(loaded) => loaded.slow_to_sign,
            None => true,
        });
    drop(keys);
    REGISTRY_MAY_SIGN_SLOWLY.store(slow, Ordering::Release);
}

/// The registered file for a server name: exact, then `*.` + the name
/// without its first label.
pub fn lookup_certfile(server_name: &str) -> Option<String> {
    let name = server_name.to_ascii_lowercase();
    let map = registry().read().unwrap_or_else(|e| e.into_inner());
    let found = sni_candidates(&name).find_map(|c| map.get(c.as_ref()).cloned());
    found
}

/// The names a certificate may be registered under for a (lowercase)
/// server name, best first: the name itself, then `*.` + the name without
/// its first label (RFC 6125 §6.4.3: a wildcard covers one label).
pub fn sni_candidates(name: &str) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
    let wildcard = name
        .find('.')
        .filter(|&d| d > 0)
        .map(|d| std::borrow::Cow::Owned(format!("*{}", &name[d..])));
    std::iter::once(std::borrow::Cow::Borrowed(name)).chain(wildcard)
}

/// Chooses the server certificate from the SNI name of each ClientHello.
#[derive(Debug)]
pub(crate) struct SniResolver {
    pub default: Option<Arc<CertifiedKey>>,
    pub default_file: String,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name().and_then(lookup_certfile) {
            Some(file) if file != self.default_file => {
                // a registered domain file holds its own key, as in fast_tls
                load_certified_key(&file, "").ok().map(|k| k.certified)
            }
            _ => self.default.clone(),
        }
    }
}

/// A client's own certificate (`{certfile, F}` with `connect`), sent
/// whatever CA names the server hints.
#[derive(Debug)]
pub(crate) struct ClientCert(pub Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_exact_then_wildcard() {
        add_certfile("Exact.Test.Example", "/e.pem");
        add_certfile("*.wild.test.example", "/w.pem");
        assert_eq!(
            lookup_certfile("exact.test.example").as_deref(),
            Some("/e.pem")
        );
        assert_eq!(
            lookup_certfile("x.WILD.test.example").as_deref(),
            Some("/w.pem")
        );
        assert_eq!(lookup_certfile("wild.test.example"), None);
        assert_eq!(lookup_certfile(".wild.test.example"), None);
        assert_eq!(
            get_certfile("exact.test.example").as_deref(),
            Some("/e.pem")
        );
        assert!(delete_certfile("exact.test.example"));
        assert!(!delete_certfile("exact.test.example"));
        assert!(delete_certfile("*.wild.test.example"));
    }

    #[test]
    fn missing_files_are_config_errors() {
        let e = load_certified_key("/nonexistent/cert.pem", "").unwrap_err();
        assert!(
            matches!(e, TlsError::Config(ref m) if m.starts_with("SSL_CTX_use_certificate_file failed"))
        );
    }
}
