//! Heap and struct size of an idle established server session (no BEAM):
//! `cargo run --release -p xmpp_accel_core --example tls_idle_memory`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use xmpp_accel_core::tls::{Options, Role, Session};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn main() {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let path = std::env::temp_dir().join(format!("xmpp-accel-mem-{}.pem", std::process::id()));
    std::fs::write(&path, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
    let sopts = Options {
        role: Some(Role::Server),
        certfile: path.to_string_lossy().into(),
        verify_none: true,
        ..Default::default()
    };
    let copts = Options {
        role: Some(Role::Client),
        ..Default::default()
    };
    let n = 1000;
    let _ = Session::new(&sopts).unwrap();
    let before = LIVE.load(Ordering::Relaxed);
    let mut servers = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = Session::new(&copts).unwrap();
        let mut s = Session::new(&sopts).unwrap();
        let mut to_s = c.step(b"", b"", -1).to_write;
        while c.is_handshaking() || s.is_handshaking() {
            let out = s.step(b"", &to_s, -1);
            to_s = c.step(b"", &out.to_write, -1).to_write;
        }
        s.step(b"", &to_s, -1);
        let rec = c.step(b"<presence/>", b"", 0).to_write;
        assert_eq!(s.step(b"", &rec, -1).plaintext, b"<presence/>");
        servers.push(Box::new(s));
    }
    let after = LIVE.load(Ordering::Relaxed);
    println!(
        "size_of::<Session>() = {} bytes; heap per idle server session (incl. the box) = {} bytes",
        std::mem::size_of::<Session>(),
        (after - before) / n as isize - (servers.capacity() * 8 / n) as isize
    );
    let _ = std::fs::remove_file(path);
}
