//! `room` mode, for bench-muclight (bench/muclight/run.sh): N sessions
//! (users `{prefix}0` .. `{prefix}N-1`) become the members of one room,
//! then two workloads run, and each prints one line on stdout:
//!
//! - setup: `--system muclight`: member 0 creates the room
//!   (`urn:xmpp:muclight:0#create`) with the N-1 others as members;
//!   `--system muc` (XEP-0045): member 0 joins (creating the room), submits
//!   the instant-room form, then the others join, `--join-concurrency` at a
//!   time, each until its own presence (status 110) comes back; no history
//!   (`<history maxstanzas='0'/>`). Then `READY ...`.
//! - messages: `--rate` groupchat messages a second for `--msg-secs`, the
//!   sender rotating among the members, each body stamped with its sequence
//!   number and send time. TTD of a message = send to the LAST of the N
//!   copies (the sender's echo included). `MSG ...` gives TTD percentiles,
//!   the first copy's median (the part before the fan-out), copies missing
//!   after `--drain-secs`, and CPU of `--cpu-pids`.
//! - churn (`--churn-cycles` > 0): every member closes its stream and logs in
//!   again (and, XEP-0045, rejoins) once per `--churn-period` seconds,
//!   members spread evenly over the period; the period stands for
//!   `--churn-real-secs` of real time (the talk's 10 minutes). `CHURN ...`
//!   gives the bytes the members received after their logins (room traffic:
//!   presence), the login exchange's bytes apart, both per member per real
//!   hour, and CPU. `--churn-max M` stops after M reconnections (at the
//!   same rate, members spread over the room): a member's bytes per cycle
//!   are the room's bytes per reconnection, so a sample measures them.
//!
//! CPU is read from /proc/PID/task/*/schedstat (on-CPU nanoseconds of each
//! thread, summed), finer than the 10 ms ticks of /proc/PID/stat.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use xmpp_accel_core::xml::framing::FrameKind;

use super::{find, login, pct, tls_connector, Opts, Session, MARK, READ_BUF};

const MUC_NS: &str = "http://jabber.org/protocol/muc";

enum Cmd {
    /// Send a room message with this sequence number (stamped when written).
    Msg(u64),
    /// Write these bytes.
    Raw(String),
    /// Close the stream, log in again (and rejoin, XEP-0045).
    Reconnect,
    Close,
}

enum Ev {
    /// Our own presence came back from the room (status 110).
    Joined(usize),
    /// An IQ answer: id, type='result'?, the stanza.
    Iq(String, bool, String),
    /// Logged in again; bytes of the login exchange.
    Relogged(usize, u64),
    /// A reconnection failed.
    Failed(usize, String),
}

const PH_SETUP: u8 = 0;
const PH_MSG: u8 = 1;
const PH_CHURN: u8 = 2;

struct Shared {
    t0: Instant,
    phase: AtomicU8,
    /// Bytes read by all sessions (after login), whatever the phase.
    bytes_all: AtomicU64,
    bytes_msg: AtomicU64,
    bytes_churn: AtomicU64,
    deliveries: AtomicU64,
}

fn now_ns(sh: &Shared) -> u64 {
    sh.t0.elapsed().as_nanos() as u64
}

/// `lg:SEQ:TNS:` out of a message: (seq, send time).
fn seq_stamp(bytes: &[u8]) -> Option<(u64, u64)> {
    let a = find(bytes, MARK)? + MARK.len();
    let rest = &bytes[a..];
    let c1 = memchr::memchr(b':', rest)?;
    let seq = std::str::from_utf8(&rest[..c1]).ok()?.parse().ok()?;
    let rest2 = &rest[c1 + 1..];
    let c2 = memchr::memchr(b':', rest2)?;
    let t = std::str::from_utf8(&rest2[..c2]).ok()?.parse().ok()?;
    Some((seq, t))
}

/// The value of attribute `name` in a start tag's bytes (either quote).
fn attr(bytes: &[u8], name: &str) -> Option<String> {
    let end = memchr::memchr(b'>', bytes).unwrap_or(bytes.len());
    let head = &bytes[..end];
    for q in [b'\'', b'"'] {
        let pat = [b" ", name.as_bytes(), b"=", &[q]].concat();
        if let Some(a) = find(head, &pat) {
            let v = &head[a + pat.len()..];
            let z = memchr::memchr(q, v)?;
            return Some(String::from_utf8_lossy(&v[..z]).into_owned());
        }
    }
    None
}

fn is_self_presence(b: &[u8]) -> bool {
    find(b, b"code='110'").is_some() || find(b, b"code=\"110\"").is_some()
}

/// On-CPU nanoseconds of every thread of `pid` (schedstat), or of the
/// process from /proc/PID/stat ticks when schedstat is missing.
pub fn cpu_ns(pid: u32) -> u64 {
    let mut total = 0u64;
    let mut any = false;
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for e in rd.flatten() {
            if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
                if let Some(v) = s
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u64>().ok())
                {
                    total += v;
                    any = true;
                }
            }
        }
    }
    if any {
        return total;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|x| x.1).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime, stime are fields 14, 15 (1-based): 11, 12 after ") state"
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    ticks * 10_000_000
}

/// On-CPU nanoseconds of `pid`'s threads, summed by thread name (trailing
/// digits dropped: `tokio-runtime-w`, `muclight-worker`, ...).
fn cpu_by_thread(pid: u32) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for e in rd.flatten() {
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            let name = comm
                .trim()
                .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_');
            if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
                if let Some(v) = s
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u64>().ok())
                {
                    *m.entry(name.to_owned()).or_insert(0) += v;
                }
            }
        }
    }
    m
}

/// ` threads_NAME=a:ms;b:ms` for the watched process named `comp`: where its
/// CPU went between the two readings (threads that exited are missing).
fn thread_fields(a: &HashMap<String, u64>, b: &HashMap<String, u64>) -> String {
    let mut v: Vec<(String, f64)> = b
        .iter()
        .map(|(k, &x)| {
            (
                k.clone(),
                x.saturating_sub(*a.get(k).unwrap_or(&0)) as f64 / 1e6,
            )
        })
        .filter(|(_, ms)| *ms >= 0.05)
        .collect();
    v.sort_by(|x, y| y.1.total_cmp(&x.1));
    let parts: Vec<String> = v.iter().map(|(k, ms)| format!("{k}:{ms:.1}")).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" comp_threads={}", parts.join(";"))
    }
}

fn comp_threads(o: &Opts) -> HashMap<String, u64> {
    o.cpu_pids
        .iter()
        .find(|(n, _)| n == "comp")
        .map(|(_, p)| cpu_by_thread(*p))
        .unwrap_or_default()
}

fn cpu_snapshot(o: &Opts) -> Vec<u64> {
    o.cpu_pids.iter().map(|(_, p)| cpu_ns(*p)).collect()
}

/// ` cpu_NAME_ms=X` for each watched process.
fn cpu_fields(o: &Opts, a: &[u64], b: &[u64]) -> (String, Vec<f64>) {
    let mut s = String::new();
    let mut v = Vec::new();
    for (i, (name, _)) in o.cpu_pids.iter().enumerate() {
        let ms = b[i].saturating_sub(a[i]) as f64 / 1e6;
        s.push_str(&format!(" cpu_{name}_ms={ms:.1}"));
        v.push(ms);
    }
    (s, v)
}

fn join_presence(o: &Opts, idx: usize) -> String {
    format!(
        "<presence to='{}/{}{idx}'><x xmlns='{MUC_NS}'><history maxstanzas='0'/></x></presence>",
        o.room, o.user_prefix
    )
}

#[allow(clippy::too_many_arguments)]
async fn session_task(
    o: Arc<Opts>,
    tls: TlsConnector,
    idx: usize,
    mut sess: Session,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    sh: Arc<Shared>,
    ev: mpsc::UnboundedSender<Ev>,
    lat: mpsc::UnboundedSender<(u64, u64)>,
    pad: Arc<str>,
) {
    let mut buf = vec![0u8; READ_BUF];
    let muc = o.system == "muc";
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Cmd::Msg(seq)) => {
                    let m = format!(
                        "<message to='{}' type='groupchat' id='m{seq}'><body>lg:{seq}:{}:{pad}</body></message>",
                        o.room,
                        now_ns(&sh)
                    );
                    if sess.s.write_all(m.as_bytes()).await.is_err() {
                        break;
                    }
                }
                Some(Cmd::Raw(x)) => {
                    if sess.s.write_all(x.as_bytes()).await.is_err() {
                        break;
                    }
                }
                Some(Cmd::Reconnect) => {
                    let _ = timeout(Duration::from_secs(5), async {
                        let _ = sess.s.write_all(b"</stream:stream>").await;
                        let _ = sess.s.shutdown().await;
                    })
                    .await;
                    drop(sess);
                    match login(&o, &tls, idx).await {
                        Ok(mut s2) => {
                            if muc && s2.s.write_all(join_presence(&o, idx).as_bytes()).await.is_err() {
                                let _ = ev.send(Ev::Failed(idx, "rejoin write".into()));
                                return;
                            }
                            let b = s2.r.bytes;
                            // units read with the bind result (rare) stay queued
                            sess = s2;
                            let _ = ev.send(Ev::Relogged(idx, b));
                        }
                        Err(e) => {
                            let _ = ev.send(Ev::Failed(idx, e.to_string()));
                            return;
                        }
                    }
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
                sh.bytes_all.fetch_add(n as u64, Ordering::Relaxed);
                match sh.phase.load(Ordering::Relaxed) {
                    PH_MSG => sh.bytes_msg.fetch_add(n as u64, Ordering::Relaxed),
                    PH_CHURN => sh.bytes_churn.fetch_add(n as u64, Ordering::Relaxed),
                    _ => 0,
                };
                while let Some(u) = sess.r.queue.pop_front() {
                    if u.kind != FrameKind::Stanza {
                        continue;
                    }
                    match u.name.as_str() {
                        "message" => {
                            if let Some((seq, t)) = seq_stamp(&u.bytes) {
                                sh.deliveries.fetch_add(1, Ordering::Relaxed);
                                let _ = lat.send((seq, now_ns(&sh).saturating_sub(t)));
                            }
                        }
                        "presence" if muc && is_self_presence(&u.bytes) && attr(&u.bytes, "type").is_none() => {
                            let _ = ev.send(Ev::Joined(idx));
                        }
                        "iq" => {
                            if let Some(id) = attr(&u.bytes, "id") {
                                let ok = attr(&u.bytes, "type").as_deref() == Some("result");
                                let _ = ev.send(Ev::Iq(id, ok, String::from_utf8_lossy(&u.bytes).into_owned()));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

fn fail(msg: String) -> ! {
    eprintln!("loadgen room: {msg}");
    println!("FAILED {msg}");
    std::process::exit(1)
}

/// Until no session has read anything for `quiet`, at most `max`.
async fn wait_quiet(sh: &Shared, quiet: Duration, max: Duration) {
    let end = Instant::now() + max;
    let mut last = sh.bytes_all.load(Ordering::Relaxed);
    let mut since = Instant::now();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let b = sh.bytes_all.load(Ordering::Relaxed);
        if b != last {
            last = b;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

async fn wait_iq(
    ev: &mut mpsc::UnboundedReceiver<Ev>,
    id: &str,
    limit: Duration,
) -> Result<(), String> {
    let end = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(end, ev.recv()).await {
            Err(_) => return Err(format!("no answer to IQ {id}")),
            Ok(None) => return Err("all sessions ended".into()),
            Ok(Some(Ev::Iq(i, ok, text))) if i == id => {
                return if ok {
                    Ok(())
                } else {
                    Err(format!("IQ {id}: {text}"))
                }
            }
            Ok(Some(_)) => {}
        }
    }
}

pub async fn room_mode(o: Opts) {
    if o.room.is_empty() || (o.system != "muc" && o.system != "muclight") {
        fail("--room and --system muc|muclight are needed".into())
    }
    let o = Arc::new(o);
    let tls = tls_connector(&o);
    let n = o.sessions;
    let sh = Arc::new(Shared {
        t0: Instant::now(),
        phase: AtomicU8::new(PH_SETUP),
        bytes_all: AtomicU64::new(0),
        bytes_msg: AtomicU64::new(0),
        bytes_churn: AtomicU64::new(0),
        deliveries: AtomicU64::new(0),
    });
    let pad: Arc<str> = "x".repeat(o.body_bytes.saturating_sub(40)).into();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Ev>();
    let (lat_tx, mut lat_rx) = mpsc::unbounded_channel::<(u64, u64)>();

    // ---- logins
    let start = Instant::now();
    let sem = Arc::new(Semaphore::new(o.ramp));
    let mut logins = Vec::with_capacity(n);
    for idx in 0..n {
        let (o2, tls2, sem2) = (o.clone(), tls.clone(), sem.clone());
        logins.push(tokio::spawn(async move {
            let _p = sem2.acquire_owned().await;
            login(&o2, &tls2, idx).await
        }));
    }
    let mut txs = Vec::with_capacity(n);
    let mut failed = 0usize;
    for (idx, h) in logins.into_iter().enumerate() {
        match h.await {
            Ok(Ok(sess)) => {
                let (tx, rx) = mpsc::unbounded_channel();
                txs.push(tx);
                tokio::spawn(session_task(
                    o.clone(),
                    tls.clone(),
                    idx,
                    sess,
                    rx,
                    sh.clone(),
                    ev_tx.clone(),
                    lat_tx.clone(),
                    pad.clone(),
                ));
            }
            Ok(Err(e)) => {
                if failed < 5 {
                    eprintln!("loadgen room: session {idx}: {e}");
                }
                failed += 1;
            }
            Err(e) => fail(format!("login task: {e}")),
        }
    }
    if failed > 0 {
        fail(format!("{failed} of {n} logins failed"))
    }
    let login_secs = start.elapsed().as_secs_f64();
    // the component must have seen every member's presence (XEP-0356)
    wait_quiet(&sh, Duration::from_secs(1), Duration::from_secs(30)).await;

    // ---- room setup
    let t_setup = Instant::now();
    let send = |i: usize, c: Cmd| {
        let _ = txs[i].send(c);
    };
    if o.system == "muclight" {
        let mut q = String::with_capacity(n * 48 + 256);
        q.push_str(&format!(
            "<iq type='set' id='create1' to='{}'><query xmlns='urn:xmpp:muclight:0#create'>\
             <configuration><roomname>bench</roomname></configuration><occupants>",
            o.room
        ));
        for i in 1..n {
            q.push_str(&format!(
                "<user affiliation='member'>{}{i}@{}</user>",
                o.user_prefix, o.domain
            ));
        }
        q.push_str("</occupants></query></iq>");
        send(0, Cmd::Raw(q));
        if let Err(e) = wait_iq(&mut ev_rx, "create1", Duration::from_secs(120)).await {
            fail(format!("MUC Light create: {e}"))
        }
    } else {
        send(0, Cmd::Raw(join_presence(&o, 0)));
        let end = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            match tokio::time::timeout_at(end, ev_rx.recv()).await {
                Ok(Some(Ev::Joined(0))) => break,
                Ok(Some(_)) => {}
                _ => fail("the owner's join got no self-presence".into()),
            }
        }
        send(
            0,
            Cmd::Raw(format!(
                "<iq type='set' id='cfg1' to='{}'><query xmlns='{MUC_NS}#owner'>\
                 <x xmlns='jabber:x:data' type='submit'/></query></iq>",
                o.room
            )),
        );
        if let Err(e) = wait_iq(&mut ev_rx, "cfg1", Duration::from_secs(60)).await {
            fail(format!("instant room: {e}"))
        }
        let mut joined = vec![false; n];
        joined[0] = true;
        let (mut next, mut done, mut inflight) = (1usize, 1usize, 0usize);
        let limit = Duration::from_secs(o.wait_secs);
        while done < n {
            while inflight < o.join_concurrency && next < n {
                send(next, Cmd::Raw(join_presence(&o, next)));
                next += 1;
                inflight += 1;
            }
            match timeout(limit, ev_rx.recv()).await {
                Ok(Some(Ev::Joined(i))) if !joined[i] => {
                    joined[i] = true;
                    done += 1;
                    inflight -= 1;
                }
                Ok(Some(_)) => {}
                _ => fail(format!(
                    "joins: {done} of {n} joined, then nothing for {limit:?}"
                )),
            }
        }
    }
    // the join flood (XEP-0045) or the affiliation notices (MUC Light) drain
    wait_quiet(
        &sh,
        Duration::from_secs(2),
        Duration::from_secs(o.wait_secs),
    )
    .await;
    println!(
        "READY n={n} failed=0 login_secs={login_secs:.1} setup_secs={:.1} setup_bytes={}",
        t_setup.elapsed().as_secs_f64(),
        sh.bytes_all.load(Ordering::Relaxed)
    );

    // ---- idle: the processes' CPU with the room quiet, for the message
    // phase's fixed part (timers, keep-alives)
    {
        let c0 = cpu_snapshot(&o);
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let c1 = cpu_snapshot(&o);
        let (cpu, _) = cpu_fields(&o, &c0, &c1);
        println!("IDLE secs={:.2}{cpu}", t.elapsed().as_secs_f64());
    }

    // ---- messages
    while lat_rx.try_recv().is_ok() {}
    let total = (o.rate * o.msg_secs).round() as u64;
    if total > 0 {
        sh.deliveries.store(0, Ordering::Relaxed);
        let c0 = cpu_snapshot(&o);
        let th0 = comp_threads(&o);
        sh.phase.store(PH_MSG, Ordering::Relaxed);
        let t0 = Instant::now();
        let mut seq = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while seq < total {
            tick.tick().await;
            let due = ((t0.elapsed().as_secs_f64() * o.rate) as u64).min(total);
            while seq < due {
                send((seq as usize * 7919) % n, Cmd::Msg(seq));
                seq += 1;
            }
        }
        let send_secs = t0.elapsed().as_secs_f64();
        let expected = total * n as u64;
        let drain = Instant::now() + Duration::from_secs(o.drain_secs);
        while sh.deliveries.load(Ordering::Relaxed) < expected && Instant::now() < drain {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let c1 = cpu_snapshot(&o);
        let th = thread_fields(&th0, &comp_threads(&o));
        sh.phase.store(PH_SETUP, Ordering::Relaxed);
        // per message: (copies, last copy, first copy)
        let mut per: HashMap<u64, (u64, u64, u64)> = HashMap::new();
        let mut all = Vec::with_capacity(expected as usize);
        while let Ok((s, l)) = lat_rx.try_recv() {
            let e = per.entry(s).or_insert((0, 0, u64::MAX));
            e.0 += 1;
            e.1 = e.1.max(l);
            e.2 = e.2.min(l);
            all.push(l);
        }
        let mut first: Vec<u64> = per.values().map(|&(_, _, f)| f).collect();
        first.sort_unstable();
        all.sort_unstable();
        let mut ttd: Vec<u64> = per
            .values()
            .filter(|(c, _, _)| *c >= n as u64)
            .map(|&(_, m, _)| m)
            .collect();
        ttd.sort_unstable();
        let complete = ttd.len();
        let (cpu, _) = cpu_fields(&o, &c0, &c1);
        println!(
            "MSG members={n} sent={total} send_secs={send_secs:.2} complete={complete} incomplete={} \
             copies={} expected={expected} ttd_p50_ms={:.3} ttd_p99_ms={:.3} ttd_max_ms={:.3} \
             copy_p50_ms={:.3} copy_p99_ms={:.3} first_p50_ms={:.3} bytes_in={}{cpu}{th}",
            total as usize - complete,
            all.len(),
            pct(&ttd, 50.0),
            pct(&ttd, 99.0),
            ttd.last().map(|&x| x as f64 / 1e6).unwrap_or(f64::NAN),
            pct(&all, 50.0),
            pct(&all, 99.0),
            pct(&first, 50.0),
            sh.bytes_msg.load(Ordering::Relaxed),
        );
    }

    // ---- churn
    if o.churn_cycles > 0 {
        wait_quiet(&sh, Duration::from_secs(1), Duration::from_secs(60)).await;
        let c0 = cpu_snapshot(&o);
        sh.bytes_churn.store(0, Ordering::Relaxed);
        sh.phase.store(PH_CHURN, Ordering::Relaxed);
        let t0 = Instant::now();
        let mut total = n * o.churn_cycles;
        if o.churn_max > 0 {
            total = total.min(o.churn_max);
        }
        let (mut next, mut done, mut failed) = (0usize, 0usize, 0usize);
        let mut login_bytes = 0u64;
        // XEP-0045: a reconnection is done when the rejoin's self-presence is back
        let mut pending_join = vec![0u32; n];
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let hard_end = Instant::now()
            + Duration::from_secs_f64(o.churn_period * total as f64 / n as f64)
            + Duration::from_secs(o.wait_secs);
        while done + failed < total && Instant::now() < hard_end {
            tokio::select! {
                _ = tick.tick() => {
                    let el = t0.elapsed().as_secs_f64();
                    while next < total {
                        // reconnection number `next` at next/n periods (n a
                        // period, the full cycles' rate); its member: the
                        // sample spread evenly over the room
                        let at = next as f64 / n as f64 * o.churn_period;
                        let i = if total >= n { next % n } else { next * n / total };
                        if at > el {
                            break;
                        }
                        send(i, Cmd::Reconnect);
                        next += 1;
                    }
                }
                e = ev_rx.recv() => match e {
                    Some(Ev::Relogged(i, b)) => {
                        login_bytes += b;
                        if o.system == "muc" {
                            pending_join[i] += 1;
                        } else {
                            done += 1;
                        }
                    }
                    Some(Ev::Joined(i)) if pending_join[i] > 0 => {
                        pending_join[i] -= 1;
                        done += 1;
                    }
                    Some(Ev::Failed(i, e)) => {
                        if failed < 5 {
                            eprintln!("loadgen room: reconnect of {i}: {e}");
                        }
                        failed += 1;
                    }
                    Some(_) => {}
                    None => break,
                }
            }
        }
        let resync_secs = t0.elapsed().as_secs_f64();
        wait_quiet(&sh, Duration::from_secs(1), Duration::from_secs(120)).await;
        sh.phase.store(PH_SETUP, Ordering::Relaxed);
        let c1 = cpu_snapshot(&o);
        let bytes = sh.bytes_churn.load(Ordering::Relaxed);
        // a member's share of one cycle (each member reconnecting once) is
        // what the room received per reconnection: bytes / reconnections
        let done_f = done.max(1) as f64;
        let per_hour = 3600.0 / o.churn_real_secs;
        let (cpu, ms) = cpu_fields(&o, &c0, &c1);
        let cpu_total: f64 = ms.iter().sum();
        println!(
            "CHURN members={n} reconnects={total} done={done} failed={failed} period_s={} real_period_s={} \
             scale={:.1} secs={resync_secs:.1} room_bytes={bytes} login_bytes={login_bytes} \
             room_bytes_per_member_hour={:.0} login_bytes_per_member_hour={:.0} \
             cpu_ms_per_reconnect={:.3} cpu_pct_core_real={:.3}{cpu}",
            o.churn_period,
            o.churn_real_secs,
            o.churn_real_secs / o.churn_period,
            bytes as f64 / done_f * per_hour,
            login_bytes as f64 / done_f * per_hour,
            cpu_total / done_f,
            // n reconnections take churn_real_secs in real time
            cpu_total / done_f * n as f64 / 1000.0 / o.churn_real_secs * 100.0,
        );
    }
    for tx in &txs {
        let _ = tx.send(Cmd::Close);
    }
    drop(txs);
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("DONE");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seq_and_stamp() {
        assert_eq!(
            seq_stamp(b"<message><body>lg:12:3456:xx</body></message>"),
            Some((12, 3456))
        );
        assert_eq!(seq_stamp(b"<message><body>hi</body></message>"), None);
    }

    #[test]
    fn reads_attributes() {
        let b = b"<iq type='result' id=\"cfg1\" from='r@c'/>";
        assert_eq!(attr(b, "id").as_deref(), Some("cfg1"));
        assert_eq!(attr(b, "type").as_deref(), Some("result"));
        assert_eq!(attr(b, "to"), None);
        assert!(is_self_presence(
            b"<presence><status code='110'/></presence>"
        ));
    }
}
