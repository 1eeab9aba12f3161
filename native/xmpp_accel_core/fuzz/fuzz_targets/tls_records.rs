//! The TLS record path: arbitrary bytes, in arbitrary chunks, into a server
//! session, a client session after its ClientHello, or an established
//! server session. Nothing may panic; a step gives plaintext only once
//! established; an error is sticky.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use xmpp_accel_core::tls::{Options, Role, Session, StepTag};

/// A server certificate, made once per fuzzing process.
fn certfile() -> &'static str {
    static FILE: OnceLock<String> = OnceLock::new();
    FILE.get_or_init(|| {
        let ck = rcgen::generate_simple_self_signed(vec!["fuzz.example".into()]).unwrap();
        let path = std::env::temp_dir().join(format!("xmpp-accel-fuzz-{}.pem", std::process::id()));
        std::fs::write(&path, format!("{}{}", ck.cert.pem(), ck.signing_key.serialize_pem())).unwrap();
        path.to_string_lossy().into_owned()
    })
}

fn server() -> Session {
    Session::new(&Options { role: Some(Role::Server), certfile: certfile().into(), ..Default::default() }).unwrap()
}

fn client() -> Session {
    Session::new(&Options { role: Some(Role::Client), ..Default::default() }).unwrap()
}

/// An established (client, server) pair.
fn established() -> (Session, Session) {
    let (mut c, mut s) = (client(), server());
    let mut to_s = c.step(b"", b"", -1).to_write;
    for _ in 0..10 {
        let out = s.step(b"", &to_s, -1);
        to_s = c.step(b"", &out.to_write, -1).to_write;
    }
    assert!(!c.is_handshaking() && !s.is_handshaking());
    (c, s)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let chunk = 1 + (mode as usize >> 2) * 37;
    let mut session = match mode & 3 {
        0 => server(),
        1 => {
            let mut c = client();
            c.step(b"", b"", -1);
            c
        }
        _ => {
            let (mut c, s) = established();
            // a real record first, so the arbitrary bytes follow real ones
            let _ = c.step(b"hello", b"", 0);
            s
        }
    };
    let mut failed = None;
    for piece in rest.chunks(chunk) {
        let step = session.step(b"x", piece, (mode as i64 % 7) - 1);
        match step.tag {
            StepTag::Error(e) => {
                if let Some(prev) = &failed {
                    assert_eq!(prev, &e, "errors are sticky");
                }
                failed = Some(e);
                assert!(step.plaintext.is_empty());
            }
            StepTag::Init => assert!(step.plaintext.is_empty(), "no plaintext before the handshake"),
            StepTag::Ok => assert!(failed.is_none()),
        }
    }
});
