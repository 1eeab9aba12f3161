//! The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): the
//! header the edge sends to the backend, and the one it accepts from a
//! trusted load balancer in front. Encoding and parsing are the `ppp` crate's.
//!
//! Version 2 carries these TLVs:
//! - `PP2_TYPE_ALPN` (0x01): the ALPN protocol negotiated with the client;
//! - `PP2_TYPE_AUTHORITY` (0x02): the SNI host name the client sent;
//! - `PP2_TYPE_SSL` (0x20): client flags (`PP2_CLIENT_SSL`, and
//!   `PP2_CLIENT_CERT_CONN` when the client sent a certificate), the verify
//!   result (0 when that certificate was verified, else OpenSSL's
//!   `X509_V_*` code), and sub-TLVs `PP2_SUBTYPE_SSL_VERSION` ("TLSv1.3"),
//!   `PP2_SUBTYPE_SSL_CIPHER` (OpenSSL's name) and `PP2_SUBTYPE_SSL_CN`
//!   (the client certificate's subject common name);
//! - [`TLV_TLS_EXPORTER`] (0xE0, in the custom range 0xE0-0xEF): the RFC 9266
//!   `tls-exporter` channel-binding value (32 bytes, label
//!   `EXPORTER-Channel-Binding`, no context), so that a server module behind
//!   the edge can offer SCRAM-*-PLUS (RFC 5802, XEP-0440). No standard TLV
//!   exists for it.

use std::net::{IpAddr, SocketAddr};

use ppp::v2;

/// The custom TLV type carrying the RFC 9266 `tls-exporter` value.
pub const TLV_TLS_EXPORTER: u8 = 0xE0;

const PP2_CLIENT_SSL: u8 = 0x01;
const PP2_CLIENT_CERT_CONN: u8 = 0x02;
const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;

/// What the edge knows of a client connection after its TLS handshake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFacts {
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: String,
    /// OpenSSL's name of the cipher suite.
    pub cipher: String,
    pub alpn: Option<Vec<u8>>,
    /// The SNI name the client sent.
    pub sni: Option<String>,
    /// `Some(code)` when the client sent a certificate: 0 verified, else `X509_V_*`.
    pub client_cert_verify: Option<i64>,
    /// The client certificate's subject CN.
    pub client_cert_cn: Option<String>,
    /// RFC 9266 `tls-exporter` value.
    pub exporter: Option<[u8; 32]>,
}

/// Both addresses in one family (IPv4 mapped into IPv6 when they differ).
fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    match (src, dst) {
        (SocketAddr::V4(_), SocketAddr::V6(_)) => (v6(src), dst),
        (SocketAddr::V6(_), SocketAddr::V4(_)) => (src, v6(dst)),
        _ => (src, dst),
    }
}

/// A PROXY v2 header: `client` connected to `local`, with TLVs from `tls`.
pub fn encode_v2(
    client: SocketAddr,
    local: SocketAddr,
    tls: &TlsFacts,
) -> std::io::Result<Vec<u8>> {
    let mut b = v2::Builder::with_addresses(
        v2::Version::Two | v2::Command::Proxy,
        v2::Protocol::Stream,
        same_family(client, local),
    );
    if let Some(alpn) = &tls.alpn {
        b = b.write_tlv(v2::Type::ALPN, alpn)?;
    }
    if let Some(sni) = &tls.sni {
        b = b.write_tlv(v2::Type::Authority, sni.as_bytes())?;
    }
    let mut ssl = Vec::with_capacity(64);
    let mut client_flags = PP2_CLIENT_SSL;
    if tls.client_cert_verify.is_some() {
        client_flags |= PP2_CLIENT_CERT_CONN;
    }
    ssl.push(client_flags);
    // verify: 0 when the presented certificate was verified (or none was
    // asked for), else non-zero (here OpenSSL's code)
    let verify = tls
        .client_cert_verify
        .unwrap_or(0)
        .clamp(0, u32::MAX as i64) as u32;
    ssl.extend_from_slice(&verify.to_be_bytes());
    let mut sub = |kind: u8, value: &[u8]| {
        ssl.push(kind);
        ssl.extend_from_slice(&(value.len() as u16).to_be_bytes());
        ssl.extend_from_slice(value);
    };
    sub(PP2_SUBTYPE_SSL_VERSION, tls.version.as_bytes());
    if !tls.cipher.is_empty() {
        sub(PP2_SUBTYPE_SSL_CIPHER, tls.cipher.as_bytes());
    }
    if let Some(cn) = &tls.client_cert_cn {
        sub(PP2_SUBTYPE_SSL_CN, cn.as_bytes());
    }
    b = b.write_tlv(v2::Type::SSL, &ssl)?;
    if let Some(ekm) = &tls.exporter {
        b = b.write_tlv(TLV_TLS_EXPORTER, ekm)?;
    }
    b.build()
}

/// A PROXY v1 header line (`PROXY TCP4 ...\r\n`).
pub fn encode_v1(client: SocketAddr, local: SocketAddr) -> Vec<u8> {
    let (src, dst) = same_family(client, local);
    let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {proto} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

/// The longest PROXY header accepted from a load balancer (v1 lines are at
/// most 107 bytes; v2 headers with TLVs are rarely over a few hundred).
pub const MAX_INBOUND_HEADER: usize = 1024;

/// Result of reading a PROXY header at the start of `buf`.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// More bytes are needed.
    Partial,
    /// A header of `len` bytes; `client` is the original client's address
    /// (`None` for a LOCAL command or an unspecified family: keep the peer's).
    Header {
        len: usize,
        client: Option<SocketAddr>,
    },
    /// Not a PROXY header, or a malformed one.
    Invalid(String),
}

/// Reads a PROXY v1 or v2 header from the start of `buf`.
pub fn parse_inbound(buf: &[u8]) -> Inbound {
    use ppp::PartialResult;
    let res = ppp::HeaderResult::parse(buf);
    if res.is_incomplete() {
        return if buf.len() >= MAX_INBOUND_HEADER {
            Inbound::Invalid("PROXY header too long".into())
        } else {
            Inbound::Partial
        };
    }
    match res {
        ppp::HeaderResult::V2(Ok(h)) => {
            let client = match h.addresses {
                v2::Addresses::IPv4(a) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                v2::Addresses::IPv6(a) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                _ => None,
            };
            let client = if h.command == v2::Command::Local {
                None
            } else {
                client
            };
            Inbound::Header {
                len: h.len(),
                client,
            }
        }
        ppp::HeaderResult::V1(Ok(h)) => {
            let client = match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                ppp::v1::Addresses::Tcp6(a) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                ppp::v1::Addresses::Unknown => None,
            };
            Inbound::Header {
                len: h.header.len(),
                client,
            }
        }
        ppp::HeaderResult::V2(Err(e)) => Inbound::Invalid(e.to_string()),
        ppp::HeaderResult::V1(Err(e)) => Inbound::Invalid(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts() -> TlsFacts {
        TlsFacts {
            version: "TLSv1.3".into(),
            cipher: "TLS_AES_128_GCM_SHA256".into(),
            alpn: Some(b"xmpp-client".to_vec()),
            sni: Some("example.com".into()),
            client_cert_verify: Some(18),
            client_cert_cn: Some("peer.example".into()),
            exporter: Some([7; 32]),
        }
    }

    #[test]
    fn v2_reads_back_with_its_tlvs() {
        let client: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let local: SocketAddr = "192.0.2.1:5222".parse().unwrap();
        let bytes = encode_v2(client, local, &facts()).unwrap();
        let h = v2::Header::try_from(&bytes[..]).unwrap();
        assert_eq!(h.command, v2::Command::Proxy);
        let tlvs: Vec<_> = h.tlvs().map(|t| t.unwrap()).collect();
        let get = |k: u8| tlvs.iter().find(|t| t.kind == k).map(|t| t.value.to_vec());
        assert_eq!(get(0x01).unwrap(), b"xmpp-client");
        assert_eq!(get(0x02).unwrap(), b"example.com");
        assert_eq!(get(TLV_TLS_EXPORTER).unwrap(), vec![7; 32]);
        let ssl = get(0x20).unwrap();
        assert_eq!(ssl[0], PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN);
        assert_eq!(u32::from_be_bytes(ssl[1..5].try_into().unwrap()), 18);
        assert_eq!(&ssl[5..8], &[PP2_SUBTYPE_SSL_VERSION, 0, 7]);
        assert_eq!(&ssl[8..15], b"TLSv1.3");
        assert_eq!(
            parse_inbound(&bytes),
            Inbound::Header {
                len: bytes.len(),
                client: Some(client)
            }
        );
    }

    #[test]
    fn v1_and_partial_and_garbage() {
        let client: SocketAddr = "[2001:db8::1]:4000".parse().unwrap();
        let local: SocketAddr = "192.0.2.1:5222".parse().unwrap();
        let line = encode_v1(client, local);
        assert!(line.starts_with(b"PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 4000 5222\r\n"));
        assert_eq!(
            parse_inbound(&line),
            Inbound::Header {
                len: line.len(),
                client: Some(client)
            }
        );
        assert_eq!(parse_inbound(&line[..10]), Inbound::Partial);
        assert!(matches!(
            parse_inbound(b"<stream:stream xmlns='jabber:client'>"),
            Inbound::Invalid(_)
        ));
    }

    proptest! {
        #[test]
        fn v2_round_trip(a in any::<[u8; 4]>(), p in any::<u16>(), sni in "[a-z0-9.-]{0,40}", cn in proptest::option::of("[ -~]{0,60}"), exp in proptest::option::of(any::<[u8; 32]>())) {
            let client = SocketAddr::new(IpAddr::from(a), p);
            let local: SocketAddr = "127.0.0.1:5222".parse().unwrap();
            let f = TlsFacts { sni: Some(sni.clone()), client_cert_cn: cn, exporter: exp, ..facts() };
            let bytes = encode_v2(client, local, &f).unwrap();
            prop_assert_eq!(parse_inbound(&bytes), Inbound::Header { len: bytes.len(), client: Some(client) });
            let h = v2::Header::try_from(&bytes[..]).unwrap();
            let authority = h.tlvs().map(|t| t.unwrap()).find(|t| t.kind == 0x02).map(|t| t.value.to_vec());
            prop_assert_eq!(authority, Some(sni.into_bytes()));
            let e = h.tlvs().map(|t| t.unwrap()).find(|t| t.kind == TLV_TLS_EXPORTER).map(|t| t.value.to_vec());
            prop_assert_eq!(e, exp.map(|x| x.to_vec()));
        }
    }
}
