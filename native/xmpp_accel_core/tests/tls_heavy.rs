//! Which handshake steps go to a dirty scheduler (`Session::step_is_heavy`)
//! when the server may sign slowly. A test binary of its own: it changes
//! the process-wide certificate registry, which would make the other TLS
//! tests' steps heavy too.

#![cfg(feature = "tls")]

#[allow(dead_code)]
mod tls_pki;

use xmpp_accel_core::tls::{certs, Options, Role, Session, StepTag};

#[test]
fn a_server_that_may_sign_slowly_is_heavy_only_until_its_server_hello_is_out() {
    let pki = tls_pki::Pki::new("heavy");
    // a registered certificate whose key was never loaded may be slow to
    // sign with: server steps are heavy until they have answered
    certs::add_certfile("heavy.example", &pki.server_rsa);
    assert!(certs::registry_may_sign_slowly());
    for proto in ["", "no_tlsv1_3"] {
        let mut client = Session::new(&Options {
            role: Some(Role::Client),
            ..Default::default()
        })
        .unwrap();
        let mut server = Session::new(&Options {
            role: Some(Role::Server),
            certfile: pki.server.clone(),
            protocol_options: proto.into(),
            ..Default::default()
        })
        .unwrap();
        assert!(!server.step_is_heavy(0), "{proto}: nothing received");
        assert!(
            server.step_is_heavy(300),
            "{proto}: a ClientHello to answer"
        );
        let hello = client.step(b"", b"", -1).to_write;
        // part of the ClientHello: nothing answered yet, still heavy
        let first = server.step(b"", &hello[..10], -1);
        assert!(first.to_write.is_empty());
        assert!(server.step_is_heavy(300), "{proto}: not answered yet");
        // the rest: the ServerHello and its flight go out; what follows
        // (the client's Finished, data) never signs
        let answer = server.step(b"", &hello[10..], -1);
        assert!(!answer.to_write.is_empty());
        assert!(!server.step_is_heavy(300), "{proto}: answered");
        let back = client.step(b"", &answer.to_write, -1);
        let done = server.step(b"", &back.to_write, -1);
        assert_eq!(done.tag, StepTag::Ok, "{proto}");
        assert!(!server.step_is_heavy(300), "{proto}: established");
    }
    assert!(certs::delete_certfile("heavy.example"));
}
