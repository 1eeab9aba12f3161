//! The options of `fast_tls:tcp_to_tls/2`, as its NIF receives them.

/// Which end of the connection this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `connect` given: a TLS client.
    Client,
    /// The default: a TLS server (needs a certificate).
    Server,
}

/// Session options (empty string / empty list = not given, as in fast_tls).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Options {
    /// Client or server.
    pub role: Option<Role>,
    /// `verify_none`: a server does not ask for a client certificate.
    pub verify_none: bool,
    /// `override_cert_purpose`: a client certificate is verified for the
    /// server purpose (s2s peers present server certificates).
    pub override_cert_purpose: bool,
    /// `{certfile, F}`: PEM with the certificate chain (and the key when no
    /// `keyfile`).
    pub certfile: String,
    /// `{keyfile, F}`: PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub keyfile: String,
    /// `{cafile, F}`: PEM CA certificates trusted when computing verify codes;
    /// empty = the system's roots.
    pub cafile: String,
    /// `{dhfile, F}`: checked to be readable, otherwise unused (no FFDHE).
    pub dhfile: String,
    /// `{ciphers, S}`: an OpenSSL cipher string (see `ciphers`).
    pub ciphers: String,
    /// `{protocol_options, S}`: `|`-separated OpenSSL option names; empty =
    /// fast_tls's default `no_sslv3|cipher_server_preference|no_compression`.
    pub protocol_options: String,
    /// `{sni, Name}`: server name a client sends.
    pub sni: String,
    /// `{alpn, [P]}`: protocols offered (client) or accepted (server), in
    /// order of preference.
    pub alpn: Vec<Vec<u8>>,
}

/// What `protocol_options` asks for, in rustls terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProtocolFlags {
    pub tls12: bool,
    pub tls13: bool,
    pub server_preference: bool,
}

const DEFAULT_PROTOCOL_OPTIONS: &str = "no_sslv3|cipher_server_preference|no_compression";

impl Options {
    pub(crate) fn role(&self) -> Role {
        self.role.unwrap_or(Role::Server)
    }

    /// Reads `protocol_options`. Names rustls has no use for (`no_sslv3`,
    /// `no_tlsv1`, `no_tlsv1_1`, `no_compression`, `no_ticket`, `all`, ...)
    /// are accepted and ignored, as OpenSSL ignores unknown names for fast_tls.
    pub(crate) fn protocol_flags(&self) -> ProtocolFlags {
        let s = if self.protocol_options.is_empty() {
            DEFAULT_PROTOCOL_OPTIONS
        } else {
            &self.protocol_options
        };
        let mut flags = ProtocolFlags {
            tls12: true,
            tls13: true,
            server_preference: false,
        };
        for name in s.split('|').map(str::trim) {
            match name {
                "no_tlsv1_2" => flags.tls12 = false,
                "no_tlsv1_3" => flags.tls13 = false,
                "cipher_server_preference" => flags.server_preference = true,
                _ => {}
            }
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_options() {
        let mut o = Options::default();
        assert_eq!(
            o.protocol_flags(),
            ProtocolFlags {
                tls12: true,
                tls13: true,
                server_preference: true
            }
        );
        o.protocol_options = "no_sslv3|no_tlsv1|no_tlsv1_1|no_tlsv1_3".into();
        assert_eq!(
            o.protocol_flags(),
            ProtocolFlags {
                tls12: true,
                tls13: false,
                server_preference: false
            }
        );
        o.protocol_options = "no_tlsv1_2|no_tlsv1_3".into();
        let f = o.protocol_flags();
        assert!(!f.tls12 && !f.tls13);
    }
}
