//! bench-sidecar's load generator: N XMPP c2s sessions over STARTTLS or
//! direct TLS (TLS 1.3 only, full handshakes, no resumption), SASL PLAIN,
//! resource bind, initial presence; then idle, or messages between the
//! sessions at a fixed total rate with send-to-receipt latency.
//!
//! A purpose-built client rather than tokio-xmpp: one task and one small
//! read buffer per session, the server's stream split with the core's
//! `Framer` (no DOM per stanza), and a timestamp in each body. See
//! bench/README.md ("make bench-sidecar").
//!
//! Modes (stdout lines are for bench/sidecar/run.sh):
//!   sessions    log in --sessions N sessions, `ramp` handshakes at a time;
//!               at each --checkpoints count print `READY n=.. failed=..`
//!               and wait for --go-file (bounded by --wait-secs); then, with
//!               --rate R, send R messages/s for --msg-secs and print `MSG ...`.
//!   handshakes  --handshakes K full handshakes (TCP, STARTTLS if asked, TLS
//!               1.3, stream header, until <stream:features/>), print `HS ...`.
//!
//!   room        bench-muclight (bench/muclight/run.sh): --sessions N members
//!               of one room (MUC Light or XEP-0045), messages into it at a
//!               fixed rate (time to the last member's receipt), then churn
//!               (every member reconnects); see `room.rs`.
//!
//! Everything is bounded: every network wait has a timeout and the whole
//! process exits after --max-secs.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use xmpp_accel_core::xml::framing::{FrameKind, Framer};
use xmpp_accel_core::xml::Limits;

mod room;

const READ_BUF: usize = 4096;
const MARK: &[u8] = b"lg:";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tls {
    Starttls,
    Direct,
}

#[derive(Clone)]
struct Opts {
    mode: String,
    addr: SocketAddr,
    tls: Tls,
    domain: String,
    ca: PathBuf,
    sessions: usize,
    checkpoints: Vec<usize>,
    ramp: usize,
    user_prefix: String,
    password: String,
    go_file: Option<PathBuf>,
    wait_secs: u64,
    rate: f64,
    msg_secs: f64,
    body_bytes: usize,
    handshakes: usize,
    hs_concurrency: usize,
    step_timeout: Duration,
    max_secs: u64,
    /// room mode: `muclight` or `muc` (XEP-0045).
    system: String,
    /// room mode: the room's bare JID.
    room: String,
    /// room mode: at most this many XEP-0045 joins in flight.
    join_concurrency: usize,
    /// room mode: every member reconnects once per this many seconds.
    churn_period: f64,
    /// room mode: reconnect cycles in the churn phase (0: no churn).
    churn_cycles: usize,
    /// room mode: at most this many reconnections (a sample of the cycles,
    /// at the same rate; 0: all).
    churn_max: usize,
    /// room mode: the real-time period the churn period stands for.
    churn_real_secs: f64,
    /// room mode: `name=pid` whose CPU time is read around each phase.
    cpu_pids: Vec<(String, u32)>,
    /// room mode: longest wait for the last copies after the message phase.
    drain_secs: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: xmpp-accel-loadgen sessions|handshakes --addr 127.0.0.1:PORT --ca CERT.pem \
         [--tls starttls|direct] [--domain localhost] [--sessions N] [--checkpoints a,b] \
         [--ramp 200] [--user-prefix u] [--password pw] [--go-file F] [--wait-secs 600] \
         [--rate MSGS_PER_S] [--msg-secs S] [--body-bytes B] [--handshakes K] \
         [--hs-concurrency C] [--timeout-secs 30] [--max-secs 3600]\n\
         room mode: xmpp-accel-loadgen room ... --system muclight|muc --room ROOM@DOMAIN \
         [--join-concurrency 20] [--churn-period S] [--churn-cycles K] [--churn-max M] [--churn-real-secs 600] \
         [--cpu-pids name=PID,...] [--drain-secs 30]"
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| usage());
    if mode != "sessions" && mode != "handshakes" && mode != "room" {
        usage()
    }
    let mut o = Opts {
        mode,
        addr: "127.0.0.1:5222".parse().expect("literal"),
        tls: Tls::Starttls,
        domain: "localhost".into(),
        ca: PathBuf::new(),
        sessions: 100,
        checkpoints: Vec::new(),
        ramp: 200,
        user_prefix: "u".into(),
        password: "pw".into(),
        go_file: None,
        wait_secs: 600,
        rate: 0.0,
        msg_secs: 10.0,
        body_bytes: 100,
        handshakes: 100,
        hs_concurrency: 4,
        step_timeout: Duration::from_secs(30),
        max_secs: 3600,
        system: "muclight".into(),
        room: String::new(),
        join_concurrency: 20,
        churn_period: 20.0,
        churn_cycles: 0,
        churn_max: 0,
        churn_real_secs: 600.0,
        cpu_pids: Vec::new(),
        drain_secs: 30,
    };
    while let Some(k) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        let num = |v: &str| -> usize { v.parse().unwrap_or_else(|_| usage()) };
        match k.as_str() {
            "--addr" => o.addr = v.parse().unwrap_or_else(|_| usage()),
            "--tls" => {
                o.tls = match v.as_str() {
                    "starttls" => Tls::Starttls,
                    "direct" => Tls::Direct,
                    _ => usage(),
                }
            }
            "--domain" => o.domain = v,
            "--ca" => o.ca = PathBuf::from(v),
            "--sessions" => o.sessions = num(&v),
            "--checkpoints" => o.checkpoints = v.split(',').map(num).collect(),
            "--ramp" => o.ramp = num(&v).max(1),
            "--user-prefix" => o.user_prefix = v,
            "--password" => o.password = v,
            "--go-file" => o.go_file = Some(PathBuf::from(v)),
            "--wait-secs" => o.wait_secs = num(&v) as u64,
            "--rate" => o.rate = v.parse().unwrap_or_else(|_| usage()),
            "--msg-secs" => o.msg_secs = v.parse().unwrap_or_else(|_| usage()),
            "--body-bytes" => o.body_bytes = num(&v),
            "--handshakes" => o.handshakes = num(&v),
            "--hs-concurrency" => o.hs_concurrency = num(&v).max(1),
            "--timeout-secs" => o.step_timeout = Duration::from_secs(num(&v) as u64),
            "--max-secs" => o.max_secs = num(&v) as u64,
            "--system" => o.system = v,
            "--room" => o.room = v,
            "--join-concurrency" => o.join_concurrency = num(&v).max(1),
            "--churn-period" => o.churn_period = v.parse().unwrap_or_else(|_| usage()),
            "--churn-cycles" => o.churn_cycles = num(&v),
            "--churn-max" => o.churn_max = num(&v),
            "--churn-real-secs" => o.churn_real_secs = v.parse().unwrap_or_else(|_| usage()),
            "--cpu-pids" => {
                o.cpu_pids = v
                    .split(',')
                    .filter(|x| !x.is_empty())
                    .map(|x| {
                        let (n, p) = x.split_once('=').unwrap_or_else(|| usage());
                        (n.to_owned(), p.parse().unwrap_or_else(|_| usage()))
                    })
                    .collect()
            }
            "--drain-secs" => o.drain_secs = num(&v) as u64,
            _ => usage(),
        }
    }
    if !o.addr.ip().is_loopback() {
        eprintln!("loadgen: refusing {}: only loopback targets", o.addr);
        std::process::exit(2)
    }
    if o.ca.as_os_str().is_empty() {
        usage()
    }
    o.checkpoints.retain(|&c| c > 0 && c < o.sessions);
    o.checkpoints.sort_unstable();
    o.checkpoints.dedup();
    o.checkpoints.push(o.sessions);
    o
}

fn tls_connector(o: &Opts) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&o.ca)
        .unwrap_or_else(|e| {
            eprintln!("loadgen: {}: {e}", o.ca.display());
            std::process::exit(2)
        })
        .filter_map(Result::ok)
        .collect();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        eprintln!("loadgen: no certificate in {}", o.ca.display());
        std::process::exit(2)
    }
    let mut cfg = rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every handshake is a full one.
    cfg.resumption = rustls::client::Resumption::disabled();
    if o.tls == Tls::Direct {
        cfg.alpn_protocols = vec![b"xmpp-client".to_vec()];
    }
    TlsConnector::from(Arc::new(cfg))
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// A received top-level unit.
struct Unit {
    kind: FrameKind,
    name: String,
    bytes: Vec<u8>,
}

/// Reads the server's stream unit by unit through the core's framer.
struct Reader {
    framer: Framer,
    queue: VecDeque<Unit>,
    /// Bytes read through `next` (the login exchange).
    bytes: u64,
}

impl Reader {
    fn new() -> Self {
        Reader {
            framer: Framer::new(Limits {
                max_element_size: 0,
                max_depth: usize::MAX,
                max_attrs: usize::MAX,
            }),
            queue: VecDeque::new(),
            bytes: 0,
        }
    }

    fn restart(&mut self) {
        self.framer.restart();
        self.queue.clear();
    }

    /// Feeds bytes; complete units go to the queue.
    fn push(&mut self, data: &[u8]) -> io::Result<()> {
        let r = self.framer.push(data);
        let ready = self.framer.ready();
        for f in self.framer.frames() {
            self.queue.push_back(Unit {
                kind: f.kind,
                name: f.name.clone(),
                bytes: ready[f.range.clone()].to_vec(),
            });
        }
        self.framer.consume();
        r.map_err(|e| err(format!("server stream: {e}")))
    }

    /// The next unit, reading as needed (bounded by `limit`).
    async fn next<S: AsyncRead + Unpin>(&mut self, s: &mut S, limit: Duration) -> io::Result<Unit> {
        let mut buf = [0u8; READ_BUF];
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(u) = self.queue.pop_front() {
                if u.name.ends_with("error") && u.name.starts_with("stream") {
                    return Err(err(format!(
                        "stream error: {}",
                        String::from_utf8_lossy(&u.bytes)
                    )));
                }
                if u.kind == FrameKind::StreamEnd {
                    return Err(err("server closed the stream"));
                }
                return Ok(u);
            }
            let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
                .await
                .map_err(|_| err("timeout waiting for the server"))??;
            if n == 0 {
                return Err(err("server closed the connection"));
            }
            self.bytes += n as u64;
            self.push(&buf[..n])?;
        }
    }

    /// Skips units until one whose name ends with `suffix`.
    async fn until<S: AsyncRead + Unpin>(
        &mut self,
        s: &mut S,
        suffix: &str,
        limit: Duration,
    ) -> io::Result<Unit> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let u = self.next(s, left).await?;
            if u.kind == FrameKind::Stanza && u.name.ends_with(suffix) {
                return Ok(u);
            }
        }
    }
}

fn header(domain: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' xml:lang='en' \
         xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    )
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

type Tls13 = tokio_rustls::client::TlsStream<TcpStream>;

/// TCP connect, STARTTLS negotiation if asked, TLS 1.3 handshake.
async fn connect_tls(o: &Opts, tls: &TlsConnector) -> io::Result<Tls13> {
    let t = o.step_timeout;
    let mut tcp = timeout(t, TcpStream::connect(o.addr))
        .await
        .map_err(|_| err("connect timeout"))??;
    tcp.set_nodelay(true)?;
    if o.tls == Tls::Starttls {
        let mut r = Reader::new();
        tcp.write_all(header(&o.domain).as_bytes()).await?;
        r.until(&mut tcp, "features", t)
            .await
            .map_err(|e| err(format!("first features: {e}")))?;
        tcp.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            .await?;
        let u = r
            .next(&mut tcp, t)
            .await
            .map_err(|e| err(format!("proceed: {e}")))?;
        if u.name != "proceed" {
            return Err(err(format!(
                "STARTTLS refused: {}",
                String::from_utf8_lossy(&u.bytes)
            )));
        }
    }
    let name = ServerName::try_from(o.domain.clone()).map_err(|e| err(e.to_string()))?;
    let s = timeout(t, tls.connect(name, tcp))
        .await
        .map_err(|_| err("TLS handshake timeout"))??;
    if s.get_ref().1.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
        return Err(err("not TLS 1.3"));
    }
    Ok(s)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// A logged-in session: its stream, reader and full JID.
struct Session {
    s: Tls13,
    r: Reader,
    jid: String,
}

async fn login(o: &Opts, tls: &TlsConnector, idx: usize) -> io::Result<Session> {
    let t = o.step_timeout;
    let mut s = connect_tls(o, tls).await?;
    let mut r = Reader::new();
    s.write_all(header(&o.domain).as_bytes()).await?;
    r.until(&mut s, "features", t)
        .await
        .map_err(|e| err(format!("features after TLS: {e}")))?;
    let user = format!("{}{}", o.user_prefix, idx);
    let creds = format!("\0{user}\0{}", o.password);
    s.write_all(
        format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{}</auth>",
            base64(creds.as_bytes())
        )
        .as_bytes(),
    )
    .await?;
    let u = r
        .next(&mut s, t)
        .await
        .map_err(|e| err(format!("SASL: {e}")))?;
    if u.name != "success" {
        return Err(err(format!("SASL: {}", String::from_utf8_lossy(&u.bytes))));
    }
    r.restart();
    s.write_all(header(&o.domain).as_bytes()).await?;
    r.until(&mut s, "features", t)
        .await
        .map_err(|e| err(format!("features after SASL: {e}")))?;
    s.write_all(
        b"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
          <resource>lg</resource></bind></iq>",
    )
    .await?;
    let jid = loop {
        let u = r
            .until(&mut s, "iq", t)
            .await
            .map_err(|e| err(format!("bind: {e}")))?;
        if find(&u.bytes, b"bind1").is_none() {
            continue;
        }
        let b = &u.bytes;
        match (find(b, b"<jid>"), find(b, b"</jid>")) {
            (Some(a), Some(z)) if a + 5 <= z => {
                break String::from_utf8_lossy(&b[a + 5..z]).into_owned()
            }
            _ => return Err(err(format!("bind: {}", String::from_utf8_lossy(b)))),
        }
    };
    s.write_all(b"<presence/>").await?;
    s.flush().await?;
    Ok(Session { s, r, jid })
}

enum Cmd {
    /// Send message number `seq` to this JID.
    Msg(Arc<str>, u64),
    Close,
}

struct Stats {
    t0: Instant,
    measuring: AtomicBool,
    sent: AtomicU64,
    received: AtomicU64,
    bytes_out: AtomicU64,
    bytes_in: AtomicU64,
}

fn now_ns(st: &Stats) -> u64 {
    st.t0.elapsed().as_nanos() as u64
}

/// Parses `lg:SEQ:TNS:` out of a message.
fn stamp(bytes: &[u8]) -> Option<u64> {
    let a = find(bytes, MARK)? + MARK.len();
    let rest = &bytes[a..];
    let c1 = memchr::memchr(b':', rest)?;
    let rest2 = &rest[c1 + 1..];
    let c2 = memchr::memchr(b':', rest2)?;
    std::str::from_utf8(&rest2[..c2]).ok()?.parse().ok()
}

async fn run_session(
    mut sess: Session,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    st: Arc<Stats>,
    lat: mpsc::UnboundedSender<u64>,
    body_pad: Arc<str>,
) {
    let mut buf = vec![0u8; READ_BUF];
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Cmd::Msg(to, seq)) => {
                    let msg = format!(
                        "<message to='{to}' type='chat' id='m{seq}'><body>lg:{seq}:{}:{body_pad}</body></message>",
                        now_ns(&st)
                    );
                    if sess.s.write_all(msg.as_bytes()).await.is_err() {
                        break;
                    }
                    st.sent.fetch_add(1, Ordering::Relaxed);
                    st.bytes_out.fetch_add(msg.len() as u64, Ordering::Relaxed);
                }
                Some(Cmd::Close) | None => {
                    let _ = timeout(Duration::from_secs(5), async {
                        let _ = sess.s.write_all(b"</stream:stream>").await;
                        let _ = sess.s.shutdown().await;
                    })
                    .await;
                    break;
                }
            },
            n = sess.s.read(&mut buf) => {
                let n = match n { Ok(0) | Err(_) => break, Ok(n) => n };
                if sess.r.push(&buf[..n]).is_err() {
                    break;
                }
                if st.measuring.load(Ordering::Relaxed) {
                    st.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                }
                while let Some(u) = sess.r.queue.pop_front() {
                    if u.kind == FrameKind::Stanza && u.name == "message" {
                        if let Some(t) = stamp(&u.bytes) {
                            st.received.fetch_add(1, Ordering::Relaxed);
                            let _ = lat.send(now_ns(&st).saturating_sub(t));
                        }
                    }
                }
            }
        }
    }
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // nearest rank
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1] as f64 / 1e6
}

async fn wait_go(o: &Opts) {
    let Some(f) = &o.go_file else { return };
    let deadline = Instant::now() + Duration::from_secs(o.wait_secs);
    while !f.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_file(f);
}

async fn sessions_mode(o: Opts) {
    let tls = tls_connector(&o);
    let st = Arc::new(Stats {
        t0: Instant::now(),
        measuring: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        bytes_out: AtomicU64::new(0),
        bytes_in: AtomicU64::new(0),
    });
    let (lat_tx, mut lat_rx) = mpsc::unbounded_channel::<u64>();
    let pad: Arc<str> = "x".repeat(o.body_bytes.saturating_sub(40)).into();
    let sem = Arc::new(Semaphore::new(o.ramp));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(usize, Result<String, String>)>();
    let mut txs: Vec<Option<mpsc::UnboundedSender<Cmd>>> = Vec::with_capacity(o.sessions);
    let mut jids: Vec<Option<Arc<str>>> = vec![None; o.sessions];
    let mut handles = Vec::with_capacity(o.sessions);
    let (mut ok, mut failed, mut shown) = (0usize, 0usize, 0usize);
    let start = Instant::now();
    let mut next = 0usize;
    for &cp in &o.checkpoints {
        while next < cp {
            let (tx, rx) = mpsc::unbounded_channel();
            txs.push(Some(tx));
            let (o2, tls2, sem2, st2, lat2, pad2, done2) = (
                o.clone(),
                tls.clone(),
                sem.clone(),
                st.clone(),
                lat_tx.clone(),
                pad.clone(),
                done_tx.clone(),
            );
            let idx = next;
            handles.push(tokio::spawn(async move {
                let permit = sem2.acquire_owned().await;
                let r = login(&o2, &tls2, idx).await;
                drop(permit);
                match r {
                    Ok(sess) => {
                        let _ = done2.send((idx, Ok(sess.jid.clone())));
                        run_session(sess, rx, st2, lat2, pad2).await;
                    }
                    Err(e) => {
                        let _ = done2.send((idx, Err(e.to_string())));
                    }
                }
            }));
            next += 1;
        }
        while ok + failed < cp {
            match done_rx.recv().await {
                Some((idx, Ok(jid))) => {
                    jids[idx] = Some(jid.into());
                    ok += 1;
                }
                Some((idx, Err(e))) => {
                    failed += 1;
                    txs[idx] = None;
                    if shown < 5 {
                        eprintln!("loadgen: session {idx}: {e}");
                        shown += 1;
                    }
                }
                None => break,
            }
        }
        // let the last presences settle before memory is read
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!(
            "READY n={ok} failed={failed} secs={:.1}",
            start.elapsed().as_secs_f64()
        );
        wait_go(&o).await;
    }

    let live: Vec<usize> = (0..o.sessions).filter(|&i| jids[i].is_some()).collect();
    if o.rate > 0.0 && live.len() >= 2 {
        st.bytes_in.store(0, Ordering::Relaxed);
        st.bytes_out.store(0, Ordering::Relaxed);
        while lat_rx.try_recv().is_ok() {}
        st.measuring.store(true, Ordering::Relaxed);
        let total = (o.rate * o.msg_secs).round() as u64;
        let t0 = Instant::now();
        let mut seq = 0u64;
        let n = live.len();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while seq < total {
            tick.tick().await;
            let due = ((t0.elapsed().as_secs_f64() * o.rate) as u64).min(total);
            while seq < due {
                let from = live[(seq as usize) % n];
                let to = live[((seq as usize) + n / 2) % n];
                if let (Some(tx), Some(jid)) = (&txs[from], &jids[to]) {
                    let _ = tx.send(Cmd::Msg(jid.clone(), seq));
                }
                seq += 1;
            }
        }
        let send_secs = t0.elapsed().as_secs_f64();
        let drain = Instant::now() + Duration::from_secs(5);
        // until every queued message is written and received (or 5 s)
        while st.received.load(Ordering::Relaxed) < seq && Instant::now() < drain {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        st.measuring.store(false, Ordering::Relaxed);
        let mut lats = Vec::new();
        while let Ok(l) = lat_rx.try_recv() {
            lats.push(l);
        }
        lats.sort_unstable();
        let secs = t0.elapsed().as_secs_f64();
        let (sent, recv) = (
            st.sent.load(Ordering::Relaxed),
            st.received.load(Ordering::Relaxed),
        );
        println!(
            "MSG queued={seq} sent={sent} received={recv} send_secs={send_secs:.2} secs={secs:.2} \
             rate={:.1} p50_ms={:.3} p99_ms={:.3} max_ms={:.3} bytes_out={} bytes_in={}",
            recv as f64 / send_secs,
            pct(&lats, 50.0),
            pct(&lats, 99.0),
            lats.last().map(|&x| x as f64 / 1e6).unwrap_or(f64::NAN),
            st.bytes_out.load(Ordering::Relaxed),
            st.bytes_in.load(Ordering::Relaxed),
        );
    }
    for tx in txs.iter().flatten() {
        let _ = tx.send(Cmd::Close);
    }
    drop(txs);
    let _ = timeout(Duration::from_secs(20), async {
        for h in handles {
            let _ = h.await;
        }
    })
    .await;
    println!("DONE");
}

async fn handshakes_mode(o: Opts) {
    let tls = tls_connector(&o);
    let sem = Arc::new(Semaphore::new(o.hs_concurrency));
    let failed = Arc::new(AtomicU64::new(0));
    let shown = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut hs = Vec::with_capacity(o.handshakes);
    for _ in 0..o.handshakes {
        let (o2, tls2, sem2, failed2, shown2) = (
            o.clone(),
            tls.clone(),
            sem.clone(),
            failed.clone(),
            shown.clone(),
        );
        hs.push(tokio::spawn(async move {
            let _p = sem2.acquire_owned().await;
            let r = async {
                let mut s = connect_tls(&o2, &tls2).await?;
                let mut r = Reader::new();
                s.write_all(header(&o2.domain).as_bytes()).await?;
                r.until(&mut s, "features", o2.step_timeout).await?;
                let _ = s.write_all(b"</stream:stream>").await;
                let _ = timeout(Duration::from_secs(2), s.shutdown()).await;
                io::Result::Ok(())
            }
            .await;
            if let Err(e) = r {
                failed2.fetch_add(1, Ordering::Relaxed);
                if shown2.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("loadgen: handshake: {e}");
                }
            }
        }));
    }
    for h in hs {
        let _ = h.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let f = failed.load(Ordering::Relaxed);
    println!(
        "HS n={} failed={f} secs={secs:.2} per_sec={:.1}",
        o.handshakes,
        (o.handshakes as u64 - f) as f64 / secs
    );
}

fn main() {
    let o = parse_opts();
    let max = o.max_secs;
    // The hard stop: whatever happens, the process ends.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(max));
        eprintln!("loadgen: --max-secs {max} reached, exiting");
        std::process::exit(3);
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        if o.mode == "sessions" {
            sessions_mode(o).await
        } else if o.mode == "room" {
            room::room_mode(o).await
        } else {
            handshakes_mode(o).await
        }
    });
    rt.shutdown_timeout(Duration::from_secs(2));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"\0u1\0pw"), "AHUxAHB3");
    }

    #[test]
    fn stamp_reads_the_send_time() {
        assert_eq!(
            stamp(b"<message><body>lg:12:3456:xx</body></message>"),
            Some(3456)
        );
        assert_eq!(stamp(b"<message><body>hi</body></message>"), None);
    }
}
