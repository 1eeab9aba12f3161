//! TLS sessions end to end in memory: our client against our server through
//! `Session::step`, as the fast_tls facade drives them (byte chunks of any
//! size), with certificates made at test time.

#![cfg(feature = "tls")]

mod tls_pki;

use proptest::prelude::*;
use tls_pki::Pki;

/// One set of certificates for the whole file (RSA key generation is slow).
fn pki() -> &'static Pki {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| Pki::new("session"))
}
use xmpp_accel_core::tls::{self, Options, Role, Session, StepTag, TlsError};

fn server_opts(certfile: &str) -> Options {
    Options {
        role: Some(Role::Server),
        certfile: certfile.into(),
        ..Default::default()
    }
}

fn client_opts() -> Options {
    Options {
        role: Some(Role::Client),
        ..Default::default()
    }
}

/// Starts the client (giving it `early` plaintext, queued until the
/// handshake ends), then moves bytes both ways in chunks of `chunk` bytes
/// until neither side has anything to say; returns the plaintext each side
/// received.
fn pump_with(
    client: &mut Session,
    server: &mut Session,
    chunk: usize,
    early: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let (mut to_server, mut to_client) = (client.step(early, b"", -1).to_write, Vec::new());
    let (mut at_client, mut at_server) = (Vec::new(), Vec::new());
    for _ in 0..10_000 {
        if to_server.is_empty() && to_client.is_empty() {
            return Ok((at_client, at_server));
        }
        let n = to_server.len().min(chunk);
        let s = server.step(b"", &to_server[..n], -1);
        to_server.drain(..n);
        if let StepTag::Error(e) = s.tag {
            return Err(e);
        }
        to_client.extend(s.to_write);
        at_server.extend(s.plaintext);
        let n = to_client.len().min(chunk);
        let c = client.step(b"", &to_client[..n], -1);
        to_client.drain(..n);
        if let StepTag::Error(e) = c.tag {
            return Err(e);
        }
        to_server.extend(c.to_write);
        at_client.extend(c.plaintext);
    }
    panic!("no progress")
}

fn pump(
    client: &mut Session,
    server: &mut Session,
    chunk: usize,
) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    pump_with(client, server, chunk, b"")
}

fn connect(copts: &Options, sopts: &Options) -> (Session, Session) {
    let mut client = Session::new(copts).expect("client");
    let mut server = Session::new(sopts).expect("server");
    pump(&mut client, &mut server, usize::MAX).expect("handshake");
    assert!(!client.is_handshaking() && !server.is_handshaking());
    (client, server)
}

/// Sends `data` from `from` and returns what `to` decrypts.
fn transfer(from: &mut Session, to: &mut Session, data: &[u8]) -> Vec<u8> {
    let out = from.step(data, b"", 0);
    assert_eq!(out.tag, StepTag::Ok);
    let got = to.step(b"", &out.to_write, -1);
    assert_eq!(got.tag, StepTag::Ok);
    got.plaintext
}

#[test]
fn tls13_and_tls12_carry_data_both_ways() {
    let pki = pki();
    for (proto, version) in [("", "TLSv1.3"), ("no_tlsv1_3", "TLSv1.2")] {
        for cert in [&pki.server, &pki.server_rsa] {
            let sopts = Options {
                protocol_options: proto.into(),
                ..server_opts(cert)
            };
            let (mut c, mut s) = connect(&client_opts(), &sopts);
            assert_eq!(
                transfer(&mut c, &mut s, b"<stream:stream>"),
                b"<stream:stream>"
            );
            assert_eq!(transfer(&mut s, &mut c, b"<features/>"), b"<features/>");
            let cipher = c.negotiated_cipher().expect("cipher");
            assert!(cipher.starts_with(version), "{cipher}");
            assert_eq!(Some(cipher), s.negotiated_cipher());
            let (ce, se) = (c.channel_binding_exporter(), s.channel_binding_exporter());
            assert!(ce.is_some());
            assert_eq!(ce, se, "RFC 9266 exporter equal on both ends");
        }
    }
}

#[test]
fn plaintext_given_during_the_handshake_is_sent_after_it() {
    let pki = pki();
    let mut client = Session::new(&client_opts()).unwrap();
    let mut server = Session::new(&server_opts(&pki.server)).unwrap();
    let first = client.step(b"early ", b"", -1);
    assert_eq!(first.tag, StepTag::Init);
    let mut to_server = first.to_write;
    to_server.extend(client.step(b"words", b"", -1).to_write);
    let s = server.step(b"", &to_server, -1);
    assert_eq!(
        s.tag,
        StepTag::Init,
        "server waits for the client's Finished"
    );
    // plaintext given in the steps that end the handshake goes once, after
    // what was queued
    let c = client.step(b" more", &s.to_write, -1);
    assert_eq!(c.tag, StepTag::Ok);
    let s = server.step(b"<s/>", &c.to_write, -1);
    assert_eq!(s.tag, StepTag::Ok);
    assert_eq!(s.plaintext, b"early words more");
    assert_eq!(client.step(b"", &s.to_write, -1).plaintext, b"<s/>");
}

#[test]
fn want_limits_the_plaintext_and_keeps_the_rest() {
    let pki = pki();
    let (mut c, mut s) = connect(&client_opts(), &server_opts(&pki.server));
    let out = c.step(b"abcdefgh", b"", 0).to_write;
    let first = s.step(b"", &out, 3);
    assert_eq!(first.plaintext, b"abc");
    assert_eq!(s.step(b"", b"", 0).plaintext, b"");
    assert_eq!(s.step(b"", b"", -1).plaintext, b"defgh");
}

fn client_with(cert: &str) -> Options {
    Options {
        certfile: cert.into(),
        ..client_opts()
    }
}

#[test]
fn client_certificates_give_openssl_verify_codes() {
    let pki = pki();
    let sopts = Options {
        cafile: pki.ca.clone(),
        ..server_opts(&pki.server)
    };
    for (cert, code) in [
        (&pki.client, 0),
        (&pki.self_signed, 18),
        (&pki.unknown_ca_client, 21),
        (&pki.expired, 10),
        (&pki.not_yet_valid, 9),
        (&pki.server, 26), // a server-only certificate used as a client one
    ] {
        let (_c, mut s) = connect(&client_with(cert), &sopts);
        assert!(s.peer_certificate().is_some());
        assert_eq!(s.verify_result(), code, "{cert}");
    }
    // override_cert_purpose: a server certificate is fine as a client one
    let s2s = Options {
        override_cert_purpose: true,
        ..sopts.clone()
    };
    let (_c, mut s) = connect(&client_with(&pki.server), &s2s);
    assert_eq!(s.verify_result(), 0);
    // no client certificate: nothing to verify
    let (_c, mut s) = connect(&client_opts(), &sopts);
    assert_eq!(s.peer_certificate(), None);
    assert_eq!(s.verify_result(), 0);
    // verify_none: not even asked for
    let none = Options {
        verify_none: true,
        ..sopts
    };
    let (_c, s) = connect(&client_with(&pki.client), &none);
    assert_eq!(s.peer_certificate(), None);
}

#[test]
fn clients_verify_servers_later() {
    let pki = pki();
    let copts = Options {
        cafile: pki.ca.clone(),
        ..client_opts()
    };
    let (mut c, _s) = connect(&copts, &server_opts(&pki.server));
    assert_eq!(c.verify_result(), 0);
    let (mut c, _s) = connect(&copts, &server_opts(&pki.self_signed));
    assert_eq!(c.verify_result(), 18);
}

#[test]
fn alpn_and_sni() {
    let pki = pki();
    let copts = Options {
        alpn: vec![b"h2".to_vec(), b"xmpp-client".to_vec()],
        ..client_opts()
    };
    let sopts = Options {
        alpn: vec![b"xmpp-client".to_vec()],
        ..server_opts(&pki.server)
    };
    let (c, s) = connect(&copts, &sopts);
    assert_eq!(c.alpn_protocol(), Some(&b"xmpp-client"[..]));
    assert_eq!(s.alpn_protocol(), Some(&b"xmpp-client"[..]));

    tls::certs::add_certfile("a.example", &pki.sni_a);
    tls::certs::add_certfile("*.wild.example", &pki.sni_wild);
    let leaf = |file: &str| tls::certs::read_certs(file).unwrap()[0].to_vec();
    for (name, file) in [
        ("a.example", &pki.sni_a),
        ("X.Wild.Example", &pki.sni_wild),
        ("other.example", &pki.server),
    ] {
        let copts = Options {
            sni: name.into(),
            ..client_opts()
        };
        let (c, _s) = connect(&copts, &server_opts(&pki.server));
        assert_eq!(
            c.peer_certificate().map(<[u8]>::to_vec),
            Some(leaf(file)),
            "{name}"
        );
    }
    assert!(tls::certs::delete_certfile("a.example"));
    assert!(tls::certs::delete_certfile("*.wild.example"));
}

#[test]
fn a_server_without_certfile_serves_registered_domains_only() {
    let sopts = Options {
        role: Some(Role::Server),
        ..Default::default()
    };
    tls::certs::add_certfile("only.example", &pki().sni_a);
    let copts = Options {
        sni: "only.example".into(),
        ..client_opts()
    };
    let (c, _s) = connect(&copts, &sopts);
    assert!(c.peer_certificate().is_some());
    let mut client = Session::new(&client_opts()).unwrap();
    let mut server = Session::new(&sopts).unwrap();
    assert_eq!(
        pump(&mut client, &mut server, usize::MAX).err(),
        Some(TlsError::Config(
            "Failed to find a certificate matching the domain in SNI extension".into()
        ))
    );
    assert!(tls::certs::delete_certfile("only.example"));
}

#[test]
fn no_common_version_fails_the_handshake() {
    let pki = pki();
    let sopts = Options {
        protocol_options: "no_tlsv1_2|no_tlsv1_3".into(),
        ..server_opts(&pki.server)
    };
    let mut client = Session::new(&client_opts()).unwrap();
    let mut server = Session::new(&sopts).unwrap();
    assert!(matches!(
        pump(&mut client, &mut server, usize::MAX),
        Err(TlsError::Handshake(_))
    ));
    let copts = Options {
        protocol_options: "no_tlsv1_3".into(),
        ..client_opts()
    };
    let sopts = Options {
        protocol_options: "no_tlsv1_2".into(),
        ..server_opts(&pki.server)
    };
    let mut client = Session::new(&copts).unwrap();
    let mut server = Session::new(&sopts).unwrap();
    assert!(pump(&mut client, &mut server, usize::MAX).is_err());
}

#[test]
fn a_pkcs8_key_labelled_rsa_private_key_loads() {
    // ejabberd's pkix writes the key bytes it read under the label of the
    // key type; OpenSSL reads that, so must we
    let text = std::fs::read_to_string(&pki().server_rsa).unwrap();
    let relabelled = text
        .replace("BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY")
        .replace("END PRIVATE KEY", "END RSA PRIVATE KEY");
    assert_ne!(text, relabelled);
    let path =
        std::env::temp_dir().join(format!("xmpp-accel-relabelled-{}.pem", std::process::id()));
    std::fs::write(&path, relabelled).unwrap();
    let opened = Session::new(&server_opts(path.to_str().unwrap()));
    std::fs::remove_file(&path).unwrap();
    assert!(opened.is_ok(), "{:?}", opened.err());
}

#[test]
fn want_zero_still_drives_the_handshake() {
    // finish_handshake/2 steps with want = 0
    let mut client = Session::new(&client_opts()).unwrap();
    let mut server = Session::new(&server_opts(&pki().server)).unwrap();
    let hello = client.step(b"", b"", 0).to_write;
    let s = server.step(b"", &hello, 0);
    assert_eq!(s.tag, StepTag::Init);
    assert!(!s.to_write.is_empty(), "the server answers the ClientHello");
    let c = client.step(b"", &s.to_write, 0);
    assert_eq!(c.tag, StepTag::Ok);
    assert_eq!(server.step(b"", &c.to_write, 0).tag, StepTag::Ok);
}

#[test]
fn ecdsa_handshake_steps_are_light_and_established_ones_too() {
    let mut client = Session::new(&client_opts()).unwrap();
    let mut server = Session::new(&server_opts(&pki().server)).unwrap();
    assert!(!server.step_is_heavy(0), "nothing received: nothing to do");
    assert!(
        !server.step_is_heavy(300),
        "ECDSA P-256 signs in tens of us"
    );
    assert!(
        !client.step_is_heavy(300),
        "no client certificate to sign with"
    );
    pump(&mut client, &mut server, usize::MAX).unwrap();
    assert!(!server.step_is_heavy(300) && !client.step_is_heavy(300));
}

#[test]
fn bad_files_are_config_errors() {
    let pki = pki();
    let missing = server_opts("/nonexistent.pem");
    assert!(matches!(Session::new(&missing), Err(TlsError::Config(_))));
    let wrong_key = Options {
        keyfile: pki.self_signed.clone(),
        ..server_opts(&pki.server)
    };
    assert!(
        matches!(Session::new(&wrong_key), Err(TlsError::Config(m)) if m.contains("check_private_key"))
    );
    let dh = Options {
        dhfile: "/nonexistent.dh".into(),
        ..server_opts(&pki.server)
    };
    assert_eq!(
        Session::new(&dh).err(),
        Some(TlsError::Config("Setting DH parameters failed".into()))
    );
}

#[test]
fn not_tls_is_closed_and_stays_failed() {
    let pki = pki();
    for junk in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"<?xml version='1.0'?><stream:stream>",
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0x01],
    ] {
        let mut s = Session::new(&server_opts(&pki.server)).unwrap();
        let mut tag = s.step(b"", junk, -1).tag;
        if tag == StepTag::Init {
            // a record header announcing more than arrives: wait, then more junk
            tag = s.step(b"", &[0u8; 70_000], -1).tag;
        }
        assert!(matches!(tag, StepTag::Error(_)), "{junk:?}");
        assert_eq!(s.step(b"x", b"more", -1).tag, tag, "errors are sticky");
    }
}

#[test]
fn a_corrupted_record_after_the_handshake_is_an_error() {
    let pki = pki();
    let (mut c, mut s) = connect(&client_opts(), &server_opts(&pki.server));
    let mut rec = c.step(b"hello", b"", 0).to_write;
    let last = rec.len() - 1;
    rec[last] ^= 1;
    assert!(matches!(
        s.step(b"", &rec, -1).tag,
        StepTag::Error(TlsError::Record(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any chunking of the byte streams gives the same handshake and data.
    #[test]
    fn chunking_does_not_matter(chunk in 1usize..600, data in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let pki = pki();
        let mut client = Session::new(&client_opts()).unwrap();
        let mut server = Session::new(&server_opts(&pki.server)).unwrap();
        let (_, at_server) = pump_with(&mut client, &mut server, chunk, &data).unwrap();
        prop_assert_eq!(at_server, data);
    }

    /// Arbitrary bytes never panic a server and end in an error or a wait.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000), split in 0usize..2000) {
        let pki = pki();
        let mut s = Session::new(&server_opts(&pki.server)).unwrap();
        let cut = split.min(bytes.len());
        let a = s.step(b"", &bytes[..cut], -1);
        let b = s.step(b"", &bytes[cut..], -1);
        prop_assert!(a.plaintext.is_empty() && b.plaintext.is_empty());
        prop_assert!(!matches!(b.tag, StepTag::Ok));
    }
}

/// A sink that gives each piece of room in a buffer of its own, holding
/// at most `max` bytes more than asked (so rustls sees the room it asked
/// for and little else): `step_into` must still hand over every byte.
struct Dribble {
    max: usize,
    got: Vec<u8>,
    calls: usize,
}

impl xmpp_accel_core::tls::CipherSink for Dribble {
    fn with_room(&mut self, room: usize, f: &mut dyn FnMut(&mut [u8]) -> usize) {
        let mut piece = vec![0u8; room + self.max % 3];
        let n = f(&mut piece);
        assert!(n <= piece.len());
        self.got.extend_from_slice(&piece[..n]);
        self.calls += 1;
    }
}

#[test]
fn step_into_hands_over_every_byte_to_a_sink() {
    let pki = pki();
    for proto in ["", "no_tlsv1_3"] {
        let sopts = Options {
            protocol_options: proto.into(),
            ..server_opts(&pki.server)
        };
        let mut client = Session::new(&client_opts()).expect("client");
        let mut server = Session::new(&sopts).expect("server");
        // the handshake, each record through room of its own
        let mut to_server = client.step(b"", b"", -1).to_write;
        while client.is_handshaking() || server.is_handshaking() {
            let mut sink = Dribble {
                max: 7,
                got: Vec::new(),
                calls: 0,
            };
            let (tag, plain) = server.step_into(b"", &to_server, -1, &mut sink);
            assert_ne!(tag, StepTag::Error(TlsError::Closed));
            assert!(plain.is_empty());
            to_server = client.step(b"", &sink.got, -1).to_write;
        }
        if !to_server.is_empty() {
            let (tag, _) = server.step_into(b"", &to_server, -1, &mut Vec::new());
            assert_eq!(tag, StepTag::Ok);
        }
        // data: 3 records of 16 KB and a small one
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let mut sink = Dribble {
            max: 1000,
            got: Vec::new(),
            calls: 0,
        };
        let (tag, plain) = server.step_into(&data, b"", 0, &mut sink);
        assert_eq!((tag, plain), (StepTag::Ok, Vec::new()));
        assert!(sink.calls >= 1, "calls: {}", sink.calls);
        let got = client.step(b"", &sink.got, -1);
        assert_eq!(got.tag, StepTag::Ok);
        assert_eq!(got.plaintext, data);
        // the same as `step` gives, and the exporter agrees on both ends
        assert_eq!(transfer(&mut client, &mut server, b"<r/>"), b"<r/>");
        assert_eq!(transfer(&mut server, &mut client, b"<a/>"), b"<a/>");
        assert!(server.channel_binding_exporter().is_some());
        assert_eq!(
            server.channel_binding_exporter(),
            client.channel_binding_exporter()
        );
        assert_eq!(server.buffered(), 0, "nothing held while idle");
    }
}
