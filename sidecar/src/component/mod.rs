//! The MUC Light component: an XEP-0114 link to the server, the core's
//! MUC Light [`Service`] on a dedicated worker thread
//! ([`worker`]: rooms and archive in SQLite or PostgreSQL, full-text index, MAM), and the
//! fan-out of room stanzas to members' online resources ([`presence`]).
//!
//! The link: `<stream:stream xmlns='jabber:component:accept' to=DOMAIN>`,
//! the server's header gives a stream id, the component answers
//! `<handshake>` with hex SHA-1 of id and secret (XEP-0114 §3) and waits for
//! the empty `<handshake/>`. Every byte from the server goes through the
//! core's [`Framer`] (strict XML, limits). A single space goes out after
//! `keepalive_secs` without writing. A lost or refused link is retried
//! after 1 s, doubling up to `reconnect_max_secs`.
//!
//! Each stanza from the server is one job for the worker; its answer (IQ
//! results, errors, broadcasts) is written with one `write_all`, every copy
//! of a broadcast rendered from one [`Template`](xmpp_accel_core::fanout::Template).
//!
//! With `multicast` set, a broadcast is instead one stanza to the server's
//! XEP-0033 service (to = the service) per `multicast_max_addresses`
//! online resources, carrying `<addresses xmlns='http://jabber.org/protocol/address'>`
//! with a `bcc` address each; the service routes a copy to each address
//! (ejabberd's `mod_multicast` removes the `<addresses/>` of bcc-only
//! stanzas, so members get what the copies would have been).

pub mod mam;
pub mod presence;
pub mod tail;
pub mod worker;

use std::time::Duration;

use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::time::{timeout, Instant};
use xmpp_accel_core::muclight::{Jid, Service};
use xmpp_accel_core::xml::framing::{stream_error_condition, FrameKind, Framer};
use xmpp_accel_core::xml::{escape, Element};

use crate::config;
use crate::metrics::ComponentMetrics;
use presence::Resources;
use worker::{Job, Piece};

/// How one link ended.
enum Ended {
    /// SIGTERM: the stream was closed on purpose.
    Stop,
    /// The link was up (handshake done) and went down.
    Lost(String),
}

/// The XEP-0114 handshake value: lowercase hex SHA-1 of stream id + secret.
pub fn handshake_digest(stream_id: &str, secret: &str) -> String {
    let mut h = Sha1::new();
    h.update(stream_id.as_bytes());
    h.update(secret.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the component until `stop` turns true: opens storage and index (and
/// catches the index up), then keeps the link to the server up.
pub async fn run(
    cfg: config::Component,
    metrics: ComponentMetrics,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let service = Service::new(&cfg.domain, cfg.muclight.options()?)
        .map_err(|e| format!("[component] {e}"))?;
    let settings = worker::Settings {
        max_body_size: cfg.max_body_size,
        mam_max_page: cfg.mam_max_page,
        index_commit: cfg.index_commit_ms.map(Duration::from_millis),
    };
    let (storage, index, m) = (cfg.backend(), cfg.index.clone(), metrics.clone());
    let (jobs, thread, stored, mut remote) =
        tokio::task::spawn_blocking(move || worker::start(service, &storage, &index, settings, m))
            .await
            .map_err(|e| e.to_string())??;
    let tick_jobs = jobs.clone();
    let ticker = tokio::spawn(async move {
        let mut t = tokio::time::interval(Duration::from_millis(250));
        loop {
            t.tick().await;
            if tick_jobs.send(Job::Tick).await.is_err() {
                return;
            }
        }
    });
    let mut resources = Resources::load(stored);
    tracing::info!(
        users = resources.users(),
        "online resources from the last run"
    );
    let max_backoff = Duration::from_secs(cfg.reconnect_max_secs);
    let mut backoff = Duration::from_secs(1);
    loop {
        if *stop.borrow() {
            break;
        }
        if jobs.is_closed() {
            // the worker thread is gone (it panicked outside a stanza):
            // end the process with an error rather than serve nothing
            ticker.abort();
            return Err("the room worker stopped".into());
        }
        let r = link(
            &cfg,
            &jobs,
            &mut resources,
            &mut remote,
            &metrics,
            &mut stop,
        )
        .await;
        metrics.connected.set(0);
        let changes = resources.take_changes();
        if !changes.is_empty() {
            let _ = jobs.send(Job::Resources(changes)).await;
        }
        match r {
            Ok(Ended::Stop) => break,
            Ok(Ended::Lost(why)) => {
                tracing::warn!(server = %cfg.server, "component link lost: {why}");
                metrics.reconnects.inc();
                backoff = Duration::from_secs(1);
            }
            Err(why) => {
                tracing::warn!(server = %cfg.server, retry_secs = backoff.as_secs(), "component link failed: {why}");
                metrics.reconnects.inc();
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => {}
        }
        backoff = (backoff * 2).min(max_backoff);
    }
    ticker.abort();
    let _ = ticker.await;
    drop(jobs);
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|_| "the room worker panicked".to_owned())?;
    tracing::info!("component stopped");
    Ok(())
}

/// Reads until the framer has at least one frame.
async fn read_frames(
    io: &mut TcpStream,
    framer: &mut Framer,
    buf: &mut [u8],
) -> Result<(), String> {
    while framer.frames().is_empty() {
        let n = io.read(buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        framer.push(&buf[..n]).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Connects, authenticates, and serves one link.
async fn link(
    cfg: &config::Component,
    jobs: &tokio::sync::mpsc::Sender<Job>,
    resources: &mut Resources,
    remote: &mut Option<tokio::sync::mpsc::UnboundedReceiver<tail::ResourceChange>>,
    metrics: &ComponentMetrics,
    stop: &mut watch::Receiver<bool>,
) -> Result<Ended, String> {
    let mut io = timeout(Duration::from_secs(10), TcpStream::connect(cfg.server))
        .await
        .map_err(|_| "connect timeout".to_owned())?
        .map_err(|e| format!("connect: {e}"))?;
    let _ = io.set_nodelay(true);
    let mut header = Vec::new();
    header.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to=");
    escape::write_attr_value(cfg.domain.as_bytes(), &mut header);
    header.push(b'>');
    io.write_all(&header).await.map_err(|e| e.to_string())?;
    let limits = xmpp_accel_core::xml::Limits {
        max_element_size: cfg.max_stanza_size,
        ..Default::default()
    };
    let mut framer = Framer::new(limits);
    let mut buf = vec![0u8; 65536];
    let handshake_deadline = Duration::from_secs(10);
    // the server's stream header: its id
    timeout(
        handshake_deadline,
        read_frames(&mut io, &mut framer, &mut buf),
    )
    .await
    .map_err(|_| "no stream header from the server".to_owned())??;
    let first = framer.frames()[0].clone();
    if first.kind != FrameKind::StreamHeader {
        return Err(format!("expected a stream header, got {}", first.name));
    }
    let id = framer
        .element(&first)
        .and_then(|e| e.attr("id").map(str::to_owned))
        .ok_or("the server's stream header has no id")?;
    let mut rest: Vec<_> = framer.frames()[1..].to_vec();
    let digest = handshake_digest(&id, &cfg.secret);
    io.write_all(format!("<handshake>{digest}</handshake>").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    // its answer: <handshake/> or a stream error
    loop {
        if let Some(f) = rest.first().cloned() {
            rest.remove(0);
            let el = framer.element(&f).unwrap_or_default();
            match (f.kind, f.name.as_str()) {
                (FrameKind::Stanza, "handshake") => break,
                (FrameKind::Stanza, n) if n.ends_with(":error") || n == "error" => {
                    return Err(format!("handshake refused: {}", describe_error(&el)))
                }
                (FrameKind::StreamEnd, _) => return Err("handshake refused: stream closed".into()),
                _ => continue,
            }
        }
        framer.consume();
        timeout(
            handshake_deadline,
            read_frames(&mut io, &mut framer, &mut buf),
        )
        .await
        .map_err(|_| "no handshake answer".to_owned())??;
        rest = framer.frames().to_vec();
    }
    // frames after the handshake in the same read
    let mut pending: Vec<Element> = Vec::new();
    for f in &rest {
        if f.kind == FrameKind::Stanza {
            pending.push(framer.element(f).unwrap_or_default());
        }
    }
    framer.consume();
    metrics.connected.set(1);
    tracing::info!(server = %cfg.server, domain = %cfg.domain, "component link up");
    let keepalive = Duration::from_secs(cfg.keepalive_secs);
    let mut last_write = Instant::now();
    let mut tick = tokio::time::interval(keepalive / 2);
    let mut out: Vec<u8> = Vec::new();
    for el in pending.drain(..) {
        stanza(el, jobs, resources, metrics, multicast(cfg), &mut out).await?;
    }
    if !out.is_empty() {
        io.write_all(&out).await.map_err(|e| e.to_string())?;
        out.clear();
        last_write = Instant::now();
    }
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = io.write_all(b"</stream:stream>").await;
                let _ = io.shutdown().await;
                return Ok(Ended::Stop);
            }
            Some((user, res, online)) = async {
                match remote.as_mut() {
                    Some(r) => r.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                // another instance stored it (or this one: no change then)
                resources.remote(&user, &res, online);
            }
            _ = tick.tick() => {
                let changes = resources.take_changes();
                if !changes.is_empty() {
                    jobs.send(Job::Resources(changes)).await.map_err(|_| "the room worker stopped".to_owned())?;
                }
                if last_write.elapsed() >= keepalive {
                    io.write_all(b" ").await.map_err(|e| e.to_string())?;
                    last_write = Instant::now();
                }
            }
            r = io.read(&mut buf) => {
                let n = r.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Ok(Ended::Lost("the server closed the connection".into()));
                }
                if let Err(e) = framer.push(&buf[..n]) {
                    let cond = stream_error_condition(&e);
                    let _ = io.write_all(format!("<stream:error><{cond} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>").as_bytes()).await;
                    return Ok(Ended::Lost(format!("bad XML from the server: {e}")));
                }
                let frames = framer.frames().to_vec();
                let mut ended = None;
                for f in &frames {
                    match f.kind {
                        FrameKind::Stanza => {
                            let el = framer.element(f).unwrap_or_default();
                            if f.name.ends_with(":error") {
                                ended = Some(format!("stream error: {}", describe_error(&el)));
                                break;
                            }
                            stanza(el, jobs, resources, metrics, multicast(cfg), &mut out).await?;
                        }
                        FrameKind::StreamEnd => {
                            ended = Some("the server ended the stream".into());
                            break;
                        }
                        FrameKind::StreamHeader => {}
                    }
                }
                framer.consume();
                // new or gone resources reach the shared storage (and the
                // other instances) at once, ahead of later stanzas
                let changes = resources.take_changes();
                if !changes.is_empty() {
                    jobs.send(Job::Resources(changes)).await.map_err(|_| "the room worker stopped".to_owned())?;
                }
                if !out.is_empty() {
                    io.write_all(&out).await.map_err(|e| e.to_string())?;
                    out.clear();
                    last_write = Instant::now();
                    if out.capacity() > 1 << 20 {
                        out = Vec::new();
                    }
                }
                if let Some(why) = ended {
                    let _ = io.write_all(b"</stream:stream>").await;
                    return Ok(Ended::Lost(why));
                }
            }
        }
    }
}

/// The multicast service and its most addresses per stanza, if set.
fn multicast(cfg: &config::Component) -> Option<(&str, usize)> {
    cfg.multicast
        .as_deref()
        .map(|m| (m, cfg.multicast_max_addresses))
}

/// XEP-0033's namespace.
pub const NS_ADDRESS: &str = "http://jabber.org/protocol/address";

/// Writes a broadcast as multicast stanzas to `service`: the template's
/// stanza with `to` = the service, `<addresses/>` of at most `max` `bcc`
/// addresses (`jids`) appended. Returns the number of addresses.
pub fn render_multicast<'a>(
    template: &xmpp_accel_core::fanout::Template,
    service: &str,
    max: usize,
    jids: impl Iterator<Item = &'a [u8]>,
    out: &mut Vec<u8>,
) -> u64 {
    let mut head = Vec::new();
    template.render(service.as_bytes(), &mut head);
    let name_end = head[1..]
        .iter()
        .position(|b| matches!(b, b' ' | b'>' | b'/'))
        .map_or(head.len(), |i| i + 1);
    let close = [b"</", &head[1..name_end], b">"].concat();
    if head.ends_with(&close) {
        head.truncate(head.len() - close.len());
    } else if head.ends_with(b"/>") {
        head.truncate(head.len() - 2);
        head.push(b'>');
    }
    let open = format!("<addresses xmlns='{NS_ADDRESS}'>");
    let mut n = 0u64;
    for jid in jids {
        if n.is_multiple_of(max as u64) {
            if n > 0 {
                out.extend_from_slice(b"</addresses>");
                out.extend_from_slice(&close);
            }
            out.extend_from_slice(&head);
            out.extend_from_slice(open.as_bytes());
        }
        out.extend_from_slice(b"<address type='bcc' jid=");
        escape::write_attr_value(jid, out);
        out.extend_from_slice(b"/>");
        n += 1;
    }
    if n > 0 {
        out.extend_from_slice(b"</addresses>");
        out.extend_from_slice(&close);
    }
    n
}

fn describe_error(el: &Element) -> String {
    mam::children(el)
        .map(|c| c.name.clone())
        .collect::<Vec<_>>()
        .join(" ")
}

/// One stanza from the server: presences update the resources; the rest
/// goes to the worker, and its answer is appended to `out`.
async fn stanza(
    el: Element,
    jobs: &tokio::sync::mpsc::Sender<Job>,
    resources: &mut Resources,
    metrics: &ComponentMetrics,
    multicast: Option<(&str, usize)>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    metrics.stanzas_in.inc();
    let Some(from) = el.attr("from").and_then(|f| Jid::new(f).ok()) else {
        return Ok(());
    };
    let ty = el.attr("type");
    match el.name.as_str() {
        "presence" => {
            tracing::debug!(%from, ty = ty.unwrap_or("available"), "presence");
            resources.presence(&from, ty);
            return Ok(());
        }
        "message" | "iq" => {}
        _ => return Ok(()),
    }
    if ty == Some("error") && multicast.is_some_and(|(m, _)| from.to_string() == m) {
        tracing::warn!(service = %from, error = %mam::child(&el, "error", None).map(describe_error).unwrap_or_default(), "the multicast service refused a room stanza");
        return Ok(());
    }
    if ty == Some("error") {
        // a copy bounced: that resource is gone
        if from.resource().is_some() {
            tracing::debug!(%from, "bounced: resource dropped");
            resources.offline(&from);
        }
        return Ok(());
    }
    resources.online(&from);
    let (tx, rx) = oneshot::channel();
    jobs.send(Job::Stanza {
        from,
        stanza: el,
        reply: tx,
    })
    .await
    .map_err(|_| "the room worker stopped".to_owned())?;
    let pieces = rx.await.map_err(|_| "the room worker stopped".to_owned())?;
    let mut jid = String::new();
    for p in pieces {
        match p {
            Piece::Bytes(b) => out.extend_from_slice(&b),
            Piece::Broadcast {
                template,
                recipients,
            } => {
                if let Some((service, max)) = multicast {
                    let mut jids = Vec::new();
                    for user in &recipients {
                        for r in resources.of(user) {
                            jids.push(format!("{}/{r}", user.as_str()));
                        }
                    }
                    let n = render_multicast(
                        &template,
                        service,
                        max,
                        jids.iter().map(|j| j.as_bytes()),
                        out,
                    );
                    metrics.broadcasts.inc();
                    metrics.fanout_size.observe(n as f64);
                    continue;
                }
                let mut copies = 0u64;
                for user in &recipients {
                    for r in resources.of(user) {
                        jid.clear();
                        jid.push_str(user.as_str());
                        jid.push('/');
                        jid.push_str(r);
                        template.render(jid.as_bytes(), out);
                        copies += 1;
                    }
                }
                metrics.broadcasts.inc();
                metrics.fanout_size.observe(copies as f64);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_digest_is_hex_sha1_of_id_and_secret() {
        // printf '%s' 3BF96D32sant | sha1sum
        assert_eq!(
            handshake_digest("3BF96D32", "sant"),
            "9c0d87d0424ef7404973ac61f41c4410e5edd4d3"
        );
    }

    #[test]
    fn multicast_chunks_with_bcc_addresses() {
        let m = Element::parse(b"<message from='r@l.test/a@b.test' to='x' type='groupchat'><body>hi &amp; bye</body></message>").unwrap();
        let t = xmpp_accel_core::fanout::Template::new(&m.walk(), None);
        let mut out = Vec::new();
        let jids = ["a@b.test/1", "b@b.test/x'y", "c@b.test/3"];
        let n = render_multicast(
            &t,
            "mc.b.test",
            2,
            jids.iter().map(|j| j.as_bytes()),
            &mut out,
        );
        assert_eq!(n, 3);
        let s = String::from_utf8(out).unwrap();
        let want = "<message from='r@l.test/a@b.test' to='mc.b.test' type='groupchat'><body>hi &amp; bye</body><addresses xmlns='http://jabber.org/protocol/address'>";
        assert_eq!(
            s,
            format!("{want}<address type='bcc' jid='a@b.test/1'/><address type='bcc' jid=\"b@b.test/x'y\"/></addresses></message>{want}<address type='bcc' jid='c@b.test/3'/></addresses></message>")
        );
        let mut out = Vec::new();
        assert_eq!(
            render_multicast(&t, "mc.b.test", 2, std::iter::empty(), &mut out),
            0
        );
        assert!(out.is_empty());
    }
}

/// The component against a scripted server on loopback: handshake,
/// presence, a room, fan-out, archive and MAM, a bounce, SIGTERM.
#[cfg(test)]
mod link_tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn read_until(
        io: &mut TcpStream,
        acc: &mut String,
        what: &str,
        done: impl Fn(&str) -> bool,
    ) {
        let mut buf = vec![0u8; 65536];
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(acc) {
            let n = tokio::time::timeout_at(deadline, io.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("timeout waiting for {what}; got {acc}"))
                .unwrap();
            assert!(n > 0, "closed while waiting for {what}; got {acc}");
            acc.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
    }

    fn copies<'a>(acc: &'a str, needle: &str) -> Vec<&'a str> {
        acc.split("<message")
            .filter(|m| m.contains(needle))
            .collect()
    }

    #[tokio::test]
    async fn scripted_server() {
        let dir = tempfile::tempdir().unwrap();
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cfg = config::Component {
            server: server.local_addr().unwrap(),
            domain: "muclight.test".into(),
            secret: "s3cr3t".into(),
            storage: dir.path().join("rooms.sqlite3"),
            postgres: None,
            postgres_pool_size: 4,
            index: dir.path().join("index"),
            keepalive_secs: 30,
            reconnect_max_secs: 1,
            max_stanza_size: 65536,
            max_body_size: 1000,
            mam_max_page: 50,
            multicast: None,
            multicast_max_addresses: 20,
            index_commit_ms: None,
            muclight: config::MucLight::default(),
        };
        let metrics = ComponentMetrics::register(&mut Default::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let comp = tokio::spawn(run(cfg, metrics.clone(), stop_rx));
        let (mut io, _) = server.accept().await.unwrap();
        let mut acc = String::new();
        read_until(&mut io, &mut acc, "stream header", |a| {
            a.contains("jabber:component:accept") && a.ends_with('>')
        })
        .await;
        assert!(acc.contains("to='muclight.test'"), "{acc}");
        io.write_all(b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='muclight.test' id='abc123'>").await.unwrap();
        acc.clear();
        read_until(&mut io, &mut acc, "handshake", |a| {
            a.contains("</handshake>")
        })
        .await;
        assert_eq!(
            acc,
            format!(
                "<handshake>{}</handshake>",
                handshake_digest("abc123", "s3cr3t")
            )
        );
        io.write_all(b"<handshake/>").await.unwrap();
        for r in ["alice@a.test/one", "bob@a.test/phone", "bob@a.test/pc"] {
            io.write_all(format!("<presence from='{r}' to='muclight.test'/>").as_bytes())
                .await
                .unwrap();
        }
        // create a room: the owner's result, three notifications
        acc.clear();
        io.write_all(b"<iq from='alice@a.test/one' to='coven@muclight.test' id='c1' type='set'><query xmlns='urn:xmpp:muclight:0#create'><occupants><user affiliation='member'>bob@a.test</user></occupants></query></iq>").await.unwrap();
        read_until(&mut io, &mut acc, "create", |a| {
            a.contains("id='c1'") && copies(a, "#affiliations").len() == 3
        })
        .await;
        for to in ["alice@a.test/one", "bob@a.test/phone", "bob@a.test/pc"] {
            assert!(acc.contains(&format!("to='{to}'")), "{to}: {acc}");
        }
        // a room message: three copies, identical but `to`, with a stanza-id
        acc.clear();
        io.write_all(b"<message from='bob@a.test/pc' to='coven@muclight.test' id='m1' type='groupchat'><body>hello apple</body></message>").await.unwrap();
        read_until(&mut io, &mut acc, "fan-out", |a| {
            copies(a, "hello apple").len() == 3
        })
        .await;
        let strip = |m: &str| {
            let i = m.find(" to='").unwrap();
            let j = m[i + 5..].find('\'').unwrap();
            format!("{}{}", &m[..i], &m[i + 5 + j + 1..])
        };
        let c = copies(&acc, "hello apple");
        assert!(c.iter().all(|m| strip(m) == strip(c[0])), "{acc}");
        assert!(c[0].contains("<stanza-id xmlns='urn:xmpp:sid:0' by='coven@muclight.test' id='"));
        assert!(c[0].contains("from='coven@muclight.test/bob@a.test'"));
        // MAM full text
        acc.clear();
        io.write_all(b"<iq from='alice@a.test/one' to='coven@muclight.test' id='q1' type='set'><query xmlns='urn:xmpp:mam:2' queryid='x'><x xmlns='jabber:x:data' type='submit'><field var='full-text-search'><value>APPLE</value></field></x></query></iq>").await.unwrap();
        read_until(&mut io, &mut acc, "MAM", |a| a.contains("id='q1'")).await;
        assert_eq!(copies(&acc, "<result").len(), 1, "{acc}");
        assert!(
            acc.contains("<fin xmlns='urn:xmpp:mam:2' complete='true'>"),
            "{acc}"
        );
        assert!(acc.contains("<count>1</count>"), "{acc}");
        // a bounce drops bob/phone; an oversized body is refused
        acc.clear();
        io.write_all(b"<message from='bob@a.test/phone' to='coven@muclight.test' type='error'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>").await.unwrap();
        let big = "x".repeat(2000);
        io.write_all(format!("<message from='alice@a.test/one' to='coven@muclight.test' id='big' type='groupchat'><body>{big}</body></message><message from='alice@a.test/one' to='coven@muclight.test' id='m2' type='groupchat'><body>second</body></message>").as_bytes()).await.unwrap();
        read_until(&mut io, &mut acc, "second", |a| {
            copies(a, "second").len() == 2 && a.contains("not-acceptable")
        })
        .await;
        assert!(!acc.contains("bob@a.test/phone"), "{acc}");
        assert_eq!(metrics.archive_writes.get(), 3); // create notification, two messages
                                                     // SIGTERM: the stream is closed, run returns
        stop_tx.send(true).unwrap();
        acc.clear();
        read_until(&mut io, &mut acc, "stream end", |a| {
            a.contains("</stream:stream>")
        })
        .await;
        comp.await.unwrap().unwrap();
    }
}
