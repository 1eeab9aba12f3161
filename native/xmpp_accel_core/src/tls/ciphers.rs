//! OpenSSL cipher strings (`{ciphers, "HIGH:!aNULL:..."}`) read into rustls
//! cipher suites, and OpenSSL's names for the negotiated suite.
//!
//! rustls offers only AEAD suites with forward secrecy: TLS 1.3's three and
//! TLS 1.2's ECDHE-{ECDSA,RSA} with AES-GCM or ChaCha20-Poly1305. A cipher
//! string selects among the TLS 1.2 ones with OpenSSL's syntax (`:`-separated
//! elements, `+` for "and", `!` kill, `-` remove, `+X` move to the end,
//! `@STRENGTH` and `@SECLEVEL` ignored); names of suites rustls does not have
//! (CBC, RSA key exchange, DHE, 3DES, RC4...) select nothing. As with
//! OpenSSL, the string does not touch TLS 1.3 suites. When nothing is
//! selected, fast_tls's call to `SSL_CTX_set_cipher_list` fails and is
//! ignored, so the defaults stay: here too.

use rustls::{CipherSuite, SupportedCipherSuite};

struct Suite {
    id: CipherSuite,
    openssl: &'static str,
    attrs: &'static [&'static str],
}

const COMMON: &[&str] = &[
    "ALL", "DEFAULT", "HIGH", "ECDHE", "EECDH", "kECDHE", "kEECDH", "ECDH", "AEAD", "TLSv1.2",
    "FIPS",
];

const TLS12: &[Suite] = &[
    Suite {
        id: CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        openssl: "ECDHE-ECDSA-AES256-GCM-SHA384",
        attrs: &["aECDSA", "ECDSA", "AESGCM", "AES", "AES256", "SHA384"],
    },
    Suite {
        id: CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        openssl: "ECDHE-RSA-AES256-GCM-SHA384",
        attrs: &["aRSA", "AESGCM", "AES", "AES256", "SHA384"],
    },
    Suite {
        id: CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        openssl: "ECDHE-ECDSA-CHACHA20-POLY1305",
        attrs: &["aECDSA", "ECDSA", "CHACHA20", "SHA256"],
    },
    Suite {
        id: CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        openssl: "ECDHE-RSA-CHACHA20-POLY1305",
        attrs: &["aRSA", "CHACHA20", "SHA256"],
    },
    Suite {
        id: CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        openssl: "ECDHE-ECDSA-AES128-GCM-SHA256",
        attrs: &["aECDSA", "ECDSA", "AESGCM", "AES", "AES128", "SHA256"],
    },
    Suite {
        id: CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        openssl: "ECDHE-RSA-AES128-GCM-SHA256",
        attrs: &["aRSA", "AESGCM", "AES", "AES128", "SHA256"],
    },
];

const TLS13_NAMES: &[(CipherSuite, &str)] = &[
    (
        CipherSuite::TLS13_AES_256_GCM_SHA384,
        "TLS_AES_256_GCM_SHA384",
    ),
    (
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
    (
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_128_GCM_SHA256",
    ),
];

impl Suite {
    fn matches(&self, element: &str) -> bool {
        element == self.openssl
            || element
                .split('+')
                .all(|a| COMMON.contains(&a) || self.attrs.contains(&a))
    }
}

/// The TLS 1.2 suites an OpenSSL cipher string selects, in its order
/// (an empty string = all, in rustls's preference order).
pub fn select_tls12(cipher_string: &str) -> Vec<CipherSuite> {
    let mut chosen: Vec<usize> = Vec::new();
    let mut killed = [false; TLS12.len()];
    let elements = cipher_string
        .split([':', ',', ' ', ';'])
        .filter(|e| !e.is_empty() && !e.starts_with('@'));
    for element in elements {
        let (op, name) = match element.as_bytes()[0] {
            b'!' | b'-' | b'+' => (element.as_bytes()[0], &element[1..]),
            _ => (0, element),
        };
        let hits: Vec<usize> = (0..TLS12.len())
            .filter(|&i| TLS12[i].matches(name))
            .collect();
        match op {
            b'!' => {
                for &i in &hits {
                    killed[i] = true;
                }
                chosen.retain(|i| !hits.contains(i));
            }
            b'-' => chosen.retain(|i| !hits.contains(i)),
            b'+' => {
                let (moved, kept): (Vec<usize>, Vec<usize>) =
                    chosen.iter().partition(|i| hits.contains(i));
                chosen = kept.into_iter().chain(moved).collect();
            }
            _ => {
                for i in hits {
                    if !killed[i] && !chosen.contains(&i) {
                        chosen.push(i);
                    }
                }
            }
        }
    }
    if chosen.is_empty() {
        chosen = (0..TLS12.len()).collect();
    }
    chosen.into_iter().map(|i| TLS12[i].id).collect()
}

/// The provider's suites for a cipher string: TLS 1.3 ones first, then the
/// TLS 1.2 ones the string selects, in its order.
pub(crate) fn suites_for(
    cipher_string: &str,
    available: &[SupportedCipherSuite],
) -> Vec<SupportedCipherSuite> {
    let tls13 = available.iter().filter(|s| s.tls13().is_some()).copied();
    let tls12 = select_tls12(cipher_string)
        .into_iter()
        .filter_map(|id| available.iter().find(|s| s.suite() == id).copied());
    tls13.chain(tls12).collect()
}

/// OpenSSL's name of a suite (`SSL_get_cipher_name`).
pub fn openssl_name(suite: CipherSuite) -> &'static str {
    TLS13_NAMES
        .iter()
        .find(|(id, _)| *id == suite)
        .map(|(_, n)| *n)
        .or_else(|| TLS12.iter().find(|s| s.id == suite).map(|s| s.openssl))
        .unwrap_or("(NONE)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use CipherSuite as C;

    #[test]
    fn fast_tls_default_string_selects_all() {
        assert_eq!(select_tls12("HIGH:!aNULL:!eNULL:!3DES:@STRENGTH").len(), 6);
        assert_eq!(select_tls12("").len(), 6);
    }

    #[test]
    fn names_kills_and_intersections() {
        assert_eq!(
            select_tls12("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"),
            vec![
                C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            ]
        );
        assert_eq!(
            select_tls12("ECDHE+AESGCM:!aRSA"),
            vec![
                C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            ]
        );
        assert_eq!(select_tls12("HIGH:!CHACHA20:CHACHA20").len(), 4);
        assert_eq!(select_tls12("HIGH:-CHACHA20:CHACHA20").len(), 6);
        let moved = select_tls12("HIGH:+AES128");
        assert_eq!(moved[4..].len(), 2);
        assert!(moved[4..]
            .iter()
            .all(|s| format!("{s:?}").contains("AES_128")));
    }

    #[test]
    fn nothing_known_keeps_the_defaults() {
        assert_eq!(select_tls12("AES256-SHA:DES-CBC3-SHA:RC4").len(), 6);
    }

    #[test]
    fn openssl_names() {
        assert_eq!(
            openssl_name(C::TLS13_AES_256_GCM_SHA384),
            "TLS_AES_256_GCM_SHA384"
        );
        assert_eq!(
            openssl_name(C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
            "ECDHE-RSA-CHACHA20-POLY1305"
        );
    }
}
