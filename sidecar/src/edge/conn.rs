//! One client connection through the edge:
//! accept -> (PROXY in) -> (STARTTLS negotiation) -> TLS -> backend connect
//! -> PROXY out -> both ways, every client byte through the core's framer.
//!
//! Only complete units (stream header, stanzas, stream end) cross the edge
//! in either direction, so a stream error can always be written between
//! two units, and the backend never receives a unit the framer refused.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout_at, Instant};
use xmpp_accel_core::xml::escape::escape_text;
use xmpp_accel_core::xml::framing::{stream_error_condition, FrameKind, Framer};
use xmpp_accel_core::xml::{Limits as XmlLimits, XmlError};

use super::io::CountingIo;
use super::proxy;
use super::shaper::TokenBucket;
use super::{Ctx, Phase};
use crate::config::{Kind, ProxyOut, TlsMode};

const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
const SCRATCH: usize = 16 * 1024;

thread_local! {
    /// One read buffer per worker thread: an idle connection holds none.
    static SCRATCH_BUF: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0; SCRATCH].into_boxed_slice());
}

/// Why a connection ended (logged, and counted where it is a refusal).
#[derive(Debug)]
pub enum Close {
    /// The client closed its side.
    ClientClosed,
    /// The backend closed its side.
    BackendClosed,
    /// A stream error was sent to the client with this condition.
    StreamError(&'static str, String),
    /// The TLS handshake failed (reason label).
    Handshake(&'static str, String),
    /// The backend could not be reached.
    Backend(String),
    /// I/O error after the handshake.
    Io(String),
    /// Refused by a limit before any XMPP.
    Refused(&'static str),
}

impl std::fmt::Display for Close {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Close::ClientClosed => write!(f, "client closed"),
            Close::BackendClosed => write!(f, "backend closed"),
            Close::StreamError(c, why) => write!(f, "stream error {c}: {why}"),
            Close::Handshake(r, why) => write!(f, "TLS handshake failed ({r}): {why}"),
            Close::Backend(why) => write!(f, "backend unreachable: {why}"),
            Close::Io(why) => write!(f, "i/o error: {why}"),
            Close::Refused(limit) => write!(f, "refused by {limit}"),
        }
    }
}

/// The client's TLS stream, counting plaintext both ways.
type ClientIo = CountingIo<tokio_rustls::server::TlsStream<CountingIo>>;

/// Serves one accepted connection to its end.
///
/// The set-up (PROXY in, STARTTLS, handshake, backend) runs as its own boxed
/// future, so that its state is freed once it is done: an established
/// connection holds only what forwarding needs.
pub async fn serve(ctx: Arc<Ctx>, tcp: TcpStream, peer: SocketAddr) -> Close {
    match Box::pin(establish(ctx, tcp, peer)).await {
        Ok((Client::Stream(mut client), mut backend, pump)) => {
            pump.run(&mut client, &mut backend).await
        }
        Ok((Client::WebSocket(mut ws), mut backend, pump)) => {
            super::websocket::pump(&pump.ctx, &mut ws, &mut backend).await
        }
        Err(close) => close,
    }
}

/// The client side once established. The stream is kept inline (it is
/// what a connection mostly is); the larger WebSocket state is boxed.
#[allow(clippy::large_enum_variant)]
enum Client {
    Stream(ClientIo),
    WebSocket(Box<tokio_tungstenite::WebSocketStream<ClientIo>>),
}

async fn establish(
    ctx: Arc<Ctx>,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Result<(Client, TcpStream, Pump), Close> {
    let limits = **ctx.limits.load();
    let deadline = Instant::now() + Duration::from_millis(limits.handshake_timeout_ms);
    let _ = tcp.set_nodelay(true);
    let local = tcp.local_addr().unwrap_or(peer);
    let mut io = CountingIo::new(tcp, ctx.metrics.tcp_in.clone(), ctx.metrics.tcp_out.clone());

    // A PROXY header from a trusted load balancer in front.
    let mut client = peer;
    if ctx
        .listener
        .proxy_in_from
        .iter()
        .any(|n| n.contains(&peer.ip()))
    {
        match timeout_at(deadline, read_proxy_header(&mut io)).await {
            Ok(Ok(Some(addr))) => client = addr,
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                ctx.metrics.refused("proxy_header");
                return Err(Close::Io(format!("PROXY header: {e}")));
            }
            Err(_) => {
                ctx.metrics.refused("handshake_timeout");
                return Err(Close::Refused("handshake_timeout"));
            }
        }
    }
    let xml = limits.xml();
    let mut framer = Framer::new(xml);
    if ctx.listener.tls == TlsMode::Starttls {
        match timeout_at(deadline, negotiate_starttls(&ctx, &mut io, &mut framer)).await {
            Ok(Ok(())) => {}
            Ok(Err(close)) => return Err(close),
            Err(_) => {
                ctx.metrics.refused("handshake_timeout");
                let _ =
                    write_stream_error(&mut io, true, ctx.listener.kind, "connection-timeout", "")
                        .await;
                return Err(Close::Refused("handshake_timeout"));
            }
        }
        framer.restart();
    }
    let config =
        ctx.tls
            .load()
            .for_listener(ctx.listener.kind, ctx.listener.tls, ctx.listener.websocket);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let tls = match timeout_at(deadline, acceptor.accept(io)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let reason = handshake_reason(&e);
            ctx.metrics.handshake_failed(reason);
            return Err(Close::Handshake(reason, e.to_string()));
        }
        Err(_) => {
            ctx.metrics.handshake_failed("timeout");
            ctx.metrics.refused("handshake_timeout");
            return Err(Close::Handshake("timeout", "no handshake in time".into()));
        }
    };
    let is_s2s = ctx.listener.kind == Kind::S2s;
    let facts = super::tls::facts(&tls, &ctx.cafile, is_s2s);
    ctx.metrics.handshake(&facts.version);
    let client_io = CountingIo::new(tls, ctx.metrics.tls_in.clone(), ctx.metrics.tls_out.clone());
    let mut client_side = if ctx.listener.websocket {
        let max = match limits.max_stanza_size {
            0 => 16 << 20,
            n => n,
        };
        match timeout_at(deadline, super::websocket::accept(client_io, max)).await {
            Ok(Ok(ws)) => Client::WebSocket(Box::new(ws)),
            Ok(Err(e)) => {
                ctx.metrics.refused("websocket_handshake");
                return Err(Close::Io(format!("WebSocket handshake: {e}")));
            }
            Err(_) => {
                ctx.metrics.refused("handshake_timeout");
                return Err(Close::Refused("handshake_timeout"));
            }
        }
    } else {
        Client::Stream(client_io)
    };
    let backend = match connect_backend(&ctx, client, local, &facts, &limits).await {
        Ok(b) => b,
        Err(close) => {
            ctx.metrics.backend_connect_failures.inc();
            if let Client::Stream(io) = &mut client_side {
                let _ =
                    write_stream_error(io, true, ctx.listener.kind, "internal-server-error", "")
                        .await;
            }
            return Err(close);
        }
    };
    tracing::debug!(listener = %ctx.metrics.name, %client, version = %facts.version, sni = ?facts.sni, "forwarding");
    let pump = Pump {
        ctx: ctx.clone(),
        inbound: framer,
        outbound: Framer::new(XmlLimits {
            max_element_size: 0,
            max_depth: usize::MAX,
            max_attrs: usize::MAX,
        }),
        outbound_raw: false,
        server_header_seen: false,
        bucket: TokenBucket::new(limits.rate_bytes_per_sec, limits.burst_bytes),
        limits,
    };
    Ok((client_side, backend, pump))
}

/// Connects to the listener's backend and sends the PROXY header.
async fn connect_backend(
    ctx: &Ctx,
    client: SocketAddr,
    local: SocketAddr,
    facts: &proxy::TlsFacts,
    limits: &crate::config::Limits,
) -> Result<TcpStream, Close> {
    let deadline = Instant::now() + Duration::from_millis(limits.handshake_timeout_ms);
    let mut backend = match timeout_at(deadline, TcpStream::connect(ctx.listener.backend)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Err(Close::Backend(e.to_string())),
        Err(_) => return Err(Close::Backend("connect timeout".into())),
    };
    let _ = backend.set_nodelay(true);
    let header = match ctx.listener.proxy_out {
        ProxyOut::V2 => proxy::encode_v2(client, local, facts).ok(),
        ProxyOut::V1 => Some(proxy::encode_v1(client, local)),
        ProxyOut::None => None,
    };
    if let Some(h) = header {
        backend
            .write_all(&h)
            .await
            .map_err(|e| Close::Backend(e.to_string()))?;
    }
    Ok(backend)
}

/// Reads a PROXY v1/v2 header byte-exactly (no byte past it is consumed).
async fn read_proxy_header<IO: AsyncRead + Unpin>(io: &mut IO) -> io::Result<Option<SocketAddr>> {
    let mut buf = Vec::with_capacity(64);
    // v2's fixed part is 16 bytes, v1's shortest line longer: read 16, then
    // exactly what the header says it needs
    let mut need = 16;
    loop {
        let start = buf.len();
        buf.resize(need, 0);
        io.read_exact(&mut buf[start..]).await?;
        match proxy::parse_inbound(&buf) {
            proxy::Inbound::Header { client, .. } => return Ok(client),
            proxy::Inbound::Invalid(why) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, why))
            }
            proxy::Inbound::Partial => {
                need = if buf.starts_with(b"\r\n\r\n\0\r\nQUIT\n") && buf.len() >= 16 {
                    16 + u16::from_be_bytes([buf[14], buf[15]]) as usize
                } else {
                    // v1: one byte at a time up to the CRLF
                    buf.len() + 1
                };
                if need > proxy::MAX_INBOUND_HEADER + 16 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "PROXY header too long",
                    ));
                }
            }
        }
    }
}

/// The plaintext part of RFC 6120 §5.4: the client's stream header, our
/// header with `<starttls><required/></starttls>`, `<starttls/>`, `<proceed/>`.
async fn negotiate_starttls<IO: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Ctx,
    io: &mut IO,
    framer: &mut Framer,
) -> Result<(), Close> {
    let kind = ctx.listener.kind;
    let mut buf = [0u8; 1024];
    let mut header_sent = false;
    loop {
        let n = io
            .read(&mut buf)
            .await
            .map_err(|e| Close::Io(e.to_string()))?;
        if n == 0 {
            return Err(Close::ClientClosed);
        }
        if let Err(e) = framer.push(&buf[..n]) {
            let cond = stream_error_condition(&e);
            return Err(send_error(ctx, io, !header_sent, cond, &e.to_string()).await);
        }
        let frames = framer.frames().to_vec();
        for frame in &frames {
            match frame.kind {
                FrameKind::StreamHeader if !header_sent => {
                    let el = framer.element(frame).unwrap_or_default();
                    if el.attr("xmlns:stream") != Some(NS_STREAMS)
                        || !frame.name.ends_with("stream")
                    {
                        return Err(send_error(ctx, io, true, "invalid-namespace", "").await);
                    }
                    let reply =
                        stream_header(kind, el.attr("to").or(ctx.listener.domain.as_deref()), true);
                    io.write_all(&reply)
                        .await
                        .map_err(|e| Close::Io(e.to_string()))?;
                    header_sent = true;
                }
                FrameKind::Stanza if header_sent => {
                    let el = framer.element(frame).unwrap_or_default();
                    if frame.name == "starttls" && el.attr("xmlns") == Some(NS_TLS) {
                        let proceed = format!("<proceed xmlns='{NS_TLS}'/>");
                        io.write_all(proceed.as_bytes())
                            .await
                            .map_err(|e| Close::Io(e.to_string()))?;
                        io.flush().await.map_err(|e| Close::Io(e.to_string()))?;
                        return Ok(());
                    }
                    return Err(send_error(
                        ctx,
                        io,
                        false,
                        "policy-violation",
                        "STARTTLS is required",
                    )
                    .await);
                }
                FrameKind::StreamEnd => return Err(Close::ClientClosed),
                _ => return Err(send_error(ctx, io, !header_sent, "not-well-formed", "").await),
            }
        }
        framer.consume();
    }
}

async fn send_error<IO: AsyncWrite + Unpin>(
    ctx: &Ctx,
    io: &mut IO,
    with_header: bool,
    condition: &'static str,
    text: &str,
) -> Close {
    ctx.metrics.stream_error(condition);
    let _ = write_stream_error(io, with_header, ctx.listener.kind, condition, text).await;
    Close::StreamError(condition, text.to_owned())
}

/// Our own stream header (RFC 6120 §4.7), with STARTTLS features if asked.
fn stream_header(kind: Kind, from: Option<&str>, starttls_features: bool) -> Vec<u8> {
    let ns = match kind {
        Kind::C2s => "jabber:client",
        Kind::S2s => "jabber:server",
    };
    let mut out = Vec::with_capacity(320);
    out.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='");
    out.extend_from_slice(ns.as_bytes());
    out.extend_from_slice(b"' xmlns:stream='");
    out.extend_from_slice(NS_STREAMS.as_bytes());
    out.extend_from_slice(b"' version='1.0' id='");
    out.extend_from_slice(stream_id().as_bytes());
    out.extend_from_slice(b"'");
    if let Some(from) = from {
        out.extend_from_slice(b" from=");
        xmpp_accel_core::xml::escape::write_attr_value(from.as_bytes(), &mut out);
    }
    out.extend_from_slice(b">");
    if starttls_features {
        out.extend_from_slice(b"<stream:features><starttls xmlns='");
        out.extend_from_slice(NS_TLS.as_bytes());
        out.extend_from_slice(b"'><required/></starttls></stream:features>");
    }
    out
}

fn stream_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    format!("{:016x}", h.finish())
}

/// `<stream:error>` (RFC 6120 §4.9) and the stream's end; with our own
/// stream header first when the client has had none yet (§4.9.1.1).
async fn write_stream_error<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    with_header: bool,
    kind: Kind,
    condition: &str,
    text: &str,
) -> io::Result<()> {
    let mut out = if with_header {
        stream_header(kind, None, false)
    } else {
        Vec::new()
    };
    out.extend_from_slice(b"<stream:error><");
    out.extend_from_slice(condition.as_bytes());
    out.extend_from_slice(b" xmlns='");
    out.extend_from_slice(NS_STREAM_ERRORS.as_bytes());
    out.extend_from_slice(b"'/>");
    if !text.is_empty() {
        out.extend_from_slice(b"<text xmlns='");
        out.extend_from_slice(NS_STREAM_ERRORS.as_bytes());
        out.extend_from_slice(b"'>");
        escape_text(text.as_bytes(), &mut out);
        out.extend_from_slice(b"</text>");
    }
    out.extend_from_slice(b"</stream:error></stream:stream>");
    io.write_all(&out).await?;
    io.flush().await?;
    io.shutdown().await
}

fn handshake_reason(e: &io::Error) -> &'static str {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match inner {
            rustls::Error::InvalidMessage(_) => "not_tls",
            rustls::Error::NoApplicationProtocol => "no_alpn",
            rustls::Error::PeerIncompatible(_) => "incompatible",
            rustls::Error::AlertReceived(_) => "alert",
            _ => "tls_error",
        };
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "closed",
        io::ErrorKind::InvalidData => "not_tls",
        _ => "io",
    }
}

enum Event {
    Client(io::Result<Vec<u8>>),
    Backend(io::Result<Vec<u8>>),
    Deadline,
    Throttled,
    Phase,
}

/// Reads from whichever side has bytes, into the thread's scratch buffer;
/// the bytes are copied out only while they are handled.
fn poll_read_side<R: AsyncRead + Unpin>(
    cx: &mut Context<'_>,
    r: &mut R,
) -> Poll<io::Result<Vec<u8>>> {
    SCRATCH_BUF.with_borrow_mut(|buf| {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(r).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().to_vec())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
}

struct Pump {
    ctx: Arc<Ctx>,
    inbound: Framer,
    outbound: Framer,
    /// The server sent something the framer refused: its bytes go on as they are.
    outbound_raw: bool,
    server_header_seen: bool,
    bucket: TokenBucket,
    limits: crate::config::Limits,
}

impl Pump {
    async fn run<C, B>(mut self, client: &mut C, backend: &mut B) -> Close
    where
        C: AsyncRead + AsyncWrite + Unpin,
        B: AsyncRead + AsyncWrite + Unpin,
    {
        let idle = Duration::from_secs(self.limits.idle_timeout_secs);
        let mut first_stanza =
            Some(Instant::now() + Duration::from_millis(self.limits.first_stanza_timeout_ms));
        let mut idle_at = Instant::now() + idle;
        let mut throttled_until: Option<Instant> = None;
        let mut shutdown = self.ctx.shutdown.clone();
        let mut client_first = true;
        loop {
            if *shutdown.borrow() == Phase::Stop {
                return self
                    .end(
                        client,
                        backend,
                        "system-shutdown",
                        "the edge is shutting down",
                    )
                    .await;
            }
            let deadline = first_stanza.map_or(idle_at, |f| f.min(idle_at));
            let read_client = throttled_until.is_none();
            client_first = !client_first;
            let event = tokio::select! {
                ev = poll_fn(|cx| {
                    let mut order = [0u8, 1];
                    if !client_first { order.swap(0, 1); }
                    for side in order {
                        if side == 0 && read_client {
                            if let Poll::Ready(r) = poll_read_side(cx, client) { return Poll::Ready(Event::Client(r)); }
                        } else if side == 1 {
                            if let Poll::Ready(r) = poll_read_side(cx, backend) { return Poll::Ready(Event::Backend(r)); }
                        }
                    }
                    Poll::Pending
                }) => ev,
                _ = sleep_until(deadline) => Event::Deadline,
                _ = sleep_until(throttled_until.unwrap_or(deadline)), if throttled_until.is_some() => Event::Throttled,
                _ = shutdown.changed() => Event::Phase,
            };
            match event {
                Event::Phase => continue,
                Event::Throttled => throttled_until = None,
                Event::Deadline => {
                    let limit = if first_stanza.is_some_and(|f| f <= Instant::now()) {
                        "first_stanza_timeout"
                    } else {
                        "idle_timeout"
                    };
                    self.ctx.metrics.refused(limit);
                    return self.end(client, backend, "connection-timeout", "").await;
                }
                Event::Client(Err(e)) => return Close::Io(e.to_string()),
                Event::Client(Ok(data)) if data.is_empty() => {
                    let _ = backend.shutdown().await;
                    return Close::ClientClosed;
                }
                Event::Client(Ok(data)) => {
                    idle_at = Instant::now() + idle;
                    let wait = self.bucket.take(data.len());
                    if !wait.is_zero() {
                        self.ctx.metrics.refused("rate");
                        throttled_until = Some(Instant::now() + wait);
                    }
                    // units complete before a fault still go on, then the stream ends
                    let pushed = self.inbound.push(&data);
                    for f in self.inbound.frames() {
                        if f.kind == FrameKind::Stanza {
                            first_stanza = None;
                            self.ctx.metrics.stanzas_in.count(&f.name);
                        }
                    }
                    if !self.inbound.ready().is_empty() {
                        // a write that cannot finish within the idle timeout
                        // (both sides writing, neither reading) ends the
                        // connection instead of stalling it
                        match tokio::time::timeout(idle, backend.write_all(self.inbound.ready()))
                            .await
                        {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => return Close::Io(format!("backend: {e}")),
                            Err(_) => {
                                self.ctx.metrics.refused("write_timeout");
                                return Close::Io("backend write timed out".into());
                            }
                        }
                    }
                    if let Err(e) = pushed {
                        return self.refuse(client, backend, &e).await;
                    }
                    self.inbound.consume();
                }
                Event::Backend(Err(e)) => return Close::Io(format!("backend: {e}")),
                Event::Backend(Ok(data)) if data.is_empty() => {
                    let _ = client.write_all(self.outbound.held()).await;
                    let _ = client.shutdown().await;
                    return Close::BackendClosed;
                }
                Event::Backend(Ok(data)) => {
                    idle_at = Instant::now() + idle;
                    match tokio::time::timeout(idle, self.forward_out(client, &data)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Close::Io(e.to_string()),
                        Err(_) => {
                            self.ctx.metrics.refused("write_timeout");
                            return Close::Io("client write timed out".into());
                        }
                    }
                }
            }
        }
    }

    /// Server to client: complete units only (raw once the server's bytes
    /// could not be framed).
    async fn forward_out<C: AsyncWrite + Unpin>(
        &mut self,
        client: &mut C,
        data: &[u8],
    ) -> io::Result<()> {
        if !self.outbound_raw {
            if let Err(e) = self.outbound.push(data) {
                tracing::warn!(listener = %self.ctx.metrics.name, error = %e, "backend stream not framed; passing it on unframed");
                self.outbound_raw = true;
                client.write_all(self.outbound.held()).await?;
                self.outbound.restart();
                return client.flush().await;
            }
            for f in self.outbound.frames() {
                match f.kind {
                    FrameKind::Stanza => self.ctx.metrics.stanzas_out.count(&f.name),
                    FrameKind::StreamHeader => self.server_header_seen = true,
                    FrameKind::StreamEnd => {}
                }
            }
            if !self.outbound.ready().is_empty() {
                client.write_all(self.outbound.ready()).await?;
                client.flush().await?;
            }
            self.outbound.consume();
            Ok(())
        } else {
            client.write_all(data).await?;
            client.flush().await
        }
    }

    async fn refuse<C, B>(&mut self, client: &mut C, backend: &mut B, e: &XmlError) -> Close
    where
        C: AsyncWrite + Unpin,
        B: AsyncWrite + Unpin,
    {
        let cond = stream_error_condition(e);
        let text = e.to_string();
        let close = self.end(client, backend, cond, &text).await;
        tracing::info!(listener = %self.ctx.metrics.name, condition = cond, reason = %text, "stream refused");
        close
    }

    /// Ends both sides: a stream error to the client (after the unit in
    /// flight, if any), the stream's end to the backend.
    async fn end<C, B>(
        &mut self,
        client: &mut C,
        backend: &mut B,
        condition: &'static str,
        text: &str,
    ) -> Close
    where
        C: AsyncWrite + Unpin,
        B: AsyncWrite + Unpin,
    {
        self.ctx.metrics.stream_error(condition);
        let with_header = !self.server_header_seen && !self.outbound_raw;
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            write_stream_error(client, with_header, self.ctx.listener.kind, condition, text),
        )
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            backend.write_all(b"</stream:stream>").await?;
            backend.shutdown().await
        })
        .await;
        Close::StreamError(condition, text.to_owned())
    }
}
