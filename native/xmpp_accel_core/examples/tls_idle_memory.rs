//! Heap and struct size of an idle established server session (no BEAM):
//! `cargo run --release -p xmpp_accel_core --example tls_idle_memory`.
//! Prints the heap per session over 1,000 idle sessions, then the sizes of
//! the allocations one session's steps leave live while idle (largest first).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

use xmpp_accel_core::tls::{Options, Role, Session};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// While set, allocations are recorded (address and size) in `SLOTS`.
static TRACK: AtomicBool = AtomicBool::new(false);
const SLOTS: usize = 4096;
static PTRS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static SIZES: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static USED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        let p = unsafe { System.alloc(l) };
        if TRACK.load(Ordering::Relaxed) {
            let i = USED.fetch_add(1, Ordering::Relaxed);
            if i < SLOTS {
                PTRS[i].store(p as usize, Ordering::Relaxed);
                SIZES[i].store(l.size(), Ordering::Relaxed);
            }
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        if TRACK.load(Ordering::Relaxed) {
            let n = USED.load(Ordering::Relaxed).min(SLOTS);
            if let Some(slot) = PTRS[..n]
                .iter()
                .rev()
                .find(|s| s.load(Ordering::Relaxed) == p as usize)
            {
                slot.store(0, Ordering::Relaxed);
            }
        }
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// A server session, established, after one small record each way.
fn idle_server(sopts: &Options, copts: &Options, track: bool) -> Box<Session> {
    let mut c = Session::new(copts).unwrap();
    TRACK.store(track, Ordering::SeqCst);
    let mut s = Box::new(Session::new(sopts).unwrap());
    TRACK.store(false, Ordering::SeqCst);
    let mut to_s = c.step(b"", b"", -1).to_write;
    let server_step = |s: &mut Session, to_send: &[u8], input: &[u8]| {
        TRACK.store(track, Ordering::SeqCst);
        let out = s.step(to_send, input, -1);
        TRACK.store(false, Ordering::SeqCst);
        out
    };
    while c.is_handshaking() || s.is_handshaking() {
        let out = server_step(&mut s, b"", &to_s);
        to_s = c.step(b"", &out.to_write, -1).to_write;
    }
    server_step(&mut s, b"", &to_s);
    let rec = c.step(b"<presence/>", b"", 0).to_write;
    let out = server_step(&mut s, b"<presence/>", &rec);
    assert_eq!(out.plaintext, b"<presence/>");
    assert_eq!(c.step(b"", &out.to_write, -1).plaintext, b"<presence/>");
    s
}

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
        servers.push(idle_server(&sopts, &copts, false));
    }
    let after = LIVE.load(Ordering::Relaxed);
    println!(
        "size_of::<Session>() = {} bytes; heap per idle server session (incl. the box) = {} bytes",
        std::mem::size_of::<Session>(),
        (after - before) / n as isize - (servers.capacity() * 8 / n) as isize
    );
    // one more, with its allocations recorded (the box included)
    let one = idle_server(&sopts, &copts, true);
    let n = USED.load(Ordering::Relaxed).min(SLOTS);
    let mut live: Vec<usize> = (0..n)
        .filter(|&i| PTRS[i].load(Ordering::Relaxed) != 0)
        .map(|i| SIZES[i].load(Ordering::Relaxed))
        .collect();
    live.sort_unstable_by(|a, b| b.cmp(a));
    println!(
        "allocations made in the server's steps and live while idle: {} ({} bytes): {:?}\n\
         (a 4 KB one there is this thread's input scratch buffer, shared by all sessions)",
        live.len(),
        live.iter().sum::<usize>(),
        live
    );
    drop(one);
    let _ = std::fs::remove_file(path);
}
